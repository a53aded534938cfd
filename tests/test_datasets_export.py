"""Exporters: Minari (minari.load_dataset reads it) and robomimic HDF5."""
import json
import sys

import numpy as np
import pytest

import flywheel.datasets as fd
from flywheel.datasets import synthetic


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("src") / "ds"
    synthetic.write_synthetic_dataset(root, "arm7", range(5), image=(8, 8))
    return root


def test_minari_load_dataset_reads_the_export(source, tmp_path, monkeypatch):
    minari = pytest.importorskip("minari")
    from flywheel.datasets.export_minari import export_minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    folder = export_minari(source, tmp_path, dataset_id="flywheel/arm7-reach-v0", env=False)  # arm7: no such robot
    assert folder == tmp_path / "flywheel/arm7-reach-v0"
    meta = json.loads((folder / "data/metadata.json").read_text())
    assert meta["minari_version"] in minari.supported_dataset_versions
    loaded = minari.load_dataset("flywheel/arm7-reach-v0")
    ds = fd.open(source)
    assert loaded.total_episodes == len(ds) and loaded.total_steps == ds.num_frames
    assert set(loaded.observation_space.spaces) == {"state", "ee", "ee_mask", "goal", "env_state", "images"}
    assert loaded.observation_space["state"].dtype == np.float64  # as flywheel's environments observe
    assert loaded.env_spec is None
    feats = synthetic.robot_features("arm7", image=(8, 8))
    for i, ep in enumerate(loaded.iterate_episodes()):
        want = synthetic.synthetic_episode("arm7", i, feats)
        t = len(want["action"])
        assert ep.observations["state"].shape == (t + 1, 14)  # T+1 observations
        np.testing.assert_array_equal(ep.observations["state"][:t], want["observation.state"].astype(np.float64))
        np.testing.assert_array_equal(ep.observations["state"][t], want["observation.state"][-1])
        np.testing.assert_array_equal(ep.observations["images"]["wrist"][:t], want["observation.images.wrist"])
        np.testing.assert_array_equal(ep.infos["is_success"], np.concatenate([[False], want["next.success"]]))
        np.testing.assert_allclose(ep.actions, want["action"])
        np.testing.assert_allclose(ep.rewards, want["next.reward"])
        np.testing.assert_array_equal(ep.truncations, want["next.truncated"])
        np.testing.assert_array_equal(ep.terminations, want["next.done"] & ~want["next.truncated"])
    md = list(loaded.storage.get_episode_metadata([0]))[0]
    assert md["seed"] == 100 and bool(md["success"]) is True


def test_minari_export_of_canonical_actions(source, tmp_path, monkeypatch):
    minari = pytest.importorskip("minari")
    from flywheel.datasets.export_minari import export_minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    export_minari(source, tmp_path, dataset_id="arm7-ee-v1", action_key="action.ee", images=False)  # no env: canonical
    loaded = minari.load_dataset("arm7-ee-v1")
    assert loaded.action_space.shape == (14,) and "images" not in loaded.observation_space.spaces
    with pytest.raises(ValueError, match="already exists"):
        export_minari(source, tmp_path, dataset_id="arm7-ee-v1")


def test_robomimic_hdf5(source, tmp_path):
    h5py = pytest.importorskip("h5py")
    from flywheel.datasets.export_robomimic import export_robomimic

    path = export_robomimic(source, tmp_path)
    assert path == tmp_path / "arm7.hdf5"
    feats = synthetic.robot_features("arm7", image=(8, 8))
    with h5py.File(path, "r") as f:
        env_args = json.loads(f["data"].attrs["env_args"])
        assert env_args == {"env_name": "flywheel/Reach-v0", "type": 2,
                            "env_kwargs": {"task": "reach", "robot": "arm7", "camera": ["wrist"]}}
        train, valid = ([m.decode() for m in f[f"mask/{k}"][:]] for k in ("train", "valid"))
        assert len(valid) == 1 and sorted(train + valid) == sorted(f["data"]) and not set(train) & set(valid)
        assert sorted(f["data"]) == [f"demo_{i}" for i in range(5)]
        assert f["data"].attrs["total"] == fd.open(source).num_frames
        for i in range(5):
            want = synthetic.synthetic_episode("arm7", i, feats)
            g = f[f"data/demo_{i}"]
            t = len(want["action"])
            assert g.attrs["num_samples"] == t
            assert set(g["obs"]) == {"state", "ee", "ee_mask", "goal", "env_state", "wrist_image"}
            np.testing.assert_array_equal(g["obs/state"][:], want["observation.state"])
            np.testing.assert_array_equal(g["next_obs/state"][:-1], want["observation.state"][1:])
            np.testing.assert_array_equal(g["obs/wrist_image"][:], want["observation.images.wrist"])
            np.testing.assert_allclose(g["actions"][:], want["action"])
            np.testing.assert_allclose(g["rewards"][:], want["next.reward"])
            np.testing.assert_array_equal(g["dones"][:], want["next.done"].astype(int))
            np.testing.assert_allclose(g["states"][:], want["observation.env_state"])
        assert [m.decode() for m in f["mask/successful"][:]] == ["demo_0", "demo_2", "demo_3"]


def test_robomimic_without_h5py_is_a_clear_error(source, tmp_path, monkeypatch):
    from flywheel.datasets.export_minari import OptionalDependencyError
    from flywheel.datasets.export_robomimic import export_robomimic

    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py -> ImportError
    with pytest.raises(OptionalDependencyError, match=r"pip install 'flywheel\[robomimic\]'"):
        export_robomimic(source, tmp_path)


# ---- exports that round-trip: the environment comes back --------------------------------------------
@pytest.fixture(scope="module")
def panda_reach(tmp_path_factory):
    """A small dataset recorded from the real flywheel/Reach-v0 env (panda, joint_pos), with flywheel's recorder."""
    import gymnasium as gym

    from flywheel.collectors.collection.recorder import EpisodeRecorder, dataset_features
    from flywheel.collectors.policies.base import RandomPolicy

    root = tmp_path_factory.mktemp("panda") / "ds"
    env = gym.make("flywheel/Reach-v0", robot="panda", control_mode="joint_pos", max_episode_steps=6)
    try:
        features = dataset_features(env)
        meta = {"task": {"name": "reach"}, "robot": {"name": "panda"},
                "config": {"robot": "panda", "control_mode": "joint_pos", "max_steps": 6, "cameras": []}}
        fd.create_dataset(root, features=features, fps=int(env.unwrapped.control_hz), robot_type="panda",
                          task=env.unwrapped.task.describe(), flywheel_meta=meta)
        recorder, policy = EpisodeRecorder(env, features), RandomPolicy(env)
        with fd.StagingWriter(root) as w:
            for k in range(3):
                ep = recorder.run(policy, k)
                w.add_episode(k, ep.frames, seed=k, success=ep.success, policy="random", terminated=ep.terminated,
                              truncated=ep.truncated)
        fd.finalize(root)
        spaces = env.observation_space, env.action_space
    finally:
        env.close()
    return root, spaces


def test_minari_recover_environment(panda_reach, tmp_path, monkeypatch):
    minari = pytest.importorskip("minari")
    from flywheel.datasets.export_minari import export_minari

    root, (obs_space, act_space) = panda_reach
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    export_minari(root, tmp_path, dataset_id="flywheel/panda-reach-v0")
    loaded = minari.load_dataset("flywheel/panda-reach-v0")
    assert loaded.env_spec.id == "flywheel/Reach-v0"
    assert loaded.env_spec.kwargs["robot"] == "panda" and loaded.env_spec.kwargs["control_mode"] == "joint_pos"
    assert loaded.observation_space == obs_space and loaded.action_space == act_space  # dtypes, nesting, bounds
    env = loaded.recover_environment()
    try:
        assert env.observation_space == obs_space and env.action_space == act_space
        obs, _ = env.reset(seed=0)
        assert obs_space.contains(obs)
    finally:
        env.close()
    for ep in loaded.iterate_episodes():
        assert obs_space.contains({k: v[0] for k, v in ep.observations.items()})
        assert act_space.contains(ep.actions[0].astype(act_space.dtype))


def test_robomimic_env_name_is_a_gymnasium_id_and_masks_load(panda_reach, tmp_path):
    h5py = pytest.importorskip("h5py")
    import gymnasium as gym

    from flywheel.datasets.export_robomimic import export_robomimic

    root, (obs_space, act_space) = panda_reach
    path = export_robomimic(root, tmp_path, val_fraction=0.34, seed=1)
    with h5py.File(path, "r") as f:
        env_args = json.loads(f["data"].attrs["env_args"])
        train = [m.decode() for m in f["mask/train"][:]]
        valid = [m.decode() for m in f["mask/valid"][:]]
    assert (len(train), len(valid)) == (2, 1)
    env = gym.make(env_args["env_name"], **env_args["env_kwargs"])  # what robomimic's EnvGym does
    try:
        assert env.action_space == act_space
    finally:
        env.close()


def test_robomimic_sequence_dataset_reads_the_masks(panda_reach, tmp_path):
    """robomimic (and torch) are no test dependencies: this runs where robomimic is installed."""
    dataset = pytest.importorskip("robomimic.utils.dataset")
    import robomimic.utils.obs_utils as obs_utils
    import h5py

    from flywheel.datasets.export_robomimic import export_robomimic

    root, (obs_space, _) = panda_reach
    path = export_robomimic(root, tmp_path, val_fraction=0.34, seed=1)
    with h5py.File(path, "r") as f:
        train, valid = ([m.decode() for m in f[f"mask/{k}"][:]] for k in ("train", "valid"))
    SequenceDataset = dataset.SequenceDataset

    obs_utils.initialize_obs_utils_with_obs_specs({"obs": {"low_dim": ["state", "ee"]}})
    for key, want in (("train", train), ("valid", valid)):
        sd = SequenceDataset(hdf5_path=str(path), obs_keys=("state", "ee"), dataset_keys=("actions", "rewards", "dones"),
                             load_next_obs=True, frame_stack=1, seq_length=1, pad_frame_stack=True, pad_seq_length=True,
                             get_pad_mask=False, goal_mode=None, hdf5_cache_mode=None, hdf5_use_swmr=True,
                             hdf5_normalize_obs=False, filter_by_attribute=key)
        assert sorted(sd.demos) == sorted(want) and len(sd) > 0
        assert sd[0]["obs"]["state"].shape[-1] == obs_space["state"].shape[0]

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
    folder = export_minari(source, tmp_path, dataset_id="flywheel/arm7-reach-v0")
    assert folder == tmp_path / "flywheel/arm7-reach-v0"
    meta = json.loads((folder / "data/metadata.json").read_text())
    assert meta["minari_version"] in minari.supported_dataset_versions
    loaded = minari.load_dataset("flywheel/arm7-reach-v0")
    ds = fd.open(source)
    assert loaded.total_episodes == len(ds) and loaded.total_steps == ds.num_frames
    assert set(loaded.observation_space.spaces) == {"state", "ee", "ee_mask", "goal", "env_state", "images.wrist"}
    feats = synthetic.robot_features("arm7", image=(8, 8))
    for i, ep in enumerate(loaded.iterate_episodes()):
        want = synthetic.synthetic_episode("arm7", i, feats)
        t = len(want["action"])
        assert ep.observations["state"].shape == (t + 1, 14)  # T+1 observations
        np.testing.assert_array_equal(ep.observations["state"][:t], want["observation.state"])
        np.testing.assert_array_equal(ep.observations["state"][t], want["observation.state"][-1])
        np.testing.assert_array_equal(ep.observations["images.wrist"][:t], want["observation.images.wrist"])
        np.testing.assert_array_equal(ep.actions, want["action"])
        np.testing.assert_allclose(ep.rewards, want["next.reward"])
        np.testing.assert_array_equal(ep.truncations, want["next.truncated"])
        np.testing.assert_array_equal(ep.terminations, want["next.done"] & ~want["next.truncated"])
    md = list(loaded.storage.get_episode_metadata([0]))[0]
    assert md["seed"] == 100 and bool(md["success"]) is True


def test_minari_export_of_canonical_actions(source, tmp_path, monkeypatch):
    minari = pytest.importorskip("minari")
    from flywheel.datasets.export_minari import export_minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    export_minari(source, tmp_path, dataset_id="arm7-ee-v1", action_key="action.ee", images=False)
    loaded = minari.load_dataset("arm7-ee-v1")
    assert loaded.action_space.shape == (14,) and "images.wrist" not in loaded.observation_space.spaces
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
        assert env_args["type"] == 2 and env_args["env_kwargs"]["robot"] == "arm7"
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

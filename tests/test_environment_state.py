"""Flywheel format 2: object state and goal in LeRobot's `observation.environment_state`; format 1 still reads."""
import json

import numpy as np

from flywheel import datasets as fd
from flywheel.collectors.collection.recorder import EpisodeRecorder, dataset_features
from flywheel.collectors.learning.policy_file import read_policy, save_policy
from flywheel.collectors.learning.train import TrainConfig, train
from flywheel.collectors.policies import expert, load_policy
from flywheel.datasets import legacy, schema
from flywheel.datasets.synthetic import write_synthetic_dataset
from flywheel.sim import make_env


def test_pick_place_stores_objects_then_goal_in_environment_state():
    env = make_env("pick_place", robot="panda")
    features = dataset_features(env)
    assert "observation.goal" not in features and "observation.env_state" not in features
    ft = features["observation.environment_state"]
    assert ft["shape"] == [len(ft["names"])] and ft["names"][:3] == ["cube.x", "cube.y", "cube.z"]
    assert "cube.held" in ft["names"] and ft["names"][-3:] == ["goal.x", "goal.y", "goal.z"]
    rec = EpisodeRecorder(env)
    obs, _ = env.reset(seed=5)
    ep = rec.run(expert("pick_place", env), seed=5)
    want = np.concatenate([obs["environment_state"], obs["goal"]]).astype(np.float32)
    np.testing.assert_array_equal(ep.frames["observation.environment_state"][0], want)
    env.close()


def test_a_format_1_dataset_reads_and_trains_as_environment_state(tmp_path):
    root = tmp_path / "old"
    write_synthetic_dataset(root, "arm7", range(4))  # the synthetic robots still write format-1 columns
    ds = fd.open(root)
    assert "observation.env_state" in ds.features and "observation.goal" in ds.features
    view = legacy.CurrentView(ds)
    ft = view.features["observation.environment_state"]
    assert ft["shape"] == [10] and ft["names"][-3:] == ["goal.x", "goal.y", "goal.z"]
    assert "observation.env_state" not in view.features and "observation.goal" not in view.features
    old = ds.episode(1, ["observation.env_state", "observation.goal"])
    new = view.episode(1, ["observation.environment_state"])
    np.testing.assert_array_equal(new["observation.environment_state"],
                                  np.concatenate([old["observation.env_state"], old["observation.goal"]], axis=1))
    stats = view.stats["observation.environment_state"]
    np.testing.assert_allclose(stats["mean"], np.concatenate([ds.stats["observation.env_state"]["mean"],
                                                              ds.stats["observation.goal"]["mean"]]))
    header = train([root], tmp_path / "p.npz", TrainConfig(epochs=1, hidden=(8,)))
    assert [f["key"] for f in header["inputs"]][-1] == "observation.environment_state"
    assert header["inputs"][-1]["dim"] == 10
    assert schema.FLYWHEEL_FORMAT == 2


def _reach_format_1(root, seeds=range(4)):
    """A real panda reach dataset written with format 1's column name (observation.goal)."""
    env = make_env("reach", robot="panda")
    rec = EpisodeRecorder(env)
    features = dict(rec.features)
    features["observation.goal"] = features.pop("observation.environment_state")
    features["observation.goal"]["names"] = ["x", "y", "z"]
    spec = env.unwrapped.spec_robot
    fd.create_dataset(root, features=features, fps=env.unwrapped.control_hz, robot_type="panda", task="reach",
                      flywheel_meta={"robot": {"name": "panda", "spec": json.loads(json.dumps(spec.to_dict(), default=str)),
                                               "model_hash": spec.model_hash()},
                                     "task": {"name": "reach"}, "config": {"control_mode": "joint_pos"}})
    pol = expert("reach", env)
    with fd.StagingWriter(root, worker="t0") as w:
        for k in seeds:
            ep = rec.run(pol, k)
            ep.frames["observation.goal"] = ep.frames.pop("observation.environment_state")
            w.add_episode(k, ep.frames, seed=k, success=ep.success, policy="expert", terminated=ep.terminated,
                          truncated=ep.truncated)
    fd.finalize(root)
    return env


def test_policies_trained_on_old_datasets_and_old_policy_files_still_drive_the_env(tmp_path):
    env = _reach_format_1(tmp_path / "old")
    path = tmp_path / "p.npz"
    header = train([tmp_path / "old"], path, TrainConfig(epochs=2, hidden=(16,)))
    assert header["inputs"][-1]["key"] == "observation.environment_state"
    obs, _ = env.reset(seed=1)
    assert load_policy(path, env).act(obs).shape == (9,)
    # a policy file written before the rename reads observation.goal: it maps to the env's goal entry
    header, arrays = read_policy(path)
    header["inputs"][-1]["key"] = "observation.goal"
    layers = len(header["model"]["layers"]) - 1
    weights = [(arrays.pop(f"W{i}"), arrays.pop(f"b{i}")) for i in range(layers)]
    save_policy(tmp_path / "old.npz", header, weights, arrays)
    np.testing.assert_array_equal(load_policy(tmp_path / "old.npz", env).act(obs), load_policy(path, env).act(obs))
    env.close()

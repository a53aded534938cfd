"""Behaviour cloning (`flywheel train`), the saved policy format, `load_policy` and DAgger relabelling."""
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

from flywheel import datasets as fd
from flywheel.cli import main as cli_main
from flywheel.collectors.collection.recorder import EpisodeRecorder
from flywheel.collectors.policies import PolicyMismatch, expert, load_policy
from flywheel.collectors.learning.policy_file import read_policy
from flywheel.collectors.learning.relabel import RelabelingPolicy
from flywheel.collectors.collection.recorder import run_episode
from flywheel.collectors.learning.train import TrainConfig, TrainError, robot_hashes, train
from flywheel.datasets.synthetic import write_synthetic_dataset
from flywheel.sim import make_env


def record(root, task="reach", robot="panda", seeds=range(12), control_mode="joint_pos", policy=None):
    """A small real dataset written in this process through flywheel.datasets (no Ray), as collect would."""
    env = make_env(task, robot=robot, control_mode=control_mode)
    u = env.unwrapped
    spec = u.spec_robot
    rec = EpisodeRecorder(env)
    pol = policy(env) if policy else expert(task, env)
    meta = {"robot": {"name": spec.name, "spec": json.loads(json.dumps(spec.to_dict(), default=str)),
                      "model_hash": spec.model_hash()},
            "task": {"name": task}, "config": {"control_mode": control_mode}}
    fd.create_dataset(root, features=rec.features, fps=u.control_hz, robot_type=spec.name, task=u.task.describe(),
                      flywheel_meta=meta)
    with fd.StagingWriter(root, worker="t0", episodes_per_file=64) as w:
        for k, seed in enumerate(seeds):
            ep = rec.run(pol, seed)
            if hasattr(pol, "relabel"):
                pol.relabel(ep.frames)
            w.add_episode(k, ep.frames, seed=seed, success=ep.success, policy=pol.name, terminated=ep.terminated,
                          truncated=ep.truncated)
    fd.finalize(root)
    env.close()
    return root


@pytest.fixture(scope="module")
def panda_reach(tmp_path_factory):
    return record(tmp_path_factory.mktemp("data") / "panda_reach", seeds=range(30))


@pytest.fixture(scope="module")
def panda_policy(panda_reach, tmp_path_factory):
    path = tmp_path_factory.mktemp("policy") / "native.npz"
    train([panda_reach], path, TrainConfig(epochs=30, hidden=(64, 64)))
    return path


def _arrays(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def test_training_is_seeded_deterministic_and_saves_what_it_learned_from(panda_reach, panda_policy, tmp_path):
    again = tmp_path / "again.npz"
    header = train([panda_reach], again, TrainConfig(epochs=30, hidden=(64, 64)))
    a, b = _arrays(panda_policy), _arrays(again)
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a if k != "header")
    train([panda_reach], tmp_path / "seed1.npz", TrainConfig(epochs=30, hidden=(64, 64), seed=1))
    other = _arrays(tmp_path / "seed1.npz")
    assert not np.array_equal(a["W0"], other["W0"])

    ds = fd.open(panda_reach)
    assert header["format"] == "flywheel-policy" and header["features"] == "native"
    assert [f["key"] for f in header["inputs"]] == ["observation.state", "observation.ee", "observation.environment_state"]
    assert header["inputs"][0]["names"] == ds.features["observation.state"]["names"]
    assert header["target"] == {"key": "action", "dim": 9, "names": ds.features["action"]["names"]}
    assert len(header["residual"]) == 9  # every panda action is a joint target: learned as action - q
    assert header["datasets"] == [{"path": str(panda_reach.resolve()), "robot": "panda", "tasks": ds.tasks,
                                   "episodes": 30, "frames": ds.num_frames}]
    assert header["robot"]["name"] == "panda" and header["task"] == "reach" and header["control_mode"] == "joint_pos"
    env = make_env("reach", robot="panda")
    assert {k: header["robot"][k] for k in ("spec_sha256", "model_sha256")} == robot_hashes(env.unwrapped.spec_robot)
    env.close()
    # inputs are normalised with meta/stats.json
    stats = ds.stats
    want = np.concatenate([stats[k]["mean"] for k in ("observation.state", "observation.ee", "observation.environment_state")])
    np.testing.assert_allclose(a["obs_mean"], want, rtol=1e-6)
    assert (a["out_low"] < a["out_high"]).all()  # the deployed policy clips its outputs to the range trained on
    loss = header["training"]["loss_curve"]
    assert loss[-1] < 0.5 * loss[0]


def test_normalisation_pools_the_stats_of_several_datasets(panda_reach, tmp_path):
    second = record(tmp_path / "second", seeds=range(100, 104))
    header = train([panda_reach, second], tmp_path / "p.npz", TrainConfig(epochs=2, hidden=(16,)))
    arrays = _arrays(tmp_path / "p.npz")
    frames = [fd.open(p).episode(i, ["observation.environment_state"])["observation.environment_state"]
              for p in (panda_reach, second) for i in range(len(fd.open(p)))]
    goal = np.concatenate(frames).astype(np.float64)
    sl = slice(18 + 16, 18 + 16 + 3)
    np.testing.assert_allclose(arrays["obs_mean"][sl], goal.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(arrays["obs_std"][sl], goal.std(axis=0), rtol=1e-4)
    assert header["training"]["episodes"] == 34 and len(header["datasets"]) == 2


def test_a_native_policy_refuses_another_robot_and_another_control_mode(panda_policy):
    env = make_env("reach", robot="flywheel_humanoid")
    with pytest.raises(PolicyMismatch, match=r"robot 'panda'.*robot 'flywheel_humanoid'.*--features canonical"):
        load_policy(panda_policy, env)
    env.close()
    env = make_env("reach", robot="panda", control_mode="ee_delta")
    with pytest.raises(PolicyMismatch, match="control_mode='joint_pos'"):
        load_policy(panda_policy, env)
    env.close()
    env = make_env("reach", robot="panda")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same robot, same spec: no "different version" warning
        policy = load_policy(panda_policy, env)
    result = run_episode(env, policy, seed=10_000_000)
    assert result.length >= 1
    env.close()


def test_a_canonical_policy_drives_another_robot_in_end_effector_control(tmp_path):
    data = record(tmp_path / "panda_ee", seeds=range(10), control_mode="ee_delta")
    path = tmp_path / "canonical.npz"
    header = train([data], path, TrainConfig(features="canonical", epochs=5, hidden=(32,)))
    assert [f["key"] for f in header["inputs"]] == ["observation.ee", "observation.ee_mask", "observation.environment_state"]
    assert header["target"]["key"] == "action.ee" and header["residual"] == []
    env = make_env("reach", robot="flywheel_humanoid", control_mode="ee_delta")
    policy = load_policy(path, env)
    obs, _ = env.reset(seed=3)
    action = policy.act(obs)
    assert action.shape == (14,) and np.isfinite(action).all()
    env.step(action)
    env.close()
    env = make_env("reach", robot="flywheel_humanoid")
    with pytest.raises(PolicyMismatch, match="control_mode='ee_delta'"):
        load_policy(path, env)
    env.close()


def test_a_policy_loads_and_acts_the_same_in_a_fresh_process(panda_policy):
    code = f"""
import numpy as np
from flywheel.sim import make_env
from flywheel.collectors.policies import load_policy
env = make_env("reach", robot="panda")
policy = load_policy({str(panda_policy)!r}, env)
obs, _ = env.reset(seed=5)
out = []
for _ in range(3):
    a = policy.act(obs); out.append(a); obs, *_ = env.step(a)
print("ACTIONS", np.stack(out).astype(np.float64).tolist())
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    fresh = np.array(json.loads(proc.stdout.split("ACTIONS", 1)[1]))
    env = make_env("reach", robot="panda")
    policy = load_policy(panda_policy, env)
    obs, _ = env.reset(seed=5)
    here = []
    for _ in range(3):
        a = policy.act(obs)
        here.append(a)
        obs, *_ = env.step(a)
    env.close()
    assert np.array_equal(fresh, np.stack(here).astype(np.float64))


def test_relabeling_policy_drives_with_the_learner_and_labels_with_the_expert(panda_policy):
    env = make_env("reach", robot="panda")
    learner = load_policy(panda_policy, env)
    policy = RelabelingPolicy.for_env(env, "reach", learner, beta=0.0)
    obs, _ = env.reset(seed=7)
    policy.reset(7)
    action = policy.act(obs)
    assert np.array_equal(action, learner.act(obs))
    assert policy.label is not None and not np.array_equal(policy.label, action)
    assert policy.label_ee is None  # joint control: the label is not an end-effector action
    mixed = RelabelingPolicy.for_env(env, "reach", learner, beta=1.0)
    obs, _ = env.reset(seed=7)
    mixed.reset(7)
    assert np.array_equal(mixed.act(obs), mixed.label) and mixed.expert_drove == [True]
    half = RelabelingPolicy.for_env(env, "reach", learner, beta=0.5)
    coins = []
    for _ in range(2):
        obs, _ = env.reset(seed=11)
        half.reset(11)
        for _ in range(20):
            half.act(obs)
        coins.append(list(half.expert_drove))
    assert coins[0] == coins[1] and 0 < sum(coins[0]) < 20  # seeded by the episode seed
    # a recorded episode stores the expert's labels at the states the learner visited
    rec = EpisodeRecorder(env)
    ep = rec.run(policy, 9)
    assert not np.array_equal(ep.frames["action"], np.stack(policy.labels))  # recorded: what drove
    policy.relabel(ep.frames)
    env2 = make_env("reach", robot="panda")
    obs, _ = env2.reset(seed=9)
    teacher = expert("reach", env2)
    teacher.reset(9)
    for t in range(ep.length):
        assert np.array_equal(ep.frames["action"][t], teacher.act(obs))
        obs, *_ = env2.step(learner.act(obs))
    env.close(), env2.close()


def test_train_cli_and_its_errors(tmp_path, capsys):
    a, b = tmp_path / "arm7", tmp_path / "biped12"
    write_synthetic_dataset(a, "arm7", range(4))
    write_synthetic_dataset(b, "biped12", range(4))
    out = tmp_path / "p.npz"
    assert cli_main(["train", str(a), "--out", str(out), "--epochs", "3", "--hidden", "8", "--quiet"]) == 0
    header, arrays = read_policy(out)
    assert header["robot"]["name"] == "arm7" and arrays["W0"].shape == (header["model"]["layers"][0], 8)
    capsys.readouterr()
    assert cli_main(["train", str(a), str(b), "--out", str(tmp_path / "mixed.npz")]) == 2
    assert "--features canonical" in capsys.readouterr().err
    # canonical features mix robots
    assert cli_main(["train", str(a), str(b), "--out", str(tmp_path / "mixed.npz"), "--features", "canonical",
                     "--epochs", "2", "--hidden", "8", "--quiet"]) == 0
    assert read_policy(tmp_path / "mixed.npz")[0]["robot"]["trained_on"] == ["arm7", "biped12"]
    assert cli_main(["train", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert "no such folder" in capsys.readouterr().err
    try:
        import torch  # noqa: F401
    except ImportError:  # the optional backend says what it needs; the default trainer never imports torch
        with pytest.raises(TrainError, match="PyTorch"):
            train([a], tmp_path / "t.npz", TrainConfig(trainer="torch", epochs=1))
        assert "torch" not in sys.modules
    with pytest.raises(TrainError, match="observation.base"):
        train([a], out, TrainConfig(inputs=["base"]))
    env = make_env("reach", robot="panda")
    with pytest.raises(PolicyMismatch, match="robot 'arm7'"):
        load_policy(out, env)
    env.close()
    with pytest.raises(ValueError, match="not a flywheel policy"):
        (tmp_path / "junk.npz").write_bytes(b"junk")
        load_policy(tmp_path / "junk.npz", None)

"""`flywheel loop` end to end (tiny): valid datasets every round, success measured on held-out seeds."""
import json

import numpy as np
import pytest

from flywheel import datasets as fd
from flywheel.cli import build_parser
from flywheel.collectors.learning.loop import LoopConfig, LoopError, run_loop
from flywheel.collectors.policies import expert, load_policy
from flywheel.sim import make_env

ROUNDS, N, EVAL = 2, 6, 8


@pytest.fixture(scope="module")
def loop_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("loop") / "run"
    run_loop(LoopConfig(task="reach", robot="panda", rounds=ROUNDS, episodes_per_round=N, eval_episodes=EVAL,
                        workers=2, out=str(out), seed=0, epochs=20, hidden=(32, 32)))
    return out


def _seeds(path):
    return fd.open(path).episodes.column("seed").to_pylist()


def test_loop_writes_a_valid_dataset_and_a_policy_every_round(loop_dir):
    doc = json.loads((loop_dir / "loop.json").read_text())
    rounds = doc["rounds"]
    assert [r["round"] for r in rounds] == list(range(ROUNDS + 1))
    train_seeds = set()
    for r in rounds:
        path = r["dataset"]
        assert fd.validate(path) == [], path
        ds = fd.open(path)
        assert (len(ds), ds.num_frames) == (r["episodes"], r["frames"]) == (N, r["frames"])
        seeds = _seeds(path)
        assert seeds == list(range(r["round"] * N, (r["round"] + 1) * N))
        train_seeds.update(seeds)
        policies = set(ds.episodes.column("policy").to_pylist())
        if r["round"] == 0:
            assert r["policy"] is None and policies == {"expert_reach"}
        else:
            assert policies == {f"dagger:learned:round-{r['round']:03d}.npz"}
            header = json.loads(np.load(r["policy"])["header"].tobytes())
            # each round trains on every dataset so far
            assert [d["path"] for d in header["datasets"]] == [x["dataset"] for x in rounds[: r["round"]]]
            assert r["trained_on"]["frames"] == sum(x["frames"] for x in rounds[: r["round"]])
    assert rounds[-1]["total_frames"] == sum(r["frames"] for r in rounds)
    # held-out seeds are disjoint from every training seed
    eval_seeds = set(range(doc["config"]["eval_seed"], doc["config"]["eval_seed"] + EVAL))
    assert not eval_seeds & train_seeds
    table = (loop_dir / "loop.md").read_text()
    assert table.count("\n| ") == ROUNDS + 1 + 1  # header row + one row per round
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (loop_dir / "loop.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_success_is_measured_on_held_out_episodes_of_the_learned_policy_alone(loop_dir):
    doc = json.loads((loop_dir / "loop.json").read_text())
    for r in doc["rounds"][1:]:
        ds = fd.open(r["eval_dataset"])
        assert fd.validate(r["eval_dataset"]) == []
        assert _seeds(r["eval_dataset"]) == list(range(doc["config"]["eval_seed"], doc["config"]["eval_seed"] + EVAL))
        assert set(ds.episodes.column("policy").to_pylist()) == {f"learned:round-{r['round']:03d}.npz"}
        measured = np.mean(ds.episodes.column("success").to_pylist())
        assert r["success_rate"] == pytest.approx(measured) and r["eval_episodes"] == EVAL
    # re-running one evaluation episode here gives the stored outcome: the rate is measured, not assumed
    r = doc["rounds"][1]
    env = make_env("reach", robot="panda")
    policy = load_policy(r["policy"], env)
    ds = fd.open(r["eval_dataset"])
    from flywheel.collectors.collection.recorder import run_episode

    for i in range(2):
        result = run_episode(env, policy, ds.episodes.column("seed")[i].as_py())
        assert result.success == ds.episodes.column("success")[i].as_py()
        assert result.length == ds.episodes.column("length")[i].as_py()
    env.close()


def test_relabelled_rounds_store_the_experts_action_at_the_learners_states(loop_dir):
    doc = json.loads((loop_dir / "loop.json").read_text())
    r = doc["rounds"][1]
    ds = fd.open(r["dataset"])
    env = make_env("reach", robot="panda")
    learner = load_policy(r["policy"], env)
    teacher = expert("reach", env)
    for i in range(2):
        ep = ds.episode(i, ["observation.state", "action"])
        seed = ds.episodes.column("seed")[i].as_py()
        obs, _ = env.reset(seed=seed)
        teacher.reset(seed)
        for t in range(len(ep["action"])):
            assert np.array_equal(ep["observation.state"][t], obs["state"].astype(np.float32))
            assert np.array_equal(ep["action"][t], teacher.act(obs))
            obs, *_ = env.step(learner.act(obs))
    env.close()


def test_loop_refuses_bad_settings_before_any_work(tmp_path):
    with pytest.raises(LoopError, match="overlap"):
        LoopConfig(seed=9_999_990, episodes_per_round=10, rounds=3).check()
    with pytest.raises(LoopError, match="control-mode ee_delta"):
        LoopConfig(features="canonical", control_mode="joint_pos").check()
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "loop.json").write_text("{}")
    with pytest.raises(LoopError, match="--resume"):
        run_loop(LoopConfig(out=str(tmp_path / "used")))
    (tmp_path / "prev").mkdir()
    (tmp_path / "prev" / "loop.json").write_text(json.dumps({"config": {"task": "reach", "episodes_per_round": 5}}))
    with pytest.raises(LoopError, match="episodes_per_round was 5, now 6"):
        run_loop(LoopConfig(out=str(tmp_path / "prev"), episodes_per_round=6, resume=True))
    args = build_parser().parse_args(["loop", "--task", "reach", "--robot", "panda", "--rounds", "3",
                                      "--episodes-per-round", "100", "--out", "x", "--eval-episodes", "100"])
    assert (args.rounds, args.episodes_per_round, args.eval_episodes, args.workers) == (3, 100, 100, 2)


def test_flywheel_eval_measures_what_the_loop_recorded(loop_dir, capsys):
    """One source of truth: the loop's held-out figure is `flywheel eval` on the same seeds."""
    from flywheel.cli import main as cli_main

    r = json.loads((loop_dir / "loop.json").read_text())["rounds"][1]
    assert cli_main(["eval", r["policy"], "--episodes", str(EVAL), "--workers", "2", "--json"]) == 0  # task, robot: the policy's
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (doc["task"], doc["robot"], doc["episodes"]) == ("reach", "panda", EVAL)
    assert doc["success_rate"] == pytest.approx(r["success_rate"]) and doc["interval"] == r["success_interval"]
    assert doc["per_task"]["reach"]["seeds"] == [10_000_000, 10_000_000 + EVAL - 1]

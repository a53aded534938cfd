"""Collection pieces that need no Ray: the recording loop, the driver's bookkeeping, replay comparison, and
every bad input of `flywheel collect` / `flywheel replay` (each must fail before any work starts)."""
import json
import time

import numpy as np
import pytest

from flywheel import datasets
from flywheel.cli import main as cli_main
from flywheel.collectors.collection.collect import collect
from flywheel.collectors.collection.config import CollectConfig
from flywheel.collectors.collection.ledger import DURABLE, FAILED, INFLIGHT, UNKNOWN, EpisodeLedger
from flywheel.collectors.collection.plan import plan_run
from flywheel.collectors.collection.recorder import EpisodeRecorder, dataset_features
from flywheel.collectors.collection.actor_pool import check_address
from flywheel.collectors.collection.replay import ReplayError, _select, parse_episodes, replay
from flywheel.collectors.collection.worker import STORED, CollectorWorker, ReplayWorker, compare_episode
from flywheel.collectors.policies import expert
from flywheel.sim import make_env as sim_make_env


@pytest.fixture(scope="module")
def reach_env():
    env = sim_make_env("reach", robot="panda")
    yield env
    env.close()


# ---- recording ---------------------------------------------------------------------------------------
def test_features_are_lerobot_style_and_canonical(reach_env):
    f = dataset_features(reach_env)
    assert f["observation.ee"]["shape"] == [16] and f["observation.ee_mask"]["shape"] == [2]
    assert f["action.ee"]["shape"] == [14]
    assert f["observation.state"]["names"] == reach_env.unwrapped.state_names
    assert f["action"]["names"] == reach_env.unwrapped.action_names
    assert f["observation.environment_state"]["shape"] == [3]  # reach: the goal alone
    assert f["observation.environment_state"]["names"] == ["goal.x", "goal.y", "goal.z"]
    assert all(ft["dtype"] == "float32" for ft in f.values())


def test_recorder_stores_obs_before_action_and_is_deterministic(reach_env):
    rec = EpisodeRecorder(reach_env)
    pol = expert("reach", reach_env)
    a = rec.run(pol, 5)
    b = rec.run(pol, 5)
    assert a.finite and a.length >= 1
    for k in a.frames:
        assert a.frames[k].shape[0] == a.length
        np.testing.assert_array_equal(a.frames[k], b.frames[k])
    # obs_0 is the reset observation; next.done only on the last frame
    obs0, _ = reach_env.reset(seed=5)
    np.testing.assert_array_equal(a.frames["observation.state"][0], obs0["state"].astype(np.float32))
    assert a.frames["next.done"][-1] and not a.frames["next.done"][:-1].any()
    assert a.frames["observation.state"].dtype == np.float32
    # replaying the stored float32 actions gives the same frames bit for bit
    r = rec.replay(a.frames["action"], 5)
    assert compare_episode(a.frames, r.frames, [k for k in a.frames if k != "action"]) == []


def test_recorder_grows_past_the_preallocated_length():
    env = sim_make_env("reach", robot="panda", max_episode_steps=30)
    try:
        rec = EpisodeRecorder(env, capacity=2)
        from flywheel.collectors.policies import RandomPolicy

        ep = rec.run(RandomPolicy(env), 1)
        assert ep.length == 30 and ep.frames["action"].shape == (30, 9)
    finally:
        env.close()


class NaNPolicy:
    name = "nan"

    def __init__(self, env, at=2):
        self.inner = expert("reach", env)
        self.at = at
        self.t = 0

    def reset(self, seed=None):
        self.inner.reset(seed)
        self.t = 0

    def act(self, obs):
        self.t += 1
        a = self.inner.act(obs)
        if self.t > self.at:
            a = a.copy()
            a[0] = np.nan
        return a


def test_non_finite_episode_is_flagged_not_recorded():
    env = sim_make_env("reach", robot="panda")
    try:
        rec = EpisodeRecorder(env)
        ep = rec.run(NaNPolicy(env, at=0), 3)
        assert not ep.finite and ep.frames == {} and "non-finite action" in ep.problem
    finally:
        env.close()


def test_compare_episode_reports_first_differing_frame():
    a = {"x": np.zeros((5, 3), np.float32), "d": np.zeros(5, bool)}
    b = {"x": a["x"].copy(), "d": a["d"].copy()}
    assert compare_episode(a, b, ["x", "d"]) == []
    b["x"][3, 1] = np.float32(1e-7)
    b["d"][4] = True
    bad = compare_episode(a, b, ["x", "d"])
    assert bad[0].startswith("x: first differs at frame 3") and bad[1].startswith("d: first differs at frame 4")
    b = {"x": a["x"][:4], "d": a["d"]}
    assert "length" in compare_episode(a, b, ["x"])[0]


# ---- the driver's bookkeeping ------------------------------------------------------------------------
def test_book_normal_mode_exactly_once():
    book = EpisodeLedger(10, False, {3: (True, 5)})
    assert book.resumed == 1 and book.count(DURABLE) == 1
    keys = book.take(4)
    assert keys == [0, 1, 2, 4]  # 3 is staged already
    book.record(keys, [STORED] * 4, [True] * 4, [5] * 4)
    book.durable([0, 1])
    book.put_back([2, 4], suspect=True)  # their worker died before writing them
    assert book.status[2] == UNKNOWN and book.status[0] == DURABLE
    assert book.take(4) == [2]  # a suspect runs alone
    assert book.take(4) == [4]
    rest = book.take(100)
    assert rest == [5, 6, 7, 8, 9]
    assert not book.finished()
    book.record([2, 4] + rest, [STORED] * 7, [True] * 7, [5] * 7)
    book.durable([2, 4] + rest)
    assert book.finished() and book.done_count() == 10


def test_book_poison_key_dropped_after_two_solo_crashes():
    book = EpisodeLedger(3, False, {})
    keys = book.take(3)
    book.put_back(keys, suspect=True)
    k = book.take(3)
    assert k == [0]
    assert not book.crashed(0)
    book.put_back(k, suspect=True)
    assert book.take(3) == [0]
    assert book.crashed(0)  # second solo crash: dropped
    book.put_back([0], suspect=True)  # no effect on a dropped key
    assert book.dropped_crash == 1 and 0 not in book.requeue


def test_book_success_only_keeps_first_n_successes_in_key_order():
    book = EpisodeLedger(3, True, {})
    keys = book.take(8)
    assert keys == list(range(8))
    # keys 0..7: successes at 1, 2, 5, 6; results arrive out of order
    succ = {1, 2, 5, 6}
    codes = [STORED if k in succ else 2 for k in keys]
    book.record(keys[4:], codes[4:], [k in succ for k in keys[4:]], [10] * 4)
    assert book.kept_keys() is None  # keys 0..3 unknown yet: 5 and 6 might not be among the first 3
    book.record(keys[:4], codes[:4], [k in succ for k in keys[:4]], [10] * 4)
    kept = list(book.kept_keys())
    assert kept == [1, 2, 5]
    assert not book.finished()  # not durable yet
    book.durable([1, 2, 5])
    assert book.finished()
    assert not book.want_fresh(0)
    # a worker dies holding key 2 unflushed: the prefix goes back and 2 is run again
    book.status[2] = 4  # BUFFERED
    book.put_back([2])
    assert book.kept_keys() is None and book.take(1) == [2]


def test_book_success_only_resume_counts_staged():
    book = EpisodeLedger(2, True, {4: (True, 7), 9: (True, 7)})
    assert book.resumed == 2
    keys = book.take(20)
    assert 4 not in keys and 9 not in keys
    assert all(book.status[k] == INFLIGHT for k in keys)
    book.record(keys, [FAILED] * len(keys), [False] * len(keys), [1] * len(keys))
    assert list(book.kept_keys()) == [4, 9] and book.finished()


def test_parse_and_select_episodes():
    assert _select(parse_episodes("0:3,5"), 10) == [0, 1, 2, 5]
    assert _select(parse_episodes("8:"), 10) == [8, 9]
    assert _select(None, 3) == [0, 1, 2]
    with pytest.raises(ReplayError, match="past the last"):
        _select(parse_episodes("0:11"), 10)
    with pytest.raises(ReplayError, match="not in the dataset"):
        _select(parse_episodes("12"), 10)
    with pytest.raises(ReplayError):
        parse_episodes("a:b")


# ---- bad input: clear errors before any work ----------------------------------------------------------
def run_cli(capsys, *argv):
    rc = cli_main(list(argv))
    captured = capsys.readouterr()
    return rc, captured.err


@pytest.mark.parametrize("argv, message", [
    (["--task", "fly", "--episodes", "5"], "unknown task 'fly'"),
    (["--task", "reach", "--robot", "r2d2", "--episodes", "5"], "unknown robot 'r2d2'"),
    (["--task", "reach", "--episodes", "0"], "--episodes must be a positive integer"),
    (["--task", "reach", "--episodes", "5", "--workers", "0"], "--workers must be a positive integer"),
    (["--task", "reach", "--episodes", "5", "--camera", "nosuchcam"], "unknown camera 'nosuchcam'"),
    (["--task", "balance", "--robot", "panda", "--episodes", "5"], "balance"),
    (["--task", "reach", "--episodes", "5", "--policy", "/no/such/policy.npz"], "/no/such/policy.npz"),
])
def test_collect_bad_input(tmp_path, capsys, argv, message):
    out = tmp_path / "ds"
    rc, err = run_cli(capsys, "collect", *argv, "--out", str(out))
    assert rc == 2, err
    assert message in err and err.count("\n") == 1  # one line, no traceback
    assert not out.exists()


def test_unreachable_address_fails_fast(tmp_path, capsys):
    out = tmp_path / "ds"
    t = time.monotonic()
    rc, err = run_cli(capsys, "collect", "--task", "reach", "--episodes", "5", "--out", str(out),
                      "--address", "127.0.0.1:1")
    assert rc == 2 and "cannot reach the Ray cluster at 127.0.0.1:1" in err
    assert time.monotonic() - t < 15
    assert not out.exists()
    with pytest.raises(ConnectionError):
        check_address("192.0.2.123:6379", timeout=0.5)  # TEST-NET: nothing answers; bounded by the timeout


def _small_dataset(root, *, seed=0, n=3, finalize=True, **plan_kw):
    """A real dataset written without Ray: the worker class is plain Python."""
    plan = plan_run(CollectConfig(**{"task": "reach", "robot": "panda", "episodes": n, "out": root, "seed": seed,
                                     **plan_kw}))
    datasets.create_dataset(root, features=plan.features, fps=plan.fps, robot_type=plan.robot_type,
                            task=plan.task_string, flywheel_meta=plan.flywheel_meta)
    w = CollectorWorker("w0", str(root), plan.env_cfg, seed0=seed, episodes_per_file=2)
    w.run(list(range(n)))
    w.close()
    if finalize:
        datasets.finalize(root)
    return plan


def test_out_folder_holding_another_dataset(tmp_path, capsys):
    done = tmp_path / "done"
    _small_dataset(done)
    before = sorted(p.name for p in done.rglob("*"))
    rc, err = run_cli(capsys, "collect", "--task", "reach", "--episodes", "5", "--out", str(done))
    assert rc == 2 and "already holds a finished dataset" in err
    assert sorted(p.name for p in done.rglob("*")) == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    rc, err = run_cli(capsys, "collect", "--task", "reach", "--episodes", "5", "--out", str(other))
    assert rc == 2 and "not empty" in err
    unfinished = tmp_path / "unfinished"
    _small_dataset(unfinished, n=3, finalize=False)
    rc, err = run_cli(capsys, "collect", "--task", "reach", "--episodes", "3", "--out", str(unfinished))
    assert rc == 2 and "--resume" in err


@pytest.mark.parametrize("change, field", [
    (["--seed", "1"], "seed: 0 -> 1"),
    (["--episodes", "4"], "episodes: 3 -> 4"),
    (["--noise", "0.01"], "noise: 0.0 -> 0.01"),
    (["--max-steps", "20"], "max_steps: 50 -> 20"),
    (["--camera", "front"], 'cameras: [] -> ["front"]'),
])
def test_resume_with_different_parameters(tmp_path, capsys, change, field):
    root = tmp_path / "ds"
    _small_dataset(root, n=3, finalize=False)
    args = {"--seed": "0", "--episodes": "3"}
    for i in range(0, len(change), 2):
        args[change[i]] = change[i + 1]
    flat = [x for kv in args.items() for x in kv]
    rc, err = run_cli(capsys, "collect", "--task", "reach", "--out", str(root), "--resume", *flat)
    assert rc == 2 and f"cannot resume {root}: {field}" in err and err.count("\n") == 1
    assert datasets.staged_keys(root) == {0, 1, 2}  # untouched


def test_resume_of_a_complete_staging_area_only_finalizes(tmp_path):
    """Every key is staged already: resume finalizes without starting Ray or any worker."""
    root = tmp_path / "ds"
    _small_dataset(root, n=3, finalize=False)
    import ray

    assert not ray.is_initialized()
    s = collect("reach", "panda", 3, out=root, seed=0, resume=True)
    assert s.episodes == 3 and s.resumed == 3 and s.attempted == 0
    assert datasets.validate(root) == []


def test_replay_bad_input(tmp_path, capsys):
    rc, err = run_cli(capsys, "replay", str(tmp_path / "missing"))
    assert rc == 2 and "no such folder" in err
    root = tmp_path / "ds"
    _small_dataset(root, n=2)
    rc, err = run_cli(capsys, "replay", str(root), "--episodes", "0:5")
    assert rc == 2 and "past the last episode" in err
    rc, err = run_cli(capsys, "replay", str(root), "--camera", "front")
    assert rc == 2 and "--out" in err
    rc, err = run_cli(capsys, "replay", str(root), "--camera", "nosuchcam", "--out", str(tmp_path / "o"))
    assert rc == 2 and "unknown camera" in err
    with pytest.raises(ReplayError, match="not the dataset being replayed"):
        replay(root, cameras=["front"], out=root)
    _small_dataset(tmp_path / "other", n=1)
    with pytest.raises(ReplayError, match="already holds a finished dataset"):
        replay(root, cameras=["front"], out=tmp_path / "other")


def test_replay_worker_in_process(tmp_path):
    """Replay and comparison without Ray: a stored dataset replays bit for bit; a tampered value is caught."""
    root = tmp_path / "ds"
    plan = _small_dataset(root, n=3)
    w = ReplayWorker("r0", str(root), plan.env_cfg, [0, 1, 2])
    r = w.run([0, 1, 2])
    assert r["mismatches"] == {} and r["flushed"] == [0, 1, 2]
    w.ds.close()
    # tamper: a stored observation differs in the last bit
    real = w.ds.episode
    def tampered(i, columns=None, **kw):
        ep = real(i, columns, **kw)
        if i == 1:
            x = ep["observation.state"] = ep["observation.state"].copy()
            x.view(np.uint32)[0, 0] ^= 1
        return ep
    w.ds.episode = tampered
    r = w.run([0, 1, 2])
    assert list(r["mismatches"]) == [1]
    assert r["mismatches"][1][0].startswith("observation.state: first differs at frame 0")
    w.close()


def test_flywheel_meta_records_robot_task_and_config(tmp_path):
    root = tmp_path / "ds"
    plan = _small_dataset(root, n=2, seed=7)
    meta = json.loads((root / "meta" / "flywheel.json").read_text())
    assert meta["robot"]["name"] == "panda" and len(meta["robot"]["model_hash"]) == 64
    assert meta["robot"]["spec"]["joints"]
    assert meta["task"]["name"] == "reach" and "success_distance" in meta["task"]["params"]
    cfg = meta["config"]
    for key in ("task", "robot", "seed", "episodes", "policy", "noise", "control_mode", "success_only", "max_steps",
                "cameras"):
        assert key in cfg
    assert cfg["seed"] == 7 and cfg["max_steps"] == 50
    assert "code_version" in meta
    assert plan.fps == 20


def test_ctrl_c_outside_the_drive_loop_still_names_the_resume_command(tmp_path, monkeypatch, capsys):
    """A KeyboardInterrupt from starting workers, shutting Ray down or finalising (not the CollectInterrupted of the
    drive loop) exits 130 with the command that completes the run, no traceback."""
    from flywheel.collectors.collection import collect as collect_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(collect_module, "collect", interrupted)
    out = tmp_path / "ds"
    assert cli_main(["collect", "--task", "reach", "--episodes", "5", "--out", str(out), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "--resume" in err and str(out) in err and "Traceback" not in err

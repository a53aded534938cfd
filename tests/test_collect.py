"""Ray-parallel collection end to end: a 2-worker run validates, a worker killed with SIGKILL is replaced and
changes nothing, a killed driver (and Ctrl-C) leaves a dataset that --resume completes identically, and
replay reproduces episodes bit for bit.

One local Ray (2 CPUs) serves the whole module; subprocess drivers join it by address. Every run below is
compared with one uninterrupted reference run: same episodes, same bytes in the data files.
"""
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from flywheel import datasets
from flywheel.collectors import collect, replay
from flywheel.collectors.collection.collect import CollectError

ray = pytest.importorskip("ray")

N, SEED = 200, 100
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ray_address():
    from flywheel.collectors.collection.actor_pool import connect

    connect(None, workers=2)  # always a new local cluster (token auth, loopback), never one found on this machine
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def reference(ray_address, tmp_path_factory):
    out = tmp_path_factory.mktemp("collect") / "reference"
    summary = collect("reach", "panda", N, out=out, workers=2, seed=SEED)
    return out, summary


def data_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((root / "data").rglob("*.parquet"))}


def episode_columns(root: Path) -> dict:
    t = datasets.open(root).episodes  # every meta/episodes file, in order
    return {c: t.column(c).to_pylist() for c in ("episode_index", "seed", "success", "length", "terminated", "truncated",
                                                  "policy", "dataset_from_index", "dataset_to_index")}


def assert_same_dataset(a: Path, b: Path) -> None:
    """Bit for bit: identical data files, episode table (minus uuid/worker) and statistics."""
    assert datasets.validate(b) == []
    assert data_digest(a) == data_digest(b)
    assert episode_columns(a) == episode_columns(b)
    assert json.loads((a / "meta" / "stats.json").read_text()) == json.loads((b / "meta" / "stats.json").read_text())


def test_two_workers_collect_a_valid_dataset(reference):
    out, s = reference
    assert datasets.validate(out) == []
    ds = datasets.open(out)
    assert len(ds) == N == s.episodes
    seeds = ds.episodes.column("seed").to_pylist()
    assert seeds == [SEED + k for k in range(N)]  # episode k has seed S + k
    assert ds.episodes.column("episode_index").to_pylist() == list(range(N))
    assert s.frames == ds.num_frames and s.restarts == 0 and s.resumed == 0 and s.attempted == N
    assert s.successes == int(np.sum(ds.episodes.column("success").to_pylist()))
    assert {w["name"] for w in s.workers} == {"w0", "w1"} and sum(w["episodes"] for w in s.workers) == N
    assert all(w["episodes"] > 0 for w in s.workers)
    assert "episodes" in s.line() and str(out) in s.line()
    meta = ds.flywheel
    assert meta["config"]["seed"] == SEED and meta["config"]["episodes"] == N
    assert meta["runs"][-1]["attempted"] == N and not meta["runs"][-1]["interrupted"]
    assert not (out / "staging").exists()
    # the canonical features and float32 obs as stored
    ep = ds.episode(3)
    assert ep["observation.ee"].shape[1] == 16 and ep["action.ee"].shape[1] == 14
    assert ep["observation.state"].dtype == np.float32


def test_cli_collect_validates(ray_address, tmp_path):
    """The command itself (joining the module's Ray), then `flywheel dataset validate`."""
    out = tmp_path / "cli"
    env = dict(os.environ, RAY_ADDRESS=ray_address)
    r = subprocess.run([sys.executable, "-m", "flywheel", "collect", "--task", "reach", "--episodes", "12", "--workers",
                        "2", "--out", str(out), "--seed", "5", "--json"], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads(r.stdout)
    assert summary["episodes"] == 12 and summary["dataset"] == str(out)
    v = subprocess.run([sys.executable, "-m", "flywheel", "dataset", "validate", str(out)], capture_output=True,
                       text=True, timeout=120)
    assert v.returncode == 0, v.stdout + v.stderr
    r = subprocess.run([sys.executable, "-m", "flywheel", "replay", str(out), "--verify", "--episodes", "0:5,9"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "replayed 6 episodes" in r.stdout and "0 mismatched episodes" in r.stdout


def test_worker_killed_mid_run_is_replaced_and_changes_nothing(reference, tmp_path):
    ref, _ = reference
    killed = []

    def kill_one(state):
        if not killed and state["done"] >= 60 and "w0" in state["pids"]:
            killed.append(state["pids"]["w0"])
            os.kill(state["pids"]["w0"], signal.SIGKILL)

    out = tmp_path / "killed"
    s = collect("reach", "panda", N, out=out, workers=2, seed=SEED, callback=kill_one)
    assert killed and s.restarts == 1
    w0 = next(w for w in s.workers if w["name"] == "w0")
    assert killed[0] in w0["pids"] and w0["restarts"] == 1  # replaced by a new process
    assert s.episodes == N
    assert_same_dataset(ref, out)


DRIVER = textwrap.dedent("""
    import os, signal, sys
    from flywheel.collectors import collect
    out, n, seed, sig, at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    def stop(state):
        if state["durable"] >= at:
            os.kill(os.getpid(), getattr(signal, sig))
    if sig == "SIGKILL":
        collect("reach", "panda", n, out=out, workers=2, seed=seed, callback=stop)
    else:  # Ctrl-C through the command line: the bar's update sends it, once, while work is still pending
        # A process started with SIGINT ignored (a background job of a non-interactive shell: `make test &` in a
        # script) inherits that, and Python then installs no KeyboardInterrupt handler: the signal below would be
        # dropped and the run would finish (exit 0). An interactive terminal, where Ctrl-C works, is the state
        # this test is about, so it is set here whatever the parent left.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from flywheel.collectors.collection import progress
        real = progress.Progress.update
        sent = []
        def update(self, done, **kw):
            real(self, done, **kw)
            if not sent and at <= done < self.total:  # state, not timing: episodes resolved, the run not complete
                sent.append(done)
                with open(out + ".interrupted_at", "w") as f:
                    f.write(str(done))
                os.kill(os.getpid(), signal.SIGINT)  # Python raises KeyboardInterrupt here, in the drive loop
        progress.Progress.update = update
        from flywheel.cli import main
        sys.exit(main(["collect", "--task", "reach", "--episodes", str(n), "--out", out, "--seed", str(seed),
                       "--workers", "2", "--quiet"]))
""")


def run_driver(tmp_path, ray_address, out, sig, at):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    env = dict(os.environ, RAY_ADDRESS=ray_address)
    cmd = [sys.executable, str(script), str(out), str(N), str(SEED), sig, str(at)]
    if sig == "SIGINT":  # the worst case on purpose: started with SIGINT ignored, as `make test &` in a script does
        cmd = ["sh", "-c", "trap '' INT; exec \"$@\"", "sh", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def test_driver_killed_then_resume_is_identical(reference, ray_address, tmp_path):
    ref, _ = reference
    out = tmp_path / "resumed"
    r = run_driver(tmp_path, ray_address, out, "SIGKILL", 60)
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
    assert not (out / "meta" / "info.json").exists()
    staged = datasets.staged_keys(out)
    assert 60 <= len(staged) < N
    # resuming with other parameters is refused, clearly, and touches nothing
    with pytest.raises(CollectError, match="cannot resume .*(seed|episodes): "):
        collect("reach", "panda", N, out=out, workers=2, seed=SEED + 1, resume=True)
    with pytest.raises(CollectError, match="cannot resume .*(seed|episodes): "):
        collect("reach", "panda", N + 1, out=out, workers=2, seed=SEED, resume=True)
    with pytest.raises(CollectError, match="unfinished dataset"):
        collect("reach", "panda", N, out=out, workers=2, seed=SEED)
    assert datasets.staged_keys(out) == staged
    s = collect("reach", "panda", N, out=out, workers=2, seed=SEED, resume=True)
    assert s.resumed == len(staged) and s.attempted == N - len(staged) and s.episodes == N
    assert_same_dataset(ref, out)
    with pytest.raises(CollectError, match="finished dataset"):
        collect("reach", "panda", N, out=out, workers=2, seed=SEED, resume=True)


def test_ctrl_c_leaves_a_resumable_dataset(reference, ray_address, tmp_path):
    ref, _ = reference
    out = tmp_path / "ctrl_c"
    r = run_driver(tmp_path, ray_address, out, "SIGINT", 40)
    sent_at = Path(f"{out}.interrupted_at")
    assert sent_at.exists(), "the interrupt was never sent: " + r.stderr[-2000:]
    assert 40 <= int(sent_at.read_text()) < N  # sent while work was pending
    assert r.returncode == 130, r.stderr[-2000:]
    assert "--resume" in r.stderr and "resumable" in r.stderr
    staged = datasets.staged_keys(out)
    assert len(staged) >= 40
    meta = json.loads((out / "meta" / "flywheel.json").read_text())
    assert meta["runs"][-1]["interrupted"] is True
    s = collect("reach", "panda", N, out=out, workers=2, seed=SEED, resume=True)
    assert s.resumed == len(staged)
    assert_same_dataset(ref, out)


def test_replay_verify_reports_no_mismatch(reference, ray_address):
    ref, _ = reference
    report = replay(ref, verify=True, workers=2)
    assert report.episodes == N and report.mismatches == {} and report.ok
    assert report.frames == datasets.open(ref).num_frames


def _tamper_copy(src: Path, dst: Path, episode: int) -> None:
    """Copy a dataset, flipping the last bit of one stored observation (row groups kept one per episode)."""
    import shutil

    shutil.copytree(src, dst)
    path = next((dst / "data").rglob("*.parquet"))
    pf = pq.ParquetFile(path)
    tables = [pf.read_row_group(i) for i in range(pf.num_row_groups)]
    t = tables[episode]
    col = t.column("observation.environment_state").combine_chunks()
    flat = col.values.to_numpy(zero_copy_only=False).copy()
    flat.view(np.uint32)[1] ^= 1
    import pyarrow as pa

    tables[episode] = t.set_column(t.schema.get_field_index("observation.environment_state"), t.schema.field("observation.environment_state"),
                                   pa.FixedSizeListArray.from_arrays(pa.array(flat), col.type.list_size))
    with pq.ParquetWriter(path, pf.schema_arrow) as w:
        for t in tables:
            w.write_table(t, row_group_size=t.num_rows)


def test_replay_finds_a_changed_observation(reference, tmp_path):
    ref, _ = reference
    bad = tmp_path / "tampered"
    _tamper_copy(ref, bad, episode=7)
    report = replay(bad, episodes=range(5, 10), workers=2)
    assert list(report.mismatches) == [7]
    assert report.mismatches[7][0].startswith("observation.environment_state: first differs at frame 0")


def test_replay_with_camera_writes_a_new_dataset(reference, tmp_path):
    ref, _ = reference
    out = tmp_path / "with_images"
    report = replay(ref, episodes=[slice(0, 3), 10], cameras=["front"], out=out, workers=2, camera_size=64)
    assert report.mismatches == {} and report.out == str(out)
    assert datasets.validate(out) == []
    ds, src = datasets.open(out), datasets.open(ref)
    assert len(ds) == 4 and ds.features["observation.images.front"]["dtype"] == "video"  # LeRobot video, as collect
    assert ds.episodes.column("seed").to_pylist() == [SEED + k for k in (0, 1, 2, 10)]
    for new_i, old_i in enumerate((0, 1, 2, 10)):
        a, b = ds.episode(new_i), src.episode(old_i)
        img = a["observation.images.front"]
        assert img.dtype == np.uint8 and img.shape == (len(b["action"]), 64, 64, 3) and img.std() > 0
        for k in ("observation.state", "observation.ee", "action", "action.ee", "next.reward"):
            np.testing.assert_array_equal(a[k], b[k])
    assert ds.flywheel["config"]["cameras"] == ["front"] and ds.flywheel["replayed_from"]["episodes"] == ["0:3", "10:11"]
    assert ds.flywheel["config"]["camera_hz"] == 10 and ds.flywheel["config"]["camera_size"] == [64, 64]


def test_success_only_keeps_the_first_n_successes(ray_address, tmp_path):
    n = 6
    out = tmp_path / "success_only"
    s = collect("reach", "panda", n, out=out, workers=2, seed=0, noise=0.05, success_only=True)
    assert s.episodes == n and s.successes == n and s.success_only
    assert s.attempted > n and 0 < s.yield_rate < 1
    ds = datasets.open(out)
    seeds = ds.episodes.column("seed").to_pylist()
    assert all(ds.episodes.column("success").to_pylist()) and seeds == sorted(seeds)
    # the first n successful seeds, whatever the scheduling: check against a plain loop
    from flywheel.collectors.policies import expert
    from flywheel.collectors.collection.recorder import run_episode
    from flywheel.sim import make_env

    env = make_env("reach", robot="panda")
    pol = expert("reach", env, noise=0.05)
    want, k = [], 0
    while len(want) < n:
        if run_episode(env, pol, k).success:
            want.append(k)
        k += 1
    env.close()
    assert seeds == want
    assert datasets.validate(out) == []

    # successes staged beyond the first n (in flight when the n-th was found, or from an earlier run) are left out
    from flywheel.collectors.collection.config import CollectConfig
    from flywheel.collectors.collection.plan import plan_run
    from flywheel.collectors.collection.worker import CollectorWorker

    out = tmp_path / "success_only_extras"
    plan = plan_run(CollectConfig("reach", "panda", 3, out=out, seed=0, noise=0.05, success_only=True))
    datasets.create_dataset(out, features=plan.features, fps=plan.fps, robot_type=plan.robot_type,
                            task=plan.task_string, flywheel_meta=plan.flywheel_meta)
    w = CollectorWorker("w9", str(out), plan.env_cfg, seed0=0, noise=0.05, success_only=True)
    w.run(want[2:])  # the 3rd..6th successes are staged, the first two are not
    w.close()
    s = collect("reach", "panda", 3, out=out, workers=2, seed=0, noise=0.05, success_only=True, resume=True)
    assert s.resumed == 4 and s.episodes == 3
    assert datasets.open(out).episodes.column("seed").to_pylist() == want[:3]


class NaNOnOddSeeds:
    """A policy whose actions turn NaN on odd seeds: those episodes must be dropped, never written."""

    name = "nan_on_odd"

    def __init__(self, env):
        from flywheel.collectors.policies import expert

        self.inner = expert("reach", env)

    def reset(self, seed=None):
        self.inner.reset(seed)
        self.bad = seed % 2 == 1

    def act(self, obs):
        a = self.inner.act(obs)
        return np.full_like(a, np.nan) if self.bad else a


def test_non_finite_episodes_are_dropped_and_counted(ray_address, tmp_path):
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    out = tmp_path / "nan"
    s = collect("reach", "panda", 10, out=out, workers=2, seed=0, policy=NaNOnOddSeeds)
    assert s.dropped_nonfinite == 5 and s.episodes == 5
    assert s.problems and "non-finite action" in s.problems[0]
    assert datasets.open(out).episodes.column("seed").to_pylist() == [0, 2, 4, 6, 8]
    out2 = tmp_path / "nan_success_only"
    s = collect("reach", "panda", 4, out=out2, workers=2, seed=0, policy=NaNOnOddSeeds, success_only=True)
    assert s.episodes == 4 and s.dropped_nonfinite >= 3
    assert datasets.open(out2).episodes.column("seed").to_pylist() == [0, 2, 4, 6]


class RaisesOnSeed3(NaNOnOddSeeds):
    """The expert, except that it raises on seed 3."""

    name = "raises_on_3"

    def reset(self, seed=None):
        self.inner.reset(seed)
        self.bad = False
        if seed == 3:
            raise RuntimeError("policy bug on seed 3")


class AlwaysRaises(RaisesOnSeed3):
    def act(self, obs):
        raise RuntimeError("policy bug everywhere")


def test_an_episode_that_raises_is_dropped_and_a_policy_that_always_raises_stops_the_run(ray_address, tmp_path):
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    s = collect("reach", "panda", 6, out=tmp_path / "one", workers=2, seed=0, policy=RaisesOnSeed3)
    assert s.episodes == 5 and s.dropped_error == 1
    assert "RuntimeError: policy bug on seed 3" in s.problems[0] and "1 raised" in s.line()
    out = tmp_path / "every"
    with pytest.raises(CollectError, match="raised an exception .*policy bug everywhere"):
        collect("reach", "panda", 40, out=out, workers=2, seed=0, policy=AlwaysRaises)
    assert (out / "staging" / "spec.json").exists() and not (out / "meta" / "info.json").exists()  # resumable
    meta = json.loads((out / "meta" / "flywheel.json").read_text())
    assert "policy bug everywhere" in meta["runs"][-1]["error"]

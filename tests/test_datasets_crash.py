"""Crash safety: a writer process SIGKILLed mid-run leaves no partial episode, and the rest is intact."""
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import flywheel.datasets as fd
from flywheel.datasets import synthetic

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")

IMAGE = (16, 16)

CHILD = textwrap.dedent(
    """
    import sys, time
    import pyarrow.parquet as pq
    from flywheel.datasets import StagingWriter, synthetic

    root, mode, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
    feats = synthetic.robot_features("arm7", image=(16, 16))
    if mode == "mid-write":
        # Stall inside the third staging file, after its first episode's row group went to disk.
        files = {"n": 0}
        orig_init, orig_write = pq.ParquetWriter.__init__, pq.ParquetWriter.write_table
        def init(self, *a, **k):
            files["n"] += 1
            self._rows_written = 0
            orig_init(self, *a, **k)
        def write(self, *a, **k):
            orig_write(self, *a, **k)
            self._rows_written += 1
            if files["n"] == 3 and self._rows_written == 1:
                print("mid-write", flush=True)
                time.sleep(60)
        pq.ParquetWriter.__init__, pq.ParquetWriter.write_table = init, write
    w = StagingWriter(root, worker="victim", episodes_per_file=3)
    for k in range(start, start + 100000):
        w.add_episode(k, synthetic.synthetic_episode("arm7", k, feats), **synthetic.episode_kwargs(k))
        if w.buffered == 0:
            print("flushed", k, flush=True)
    """
)


def make_root(tmp_path):
    root = tmp_path / "ds"
    feats = synthetic.robot_features("arm7", image=IMAGE)
    fd.create_dataset(root, features=feats, fps=10, robot_type="arm7", task="reach the red target",
                      flywheel_meta=synthetic.flywheel_meta("arm7"))
    return root, feats


def run_and_kill(root, mode, *, wait_for, start=0):
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(root), mode, str(start)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = 0
        for line in proc.stdout:
            if line.startswith(wait_for):
                seen += 1
                if seen >= (3 if wait_for == "flushed" else 1):
                    break
        else:
            raise AssertionError(f"child exited early: {proc.stderr.read()}")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


def assert_intact(root, feats, keys):
    ds = fd.open(root)
    assert ds.episodes.column("seed").to_pylist() == [100 + k for k in sorted(keys)]
    for i, k in enumerate(sorted(keys)):
        got = ds.episode(i)
        want = synthetic.synthetic_episode("arm7", k, feats)
        for name, arr in want.items():
            np.testing.assert_array_equal(got[name], arr, err_msg=f"episode key {k} {name}")
    assert fd.validate(root) == []


def test_killed_while_writing_a_staging_file(tmp_path):
    root, feats = make_root(tmp_path)
    run_and_kill(root, "mid-write", wait_for="mid-write")
    staging = root / "staging"
    assert any(p.name.startswith(".tmp-") for p in staging.iterdir())  # the half-written file
    assert fd.staged_keys(root) == set(range(6))  # two complete files; the third never appeared
    with pytest.raises(fd.DatasetError, match="unfinished"):
        fd.open(root)
    # resume: the driver asks what is staged and redoes the rest
    fd.create_dataset(root, features=feats, fps=10, robot_type="arm7", task="reach the red target",
                      flywheel_meta=synthetic.flywheel_meta("arm7"), resume=True)
    missing = sorted(set(range(10)) - fd.staged_keys(root))
    with fd.StagingWriter(root, worker="victim", episodes_per_file=3) as w:
        for k in missing:
            w.add_episode(k, synthetic.synthetic_episode("arm7", k, feats), **synthetic.episode_kwargs(k))
    info = fd.finalize(root)
    assert info["total_episodes"] == 10
    assert not staging.exists()
    assert_intact(root, feats, range(10))


def test_killed_at_an_arbitrary_moment(tmp_path):
    root, feats = make_root(tmp_path)
    run_and_kill(root, "plain", wait_for="flushed")
    keys = fd.staged_keys(root)
    assert len(keys) >= 9 and len(keys) % 3 == 0 and keys == set(range(len(keys)))
    info = fd.finalize(root)
    assert info["total_episodes"] == len(keys)
    assert_intact(root, feats, keys)

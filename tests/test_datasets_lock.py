"""One writer per dataset folder (issue 11, finding 1): DatasetLock, refused at once, dead holders taken over."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

import flywheel.datasets as fd
from flywheel.cli import main
from flywheel.datasets import synthetic
from flywheel.datasets.lock import LOCK_NAME, read_holder

from test_datasets_reliability import tree_hash, unfinished


def cli(argv, capsys):
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_second_writer_is_refused_at_once_naming_the_holder(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    with fd.DatasetLock(root, "collect --resume") as lock:
        assert lock.held and (root / LOCK_NAME).exists()
        holder = read_holder(root)
        assert holder["pid"] == os.getpid() and holder["purpose"] == "collect --resume"
        with pytest.raises(fd.DatasetLocked) as err:
            fd.DatasetLock(root, "finalize").acquire()  # another open file: refused like another process
        msg = str(err.value)
        assert "\n" not in msg and str(root) in msg and f"pid {os.getpid()}" in msg and holder["host"] in msg
        assert holder["started"] in msg and "'collect --resume'" in msg and "'finalize' cannot run now" in msg
        assert isinstance(err.value, ValueError)
    assert not (root / LOCK_NAME).exists()  # released and removed: a finished dataset carries no lock file
    fd.DatasetLock(root, "again").acquire().release()


def test_missing_folder_is_not_created_unless_asked(tmp_path):
    with pytest.raises(fd.DatasetError, match="no such folder"):
        fd.DatasetLock(tmp_path / "absent", "finalize").acquire()
    assert not (tmp_path / "absent").exists()
    with fd.DatasetLock(tmp_path / "new" / "ds", "collect", create=True):
        assert (tmp_path / "new" / "ds").is_dir()


_CHILD = textwrap.dedent("""
    import sys
    from flywheel.datasets import DatasetLock
    DatasetLock(sys.argv[1], "collect (child)").acquire()
    print("locked", flush=True)
    sys.stdin.read()  # hold the lock until killed
""")


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    """flock is released by the kernel when its holder dies, SIGKILL included: no stale lock to clear."""
    root = tmp_path / "ds"
    root.mkdir()
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "locked"  # synchronise on state, not on time
        with pytest.raises(fd.DatasetLocked, match=f"pid {child.pid} .*'collect \\(child\\)'"):
            fd.DatasetLock(root, "finalize").acquire()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert read_holder(root)["pid"] == child.pid  # the dead holder's file is still there...
    with fd.DatasetLock(root, "finalize"):  # ...and the lock is free
        assert read_holder(root)["pid"] == os.getpid()


def test_create_dataset_accepts_a_folder_holding_only_the_lock(tmp_path):
    """The collector takes the lock (creating --out) before create_dataset: that folder is still "empty"."""
    root = tmp_path / "ds"
    with fd.DatasetLock(root, "collect", create=True):
        fd.create_dataset(root, features=synthetic.robot_features("arm7"), fps=10, robot_type="arm7", task="t",
                          flywheel_meta={})
    assert (root / "staging/spec.json").exists()


def test_cli_finalize_is_refused_while_another_writer_holds_the_lock(tmp_path, capsys):
    root = unfinished(tmp_path, staged=4, requested=4)
    with fd.DatasetLock(root, "collect --resume"):
        before = tree_hash(root)
        rc, out, err = cli(["dataset", "finalize", str(root)], capsys)
        assert rc == 2 and out == ""
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert "locked by another writer" in err and "collect --resume" in err
        assert tree_hash(root) == before
    rc, out, err = cli(["dataset", "finalize", str(root)], capsys)
    assert rc == 0 and "4 episodes" in out
    assert not (root / LOCK_NAME).exists() and fd.validate(root) == []

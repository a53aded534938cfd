"""Faults a long collection meets, injected at known states (never raced against a clock):

* a second writer while a collection runs is refused at once, naming the holder, and the dataset stays intact;
* the driver SIGKILLed after ``info.json`` is written but before staging is cleaned up leaves a dataset that
  validates and reports its true size;
* the disk filling up while collecting, and while finalising, then ``--resume`` once space is freed, gives a
  dataset bit-identical to an uninterrupted run (a small tmpfs; skipped where mounting is not permitted).
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from flywheel import datasets

N, SEED, PER_FILE = 24, 77, 4
COLLECT = ["collect", "--task", "reach", "--robot", "panda", "-n", str(N), "--seed", str(SEED), "--workers", "2",
           "--episodes-per-file", str(PER_FILE), "--quiet"]


def flywheel(*argv, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flywheel", *map(str, argv)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def data_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "data").rglob("*.parquet"))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faults") / "reference"
    r = flywheel(*COLLECT, "--out", out)
    assert r.returncode == 0, r.stderr
    return out


# ---- a driver that stops at a given state ---------------------------------------------------------------
DRIVER = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    mode, marker, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    argv = sys.argv[4:]
    if mode == "hold":  # once episodes are durable, say so and wait for the test's go-ahead (holding the lock)
        from flywheel.collectors.collection import progress
        real = progress.Progress.update
        def update(self, done, **kw):
            real(self, done, **kw)
            if done >= 4 and not marker.exists():
                marker.write_text(str(os.getpid()))
                while not go.exists():
                    time.sleep(0.05)
        progress.Progress.update = update
    elif mode == "kill_after_info":  # SIGKILL between info.json and the staging clean-up
        import shutil
        real_rmtree = shutil.rmtree
        def rmtree(path, *a, **kw):
            if Path(path).name == "staging" and (Path(path).parent / "meta" / "info.json").exists():
                os.kill(os.getpid(), signal.SIGKILL)
            return real_rmtree(path, *a, **kw)
        shutil.rmtree = rmtree
    from flywheel.cli import main
    sys.exit(main(argv))
""")


def start_driver(tmp_path: Path, mode: str, *argv) -> tuple[subprocess.Popen, Path, Path]:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    marker, go = tmp_path / "marker", tmp_path / "go"
    proc = subprocess.Popen([sys.executable, str(script), mode, str(marker), str(go), *map(str, argv)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, marker, go


def test_a_second_writer_is_refused_while_a_collection_runs(reference, tmp_path):
    out = tmp_path / "ds"
    proc, marker, go = start_driver(tmp_path, "hold", *COLLECT, "--out", out)
    try:
        while not marker.exists():  # state: the first run holds the lock and has durable episodes
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            time.sleep(0.05)
        # the first run's workers keep staging episodes meanwhile; what a second writer would rewrite must not move
        meta_files = [out / "staging" / "spec.json", out / "meta" / "flywheel.json"]
        before = [p.read_bytes() for p in meta_files]
        for second in ([*COLLECT, "--out", out, "--resume"], ["dataset", "finalize", out]):
            r = flywheel(*second)
            assert r.returncode == 2, r.stderr
            line = r.stderr.strip().splitlines()[-1]
            assert "locked by another writer" in line and f"pid {marker.read_text()}" in line, r.stderr
            assert [p.read_bytes() for p in meta_files] == before and not (out / "meta" / "info.json").exists()
    finally:
        go.write_text("go")
        stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-2000:]
    assert datasets.validate(out) == []
    assert data_digest(out) == data_digest(reference)


def test_driver_killed_between_info_and_staging_cleanup(reference, tmp_path):
    out = tmp_path / "ds"
    proc, _, _ = start_driver(tmp_path, "kill_after_info", *COLLECT, "--out", out)
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    assert (out / "meta" / "info.json").exists() and (out / "staging").exists()
    assert datasets.validate(out) == []
    ds = datasets.open(out)
    assert ds.num_episodes == N and json.loads((out / "meta" / "info.json").read_text())["total_episodes"] == N
    assert data_digest(out) == data_digest(reference)
    r = flywheel(*COLLECT, "--out", out, "--resume")  # the finished dataset is reported as such, untouched
    assert r.returncode == 2 and "finished dataset" in r.stderr
    assert data_digest(out) == data_digest(reference)


# ---- a full disk ---------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs whose size the test sets (and later grows); skipped where mounting is not permitted."""
    mount = tmp_path / "disk"
    mount.mkdir()

    def resize(size_bytes: int) -> None:
        size = f"size={max(4096, size_bytes // 4096 * 4096)}"
        opts = ["-o", f"remount,{size}"] if os.path.ismount(mount) else ["-o", size]
        r = subprocess.run(["mount", "-t", "tmpfs", *opts, "tmpfs", str(mount)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()})")

    yield mount, resize
    if os.path.ismount(mount):
        subprocess.run(["umount", str(mount)], capture_output=True)


def data_size(root: Path) -> int:
    return sum(p.stat().st_size for p in (root / "data").rglob("*.parquet"))


@pytest.mark.parametrize("phase", ["collecting", "finalising"])
def test_disk_full_then_resume_is_bit_identical(reference, small_disk, phase):
    mount, resize = small_disk
    size = data_size(reference)
    # collecting: the staged episodes do not fit; finalising: they fit, the finished data files beside them do not
    resize(size // 2 if phase == "collecting" else size + size // 3 + 16384)
    out = mount / "ds"
    r = flywheel(*COLLECT, "--out", out)
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert "no space left on the device" in line and "Traceback" not in r.stderr, r.stderr
    assert not (out / "meta" / "info.json").exists()  # unfinished, never passed off as finished
    resize(8 * size + (1 << 20))
    r = flywheel(*COLLECT, "--out", out, "--resume")
    assert r.returncode == 0, r.stderr
    assert datasets.validate(out) == []
    assert data_digest(out) == data_digest(reference)

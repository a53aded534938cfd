"""A worker SIGKILLed in the middle of encoding a video segment: the collection replaces it, redoes its episodes and
finishes with a dataset that validates, decodes every episode and is bit-identical to an uninterrupted run in its
non-video columns.

Synchronised on state, never on time: the task module (loaded by every Ray worker, as a user's task is) wraps
`SegmentWriter.add` so that, when the test arms it, the first worker to start the second episode of a segment
encodes half of it, writes its pid to a marker file and waits; the test kills that pid as soon as the marker
exists. Workers started afterwards see the marker and encode normally.
"""
import hashlib
import importlib.util
import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from flywheel import datasets
from flywheel.datasets import schema

ray = pytest.importorskip("ray")

N, SEED = 6, 3
CAMERA = "observation.images.front"
PATCH = '''

# ---- test hook: pause the first worker that is half way through encoding a segment's second episode ----------
import os as _os
import time as _time
from pathlib import Path as _Path

from flywheel.datasets import video as _video

_ARMED, _MARKER = _Path({armed!r}), _Path({marker!r})
_real_add = _video.SegmentWriter.add


def _add(self, frames):
    if self.frames > 0 and _ARMED.exists() and not _MARKER.exists():
        _real_add(self, frames[: max(1, len(frames) // 2)])  # mid-episode: packets of half the frames muxed
        tmp = _MARKER.with_suffix(".tmp")
        tmp.write_text(str(_os.getpid()))
        tmp.rename(_MARKER)
        while True:  # the test kills this process now
            _time.sleep(1)
    return _real_add(self, frames)


_video.SegmentWriter.add = _add
'''


@pytest.fixture(scope="module")
def ray_address():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def kill_task(tmp_path_factory):
    """tests/toy_task.py as task ``toy_point_kill`` with the encoding hook, loaded from a file like a user's task."""
    from flywheel.collectors.policies import experts
    from flywheel.sim import registration

    folder = tmp_path_factory.mktemp("kill_task")
    text = Path(__file__).with_name("toy_task.py").read_text()
    text = text.replace('"toy_point"', '"toy_point_kill"').replace("ToyPoint-v0", "ToyPointKill-v0")
    armed, marker = folder / "armed", folder / "killed-pid"
    path = folder / "toy_point_kill_task.py"
    path.write_text(text + PATCH.format(armed=str(armed), marker=str(marker)))
    spec = importlib.util.spec_from_file_location("toy_point_kill_task", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["toy_point_kill_task"] = module
    spec.loader.exec_module(module)
    try:
        yield armed, marker
    finally:
        module._video.SegmentWriter.add = module._real_add
        registration.unregister_task("toy_point_kill")
        experts.EXPERTS.pop("toy_point_kill", None)
        sys.modules.pop("toy_point_kill_task", None)


def _collect(out, **kw):
    from flywheel.collectors import collect

    return collect("toy_point_kill", "panda", N, out=out, workers=2, seed=SEED, cameras=["front"], camera_size=32,
                   camera_hz=10, episodes_per_file=2, **kw)


def _data_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((root / "data").rglob("*.parquet"))}


def test_a_worker_killed_while_encoding_leaves_a_complete_decodable_dataset(ray_address, kill_task, tmp_path):
    armed, marker = kill_task
    reference = tmp_path / "reference"
    _collect(reference)
    assert not marker.exists()

    armed.write_text("1")
    killed = []

    def kill_when_paused():  # waits for the marker (state), then SIGKILLs the worker that wrote it
        deadline = 600
        while not marker.exists() and deadline > 0:
            threading.Event().wait(0.05)
            deadline -= 0.05
        if marker.exists():
            pid = int(marker.read_text())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    killer = threading.Thread(target=kill_when_paused, daemon=True)
    killer.start()
    out = tmp_path / "killed"
    summary = _collect(out)
    killer.join(timeout=5)
    assert killed, "no worker paused mid-encoding"
    assert summary.restarts >= 1 and summary.episodes == N
    assert datasets.validate(out) == []
    assert _data_digest(out) == _data_digest(reference)
    staging = out / schema.STAGING_DIR  # the killed worker's half-written segment is gone with the rest
    assert not staging.exists() or not any(staging.iterdir())
    a, b = datasets.open(out), datasets.open(reference)
    for i in range(N):
        got, want = a.episode(i, columns=[CAMERA])[CAMERA], b.episode(i, columns=[CAMERA])[CAMERA]
        assert got.shape == want.shape and np.abs(got.astype(int) - want).mean() < 2

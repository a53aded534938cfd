"""Cameras as LeRobot video: a small collection (panda reach, 3 episodes, one 64x64 camera) validates, decodes close
to the PNG images of the same episodes, survives a SIGKILL (worker and driver) with --resume bit-identical in every
non-video column, and passes LeRobot's own check when the tool is there. The staging rules (a segment is renamed
before its Parquet file; a killed writer's segments are never counted) are checked without Ray.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from flywheel import datasets
from flywheel.datasets import StagingWriter, create_dataset, finalize, schema, video

ray = pytest.importorskip("ray")

N, SEED, SIZE = 3, 7, 64
CAMERA = "observation.images.front"
LEROBOT_CHECK = os.environ.get("LEROBOT_CHECK") or "/work/shared/tools/lerobot-check/lerobot-check"


def _collect(out, **kw):
    from flywheel.collectors import collect

    return collect("reach", "panda", N, out=out, workers=2, seed=SEED, cameras=["front"], camera_size=SIZE,
                   episodes_per_file=1, **kw)


@pytest.fixture(scope="module")
def ray_address():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def reference(ray_address, tmp_path_factory):
    out = tmp_path_factory.mktemp("video") / "reference"
    _collect(out)
    return out


def _digest(root: Path, folder: str) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((root / folder).rglob("*")) if p.is_file()}


def test_video_dataset_layout_and_validation(reference):
    ds = datasets.open(reference)
    ft = ds.features[CAMERA]
    assert ft["dtype"] == "video" and ft["shape"] == [SIZE, SIZE, 3]
    assert ft["info"]["video.codec"] in ("av1", "h264") and ft["info"]["video.pix_fmt"] == "yuv420p"
    assert ft["info"]["video.fps"] == ds.fps and ft["info"]["video.is_depth_map"] is False
    assert ds.info["video_path"] == schema.VIDEO_PATH
    assert sorted(_digest(reference, "videos")) == [f"videos/{CAMERA}/chunk-000/file-000.mp4"]
    t = ds.episodes
    starts = t.column(f"videos/{CAMERA}/from_timestamp").to_pylist()
    ends = t.column(f"videos/{CAMERA}/to_timestamp").to_pylist()
    lengths = t.column("length").to_pylist()
    assert starts[0] == 0 and starts[1:] == ends[:-1]
    assert np.allclose(np.subtract(ends, starts) * ds.fps, lengths)
    assert CAMERA not in __import__("pyarrow.parquet").parquet.read_schema(ds.data_files()[0]).names
    assert datasets.validate(reference) == []
    frames = ds.episode(1, columns=[CAMERA])[CAMERA]
    assert frames.shape == (lengths[1], SIZE, SIZE, 3) and frames.dtype == np.uint8 and frames.std() > 0


def test_video_frames_are_close_to_the_png_images(reference, tmp_path):
    png = tmp_path / "png"
    _collect(png, image_format="png")
    a, b = datasets.open(reference), datasets.open(png)
    assert b.features[CAMERA]["dtype"] == "image"
    assert _digest(reference, "data").keys() == _digest(png, "data").keys()
    for i in range(N):
        v, p = a.episode(i), b.episode(i)
        np.testing.assert_array_equal(v["observation.state"], p["observation.state"])
        assert np.abs(v[CAMERA].astype(int) - p[CAMERA]).mean() < 4  # lossy, but the same pictures


DRIVER = textwrap.dedent("""
    import os, signal, sys
    from flywheel.collectors import collect
    out, n, seed, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    def stop(state):
        if state["durable"] >= 1:  # a worker dies (maybe while encoding), then the driver
            for pid in state["pids"].values():
                os.kill(pid, signal.SIGKILL)
                break
            os.kill(os.getpid(), signal.SIGKILL)
    collect("reach", "panda", n, out=out, workers=2, seed=seed, cameras=["front"], camera_size=size,
            episodes_per_file=1, callback=stop)
""")


def test_sigkill_then_resume_is_identical_in_non_video_columns(reference, ray_address, tmp_path):
    out = tmp_path / "resumed"
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    r = subprocess.run([sys.executable, str(script), str(out), str(N), str(SEED), str(SIZE)], capture_output=True,
                       text=True, env=dict(os.environ, RAY_ADDRESS=ray_address), timeout=300)
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
    assert not (out / schema.INFO_PATH).exists() and 1 <= len(datasets.staged_keys(out)) <= N
    _collect(out, resume=True)
    assert datasets.validate(out) == []
    assert _digest(reference, "data") == _digest(out, "data")
    ref, res = datasets.open(reference), datasets.open(out)
    for c in ("seed", "length", "success", f"videos/{CAMERA}/from_timestamp", f"videos/{CAMERA}/to_timestamp"):
        assert ref.episodes.column(c).to_pylist() == res.episodes.column(c).to_pylist()
    assert json.loads((reference / schema.STATS_PATH).read_text()) == json.loads((out / schema.STATS_PATH).read_text())
    for i in range(N):  # every episode decodes, the same pictures
        assert np.abs(res.episode(i, columns=[CAMERA])[CAMERA].astype(int) - ref.episode(i, columns=[CAMERA])[CAMERA]).mean() < 2


def test_replay_verify_skips_video_and_matches(reference):
    from flywheel.collectors import replay

    report = replay(reference, verify=True, workers=1)
    assert report.mismatches == {}


@pytest.mark.skipif(not os.access(LEROBOT_CHECK, os.X_OK), reason="lerobot-check is not on this machine")
def test_lerobot_reads_the_video_dataset(reference):
    r = subprocess.run([LEROBOT_CHECK, str(reference)], capture_output=True, text=True, timeout=1200)
    assert r.stdout.strip().splitlines()[-1] == "lerobot-check: OK (0 problems)", r.stdout[-3000:] + r.stderr[-2000:]


# ---- staging rules, without Ray ------------------------------------------------------------------------
def _episode(t: int, shade: int) -> dict[str, np.ndarray]:
    img = np.zeros((t, 16, 16, 3), np.uint8)
    img[..., 0] = shade
    img[:, :, :8, 1] = np.arange(t, dtype=np.uint8)[:, None, None] * 20
    return {"observation.state": np.full((t, 2), shade, np.float32), "action": np.zeros((t, 2), np.float32),
            "next.reward": np.zeros(t, np.float32), "next.done": np.arange(t) == t - 1,
            "next.truncated": np.zeros(t, bool), "next.success": np.zeros(t, bool), CAMERA: img}


def test_a_killed_writer_leaves_no_counted_video(tmp_path):
    root = tmp_path / "ds"
    features = {"observation.state": {"dtype": "float32", "shape": [2], "names": None},
                "action": {"dtype": "float32", "shape": [2], "names": None},
                CAMERA: video.video_feature(16, 16, 10, video.default_encoder())}
    create_dataset(root, features=features, fps=10, robot_type="r", task="t", flywheel_meta={"config": {}})
    meta = dict(success=False, policy="p", terminated=True, truncated=False)
    with StagingWriter(root, worker="a", episodes_per_file=2) as w:
        for k in (0, 2):
            w.add_episode(k, _episode(4 + k, 40 * k), seed=k, **meta)
    dead = StagingWriter(root, worker="b", episodes_per_file=2)
    dead.add_episode(1, _episode(5, 99), seed=1, **meta)  # "killed" here: at most a temporary segment, no Parquet
    assert not list((root / "staging").glob("b-*"))
    orphan = video.segment_path(root / "staging" / "c-000000000000-000000.parquet", CAMERA)
    shutil.copy(next((root / "staging").glob("a-*.mp4")), orphan)  # killed between the segment's and Parquet's renames
    assert datasets.staged_keys(root) == {0, 2}
    info = finalize(root, allow_partial=True)
    assert info["total_episodes"] == 2 and datasets.validate(root) == []
    ds = datasets.open(root)
    for i, k in enumerate((0, 2)):
        frames = ds.episode(i, columns=[CAMERA])[CAMERA]
        assert frames.shape == (4 + k, 16, 16, 3) and abs(int(frames[..., 0].mean()) - 40 * k) <= 3

"""Video encoding settings, without Ray: video bytes per frame stay within a quarter of PNG on rendered 224x224
pick_place frames (the issue's target), and episodes longer than the keyframe interval, many to a segment, come
back frame for frame after the finaliser's remux with either encoder (H.264 reorders frames, AV1 does not), with
random access in the middle of an episode working."""
import numpy as np
import pytest

from flywheel import datasets
from flywheel.datasets import StagingWriter, create_dataset, finalize, png, video

CAMERA = "observation.images.front"
META = dict(success=False, policy="p", terminated=True, truncated=False)


@pytest.fixture(scope="module")
def rendered():
    """Two Panda pick_place episodes' camera frames at 224x224, 10 Hz in a 20 Hz episode (repeats included)."""
    from flywheel.collectors.collection.recorder import EpisodeRecorder
    from flywheel.collectors.collection.worker import build_policy, env_config, make_env

    env = make_env(env_config("pick_place", "panda", "joint_pos", ["front"], camera_size=[224, 224], camera_hz=10))
    try:
        recorder, policy = EpisodeRecorder(env), build_policy("expert", "pick_place", env)
        return [recorder.run(policy, seed).frames[CAMERA] for seed in (0, 1)]
    finally:
        env.close()


def _dataset(root, h, w, encoder, fps=20):
    features = {"observation.state": {"dtype": "float32", "shape": [1], "names": None},
                "action": {"dtype": "float32", "shape": [1], "names": None},
                CAMERA: video.video_feature(h, w, fps, encoder)}
    create_dataset(root, features=features, fps=fps, robot_type="r", task="t", flywheel_meta={"config": {}})


def _frames(images):
    t = len(images)
    return {"observation.state": np.zeros((t, 1), np.float32), "action": np.zeros((t, 1), np.float32),
            "next.reward": np.zeros(t, np.float32), "next.done": np.arange(t) == t - 1,
            "next.truncated": np.zeros(t, bool), "next.success": np.zeros(t, bool), CAMERA: images}


def _bar(frame):
    """Where the red bar is along the frame's middle row (its centre column)."""
    return float(np.flatnonzero(frame[16, :, 0] > 128).mean())


def test_video_bytes_per_frame_are_within_a_quarter_of_png(rendered, tmp_path):
    root = tmp_path / "ds"
    _dataset(root, 224, 224, video.default_encoder())
    with StagingWriter(root, worker="a", episodes_per_file=8) as w:
        for k, images in enumerate(rendered):
            w.add_episode(k, _frames(images), seed=k, **META)
    frames = sum(len(e) for e in rendered)
    png_bytes = sum(len(png.encode(f)) for e in rendered for f in e)
    distinct = sum(len(png.encode(f)) for e in rendered for f in e[::2])  # each render once (10 Hz in 20 Hz rows)
    assert w.video_bytes > 0
    assert w.video_bytes / frames <= 0.25 * png_bytes / frames, (w.video_bytes / frames, png_bytes / frames)
    # the strictest reading: against a PNG store that keeps each rendered frame once
    assert w.video_bytes <= 0.25 * distinct, (w.video_bytes, distinct)
    assert w.features[CAMERA]["info"]["video.g"] == video.GOP


@pytest.mark.parametrize("encoder", video.available_encoders()[:1] + [e for e in ("libx264",) if e in video.available_encoders()[1:]])
def test_long_episodes_survive_the_remux_and_seek_mid_episode(encoder, tmp_path):
    root = tmp_path / encoder
    _dataset(root, 32, 48, encoder)
    rng = np.random.default_rng(0)
    lengths = [video.GOP * 2 + 7, 5, video.GOP + 1]
    episodes = []
    for t in lengths:  # a moving bar on a coloured background: every frame differs from the one before
        img = np.zeros((t, 32, 48, 3), np.uint8)
        img[..., 2] = rng.integers(0, 255)
        for i in range(t):
            img[i, :, (2 * i) % 48: (2 * i) % 48 + 4, 0] = 255
        episodes.append(img)
    with StagingWriter(root, worker="a", episodes_per_file=8) as w:
        for k, img in enumerate(episodes):
            w.add_episode(k, _frames(img), seed=k, **META)
    finalize(root)
    assert datasets.validate(root) == []
    ds = datasets.open(root)
    for k, img in enumerate(episodes):
        got = ds.episode(k, columns=[CAMERA])[CAMERA]
        assert got.shape == img.shape
        assert np.abs(got.astype(int) - img).mean() < 6
        assert abs(_bar(got[-1]) - _bar(img[-1])) < 1  # the last frame is the last frame (the bar moves 2 px a frame)
    # random access: one frame in the middle of the first episode, past its first keyframe interval
    t0 = ds.episodes.column(f"videos/{CAMERA}/from_timestamp").to_pylist()[0]
    path = root / datasets.schema.video_path(CAMERA, 0, 0)
    mid = video.GOP + 3
    one = video.decode_frames(path, t0 + mid / ds.fps, 1, ds.fps)[0]
    assert abs(_bar(one) - _bar(episodes[0][mid])) < 1

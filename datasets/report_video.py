"""Sample episodes as small H.264 mp4 files in memory, for embedding in the report as data URIs.

Why H.264 and not the stored stream: a dataset's video is AV1 by default (as LeRobot encodes), which Chromium
and Firefox play but Safari only with hardware AV1 decoding; and an episode is a time range inside a file of many
episodes. A clip re-encoded from the decoded frames is one short, self-contained file every browser plays.
PyAV (already a core dependency, with x264 in its wheels) does it; nothing is written to disk.

Clips are capped at ``MAX_FPS`` frames per second by keeping every k-th frame (a 240 Hz control loop gives no
more to see than 30 Hz, and cameras are recorded at 10 Hz and repeated anyway), so a clip stays a few tens of KB.
"""
from __future__ import annotations

import io
import math
from fractions import Fraction

import numpy as np

MAX_FPS = 30
CRF = 26


def _encoder() -> str:
    from .video import _av

    have = _av().codecs_available
    for name in ("libx264", "libopenh264"):
        if name in have:
            return name
    raise ValueError("this PyAV build has no H.264 encoder (libx264): install the PyPI wheel of av")


def clip_rate(fps: int) -> tuple[int, float]:
    """(keep every k-th frame, resulting frames per second) for a dataset at ``fps``."""
    step = max(1, math.ceil(fps / MAX_FPS))
    return step, fps / step


def h264_mp4(frames: np.ndarray, fps: int) -> bytes:
    """uint8 frames (T, H, W, 3) (or (T, H, W, 1) grey) as an H.264 mp4 (yuv420p)."""
    from .video import _av

    av = _av()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.dtype != np.uint8 or frames.shape[-1] not in (1, 3) or len(frames) == 0:
        raise ValueError(f"clip frames must be uint8 (T, H, W, 3) with T > 0, got {frames.dtype} {frames.shape}")
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    step, rate = clip_rate(int(fps))
    frames = frames[::step]
    h, w = frames.shape[1:3]
    # yuv420p needs even sides; tiny images are scaled up so the browser's decoder and controls have room
    scale = max(1, math.ceil(64 / min(h, w)))
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    buf = io.BytesIO()
    rate_q = Fraction(rate).limit_denominator(1000)
    with av.open(buf, "w", format="mp4") as container:  # no faststart: it reopens a file; a data URI is read whole
        stream = container.add_stream(_encoder(), rate=rate_q, options={"crf": str(CRF), "preset": "veryfast",
                                                                         "threads": "1"})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.time_base = 1 / rate_q
        for t, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts = t
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()

"""PNG frames of image features, encoded and decoded by FFmpeg's PNG codec through PyAV.

Why a library and not our own codec (which this module was): one well-tested implementation for every PNG a
dataset may hold, whichever tool wrote it (16-bit, palette, interlaced, any filter). Why PyAV and not Pillow:
PyAV is already a core dependency (video features), so PNG adds none; it is also the faster of the two here
(~1.6 ms to encode a 128x96 RGB frame, ~1.1 ms to decode; Pillow ~6 ms / ~1.6 ms, the old numpy codec ~3 ms).
The bytes differ from the old encoder's (FFmpeg picks its own filters; files are about the same size) and are
deterministic for a given FFmpeg build; every PNG reader (Pillow in LeRobot and HF ``datasets``, browsers)
reads them. ``header`` still reads the 25-byte IHDR chunk itself: validation asks it for every frame, and
decoding pixels to learn a size would cost a thousand times more.
"""
from __future__ import annotations

import struct

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 4, 6: 4}  # PNG colour type -> channels once decoded (palette -> RGB, grey+alpha -> RGBA)
_FORMATS = {1: "gray", 3: "rgb24", 4: "rgba"}  # channels -> FFmpeg pixel format


def encode(image: np.ndarray, level: int = 6) -> bytes:
    """Encode a uint8 image (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) as PNG bytes (``level``: zlib, 0-9)."""
    import av

    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"PNG encode needs uint8 pixels, got {img.dtype}")
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in _FORMATS:
        raise ValueError(f"PNG encode needs (H, W[, 1|3|4]) pixels, got shape {np.asarray(image).shape}")
    h, w, c = img.shape
    fmt = _FORMATS[c]
    ctx = av.CodecContext.create("png", "w")
    ctx.width, ctx.height, ctx.pix_fmt = w, h, fmt
    ctx.options = {"compression_level": str(int(level))}
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[:, :, 0] if c == 1 else img), format=fmt)
    return b"".join(bytes(p) for p in ctx.encode(frame) + ctx.encode(None))


def header(data: bytes) -> tuple[int, int, int]:
    """(height, width, channels) from a PNG's IHDR without decoding pixels; ValueError if not a PNG."""
    if len(data) < 33 or data[:8] != SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    w, h, depth, color = struct.unpack(">IIBB", data[16:26])
    if color not in _CHANNELS:
        raise ValueError(f"unsupported PNG colour type {color}")
    return h, w, _CHANNELS[color]


def decode(data: bytes) -> np.ndarray:
    """Decode PNG bytes to a uint8 array (H, W, C): grey, RGB or RGBA (palette -> RGB, 16-bit -> 8-bit)."""
    import av

    data = bytes(data)
    h, w, c = header(data)
    try:
        ctx = av.CodecContext.create("png", "r")
        ctx.options = {"err_detect": "crccheck+explode"}  # a damaged chunk is an error, not a silently wrong image
        frames = ctx.decode(av.Packet(data))
        frame = frames[0] if frames else ctx.decode(None)[0]
        arr = frame.to_ndarray(format=_FORMATS[c])
    except (av.FFmpegError, IndexError, ValueError) as err:
        raise ValueError(f"corrupt PNG ({err})") from None
    arr = arr.reshape(h, w, c)
    return np.ascontiguousarray(arr)

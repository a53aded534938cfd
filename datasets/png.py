"""A small PNG codec in numpy and zlib, so writing image features needs no imaging library.

Why not Pillow: it is not a core dependency, and collectors run in many worker processes where every
import counts. Why this is safe: we only ever *write* 8-bit, non-interlaced PNGs with the ``Up`` filter
(vectorised in numpy, byte-identical output for identical pixels, so data files are deterministic), and
every PNG reader (PIL in LeRobot/HF datasets, browsers) reads them. Decoding handles all five filter
types, so PNGs written by other tools decode too (the Average and Paeth filters take a slower path).
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type (grey, RGB, RGBA)
_CHANNELS = {v: k for k, v in _COLOR_TYPES.items()}


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def encode(image: np.ndarray, level: int = 6) -> bytes:
    """Encode a uint8 image (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) as PNG bytes."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"PNG encode needs uint8 pixels, got {img.dtype}")
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in _COLOR_TYPES:
        raise ValueError(f"PNG encode needs (H, W[, 1|3|4]) pixels, got shape {img.shape}")
    h, w, c = img.shape
    rows = img.reshape(h, w * c)
    filtered = np.empty((h, w * c + 1), dtype=np.uint8)
    filtered[:, 0] = 2  # filter type Up: each row minus the row above (wraps mod 256)
    filtered[0, 1:] = rows[0]
    filtered[1:, 1:] = rows[1:] - rows[:-1]
    ihdr = struct.pack(">IIBBBBB", w, h, 8, _COLOR_TYPES[c], 0, 0, 0)
    return SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(filtered.tobytes(), level)) + _chunk(b"IEND", b"")


def header(data: bytes) -> tuple[int, int, int]:
    """(height, width, channels) from a PNG's IHDR without decoding pixels; ValueError if not a PNG."""
    if len(data) < 33 or data[:8] != SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    w, h, depth, color = struct.unpack(">IIBB", data[16:26])
    if color not in _CHANNELS:
        raise ValueError(f"unsupported PNG colour type {color}")
    return h, w, _CHANNELS[color]


def decode(data: bytes) -> np.ndarray:
    """Decode PNG bytes to a uint8 array (H, W, C); 8-bit grey/RGB/RGBA, non-interlaced."""
    if data[:8] != SIGNATURE:
        raise ValueError("not a PNG image")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        tag = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if tag == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat.append(body)
        elif tag == b"IEND":
            break
        pos += 12 + length
    if ihdr is None:
        raise ValueError("PNG without IHDR")
    w, h, depth, color, _, _, interlace = ihdr
    if depth != 8 or color not in _CHANNELS or interlace:
        return _decode_with_pil(data)
    c = _CHANNELS[color]
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    stride = w * c
    if raw.size != h * (stride + 1):
        raise ValueError("corrupt PNG: pixel data has the wrong size")
    raw = raw.reshape(h, stride + 1)
    ftypes, rows = raw[:, 0], raw[:, 1:]
    if (ftypes == 2).all():  # what encode() writes: Up on every row is a cumulative sum down the columns
        return np.cumsum(rows, axis=0, dtype=np.uint8).reshape(h, w, c)
    if (ftypes == 0).all():
        return rows.reshape(h, w, c).copy()
    out = np.empty((h, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(h):
        f, row = ftypes[y], rows[y]
        if f == 0:
            cur = row.copy()
        elif f == 1:  # Sub: cumulative sum per channel along the row, mod 256
            cur = np.cumsum(row.reshape(w, c), axis=0, dtype=np.uint8).reshape(stride)
        elif f == 2:
            cur = row + prev
        elif f in (3, 4):
            cur = _unfilter_slow(int(f), row, prev, c)
        else:
            raise ValueError(f"corrupt PNG: unknown filter type {f}")
        out[y] = cur
        prev = cur
    return out.reshape(h, w, c)


def _unfilter_slow(ftype: int, row: np.ndarray, prev: np.ndarray, bpp: int) -> np.ndarray:
    """Average (3) and Paeth (4) filters depend on the pixel to the left: done byte by byte."""
    cur = bytearray(len(row))
    r, p = row.tobytes(), prev.tobytes()
    for i in range(len(r)):
        a = cur[i - bpp] if i >= bpp else 0
        b = p[i]
        if ftype == 3:
            cur[i] = (r[i] + ((a + b) >> 1)) & 0xFF
        else:
            cc = p[i - bpp] if i >= bpp else 0
            pa_, pb, pc = abs(b - cc), abs(a - cc), abs(a + b - 2 * cc)
            pred = a if pa_ <= pb and pa_ <= pc else (b if pb <= pc else cc)
            cur[i] = (r[i] + pred) & 0xFF
    return np.frombuffer(bytes(cur), dtype=np.uint8)


def _decode_with_pil(data: bytes) -> np.ndarray:
    try:
        import io

        from PIL import Image
    except ImportError as err:  # pragma: no cover - only for foreign PNG variants
        raise ValueError("this PNG variant (bit depth, palette or interlace) needs Pillow to decode") from err
    img = np.asarray(Image.open(io.BytesIO(data)))
    return img[:, :, None] if img.ndim == 2 else img

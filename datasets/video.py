"""Camera features as LeRobot v3.0 ``video`` features: encoding in the workers, concatenation at finalize, decoding.

Why video: LeRobot's datasets on the Hub store cameras as mp4 (many episodes per file) and its streaming loader
expects them; the same frames take a fraction of their PNG size. Why PyAV: it is LeRobot's own video backend
(``encode_video_frames`` and its ``pyav`` decoder), so the streams we write are the streams LeRobot writes.

Conventions copied from LeRobot (``lerobot/datasets/video_utils.py``): AV1 through ``libsvtav1`` (H.264 where
PyAV has no SVT-AV1), ``yuv420p``, CRF 30, no audio; the stream's time base is 1/fps and frame ``i`` of an episode
is at ``i / fps`` seconds from the episode's ``from_timestamp``. One departure: the keyframe interval. LeRobot
encodes with ``g=2`` (a keyframe every other frame), which buys random access at the price of size: on 224x224
pick_place frames (Panda and the humanoid, one camera at 10 Hz in a 20 Hz dataset) AV1 at g=2 takes 0.44-0.46 of
the PNG bytes and 7 ms a frame to encode, at g=20 0.13-0.15, at g=40 0.11 and 2-3 ms. So ``GOP = 40`` (a keyframe
every 2 s at the default control rate, plus one at every episode start): a random access decodes at most 39
frames more (tens of milliseconds at 224 px), which LeRobot's readers do without any setting (PyAV and
torchcodec seek to the keyframe before the timestamp and decode forward). Measured against a PNG *dataset*
(Parquet mostly stores a camera's repeated frames once: dictionary encoding) the same video is about 0.22. A slower
SVT-AV1 preset (8 instead of LeRobot's 12) would halve the bytes again at twice the encode time; we keep 12.
The interval is recorded as ``video.g`` in the feature's info, as LeRobot records its own, and a writer encodes
with the interval its dataset's feature says (datasets begun at g=2 resume at g=2).

Three jobs, one class or function each:

- `SegmentWriter` (workers): one staging *segment* per staging Parquet file and camera. Episodes are encoded
  as they are added (the worker never holds more than the episode it just recorded), and the first frame of
  every episode is forced to a keyframe, so an episode's packets can be cut out of the segment without
  re-encoding. The segment is written under a temporary name and renamed *before* its Parquet file: a staged
  Parquet file always has its segments, and a segment without Parquet (a worker killed between the renames)
  is an orphan the finaliser ignores and removes.
- `VideoFiles` (finaliser): appends episodes' packets to ``videos/<key>/chunk-XXX/file-YYY.mp4`` by remuxing
  (no re-encode), shifting their timestamps, and reports each episode's ``from_timestamp``/``to_timestamp``.
- `decode_frames` / `check_video_file` (reader, validator): frames back as uint8 arrays; first and last frame
  decodable, duration covering the episodes.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from . import schema
from ._io import DatasetError, commit, tmp_path_for

PIX_FMT = "yuv420p"
GOP = 40  # frames between keyframes (LeRobot: 2); see the module docstring for the measurements
CRF = 30  # LeRobot's crf=30
# Encoder -> the codec name a decoder reports (what LeRobot stores as info["video.codec"]).
CODEC_NAMES = {"libsvtav1": "av1", "libaom-av1": "av1", "libx264": "h264", "libopenh264": "h264"}
_MAX_OPEN_SEGMENTS = 64


def _av():
    """PyAV, imported on first use (collectors without cameras never load FFmpeg)."""
    import av

    av.logging.set_level(av.logging.ERROR)
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1's banner on stderr: errors only
    return av


def available_encoders() -> list[str]:
    """The encoders this PyAV build has, of those flywheel knows, in order of preference."""
    have = _av().codecs_available
    return [e for e in ("libsvtav1", "libx264", "libaom-av1", "libopenh264") if e in have]


def default_encoder() -> str:
    """AV1 (``libsvtav1``) as LeRobot encodes, else H.264 (``libx264``); ValueError if PyAV has neither."""
    have = available_encoders()
    if not have:
        raise ValueError("this PyAV build has neither libsvtav1 nor libx264: install the PyPI wheel of av")
    return have[0]


def check_encoder(encoder: str | None) -> str:
    """``encoder`` (or the default) if this PyAV can encode with it; ValueError naming the choices if not.
    Accepts the short names ``av1`` and ``h264`` too."""
    if encoder is None:
        return default_encoder()
    aliases = {"av1": "libsvtav1", "h264": "libx264"}
    name = aliases.get(encoder, encoder)
    have = available_encoders()
    if name not in have:
        raise ValueError(f"video codec {encoder!r} is not available here; this PyAV encodes with: {', '.join(have) or 'none'}")
    return name


def codec_name(encoder: str) -> str:
    return CODEC_NAMES[encoder]


def encoder_for(feature: dict[str, Any]) -> str:
    """The encoder this PyAV has for a video feature's ``video.codec`` (``av1`` or ``h264``)."""
    codec = (feature.get("info") or {}).get("video.codec")
    for encoder in available_encoders():
        if CODEC_NAMES[encoder] == codec:
            return encoder
    raise ValueError(f"no encoder for video codec {codec!r} in this PyAV (it has {', '.join(available_encoders()) or 'none'})")


def encoder_options(encoder: str, gop: int = GOP) -> dict[str, str]:
    """LeRobot's RGB defaults as its ``get_codec_options`` passes them (CRF 30; SVT-AV1 at preset 12 with
    fast-decode 0) with a keyframe every ``gop`` frames, on one thread: a Ray worker owns one CPU."""
    if encoder == "libsvtav1":
        return {"g": str(gop), "crf": str(CRF), "preset": "12", "svtav1-params": "fast-decode=0:lp=1"}
    return {"g": str(gop), "crf": str(CRF), "threads": "1"}


def feature_info(encoder: str, gop: int = GOP) -> dict[str, Any]:
    """The encoder settings LeRobot 0.6 records beside the stream's ``video.*`` info."""
    info: dict[str, Any] = {"video.g": int(gop), "video.crf": CRF}
    if encoder == "libsvtav1":
        info.update({"video.preset": 12, "video.fast_decode": 0})
    return info


def gop_of(feature: dict[str, Any]) -> int:
    """The keyframe interval a video feature was encoded with (``video.g``; LeRobot's 2 where it is not recorded)."""
    g = (feature.get("info") or {}).get("video.g")
    return int(g) if isinstance(g, (int, float)) and not isinstance(g, bool) and g >= 1 else 2


def video_feature(height: int, width: int, fps: int, encoder: str, gop: int = GOP) -> dict[str, Any]:
    """The ``observation.images.<camera>`` feature of a camera stored as video with ``encoder``."""
    return schema.video_feature(height, width, 3, fps, codec_name(encoder), extra=feature_info(encoder, gop))


def segment_path(staging_file: Path, video_key: str) -> Path:
    """The staging segment of one camera for one staging Parquet file: ``<stem>.<video_key>.mp4`` beside it."""
    return staging_file.with_name(f"{staging_file.stem}.{video_key}.mp4")


# ---- workers: staging segments -------------------------------------------------------------------
class SegmentWriter:
    """Encodes the episodes of one staging file for one camera into one mp4 segment, as they are added.

    ``add`` returns the episode's first frame within the segment (its ``from_timestamp`` is that / fps). The
    file is written under a temporary name; `commit` renames it into place (call it before the Parquet file's
    rename), `discard` removes it.
    """

    def __init__(self, final: Path, height: int, width: int, fps: int, encoder: str, gop: int = GOP):
        self.final, self.height, self.width, self.fps, self.encoder = Path(final), height, width, int(fps), encoder
        self.gop = int(gop)
        self.tmp = tmp_path_for(self.final)
        self.frames = 0
        self.encode_s = 0.0
        self._container = None
        self._stream = None

    def _open(self) -> None:
        av = _av()
        self._container = av.open(str(self.tmp), "w", format="mp4")
        stream = self._container.add_stream(self.encoder, rate=self.fps, options=encoder_options(self.encoder, self.gop))
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, PIX_FMT
        stream.time_base = Fraction(1, self.fps)
        self._stream = stream

    def add(self, frames: np.ndarray) -> int:
        """Encode one episode's frames (T, H, W, 3) uint8; returns its first frame's index in the segment."""
        import time

        av = _av()
        if frames.ndim != 4 or frames.shape[1:] != (self.height, self.width, 3) or frames.dtype != np.uint8:
            raise ValueError(f"video frames must be uint8 (T, {self.height}, {self.width}, 3), got {frames.dtype} {frames.shape}")
        t0 = time.perf_counter()
        if self._container is None:
            self._open()
        first = self.frames
        stream, mux = self._stream, self._container.mux
        for i, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = self.frames
            if i == 0:  # each episode starts with a keyframe: it can be cut out of the segment by remuxing
                frame.pict_type = av.video.frame.PictureType.I
            mux(stream.encode(frame))
            self.frames += 1
        self.encode_s += time.perf_counter() - t0
        return first

    def commit(self) -> Path | None:
        """Flush the encoder, close the file and rename it into place (fsync'd); None if no frame was added."""
        if self._container is None:
            return None
        self._container.mux(self._stream.encode(None))
        self._container.close()
        self._container = self._stream = None
        commit(self.tmp, self.final)
        return self.final

    def discard(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except Exception:
                pass
            self._container = self._stream = None
        self.tmp.unlink(missing_ok=True)


# ---- finaliser: remux into videos/<key>/chunk-XXX/file-YYY.mp4 -------------------------------------
def _frame_of(pts: int, time_base: Fraction, fps: int) -> int:
    return int(round(pts * time_base * fps))


class _Segment:
    """An open staging segment: its stream and, to avoid a seek per episode, where demuxing stopped."""

    def __init__(self, path: Path):
        av = _av()
        try:
            self.container = av.open(str(path), "r")
            self.stream = self.container.streams.video[0]
        except Exception as err:
            raise DatasetError(path, f"staging video segment is unreadable ({err})") from None
        self.path = path
        self.pending: list = []  # packets demuxed past the last episode read (the next episode's start)
        self.next_frame = 0  # frame at which `pending` / the demuxer continue

    def packets(self, first: int, length: int, fps: int) -> list:
        """Packets of the frames [first, first + length): from the keyframe at ``first`` to the next episode's."""
        tb = self.stream.time_base
        if first != self.next_frame:  # out of order (a retried key): seek back to the episode's keyframe
            self.container.seek(int(Fraction(first, fps) / tb), stream=self.stream, backward=True, any_frame=False)
            self.pending = []
        out, end = [], first + length
        source = iter(self.pending)
        demux = self.container.demux(self.stream)
        done = False
        for packet in _chain(source, demux):
            if packet.pts is None:  # the demuxer's flush packet
                continue
            f = _frame_of(packet.pts, tb, fps)
            if f >= end and packet.is_keyframe:
                self.pending, done = [packet], True
                break
            if f >= first:
                out.append(packet)
        if not done:
            self.pending = []
        self.next_frame = end
        if len(out) != length:
            raise DatasetError(self.path, f"frames {first}..{end - 1}: {len(out)} packets found, {length} expected "
                                          "(a staging video segment that does not match its Parquet file)")
        return out

    def close(self) -> None:
        self.container.close()


def _chain(a, b):
    yield from a
    yield from b


class VideoFiles:
    """One camera's output files: episodes appended in order, a new file past ``size_mb`` (as LeRobot)."""

    def __init__(self, root: Path, video_key: str, fps: int, size_mb: float, chunks_size: int):
        self.root, self.key, self.fps = Path(root), video_key, int(fps)
        self.limit = size_mb * 1024 * 1024
        self.chunks_size = chunks_size
        self.chunk, self.file = 0, 0
        self.frames = 0  # frames in the current output file
        self.bytes = 0
        self._out = None
        self._stream = None
        self._segments: OrderedDict[Path, _Segment] = OrderedDict()

    def _segment(self, path: Path) -> _Segment:
        seg = self._segments.pop(path, None)
        if seg is None:
            if not path.is_file():
                raise DatasetError(path, "staging video segment is missing (its staging Parquet file lists episodes in it)")
            seg = _Segment(path)
        self._segments[path] = seg
        while len(self._segments) > _MAX_OPEN_SEGMENTS:
            self._segments.popitem(last=False)[1].close()
        return seg

    def append(self, segment: Path, first: int, length: int) -> tuple[int, int, float, float]:
        """Copy one episode's packets from ``segment``; returns (chunk, file, from_timestamp, to_timestamp)."""
        from ._outputs import next_file

        seg = self._segment(segment)
        packets = seg.packets(first, length, self.fps)
        if self._out is not None and self.bytes >= self.limit:
            self._close_file()
            self.chunk, self.file = next_file(self.chunk, self.file, self.chunks_size)
        if self._out is None:
            self._open_file(seg.stream)
        in_tb = seg.stream.time_base
        shift = round(Fraction(self.frames - first, self.fps) / in_tb)  # in the segment's time base
        for packet in packets:  # timestamps stay in the segment's time base: mux rescales them to the file's
            self.bytes += packet.size
            dts = packet.dts if packet.dts is not None else packet.pts
            packet.pts, packet.dts = packet.pts + shift, dts + shift
            packet.stream = self._stream
            packet.time_base = in_tb
            self._out.mux(packet)
        start = self.frames
        self.frames += length
        return self.chunk, self.file, start / self.fps, self.frames / self.fps

    def _open_file(self, template) -> None:
        av = _av()
        path = self.root / schema.video_path(self.key, self.chunk, self.file)
        path.parent.mkdir(parents=True, exist_ok=True)
        # faststart (the index at the front, as LeRobot writes): a reader finds every frame without reading to the end
        self._out = av.open(str(path), "w", format="mp4", options={"movflags": "faststart"})
        self._stream = self._out.add_stream_from_template(template, opaque=True)
        self._stream.time_base = template.time_base  # as LeRobot's concatenation: the codec context lacks it
        self.frames = self.bytes = 0

    def _close_file(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = self._stream = None

    def close(self) -> None:
        self._close_file()
        for seg in self._segments.values():
            seg.close()
        self._segments.clear()


# ---- reading and checking ---------------------------------------------------------------------------
def decode_frames(path: Path, from_timestamp: float, length: int, fps: int) -> np.ndarray:
    """The ``length`` frames of an episode starting at ``from_timestamp`` as uint8 (T, H, W, 3)."""
    av = _av()
    first = int(round(from_timestamp * fps))
    try:
        with av.open(str(path), "r") as container:
            stream = container.streams.video[0]
            tb = stream.time_base
            container.seek(int(Fraction(first, fps) / tb), stream=stream, backward=True, any_frame=False)
            out = []
            for frame in container.decode(stream):
                f = _frame_of(frame.pts, tb, fps)
                if f < first:
                    continue
                out.append(frame.to_ndarray(format="rgb24"))
                if len(out) == length:
                    break
    except DatasetError:
        raise
    except Exception as err:
        raise DatasetError(path, f"video file is unreadable ({err})") from None
    if len(out) != length:
        raise DatasetError(path, f"{len(out)} frames decoded from {from_timestamp:.3f} s, the episode has {length}")
    return np.stack(out)


def check_video_file(path: Path, fps: int, spans: list[tuple[float, float]], feature: dict[str, Any]) -> list[str]:
    """Problems with one video file: not decodable at its first or last episode frame, a frame count or duration
    short of the episodes it holds (``spans``: their from/to timestamps), a size or codec unlike info.json."""
    av = _av()
    problems: list[str] = []
    try:
        with av.open(str(path), "r") as container:
            stream = container.streams.video[0]
            cc = stream.codec_context
            h, w = int(feature["shape"][0]), int(feature["shape"][1])
            if (cc.height, cc.width) != (h, w):
                problems.append(f"frames are {cc.height}x{cc.width}, info.json says {h}x{w}")
            want_codec = (feature.get("info") or {}).get("video.codec")
            if want_codec and cc.name not in (want_codec, "lib" + want_codec, "libdav1d" if want_codec == "av1" else ""):
                problems.append(f"codec is {cc.name}, info.json says {want_codec}")
            tb = stream.time_base
            last_frame = -1
            for packet in container.demux(stream):
                if packet.pts is not None:
                    last_frame = max(last_frame, _frame_of(packet.pts, tb, fps))
        end = max(to for _, to in spans)
        if last_frame + 1 < round(end * fps):
            problems.append(f"holds {last_frame + 1} frames ({(last_frame + 1) / fps:.3f} s) but episodes end at {end:.3f} s")
            return problems
        start = min(fr for fr, _ in spans)
        decode_frames(path, start, 1, fps)
        decode_frames(path, end - 1 / fps, 1, fps)
    except DatasetError as err:
        problems.append(err.message)
    except Exception as err:
        problems.append(f"unreadable ({type(err).__name__}: {err})")
    return problems

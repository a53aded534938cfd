"""StagingWriter: what each collector worker uses to put finished episodes on disk.

Several workers (separate processes) write to the same dataset at once, so a worker never touches a
shared file: it buffers up to ``episodes_per_file`` finished episodes and writes them as one new staging
Parquet file (one row group per episode, footer closed) under a temporary name, then renames it into
place. A worker killed at any point loses at most the episodes it had not yet flushed, never leaves a
partial episode, and never damages another worker's files. Shapes and dtypes are checked against the
dataset's spec on ``add_episode`` so a bad episode fails in the worker, with the feature named.

Cameras stored as ``video`` are encoded when the episode is added (`video.SegmentWriter`: one mp4 segment per
staging file and camera), so a worker holds encoded packets, not raw frames, while it buffers episodes. The
segments are renamed into place just before the Parquet file: a staging file that exists has its videos.
"""
from __future__ import annotations

import json
import os
import uuid as uuid_mod
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import png, schema, video
from ._io import DatasetError, commit, tmp_path_for
from .paths import resolve_inside
from .staging import read_spec


def _token() -> str:
    return uuid_mod.uuid4().hex[:12]


class StagingWriter:
    """Buffers finished episodes and writes them as atomic staging files.

    ``worker`` names the writer in the episode metadata; file names also carry a random token, so a
    replacement worker reusing the same name can never overwrite its predecessor's files.
    """

    def __init__(self, root: str | os.PathLike, worker: str = "w0", episodes_per_file: int = 16):
        self.root = Path(root)
        if (self.root / schema.INFO_PATH).exists():
            raise DatasetError(self.root / schema.INFO_PATH, "dataset is already finished; it cannot take more episodes")
        self.spec = read_spec(self.root)
        resolve_inside(self.root, schema.STAGING_DIR)  # never write staging files outside the dataset
        if not isinstance(episodes_per_file, int) or episodes_per_file < 1:
            raise ValueError("episodes_per_file must be a positive int")
        self.worker = str(worker)
        self.episodes_per_file = episodes_per_file
        self.features: dict[str, dict[str, Any]] = self.spec["features"]
        self.fps: int = int(self.spec["fps"])
        self._staged_names = schema.staged_feature_names(self.features)
        self._video_keys = schema.video_keys(self.features)
        self._encoders = {k: video.encoder_for(self.features[k]) for k in self._video_keys}
        self._segments: dict[str, video.SegmentWriter] = {}
        self.encode_s = 0.0  # time spent encoding video (the benchmark's render/encode split)
        self.video_bytes = 0  # bytes of the video segments committed
        self._schema = schema.staging_schema(self.features)
        self._token = _token()
        self._seq = 0
        self._buffer: list[tuple[pa.Table, dict[str, Any]]] = []
        self._buffered_keys: set[int] = set()
        self._closed = False
        self.files_written: list[Path] = []

    # ---- public API ---------------------------------------------------------------------------
    def add_episode(
        self,
        key: int,
        frames: Mapping[str, np.ndarray],
        *,
        seed: int,
        success: bool,
        policy: str,
        terminated: bool,
        truncated: bool,
        uuid: str | None = None,
    ) -> None:
        """Add one finished episode; writes a staging file once ``episodes_per_file`` are buffered.

        ``frames`` holds every feature of the spec plus ``next.reward``, ``next.done``,
        ``next.truncated``, ``next.success``, each with the same number of rows T >= 1. Images are uint8
        (T, H, W, C) and are PNG-encoded here. The frames are copied: the caller may reuse its buffers.
        """
        if self._closed:
            raise RuntimeError("StagingWriter is closed")
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or key < 0:
            raise ValueError(f"key must be a non-negative int, got {key!r}")
        key = int(key)
        if key in self._buffered_keys:
            raise ValueError(f"episode key {key} was already added to this writer")
        table, meta = self._episode_table(key, frames)
        if self._video_keys:
            meta["video"] = self._encode(key, frames, meta)
        meta.update(
            key=key,
            seed=int(seed),
            success=bool(success),
            policy=str(policy),
            terminated=bool(terminated),
            truncated=bool(truncated),
            uuid=str(uuid) if uuid is not None else str(uuid_mod.uuid4()),
            worker=self.worker,
        )
        self._buffer.append((table, meta))
        self._buffered_keys.add(key)
        if len(self._buffer) >= self.episodes_per_file:
            self.flush()

    def _final_path(self) -> Path:
        return self.root / schema.STAGING_DIR / f"{_safe(self.worker)}-{self._token}-{self._seq:06d}.parquet"

    def _encode(self, key: int, frames: Mapping[str, np.ndarray], meta: dict[str, Any]) -> dict[str, int]:
        """Encode the episode's video frames into this staging file's segments; their first frame in each."""
        length = meta["length"]
        arrays = {}
        for name in self._video_keys:  # every camera checked before any is encoded
            arr = np.asarray(frames[name])
            want = (length,) + tuple(self.features[name]["shape"])
            if arr.shape != want or arr.dtype != np.uint8:
                raise ValueError(f"episode {key}: video feature {name!r} must be uint8 {want} (T, H, W, C), "
                                 f"got {arr.dtype} {arr.shape}")
            arrays[name] = arr
        firsts = {}
        for name, arr in arrays.items():
            meta["image_hist"][name] = [np.bincount(arr[..., i].ravel(), minlength=256).tolist() for i in range(arr.shape[-1])]
            seg = self._segments.get(name)
            if seg is None:
                h, w = self.features[name]["shape"][:2]
                seg = self._segments[name] = video.SegmentWriter(video.segment_path(self._final_path(), name), h, w,
                                                                 self.fps, self._encoders[name],
                                                                 video.gop_of(self.features[name]))
            before = seg.encode_s
            firsts[name] = seg.add(arr)
            self.encode_s += seg.encode_s - before
        return firsts

    def flush(self) -> Path | None:
        """Write buffered episodes as one staging file (atomic); returns its path, or None if empty.

        Video segments are committed first: the Parquet file, which is what makes the episodes count, only
        appears once its videos are in place."""
        if not self._buffer:
            return None
        final = self._final_path()
        for seg in self._segments.values():
            path = seg.commit()
            if path is not None:
                self.video_bytes += path.stat().st_size
        self._segments = {}
        tmp = tmp_path_for(final)
        metas = [m for _, m in self._buffer]
        file_schema = self._schema.with_metadata({schema.STAGING_META_KEY: json.dumps(metas).encode()})
        # page checksums: a bit flipped on disk is caught when the finaliser reads the episode back, instead
        # of being copied into the finished dataset under a fresh, valid checksum
        with pq.ParquetWriter(tmp, file_schema, compression="snappy", write_page_checksum=True) as w:
            for table, _ in self._buffer:
                w.write_table(table.replace_schema_metadata(file_schema.metadata), row_group_size=max(1, table.num_rows))
        commit(tmp, final)
        self._seq += 1
        self._buffer.clear()
        self._buffered_keys.clear()
        self.files_written.append(final)
        return final

    def close(self) -> None:
        """Flush what is buffered; the writer cannot be used afterwards."""
        if not self._closed:
            self.flush()
            self._closed = True

    def __enter__(self) -> "StagingWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    @property
    def buffered(self) -> int:
        """Episodes added but not yet in a staging file (lost if the process dies now)."""
        return len(self._buffer)

    # ---- conversion ---------------------------------------------------------------------------
    def _episode_table(self, key: int, frames: Mapping[str, np.ndarray]) -> tuple[pa.Table, dict[str, Any]]:
        missing = [k for k in self._staged_names + self._video_keys if k not in frames]
        if missing:
            raise ValueError(f"episode {key}: missing feature(s) {missing}")
        extra = [k for k in frames if k not in self._staged_names and k not in self._video_keys]
        if extra:
            raise ValueError(f"episode {key}: unknown feature(s) {extra}; the dataset has {self._staged_names}")
        length = None
        columns, minmax, image_hist = [], {}, {}
        for name in self._staged_names:
            ft = self.features[name]
            arr = np.asarray(frames[name])
            if length is None:
                length = arr.shape[0] if arr.ndim else 0
                if length < 1:
                    raise ValueError(f"episode {key}: feature {name!r} has no rows; an episode needs T >= 1 frames")
            col, stats = self._column(key, name, ft, arr, length)
            columns.append(col)
            if ft["dtype"] == "image":
                image_hist[name] = stats
            else:
                minmax[name] = stats
        table = pa.Table.from_arrays(columns, schema=self._schema)
        return table, {"length": int(length), "minmax": minmax, "image_hist": image_hist}

    def _column(self, key: int, name: str, ft: dict[str, Any], arr: np.ndarray, length: int):
        shape = tuple(ft["shape"])
        if ft["dtype"] == "image":
            want = (length,) + shape
            if arr.shape != want:
                raise ValueError(f"episode {key}: feature {name!r} has shape {arr.shape}, expected {want} (T, H, W, C)")
            if arr.dtype != np.uint8:
                raise ValueError(f"episode {key}: image feature {name!r} must be uint8, got {arr.dtype}")
            encoded = [png.encode(frame) for frame in arr]
            col = pa.StructArray.from_arrays(
                [pa.array(encoded, pa.binary()), pa.nulls(length, pa.string())], fields=list(schema.IMAGE_ARROW_TYPE)
            )
            c = shape[2]
            hist = [np.bincount(arr[..., i].ravel(), minlength=256).tolist() for i in range(c)]
            return col, hist
        scalar = shape == (1,)
        if scalar and arr.shape in ((length,), (length, 1)):
            arr = arr.reshape(length)
        elif arr.shape != (length,) + shape:
            want = f"({length},)" if scalar else f"({length}, {shape[0]})"
            raise ValueError(f"episode {key}: feature {name!r} has shape {arr.shape}, expected {want}")
        dtype = np.dtype(ft["dtype"])
        if ft["dtype"] == "bool":
            if arr.dtype != np.bool_ and not np.isin(arr, (0, 1)).all():
                raise ValueError(f"episode {key}: feature {name!r} must be boolean")
        elif arr.dtype.kind not in "biuf":
            raise ValueError(f"episode {key}: feature {name!r} must be numeric, got {arr.dtype}")
        arr = np.array(arr, dtype=dtype, order="C", copy=True)  # Arrow may wrap it zero-copy: never the caller's buffer
        if scalar:
            col = pa.array(arr, type=schema.arrow_type(ft))
            view = arr.reshape(length, 1)
        else:
            col = pa.FixedSizeListArray.from_arrays(pa.array(arr.reshape(-1)), shape[0])
            view = arr
        return col, finite_min_max(view)


def finite_min_max(view: np.ndarray) -> list[list[float | None]]:
    """Per-column [mins, maxs] over finite values (None where a column has none).

    The finaliser uses them to fix histogram edges before it streams the data once; NaN/inf never
    widen the edges (validation reports them instead).
    """
    x = view.astype(np.float64)
    finite = np.isfinite(x)
    lo = np.where(finite, x, np.inf).min(axis=0)
    hi = np.where(finite, x, -np.inf).max(axis=0)
    has = finite.any(axis=0)
    return [[float(v) if h else None for v, h in zip(lo, has)], [float(v) if h else None for v, h in zip(hi, has)]]


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "w"

"""The finaliser: turns the staging area into a LeRobotDataset v3.0, streaming one episode at a time.

Order of work, chosen so that a crash at any point is harmless and a rerun finishes the job:

1. read the staging footers once, one file at a time: which episodes exist (keeping one copy of a key
   staged twice by a retried worker) and their lengths, as a compact index (numpy arrays, ~24 bytes per
   episode), and the per-dimension min/max that fix the quantile histogram edges (folded as they are read);
2. remove any output of an earlier, interrupted finalize;
3. stream the episodes in key order: assign contiguous ``episode_index`` and global ``index`` from 0,
   append each as one row group to ``data/chunk-XXX/file-YYY.parquet`` (a new file once the current one
   passes ``data_file_size_mb`` or holds ``max_episodes_per_data_file`` episodes), fold its statistics into
   the dataset accumulators and append its metadata row (with its per-episode statistics) to
   ``meta/episodes/chunk-XXX/file-YYY.parquet`` (a new file every ``max_episodes_per_meta_file`` rows or
   ``data_file_size_mb``; each row names its own file in ``meta/episodes/{chunk,file}_index``, as LeRobot);
4. write ``meta/tasks.parquet``, ``meta/stats.json``, ``meta/flywheel.json`` and **``meta/info.json``
   last** - a folder without info.json is unfinished, never read as complete;
5. remove the staging area.

Memory is flat: one episode's rows, one batch of metadata rows, the fixed-size statistics accumulators,
the footers of the files being written (bounded by the per-file episode limits) and of a few open staging
files. The only thing that grows with the number of episodes is the compact index of step 1.
Data files depend only on the episodes (no clock, no uuid, no worker name), so staging the same episodes
twice, in any split across workers and files, yields byte-identical data files.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import schema
from ._arrow import as_matrix, column_to_numpy
from ._io import DatasetError, read_json, remove_tmp_files, write_bytes_atomic, write_json_atomic
from .staging import read_spec, staging_files, staging_footer
from .stats import ImageAccumulator, NumericAccumulator, episode_stats, image_stats, to_json

_EPISODE_BATCH = 128  # metadata rows (with per-episode stats) held before they are appended
_MAX_OPEN_STAGING = 128  # staging files kept open while streaming (~0.5 MB of parsed footer each)
_THREADED_READ_BYTES = 4 << 20  # row groups smaller than this are read on one thread (faster for tiny episodes)


def finalize(
    root: str | os.PathLike,
    *,
    data_file_size_mb: float = schema.DEFAULT_DATA_FILE_SIZE_MB,
    chunks_size: int = schema.DEFAULT_CHUNK_SIZE,
    max_episodes_per_data_file: int = schema.DEFAULT_EPISODES_PER_DATA_FILE,
    max_episodes_per_meta_file: int = schema.DEFAULT_EPISODES_PER_META_FILE,
    keys: Iterable[int] | None = None,
    keep_staging: bool = False,
) -> dict[str, Any]:
    """Finish the dataset at ``root`` and return the content of its ``meta/info.json``.

    Idempotent: on a finished dataset it only removes leftover staging files and returns info.json.
    A data file is closed, and the next one started, once it passes ``data_file_size_mb`` or holds
    ``max_episodes_per_data_file`` episodes (row groups); a ``meta/episodes`` file once it passes the same
    size or holds ``max_episodes_per_meta_file`` rows. ``chunks_size`` is the number of files per
    ``chunk-XXX`` folder. ``keys`` keeps only those staged episodes (e.g. the first N successes of a
    success-only run); every key given must be staged.
    """
    root = Path(root)
    info_path = root / schema.INFO_PATH
    if info_path.exists():
        info = read_json(info_path)
        if not keep_staging:
            shutil.rmtree(root / schema.STAGING_DIR, ignore_errors=True)
        return info
    if not data_file_size_mb > 0 or chunks_size < 1:
        raise ValueError("data_file_size_mb must be > 0 and chunks_size >= 1")
    for name, value in (("max_episodes_per_data_file", max_episodes_per_data_file),
                        ("max_episodes_per_meta_file", max_episodes_per_meta_file)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    spec = read_spec(root)
    features: dict[str, dict[str, Any]] = spec["features"]
    wanted = None if keys is None else np.unique(np.fromiter((int(k) for k in keys), dtype=np.int64))
    scan = _scan(root, features, wanted)
    idx = _choose_episodes(root, scan, wanted)
    _clear_outputs(root)
    remove_tmp_files(root / schema.STAGING_DIR)

    fps = int(spec["fps"])
    n_episodes = len(idx.key)
    total_frames = int(idx.length.sum())
    numeric, image_acc = _accumulators(features, scan, int(idx.length.max()), n_episodes, fps, total_frames)
    del scan  # the unsorted index (duplicates included) is no longer needed
    dschema = schema.data_schema(features)
    data = _DataFiles(root, dschema, data_file_size_mb, chunks_size, int(max_episodes_per_data_file))
    ep_files = _EpisodeFiles(root, features, numeric, data_file_size_mb, chunks_size, int(max_episodes_per_meta_file))
    summary = _Summary()
    reader = _StagingReader(idx.files, _live_files(idx.file))
    index = 0
    try:
        for ep_index in range(n_episodes):
            length = int(idx.length[ep_index])
            staged, entry = reader.read(int(idx.file[ep_index]), int(idx.rg[ep_index]), length, int(idx.key[ep_index]))
            table = _data_table(staged, dschema, fps, ep_index, index)
            chunk_index, file_index = data.write(table)
            num_st, img_st = _episode_stats(table, features, entry, numeric, image_acc)
            ep_files.add(_episode_row(entry, ep_index, index, length, chunk_index, file_index, spec["task"]), num_st, img_st)
            summary.add(entry, length)
            index += length
    finally:
        reader.close()
        data.close()
        ep_files.close()

    _write_tasks(root, [spec["task"]])
    stats = {k: to_json(v) for k, v in numeric.split(numeric.acc.result()).items()}
    stats.update({k: to_json(acc.result()) for k, acc in image_acc.items()})
    stats = {k: stats[k] for k in features}  # feature order
    write_bytes_atomic(root / schema.STATS_PATH, (json.dumps(stats, indent=4) + "\n").encode())
    _update_flywheel_meta(root, summary)
    info = {
        "codebase_version": schema.CODEBASE_VERSION,
        "robot_type": spec["robot_type"],
        "total_episodes": n_episodes,
        "total_frames": total_frames,
        "total_tasks": 1,
        "chunks_size": chunks_size,
        "data_files_size_in_mb": data_file_size_mb,
        "video_files_size_in_mb": schema.DEFAULT_VIDEO_FILE_SIZE_MB,
        "fps": fps,
        "splits": {"train": f"0:{n_episodes}"},
        "data_path": schema.DATA_PATH,
        "video_path": None,
        "features": features,
    }
    write_json_atomic(info_path, info)  # last: from here on the dataset is complete
    if not keep_staging:
        shutil.rmtree(root / schema.STAGING_DIR, ignore_errors=True)
    return info


# ---- step 1: which episodes ------------------------------------------------------------------------
class _Column:
    """A growable numpy column (amortised doubling): the index never becomes a list of Python objects."""

    def __init__(self, dtype) -> None:
        self.a = np.empty(1024, dtype=dtype)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.n + len(values)
        if need > len(self.a):
            grown = np.empty(max(need, 2 * len(self.a)), dtype=self.a.dtype)
            grown[: self.n] = self.a[: self.n]
            self.a = grown
        self.a[self.n:need] = values
        self.n = need

    def values(self) -> np.ndarray:
        return self.a[: self.n]


@dataclass
class _Scan:
    """Every staged episode (duplicates included) in file then row-group order, and the min/max of the wanted ones."""

    files: list[Path]
    key: np.ndarray
    file: np.ndarray
    rg: np.ndarray
    length: np.ndarray
    lo: dict[str, np.ndarray]  # per numeric staged feature, NaN where no finite value was seen
    hi: dict[str, np.ndarray]


@dataclass
class _Index:
    """The chosen episodes in key order: episode_index i is row i."""

    files: list[Path]
    key: np.ndarray
    file: np.ndarray
    rg: np.ndarray
    length: np.ndarray


def _scan(root: Path, features, wanted: np.ndarray | None) -> _Scan:
    """Read each staging footer once: the compact index, schema checks, and min/max folded as we go."""
    want_schema = schema.staging_schema(features)
    names = [n for n in schema.numeric_keys(features) if n in want_schema.names]
    lo = {n: np.full(int(features[n]["shape"][0]), np.nan) for n in names}
    hi = {n: np.full(int(features[n]["shape"][0]), np.nan) for n in names}
    cols = {"key": _Column(np.int64), "file": _Column(np.int32), "rg": _Column(np.int32), "length": _Column(np.int64)}
    files: list[Path] = []
    for path in staging_files(root):
        try:
            md, entries = staging_footer(path)
        except FileNotFoundError:  # removed by a concurrent finalize
            continue
        keys = np.fromiter((int(e["key"]) for e in entries), dtype=np.int64, count=len(entries))
        chosen = np.ones(len(keys), bool) if wanted is None else np.isin(keys, wanted)
        if chosen.any():
            _check_staging_schema(path, want_schema)
            picked = [entries[j]["minmax"] for j in np.nonzero(chosen)[0]]
            for n in names:
                mins = np.array([m[n][0] for m in picked], dtype=np.float64)  # None -> NaN
                maxs = np.array([m[n][1] for m in picked], dtype=np.float64)
                lo[n] = np.fmin(lo[n], np.fmin.reduce(mins, axis=0))
                hi[n] = np.fmax(hi[n], np.fmax.reduce(maxs, axis=0))
        cols["key"].extend(keys)
        cols["file"].extend(np.full(len(keys), len(files), dtype=np.int32))
        cols["rg"].extend(np.arange(len(keys), dtype=np.int32))
        cols["length"].extend(np.fromiter((int(e["length"]) for e in entries), dtype=np.int64, count=len(entries)))
        files.append(path)
    return _Scan(files, *(cols[c].values() for c in ("key", "file", "rg", "length")), lo, hi)


def _choose_episodes(root: Path, scan: _Scan, wanted: np.ndarray | None) -> _Index:
    """One copy per key, ordered by key. Copies of a key come from retried workers and are identical."""
    if not len(scan.key):
        raise DatasetError(root / schema.STAGING_DIR, "no episodes are staged; nothing to finalize")
    order = np.argsort(scan.key, kind="stable")  # stable: the first copy in file order comes first
    sorted_keys = scan.key[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    lengths = scan.length[order]
    bad = np.nonzero(lengths != lengths[group_start])[0]
    if bad.size:
        here, there = order[bad[0]], order[group_start[bad[0]]]
        raise DatasetError(
            scan.files[scan.file[here]],
            f"episode key {scan.key[here]} is staged twice with different lengths "
            f"({scan.length[here]} here, {scan.length[there]} in {scan.files[scan.file[there]].name})",
        )
    chosen = order[first]
    if wanted is not None:
        missing = np.setdiff1d(wanted, scan.key[chosen])
        if missing.size:
            raise DatasetError(root / schema.STAGING_DIR, f"{missing.size} requested key(s) are not staged: {missing[:10].tolist()}")
        if not wanted.size:
            raise DatasetError(root / schema.STAGING_DIR, "keys is empty; nothing to finalize")
        chosen = chosen[np.isin(scan.key[chosen], wanted)]
    return _Index(scan.files, scan.key[chosen], scan.file[chosen], scan.rg[chosen], scan.length[chosen])


def _check_staging_schema(path: Path, want: pa.Schema) -> None:
    # pq.read_schema, not FileMetaData.schema: the latter forms a reference cycle with its footer that only
    # the garbage collector frees, so scanning thousands of staging files would pile up their footers.
    got = pq.read_schema(path).remove_metadata()
    if got.equals(want):
        return
    for f in want:
        if f.name not in got.names:
            raise DatasetError(path, f"column {f.name!r} is missing (staging/spec.json has it)")
        if got.field(f.name).type != f.type:
            raise DatasetError(path, f"column {f.name!r} is {got.field(f.name).type}, staging/spec.json says {f.type} (mismatched shapes between episodes)")
    raise DatasetError(path, f"columns {got.names} differ from staging/spec.json {want.names}")


def _clear_outputs(root: Path) -> None:
    """Remove what an interrupted finalize may have left (never the staging area)."""
    shutil.rmtree(root / schema.DATA_DIR, ignore_errors=True)
    shutil.rmtree(root / schema.EPISODES_DIR, ignore_errors=True)
    for rel in (schema.STATS_PATH, schema.TASKS_PATH):
        (root / rel).unlink(missing_ok=True)
    remove_tmp_files(root / "meta")


def _accumulators(features, scan: _Scan, max_len: int, n_episodes: int, fps: int, total_frames: int):
    """Statistics accumulators with histogram edges fixed from the footers' min/max (no data read).

    All numeric features share one accumulator over their concatenated dimensions: one histogram
    update and one quantile call per episode instead of one per feature.
    """
    known = {  # the index columns' ranges are known before a single row is written
        "timestamp": (0.0, (max_len - 1) / fps),
        "frame_index": (0.0, float(max_len - 1)),
        "episode_index": (0.0, float(n_episodes - 1)),
        "index": (0.0, float(total_frames - 1)),
        "task_index": (0.0, 0.0),
    }
    lo: list[float | None] = []
    hi: list[float | None] = []
    for n in schema.numeric_keys(features):
        if n in known:
            lo.append(known[n][0])
            hi.append(known[n][1])
        else:
            lo.extend(None if math.isnan(v) else float(v) for v in scan.lo[n])
            hi.extend(None if math.isnan(v) else float(v) for v in scan.hi[n])
    images = {n: ImageAccumulator(int(ft["shape"][2])) for n, ft in features.items() if ft["dtype"] == "image"}
    return _Numeric(features, NumericAccumulator(lo, hi)), images


class _Numeric:
    """The numeric features of a dataset viewed as one (T, D_total) matrix, and back."""

    def __init__(self, features, acc: NumericAccumulator):
        self.features = features
        self.names = schema.numeric_keys(features)
        self.acc = acc
        widths = [int(features[n]["shape"][0]) for n in self.names]
        bounds = np.concatenate([[0], np.cumsum(widths)]).astype(int)
        self.slices = {n: slice(bounds[i], bounds[i + 1]) for i, n in enumerate(self.names)}

    def matrix(self, table: pa.Table) -> np.ndarray:
        return np.concatenate([as_matrix(column_to_numpy(table.column(n), self.features[n])) for n in self.names], axis=1)

    def split(self, stats: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
        return {n: {k: (v if k == "count" else v[sl]) for k, v in stats.items()} for n, sl in self.slices.items()}


# ---- step 3: streaming -----------------------------------------------------------------------------
def _live_files(file: np.ndarray) -> int:
    """The most staging files whose episodes interleave at one point of the key order (about the number of
    workers): keeping that many open means no staging footer is read twice."""
    n_files = int(file.max()) + 1
    pos = np.arange(len(file))
    first = np.full(n_files, len(file))
    last = np.full(n_files, -1)
    np.minimum.at(first, file, pos)
    np.maximum.at(last, file, pos)
    used = last >= 0
    events = np.zeros(len(file) + 1, dtype=np.int64)
    np.add.at(events, first[used], 1)
    np.add.at(events, last[used] + 1, -1)
    return int(np.cumsum(events).max())


class _StagingReader:
    """Reads staged row groups, keeping the staging files whose keys interleave open (one per worker, about)."""

    def __init__(self, files: list[Path], live: int) -> None:
        self.files = files
        self.max_open = max(4, min(live, _MAX_OPEN_STAGING))
        self._open: OrderedDict[int, tuple[pq.ParquetFile, list[dict[str, Any]]]] = OrderedDict()

    def read(self, file: int, rg: int, length: int, key: int) -> tuple[pa.Table, dict[str, Any]]:
        """The episode's rows and its footer entry (worker metadata and the image histograms)."""
        path = self.files[file]
        item = self._open.pop(file, None)
        if item is None:
            try:
                item = (pq.ParquetFile(path), [_compact(entry) for entry in staging_footer(path)[1]])
            except DatasetError:
                raise
            except Exception as err:
                raise DatasetError(path, f"cannot read staging file ({err})") from None
        self._open[file] = item
        while len(self._open) > self.max_open:
            _, (old, _) = self._open.popitem(last=False)
            old.close()
        pf, entries = item
        try:
            threads = pf.metadata.row_group(rg).total_byte_size > _THREADED_READ_BYTES
            table = pf.read_row_group(rg, use_threads=threads)
        except Exception as err:
            raise DatasetError(path, f"row group {rg} (episode key {key}) is unreadable ({err})") from None
        if table.num_rows != length:
            raise DatasetError(path, f"row group {rg} has {table.num_rows} rows, expected {length}")
        return table, entries[rg]

    def close(self) -> None:
        for pf, _ in self._open.values():
            pf.close()
        self._open.clear()


def _compact(entry: dict[str, Any]) -> dict[str, Any]:
    """A footer entry as kept while its file is open: histograms as int64 arrays, min/max dropped."""
    out = {k: v for k, v in entry.items() if k != "minmax"}
    out["image_hist"] = {k: np.asarray(v, dtype=np.int64) for k, v in entry.get("image_hist", {}).items()}
    return out


def _data_table(staged: pa.Table, dschema: pa.Schema, fps: int, episode_index: int, start: int) -> pa.Table:
    t = staged.num_rows
    frame_index = np.arange(t, dtype=np.int64)
    index_cols = {
        "timestamp": pa.array((frame_index / fps).astype(np.float32)),
        "frame_index": pa.array(frame_index),
        "episode_index": pa.array(np.full(t, episode_index, dtype=np.int64)),
        "index": pa.array(frame_index + start),
        "task_index": pa.array(np.zeros(t, dtype=np.int64)),
    }
    arrays = [index_cols[k] if k in index_cols else staged.column(k) for k in dschema.names]
    return pa.Table.from_arrays(arrays, schema=dschema)


def _next_file(chunk: int, file: int, chunks_size: int) -> tuple[int, int]:
    """The file after (chunk, file): ``chunks_size`` files per chunk folder (LeRobot's update_chunk_file_indices)."""
    return (chunk + 1, 0) if file >= chunks_size - 1 else (chunk, file + 1)


class _RollingParquet:
    """One Parquet file at a time under a path template, moving on to the next (chunk, file) once the current
    one is past its size or row limit: the rotation that data files and meta/episodes files share.

    The row limit bounds the footer, which a ParquetWriter keeps in memory until close (~1-2 KB per row
    group) and every reader parses whole to reach one episode. The caller counts `rows` itself, since it may
    buffer rows before writing them.
    """

    def __init__(self, root: Path, path_of, pschema: pa.Schema, size_mb: float, chunks_size: int, max_rows: int):
        self.root, self.path_of, self.schema = root, path_of, pschema
        self.limit = size_mb * 1024 * 1024
        self.chunks_size, self.max_rows = chunks_size, max_rows
        self.chunk, self.file = 0, 0
        self.rows = 0
        self._sink = None
        self._writer = None

    def full(self) -> bool:
        return self.rows >= self.max_rows or (self._sink is not None and self._sink.tell() >= self.limit)

    def next_file(self) -> None:
        self.close()
        self.chunk, self.file = _next_file(self.chunk, self.file, self.chunks_size)

    def write(self, table: pa.Table, **kwargs) -> None:
        if self._writer is None:
            path = self.root / self.path_of(self.chunk, self.file)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._sink = pa.OSFile(str(path), "wb")
            self._writer = pq.ParquetWriter(self._sink, self.schema, compression="snappy")
        self._writer.write_table(table, **kwargs)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            self._writer = self._sink = None
        self.rows = 0


class _DataFiles:
    """Appends episodes (one row group each) to data files; a file is closed past the size or episode limit."""

    def __init__(self, root: Path, dschema: pa.Schema, size_mb: float, chunks_size: int, max_episodes: int):
        self.out = _RollingParquet(root, schema.data_path, dschema, size_mb, chunks_size, max_episodes)

    def write(self, table: pa.Table) -> tuple[int, int]:
        out = self.out
        if out.full():
            out.next_file()
        out.write(table, row_group_size=max(1, table.num_rows))
        out.rows += 1
        return out.chunk, out.file

    def close(self) -> None:
        self.out.close()


def _episode_stats(table: pa.Table, features, entry: dict[str, Any], numeric: _Numeric, image_acc):
    """Per-episode statistics, folded into the dataset accumulators: the numeric ones over all numeric
    features' concatenated dimensions (split per feature only when written), the image ones per feature."""
    values = numeric.matrix(table)
    st = episode_stats(values)
    numeric.acc.add(values, st)
    images = {}
    for name in schema.image_keys(features):
        hist = entry["image_hist"][name]
        images[name] = image_stats(hist, entry["length"])
        image_acc[name].add(hist, entry["length"])
    return st, images


def _episode_row(m: dict[str, Any], ep_index: int, start: int, length: int, chunk_index: int, file_index: int, task: str) -> dict:
    return {
        "episode_index": ep_index,
        "tasks": [task],
        "length": length,
        "data/chunk_index": chunk_index,
        "data/file_index": file_index,
        "dataset_from_index": start,
        "dataset_to_index": start + length,
        "meta/episodes/chunk_index": None,  # set by _EpisodeFiles: the file this row lands in
        "meta/episodes/file_index": None,
        "seed": int(m["seed"]),
        "success": bool(m["success"]),
        "uuid": str(m["uuid"]),
        "worker": str(m["worker"]),
        "policy": str(m["policy"]),
        "terminated": bool(m["terminated"]),
        "truncated": bool(m["truncated"]),
    }


EPISODE_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("episode_index", pa.int64()),
    ("tasks", pa.list_(pa.string())),
    ("length", pa.int64()),
    ("data/chunk_index", pa.int64()),
    ("data/file_index", pa.int64()),
    ("dataset_from_index", pa.int64()),
    ("dataset_to_index", pa.int64()),
    ("meta/episodes/chunk_index", pa.int64()),
    ("meta/episodes/file_index", pa.int64()),
    ("seed", pa.int64()),
    ("success", pa.bool_()),
    ("uuid", pa.string()),
    ("worker", pa.string()),
    ("policy", pa.string()),
    ("terminated", pa.bool_()),
    ("truncated", pa.bool_()),
]


def episodes_schema(features) -> pa.Schema:
    """Schema of meta/episodes/*.parquet: LeRobot's columns, ours, then per-episode ``stats/<feature>/<stat>``."""
    fields = [pa.field(k, t) for k, t in EPISODE_COLUMNS]
    for name in features:
        for stat in schema.STAT_KEYS:
            fields.append(pa.field(f"stats/{name}/{stat}", pa.list_(pa.int64() if stat == "count" else pa.float64())))
    return pa.schema(fields)


class _EpisodeFiles:
    """Writes meta/episodes rows in batches, to a new file every ``max_episodes`` rows or past the size limit.

    Rows are kept columnar while buffered (the per-episode statistics as one float64 vector per statistic
    over all numeric dimensions), so a batch costs a few numpy arrays, not thousands of Python floats.
    """

    def __init__(self, root: Path, features, numeric: _Numeric, size_mb: float, chunks_size: int, max_episodes: int):
        self.features = features
        self.numeric = numeric
        self.schema = episodes_schema(features)
        self.out = _RollingParquet(root, schema.episodes_path, self.schema, size_mb, chunks_size, max_episodes)
        self._reset()

    def _reset(self) -> None:
        self.cols: dict[str, list] = {k: [] for k, _ in EPISODE_COLUMNS}
        self.num: dict[str, list[np.ndarray]] = {s: [] for s in schema.STAT_KEYS}
        self.img: dict[str, dict[str, list[np.ndarray]]] = {n: {s: [] for s in schema.STAT_KEYS} for n in schema.image_keys(self.features)}

    def add(self, row: dict, num_st: dict[str, np.ndarray], img_st: dict[str, dict[str, np.ndarray]]) -> None:
        if self.out.full():
            self._flush()
            self.out.next_file()
        row["meta/episodes/chunk_index"] = self.out.chunk
        row["meta/episodes/file_index"] = self.out.file
        for k, v in row.items():
            self.cols[k].append(v)
        for s in schema.STAT_KEYS:
            self.num[s].append(np.asarray(num_st[s]))
        for n, st in img_st.items():
            for s in schema.STAT_KEYS:
                self.img[n][s].append(np.asarray(st[s]).reshape(-1))
        self.out.rows += 1
        if len(self.cols["episode_index"]) >= _EPISODE_BATCH:
            self._flush()

    def _flush(self) -> None:
        b = len(self.cols["episode_index"])
        if not b:
            return
        arrays = [pa.array(self.cols[k], type=t) for k, t in EPISODE_COLUMNS]
        num = {s: np.stack(v) for s, v in self.num.items()}  # (b, D_total); count (b, 1)
        for name in self.features:
            for s in schema.STAT_KEYS:
                if name in self.img:
                    m = np.stack(self.img[name][s])
                elif s == "count":
                    m = num[s]
                else:
                    m = num[s][:, self.numeric.slices[name]]
                arrays.append(_list_array(m, pa.int64() if s == "count" else pa.float64()))
        self.out.write(pa.Table.from_arrays(arrays, schema=self.schema))
        self._reset()

    def close(self) -> None:
        self._flush()
        self.out.close()


def _list_array(m: np.ndarray, type_: pa.DataType) -> pa.ListArray:
    """Rows of a (b, w) matrix as a list<type_> array of b lists of w values each."""
    b, w = m.shape
    offsets = pa.array(np.arange(b + 1, dtype=np.int32) * w, type=pa.int32())
    return pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(m).reshape(-1).astype(type_.to_pandas_dtype()), type=type_))


class _Summary:
    """Running dataset and per-worker figures for meta/flywheel.json (nothing kept per episode)."""

    def __init__(self) -> None:
        self.episodes = self.frames = self.successes = 0
        self.seed_min: int | None = None
        self.seed_max: int | None = None
        self.workers: dict[str, dict[str, int]] = defaultdict(lambda: {"episodes": 0, "frames": 0, "successes": 0})

    def add(self, m: dict[str, Any], length: int) -> None:
        success = int(bool(m["success"]))
        seed = int(m["seed"])
        self.episodes += 1
        self.frames += length
        self.successes += success
        self.seed_min = seed if self.seed_min is None else min(self.seed_min, seed)
        self.seed_max = seed if self.seed_max is None else max(self.seed_max, seed)
        w = self.workers[str(m["worker"])]
        w["episodes"] += 1
        w["frames"] += length
        w["successes"] += success


# ---- step 4: small metadata files ------------------------------------------------------------------
def tasks_table(tasks: list[str]) -> pa.Table:
    """meta/tasks.parquet with the task string as the *pandas index*, which is how LeRobot looks tasks up.

    LeRobot does ``tasks.iloc[task_index].name``: with a plain two-column table that returns the row
    number, not the task. The pandas metadata below makes ``pd.read_parquet`` put ``task`` in the index,
    while Arrow readers (DuckDB, Polars) still see two ordinary columns.
    """
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [
            {"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}
        ],
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64", "metadata": None},
            {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object", "metadata": None},
        ],
        "attributes": {},
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.0",
    }
    return pa.table(
        {"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks, pa.string())},
    ).replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})


def _write_tasks(root: Path, tasks: list[str]) -> None:
    path = root / schema.TASKS_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(tasks_table(tasks), path)


def _update_flywheel_meta(root: Path, summary: _Summary) -> None:
    path = root / schema.FLYWHEEL_META_PATH
    meta = read_json(path) if path.exists() else {"flywheel_format": schema.FLYWHEEL_FORMAT}
    n = summary.episodes
    meta["dataset"] = {
        "episodes": n,
        "frames": summary.frames,
        "successes": summary.successes,
        "success_rate": summary.successes / n if n else 0.0,
        "seeds": [summary.seed_min, summary.seed_max],
    }
    meta["workers"] = {w: dict(v) for w, v in sorted(summary.workers.items())}
    write_json_atomic(path, meta)

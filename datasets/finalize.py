"""The finaliser: turns the staging area into a LeRobotDataset v3.0, streaming one episode at a time.

Order of work, chosen so that a crash at any point is harmless and a rerun finishes the job:

1. read the staging footers only: which episodes exist (keeping one copy of a key staged twice by a
   retried worker), their lengths and per-dimension min/max (fixes the quantile histogram edges);
2. remove any output of an earlier, interrupted finalize;
3. stream the episodes in key order: assign contiguous ``episode_index`` and global ``index`` from 0,
   append each as one row group to ``data/chunk-XXX/file-YYY.parquet`` (a new file once the current one
   passes ``data_file_size_mb``), fold its statistics into the dataset accumulators and its metadata
   row into ``meta/episodes/chunk-000/file-000.parquet``;
4. write ``meta/tasks.parquet``, ``meta/stats.json``, ``meta/flywheel.json`` and **``meta/info.json``
   last** - a folder without info.json is unfinished, never read as complete;
5. remove the staging area.

Memory is flat: one episode's rows, one metadata batch, and the fixed-size statistics accumulators.
Data files depend only on the episodes (no clock, no uuid, no worker name), so staging the same episodes
twice, in any split across workers and files, yields byte-identical data files.
"""
from __future__ import annotations

import json
import os
import shutil
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import schema
from ._arrow import as_matrix, column_to_numpy
from ._io import DatasetError, read_json, remove_tmp_files, write_bytes_atomic, write_json_atomic
from .staging import StagedEpisode, read_spec, read_staging_footer, scan_staging
from .stats import ImageAccumulator, NumericAccumulator, episode_stats, image_stats, to_json

_EPISODE_BATCH = 128  # metadata rows (with per-episode stats) held before they are appended
_OPEN_FILES = 64  # >= the number of workers, whose keys interleave, to avoid re-reading footers


def finalize(
    root: str | os.PathLike,
    *,
    data_file_size_mb: float = schema.DEFAULT_DATA_FILE_SIZE_MB,
    chunks_size: int = schema.DEFAULT_CHUNK_SIZE,
    keys: Iterable[int] | None = None,
    keep_staging: bool = False,
) -> dict[str, Any]:
    """Finish the dataset at ``root`` and return the content of its ``meta/info.json``.

    Idempotent: on a finished dataset it only removes leftover staging files and returns info.json.
    ``data_file_size_mb`` is the size after which a data file is closed and the next one started;
    ``chunks_size`` the number of files per ``chunk-XXX`` folder. ``keys`` keeps only those staged
    episodes (e.g. the first N successes of a success-only run); every key given must be staged.
    """
    root = Path(root)
    info_path = root / schema.INFO_PATH
    if info_path.exists():
        info = read_json(info_path)
        if not keep_staging:
            shutil.rmtree(root / schema.STAGING_DIR, ignore_errors=True)
        return info
    if data_file_size_mb <= 0 or chunks_size < 1:
        raise ValueError("data_file_size_mb must be > 0 and chunks_size >= 1")
    spec = read_spec(root)
    features: dict[str, dict[str, Any]] = spec["features"]
    episodes = _choose_episodes(root, scan_staging(root), keys)
    _check_staging_schemas(features, {e.file for e in episodes})
    _clear_outputs(root)
    remove_tmp_files(root / schema.STAGING_DIR)

    fps = int(spec["fps"])
    total_frames = sum(e.length for e in episodes)
    numeric, image_acc = _accumulators(features, episodes, fps, total_frames)
    data = _DataFiles(root, features, data_file_size_mb, chunks_size)
    ep_rows = _EpisodeRows(root, features)
    workers: dict[str, dict[str, int]] = defaultdict(lambda: {"episodes": 0, "frames": 0, "successes": 0})
    reader = _StagingReader()
    index = 0
    try:
        for ep_index, e in enumerate(episodes):
            staged, entry = reader.read(e)
            table = _data_table(staged, features, fps, ep_index, index)
            chunk_index, file_index = data.write(table)
            ep_stats = _episode_stats(table, features, entry, numeric, image_acc)
            ep_rows.add(_episode_row(e, ep_index, index, chunk_index, file_index, spec["task"]), ep_stats)
            w = workers[e.meta["worker"]]
            w["episodes"] += 1
            w["frames"] += e.length
            w["successes"] += int(bool(e.meta["success"]))
            index += e.length
    finally:
        reader.close()
        data.close()
        ep_rows.close()

    _write_tasks(root, [spec["task"]])
    stats = {k: to_json(v) for k, v in numeric.split(numeric.acc.result()).items()}
    stats.update({k: to_json(acc.result()) for k, acc in image_acc.items()})
    stats = {k: stats[k] for k in features}  # feature order
    write_bytes_atomic(root / schema.STATS_PATH, (json.dumps(stats, indent=4) + "\n").encode())
    _update_flywheel_meta(root, episodes, workers)
    info = {
        "codebase_version": schema.CODEBASE_VERSION,
        "robot_type": spec["robot_type"],
        "total_episodes": len(episodes),
        "total_frames": total_frames,
        "total_tasks": 1,
        "chunks_size": chunks_size,
        "data_files_size_in_mb": data_file_size_mb,
        "video_files_size_in_mb": schema.DEFAULT_VIDEO_FILE_SIZE_MB,
        "fps": fps,
        "splits": {"train": f"0:{len(episodes)}"},
        "data_path": schema.DATA_PATH,
        "video_path": None,
        "features": features,
    }
    write_json_atomic(info_path, info)  # last: from here on the dataset is complete
    if not keep_staging:
        shutil.rmtree(root / schema.STAGING_DIR, ignore_errors=True)
    return info


# ---- step 1: which episodes ------------------------------------------------------------------------
def _choose_episodes(root: Path, staged: list[StagedEpisode], keys: Iterable[int] | None) -> list[StagedEpisode]:
    """One copy per key, ordered by key. Copies of a key come from retried workers and are identical."""
    chosen: dict[int, StagedEpisode] = {}
    for e in staged:
        first = chosen.get(e.key)
        if first is None:
            chosen[e.key] = e
        elif first.length != e.length:
            raise DatasetError(
                e.file, f"episode key {e.key} is staged twice with different lengths ({e.length} here, {first.length} in {first.file.name})"
            )
    if not chosen:
        raise DatasetError(root / schema.STAGING_DIR, "no episodes are staged; nothing to finalize")
    if keys is None:
        return [chosen[k] for k in sorted(chosen)]
    wanted = sorted({int(k) for k in keys})
    missing = [k for k in wanted if k not in chosen]
    if missing:
        raise DatasetError(root / schema.STAGING_DIR, f"{len(missing)} requested key(s) are not staged: {missing[:10]}")
    if not wanted:
        raise DatasetError(root / schema.STAGING_DIR, "keys is empty; nothing to finalize")
    return [chosen[k] for k in wanted]


def _check_staging_schemas(features: dict[str, Any], files: set[Path]) -> None:
    want = schema.staging_schema(features)
    for path in sorted(files):
        got = pq.read_schema(path).remove_metadata()
        if got.equals(want):
            continue
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


def _accumulators(features, episodes: list[StagedEpisode], fps: int, total_frames: int):
    """Statistics accumulators with histogram edges fixed from the footers' min/max (no data read).

    All numeric features share one accumulator over their concatenated dimensions: one histogram
    update and one quantile call per episode instead of one per feature. The footers are read again
    here, one file at a time, so the per-episode min/max never accumulate in memory.
    """
    max_len = max(e.length for e in episodes)
    known = {  # the index columns' ranges are known before a single row is written
        "timestamp": (0.0, (max_len - 1) / fps),
        "frame_index": (0.0, float(max_len - 1)),
        "episode_index": (0.0, float(len(episodes) - 1)),
        "index": (0.0, float(total_frames - 1)),
        "task_index": (0.0, 0.0),
    }
    names = schema.numeric_keys(features)
    lo = {n: [known[n][0]] if n in known else [None] * int(features[n]["shape"][0]) for n in names}
    hi = {n: [known[n][1]] if n in known else [None] * int(features[n]["shape"][0]) for n in names}
    chosen: dict[Path, set[int]] = defaultdict(set)
    for e in episodes:
        chosen[e.file].add(e.row_group)
    for path in sorted(chosen):
        for rg, entry in enumerate(read_staging_footer(path)):
            if rg not in chosen[path]:
                continue
            for n in names:
                if n in known:
                    continue
                mins, maxs = entry["minmax"][n]
                lo[n] = [_opt(min, a, b) for a, b in zip(lo[n], mins)]
                hi[n] = [_opt(max, a, b) for a, b in zip(hi[n], maxs)]
    images = {n: ImageAccumulator(int(ft["shape"][2])) for n, ft in features.items() if ft["dtype"] == "image"}
    acc = NumericAccumulator([v for n in names for v in lo[n]], [v for n in names for v in hi[n]])
    return _Numeric(features, acc), images


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


def _opt(fn, a, b):
    if a is None:
        return b
    if b is None:
        return a
    return fn(a, b)


# ---- step 3: streaming -----------------------------------------------------------------------------
class _StagingReader:
    """Reads staged row groups, keeping a few staging files open (keys interleave across workers)."""

    def __init__(self) -> None:
        self._open: OrderedDict[Path, tuple[pq.ParquetFile, list[dict[str, Any]]]] = OrderedDict()

    def read(self, e: StagedEpisode) -> tuple[pa.Table, dict[str, Any]]:
        """The episode's rows and its full footer entry (with the statistics inputs)."""
        item = self._open.pop(e.file, None)
        if item is None:
            try:
                item = (pq.ParquetFile(e.file), [_compact(entry) for entry in read_staging_footer(e.file)])
            except DatasetError:
                raise
            except Exception as err:
                raise DatasetError(e.file, f"cannot read staging file ({err})") from None
        self._open[e.file] = item
        while len(self._open) > _OPEN_FILES:
            _, (old, _) = self._open.popitem(last=False)
            old.close()
        pf, entries = item
        try:
            table = pf.read_row_group(e.row_group)
        except Exception as err:
            raise DatasetError(e.file, f"row group {e.row_group} (episode key {e.key}) is unreadable ({err})") from None
        if table.num_rows != e.length:
            raise DatasetError(e.file, f"row group {e.row_group} has {table.num_rows} rows, expected {e.length}")
        return table, entries[e.row_group]

    def close(self) -> None:
        for pf, _ in self._open.values():
            pf.close()
        self._open.clear()


def _compact(entry: dict[str, Any]) -> dict[str, Any]:
    """A footer entry as kept while its file is open: histograms as int64 arrays, min/max dropped."""
    out = {k: v for k, v in entry.items() if k != "minmax"}
    out["image_hist"] = {k: np.asarray(v, dtype=np.int64) for k, v in entry.get("image_hist", {}).items()}
    return out


def _data_table(staged: pa.Table, features, fps: int, episode_index: int, start: int) -> pa.Table:
    t = staged.num_rows
    frame_index = np.arange(t, dtype=np.int64)
    index_cols = {
        "timestamp": pa.array((frame_index / fps).astype(np.float32)),
        "frame_index": pa.array(frame_index),
        "episode_index": pa.array(np.full(t, episode_index, dtype=np.int64)),
        "index": pa.array(frame_index + start),
        "task_index": pa.array(np.zeros(t, dtype=np.int64)),
    }
    arrays = [index_cols[k] if k in index_cols else staged.column(k) for k in features]
    return pa.Table.from_arrays(arrays, schema=schema.data_schema(features))


class _DataFiles:
    """Appends episodes (one row group each) to data files, starting a new file past the size limit."""

    def __init__(self, root: Path, features, size_mb: float, chunks_size: int):
        self.root = root
        self.schema = schema.data_schema(features)
        self.limit = size_mb * 1024 * 1024
        self.chunks_size = chunks_size
        self.chunk, self.file = 0, 0
        self._sink = None
        self._writer = None

    def write(self, table: pa.Table) -> tuple[int, int]:
        if self._writer is None:
            path = self.root / schema.data_path(self.chunk, self.file)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._sink = pa.OSFile(str(path), "wb")
            self._writer = pq.ParquetWriter(self._sink, self.schema, compression="snappy")
        at = (self.chunk, self.file)
        self._writer.write_table(table, row_group_size=max(1, table.num_rows))
        if self._sink.tell() >= self.limit:
            self._close_file()
            if self.file == self.chunks_size - 1:
                self.chunk, self.file = self.chunk + 1, 0
            else:
                self.file += 1
        return at

    def _close_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            self._writer = self._sink = None

    def close(self) -> None:
        self._close_file()


def _episode_stats(table: pa.Table, features, entry: dict[str, Any], numeric: _Numeric, image_acc) -> dict[str, dict]:
    values = numeric.matrix(table)
    st = episode_stats(values)
    numeric.acc.add(values, st)
    out = numeric.split(st)
    for name in schema.image_keys(features):
        hist = entry["image_hist"][name]
        out[name] = image_stats(hist, entry["length"])
        image_acc[name].add(hist, entry["length"])
    return out


def _episode_row(e: StagedEpisode, ep_index: int, start: int, chunk_index: int, file_index: int, task: str) -> dict:
    m = e.meta
    return {
        "episode_index": ep_index,
        "tasks": [task],
        "length": e.length,
        "data/chunk_index": chunk_index,
        "data/file_index": file_index,
        "dataset_from_index": start,
        "dataset_to_index": start + e.length,
        "meta/episodes/chunk_index": 0,
        "meta/episodes/file_index": 0,
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


class _EpisodeRows:
    """Buffers episode metadata rows and appends them to the episodes file in batches."""

    def __init__(self, root: Path, features):
        self.path = root / schema.episodes_path(0, 0)
        self.features = features
        self.schema = episodes_schema(features)
        self.rows: list[dict] = []
        self._writer = None

    def add(self, row: dict, ep_stats: dict[str, dict]) -> None:
        for name, st in ep_stats.items():
            for stat in schema.STAT_KEYS:
                row[f"stats/{name}/{stat}"] = np.asarray(st[stat]).reshape(-1).tolist()
        self.rows.append(row)
        if len(self.rows) >= _EPISODE_BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self.rows:
            return
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.path, self.schema, compression="snappy")
        self._writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
        self.rows.clear()

    def close(self) -> None:
        self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None


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


def _update_flywheel_meta(root: Path, episodes: list[StagedEpisode], workers) -> None:
    path = root / schema.FLYWHEEL_META_PATH
    meta = read_json(path) if path.exists() else {"flywheel_format": schema.FLYWHEEL_FORMAT}
    n = len(episodes)
    successes = sum(bool(e.meta["success"]) for e in episodes)
    meta["dataset"] = {
        "episodes": n,
        "frames": sum(e.length for e in episodes),
        "successes": successes,
        "success_rate": successes / n if n else 0.0,
        "seeds": [min(int(e.meta["seed"]) for e in episodes), max(int(e.meta["seed"]) for e in episodes)],
    }
    meta["workers"] = {w: dict(v) for w, v in sorted(workers.items())}
    write_json_atomic(path, meta)

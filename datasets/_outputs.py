"""The finished dataset's Parquet files as the finaliser writes them: data files, ``meta/episodes`` files
(both rolled over by size and row count, as LeRobot does) and ``meta/tasks.parquet``.

Split out of ``finalize.py`` so that the order of work stays readable there and the file layout lives
in one place.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import schema

_EPISODE_BATCH = 128  # metadata rows (with per-episode stats) held before they are appended


def next_file(chunk: int, file: int, chunks_size: int) -> tuple[int, int]:
    """The file after (chunk, file): ``chunks_size`` files per chunk folder (LeRobot's update_chunk_file_indices)."""
    return (chunk + 1, 0) if file >= chunks_size - 1 else (chunk, file + 1)


class RollingParquet:
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
        self.chunk, self.file = next_file(self.chunk, self.file, self.chunks_size)

    def write(self, table: pa.Table, **kwargs) -> None:
        if self._writer is None:
            path = self.root / self.path_of(self.chunk, self.file)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._sink = pa.OSFile(str(path), "wb")
            # page checksums let validate (and any reader) detect a flipped bit in a data page
            self._writer = pq.ParquetWriter(self._sink, self.schema, compression="snappy", write_page_checksum=True)
        self._writer.write_table(table, **kwargs)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            self._writer = self._sink = None
        self.rows = 0


class DataFiles:
    """Appends episodes (one row group each) to data files; a file is closed past the size or episode limit."""

    def __init__(self, root: Path, dschema: pa.Schema, size_mb: float, chunks_size: int, max_episodes: int):
        self.out = RollingParquet(root, schema.data_path, dschema, size_mb, chunks_size, max_episodes)

    def write(self, table: pa.Table) -> tuple[int, int]:
        out = self.out
        if out.full():
            out.next_file()
        out.write(table, row_group_size=max(1, table.num_rows))
        out.rows += 1
        return out.chunk, out.file

    def close(self) -> None:
        self.out.close()



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


def video_columns(features) -> list[tuple[str, pa.DataType]]:
    """Per camera stored as video, where each episode's frames are (as LeRobot v3.0 names the columns)."""
    cols = []
    for key in schema.video_keys(features):
        cols += [(f"videos/{key}/chunk_index", pa.int64()), (f"videos/{key}/file_index", pa.int64()),
                 (f"videos/{key}/from_timestamp", pa.float64()), (f"videos/{key}/to_timestamp", pa.float64())]
    return cols


def episode_columns(features) -> list[tuple[str, pa.DataType]]:
    return EPISODE_COLUMNS[:7] + video_columns(features) + EPISODE_COLUMNS[7:]


def episodes_schema(features) -> pa.Schema:
    """Schema of meta/episodes/*.parquet: LeRobot's columns (videos' included), ours, then per-episode
    ``stats/<feature>/<stat>``."""
    fields = [pa.field(k, t) for k, t in episode_columns(features)]
    for name in features:
        for stat in schema.STAT_KEYS:
            fields.append(pa.field(f"stats/{name}/{stat}", pa.list_(pa.int64() if stat == "count" else pa.float64())))
    return pa.schema(fields)


class EpisodeFiles:
    """Writes meta/episodes rows in batches, to a new file every ``max_episodes`` rows or past the size limit.

    Rows are kept columnar while buffered (the per-episode statistics as one float64 vector per statistic
    over all numeric dimensions), so a batch costs a few numpy arrays, not thousands of Python floats.
    """

    def __init__(self, root: Path, features, numeric, size_mb: float, chunks_size: int, max_episodes: int):
        self.features = features
        self.numeric = numeric
        self.schema = episodes_schema(features)
        self.columns = episode_columns(features)
        self.out = RollingParquet(root, schema.episodes_path, self.schema, size_mb, chunks_size, max_episodes)
        self._reset()

    def _reset(self) -> None:
        self.cols: dict[str, list] = {k: [] for k, _ in self.columns}
        self.num: dict[str, list[np.ndarray]] = {s: [] for s in schema.STAT_KEYS}
        self.img: dict[str, dict[str, list[np.ndarray]]] = {n: {s: [] for s in schema.STAT_KEYS} for n in schema.visual_keys(self.features)}

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
        arrays = [pa.array(self.cols[k], type=t) for k, t in self.columns]
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


def write_tasks(root: Path, tasks: list[str]) -> None:
    path = root / schema.TASKS_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(tasks_table(tasks), path, write_page_checksum=True)


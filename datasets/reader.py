"""Reading a finished dataset: ``flywheel.datasets.open(path)``.

Opening checks what is cheap to check and would otherwise surface as a confusing failure later: the
folder is a dataset (or says it is unfinished), ``info.json`` has the version we read, the episode table
and every data file it references are present with readable footers. Episode data is read lazily, one
row group (= one episode) at a time, so a reader of a huge dataset holds one episode in memory.

What ``open`` keeps is small per episode: the episode table without its per-episode ``stats/*`` columns
(which are most of its width and are never read here), two arrays locating each episode (its data file
and first row there), each data file's row-group offsets, and at most ``_OPEN_DATA_FILES`` open data files (their footers); the footers of the other data
files are read once, checked and dropped.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import schema
from ._arrow import column_to_numpy
from ._io import DatasetError, read_json
from .paths import check_template, resolve_inside
from .staging import staged_keys

# Data files kept open by a reader (sequential reading needs one, random sampling gains from a few); the
# others are reopened on demand. A parsed footer costs ~8x its size on disk (~14 MB for 1000 row groups
# of a 16-column schema), so only a few: the bound does not depend on the number of episodes.
_OPEN_DATA_FILES = 4


def open(path: str | os.PathLike) -> "Dataset":  # noqa: A001 - the contract's name
    """Open the finished dataset at ``path``; DatasetError (a ValueError) naming the file otherwise."""
    return Dataset(path)


def read_info(root: Path) -> dict[str, Any]:
    """info.json of a finished dataset, checked; explains an unfinished or foreign folder.

    Checked because everything else trusts it: field types (``total_episodes: "40"`` is a wrong type, not
    a count), the path templates (``paths.check_template``: no ``../``, no absolute path, no attribute or
    index access in the ``str.format`` fields), the features, and that every number is finite.
    """
    root = Path(root)
    if not root.exists():
        raise DatasetError(root, "no such folder")
    if not root.is_dir():
        raise DatasetError(root, "not a folder")
    info_path = root / schema.INFO_PATH
    if not info_path.exists():
        if (root / schema.SPEC_PATH).exists():
            try:
                n = len(staged_keys(root))
            except (DatasetError, OSError):
                n = "some"
            raise DatasetError(
                info_path,
                f"missing: this is an unfinished flywheel dataset ({n} episodes staged); resume the run that "
                f"wrote it with `flywheel collect ... --out {root} --resume` (same options), or, to finish it "
                f"short on purpose, `flywheel dataset finalize --allow-partial {root}`",
            )
        raise DatasetError(info_path, "missing: not a dataset (no meta/info.json)")
    info = read_json(resolve_inside(root, schema.INFO_PATH))
    if not isinstance(info, dict):
        raise DatasetError(info_path, "not a JSON object")
    version = info.get("codebase_version")
    if version != schema.CODEBASE_VERSION:
        raise DatasetError(info_path, f"codebase_version is {version!r}; flywheel reads {schema.CODEBASE_VERSION!r} (LeRobot v3.0) datasets")
    for key in ("features", "fps", "total_episodes", "total_frames", "data_path"):
        if key not in info:
            raise DatasetError(info_path, f"required key {key!r} is missing")
    check_info_types(info_path, info)
    check_template(info_path, "data_path", info["data_path"])
    check_template(info_path, "video_path", info.get("video_path"))
    for name, ft in info["features"].items():
        try:
            if not isinstance(ft, dict):
                raise ValueError(f"feature {name!r} is not an object")
            if ft.get("dtype") != "video":
                schema.check_feature(name, ft)
        except ValueError as err:
            raise DatasetError(info_path, str(err)) from None
    return info


# info.json fields: (type check, what it must be); absent optional fields are not checked here
def _INT(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_INFO_TYPES = {
    "fps": (lambda v: _INT(v) and v > 0, "a positive integer"),
    "total_episodes": (lambda v: _INT(v) and v >= 0, "an integer >= 0"),
    "total_frames": (lambda v: _INT(v) and v >= 0, "an integer >= 0"),
    "total_tasks": (lambda v: _INT(v) and v >= 0, "an integer >= 0"),
    "chunks_size": (lambda v: _INT(v) and v > 0, "a positive integer"),
    "data_files_size_in_mb": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0, "a number > 0"),
    "video_files_size_in_mb": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0, "a number > 0"),
    "robot_type": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "splits": (lambda v: isinstance(v, dict), "an object"),
    "features": (lambda v: isinstance(v, dict) and bool(v), "a non-empty object"),
}


def check_info_types(info_path: Path, info: dict[str, Any]) -> None:
    """Every known field of info.json has the type LeRobot writes; DatasetError naming the first that does not."""
    for key, (ok, what) in _INFO_TYPES.items():
        if key in info and not ok(info[key]):
            raise DatasetError(info_path, f"{key} must be {what}, got {info[key]!r} ({type(info[key]).__name__})")


def check_stats(path: Path, stats: Any) -> dict[str, dict[str, Any]]:
    """stats.json as read: an object of features, each an object of numbers or lists of numbers, all finite.

    (read_json already refuses NaN/Infinity tokens; this catches strings, nulls and other wrong types.)
    """
    if not isinstance(stats, dict):
        raise DatasetError(path, "not a JSON object")
    for name, st in stats.items():
        if not isinstance(st, dict):
            raise DatasetError(path, f"{name}: statistics must be an object, got {type(st).__name__}")
        for key, value in st.items():
            try:
                arr = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise DatasetError(path, f"{name}.{key} must be a number or a (nested) list of numbers, got {value!r:.60}") from None
            if not np.isfinite(arr).all():
                raise DatasetError(path, f"{name}.{key} holds NaN/inf: every statistic must be finite")
    return stats


def row_group_starts(pf: pq.ParquetFile) -> np.ndarray:
    """First row of each row group of ``pf``, plus the total row count at the end."""
    md = pf.metadata
    return np.cumsum([0] + [md.row_group(g).num_rows for g in range(md.num_row_groups)])


def read_rows(pf: pq.ParquetFile, starts: np.ndarray, row: int, length: int, columns: list[str] | None) -> pa.Table:
    """Rows ``row .. row + length`` of ``pf`` (``starts`` from ``row_group_starts``), reading only the row groups
    that hold them: exactly one for flywheel's files (one row group per episode), one or a few for LeRobot's."""
    first = int(np.searchsorted(starts, row, side="right")) - 1
    last = int(np.searchsorted(starts, row + length - 1, side="right")) - 1
    if first == last and starts[first] == row and starts[first + 1] - starts[first] == length:
        return pf.read_row_group(first, columns=columns)
    table = pf.read_row_groups(list(range(first, last + 1)), columns=columns)
    return table.slice(row - int(starts[first]), length)


class Dataset:
    """A finished flywheel (LeRobot v3.0) dataset, or a filtered view of one.

    ``len(ds)`` is the number of episodes in the view; ``ds.num_frames`` the number of frames.
    """

    def __init__(self, path: str | os.PathLike, *, _parent: "Dataset | None" = None, _rows: np.ndarray | None = None):
        if _parent is not None:
            self.__dict__.update({k: v for k, v in _parent.__dict__.items() if k != "_rows"})
            self._rows = _rows
            return
        self.root = Path(path)
        self.info = read_info(self.root)
        self.features: dict[str, dict[str, Any]] = self.info["features"]
        self.fps: int = int(self.info["fps"])
        self.robot_type: str | None = self.info.get("robot_type")
        self._all_episodes = self._load_episodes()
        self.tasks: list[str] = self._load_tasks()
        self._files: OrderedDict[str, pq.ParquetFile] = OrderedDict()
        self._lengths = self._all_episodes.column("length").to_numpy()
        self._data_rels, self._ep_file, self._ep_row = self._check_data_files()
        fw = self.root / schema.FLYWHEEL_META_PATH
        self.flywheel: dict[str, Any] = read_json(resolve_inside(self.root, fw.relative_to(self.root)), allow_inf=True) if fw.exists() else {}
        self._rows = np.arange(self._all_episodes.num_rows)

    # ---- loading and checks -------------------------------------------------------------------
    def _load_episodes(self) -> pa.Table:
        folder = self.root / schema.EPISODES_DIR
        paths = sorted(folder.glob("*/*.parquet"))
        if not paths:
            raise DatasetError(folder, "no episode metadata files (meta/episodes/chunk-*/file-*.parquet)")
        tables = []
        for p in paths:
            resolve_inside(self.root, p.relative_to(self.root))
            try:
                names = pq.read_schema(p).names
                tables.append(pq.read_table(p, columns=[c for c in names if not c.startswith("stats/")],
                                            page_checksum_verification=True))
            except Exception as err:
                raise DatasetError(p, f"truncated or corrupt Parquet file ({err})") from None
        table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
        need = ("episode_index", "length", "data/chunk_index", "data/file_index", "dataset_from_index", "dataset_to_index")
        for c in need:
            if c not in table.column_names:
                raise DatasetError(paths[0], f"episode metadata has no {c!r} column")
        idx = table.column("episode_index").to_numpy()
        if (np.diff(idx) < 0).any():  # written in order (as LeRobot reads them): no sorted copy needed
            table = table.sort_by("episode_index")
            idx = table.column("episode_index").to_numpy()
        if not np.array_equal(idx, np.arange(len(idx))):
            raise DatasetError(paths[0], "episode_index is not contiguous from 0")
        if len(idx) != self.info["total_episodes"]:
            raise DatasetError(
                self.root / schema.INFO_PATH, f"total_episodes is {self.info['total_episodes']} but meta/episodes lists {len(idx)}"
            )
        return table

    def _load_tasks(self) -> list[str]:
        path = resolve_inside(self.root, schema.TASKS_PATH)
        try:
            t = pq.read_table(path, page_checksum_verification=True)
        except FileNotFoundError:
            raise DatasetError(path, "file is missing") from None
        except Exception as err:
            raise DatasetError(path, f"truncated or corrupt Parquet file ({err})") from None
        if "task_index" not in t.column_names:
            raise DatasetError(path, "no task_index column")
        name = next((c for c in ("task", "__index_level_0__") if c in t.column_names), None)
        if name is None:
            raise DatasetError(path, "no task column (the task string must be the pandas index)")
        order = np.argsort(t.column("task_index").to_numpy())
        return [t.column(name)[int(i)].as_py() for i in order]

    def _check_data_files(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Locate every episode: (data files, file of each episode, its first row in that file); check every
        referenced file opens with the right schema and row count, one file at a time.

        LeRobot v3.0 locates an episode by ``dataset_from_index`` into the data files read in path order; an
        episode's first row in its file is therefore its ``dataset_from_index`` minus that of the file's first
        episode. flywheel writes one row group per episode (so reading one reads exactly it), LeRobot does not
        (its row groups hold many episodes, or part of one): both are read, through the row groups covering
        the episode's rows (``_rows_of``).
        """
        ep = self._all_episodes
        chunks = ep.column("data/chunk_index").to_numpy()
        files = ep.column("data/file_index").to_numpy()
        lengths = ep.column("length").to_numpy()
        frm = ep.column("dataset_from_index").to_numpy()
        n = len(lengths)
        pairs, first, ep_file = np.unique(np.stack([chunks, files], axis=1).reshape(n, 2), axis=0, return_index=True, return_inverse=True)
        ep_file = ep_file.reshape(-1)
        order = np.argsort(first, kind="stable")  # data files in order of their first episode
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        ep_file = rank[ep_file].astype(np.int32)
        rels = [self.info["data_path"].format(chunk_index=int(c), file_index=int(f)) for c, f in pairs[order]]
        file_start = frm[first[order]]  # global index of each file's first row
        ep_row = (frm - file_start[ep_file]).astype(np.int64)
        by_file = np.argsort(ep_file, kind="stable")
        counts = np.bincount(ep_file, minlength=len(rels))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        want = schema.data_schema(self.features)
        self._rg_starts: list[np.ndarray] = []
        for f, rel in enumerate(rels):
            pf = self._open_file(rel)  # checked, then closed: open() keeps no footer it does not need
            try:
                mine = by_file[starts[f]:starts[f] + counts[f]]
                self._check_data_file(rel, pf, want, ep_row[mine], lengths[mine])
                self._rg_starts.append(row_group_starts(pf))
            finally:
                pf.close()
        return rels, ep_file, ep_row

    def _check_data_file(self, rel: str, pf: pq.ParquetFile, want: pa.Schema, rows, lengths) -> None:
        got = pf.schema_arrow
        for field in want:
            if field.name not in got.names:
                raise DatasetError(self.root / rel, f"column {field.name!r} is missing (info.json lists it)")
            if not schema.compatible_type(got.field(field.name).type, field.type):
                raise DatasetError(self.root / rel, f"column {field.name!r} is {got.field(field.name).type}, info.json says {field.type}")
        end = int((rows + lengths).max()) if len(rows) else 0
        if (rows < 0).any() or pf.metadata.num_rows < end:
            raise DatasetError(self.root / rel, f"{pf.metadata.num_rows} rows, but meta/episodes puts rows up to {end} in it "
                                                "(dataset_from_index / length disagree with the file)")

    def _rows_of(self, rel: str, starts: np.ndarray, row: int, length: int, columns: list[str]) -> pa.Table:
        return read_rows(self._file(rel), starts, row, length, columns)

    def _open_file(self, rel: str) -> pq.ParquetFile:
        path = resolve_inside(self.root, rel)
        if not path.exists():
            raise DatasetError(path, "data file is missing (meta/episodes references it)")
        try:  # page checksums (written by flywheel, absent from some other writers' files) are verified
            return pq.ParquetFile(path, page_checksum_verification=True)
        except Exception as err:
            raise DatasetError(path, f"truncated or corrupt Parquet file ({err})") from None

    def _file(self, rel: str) -> pq.ParquetFile:
        """The data file ``rel``, from a small LRU cache of open files."""
        pf = self._files.pop(rel, None)
        if pf is None:
            pf = self._open_file(rel)
        self._files[rel] = pf
        while len(self._files) > _OPEN_DATA_FILES:
            self._files.popitem(last=False)[1].close()
        return pf

    # ---- the view -----------------------------------------------------------------------------
    @property
    def episodes(self) -> pa.Table:
        """Episode metadata of this view (episode_index, length, seed, success, uuid, policy, ...)."""
        return self._all_episodes.take(pa.array(self._rows, pa.int64()))

    @property
    def episode_indices(self) -> list[int]:
        return [int(i) for i in self._rows]

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def num_episodes(self) -> int:
        return len(self._rows)

    @property
    def num_frames(self) -> int:
        lengths = self._all_episodes.column("length").to_numpy()
        return int(lengths[self._rows].sum())

    @property
    def task(self) -> str | None:
        return self.tasks[0] if len(self.tasks) == 1 else None

    @property
    def success_rate(self) -> float:
        if not len(self) or "success" not in self._all_episodes.column_names:
            return float("nan")
        return float(self._all_episodes.column("success").to_numpy(zero_copy_only=False)[self._rows].mean())

    @property
    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        path = resolve_inside(self.root, schema.STATS_PATH)
        raw = check_stats(path, read_json(path))
        return {k: {s: np.asarray(v) for s, v in d.items()} for k, d in raw.items()}

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}, robot={self.robot_type!r}, task={self.task!r}, episodes={len(self)}, frames={self.num_frames})"

    def filter(
        self,
        *,
        success: bool | None = None,
        robot: str | None = None,
        task: str | None = None,
        policy: str | None = None,
        worker: str | None = None,
        episodes: Iterable[int] | None = None,
    ) -> "Dataset":
        """A view with the episodes matching every given criterion (robot/task match the whole dataset)."""
        keep = np.ones(len(self._rows), dtype=bool)
        ep = self._all_episodes
        if robot is not None and robot != self.robot_type:
            keep[:] = False
        if task is not None and task not in self.tasks:
            keep[:] = False
        for col, want in (("success", success), ("policy", policy), ("worker", worker)):
            if want is not None and col not in ep.column_names:
                raise DatasetError(self.root / schema.EPISODES_DIR, f"no {col!r} column in the episode metadata (a dataset "
                                   f"not written by flywheel): cannot filter by {col}")
            if want is not None:
                want = bool(want) if col == "success" else str(want)
                values = pc.equal(ep.column(col), pa.scalar(want, ep.schema.field(col).type))
                keep &= pc.fill_null(values, False).to_numpy(zero_copy_only=False)[self._rows]
        if episodes is not None:
            keep &= np.isin(self._rows, np.fromiter((int(i) for i in episodes), dtype=np.int64))
        return Dataset(self.root, _parent=self, _rows=self._rows[keep])

    # ---- data ---------------------------------------------------------------------------------
    def episode(self, i: int, columns: Sequence[str] | None = None, *, decode_images: bool = True) -> dict[str, np.ndarray]:
        """Episode with ``episode_index`` ``i`` as numpy arrays: scalars (T,), vectors (T, D), images (T, H, W, C).

        Video features are decoded from their mp4 (whatever ``decode_images`` says); leave them out of
        ``columns`` when only the numbers are needed."""
        cols = list(columns) if columns is not None else list(self.features)
        unknown = [c for c in cols if c not in self.features]
        if unknown:
            raise KeyError(f"unknown feature(s) {unknown}; the dataset has {list(self.features)}")
        videos = [c for c in cols if schema.is_video(self.features[c])]
        table = self.episode_table(i, [c for c in cols if c not in videos])
        out = {c: column_to_numpy(table.column(c), self.features[c], decode_images=decode_images) for c in table.column_names}
        out.update({c: self.video_frames(int(i), c) for c in videos})
        return {c: out[c] for c in cols}

    def episode_table(self, i: int, columns: Sequence[str] | None = None) -> pa.Table:
        """Episode ``i`` as the Arrow table stored in the data file (no decoding, no copy of the types).

        ``columns`` default to every column feature; a ``video`` feature is not a column (its frames are in
        ``videos/``) and is refused by name.
        """
        i = int(i)
        if not 0 <= i < len(self._ep_file):
            raise IndexError(f"episode {i} is not in {self.root} (0..{len(self._ep_file) - 1})")
        f = int(self._ep_file[i])
        rel, row = self._data_rels[f], int(self._ep_row[i])
        length = int(self._lengths[i])
        cols = list(columns) if columns is not None else schema.column_keys(self.features)
        unknown = [c for c in cols if c not in self.features]
        if unknown:
            raise KeyError(f"unknown feature(s) {unknown}; the dataset has {list(self.features)}")
        videos = [c for c in cols if not schema.is_column(self.features[c])]
        if videos:
            raise KeyError(f"feature(s) {videos} are video, stored in videos/, not in the data files "
                           "(episode() decodes them)")
        try:
            return self._rows_of(rel, self._rg_starts[f], row, length, cols)
        except Exception as err:
            raise DatasetError(self.root / rel, f"rows {row}..{row + length - 1} (episode {i}) are unreadable ({err})") from None

    def video_path(self, i: int, key: str) -> tuple[Path, float, float]:
        """Where episode ``i``'s frames of the video feature ``key`` are: (mp4 path, from and to timestamps)."""
        ep = self._all_episodes
        col = f"videos/{key}/"
        try:
            chunk, file = (int(ep.column(col + c)[i].as_py()) for c in ("chunk_index", "file_index"))
            start, end = (float(ep.column(col + c)[i].as_py()) for c in ("from_timestamp", "to_timestamp"))
        except KeyError:
            raise DatasetError(self.root / schema.EPISODES_DIR, f"no {col}* columns for the video feature {key!r}") from None
        template = self.info.get("video_path") or schema.VIDEO_PATH
        return resolve_inside(self.root, template.format(video_key=key, chunk_index=chunk, file_index=file)), start, end

    def video_frames(self, i: int, key: str) -> np.ndarray:
        """Episode ``i``'s frames of the video feature ``key``, decoded: uint8 (T, H, W, 3). Lossy (the video
        codec's), unlike every other column."""
        from .video import decode_frames

        path, start, _ = self.video_path(i, key)
        length = int(self._all_episodes.column("length")[i].as_py())
        return decode_frames(path, start, length, self.fps)

    def iter_episodes(self, columns: Sequence[str] | None = None, *, decode_images: bool = True) -> Iterator[dict[str, np.ndarray]]:
        """Episodes of this view in order, one in memory at a time."""
        for i in self._rows:
            yield self.episode(int(i), columns, decode_images=decode_images)

    __iter__ = iter_episodes

    def iter_frames(self, columns: Sequence[str] | None = None, *, decode_images: bool = True) -> Iterator[dict[str, Any]]:
        """Frames of this view in order, as dicts of numpy values (one episode read at a time)."""
        for ep in self.iter_episodes(columns, decode_images=decode_images):
            n = len(next(iter(ep.values())))
            for t in range(n):
                yield {k: v[t] for k, v in ep.items()}

    def data_files(self) -> list[Path]:
        return [self.root / rel for rel in sorted(self._data_rels[f] for f in np.unique(self._ep_file[self._rows]))]

    def close(self) -> None:
        for pf in self._files.values():
            pf.close()
        self._files.clear()

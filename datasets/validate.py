"""``flywheel dataset validate``: every check a consumer of the dataset silently relies on, with the file.

Unlike ``open`` (which stops at the first thing that prevents reading), validation keeps going and
returns every problem it finds, each tied to the file it is in: schema and types, index contiguity,
one row group per episode, statistics consistent with the data, NaN/inf values, missing, unreferenced
or truncated files. It streams the data one episode at a time and the episode metadata one file at a
time, keeping nothing per episode, so it runs on datasets of any size in flat memory.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from . import png, schema
from ._arrow import as_matrix, column_to_numpy
from ._io import DatasetError, read_json
from .paths import resolve_inside
from .reader import read_info, row_group_starts
from .staging import read_staging_footer, staging_files

_META_CHUNK, _META_FILE = "meta/episodes/chunk_index", "meta/episodes/file_index"
# What LeRobot v3.0 requires of meta/episodes; flywheel's own columns (seed, success, uuid, worker, policy,
# terminated, truncated) are an extension, checked where present and never required (LeRobot writes none).
_EPISODE_COLUMNS = (
    "episode_index", "tasks", "length", "data/chunk_index", "data/file_index", "dataset_from_index",
    "dataset_to_index", _META_CHUNK, _META_FILE,
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset, and the file it is in."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class _Report:
    def __init__(self, root: Path):
        self.root = root
        self.problems: list[Problem] = []

    def add(self, rel: str | Path, message: str) -> None:
        """``rel`` is a str relative to the dataset root, or a Path that already includes the root (as globbed).

        Telling them apart by type, not by ``is_absolute()``, is what keeps a relative dataset path from
        being printed doubled (``ds/ds/meta/...``).
        """
        self.problems.append(Problem(rel if isinstance(rel, Path) else self.root / rel, message))

    def inside(self, rel: str | Path) -> bool:
        """Whether ``rel`` stays inside the dataset folder (symlinks resolved); reports it if not."""
        try:
            resolve_inside(self.root, rel.relative_to(self.root) if isinstance(rel, Path) else rel)
        except DatasetError as err:
            self.problems.append(Problem(err.path, err.message))
            return False
        return True


def validate(path: str | os.PathLike) -> list[Problem]:
    """All problems found in the dataset at ``path`` (an empty list means it is valid)."""
    root = Path(path)
    rep = _Report(root)
    try:
        info = read_info(root)
    except DatasetError as err:
        rep.problems.append(Problem(err.path, err.message))
        if (root / schema.SPEC_PATH).exists():
            _check_staging(root, rep)
        return rep.problems
    features = info["features"]
    _check_info(info, rep)
    tasks = _check_tasks(root, info, rep)
    episodes = _check_episodes(root, info, tasks, rep)
    sums = _check_data(root, info, features, episodes, rep) if episodes is not None else None
    _check_stats(root, info, features, sums, rep)
    if episodes is not None and schema.video_keys(features):
        _check_videos(root, info, features, episodes.paths, rep)
    return rep.problems


# ---- info.json -------------------------------------------------------------------------------------
def _check_info(info: dict, rep: _Report) -> None:
    rel = schema.INFO_PATH
    for key in ("robot_type", "total_tasks", "chunks_size", "splits", "data_path"):
        if key not in info:
            rep.add(rel, f"required key {key!r} is missing")
    if not isinstance(info.get("fps"), int) or info["fps"] <= 0:
        rep.add(rel, f"fps must be a positive int, got {info.get('fps')!r}")
    for name, want in schema.INDEX_FEATURES.items():
        ft = info["features"].get(name)
        if ft is None:
            rep.add(rel, f"standard feature {name!r} is missing from features")
        elif (ft.get("dtype"), list(ft.get("shape", []))) != (want["dtype"], want["shape"]):
            rep.add(rel, f"feature {name!r} must be {want['dtype']}{want['shape']}, is {ft.get('dtype')}{ft.get('shape')}")
    if info.get("data_path") not in (None, schema.DATA_PATH):
        rep.add(rel, f"data_path is {info['data_path']!r}, expected {schema.DATA_PATH!r}")
    if info.get("video_path") not in (None, schema.VIDEO_PATH):
        rep.add(rel, f"video_path is {info['video_path']!r}, expected {schema.VIDEO_PATH!r} or null")


# ---- meta/tasks.parquet ----------------------------------------------------------------------------
def _check_tasks(root: Path, info: dict, rep: _Report) -> list[str]:
    rel = schema.TASKS_PATH
    if not rep.inside(rel):
        return []
    try:
        t = pq.read_table(root / rel, page_checksum_verification=True)
    except FileNotFoundError:
        rep.add(rel, "file is missing")
        return []
    except Exception as err:
        rep.add(rel, f"truncated or corrupt Parquet file ({err})")
        return []
    pandas_meta = json.loads((t.schema.metadata or {}).get(b"pandas", b"{}") or b"{}")
    index_cols = pandas_meta.get("index_columns", [])
    if not index_cols or not isinstance(index_cols[0], str) or index_cols[0] not in t.column_names:
        rep.add(rel, "the task string is not the pandas index (LeRobot would return the row number as the task)")
        return []
    if "task_index" not in t.column_names:
        rep.add(rel, "no task_index column")
        return []
    idx = t.column("task_index").to_pylist()
    if sorted(idx) != list(range(len(idx))):
        rep.add(rel, f"task_index is not 0..{len(idx) - 1}")
    if info.get("total_tasks") != len(idx):
        rep.add(schema.INFO_PATH, f"total_tasks is {info.get('total_tasks')} but tasks.parquet has {len(idx)}")
    by_index = dict(zip(idx, t.column(index_cols[0]).to_pylist()))
    return [by_index.get(i) for i in range(len(idx))]


# ---- meta/episodes ---------------------------------------------------------------------------------
# LeRobot reads the episodes files in path order and takes row i as episode i, and reads the data files in
# path order as one table that dataset_from_index / dataset_to_index index into. Both are checked here,
# streaming one episodes file at a time: nothing is kept per episode, only per data file.
_LIGHT_COLUMNS = ("episode_index", "length", "dataset_from_index", "dataset_to_index", "data/chunk_index", "data/file_index")


@dataclass
class _DataRun:
    """Consecutive episodes in one data file (one run per file unless the episodes are out of order)."""

    rel: str
    first: int  # episode_index of the first
    count: int
    row_group: int  # row group of the first in the file


@dataclass
class _EpisodesSummary:
    paths: list[Path]
    runs: list[_DataRun]
    per_file: dict[str, int]  # episodes per data file


def _chunk_file(path: Path) -> tuple[int, int] | None:
    try:
        return int(path.parent.name.split("-", 1)[1]), int(path.stem.split("-", 1)[1])
    except (IndexError, ValueError):
        return None


def _check_episodes(root: Path, info: dict, tasks: list[str], rep: _Report) -> _EpisodesSummary | None:
    """Check meta/episodes file by file; None when the data cannot be checked against it."""
    folder = root / schema.EPISODES_DIR
    paths = sorted(folder.glob("*/*.parquet"))
    if not paths:
        rep.add(folder, "no episode metadata files")
        return None
    runs: list[_DataRun] = []
    per_file: dict[str, int] = {}
    n = frames = 0
    prev_to = 0
    data_order_reported = False
    for p in paths:
        if not rep.inside(p):
            return None
        try:
            names = pq.read_schema(p).names
            missing = [c for c in _EPISODE_COLUMNS if c not in names]
            if missing:
                rep.add(p, f"missing column(s) {missing}")
                return None
            # the stats/* columns are read too, only to verify their pages' checksums
            t = pq.read_table(p, page_checksum_verification=True)
        except Exception as err:
            rep.add(p, f"truncated or corrupt Parquet file ({err})")
            return None
        ep = {c: t.column(c).to_numpy() for c in _LIGHT_COLUMNS}
        m = len(ep["episode_index"])
        if not np.array_equal(ep["episode_index"], np.arange(n, n + m)):
            rep.add(p, f"episode_index is not contiguous from 0 (gaps, duplicates, or episodes files out of order): "
                       f"expected {n}..{n + m - 1} here")
            return None
        where = _chunk_file(p)
        meta_at = (t.column(_META_CHUNK).to_numpy(), t.column(_META_FILE).to_numpy())
        if where is None or not ((meta_at[0] == where[0]) & (meta_at[1] == where[1])).all():
            rep.add(p, f"{_META_CHUNK} / {_META_FILE} do not name this file")
        frm, to, length = ep["dataset_from_index"], ep["dataset_to_index"], ep["length"]
        if m and frm[0] != prev_to:
            rep.add(p, f"episode {n} starts at index {frm[0]}, not {prev_to}" + (" (the end of the previous episode)" if n else ""))
        bad = np.nonzero(to - frm != length)[0]
        if bad.size:
            rep.add(p, f"dataset_to_index - dataset_from_index != length for episode(s) {(bad[:10] + n).tolist()}")
        gaps = np.nonzero(frm[1:] != to[:-1])[0]
        if gaps.size:
            rep.add(p, f"global index is not contiguous after episode(s) {(gaps[:10] + n).tolist()}")
        if (length < 1).any():
            rep.add(p, "an episode has length < 1")
        for i, names_ in enumerate(t.column("tasks").to_pylist()):
            if not names_ or any(x not in tasks for x in names_):
                rep.add(p, f"episode {n + i} names task(s) {names_} not in meta/tasks.parquet")
                break
        chunk, file = ep["data/chunk_index"], ep["data/file_index"]
        starts = np.concatenate([[0], np.nonzero((chunk[1:] != chunk[:-1]) | (file[1:] != file[:-1]))[0] + 1]) if m else []
        for j, end in zip(starts, list(starts[1:]) + [m]):  # runs of consecutive episodes in one data file
            rel = info["data_path"].format(chunk_index=int(chunk[j]), file_index=int(file[j]))
            count = int(end - j)
            if runs and runs[-1].rel == rel:  # the run goes on from the previous episodes file
                runs[-1].count += count
                per_file[rel] += count
                continue
            if runs and not data_order_reported and (rel in per_file or rel < runs[-1].rel):
                rep.add(p, f"episode {n + j} goes to {rel} after episodes in {runs[-1].rel}: data files must hold "
                           "consecutive episodes, in path order (LeRobot concatenates them in path order)")
                data_order_reported = True
            runs.append(_DataRun(rel, n + int(j), count, per_file.get(rel, 0)))
            per_file[rel] = per_file.get(rel, 0) + count
        n += m
        frames += int(length.sum())
        if m:
            prev_to = int(to[-1])
    if n != info.get("total_episodes"):
        rep.add(schema.INFO_PATH, f"total_episodes is {info.get('total_episodes')} but meta/episodes lists {n}")
    if frames != info.get("total_frames"):
        rep.add(schema.INFO_PATH, f"total_frames is {info.get('total_frames')} but episode lengths sum to {frames}")
    return _EpisodesSummary(paths, runs, per_file)


def _episode_rows(paths: list[Path]):
    """(episode_index, length, dataset_from_index, terminated, truncated) for every episode, in order,
    read again one episodes file at a time (terminated/truncated None where the flywheel columns are absent)."""
    cols = ["episode_index", "length", "dataset_from_index", "terminated", "truncated"]
    for p in paths:
        names = pq.read_schema(p).names
        t = pq.read_table(p, columns=[c for c in cols if c in names], page_checksum_verification=True)
        yield from zip(*(t.column(c).to_numpy(zero_copy_only=False).tolist() if c in names else [None] * t.num_rows
                         for c in cols))


class _Rows:
    """Episodes of one data file by row range, keeping the last row groups read: LeRobot's row groups hold
    several episodes, so reading each episode's own would read them again and again."""

    def __init__(self, pf: pq.ParquetFile):
        self.pf = pf
        self.starts = row_group_starts(pf)
        self._key: tuple[int, int] | None = None
        self._table = None

    def read(self, row: int, length: int):
        first = int(np.searchsorted(self.starts, row, side="right")) - 1
        last = int(np.searchsorted(self.starts, row + length - 1, side="right")) - 1
        if first < 0 or row + length > self.starts[-1]:
            raise ValueError(f"rows {row}..{row + length - 1} are not in the file ({self.starts[-1]} rows)")
        if self._key != (first, last):
            self._table = self.pf.read_row_groups(list(range(first, last + 1)))
            self._key = (first, last)
        return self._table.slice(row - int(self.starts[first]), length)


# ---- data files ------------------------------------------------------------------------------------
def _check_data(root: Path, info: dict, features: dict, eps: _EpisodesSummary, rep: _Report) -> dict[str, Any]:
    want_schema = schema.data_schema(features)
    fps = info.get("fps") or 1
    referenced = set(eps.per_file)
    present = {p.relative_to(root).as_posix() for p in (root / schema.DATA_DIR).glob("*/*.parquet")}
    for rel in sorted(present - referenced):
        rep.add(rel, "data file is not referenced by any episode in meta/episodes")
    numeric = schema.numeric_keys(features)
    sums = {k: _Sums() for k in numeric}
    n_tasks = info.get("total_tasks") or 0
    rows = _episode_rows(eps.paths)
    flywheel = (root / schema.FLYWHEEL_META_PATH).exists()
    file_start: dict[str, int] = {}  # global index of each data file's first row
    reported: set[str] = set()  # a file's own problems are reported once, even if several runs point to it
    for run in eps.runs:
        pf = _open_data_file(root, run, eps.per_file[run.rel], present, want_schema, rep if run.rel not in reported else _Report(root),
                             one_row_group_per_episode=flywheel)
        reported.add(run.rel)
        reader = _Rows(pf) if pf is not None else None
        for _ in range(run.count):
            ep = next(rows)
            if reader is None:
                continue
            start = file_start.setdefault(run.rel, int(ep[2]))
            try:
                table = reader.read(int(ep[2]) - start, int(ep[1]))
            except Exception as err:
                rep.add(run.rel, f"rows of episode {ep[0]} are unreadable ({err})")
                continue
            _check_episode_rows(run.rel, ep, table, features, fps, n_tasks, sums, rep)
        if pf is not None:
            pf.close()
    return sums


def _open_data_file(root: Path, run: _DataRun, n_episodes: int, present: set[str], want_schema, rep: _Report,
                    one_row_group_per_episode: bool = True) -> pq.ParquetFile | None:
    """The data file of ``run``, checked: schema as info.json says (LeRobot's ``list`` for a vector is accepted),
    and - for a flywheel dataset, whose readers rely on it - one row group per episode."""
    rel = run.rel
    if not rep.inside(rel):
        return None
    if rel not in present:
        rep.add(rel, f"data file is missing (episodes {run.first}..{run.first + run.count - 1} point to it)")
        return None
    try:  # page checksums are verified as each row group is read (a flipped bit in a data page is reported)
        pf = pq.ParquetFile(root / rel, page_checksum_verification=True)
    except Exception as err:
        rep.add(rel, f"truncated or corrupt Parquet file ({err})")
        return None
    got = pf.schema_arrow.remove_metadata()
    if not got.equals(want_schema.remove_metadata()):
        bad = False
        for f in want_schema:
            if f.name not in got.names:
                rep.add(rel, f"column {f.name!r} is missing")
                bad = True
            elif not schema.compatible_type(got.field(f.name).type, f.type):
                rep.add(rel, f"column {f.name!r} is {got.field(f.name).type}, info.json says {f.type}")
                bad = True
        extra = [c for c in got.names if c not in want_schema.names]
        if extra:
            rep.add(rel, f"column(s) {extra} are not in info.json features")
        if bad or extra:
            pf.close()
            return None
    if one_row_group_per_episode and pf.metadata.num_row_groups != n_episodes:
        rep.add(rel, f"{pf.metadata.num_row_groups} row groups for {n_episodes} episodes (expected one row group per episode)")
        pf.close()
        return None
    return pf


class _Sums:
    def __init__(self) -> None:
        self.n = 0
        self.total: np.ndarray | float = 0.0
        self.min: np.ndarray | None = None
        self.max: np.ndarray | None = None

    def add(self, x: np.ndarray) -> None:
        self.n += x.shape[0]
        self.total = self.total + x.sum(axis=0)
        lo, hi = np.nanmin(x, axis=0) if x.size else None, np.nanmax(x, axis=0) if x.size else None
        self.min = lo if self.min is None else np.fmin(self.min, lo)
        self.max = hi if self.max is None else np.fmax(self.max, hi)


def _check_episode_rows(rel, ep, table, features, fps, n_tasks, sums, rep: _Report) -> None:
    i, length, start, terminated, truncated = ep
    t = table.num_rows
    where = f"episode {i} (row group)"
    if t != length:
        rep.add(rel, f"{where} has {t} rows, meta/episodes says {length}")
        return
    values = {}
    for name in schema.numeric_keys(features):
        try:
            values[name] = column_to_numpy(table.column(name), features[name])
        except ValueError as err:
            rep.add(rel, f"{where}: {name}: {err}")
            return
    if not (values["episode_index"] == i).all():
        rep.add(rel, f"{where}: episode_index column is not {i} throughout")
    start = int(start)
    if not np.array_equal(values["index"], np.arange(start, start + t)):
        rep.add(rel, f"{where}: index is not {start}..{start + t - 1}")
    if not np.array_equal(values["frame_index"], np.arange(t)):
        rep.add(rel, f"{where}: frame_index is not 0..{t - 1}")
    if not np.allclose(values["timestamp"], np.arange(t) / fps, atol=1e-4):
        rep.add(rel, f"{where}: timestamp is not frame_index / fps")
    if ((values["task_index"] < 0) | (values["task_index"] >= n_tasks)).any():
        rep.add(rel, f"{where}: task_index outside 0..{n_tasks - 1}")
    if "next.done" in values and (bool(terminated) or bool(truncated)) and not values["next.done"][-1]:
        rep.add(rel, f"{where}: episode ended (terminated/truncated) but next.done is False on its last frame")
    for name, v in values.items():
        x = as_matrix(v)
        bad = ~np.isfinite(x)
        if bad.any():
            rep.add(rel, f"{where}: {name} has {int(bad.sum())} NaN/inf value(s)")
        sums[name].add(x)
    for name in schema.image_keys(features):
        h, w, c = features[name]["shape"]
        for f, data in enumerate(table.column(name).combine_chunks().field("bytes").to_pylist()):
            try:
                shape = png.header(data or b"")
            except ValueError as err:
                rep.add(rel, f"{where}: {name} frame {f}: {err}")
                break
            if shape != (h, w, c):
                rep.add(rel, f"{where}: {name} frame {f} is {shape}, info.json says {(h, w, c)}")
                break


# ---- videos/<key>/chunk-XXX/file-YYY.mp4 -----------------------------------------------------------
def _check_videos(root: Path, info: dict, features: dict, paths: list[Path], rep: _Report) -> None:
    """Per video feature: each episode's span is its length / fps, spans follow each other in each file, every
    referenced file exists and decodes at its first and last episode frame, and no file is unreferenced."""
    from .video import check_video_file

    fps = info.get("fps") or 1
    template = info.get("video_path") or schema.VIDEO_PATH
    for key in schema.video_keys(features):
        col = f"videos/{key}/"
        spans: dict[str, list[tuple[float, float]]] = {}
        for p in paths:
            try:
                t = pq.read_table(p, columns=["episode_index", "length"] + [col + c for c in
                                  ("chunk_index", "file_index", "from_timestamp", "to_timestamp")])
            except Exception as err:
                rep.add(p, f"no readable {col}* columns for the video feature {key!r} ({err})")
                return
            for i, length, chunk, file, start, end in zip(*(t.column(c).to_pylist() for c in t.column_names)):
                if abs((end - start) * fps - length) >= 0.5:
                    rep.add(p, f"episode {i}: {key} spans {start:.3f}-{end:.3f} s, not its {length} frames at {fps} fps")
                rel = template.format(video_key=key, chunk_index=chunk, file_index=file)
                prev = spans.setdefault(rel, [])
                if prev and abs(prev[-1][1] - start) * fps >= 0.5:
                    rep.add(p, f"episode {i}: {key} starts at {start:.3f} s in {rel}, the previous episode ends at {prev[-1][1]:.3f} s")
                prev.append((start, end))
        present = {q.relative_to(root).as_posix() for q in (root / schema.VIDEOS_DIR / key).glob("*/*.mp4")}
        for rel in sorted(present - set(spans)):
            rep.add(rel, "video file is not referenced by any episode in meta/episodes")
        for rel, file_spans in spans.items():
            if not rep.inside(rel):
                continue
            if rel not in present:
                rep.add(rel, f"video file is missing ({len(file_spans)} episodes point to it)")
                continue
            for message in check_video_file(root / rel, fps, file_spans, features[key]):
                rep.add(rel, message)


# ---- meta/stats.json -------------------------------------------------------------------------------
def _check_stats(root: Path, info: dict, features: dict, sums: dict | None, rep: _Report) -> None:
    rel = schema.STATS_PATH
    if not rep.inside(rel):
        return
    try:
        stats = read_json(root / rel)
        if not isinstance(stats, dict):
            raise DatasetError(root / rel, "not a JSON object")
    except DatasetError as err:
        rep.add(rel, err.message)
        return
    total = info.get("total_frames")
    for name, ft in features.items():
        st = stats.get(name)
        if st is None:
            rep.add(rel, f"no statistics for feature {name!r}")
            continue
        missing = [k for k in schema.STAT_KEYS if k not in st]
        if missing:
            rep.add(rel, f"{name}: missing {missing}")
            continue
        arrs = _stat_arrays(name, st, rep)
        if arrs is None:
            continue
        shape = schema.stat_shape(ft)
        wrong = [k for k in schema.STAT_KEYS if k != "count" and arrs[k].shape != shape]
        if wrong:
            rep.add(rel, f"{name}: {wrong} should have shape {list(shape)}")
            continue
        if arrs["count"].shape != (1,) or arrs["count"][0] != total:
            rep.add(rel, f"{name}: count is {st['count']}, expected [{total}] (total_frames)")
        chain = ["min"] + list(schema.QUANTILE_KEYS) + ["max"]
        tol = 1e-6 * (1 + np.abs(arrs["max"]) + np.abs(arrs["min"]))
        if any((arrs[a] > arrs[b] + tol).any() for a, b in zip(chain, chain[1:])):
            rep.add(rel, f"{name}: quantiles are not ordered min <= q01 <= ... <= q99 <= max")
        if ((arrs["mean"] < arrs["min"] - tol) | (arrs["mean"] > arrs["max"] + tol)).any():
            rep.add(rel, f"{name}: mean outside [min, max]")
        if sums is not None and name in sums and sums[name].n:
            s = sums[name]
            mean = np.asarray(s.total, dtype=np.float64) / s.n
            if not (np.allclose(arrs["min"], s.min, rtol=1e-6, atol=1e-9) and np.allclose(arrs["max"], s.max, rtol=1e-6, atol=1e-9)):
                rep.add(rel, f"{name}: min/max do not match the data")
            elif not np.allclose(arrs["mean"], mean, rtol=1e-5, atol=1e-6):
                rep.add(rel, f"{name}: mean does not match the data")


def _stat_arrays(name: str, st: Any, rep: _Report) -> dict[str, np.ndarray] | None:
    """One feature's statistics as float64 arrays; each wrong type or NaN/inf reported with its field."""
    rel = schema.STATS_PATH
    if not isinstance(st, dict):
        rep.add(rel, f"{name}: statistics must be an object, got {type(st).__name__}")
        return None
    arrs = {}
    for k in schema.STAT_KEYS:
        try:
            arrs[k] = np.asarray(st[k], dtype=np.float64)
        except (TypeError, ValueError):
            rep.add(rel, f"{name}.{k} must be a list of numbers, got {st[k]!r:.60}")
            continue
        if not np.isfinite(arrs[k]).all():
            rep.add(rel, f"{name}.{k} holds NaN/inf: every statistic must be finite")
            arrs.pop(k)
    return arrs if len(arrs) == len(schema.STAT_KEYS) else None


# ---- unfinished datasets ---------------------------------------------------------------------------
def _check_staging(root: Path, rep: _Report) -> None:
    for path in staging_files(root):
        try:
            read_staging_footer(path)
        except DatasetError as err:
            rep.problems.append(Problem(err.path, err.message))

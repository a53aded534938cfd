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
4. write ``meta/tasks.parquet``, ``meta/stats.json``, ``meta/flywheel.json``, the dataset card ``README.md``
   (``card.py``) and **``meta/info.json`` last** - a folder without info.json is unfinished, never read as complete;
5. remove the staging area.

Memory is flat: one episode's rows, one batch of metadata rows, the fixed-size statistics accumulators,
the footers of the files being written (bounded by the per-file episode limits) and of a few open staging
files. The only thing that grows with the number of episodes is the compact index of step 1.
Data files depend only on the episodes (no clock, no uuid, no worker name), so staging the same episodes
twice, in any split across workers and files, yields byte-identical data files.
"""
from __future__ import annotations

import math
import os
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pyarrow as pa

from . import schema
from ._arrow import as_matrix, column_to_numpy
from ._io import DatasetError, environment_error, read_json, remove_tmp_files, write_json_atomic
from ._outputs import DataFiles, EpisodeFiles, write_tasks
from .card import write_card
from ._staged import Scan, StagingReader, choose_episodes, live_files, scan_staging_index
from .completeness import check_complete, expected_episodes
from .paths import check_writable_layout
from .staging import read_spec
from .video import VideoFiles, segment_path
from .stats import ImageAccumulator, NumericAccumulator, episode_stats, image_stats, to_json


def finalize(
    root: str | os.PathLike,
    *,
    data_file_size_mb: float = schema.DEFAULT_DATA_FILE_SIZE_MB,
    chunks_size: int = schema.DEFAULT_CHUNK_SIZE,
    max_episodes_per_data_file: int = schema.DEFAULT_EPISODES_PER_DATA_FILE,
    max_episodes_per_meta_file: int = schema.DEFAULT_EPISODES_PER_META_FILE,
    keys: Iterable[int] | None = None,
    keep_staging: bool = False,
    allow_partial: bool = False,
) -> dict[str, Any]:
    """Finish the dataset at ``root`` and return the content of its ``meta/info.json``.

    Idempotent: on a finished dataset it only removes leftover staging files and returns info.json.
    A data file is closed, and the next one started, once it passes ``data_file_size_mb`` or holds
    ``max_episodes_per_data_file`` episodes (row groups); a ``meta/episodes`` file once it passes the same
    size or holds ``max_episodes_per_meta_file`` rows. ``chunks_size`` is the number of files per
    ``chunk-XXX`` folder. ``keys`` keeps only those staged episodes (e.g. the first N successes of a
    success-only run); every key given must be staged.

    A short run (fewer episodes than ``meta/flywheel.json`` says were requested, see ``completeness``)
    raises IncompleteDataset, naming ``--resume``, unless ``allow_partial``; then ``meta/flywheel.json``
    records ``"partial": true`` with the requested and kept counts.

    Takes no lock itself: the caller holds the dataset's ``DatasetLock`` (the collector for its whole run,
    ``flywheel dataset finalize`` around this call). Any failure - bad input found before writing, or the
    environment (disk full, read-only) while writing - leaves no ``info.json`` and the staging area intact,
    so the dataset stays resumable; environment failures raise DatasetIOError (one line, path, what to do).
    """
    root = Path(root)
    info_path = root / schema.INFO_PATH
    if info_path.exists():
        info = read_json(info_path)
        if not keep_staging:
            shutil.rmtree(root / schema.STAGING_DIR, ignore_errors=True)
        return info
    if not data_file_size_mb > 0 or not math.isfinite(data_file_size_mb) or chunks_size < 1:
        raise ValueError("data_file_size_mb must be a finite number > 0 and chunks_size >= 1")
    for name, value in (("max_episodes_per_data_file", max_episodes_per_data_file),
                        ("max_episodes_per_meta_file", max_episodes_per_meta_file)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    try:
        spec = read_spec(root)
        check_writable_layout(root)  # before anything is removed or written: never through a symlink
        meta_path = root / schema.FLYWHEEL_META_PATH
        meta = read_json(meta_path, allow_inf=True) if meta_path.exists() else {}
        if not isinstance(meta, dict):
            raise DatasetError(meta_path, "not a JSON object")
        features: dict[str, dict[str, Any]] = spec["features"]
        wanted = None if keys is None else np.unique(np.fromiter((int(k) for k in keys), dtype=np.int64))
        scan = scan_staging_index(root, features, wanted)
        idx = choose_episodes(root, scan, wanted)
        completeness = check_complete(root, len(idx.key), expected_episodes(meta, spec), allow_partial)
    except OSError as err:
        raise environment_error(err, root, "finalize", "nothing was changed") from None
    try:
        return _write(root, spec, features, scan, idx, meta, completeness, data_file_size_mb, chunks_size,
                      int(max_episodes_per_data_file), int(max_episodes_per_meta_file), keep_staging)
    except BaseException as err:
        if not info_path.exists():  # undo what this attempt wrote (frees the space a full disk needs); staging stays
            try:
                _clear_outputs(root)
            except OSError:
                pass
        if isinstance(err, OSError):
            raise environment_error(err, root, "finalize", "the staging area is intact and the dataset resumable "
                                                           "(no meta/info.json was written)") from None
        raise


def _write(root: Path, spec: dict, features: dict, scan: Scan, idx, meta: dict, completeness: dict,
           data_file_size_mb: float, chunks_size: int, max_per_data: int, max_per_meta: int,
           keep_staging: bool) -> dict[str, Any]:
    """Steps 2-5 of the module docstring (everything that writes)."""
    _clear_outputs(root)
    remove_tmp_files(root / schema.STAGING_DIR)

    fps = int(spec["fps"])
    n_episodes = len(idx.key)
    total_frames = int(idx.length.sum())
    numeric, image_acc = _accumulators(features, scan, int(idx.length.max()), n_episodes, fps, total_frames)
    del scan  # the unsorted index (duplicates included) is no longer needed
    dschema = schema.data_schema(features)
    data = DataFiles(root, dschema, data_file_size_mb, chunks_size, max_per_data)
    videos = {k: VideoFiles(root, k, fps, schema.DEFAULT_VIDEO_FILE_SIZE_MB, chunks_size) for k in schema.video_keys(features)}
    ep_files = EpisodeFiles(root, features, numeric, data_file_size_mb, chunks_size, max_per_meta)
    summary = _Summary()
    reader = StagingReader(idx.files, live_files(idx.file))
    index = 0
    try:
        for ep_index in range(n_episodes):
            length = int(idx.length[ep_index])
            file, key = int(idx.file[ep_index]), int(idx.key[ep_index])
            staged, entry = reader.read(file, int(idx.rg[ep_index]), length, key)
            table = _data_table(staged, dschema, fps, ep_index, index)
            chunk_index, file_index = data.write(table)
            num_st, img_st = _episode_stats(table, features, entry, numeric, image_acc, idx.files[file], key)
            row = _episode_row(entry, ep_index, index, length, chunk_index, file_index, spec["task"])
            for k, out in videos.items():  # remuxed, not re-encoded: the packets the worker encoded
                v_chunk, v_file, start, end = out.append(segment_path(idx.files[file], k), int(entry["video"][k]), length)
                row.update({f"videos/{k}/chunk_index": v_chunk, f"videos/{k}/file_index": v_file,
                            f"videos/{k}/from_timestamp": start, f"videos/{k}/to_timestamp": end})
            ep_files.add(row, num_st, img_st)
            summary.add(entry, length)
            index += length
    finally:
        reader.close()
        data.close()
        ep_files.close()
        for out in videos.values():
            out.close()

    write_tasks(root, [spec["task"]])
    stats = {k: to_json(v) for k, v in numeric.split(numeric.acc.result()).items()}
    stats.update({k: to_json(acc.result()) for k, acc in image_acc.items()})
    stats = {k: stats[k] for k in features}  # feature order
    write_json_atomic(root / schema.STATS_PATH, stats)
    _update_flywheel_meta(root, meta, summary, completeness)
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
        "video_path": schema.VIDEO_PATH if videos else None,
        "features": features,
    }
    write_card(root, info, [spec["task"]])  # README.md for the Hub and datasets.load_dataset (never a hand-written one)
    write_json_atomic(root / schema.INFO_PATH, info)  # last: from here on the dataset is complete
    if not keep_staging:
        shutil.rmtree(root / schema.STAGING_DIR, ignore_errors=True)
    return info


def _clear_outputs(root: Path) -> None:
    """Remove what an interrupted finalize may have left (never the staging area)."""
    shutil.rmtree(root / schema.DATA_DIR, ignore_errors=True)
    shutil.rmtree(root / schema.EPISODES_DIR, ignore_errors=True)
    shutil.rmtree(root / schema.VIDEOS_DIR, ignore_errors=True)
    for rel in (schema.STATS_PATH, schema.TASKS_PATH):
        (root / rel).unlink(missing_ok=True)
    remove_tmp_files(root / "meta")


def _accumulators(features, scan: Scan, max_len: int, n_episodes: int, fps: int, total_frames: int):
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
    images = {n: ImageAccumulator(int(features[n]["shape"][2])) for n in schema.visual_keys(features)}
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


def _episode_stats(table: pa.Table, features, entry: dict[str, Any], numeric: _Numeric, image_acc, path: Path, key: int):
    """Per-episode statistics, folded into the dataset accumulators: the numeric ones over all numeric
    features' concatenated dimensions (split per feature only when written), the image ones per feature.

    A NaN/inf value is refused here, naming the staging file, the episode and the feature: it would make
    ``stats.json`` non-finite, and every consumer (normalisation, training) would silently inherit it.
    """
    values = numeric.matrix(table)
    finite = np.isfinite(values)
    if not finite.all():
        bad = ~finite.all(axis=0)
        name = next(n for n, sl in numeric.slices.items() if bad[sl].any())
        raise DatasetError(path, f"episode key {key}: {name} has {int((~finite[:, numeric.slices[name]]).sum())} "
                                 "NaN/inf value(s), which would make meta/stats.json non-finite; collect that episode "
                                 "again or finalize without it (finalize(root, keys=[...]))")
    st = episode_stats(values)
    numeric.acc.add(values, st)
    images = {}
    for name in schema.visual_keys(features):
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
        "meta/episodes/chunk_index": None,  # set by EpisodeFiles: the file this row lands in
        "meta/episodes/file_index": None,
        "seed": int(m["seed"]),
        "success": bool(m["success"]),
        "uuid": str(m["uuid"]),
        "worker": str(m["worker"]),
        "policy": str(m["policy"]),
        "terminated": bool(m["terminated"]),
        "truncated": bool(m["truncated"]),
    }


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


def _update_flywheel_meta(root: Path, meta: dict[str, Any], summary: _Summary, completeness: dict[str, Any]) -> None:
    """meta/flywheel.json as read before writing, plus the dataset figures and (if known) whether it is partial."""
    path = root / schema.FLYWHEEL_META_PATH
    meta = dict(meta) or {"flywheel_format": schema.FLYWHEEL_FORMAT}
    meta.update(completeness)
    n = summary.episodes
    meta["dataset"] = {
        "episodes": n,
        "frames": summary.frames,
        "successes": summary.successes,
        "success_rate": summary.successes / n if n else 0.0,
        "seeds": [summary.seed_min, summary.seed_max],
    }
    meta["workers"] = {w: dict(v) for w, v in sorted(summary.workers.items())}
    write_json_atomic(path, meta, allow_inf=True)

"""Writing a new dataset from episodes of finished ones: the engine behind ``merge``, ``split`` and ``filter``.

Why one engine: the three tools differ only in *which* episodes go where; how they are written must be the
same and must be exactly what the finaliser writes, so the output is a LeRobotDataset v3.0 that ``validate``,
``open`` and LeRobot read like any other. So this module reuses the finaliser's writers (``_outputs``: data and
``meta/episodes`` files rolled over by size and count, ``meta/tasks.parquet``) and statistics (``stats``), and
only decides the new indices:

- episodes are streamed one at a time from their source (``Dataset.episode_table``: the stored Arrow columns,
  images left as PNG bytes), given contiguous ``episode_index`` and ``index`` from 0, their ``task_index``
  remapped into the merged ``meta/tasks.parquet`` (every instruction of every source, first seen first);
- statistics are recomputed while streaming, exactly as the finaliser computes them (numeric features
  through one fixed-edge histogram whose edges come from the sources' ``stats.json`` min/max; images from
  per-channel pixel histograms of the decoded frames), so they are those of the *selected* episodes;
- ``meta/flywheel.json`` records the operation and, per source, its path and which of its episodes went
  where (as ranges), and carries over the robot/task/config records the sources agree on;
- the output folder must not exist: it is created, locked (``DatasetLock``) while written, ``info.json``
  written last, and removed whole if anything fails, so a source is never touched and nothing is written over.

Memory is flat: one episode's rows, one batch of episode metadata rows, the fixed-size accumulators, and the
sources' episode tables without their per-episode statistics (what ``open`` holds anyway).
"""
from __future__ import annotations

import datetime
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import schema
from ._io import DatasetError, environment_error, write_json_atomic
from ._outputs import DataFiles, EpisodeFiles, write_tasks
from .card import write_card
from .finalize import _Numeric
from ._selection import CANONICAL_ALIASES, CANONICAL_ROBOT_TYPE, Selection, check_new_output, output_features  # noqa: F401
from .lock import DatasetLock
from .reader import Dataset
from .stats import ImageAccumulator, NumericAccumulator, episode_stats, image_stats, to_json

# meta/episodes columns flywheel adds to LeRobot's: copied from the source where it has them, else null
_FLYWHEEL_EPISODE_COLUMNS = ("seed", "success", "uuid", "worker", "policy", "terminated", "truncated")


def write_dataset(out: str | os.PathLike, selections: Sequence[Selection], *, operation: dict[str, Any],
                  canonical: bool = False, data_file_size_mb: float = schema.DEFAULT_DATA_FILE_SIZE_MB,
                  chunks_size: int = schema.DEFAULT_CHUNK_SIZE,
                  max_episodes_per_file: int = schema.DEFAULT_EPISODES_PER_DATA_FILE) -> dict[str, Any]:
    """Write the selected episodes as a new dataset at ``out`` (which must not exist); returns its info.json."""
    sources = [s.dataset for s in selections]
    out = check_new_output(out, sources)
    features, robot_type = output_features(sources, canonical)
    if not sum(len(s.episodes) for s in selections):
        raise DatasetError(out, "no episode selected: refusing to write an empty dataset")
    created = not out.parent.exists()
    try:
        with DatasetLock(out, f"flywheel dataset {operation['name']}", create=True):
            return _write(out, selections, features, robot_type, operation, data_file_size_mb, chunks_size,
                          max_episodes_per_file, CANONICAL_ALIASES if canonical else {})
    except BaseException as err:
        shutil.rmtree(out, ignore_errors=True)  # ours alone: it did not exist before
        if created:
            try:
                out.parent.rmdir()
            except OSError:
                pass
        if isinstance(err, OSError):
            raise environment_error(err, out, f"write the {operation['name']} output", "nothing was kept") from None
        raise


def _write(out: Path, selections: Sequence[Selection], features: dict, robot_type: str | None, operation: dict,
           size_mb: float, chunks_size: int, max_per_file: int, aliases: dict[str, str]) -> dict[str, Any]:
    fps = selections[0].dataset.fps
    tasks = _tasks(selections)
    lengths = [s.dataset._lengths[s.episodes] for s in selections]
    n_episodes = sum(len(x) for x in lengths)
    total_frames = int(sum(int(x.sum()) for x in lengths))
    max_len = max(int(x.max()) for x in lengths if len(x))
    numeric = _Numeric(features, NumericAccumulator(*_edges(selections, features, fps, max_len, n_episodes, total_frames,
                                                                   len(tasks), aliases)))
    images = {n: ImageAccumulator(int(features[n]["shape"][2])) for n in schema.image_keys(features)}
    dschema = schema.data_schema(features)
    data = DataFiles(out, dschema, size_mb, chunks_size, max_per_file)
    ep_files = EpisodeFiles(out, features, numeric, size_mb, chunks_size, max_per_file)
    provenance, figures = [], _Figures()
    index = ep_index = 0
    try:
        for s in selections:
            ds = s.dataset
            remap = np.array([tasks.index(t) if t in tasks else -1 for t in ds.tasks], dtype=np.int64)
            meta = ds._all_episodes
            # Arrow columns, read one value per episode written: no Python list per source episode
            extra = {c: meta.column(c) for c in _FLYWHEEL_EPISODE_COLUMNS if c in meta.column_names}
            ep_tasks = meta.column("tasks") if "tasks" in meta.column_names else None
            start = ep_index
            for src in s.episodes:
                src = int(src)
                table = _episode_table(ds, src, dschema, remap, fps, ep_index, index, aliases)
                length = table.num_rows
                chunk, file = data.write(table)
                num_st, img_st = _stats(table, features, numeric, images)
                row = {"episode_index": ep_index, "tasks": ep_tasks[src].as_py() if ep_tasks is not None else
                       sorted({tasks[i] for i in table.column("task_index").to_pylist()}), "length": length, "data/chunk_index": chunk,
                       "data/file_index": file, "dataset_from_index": index, "dataset_to_index": index + length,
                       "meta/episodes/chunk_index": None, "meta/episodes/file_index": None}
                row.update({c: extra[c][src].as_py() if c in extra else None for c in _FLYWHEEL_EPISODE_COLUMNS})
                ep_files.add(row, num_st, img_st)
                figures.add(row, length)
                index += length
                ep_index += 1
            provenance.append(_source_record(ds, s.episodes, start, ep_index))
    finally:
        data.close()
        ep_files.close()
    write_tasks(out, tasks)
    stats = {k: to_json(v) for k, v in numeric.split(numeric.acc.result()).items()}
    stats.update({k: to_json(acc.result()) for k, acc in images.items()})
    write_json_atomic(out / schema.STATS_PATH, {k: stats[k] for k in schema.column_keys(features)})
    write_json_atomic(out / schema.FLYWHEEL_META_PATH, _flywheel_meta(selections, operation, provenance, figures),
                      allow_inf=True)
    info = {
        "codebase_version": schema.CODEBASE_VERSION,
        "robot_type": robot_type,
        "total_episodes": n_episodes,
        "total_frames": total_frames,
        "total_tasks": len(tasks),
        "chunks_size": chunks_size,
        "data_files_size_in_mb": size_mb,
        "video_files_size_in_mb": schema.DEFAULT_VIDEO_FILE_SIZE_MB,
        "fps": fps,
        "splits": {"train": f"0:{n_episodes}"},
        "data_path": schema.DATA_PATH,
        "video_path": None,
        "features": features,
    }
    write_card(out, info, tasks)
    write_json_atomic(out / schema.INFO_PATH, info)  # last: from here on the dataset is complete
    return info


def _tasks(selections: Sequence[Selection]) -> list[str]:
    """The instructions of the selected episodes (their ``tasks`` in meta/episodes), first seen first: a filtered
    task leaves no unused instruction behind. Without that column, every instruction of the sources."""
    tasks: dict[str, None] = {}
    for s in selections:
        ep = s.dataset._all_episodes
        if "tasks" not in ep.column_names:
            tasks.update(dict.fromkeys(s.dataset.tasks))
            continue
        picked = ep.column("tasks").take(pa.array(s.episodes, pa.int64())).combine_chunks()
        tasks.update(dict.fromkeys(pc.unique(picked.flatten()).to_pylist()))  # unique keeps first-seen order
    return list(tasks)


def _edges(selections, features, fps, max_len, n_episodes, total_frames, n_tasks, aliases):
    """Histogram edges of every numeric dimension: the sources' stats.json min/max (a superset of the selection's
    range, so every value falls inside), the index columns' ranges known from the lengths."""
    known = {"timestamp": (0.0, (max_len - 1) / fps), "frame_index": (0.0, float(max_len - 1)),
             "episode_index": (0.0, float(n_episodes - 1)), "index": (0.0, float(total_frames - 1)),
             "task_index": (0.0, float(n_tasks - 1))}
    stats = [s.dataset.stats for s in selections]
    lo: list[float | None] = []
    hi: list[float | None] = []
    for name in schema.numeric_keys(features):
        width = int(features[name]["shape"][0])
        if name in known:
            lo += [known[name][0]] * width
            hi += [known[name][1]] * width
            continue
        mins, maxs = [], []
        name = aliases.get(name, name)
        for s, st in zip(selections, stats):
            if name not in st or "min" not in st[name] or "max" not in st[name]:
                raise DatasetError(s.dataset.root / schema.STATS_PATH, f"no min/max for feature {name!r}")
            mins.append(np.asarray(st[name]["min"], np.float64).reshape(-1))
            maxs.append(np.asarray(st[name]["max"], np.float64).reshape(-1))
        lo += np.min(mins, axis=0).tolist()
        hi += np.max(maxs, axis=0).tolist()
    return lo, hi


def _episode_table(ds: Dataset, src: int, dschema: pa.Schema, remap: np.ndarray, fps: int, ep_index: int, start: int,
                   aliases: dict[str, str]) -> pa.Table:
    """Source episode ``src`` with the output's columns and types and its new index columns (an output column
    named in ``aliases`` is read from the source column it names)."""
    cols = {aliases.get(f.name, f.name) for f in dschema if f.name not in ("timestamp", "frame_index", "episode_index", "index")}
    table = ds.episode_table(src, sorted(cols))
    t = table.num_rows
    frame = np.arange(t, dtype=np.int64)
    new = {
        "timestamp": pa.array((frame / fps).astype(np.float32)),
        "frame_index": pa.array(frame),
        "episode_index": pa.array(np.full(t, ep_index, dtype=np.int64)),
        "index": pa.array(frame + start),
        "task_index": pa.array(remap[table.column("task_index").to_numpy()]),
    }
    if (new["task_index"].to_numpy() < 0).any():
        raise DatasetError(ds.root / schema.EPISODES_DIR, f"episode {src} has frames of a task its 'tasks' entry does "
                                                          "not list; run `flywheel dataset validate` on it")
    arrays = []
    for f in dschema:
        col = new[f.name] if f.name in new else table.column(aliases.get(f.name, f.name)).combine_chunks()
        arrays.append(col if col.type == f.type else col.cast(f.type))
    return pa.Table.from_arrays(arrays, schema=dschema)


def _stats(table: pa.Table, features, numeric: _Numeric, images: dict[str, ImageAccumulator]):
    values = numeric.matrix(table)
    st = episode_stats(values)
    numeric.acc.add(values, st)
    img = {}
    for name, acc in images.items():
        from ._arrow import column_to_numpy

        frames = column_to_numpy(table.column(name), features[name])
        c = frames.shape[-1]
        hist = np.stack([np.bincount(frames[..., k].reshape(-1), minlength=256) for k in range(c)])
        img[name] = image_stats(hist, len(frames))
        acc.add(hist, len(frames))
    return st, img


def ranges(indices: np.ndarray) -> list[list[int]]:
    """Sorted-or-not indices as [start, stop) runs of consecutive values, in order: compact provenance."""
    out: list[list[int]] = []
    for i in np.asarray(indices, dtype=np.int64).tolist():
        if out and out[-1][1] == i:
            out[-1][1] = i + 1
        else:
            out.append([i, i + 1])
    return out


def _source_record(ds: Dataset, episodes: np.ndarray, start: int, stop: int) -> dict[str, Any]:
    return {"path": str(ds.root.resolve()), "robot_type": ds.robot_type, "total_episodes": int(len(ds._all_episodes)),
            "episodes": ranges(episodes), "output_episodes": [start, stop]}


class _Figures:
    def __init__(self) -> None:
        self.episodes = self.frames = self.successes = 0
        self.seeds: list[int] = []

    def add(self, row: dict, length: int) -> None:
        self.episodes += 1
        self.frames += length
        self.successes += int(bool(row.get("success")))
        if row.get("seed") is not None:
            self.seeds = [min(self.seeds[0], row["seed"]), max(self.seeds[1], row["seed"])] if self.seeds else [row["seed"]] * 2


def _flywheel_meta(selections, operation: dict, provenance: list, figures: _Figures) -> dict[str, Any]:
    """meta/flywheel.json of the output: what the sources agree on (robot, task, config), the operation, where
    every episode came from, and the figures of what was kept."""
    metas = [s.dataset.flywheel or {} for s in selections]
    meta: dict[str, Any] = {"flywheel_format": schema.FLYWHEEL_FORMAT}
    for key in ("robot", "task", "config"):
        values = [m.get(key) for m in metas]
        if values[0] is not None and all(v == values[0] for v in values):
            meta[key] = values[0]
    meta["operation"] = {**operation, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    meta["sources"] = provenance
    meta["dataset"] = {"episodes": figures.episodes, "frames": figures.frames, "successes": figures.successes,
                       "success_rate": figures.successes / figures.episodes if figures.episodes else 0.0,
                       "seeds": figures.seeds or [None, None]}
    return meta

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from . import schema
from ._io import DatasetError, environment_error, write_json_atomic
from ._outputs import DataFiles, EpisodeFiles, write_tasks
from .card import write_card
from .finalize import _Numeric
from .lock import DatasetLock
from .reader import Dataset
from .stats import ImageAccumulator, NumericAccumulator, episode_stats, image_stats, to_json

# meta/episodes columns flywheel adds to LeRobot's: copied from the source where it has them, else null
_FLYWHEEL_EPISODE_COLUMNS = ("seed", "success", "uuid", "worker", "policy", "terminated", "truncated")
CANONICAL_ROBOT_TYPE = "canonical_ee"  # robot_type of a --canonical merge of different robots
# A --canonical output also stores action.ee as ``action``: LeRobot's policies train on ``action`` (lerobot-check
# refuses a dataset without it), and the sources' own ``action`` (joints of different robots) cannot be kept.
CANONICAL_ALIASES = {"action": schema.EE_ACTION_KEY}


@dataclass
class Selection:
    """Episodes of one source, in the order they are written (source episode indices)."""

    dataset: Dataset
    episodes: np.ndarray


def check_new_output(out: str | os.PathLike, sources: Sequence[Dataset]) -> Path:
    """``out`` as a folder that does not exist yet and is not inside a source; DatasetError naming it otherwise.

    Why refuse an existing folder: these tools never write over anything (a typo must not cost a dataset).
    """
    out = Path(out)
    if os.path.lexists(out):
        raise DatasetError(out, "already exists; give a new folder (merge, split and filter never write over anything)")
    real = out.resolve()
    for ds in sources:
        src = ds.root.resolve()
        if real == src or src in real.parents:
            raise DatasetError(out, f"is inside the source dataset {ds.root}; give a folder outside it")
    if out.parent.exists() and not out.parent.is_dir():
        raise DatasetError(out.parent, "not a folder")
    return out


def refuse_videos(ds: Dataset) -> None:
    videos = [k for k, ft in ds.features.items() if not schema.is_column(ft)]
    if videos:
        raise DatasetError(ds.root / schema.INFO_PATH, f"has video feature(s) {videos}: merge, split and filter do not "
                                                       "copy videos yet (only datasets whose cameras are images)")


def output_features(sources: Sequence[Dataset], canonical: bool) -> tuple[dict[str, dict[str, Any]], str | None]:
    """The output's features and robot type; DatasetError naming the first source that does not fit.

    Without ``canonical`` every source must have the same robot and the same features (dtype, shape and names:
    a joint vector of another robot is not the same feature). With it, only the canonical end-effector features
    and the standard columns every source has are kept, and robots may differ; ``action`` is then the canonical
    action too (``CANONICAL_ALIASES``).
    """
    first = sources[0]
    for ds in sources:
        refuse_videos(ds)
        if ds.fps != first.fps:
            raise DatasetError(ds.root / schema.INFO_PATH, f"fps is {ds.fps}, {first.root} has {first.fps}: "
                                                           "datasets at different rates cannot be merged")
    robots = sorted({str(ds.robot_type) for ds in sources})
    if not canonical:
        for ds in sources[1:]:
            if ds.robot_type != first.robot_type:
                raise DatasetError(ds.root / schema.INFO_PATH, f"robot_type is {ds.robot_type!r}, {first.root} has "
                                   f"{first.robot_type!r}; merge different robots with --canonical (keeps only "
                                   f"{list(schema.CANONICAL_KEYS)} and the standard columns)")
            for name in set(ds.features) | set(first.features):
                a, b = first.features.get(name), ds.features.get(name)
                if a is None or b is None or _shape(a) != _shape(b):
                    raise DatasetError(ds.root / schema.INFO_PATH, f"feature {name!r} is {_describe(b)}, {first.root} has "
                                                                   f"{_describe(a)}; merge with --canonical to keep the shared canonical features")
        return {k: dict(v) for k, v in first.features.items()}, first.robot_type
    keep: dict[str, dict[str, Any]] = {}
    for name in schema.CANONICAL_KEYS:
        for ds in sources:
            if name not in ds.features:
                raise DatasetError(ds.root / schema.INFO_PATH, f"has no canonical feature {name!r}: --canonical keeps "
                                                               f"{list(schema.CANONICAL_KEYS)}, which every source must have")
        keep[name] = dict(first.features[name])
    keep["action"] = dict(first.features[schema.EE_ACTION_KEY])  # CANONICAL_ALIASES: what LeRobot trains on
    for name in schema.STEP_FEATURES:
        if all(name in ds.features for ds in sources):
            keep[name] = dict(first.features[name])
    keep.update({k: dict(v) for k, v in schema.INDEX_FEATURES.items()})
    return keep, robots[0] if len(robots) == 1 else CANONICAL_ROBOT_TYPE


def _shape(ft: dict) -> tuple:
    return ft.get("dtype"), list(ft.get("shape") or []), ft.get("names")


def _describe(ft: dict | None) -> str:
    return "absent" if ft is None else f"{ft.get('dtype')}{list(ft.get('shape') or [])}"


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
            extra = {c: meta.column(c).to_pylist() for c in _FLYWHEEL_EPISODE_COLUMNS if c in meta.column_names}
            ep_tasks = meta.column("tasks").to_pylist() if "tasks" in meta.column_names else None
            start = ep_index
            for src in s.episodes:
                src = int(src)
                table = _episode_table(ds, src, dschema, remap, fps, ep_index, index, aliases)
                length = table.num_rows
                chunk, file = data.write(table)
                num_st, img_st = _stats(table, features, numeric, images)
                row = {"episode_index": ep_index, "tasks": ep_tasks[src] if ep_tasks else sorted({tasks[i] for i in
                       table.column("task_index").to_pylist()}), "length": length, "data/chunk_index": chunk,
                       "data/file_index": file, "dataset_from_index": index, "dataset_to_index": index + length,
                       "meta/episodes/chunk_index": None, "meta/episodes/file_index": None}
                row.update({c: extra[c][src] if c in extra else None for c in _FLYWHEEL_EPISODE_COLUMNS})
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
        per_ep = ep.column("tasks").to_pylist()
        for i in s.episodes:
            tasks.update(dict.fromkeys(per_ep[int(i)] or []))
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

"""What the dataset report shows, read from a dataset: figures, per-episode columns, statistics, sample clips.

Kept apart from the HTML (``report.py`` turns a `ReportData` into a page) so each has one job and the page can
be built from data a test makes by hand. Only the episode metadata and ``stats.json`` are read for the figures
(no data file is scanned); frames are read for the few sample episodes only.

Per-episode robot and task: a dataset has one ``robot_type``, but one written by ``flywheel dataset merge
--canonical`` holds several robots, and a merged or multi-task one several tasks. Where ``meta/flywheel.json``
lists its ``sources`` (which output episodes came from which dataset), each episode gets its source's robot and,
if that dataset is still there, its collection task; otherwise the dataset's own.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import schema
from ._io import DatasetError, read_json
from .cli import _human  # the size format of `flywheel dataset info`

# The render hook's type: (dataset, episode indices) -> {episode: frames uint8 (T, H, W, 3)}, plus a label
# saying where the frames come from. Set by the layer that can simulate (collectors); see `report.use_renderer`.
Renderer = Callable[[Any, list[int]], tuple[dict[int, np.ndarray], str]]


@dataclass
class Clip:
    """One sample episode as a playable mp4 (H.264)."""

    episode: int
    caption: str
    mp4: bytes
    source: str  # e.g. "observation.images.front (stored video)" or "re-rendered through replay (front camera)"


@dataclass
class ReportData:
    """Everything the report page shows. Episode columns are numpy arrays of one value per episode."""

    title: str
    path: str
    summary: list[tuple[str, str]]
    collection: list[tuple[str, str]]
    episode_index: np.ndarray
    length: np.ndarray
    success: np.ndarray | None  # bool per episode; None for datasets without the column (foreign)
    seed: np.ndarray | None
    instruction: list[str]
    robot: list[str]
    task: list[str]
    features: dict[str, dict[str, Any]]
    stats: dict[str, dict[str, np.ndarray]]
    clips: list[Clip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _column(table, name: str) -> np.ndarray | None:
    if name not in table.column_names:
        return None
    col = table.column(name)
    if col.null_count:
        return None
    return col.to_numpy(zero_copy_only=False)


def _per_episode_sources(ds, n: int) -> tuple[list[str], list[str]]:
    """Robot and task name of every episode, from the provenance of merged datasets where there is one."""
    meta = ds.flywheel or {}
    robot = [ds.robot_type or "unknown"] * n
    own_task = ((meta.get("config") or {}).get("task") or (meta.get("task") or {}).get("name"))
    task = [own_task or ""] * n
    for src in meta.get("sources") or []:
        try:
            start, stop = (int(v) for v in src["output_episodes"])
        except (KeyError, TypeError, ValueError):
            continue
        src_task = None
        try:
            src_meta = read_json(Path(src["path"]) / schema.FLYWHEEL_META_PATH, allow_inf=True)
            src_task = ((src_meta.get("config") or {}).get("task") or (src_meta.get("task") or {}).get("name"))
        except (DatasetError, OSError, KeyError, TypeError, AttributeError):
            pass  # the source is gone or foreign: the instruction still names the task
        for i in range(max(start, 0), min(stop, n)):
            robot[i] = str(src.get("robot_type") or robot[i])
            if src_task:
                task[i] = str(src_task)
    return robot, task


def _collection(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """How the dataset was made, in the words of meta/flywheel.json."""
    rows: list[tuple[str, str]] = []
    cfg = meta.get("config") or {}
    keys = ("task", "robot", "policy", "episodes", "seed", "noise", "control_mode", "success_only", "max_steps",
            "cameras", "image_format", "video_codec", "camera_size", "camera_hz", "relabel", "beta")
    for k in keys:
        if k in cfg and cfg[k] not in (None, [], ""):
            value = cfg[k]
            rows.append((f"config.{k}", ", ".join(map(str, value)) if isinstance(value, list) else str(value)))
    runs = meta.get("runs") or []
    for r, run in enumerate(runs[:5]):
        if isinstance(run, dict):
            rows.append((f"run {r}", _run_line(run)))
    op = meta.get("operation")
    if isinstance(op, dict):
        rows.append(("operation", ", ".join(f"{k} {v}" for k, v in op.items())))
    for s in meta.get("sources") or []:
        if isinstance(s, dict):
            rows.append(("source", f"{s.get('path')} ({s.get('robot_type')}): episodes {s.get('episodes')} -> "
                                   f"{s.get('output_episodes')}"))
    if meta.get("replayed_from"):
        rows.append(("replayed from", str(meta["replayed_from"])))
    if meta.get("code_version"):
        rows.append(("code version", str(meta["code_version"])))
    if meta.get("partial"):
        rows.append(("partial", "finished short on purpose"))
    return rows


def _run_line(run: dict[str, Any]) -> str:
    """One collection run (``meta/flywheel.json["runs"][i]``) in a line: when, how long, how fast, on what."""
    parts = [f"{k.replace('_', ' ')} {run[k]}" for k in ("started", "attempted", "resumed", "elapsed_s", "episodes_per_s",
                                                         "restarts") if run.get(k) not in (None, 0)]
    dropped = sum(int(run.get(k) or 0) for k in ("dropped_nonfinite", "dropped_crash", "dropped_error"))
    if dropped:
        parts.append(f"dropped {dropped}")
    workers = [w for w in run.get("workers") or [] if isinstance(w, dict)]
    if workers:
        hosts = sorted({str(w.get("host")) for w in workers})
        parts.append(f"{len(workers)} workers on {', '.join(hosts)}")
    if run.get("interrupted"):
        parts.append("interrupted")
    if run.get("error"):
        parts.append(f"error: {run['error']}")
    return ", ".join(parts)


def pick_samples(success: np.ndarray | None, n: int, count: int, groups: list[str] | None = None) -> list[int]:
    """Up to ``count`` episodes spread over the dataset, taken in turn from each of ``groups`` (one value per
    episode, e.g. its task) so every task shows, with at least one failure when there is one (what goes wrong is
    what a reader looks for)."""
    if n == 0 or count <= 0:
        return []
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups if groups is not None and len(groups) == n else [""] * n):
        members.setdefault(g, []).append(i)
    quota = {g: 0 for g in members}  # samples per group: in turn, while the group has episodes left
    left = min(count, n)
    while left:
        for g, idx in members.items():
            if left and quota[g] < len(idx):
                quota[g] += 1
                left -= 1
    chosen: list[int] = []
    for g, idx in members.items():  # each group's share spread over its episodes
        chosen += [idx[int(k)] for k in np.linspace(0, len(idx) - 1, quota[g]).round()] if quota[g] else []
    if success is not None and not success.all() and all(success[i] for i in chosen):
        chosen[-1] = int(np.flatnonzero(~success)[0])
    return sorted(set(chosen))


def gather(path: str | os.PathLike, *, samples: int = 4, renderer: Renderer | None = None,
           clip_encoder: Callable[[np.ndarray, int], bytes] | None = None) -> ReportData:
    """Read what the report shows from the dataset at ``path``. Sample clips come from the dataset's first camera
    feature (video or image) or, for a state-only dataset, from ``renderer`` (re-simulation); without either,
    a note says why there are none."""
    from .reader import open as open_dataset
    from .report_video import h264_mp4

    encode = clip_encoder or h264_mp4
    ds = open_dataset(path)
    try:
        ep = ds.episodes
        n = len(ds)
        length = ep.column("length").to_numpy()
        success = _column(ep, "success")
        success = success.astype(bool) if success is not None else None
        seed = _column(ep, "seed")
        instruction = [("; ".join(t) if isinstance(t, list) else str(t)) for t in
                       (ep.column("tasks").to_pylist() if "tasks" in ep.column_names else [ds.task or ""] * n)]
        robot, task = _per_episode_sources(ds, n)
        task = [t or instruction[i] for i, t in enumerate(task)]
        root = Path(path)
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        rate = float(success.mean()) if success is not None and n else float("nan")
        summary = [
            ("robots", _listing(robot)),
            ("tasks", _listing(task)),
            ("instructions", str(len(ds.tasks))),
            ("episodes", str(n)),
            ("frames", f"{ds.num_frames} at {ds.fps} fps ({ds.num_frames / max(ds.fps, 1):.1f} s)"),
            ("success", f"{rate:.1%} ({int(success.sum())} of {n})" if success is not None else "n/a (no success column)"),
            ("size", _human(size)),
            ("cameras", ", ".join(schema.visual_keys(ds.features)) or "none (state only)"),
        ]
        try:
            stats = ds.stats
        except (DatasetError, OSError) as err:
            stats = {}
            notes = [f"no feature statistics: {err}"]
        else:
            notes = []
        data = ReportData(title=f"{root.resolve().name}", path=str(root.resolve()), summary=summary,
                          collection=_collection(ds.flywheel or {}), episode_index=np.asarray(ds.episode_indices),
                          length=length, success=success, seed=seed, instruction=instruction, robot=robot, task=task,
                          features=ds.features, stats=stats, notes=notes)
        picks = pick_samples(success, n, samples, task)
        data.clips = _clips(ds, picks, data, renderer, encode)
        return data
    finally:
        ds.close()


def _listing(values: list[str], most: int = 8) -> str:
    """The distinct values, sorted, at most ``most`` of them and how many more."""
    distinct = sorted(set(values))
    more = f" and {len(distinct) - most} more" if len(distinct) > most else ""
    return ", ".join(distinct[:most]) + more


def _caption(data: ReportData, i: int) -> str:
    ok = "" if data.success is None else (" ✓ success" if data.success[i] else " ✗ failure")
    seed = "" if data.seed is None else f", seed {int(data.seed[i])}"
    return f"episode {i}{seed}, {int(data.length[i])} frames{ok}: {data.instruction[i]}"


def _clips(ds, picks: list[int], data: ReportData, renderer: Renderer | None, encode) -> list[Clip]:
    if not picks:
        return []
    cams = schema.visual_keys(ds.features)
    if cams:
        key = next((c for c in cams if c.endswith(".front")), cams[0])
        kind = "stored video" if schema.is_video(ds.features[key]) else "stored images"
        out = []
        for i in picks:
            frames = ds.episode(i, [key])[key]
            out.append(Clip(i, _caption(data, i), encode(frames, ds.fps), f"{key} ({kind})"))
        return out
    if renderer is None:
        data.notes.append("state-only dataset: sample episodes are re-rendered through replay, which needs the "
                          "simulator (`flywheel dataset report` does it; this report was built without it)")
        return []
    try:
        rendered, source = renderer(ds, picks)
    except (ValueError, KeyError, OSError) as err:
        data.notes.append(f"sample episodes could not be re-rendered: {err}")
        return []
    missing = [i for i in picks if i not in rendered]
    if missing:
        data.notes.append(f"sample episode(s) {', '.join(map(str, missing))} could not be re-rendered: no collection "
                          "config or seed for them (a source dataset of a merge that is no longer there?)")
    return [Clip(i, _caption(data, i), encode(frames, ds.fps), source) for i, frames in sorted(rendered.items())]

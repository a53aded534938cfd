"""Camera frames for stored episodes of a state-only dataset, by re-simulating them (the report's sample videos).

Why here: ``flywheel.datasets`` builds the report but must not import the simulator; re-rendering is replay
(seed + stored actions give back the same episode, bit for bit) with a camera added, which is this layer's job.
``flywheel.cli.compose_layers`` registers `render_samples` with ``flywheel.datasets.report.use_renderer``.

Episodes of a merged, split or filtered dataset are replayed from the dataset they came from (its provenance in
``meta/flywheel.json``), so a ``--canonical`` merge, which keeps no joint actions, is shown too.

It runs in-process (no Ray): a report renders a handful of episodes, one env per collection config. The
camera renders at most ``CAMERA_HZ`` times a second (a divisor of the control rate, as collection does) and
the frames in between repeat, so rendering costs a fraction of the episode's steps.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from flywheel.collectors.collection import worker
from flywheel.collectors.collection.recorder import IMAGE_PREFIX, EpisodeRecorder

CAMERA = "front"  # every task's world camera (sim/tasks/base.py scene_cameras): the whole scene, any robot
CAMERA_SIZE = (192, 192)
CAMERA_HZ = 15


def _camera_hz(control_hz: int) -> int:
    """The largest divisor of the control rate that is at most CAMERA_HZ."""
    return max(d for d in range(1, min(CAMERA_HZ, control_hz) + 1) if control_hz % d == 0)


def _config_of(meta: dict[str, Any]) -> dict[str, Any] | None:
    cfg = (meta or {}).get("config") or {}
    return cfg if cfg.get("task") and cfg.get("robot") else None


def _source_episodes(src: dict[str, Any]) -> tuple[int, list[int]]:
    """A provenance record's first output episode and the source episodes that became the output's, in order."""
    start = int(src["output_episodes"][0])
    return start, [k for a, b in src["episodes"] for k in range(int(a), int(b))]


def resolve_episodes(ds, episodes: list[int], depth: int = 4) -> dict[int, tuple[Path, int, dict[str, Any]]]:
    """Where each episode can be replayed from: (dataset folder, its episode index there, collection config).

    A collected dataset replays its own episodes. A dataset written by merge/split/filter replays each episode
    from the dataset it came from (``meta/flywheel.json["sources"]``, followed up to ``depth`` levels), where that
    dataset is still there: its config names the env, and its actions are the joint actions even when the output
    kept only the canonical ones (``--canonical``). Episodes with no such origin are left out."""
    from flywheel import datasets

    meta = ds.flywheel or {}
    own = _config_of(meta)
    if own is not None and not (meta.get("operation") or {}).get("canonical"):
        return {i: (Path(ds.root), i, own) for i in episodes}
    out: dict[int, tuple[Path, int, dict[str, Any]]] = {}
    for src in meta.get("sources") or [] if depth > 0 else []:
        try:
            start, picked = _source_episodes(src)
            wanted = {i: picked[i - start] for i in episodes if 0 <= i - start < len(picked)}
            if not wanted:
                continue
            source = datasets.open(src["path"])
        except (ValueError, KeyError, TypeError, IndexError, OSError):
            continue  # the source is gone, or the record is not one flywheel wrote
        try:
            found = resolve_episodes(source, sorted(set(wanted.values())), depth - 1)
        finally:
            source.close()
        out.update({i: found[k] for i, k in wanted.items() if k in found})
    return out


def task_of(cfg: dict[str, Any], seed: int) -> str:
    """The task an episode of this collection config ran: the config's, or for a multi-task run (``config.tasks``
    and ``weights``) the one its seed drew, as the collectors' multi-task module draws it."""
    tasks = cfg.get("tasks")
    if not tasks:
        return cfg["task"]
    try:
        from flywheel.collectors.collection.multitask import task_for_seed
    except ImportError:
        raise ValueError("a multi-task dataset: this flywheel cannot tell which task an episode ran") from None
    return tasks[task_for_seed(seed, list(cfg.get("weights") or [1.0] * len(tasks)))]


def render_samples(ds, episodes: list[int], *, camera: str = CAMERA) -> tuple[dict[int, np.ndarray], str]:
    """Re-simulate ``episodes`` of the open dataset ``ds`` with ``camera``: {episode: uint8 (T, H, W, 3)} and a
    label for the page. ValueError when none can be re-simulated (no collection config, no seeds)."""
    from flywheel import datasets

    origins = resolve_episodes(ds, episodes)
    if not origins:
        raise ValueError(f"{ds.root}: no collection config for these episodes in meta/flywheel.json (nor in a source "
                         "dataset it lists): only episodes collected by flywheel can be re-simulated")
    frames: dict[int, np.ndarray] = {}
    groups: dict[tuple[Path, str], tuple[dict[str, Any], list[tuple[int, int]]]] = {}
    for i, (root, k, cfg) in origins.items():
        groups.setdefault((root, repr(sorted(cfg.items()))), (cfg, []))[1].append((i, k))
    for (root, _), (cfg, members) in groups.items():
        source = datasets.open(root)
        envs: dict[str, Any] = {}  # task -> (env, recorder): a multi-task run has one per task
        try:
            if "seed" not in source.episodes.column_names:
                continue
            seeds = source.episodes.column("seed").to_pylist()
            for i, k in members:
                if seeds[k] is None:
                    continue
                task = task_of(cfg, int(seeds[k]))
                if task not in envs:  # the camera's rate from the dataset's fps, which is a flywheel run's control rate
                    env_cfg = worker.env_config(task, cfg["robot"], cfg.get("control_mode", "joint_pos"), [camera],
                                                cfg.get("max_steps"), cfg.get("randomize", True),
                                                camera_size=list(CAMERA_SIZE), camera_hz=_camera_hz(int(source.fps)))
                    env = worker.make_env(env_cfg)
                    envs[task] = (env, EpisodeRecorder(env))
                ep = envs[task][1].replay(source.episode(k, ["action"])["action"], int(seeds[k]))
                frames[i] = ep.frames[IMAGE_PREFIX + camera]
        finally:
            for env, _ in envs.values():
                env.close()
            source.close()
    if not frames:
        raise ValueError(f"{ds.root}: the sample episodes have no seed: they cannot be re-simulated")
    return frames, f"re-rendered through replay ({camera} camera)"

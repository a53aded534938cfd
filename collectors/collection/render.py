"""Camera frames for stored episodes of a state-only dataset, by re-simulating them (the report's sample videos).

Why here: ``flywheel.datasets`` builds the report but must not import the simulator; re-rendering is replay
(seed + stored actions give back the same episode, bit for bit) with a camera added, which is this layer's job.
``flywheel.cli.compose_layers`` registers `render_samples` with ``flywheel.datasets.report.use_renderer``.

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


def episode_configs(ds, episodes: list[int]) -> dict[int, dict[str, Any]]:
    """The collection config of each episode: the dataset's own, or for a merged dataset its source's (read from
    the source's meta/flywheel.json, where that dataset still is). Episodes without one are left out."""
    from flywheel.datasets import schema
    from flywheel.datasets._io import DatasetError, read_json

    meta = ds.flywheel or {}
    if (meta.get("operation") or {}).get("canonical"):
        return {}  # a canonical merge keeps action.ee as its action: the joint actions to replay are gone
    own = _config_of(meta)
    if own is not None:
        return {i: own for i in episodes}
    out: dict[int, dict[str, Any]] = {}
    for src in meta.get("sources") or []:
        try:
            start, stop = (int(v) for v in src["output_episodes"])
            cfg = _config_of(read_json(Path(src["path"]) / schema.FLYWHEEL_META_PATH, allow_inf=True))
        except (DatasetError, OSError, KeyError, TypeError, ValueError):
            continue
        if cfg is not None:
            out.update({i: cfg for i in episodes if start <= i < stop})
    return out


def render_samples(ds, episodes: list[int], *, camera: str = CAMERA) -> tuple[dict[int, np.ndarray], str]:
    """Re-simulate ``episodes`` of the open dataset ``ds`` with ``camera``: {episode: uint8 (T, H, W, 3)} and a
    label for the page. ValueError when none can be re-simulated (no collection config, no seeds)."""
    configs = episode_configs(ds, episodes)
    if not configs:
        raise ValueError(f"{ds.root}: no collection config in meta/flywheel.json for these episodes (or a canonical "
                         "merge): only episodes collected by flywheel with joint actions can be re-simulated")
    if "seed" not in ds.episodes.column_names:
        raise ValueError(f"{ds.root}: episodes have no seed column: they cannot be re-simulated")
    seeds = ds.episodes.column("seed").to_pylist()
    row = {int(e): r for r, e in enumerate(ds.episode_indices)}
    frames: dict[int, np.ndarray] = {}
    by_config: dict[str, tuple[dict[str, Any], list[int]]] = {}
    for i, cfg in configs.items():
        by_config.setdefault(repr(sorted(cfg.items())), (cfg, []))[1].append(i)
    for cfg, members in by_config.values():
        env_cfg = worker.env_config(cfg["task"], cfg["robot"], cfg.get("control_mode", "joint_pos"), [camera],
                                    cfg.get("max_steps"), cfg.get("randomize", True), camera_size=list(CAMERA_SIZE),
                                    camera_hz=_camera_hz(int(ds.fps)))  # a flywheel dataset's fps is its control rate
        env = worker.make_env(env_cfg)
        try:
            recorder = EpisodeRecorder(env)
            for i in members:
                seed = seeds[row[i]]
                if seed is None:
                    continue
                actions = ds.episode(i, ["action"])["action"]
                ep = recorder.replay(actions, int(seed))
                frames[i] = ep.frames[IMAGE_PREFIX + camera]
        finally:
            env.close()
    if not frames:
        raise ValueError(f"{ds.root}: the sample episodes have no seed: they cannot be re-simulated")
    return frames, f"re-rendered through replay ({camera} camera)"

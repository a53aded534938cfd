"""Reading datasets of older flywheel formats as the current one, without rewriting them.

Flywheel format 1 stored a task's object state as ``observation.env_state`` and its goal as a separate
``observation.goal``. Format 2 stores both in LeRobot's ``observation.environment_state`` (objects first,
then ``goal.*``), because LeRobot's ACT and Diffusion read only ``observation.state``,
``observation.environment_state`` and images: a state-only dataset without it cannot train them, and a goal
in another column would be invisible to them.

`upgrade(features)` says how to build the current columns from the old ones; `upgrade_episode` and
`upgrade_stats` apply it to an episode's arrays and to ``meta/stats.json`` (per-element statistics
concatenate exactly). Old datasets on disk stay as they are; `flywheel dataset validate` still checks them
as written.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping

import numpy as np

from flywheel.canonical import ENV_STATE_KEY, LEGACY_ENV_STATE_KEY, LEGACY_GOAL_KEY

LEGACY_SOURCES = (LEGACY_ENV_STATE_KEY, LEGACY_GOAL_KEY)  # in the order they are concatenated


def upgrade(features: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """New feature -> the old columns concatenated into it; empty for a current (or foreign) dataset."""
    if ENV_STATE_KEY in features:
        return {}
    old = [k for k in LEGACY_SOURCES if k in features]
    return {ENV_STATE_KEY: old} if old else {}


def upgrade_features(features: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``features`` (info.json's) as the current format names them: old columns replaced by the new one."""
    plan = upgrade(features)
    out = {k: copy.deepcopy(dict(v)) for k, v in features.items()}
    for new, old in plan.items():
        names: list[str] = []
        for key in old:
            n = int(features[key]["shape"][0])
            given = features[key].get("names")
            own = list(given) if given is not None and len(given) == n else [str(i) for i in range(n)]
            prefix = "goal." if key == LEGACY_GOAL_KEY else "env_state."
            names += [prefix + x for x in own]
        out[new] = {"dtype": "float32", "shape": [len(names)], "names": names}
        for key in old:
            out.pop(key)
    return out


def upgrade_columns(columns: list[str], features: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The stored columns to read for the (current-format) ``columns`` of a dataset with ``features``."""
    plan = upgrade(features)
    out: list[str] = []
    for c in columns:
        for k in plan.get(c, [c]):
            if k not in out:
                out.append(k)
    return out


def upgrade_episode(episode: dict[str, np.ndarray], features: Mapping[str, Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """One episode's arrays with the new columns built from the old ones (the old ones are dropped)."""
    for new, old in upgrade(features).items():
        if all(k in episode for k in old):
            parts = [np.asarray(episode.pop(k), np.float32) for k in old]
            episode[new] = np.concatenate([p.reshape(len(p), -1) for p in parts], axis=1)
    return episode


def upgrade_stats(stats: dict[str, dict[str, Any]], features: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``meta/stats.json`` with the new features' statistics concatenated from the old ones' (counts: the first's)."""
    out = dict(stats)
    for new, old in upgrade(features).items():
        if not all(k in stats for k in old):
            continue
        merged: dict[str, Any] = {}
        for field in stats[old[0]]:
            if field == "count":
                merged[field] = np.asarray(stats[old[0]][field])
            elif all(field in stats[k] for k in old):
                merged[field] = np.concatenate([np.asarray(stats[k][field], np.float64).ravel() for k in old])
        out[new] = merged
        for k in old:
            out.pop(k, None)
    return out


class CurrentView:
    """A dataset (`flywheel.datasets.open`) read as the current format: ``features``, ``stats`` and
    ``iter_episodes``/``episode`` upgraded, everything else passed through. A current dataset reads unchanged."""

    def __init__(self, dataset: Any):
        self.dataset = dataset
        self._stored = dataset.features
        self.features = upgrade_features(self._stored)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.dataset, name)

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def stats(self) -> dict[str, dict[str, Any]]:
        return upgrade_stats(self.dataset.stats, self._stored)

    def episode(self, i: int, columns: list[str] | None = None, **kw: Any) -> dict[str, np.ndarray]:
        cols = upgrade_columns(list(columns), self._stored) if columns is not None else None
        return upgrade_episode(self.dataset.episode(i, cols, **kw), self._stored)

    def iter_episodes(self, columns: list[str] | None = None, **kw: Any):
        cols = upgrade_columns(list(columns), self._stored) if columns is not None else None
        for ep in self.dataset.iter_episodes(cols, **kw):
            yield upgrade_episode(ep, self._stored)

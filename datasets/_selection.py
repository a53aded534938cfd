"""What ``merge``/``split``/``filter`` write, decided before anything is written: the selected episodes, an output
folder that is new, and the output's features and robot type (one robot, or ``--canonical``).

Split out of ``rewrite.py`` so that every refusal (a folder that exists, different robots, video) happens here,
with the file and field named, and the writer only writes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import schema
from ._io import DatasetError
from .reader import Dataset

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

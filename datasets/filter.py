"""``flywheel dataset filter PATH --out DIR [--success] [--task T] [--robot R] [--min-length N] [--seeds A:B]``.

Keeps the episodes matching every criterion given and writes them as a new dataset (``rewrite``): a success-only
training set, one task out of a multi-task dataset, a seed range for a held-out evaluation. The criteria read
only the episode metadata (``meta/episodes``), never the frames. ``--success`` and ``--seeds`` need flywheel's
``success``/``seed`` columns; on a dataset without them (LeRobot's) they are refused by name rather than
matching nothing.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import schema
from ._io import DatasetError
from .reader import Dataset
from .reader import open as open_dataset
from .rewrite import Selection, write_dataset


def parse_seeds(text: str) -> tuple[int, int]:
    """``A:B`` -> (A, B), the seeds A <= seed < B (Python's slice convention); ValueError naming the option."""
    try:
        a, b = (int(x) for x in str(text).split(":"))
    except ValueError:
        raise ValueError(f"--seeds must be A:B with integers A < B (seeds A..B-1), got {text!r}") from None
    if a >= b:
        raise ValueError(f"--seeds {text!r}: A must be below B (seeds A..B-1)")
    return a, b


def select(ds: Dataset, *, success: bool | None = None, task: str | None = None, robot: str | None = None,
           min_length: int | None = None, seeds: tuple[int, int] | None = None) -> np.ndarray:
    """Indices of the episodes of ``ds`` matching every criterion given."""
    ep = ds._all_episodes
    keep = np.ones(ep.num_rows, dtype=bool)
    where = ds.root / schema.EPISODES_DIR

    def column(name: str, option: str) -> pa.ChunkedArray:
        if name not in ep.column_names:
            raise DatasetError(where, f"no {name!r} column (a dataset not written by flywheel): {option} cannot be applied")
        return ep.column(name)

    if success is not None:
        keep &= pc.fill_null(pc.equal(column("success", "--success"), bool(success)), False).to_numpy(zero_copy_only=False)
    if seeds is not None:
        s = pc.fill_null(pc.cast(column("seed", "--seeds"), pa.float64()), np.nan).to_numpy(zero_copy_only=False)
        keep &= (s >= seeds[0]) & (s < seeds[1])
    if min_length is not None:
        keep &= ds._lengths >= int(min_length)
    if robot is not None and robot != ds.robot_type:
        keep[:] = False
    if task is not None:
        name = (ds.flywheel.get("task") or {}).get("name") if isinstance(ds.flywheel.get("task"), dict) else None
        if task != name:  # a task name matches the whole dataset, an instruction the episodes that have it
            if "tasks" not in ep.column_names:
                keep[:] = False
            else:  # episodes whose tasks list holds the instruction, without a Python list per episode
                lists = ep.column("tasks").combine_chunks()
                hit = pc.equal(lists.flatten(), pa.scalar(task)).to_numpy(zero_copy_only=False)
                parents = pc.list_parent_indices(lists).to_numpy()
                keep &= np.bincount(parents[hit], minlength=ep.num_rows).astype(bool)
    return np.nonzero(keep)[0]


def filter_dataset(source: str | os.PathLike, out: str | os.PathLike, *, success: bool | None = None,
                   task: str | None = None, robot: str | None = None, min_length: int | None = None,
                   seeds: tuple[int, int] | None = None, **write_kwargs: Any) -> dict[str, Any]:
    """Write the matching episodes of ``source`` to the new dataset ``out``; returns its info.json.

    No match is an error (an empty dataset is not a LeRobot dataset), raised before anything is written.
    """
    if min_length is not None and (isinstance(min_length, bool) or int(min_length) < 1):
        raise ValueError(f"--min-length must be an integer >= 1, got {min_length!r}")
    ds = open_dataset(source)
    idx = select(ds, success=success, task=task, robot=robot, min_length=min_length, seeds=seeds)
    criteria = {k: v for k, v in (("success", success), ("task", task), ("robot", robot), ("min_length", min_length),
                                  ("seeds", list(seeds) if seeds else None)) if v is not None}
    if not len(idx):
        raise DatasetError(ds.root, f"no episode matches {criteria or 'the filter'} (of {len(ds)}); nothing written")
    return write_dataset(out, [Selection(ds, idx)], operation={"name": "filter", "criteria": criteria}, **write_kwargs)

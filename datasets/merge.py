"""``flywheel dataset merge A B ... --out C``: several finished datasets as one, on disk, streaming.

Same robot and features: every feature is kept. Different robots: only with ``canonical=True``, which keeps
the cross-embodiment features (``observation.ee``, ``observation.ee_mask``, ``action.ee``) and the standard
columns, identical for every robot by construction, under one robot type (and ``action.ee`` again as
``action``, which LeRobot's policies train on). The writing (indices, tasks,
statistics, provenance, lock) is ``rewrite.write_dataset``'s.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from ._io import DatasetError
from .reader import open as open_dataset
from .rewrite import Selection, write_dataset


def merge(sources: Sequence[str | os.PathLike], out: str | os.PathLike, *, canonical: bool = False,
          **write_kwargs: Any) -> dict[str, Any]:
    """Write every episode of ``sources``, in order, to the new dataset ``out``; returns its info.json."""
    if len(sources) < 2:
        raise ValueError("merge needs two or more datasets")
    seen = set()
    for p in sources:
        real = os.path.realpath(p)
        if real in seen:
            raise DatasetError(p, "is given twice: each source is merged once")
        seen.add(real)
    datasets = [open_dataset(p) for p in sources]
    selections = [Selection(ds, np.arange(len(ds))) for ds in datasets]
    operation = {"name": "merge", "canonical": bool(canonical)}
    return write_dataset(out, selections, operation=operation, canonical=canonical, **write_kwargs)

"""``flywheel dataset split PATH --out DIR``: a train and a validation dataset, by episode, seeded.

Why by episode: frames of one episode are strongly correlated, so a validation set that shares episodes with
the training set measures memory, not generalisation. Which episodes go to validation is a seeded permutation
(numpy's PCG64 via ``default_rng(seed)``), so the same seed gives the same split on any machine; each side
keeps the source's episode order. ``DIR/train`` and ``DIR/val`` are two ordinary datasets whose
``meta/flywheel.json`` names the source episodes they hold.
"""
from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ._io import DatasetError
from .reader import open as open_dataset
from .rewrite import Selection, check_new_output, write_dataset


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) episode indices, each sorted; ValueError if either side would be empty."""
    if not (isinstance(val_fraction, (int, float)) and math.isfinite(val_fraction) and 0 < val_fraction < 1):
        raise ValueError(f"--val-fraction must be a number between 0 and 1 (exclusive), got {val_fraction!r}")
    n_val = max(1, int(round(n * val_fraction)))  # a small dataset still gets one validation episode
    if n_val < 1 or n_val >= n:
        raise ValueError(f"--val-fraction {val_fraction} of {n} episodes leaves {n_val} for validation and "
                         f"{n - n_val} for training; both need at least one episode")
    val = np.sort(np.random.default_rng(seed).permutation(n)[:n_val])
    train = np.setdiff1d(np.arange(n), val)
    return train, val


def split(source: str | os.PathLike, out: str | os.PathLike, *, val_fraction: float = 0.1, seed: int = 0,
          **write_kwargs: Any) -> dict[str, dict[str, Any]]:
    """Write ``out/train`` and ``out/val``; returns their info.json by name. ``out`` may exist, its
    ``train``/``val`` may not; on failure neither is left behind."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DatasetError(out, "not a folder")
    ds = open_dataset(source)
    train, val = split_indices(len(ds), val_fraction, seed)
    for name in ("train", "val"):
        check_new_output(out / name, [ds])
    created = not out.exists()
    operation = {"name": "split", "val_fraction": val_fraction, "seed": seed}
    done = []
    try:
        result = {}
        for name, idx in (("train", train), ("val", val)):
            result[name] = write_dataset(out / name, [Selection(ds, idx)], operation={**operation, "part": name},
                                         **write_kwargs)
            done.append(out / name)
        return result
    except BaseException:
        for p in done:
            shutil.rmtree(p, ignore_errors=True)
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise

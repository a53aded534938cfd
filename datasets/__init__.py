"""flywheel.datasets: the trajectory standard - a LeRobotDataset v3.0 on disk with cross-embodiment features.

The contract used by the collectors::

    create_dataset(root, features=..., fps=..., robot_type=..., task=..., flywheel_meta=..., resume=False)
    w = StagingWriter(root, worker="w0", episodes_per_file=16); w.add_episode(k, frames, ...); w.close()
    staged_keys(root) -> set[int]
    finalize(root) -> dict            # info.json content; a short run: IncompleteDataset unless allow_partial=True
    with DatasetLock(root, "collect", create=True): ...   # one writer per dataset folder (DatasetLocked otherwise)
    ds = open(root); ds.episode(i); ds.filter(success=True); mix([ds_a, ds_b], weights=[...])

This package never imports PyBullet, Ray or the rest of flywheel: it reads and writes data only.
See README.md in this folder for the layout and the canonical end-effector convention.
"""
from . import schema
from ._io import DatasetError, DatasetIOError
from .completeness import IncompleteDataset
from .finalize import finalize
from .lock import DatasetLock, DatasetLocked
from .mix import MixSampler, mix
from .reader import Dataset, open
from .staging import create_dataset, read_spec, staged_keys
from .validate import Problem, validate
from .writer import StagingWriter

__all__ = [
    "schema",
    "create_dataset",
    "StagingWriter",
    "staged_keys",
    "read_spec",
    "finalize",
    "open",
    "Dataset",
    "DatasetError",
    "DatasetIOError",
    "DatasetLock",
    "DatasetLocked",
    "IncompleteDataset",
    "mix",
    "MixSampler",
    "validate",
    "Problem",
]

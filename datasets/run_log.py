"""The run log of a dataset: one record per collection run (figures per worker, restarts, drops, interruptions)
appended to ``meta/flywheel.json["runs"]``, so a dataset says how it was made; the finaliser keeps the key.

Writers outside this package (the collectors) call `append_run` instead of rewriting the metadata file themselves.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import schema
from ._io import read_json, write_json_atomic


def append_run(root: str | os.PathLike, record: dict[str, Any]) -> bool:
    """Append ``record`` to the dataset's run log; False (and nothing written) if the metadata is missing or unreadable."""
    path = Path(root) / schema.FLYWHEEL_META_PATH
    try:
        meta = read_json(path)
    except (OSError, ValueError):
        return False
    if not isinstance(meta, dict):
        return False
    meta.setdefault("runs", []).append(record)
    write_json_atomic(path, meta)
    return True


def read_flywheel_meta(root: str | os.PathLike) -> dict[str, Any]:
    """``meta/flywheel.json`` as a dict, or an empty dict if it is missing or unreadable."""
    try:
        meta = read_json(Path(root) / schema.FLYWHEEL_META_PATH)
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def record_entry(root: str | os.PathLike, key: str, value: Any) -> bool:
    """Set ``meta/flywheel.json[key]`` (a section a collector owns, e.g. a retarget run's provenance and yield) and
    keep everything else; False (and nothing written) if the metadata is missing or unreadable."""
    path = Path(root) / schema.FLYWHEEL_META_PATH
    try:
        meta = read_json(path)
    except (OSError, ValueError):
        return False
    if not isinstance(meta, dict):
        return False
    meta[key] = value
    write_json_atomic(path, meta)
    return True

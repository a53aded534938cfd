"""The staging area of a dataset being written: creating it, resuming it, and listing what it holds.

Layout while a dataset is unfinished::

    ROOT/staging/spec.json                 the in-progress marker: features, fps, robot, task, config
    ROOT/staging/<worker>-<token>-<seq>.parquet   finished episodes, one row group each
    ROOT/meta/flywheel.json                our metadata (robot spec + URDF hash, task, config, code version)

A staging file only ever appears complete (closed footer, atomic rename), and its footer lists the
episodes it holds, so "what is safely staged" is answered from footers alone. Episodes are identified
by their collection key ``k`` (seed = S + k): a retried worker stages the same key again and the
finaliser keeps one copy, which makes delivery exactly-once by construction.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pyarrow.parquet as pq

from . import schema
from ._io import TMP_PREFIX, DatasetError, environment_error, nonfinite_field, read_json, write_json_atomic
from .lock import LOCK_NAME

_SPEC_FORMAT = "flywheel-staging"


# Per-episode footer fields only the finaliser needs (statistics inputs); left out of StagedEpisode.meta so
# that listing a large staging area costs a few hundred bytes per episode, not the statistics.
HEAVY_META = ("minmax", "image_hist")


@dataclass(frozen=True)
class StagedEpisode:
    """Where one staged episode lives and what the worker said about it (seed, success, policy, ...)."""

    key: int
    file: Path
    row_group: int
    length: int
    meta: dict[str, Any]


def _code_version() -> str:
    try:
        from importlib import metadata

        return metadata.version("flywheel")
    except Exception:  # not installed: running from a source tree
        return "0.0.0+local"


def create_dataset(
    root: str | os.PathLike,
    *,
    features: dict[str, dict],
    fps: int,
    robot_type: str,
    task: str,
    flywheel_meta: dict,
    resume: bool = False,
) -> None:
    """Start a dataset at ``root`` (once per run, by the driver, before any worker writes).

    ``features`` are the per-frame features beyond the standard columns (which ``schema`` adds).
    Writes ``staging/spec.json`` (the in-progress marker) and ``meta/flywheel.json``. With
    ``resume=True`` an existing unfinished dataset is reopened after checking that features, fps,
    robot_type, task and ``flywheel_meta["config"]`` match; a mismatch raises ValueError naming the field.
    """
    root = Path(root)
    if not isinstance(fps, int) or isinstance(fps, bool) or fps <= 0:
        raise ValueError(f"fps must be a positive int, got {fps!r}")
    if not isinstance(robot_type, str) or not robot_type:
        raise ValueError("robot_type must be a non-empty string")
    if not isinstance(task, str) or not task:
        raise ValueError("task must be a non-empty string")
    if not isinstance(flywheel_meta, Mapping):
        raise ValueError("flywheel_meta must be a dict")
    try:
        json.dumps(flywheel_meta)
    except (TypeError, ValueError) as err:
        raise ValueError(f"flywheel_meta must be JSON-serialisable: {err}") from None
    bad = nonfinite_field(flywheel_meta, allow_inf=True)
    if bad is not None:  # NaN in a spec or config is a mistake; inf is an unbounded limit
        raise ValueError(f"flywheel_meta.{bad[0]} is {bad[1]}: a number in the dataset's metadata is NaN")
    try:
        _create(root, features, fps, robot_type, task, flywheel_meta, resume)
    except OSError as err:
        raise environment_error(err, root, "create the dataset folder") from None


def _create(root: Path, features, fps: int, robot_type: str, task: str, flywheel_meta: Mapping, resume: bool) -> None:
    full = schema.full_features(features)
    spec = {
        "format": _SPEC_FORMAT,
        "flywheel_format": schema.FLYWHEEL_FORMAT,
        "codebase_version": schema.CODEBASE_VERSION,
        "fps": fps,
        "robot_type": robot_type,
        "task": task,
        "features": full,
        "config": flywheel_meta.get("config"),
    }
    spec = json.loads(json.dumps(spec))  # normalise tuples to lists, as it will read back

    if (root / schema.INFO_PATH).exists():
        raise ValueError(f"{root} already holds a finished dataset ({schema.INFO_PATH} exists); "
                         "write to a new folder" + (_finished_note(root) if resume else ""))
    spec_path = root / schema.SPEC_PATH
    if spec_path.exists():
        if not resume:
            raise ValueError(
                f"{root} holds an unfinished dataset ({schema.SPEC_PATH} exists); "
                "pass resume=True (--resume) to continue it, or choose a new folder"
            )
        old = read_spec(root)
        for field in ("features", "fps", "robot_type", "task", "config"):
            if old.get(field) != spec[field]:
                raise ValueError(
                    f"cannot resume {root}: {field} differs from the dataset being resumed "
                    f"({spec_path} has {_short(old.get(field))}, this run has {_short(spec[field])})"
                )
        return
    if root.exists():
        if not root.is_dir():
            raise ValueError(f"{root} exists and is not a folder")
        if not _empty_or_interrupted_create(root):
            raise ValueError(f"{root} is not empty and is not a flywheel dataset; choose an empty or new folder")
    (root / schema.STAGING_DIR).mkdir(parents=True, exist_ok=True)
    meta = {"flywheel_format": schema.FLYWHEEL_FORMAT, "code_version": _code_version()}
    meta.update(json.loads(json.dumps(flywheel_meta)))
    write_json_atomic(root / schema.FLYWHEEL_META_PATH, meta, allow_inf=True)
    write_json_atomic(spec_path, spec, allow_inf=True)  # last: the marker only appears once the folder is usable


def _finished_note(root: Path) -> str:
    """Why a finished dataset cannot be resumed, saying so when it was finished short on purpose."""
    try:
        meta = read_json(root / schema.FLYWHEEL_META_PATH, allow_inf=True)
    except DatasetError:
        meta = {}
    if isinstance(meta, dict) and meta.get("partial") is True:
        return (f" - it was finalized short on purpose ({meta.get('kept_episodes')} of "
                f"{meta.get('requested_episodes')} episodes, --allow-partial) and cannot be resumed")
    return " - there is nothing to resume"


def _empty_or_interrupted_create(root: Path) -> bool:
    """True for an empty folder, or one holding only what an interrupted ``create_dataset`` leaves
    (an empty staging/ and the meta/flywheel.json it wrote), or the writer's lock file: nothing of value to
    protect, so creating may proceed. A meta/flywheel.json that is not ours (a user's file of that name) is kept."""
    for p in root.iterdir():
        if p.name == LOCK_NAME:
            continue
        if p.name == schema.STAGING_DIR and p.is_dir() and not any(p.iterdir()):
            continue
        if p.name == "meta" and p.is_dir() and all(
            (q.name == "flywheel.json" and _written_by_create(q)) or q.name.startswith(TMP_PREFIX) for q in p.iterdir()
        ):
            continue
        return False
    return True


def _written_by_create(path: Path) -> bool:
    """Whether ``path`` is a meta/flywheel.json that `create_dataset` wrote (its format and code version keys)."""
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("flywheel_format") == schema.FLYWHEEL_FORMAT and "code_version" in meta


def _short(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "..."


def read_spec(root: str | os.PathLike) -> dict[str, Any]:
    """The in-progress spec of an unfinished dataset; DatasetError naming the file if absent or bad."""
    root = Path(root)
    path = root / schema.SPEC_PATH
    if not path.exists():
        if (root / schema.INFO_PATH).exists():
            raise DatasetError(path, "dataset is already finished (meta/info.json exists); nothing is staged")
        raise DatasetError(root, "not a flywheel dataset (no staging/spec.json, no meta/info.json); call create_dataset first")
    spec = read_json(path, allow_inf=True)
    if not isinstance(spec, dict) or spec.get("format") != _SPEC_FORMAT:
        raise DatasetError(path, "not a flywheel staging spec")
    if spec.get("flywheel_format") != schema.FLYWHEEL_FORMAT:
        raise DatasetError(path, f"staging format {spec.get('flywheel_format')!r}, this flywheel reads {schema.FLYWHEEL_FORMAT}")
    return spec


def staging_files(root: str | os.PathLike) -> list[Path]:
    """Complete staging files, sorted by name (temporary files of live or killed writers excluded)."""
    folder = Path(root) / schema.STAGING_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith(TMP_PREFIX))


def read_staging_footer(path: Path) -> list[dict[str, Any]]:
    """The per-row-group episode entries of one staging file, from its footer only."""
    return staging_footer(path)[1]


def staging_footer(path: Path) -> tuple[pq.FileMetaData, list[dict[str, Any]]]:
    """The Parquet footer of one staging file and its per-row-group episode entries, checked."""
    try:
        md = pq.read_metadata(path)
    except FileNotFoundError:
        raise
    except Exception as err:  # ArrowInvalid, OSError: truncated or not Parquet
        raise DatasetError(path, f"truncated or corrupt staging file ({err})") from None
    raw = (md.metadata or {}).get(schema.STAGING_META_KEY)
    if raw is None:
        raise DatasetError(path, "staging file without flywheel episode metadata")
    entries = json.loads(raw)
    if len(entries) != md.num_row_groups:
        raise DatasetError(path, f"{md.num_row_groups} row groups but {len(entries)} episode entries")
    for i, e in enumerate(entries):
        if md.row_group(i).num_rows != e["length"]:
            raise DatasetError(path, f"row group {i} has {md.row_group(i).num_rows} rows, episode says {e['length']}")
    return md, entries


def scan_staging(root: str | os.PathLike) -> list[StagedEpisode]:
    """Every staged episode (duplicates of a key included), in file then row-group order."""
    out = []
    for path in staging_files(root):
        try:
            entries = read_staging_footer(path)
        except FileNotFoundError:  # removed by a concurrent finalize
            continue
        for i, e in enumerate(entries):
            light = {k: v for k, v in e.items() if k not in HEAVY_META}
            out.append(StagedEpisode(key=int(e["key"]), file=path, row_group=i, length=int(e["length"]), meta=light))
    return out


def staged_keys(root: str | os.PathLike) -> set[int]:
    """Keys of the episodes safely staged under ``root`` (for resume and exactly-once delivery)."""
    keys: set[int] = set()
    for path in staging_files(root):
        try:
            keys.update(int(e["key"]) for e in read_staging_footer(path))
        except FileNotFoundError:  # removed by a concurrent finalize
            continue
    return keys

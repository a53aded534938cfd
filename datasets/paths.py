"""Paths a dataset names for itself, checked before anything is opened or written.

Why: ``info.json`` is input. Its ``data_path``/``video_path`` are ``str.format`` templates, and
``str.format`` evaluates attribute and index access (``{chunk_index.__class__}``, ``{x[0]}``), while a
literal ``../`` or an absolute path would send a reader outside the dataset. A symlinked ``data`` folder
would make the finaliser delete and write files elsewhere. So:

- a template must have the LeRobot v3.0 shape (``data/...{chunk_index:03d}...{file_index:03d}.parquet``,
  ``videos/{video_key}/...mp4``): only those plain field names, integer format specs, relative, no ``..``;
- every path the reader, the validator or the finaliser resolves must stay inside the dataset folder
  (symlinks resolved), and the finaliser writes through no symbolic link at all.
"""
from __future__ import annotations

import os
import re
import string
from pathlib import Path, PurePosixPath
from typing import Any

from . import schema
from ._io import DatasetError

_INT_SPEC = re.compile(r"^(0?[1-9])?d$|^$")  # "", "d", "03d": what LeRobot's templates use

# (fields allowed, required first folder, required suffix) per template key of info.json
_TEMPLATES = {
    "data_path": ({"chunk_index", "file_index"}, schema.DATA_DIR, ".parquet"),
    "video_path": ({"video_key", "chunk_index", "file_index"}, "videos", ".mp4"),
}

# What finalize writes (or removes): none of these may be a symlink or resolve outside the dataset.
FINALIZE_WRITES = (
    "meta", schema.DATA_DIR, schema.VIDEOS_DIR, schema.EPISODES_DIR, schema.STAGING_DIR, schema.INFO_PATH, schema.STATS_PATH,
    schema.TASKS_PATH, schema.FLYWHEEL_META_PATH,
)


def check_template(info_path: Path, key: str, value: Any) -> str | None:
    """``info.json[key]`` checked as a LeRobot v3.0 path template; DatasetError naming the field if not.

    ``video_path`` may be null (a dataset without videos); ``data_path`` may not.
    """
    allowed, top, suffix = _TEMPLATES[key]
    if value is None and key == "video_path":
        return None
    if not isinstance(value, str):
        raise DatasetError(info_path, f"{key} must be a path template string, got {value!r} ({type(value).__name__})")
    bad = f"{key} {value!r} is not a LeRobot v3.0 path template"
    try:
        parts = list(string.Formatter().parse(value))
    except ValueError as err:
        raise DatasetError(info_path, f"{bad} ({err})") from None
    seen = set()
    for _, field, spec, conversion in parts:
        if field is None:
            continue
        if field not in allowed:
            raise DatasetError(info_path, f"{bad}: field {{{field}}} is not allowed (only {sorted(allowed)}, "
                                          "with no attribute or index access)")
        if conversion is not None or not _INT_SPEC.match(spec or "") or (field == "video_key" and spec):
            raise DatasetError(info_path, f"{bad}: field {{{field}}} has format {conversion and '!' + conversion or ''}"
                                          f"{':' + spec if spec else ''}; only an integer width like :03d is allowed")
        seen.add(field)
    if seen != allowed:
        raise DatasetError(info_path, f"{bad}: it must use every one of {sorted(allowed)}")
    sample = value.format(chunk_index=0, file_index=0, video_key="v")
    p = PurePosixPath(sample)
    if ("\\" in value or "\0" in value or p.is_absolute() or any(part in ("..", ".") for part in p.parts)
            or "//" in sample or p.parts[0] != top or not sample.endswith(suffix)):
        raise DatasetError(info_path, f"{bad}: it must be a relative path under {top}/ ending in {suffix}, "
                                      f"without '..' (LeRobot: {schema.DATA_PATH if key == 'data_path' else schema.VIDEO_PATH})")
    return value


def resolve_inside(root: str | os.PathLike, rel: str | os.PathLike) -> Path:
    """``root / rel``, after checking that it (symlinks resolved) stays inside ``root``; DatasetError if not."""
    root = Path(root)
    path = root / rel
    try:
        real, base = path.resolve(), root.resolve()
    except (RuntimeError, OSError) as err:  # a symlink loop (RuntimeError before Python 3.13)
        raise DatasetError(path, f"cannot resolve the path ({err}); remove the symlink loop") from None
    if real != base and base not in real.parents:
        raise DatasetError(path, f"resolves to {real}, outside the dataset folder {base}; refusing to use it "
                                 "(replace the symbolic link by the real file or folder)")
    return path


def check_writable_layout(root: str | os.PathLike) -> None:
    """Refuse to finalize through a symbolic link: the finaliser removes and writes ``data/``, ``meta/...``
    and the staging area, and must never do so outside the dataset (or anywhere the user did not expect)."""
    root = Path(root)
    for rel in FINALIZE_WRITES:
        path = root / rel
        if path.is_symlink():
            target = os.readlink(path)
            raise DatasetError(path, f"is a symbolic link (to {target}); finalize writes only real files and folders "
                                     "inside the dataset: replace the link by a real folder, or copy the dataset")
        if os.path.lexists(path):
            resolve_inside(root, rel)

"""Atomic file writes, checked JSON reads, and the error types of this package.

Every file this package writes appears under its final name complete or not at all: it is written to a
temporary name in the same folder, flushed to disk, then ``os.replace``d (atomic on POSIX). A process
killed at any instant therefore leaves either the old state or the new one, plus at most a ``.tmp-*``
file that readers ignore and the next writer removes. ``write_json_atomic`` is the one JSON writer of the
package; it refuses NaN/inf (which ``json`` would write as the non-JSON tokens ``NaN``/``Infinity``), and
``read_json`` reports such a token in a file with the field it is in.

An environment failure (disk full, read-only or unwritable folder, a file where a folder should be, a
symlink loop) becomes a ``DatasetIOError``: one line naming the path and what to do, which the
``flywheel dataset`` commands print with exit status 2 instead of a traceback.
"""
from __future__ import annotations

import json
import math
import os
import uuid
from pathlib import Path
from typing import Any

from flywheel.oserrors import explain, failed_path

TMP_PREFIX = ".tmp-"


class DatasetError(ValueError):
    """A dataset on disk is missing, unfinished, corrupt or inconsistent. The message names the file."""

    def __init__(self, path: str | os.PathLike, message: str):
        self.path = Path(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")


class DatasetIOError(DatasetError):
    """The environment failed (ENOSPC, EROFS, EACCES, ENOTDIR, ELOOP, ...): the message names the path and what to do."""

    def __init__(self, path: str | os.PathLike, message: str, errno: int | None = None):
        self.errno = errno
        super().__init__(path, message)


def environment_error(err: OSError, path: str | os.PathLike, doing: str, note: str = "") -> DatasetIOError:
    """``err`` as one clear line: ``PATH: cannot DOING: what happened; what to do[; note]`` (see flywheel.oserrors)."""
    message = explain(err, doing)
    if note:
        message += f"; {note}"
    return DatasetIOError(failed_path(err, path), message, getattr(err, "errno", None))


def tmp_path_for(path: Path) -> Path:
    """A unique temporary name next to ``path`` (same folder, so the rename stays on one filesystem)."""
    return path.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{path.name}")


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit(tmp: Path, final: Path) -> None:
    """fsync ``tmp`` and rename it to ``final`` atomically."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    fsync_dir(final.parent)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path_for(path)
    with open(tmp, "wb") as f:
        f.write(data)
    commit(tmp, path)


def write_json_atomic(path: Path, data: Any, *, allow_inf: bool = False) -> None:
    """JSON with sorted-free, stable formatting (indent 4, like LeRobot) written atomically.

    The one JSON writer of the package. NaN is always refused (ValueError naming the field) rather than
    written as the non-JSON token ``NaN``; so is inf, unless ``allow_inf`` - only for our metadata files
    (``meta/flywheel.json``, ``staging/spec.json``), which carry the user's robot spec, where an unbounded
    joint limit is legitimately ``inf`` (written as ``Infinity``, as before). Statistics and info.json never.
    """
    where = nonfinite_field(data, allow_inf=allow_inf)
    if where is not None:
        raise ValueError(f"{path}: refusing to write {where[0]} = {where[1]} (not a finite number)")
    write_bytes_atomic(path, (json.dumps(data, indent=4, ensure_ascii=False, allow_nan=allow_inf) + "\n").encode())


def nonfinite_field(data: Any, *, allow_inf: bool = False) -> tuple[str, float] | None:
    """The first NaN (or, unless ``allow_inf``, inf) float in nested dicts/lists, as (dotted field, value)."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        name, x = stack.pop()
        if isinstance(x, float) and not math.isfinite(x) and not (allow_inf and math.isinf(x)):
            return name or "(top level)", x
        if isinstance(x, dict):
            stack.extend((f"{name}.{k}" if name else str(k), v) for k, v in reversed(list(x.items())))
        elif isinstance(x, (list, tuple)):
            stack.extend((f"{name}[{i}]", v) for i, v in reversed(list(enumerate(x))))
    return None


def read_json(path: Path, *, allow_inf: bool = False) -> Any:
    """Read a JSON file; a missing, unreadable or unparsable file raises DatasetError naming it.

    A ``NaN`` (or, unless ``allow_inf``, ``Infinity``) token, which Python's json accepts but JSON does
    not, is reported with its field: every number this package reads must be finite (``allow_inf`` only
    for our metadata files, see ``write_json_atomic``).
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DatasetError(path, "file is missing") from None
    except UnicodeDecodeError:
        raise DatasetError(path, "not valid JSON (not UTF-8 text)") from None
    except OSError as err:
        raise environment_error(err, path, "read the file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DatasetError(path, f"not valid JSON ({err})") from None
    except RecursionError:
        raise DatasetError(path, "not valid JSON (nested too deeply)") from None
    where = nonfinite_field(data, allow_inf=allow_inf)
    if where is not None:
        raise DatasetError(path, f"{where[0]} is {where[1]}: every number must be finite")
    return data


def remove_tmp_files(folder: Path) -> int:
    """Remove leftovers of writers killed before their rename; returns how many were removed."""
    n = 0
    if folder.is_dir():
        for p in folder.iterdir():
            if p.name.startswith(TMP_PREFIX) and p.is_file():
                try:
                    p.unlink()
                    n += 1
                except FileNotFoundError:
                    pass
    return n

"""Atomic file writes and the one error type readers raise.

Every file this package writes appears under its final name complete or not at all: it is written to a
temporary name in the same folder, flushed to disk, then ``os.replace``d (atomic on POSIX). A process
killed at any instant therefore leaves either the old state or the new one, plus at most a ``.tmp-*``
file that readers ignore and the next writer removes.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

TMP_PREFIX = ".tmp-"


class DatasetError(ValueError):
    """A dataset on disk is missing, unfinished, corrupt or inconsistent. The message names the file."""

    def __init__(self, path: str | os.PathLike, message: str):
        self.path = Path(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")


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


def write_json_atomic(path: Path, data: Any) -> None:
    """JSON with sorted-free, stable formatting (indent 4, like LeRobot) written atomically."""
    write_bytes_atomic(path, (json.dumps(data, indent=4, ensure_ascii=False) + "\n").encode())


def read_json(path: Path) -> Any:
    """Read a JSON file; a missing or unparsable file raises DatasetError naming it."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DatasetError(path, "file is missing") from None
    except OSError as err:
        raise DatasetError(path, f"cannot read: {err}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DatasetError(path, f"not valid JSON ({err})") from None


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

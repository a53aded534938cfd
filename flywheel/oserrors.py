"""Operating-system failures as one clear line: what happened and what to do, by errno.

One table for every layer (the datasets writer, the collectors, the command line), so a full disk or a read-only
folder reads the same wherever it is met. Imports nothing but the standard library.
"""
from __future__ import annotations

import errno
import os

# errno -> (what happened, what to do)
ENVIRONMENT = {
    errno.ENOSPC: ("no space left on the device", "free some space (or use another disk) and run the command again"),
    errno.EDQUOT: ("disk quota exceeded", "free some space within your quota and run the command again"),
    errno.EROFS: ("the file system is read-only", "use a folder on a writable file system"),
    errno.EACCES: ("permission denied", "fix the folder's permissions or use a folder you can write to"),
    errno.EPERM: ("operation not permitted", "fix the folder's permissions or use a folder you can write to"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "use a path whose parents are folders"),
    errno.ELOOP: ("a symbolic-link loop (too many levels of symbolic links, a symlink loop)",
                  "remove the symlink loop or use another path"),
    errno.EISDIR: ("a folder is where a file should be", "remove or rename that folder"),
    errno.EEXIST: ("a file is in the way", "remove or rename it, or use another path"),
    errno.ENAMETOOLONG: ("the file name is too long", "use a shorter path"),
    errno.EIO: ("input/output error from the device", "check the disk, then run the command again"),
}


def failed_path(err: OSError, default: str | os.PathLike | None = None) -> str | None:
    """The path the OS named in ``err`` (more precise than the caller's), else ``default``."""
    where = err.filename if isinstance(getattr(err, "filename", None), (str, bytes, os.PathLike)) else default
    if isinstance(where, bytes):
        where = os.fsdecode(where)
    return None if where is None else os.fspath(where)


def explain(err: OSError, doing: str | None = None) -> str:
    """``cannot DOING: what happened; what to do`` (without the path)."""
    what, todo = ENVIRONMENT.get(getattr(err, "errno", None), (None, None))
    prefix = f"cannot {doing}: " if doing else ""
    if what is None:
        return prefix + (err.strerror or str(err) or type(err).__name__) + "; check the path and the disk"
    return f"{prefix}{what}; {todo}"


def one_line(err: OSError, path: str | os.PathLike | None = None, doing: str | None = None) -> str:
    """``PATH: cannot DOING: what happened; what to do``."""
    where = failed_path(err, path)
    return f"{where}: {explain(err, doing)}" if where else explain(err, doing)

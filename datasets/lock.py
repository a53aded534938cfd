"""One writer per dataset folder: an exclusive, OS-level lock on ``ROOT/.flywheel.lock``.

Why: two processes writing the same dataset (two ``collect --resume`` runs, a ``finalize`` racing a
collector) interleave their finalisations and destroy it - ``info.json`` from one, ``meta/episodes`` and
the staging area from the other. Every writer (collect, resume, finalize, replay-into, retarget-into)
therefore holds this lock for its whole run; readers (``open``, ``validate``, LeRobot) never take it.

Why ``fcntl.flock`` and not a pid file: the kernel releases a flock when the last file descriptor of the
locking open file description is closed, which happens however the holder ends - normal exit, exception,
``SIGKILL``, OOM kill, power loss of a local process. A lock left by a dead process is therefore taken over
safely *by construction*: there is no pid to probe, no stale-lock heuristic, no race between "is it dead?"
and "take it". (Caveats: a process that ``fork``s while holding the lock shares it with the child until
both have closed it; on NFS, Linux emulates flock with POSIX byte-range locks, which works across hosts
only if the server supports locking.)

The file holds the holder's pid, host, start time and purpose as one JSON line, written after the lock is
taken, so a refused writer can say who holds it. The holder removes the file on release (while still
holding the lock), so a finished dataset carries no stray file; an acquirer that raced with that removal
finds the inode it locked is no longer the one at the path and tries again. The name starts with a dot and
sits at the dataset root, outside ``meta/``, ``data/`` and ``videos/``: LeRobot and ``validate`` never look at it.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from ._io import DatasetError, environment_error

LOCK_NAME = ".flywheel.lock"


class DatasetLocked(ValueError):
    """Another process holds the dataset's lock. The message is one line: the dataset, the holder and what to do."""

    def __init__(self, root: Path, holder: dict[str, Any] | None, purpose: str):
        self.root = Path(root)
        self.holder = holder or {}
        h = self.holder
        if h.get("pid") is not None:
            who = (f"pid {h.get('pid')} on {h.get('host', '?')}, since {h.get('started', '?')}, "
                   f"for {h.get('purpose', '?')!r}")
            if h.get("pid") == os.getpid() and h.get("host") == socket.gethostname():
                who += " (this very process: a nested lock)"
        else:
            who = "a process that is still starting (no holder written yet)"
        super().__init__(
            f"{self.root}: dataset is locked by another writer ({who}), so {purpose!r} cannot run now. "
            f"Wait for it to finish or stop it; if that process is gone, the system has already released "
            f"the lock and running this again will work"
        )


def read_holder(root: str | os.PathLike) -> dict[str, Any] | None:
    """What the lock file says about its holder (pid, host, started, purpose), or None if absent or unreadable.

    Only informative: whether the lock is *held* is known only by trying to take it.
    """
    try:
        text = (Path(root) / LOCK_NAME).read_text()
        holder = json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


class DatasetLock:
    """Exclusive lock on the dataset folder ``root`` for one writer; refused at once if held elsewhere.

    Use as a context manager (``with DatasetLock(out, "collect"):``) or with ``acquire()``/``release()``.
    ``purpose`` says what the holder is doing (shown to a refused writer). ``create=True`` makes the folder
    if it does not exist yet (a collector writing into a new ``--out``); otherwise a missing folder is a
    DatasetError. Not re-entrant: a second ``DatasetLock`` on the same folder in the same process is refused
    too, because flock locks belong to open files, not processes.
    """

    def __init__(self, root: str | os.PathLike, purpose: str, *, create: bool = False):
        self.root = Path(root)
        self.purpose = str(purpose)
        self.create = create
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        return self.root / LOCK_NAME

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "DatasetLock":
        """Take the lock or raise DatasetLocked naming the holder; DatasetError for an unusable folder."""
        if self._fd is not None:
            raise RuntimeError(f"{self.root}: this DatasetLock is already held")
        try:
            if self.create:
                self.root.mkdir(parents=True, exist_ok=True)
            if not self.root.is_dir():
                raise DatasetError(self.root, "no such folder" if not self.root.exists() else "not a folder")
            while True:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    raise DatasetLocked(self.root, read_holder(self.root), self.purpose) from None
                except BaseException:
                    os.close(fd)
                    raise
                if self._same_file(fd):
                    break
                os.close(fd)  # the previous holder removed the file after we opened it: lock the new one
            self._fd = fd
            self._write_holder()
        except OSError as err:
            if self._fd is not None:
                self.release()
            raise environment_error(err, self.path, "take the dataset lock") from None
        return self

    def _same_file(self, fd: int) -> bool:
        try:
            st = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)

    def _write_holder(self) -> None:
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "purpose": self.purpose,
        }
        data = (json.dumps(holder) + "\n").encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        """Remove the lock file and release the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            try:
                if self._same_file(fd):
                    os.unlink(self.path)  # while still locked: nobody can take the lock on a file we remove
            except OSError as err:
                if err.errno not in (errno.ENOENT, errno.EROFS, errno.EACCES, errno.EPERM):
                    raise
        finally:
            os.close(fd)  # releases the flock

    def __enter__(self) -> "DatasetLock":
        return self.acquire()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"DatasetLock({str(self.root)!r}, {self.purpose!r}, held={self.held})"

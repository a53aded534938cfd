"""The ``flywheel`` command line: one entry point, each subpackage contributes its own commands.

Each command module exposes ``add_commands(subparsers)`` and keeps heavy imports (pybullet, ray)
inside its handlers, so ``flywheel --help`` stays fast and a broken optional part cannot hide the rest.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import sys

COMMAND_MODULES = (
    "flywheel.robots.cli",
    "flywheel.datasets.cli",
    "flywheel.collectors.collection.cli",
    "flywheel.collectors.learning.cli",
    "flywheel.collectors.bench.cli",
)


class UserError(Exception):
    """An error caused by the user's input: printed as one clear message, no traceback."""


_WHAT_TO_DO = {
    errno.ENOSPC: "free space on that disk (or write elsewhere), then run the same command again (add --resume to "
                  "continue a collection)",
    errno.EDQUOT: "free space in your quota (or write elsewhere), then run the same command again",
    errno.EROFS: "that file system is read-only: choose an output folder on a writable disk",
    errno.EACCES: "you may not write or read there: fix its permissions or choose another folder",
    errno.EPERM: "the operation is not permitted there: fix its permissions or choose another folder",
    errno.ENOTDIR: "a part of that path is a file, not a folder: choose another path",
    errno.EISDIR: "that path is a folder where a file is expected: choose a file path",
    errno.ELOOP: "that path is a symbolic link loop: fix the link or choose another path",
    errno.ENAMETOOLONG: "that path is too long: choose a shorter one",
    errno.EEXIST: "a file is in the way there: choose another path",
}


def environment_error(err: OSError) -> str:
    """One line for an operating-system failure: the path, what happened, and what to do."""
    where = err.filename if err.filename is not None else "?"
    what = err.strerror or str(err)
    todo = _WHAT_TO_DO.get(err.errno, "check the path and the disk, then run the command again")
    return f"{where}: {what}; {todo}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flywheel", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue  # that part is not built yet
            raise
        module.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.handler(args)
    except (UserError, FileNotFoundError, ValueError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"flywheel {args.command}: error: {message}", file=sys.stderr)
        return 2
    except OSError as err:  # the machine, not the input: a full disk, a read-only folder, a path through a file
        print(f"flywheel {args.command}: error: {environment_error(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"flywheel {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())

"""Where robots are found: built-in spec files, the user's robots folder, and `FLYWHEEL_ROBOTS_PATH`.

A robot is named either by its spec name or by the path of its spec file, so `robot="panda"` and
`robot="~/my_robots/arm.toml"` work the same everywhere (gymnasium.make, the CLI, the collectors).
"""
from __future__ import annotations

import os
from pathlib import Path

from flywheel.robots.spec import RobotSpec, SpecError, load_spec

BUILTIN_DIR = Path(__file__).resolve().parent / "specs"


def user_robots_dir() -> Path:
    """`flywheel robots add` writes here unless told otherwise."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "flywheel" / "robots"


def search_dirs() -> list[Path]:
    extra = [Path(p).expanduser() for p in os.environ.get("FLYWHEEL_ROBOTS_PATH", "").split(os.pathsep) if p]
    return [*extra, user_robots_dir(), BUILTIN_DIR]


def spec_files() -> dict[str, Path]:
    """Name -> spec file; earlier search dirs win, so a user can override a built-in by name."""
    found: dict[str, Path] = {}
    for folder in reversed(search_dirs()):
        try:
            paths = sorted(folder.glob("*.toml")) if folder.is_dir() else []
        except OSError:  # an unreadable folder on the path hides no other robot; `robots list` shows the folders
            continue
        for path in paths:
            found[path.stem] = path
    return found


def names() -> list[str]:
    return sorted(spec_files())


def list() -> "list[RobotSpec]":  # noqa: A001 - the issue asks for flywheel.robots.list()
    return [load_spec(path) for path in spec_files().values()]


def get(robot: "str | os.PathLike | RobotSpec") -> RobotSpec:
    """A built-in or user robot by name, or a spec file by path."""
    if isinstance(robot, RobotSpec):
        return robot
    text = os.fspath(robot)
    if text.endswith(".toml") or os.sep in text:
        return load_spec(Path(text).expanduser())
    files = spec_files()
    if text not in files:
        available = ", ".join(sorted(files)) or "none"
        raise KeyError(f"unknown robot {text!r}; available robots: {available} (or pass the path of a spec .toml file)")
    return load_spec(files[text])


__all__ = ["get", "list", "names", "search_dirs", "user_robots_dir", "SpecError"]

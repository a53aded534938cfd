"""Where a URDF's mesh references point on disk: ``package://`` URIs (``--package-dir``, the URDF's parent folders,
ROS_PACKAGE_PATH), ``file://`` URIs and paths relative to the URDF or its parents, as PyBullet finds them."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable


def parse_package_dirs(items: Iterable[str] | None) -> dict[str, Path]:
    """`NAME=PATH` strings (the CLI's --package-dir) -> {name: folder}."""
    out = {}
    for item in items or ():
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise ValueError(f"--package-dir expects NAME=PATH, got {item!r}")
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise ValueError(f"--package-dir {name}={folder}: {path} is not a folder")
        out[name] = path.resolve()
    return out


def _search_roots(urdf_dir: Path) -> list[Path]:
    roots = [urdf_dir, *urdf_dir.parents]
    for entry in os.environ.get("ROS_PACKAGE_PATH", "").split(os.pathsep):
        if entry:
            roots.append(Path(entry).expanduser())
    return roots


def _suffixes(parts: tuple[str, ...]):
    """'a/b/c.stl' -> 'a/b/c.stl', 'b/c.stl' (never the bare file name: too many meshes share one)."""
    for k in range(len(parts) - 1):
        yield Path(*parts[k:])


def _under_tree(inner: Path, roots: list[Path]) -> Path | None:
    """`inner` (or its tail) under one of `roots`: a mesh named relative to its package, found by its path."""
    for tail in _suffixes(inner.parts):
        for root in roots:
            cand = root / tail
            if cand.is_file():
                return cand
    return None


def resolve_mesh(filename: str, urdf_dir: Path, package_dirs: dict[str, Path] | None = None) -> tuple[Path | None, str]:
    """Where a mesh reference points on disk: (path or None, what was searched or how it was found, for the report).

    ``package://NAME/rest``: --package-dir NAME=PATH (PATH/rest, or PATH/NAME/rest when PATH holds the package), a
    parent folder called NAME, NAME under a parent folder, ROS_PACKAGE_PATH; and when NAME matches no folder (a
    package renamed, two names for one mesh folder), `rest` by its relative path under the URDF's parent folders
    and the other --package-dir folders. ``file://`` URIs and plain paths: as written, else their tail under the
    URDF's folder tree (an absolute path from the machine the URDF was exported on).
    """
    package_dirs = package_dirs or {}
    parents = [urdf_dir, *urdf_dir.parents]
    if filename.startswith("package://"):
        rest = filename[len("package://"):].lstrip("/")
        package, _, inner = rest.partition("/") if not filename.startswith("package:///") else ("", "", rest)
        if not inner:
            return None, "a package:// URI needs a package name and a path"
        candidates = []
        if package in package_dirs:
            candidates += [package_dirs[package] / inner, package_dirs[package] / package / inner]
        for root in _search_roots(urdf_dir):
            if root.name == package:
                candidates.append(root / inner)
            candidates.append(root / package / inner)
        for cand in candidates:
            if cand.is_file():
                return cand, ""
        found = _under_tree(Path(inner), [*package_dirs.values(), *parents])
        if found is not None:
            named = f"package '{package}'" if package else "a package:// URI without a package name"
            return found, (f"{named} matches no folder: its meshes were found by their relative path under "
                           f"{_root_of(found, Path(inner))} (pass --package-dir {package or 'NAME'}=PATH to choose)")
        return None, (f"package '{package}' was not found in {urdf_dir} or its parents"
                      f"{' or ROS_PACKAGE_PATH' if os.environ.get('ROS_PACKAGE_PATH') else ''}, nor {inner} under them; "
                      f"pass --package-dir {package or 'NAME'}=PATH")
    if filename.startswith("file://"):
        filename = filename[len("file://"):]
    path = Path(filename).expanduser()
    if path.is_absolute():
        if path.is_file():
            return path, ""
        found = _under_tree(Path(*path.parts[1:]), [*package_dirs.values(), *parents])
        if found is not None:
            return found, (f"absolute mesh paths that do not exist here (from the machine the URDF was written on) "
                           f"were found by their tail under {_root_of(found, path)}")
        return None, f"no file {path}"
    for root in parents:  # PyBullet also finds meshes named relative to a parent folder
        if (root / path).is_file():
            return root / path, ""
    return None, f"no file {urdf_dir / path} (nor {path} under its parent folders)"


def _root_of(found: Path, inner: Path) -> Path:
    """The folder `found` was found under, for the message."""
    out = found
    for _ in range(len(inner.parts)):
        if out.parent == out:
            break
        out = out.parent
    return out

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


def resolve_mesh(filename: str, urdf_dir: Path, package_dirs: dict[str, Path] | None = None) -> tuple[Path | None, str]:
    """Where a mesh reference points on disk: (path or None, what was searched, for the message)."""
    package_dirs = package_dirs or {}
    if filename.startswith("package://"):
        rest = filename[len("package://"):]
        package, _, inner = rest.partition("/")
        if not package or not inner:
            return None, "a package:// URI needs a package name and a path"
        candidates = []
        if package in package_dirs:
            candidates.append(package_dirs[package] / inner)
        for root in _search_roots(urdf_dir):
            if root.name == package:
                candidates.append(root / inner)
            candidates.append(root / package / inner)
        for cand in candidates:
            if cand.is_file():
                return cand, ""
        return None, (f"package '{package}' was not found in {urdf_dir} or its parents"
                      f"{' or ROS_PACKAGE_PATH' if os.environ.get('ROS_PACKAGE_PATH') else ''}; "
                      f"pass --package-dir {package}=PATH")
    if filename.startswith("file://"):
        filename = filename[len("file://"):]
    path = Path(filename).expanduser()
    if path.is_absolute():
        return (path, "") if path.is_file() else (None, f"no file {path}")
    for root in [urdf_dir, *urdf_dir.parents]:  # PyBullet also finds meshes named relative to a parent folder
        if (root / path).is_file():
            return root / path, ""
    return None, f"no file {urdf_dir / path} (nor {path} under its parent folders)"

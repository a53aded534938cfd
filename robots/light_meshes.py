"""Heavy collision meshes made light, so PyBullet does not crawl.

PyBullet turns every collision mesh of a moving body into a convex hull of all the mesh's vertices, at load and
then at every contact query: a 44k-triangle mesh took 4.9 s to load and made stepping 6x slower than a 1.7k one
(measured; see the issue-13 note). So `robots add` replaces a collision mesh of more than `HEAVY_TRIANGLES`
triangles by a small point set with the same hull at a finer-than-centimetre grid: the mesh's vertices are
clustered on a grid (`GRID` cells along its longest side) and each cell keeps the vertex farthest from the centre,
so the hull does not shrink. PyBullet builds the hull of those points; visuals keep the original mesh.

Reads binary and ASCII STL and OBJ (numpy only); other formats (COLLADA .dae) are left as they are.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

HEAVY_TRIANGLES = 5000  # G1: 38 collision meshes up to 19k triangles loaded in 6-26 s
GRID = 24
MAX_MESH_BYTES = 200 * 2**20  # beyond this a "mesh" is not worth reading here; PyBullet gets it as it is


def read_mesh(path: Path) -> tuple[np.ndarray, int] | None:
    """(vertices, triangle count) of an STL or OBJ file; None when the format is another or unreadable."""
    try:
        if path.stat().st_size > MAX_MESH_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    suffix = path.suffix.lower()
    try:
        if suffix == ".stl":
            return _stl(data)
        if suffix == ".obj":
            return _obj(data)
    except (ValueError, struct.error):
        return None
    return None


def _stl(data: bytes) -> tuple[np.ndarray, int] | None:
    if len(data) >= 84:
        count = struct.unpack_from("<I", data, 80)[0]
        if 84 + 50 * count == len(data):  # binary
            records = np.frombuffer(data, dtype=np.dtype([("n", "<3f4"), ("v", "<9f4"), ("a", "<u2")]),
                                    count=count, offset=84)
            return records["v"].reshape(-1, 3).astype(float), count
    text = data.decode("ascii", "replace")
    verts = [line.split()[1:4] for line in text.splitlines() if line.strip().startswith("vertex")]
    if not verts:
        return None
    return np.array(verts, dtype=float), len(verts) // 3


def _obj(data: bytes) -> tuple[np.ndarray, int] | None:
    verts, faces = [], 0
    for line in data.decode("utf-8", "replace").splitlines():
        if line.startswith("v "):
            verts.append(line.split()[1:4])
        elif line.startswith("f "):
            faces += max(1, len(line.split()) - 3)
    if not verts:
        return None
    return np.array(verts, dtype=float), faces


def hull_points(vertices: np.ndarray, grid: int = GRID) -> np.ndarray:
    """The vertices clustered on a grid, keeping in each cell the one farthest from the centre."""
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    cell = max(float(np.max(hi - lo)) / grid, 1e-9)
    keys = np.floor((vertices - lo) / cell).astype(np.int64)
    centre = (lo + hi) / 2
    dist = np.linalg.norm(vertices - centre, axis=1)
    order = np.lexsort((-dist, keys[:, 2], keys[:, 1], keys[:, 0]))  # per cell, farthest first
    sorted_keys = keys[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = np.any(sorted_keys[1:] != sorted_keys[:-1], axis=1)
    return vertices[order[first]]


def light_obj(points: np.ndarray, source: Path, triangles: int) -> str:
    """An OBJ of the points, with triangles over them so every point is referenced (PyBullet hulls the points)."""
    lines = [f"# light collision mesh for {source} ({triangles} triangles -> {len(points)} hull points), "
             "written by flywheel robots add"]
    lines += [f"v {x:.7g} {y:.7g} {z:.7g}" for x, y, z in points]
    n = len(points)
    lines += [f"f {k + 1} {(k + 1) % n + 1} {(k + 2) % n + 1}" for k in range(0, n, 1)]
    return "\n".join(lines) + "\n"


def heavy_collision_meshes(model) -> dict[str, tuple[str, int, int]]:
    """{mesh filename as written in the URDF: (light OBJ text, triangles before, points after)} for every heavy
    collision mesh of `model` (a `flywheel.robots.urdf.URDFModel`)."""
    out = {}
    for link in model.links.values():
        for g in link.collisions:
            if g.kind != "mesh" or g.path is None or g.filename in out:
                continue
            mesh = read_mesh(g.path)
            if mesh is None or mesh[1] <= HEAVY_TRIANGLES:
                continue
            points = hull_points(mesh[0])
            out[g.filename] = (light_obj(points, g.path, mesh[1]), mesh[1], len(points))
    return out

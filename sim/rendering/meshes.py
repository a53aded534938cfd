"""Simplified visual meshes, made once per model and cached on disk, for cameras.

Why: TinyRenderer's cost follows triangles far more than pixels (Panda's stock visual meshes, ~102k triangles,
take about as long at 32x32 as at 224x224), and a policy's 224-pixel camera cannot tell 100k triangles from 10k.
`simplified_urdf` writes a copy of a URDF whose ``<visual>`` OBJ meshes are quadric-decimated
(fast-simplification, the Fast-Quadric-Mesh-Simplification algorithm) to a triangle budget shared by the model's
meshes in proportion to their size. Collision meshes, inertias and every other element are untouched (their file
references are made absolute), so physics is bit for bit that of the original model; only pictures change.

The cache (``$FLYWHEEL_CACHE`` or ``~/.cache/flywheel``, ``meshes/<key>/``) is keyed by the URDF's bytes, its
visual meshes' bytes, the budget and `FORMAT`, and written to a temporary folder renamed into place, so concurrent
workers building the same model never see a half-written copy. Models without OBJ visuals (primitives, STL, DAE,
MJCF) or already within the budget are returned unchanged.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from flywheel.robots.meshes import resolve_mesh
from flywheel.robots.spec import RobotSpec

VISUAL_TRIANGLES = 8000  # the default budget per robot model: Panda (102k stock) renders 2x faster, images within ~1/255
FORMAT = 2  # bump when the written files change, so old cache entries are not reused
MIN_TRIANGLES = 64  # no mesh is decimated below this (small parts keep their shape)


def cache_root() -> Path:
    return Path(os.environ.get("FLYWHEEL_CACHE") or Path.home() / ".cache" / "flywheel") / "meshes"


# ---- OBJ reading and writing ---------------------------------------------------------------------
def read_obj(path: Path) -> tuple[np.ndarray, np.ndarray, str | None, str | None]:
    """(vertices (V, 3), triangles (F, 3) zero-based, mtllib name, first usemtl name) of an OBJ file; polygons are
    fanned into triangles and every group is merged (PyBullet draws one colour per visual mesh anyway)."""
    verts, faces, mtllib, material = [], [], None, None
    with open(path, "r", errors="replace") as f:
        for line in f:
            if line.startswith("v "):
                verts.append([float(x) for x in line.split()[1:4]])
            elif line.startswith("f "):
                idx = []
                for token in line.split()[1:]:
                    i = int(token.split("/")[0])
                    idx.append(i - 1 if i > 0 else len(verts) + i)
                faces.extend([idx[0], idx[k], idx[k + 1]] for k in range(1, len(idx) - 1))
            elif line.startswith("mtllib ") and mtllib is None:
                mtllib = line.split(None, 1)[1].strip()
            elif line.startswith("usemtl ") and material is None:
                material = line.split(None, 1)[1].strip()
    return np.asarray(verts, np.float64).reshape(-1, 3), np.asarray(faces, np.int64).reshape(-1, 3), mtllib, material


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted smooth normals (TinyRenderer shades with the file's normals)."""
    tri = verts[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    out = np.zeros_like(verts)
    for k in range(3):
        np.add.at(out, faces[:, k], n)
    length = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, length, out=np.zeros_like(out) + [0.0, 0.0, 1.0], where=length > 0)


def write_obj(path: Path, verts: np.ndarray, faces: np.ndarray, mtllib: str | None, material: str | None) -> None:
    normals = vertex_normals(verts, faces)
    lines = [f"mtllib {mtllib}"] if mtllib else []
    lines += [f"v {x:.6g} {y:.6g} {z:.6g}" for x, y, z in verts]
    lines += [f"vn {x:.4f} {y:.4f} {z:.4f}" for x, y, z in normals]
    if material:
        lines.append(f"usemtl {material}")
    lines += [f"f {a}//{a} {b}//{b} {c}//{c}" for a, b, c in faces + 1]
    path.write_text("\n".join(lines) + "\n")


def decimate(verts: np.ndarray, faces: np.ndarray, triangles: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadric decimation to about ``triangles`` triangles (unchanged when already at or under it)."""
    if len(faces) <= triangles:
        return verts, faces
    import fast_simplification

    v, f = fast_simplification.simplify(verts.astype(np.float32), faces.astype(np.int32),
                                        target_reduction=1.0 - triangles / len(faces))
    return np.asarray(v, np.float64), np.asarray(f, np.int64)


# ---- the simplified copy of a URDF ------------------------------------------------------------------
def _visual_meshes(root: ET.Element) -> list[ET.Element]:
    return [m for visual in root.iter("visual") for m in visual.iter("mesh")]


def simplified_urdf(urdf: str | os.PathLike, budget: int, cache: Path | None = None) -> Path:
    """A URDF like ``urdf`` whose visual OBJ meshes hold about ``budget`` triangles in all (cached); ``urdf``
    itself when there is nothing to simplify (or fast-simplification is not installed)."""
    urdf = Path(urdf).resolve()
    try:
        import fast_simplification  # noqa: F401
    except ImportError:
        return urdf
    if urdf.suffix.lower() != ".urdf":
        return urdf
    text = urdf.read_bytes()
    root = ET.fromstring(text)
    base = urdf.parent
    visual = {m: resolve_mesh(m.get("filename", ""), base)[0] for m in _visual_meshes(root)}
    objs = sorted({p for p in visual.values() if p is not None and p.suffix.lower() == ".obj"})
    if not objs:
        return urdf
    key = hashlib.sha256(text + repr((FORMAT, int(budget))).encode())
    for p in objs:
        key.update(str(p).encode() + p.read_bytes())
    folder = (cache or cache_root()) / key.hexdigest()[:24]
    out = folder / urdf.name
    if out.is_file():
        return out
    counts = {p: read_obj(p) for p in objs}
    total = sum(len(c[1]) for c in counts.values())
    if total <= budget:
        return urdf
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    except OSError:  # no writable cache: render the stock meshes (slower, never wrong)
        return urdf
    try:
        names = {}
        for k, (p, (verts, faces, mtllib, material)) in enumerate(counts.items()):
            share = max(MIN_TRIANGLES, int(budget * len(faces) / total))
            v, f = decimate(verts, faces, share)
            if mtllib and (p.parent / mtllib).is_file():  # colours kept; texture maps dropped (no UVs after decimation)
                text = (p.parent / mtllib).read_text(errors="replace").splitlines()
                mtllib = f"{k:03d}-{Path(mtllib).name}"
                (tmp / mtllib).write_text("\n".join(l for l in text if not l.lstrip().startswith("map_")) + "\n")
            else:
                mtllib = None
            names[p] = f"{k:03d}-{p.name}"
            write_obj(tmp / names[p], v, f, mtllib, material)
        visual_elements = set(visual)
        for element in root.iter("mesh"):  # every other file reference made absolute: the copy lives elsewhere
            target = visual.get(element) if element in visual_elements else resolve_mesh(element.get("filename", ""), base)[0]
            if target is None:
                continue
            element.set("filename", names[target] if element in visual_elements and target in names else str(target))
        ET.ElementTree(root).write(tmp / urdf.name, encoding="utf-8", xml_declaration=True)
        try:
            tmp.rename(folder)
        except OSError:  # another worker made it first
            if not out.is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def triangle_count(urdf: str | os.PathLike) -> int:
    """Triangles of a URDF's visual OBJ meshes (what TinyRenderer draws for the robot, primitives aside)."""
    urdf = Path(urdf).resolve()
    root = ET.fromstring(urdf.read_bytes())
    paths = {resolve_mesh(m.get("filename", ""), urdf.parent)[0] for m in _visual_meshes(root)}
    return sum(len(read_obj(p)[1]) for p in paths if p is not None and p.suffix.lower() == ".obj")


def render_spec(spec: RobotSpec, budget: int) -> RobotSpec:
    """``spec`` loading a copy of its model with simplified visual meshes (the spec itself when nothing changes).
    Only the loaded model differs: datasets keep recording the original spec and its model's hash."""
    if spec.model_format != "urdf" or not spec.model_path().is_file():
        return spec
    try:
        path = simplified_urdf(spec.model_path(), budget)
    except (ET.ParseError, OSError, ValueError, IndexError):  # a model the loader will name the problem of
        return spec
    return spec if path == spec.model_path().resolve() else dataclasses.replace(spec, model=str(path))

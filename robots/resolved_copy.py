"""The URDF that `robots add` makes the spec load when the user's file cannot be loaded as it is.

PyBullet cannot search package folders, does not repair placeholder inertias, and refuses a URDF whose visual mesh
is missing; rather than touching the user's file, `robots add` writes a copy (``NAME.resolved.urdf``, never over
its input) with every mesh path absolute, the inertias `flywheel.robots.urdf.repair_inertias` repaired, visuals
whose mesh is nowhere dropped, and heavy collision meshes swapped for the light hulls `flywheel.robots.meshes`
made. Every change is said in the spec's comments.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from flywheel.robots.urdf import URDFModel, read_urdf_text


def _pybullet_finds(model: URDFModel, filename: str) -> bool:
    rel = filename[len("package://"):] if filename.startswith("package://") else filename
    rel = rel[len("file://"):] if rel.startswith("file://") else rel
    cand = Path(rel)
    return (cand if cand.is_absolute() else model.path.parent / cand).is_file()


def reasons_for_copy(model: URDFModel, light_meshes: dict[str, Path] | None = None) -> list[str]:
    """Why the URDF cannot be loaded as it is (empty: it can)."""
    reasons = []
    meshes = model.meshes()
    if any(g.path is not None and not _pybullet_finds(model, g.filename) for g in meshes):
        reasons.append("mesh paths made absolute (PyBullet cannot search package folders)")
    if model.repaired:
        reasons.append(f"inertias repaired on {len(model.repaired)} link(s): {', '.join(sorted(model.repaired)[:4])}"
                       + (" ..." if len(model.repaired) > 4 else ""))
    missing = sorted({g.filename for g in meshes if g.path is None and g.role == "visual"})
    if missing:
        reasons.append(f"{len(missing)} visual mesh(es) that are nowhere on disk dropped ({missing[0]}"
                       + (" ..." if len(missing) > 1 else "") + ")")
    if light_meshes:
        reasons.append(f"{len(light_meshes)} heavy collision mesh(es) replaced by light convex hulls")
    return reasons


def resolved_copy(model: URDFModel, light_meshes: dict[str, Path] | None = None) -> bytes | None:
    """None when PyBullet loads the URDF as it is; else the text of the copy (see the module docstring)."""
    from flywheel.robots.spec_writer import mark_text

    if not reasons_for_copy(model, light_meshes):
        return None
    data, _ = read_urdf_text(model.path)
    root = ET.fromstring(data)
    resolved = {g.filename: g.path for g in model.meshes() if g.path is not None}
    light_meshes = light_meshes or {}
    for link in root.findall("link"):
        for role in ("visual", "collision"):
            for elem in list(link.findall(role)):
                mesh = elem.find("geometry/mesh")
                if mesh is None:
                    continue
                fn = mesh.get("filename")
                if role == "collision" and fn in light_meshes:
                    mesh.set("filename", str(light_meshes[fn]))
                elif fn in resolved:
                    mesh.set("filename", str(resolved[fn]))
                elif role == "visual":
                    link.remove(elem)
        name = link.get("name")
        if name in model.repaired:
            _write_inertial(link, model, name)
    body = ET.tostring(root, encoding="unicode") + "\n"
    return mark_text(body, ("<!-- ", " -->")).encode("utf-8")


def _write_inertial(link: ET.Element, model: URDFModel, name: str) -> None:
    inertial = model.links[name].inertial
    old = link.find("inertial")
    if old is not None:
        link.remove(old)
    elem = ET.Element("inertial")
    xyz = inertial.origin[:3, 3]
    rot = inertial.origin[:3, :3]
    # the repaired tensor is about the centre of mass, in the inertial frame: keep the frame as the file had it
    rpy = _rpy(rot)
    ET.SubElement(elem, "origin", xyz=" ".join(f"{v:.9g}" for v in xyz), rpy=" ".join(f"{v:.9g}" for v in rpy))
    ET.SubElement(elem, "mass", value=f"{inertial.mass:.9g}")
    t = inertial.inertia
    ET.SubElement(elem, "inertia", ixx=f"{t[0, 0]:.9g}", ixy=f"{t[0, 1]:.9g}", ixz=f"{t[0, 2]:.9g}",
                  iyy=f"{t[1, 1]:.9g}", iyz=f"{t[1, 2]:.9g}", izz=f"{t[2, 2]:.9g}")
    link.insert(0, elem)


def _rpy(r: np.ndarray) -> tuple[float, float, float]:
    """Roll, pitch, yaw of a rotation matrix (URDF's convention: R = Rz(y) Ry(p) Rx(r))."""
    pitch = float(np.arcsin(-np.clip(r[2, 0], -1.0, 1.0)))
    if abs(r[2, 0]) < 1 - 1e-9:
        roll, yaw = float(np.arctan2(r[2, 1], r[2, 2])), float(np.arctan2(r[1, 0], r[0, 0]))
    else:
        roll, yaw = float(np.arctan2(-r[1, 2], r[1, 1])), 0.0
    return roll, pitch, yaw

"""When PyBullet refuses a URDF ("Cannot load URDF file"), find the element it refuses by loading reduced copies.

PyBullet says only that the file failed. Real URDFs have hundreds of elements, so flywheel drops parts of a copy
and loads it again, bisect-style: all visuals, then half of them, and so on down to one; the same for collision
shapes; then whole limbs (a joint and everything below it), down to the deepest one whose removal lets the file
load. The answer is one line: the element, what PyBullet could not take, and a fix. The copies are written next to
the URDF's folder's files in a temporary folder, with mesh paths made absolute, and removed afterwards.
"""
from __future__ import annotations

import copy
import os
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pybullet as p

from flywheel.robots.meshes import resolve_mesh
from flywheel.robots.validate import quiet

MAX_LOADS = 200  # a bisection over a few hundred elements needs tens of loads; this bounds a pathological file
BUDGET_S = 90.0  # a robot with heavy meshes loads in seconds: past this, PyBullet's own message is reported


class _Loader:
    """Loads variants of one URDF in one DIRECT client; counts the loads."""

    def __init__(self, urdf: Path, flags: int):
        self.urdf, self.flags, self.loads = urdf, flags, 0
        self.deadline = time.monotonic() + BUDGET_S
        self.folder = tempfile.mkdtemp(prefix="flywheel-narrow-")
        with quiet():
            self.client = p.connect(p.DIRECT)

    def loads_ok(self, root: ET.Element) -> bool:
        if time.monotonic() > self.deadline or self.loads >= MAX_LOADS:
            raise TimeoutError("narrowing the load failure took too long")
        self.loads += 1
        path = Path(self.folder) / f"variant{self.loads}.urdf"
        path.write_text(ET.tostring(root, encoding="unicode"))
        try:
            with quiet():
                body = p.loadURDF(str(path), flags=self.flags, physicsClientId=self.client)
            p.removeBody(body, physicsClientId=self.client)
            return True
        except p.error:
            return False
        finally:
            path.unlink(missing_ok=True)

    def close(self) -> None:
        p.disconnect(self.client)
        os.rmdir(self.folder)


def _absolute_meshes(root: ET.Element, urdf: Path, package_dirs) -> None:
    for mesh in root.iter("mesh"):
        found, _ = resolve_mesh(mesh.get("filename", ""), urdf.parent, package_dirs)
        if found is not None:
            mesh.set("filename", str(found))


def _without_all(root: ET.Element, drop: list[tuple[str, str, int]]) -> ET.Element:
    out = copy.deepcopy(root)
    by_link = {link.get("name"): link for link in out.findall("link")}
    doomed = {}
    for link_name, role, index in drop:
        doomed.setdefault((link_name, role), set()).add(index)
    for (link_name, role), indices in doomed.items():
        link = by_link[link_name]
        for k, e in enumerate([e for e in link if e.tag == role]):
            if k in indices:
                link.remove(e)
    return out


def _bisect(loader: _Loader, root: ET.Element, items: list, reduce) -> object | None:
    """The one item whose removal (with the others kept) lets the file load, halving the suspects each time."""
    suspects = list(items)
    if not suspects or not loader.loads_ok(reduce(root, suspects)):
        return None
    while len(suspects) > 1:
        half = suspects[:len(suspects) // 2]
        suspects = half if loader.loads_ok(reduce(root, half)) else suspects[len(suspects) // 2:]
    return suspects[0]


def _without_subtrees(root: ET.Element, joints: list[str]) -> ET.Element:
    """A copy without the given joints and every link and joint below them."""
    out = copy.deepcopy(root)
    children: dict[str, list[ET.Element]] = {}
    for j in out.findall("joint"):
        children.setdefault(j.find("parent").get("link"), []).append(j)
    by_name = {j.get("name"): j for j in out.findall("joint")}
    links = {link.get("name"): link for link in out.findall("link")}
    stack = [by_name[n] for n in joints if n in by_name]
    while stack:
        j = stack.pop()
        child = j.find("child").get("link")
        if j in list(out):
            out.remove(j)
        if child in links and links[child] in list(out):
            out.remove(links[child])
        stack.extend(children.get(child, []))
    return out


def _describe_geometry(root: ET.Element, link: str, role: str, index: int) -> tuple[str, str]:
    elem = [e for e in next(l for l in root.findall("link") if l.get("name") == link) if e.tag == role][index]
    shape = elem.find("geometry")
    shape = shape[0] if shape is not None and len(shape) else None
    count = len([e for e in next(l for l in root.findall("link") if l.get("name") == link) if e.tag == role])
    where = f'<link name="{link}">/<{role}>' + (f"[{index + 1}]" if count > 1 else "")
    if shape is None:
        return where, "give it a <geometry> with a box, cylinder, sphere or mesh"
    if shape.tag == "mesh":
        fn = shape.get("filename", "")
        ext = Path(fn).suffix.lower()
        fix = (f"PyBullet reads .obj, .stl and .dae meshes, not {ext}: convert the file to .obj or .stl"
               if ext not in (".obj", ".stl", ".dae") else "the mesh file is unreadable or empty: re-export it as .obj or .stl")
        return f'{where}/<mesh filename="{fn}">', fix
    return f"{where}/<{shape.tag}>", f"check the <{shape.tag}> attributes"


def narrow_load_failure(urdf: str | os.PathLike, flags: int = 0, package_dirs=None) -> str | None:
    """One line naming the element PyBullet refuses and a fix; None when the file loads or nothing narrows it."""
    urdf = Path(urdf)
    try:
        root = ET.fromstring(urdf.read_bytes())
    except (OSError, ET.ParseError):
        return None
    _absolute_meshes(root, urdf, package_dirs)
    loader = _Loader(urdf, flags)
    try:
        if loader.loads_ok(root):
            return None
        for role in ("visual", "collision"):
            items = [(link.get("name"), role, k) for link in root.findall("link")
                     for k, _ in enumerate([e for e in link if e.tag == role])]
            culprit = _bisect(loader, root, items, _without_all)
            if culprit is not None:
                where, fix = _describe_geometry(root, *culprit)
                return f"{urdf}: {where}: PyBullet cannot load it (the URDF loads without it); fix: {fix}"
        # whole limbs: the deepest joint whose subtree, removed, lets the file load
        culprit = None
        joints = [j.get("name") for j in root.findall("joint")]
        culprit = _bisect(loader, root, joints, _without_subtrees)
        if culprit is not None:
            below = [j.get("name") for j in root.findall("joint")
                     if j.find("parent") is not None and j.find("parent").get("link") ==
                     next(x for x in root.findall("joint") if x.get("name") == culprit).find("child").get("link")]
            while below:  # go down while removing only a deeper subtree still fixes it
                deeper = _bisect(loader, root, below, _without_subtrees)
                if deeper is None:
                    break
                culprit = deeper
                child = next(x for x in root.findall("joint") if x.get("name") == culprit).find("child").get("link")
                below = [j.get("name") for j in root.findall("joint") if j.find("parent").get("link") == child]
            joint = next(x for x in root.findall("joint") if x.get("name") == culprit)
            child = joint.find("child").get("link")
            return (f'{urdf}: <joint name="{culprit}"> or its child <link name="{child}">: PyBullet cannot load it (the '
                    f"URDF loads without that limb); fix: check the joint's type, axis and limits and the link's "
                    "<inertial> and shapes")
        return None
    except TimeoutError:
        return None
    finally:
        loader.close()

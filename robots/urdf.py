"""URDF introspection: a real XML parse (``xml.etree``) into links, joints and a kinematic tree.

`parse_urdf` reads a URDF the way a careful user would: it refuses files that are too large before
reading them, checks the structure (one tree, known joint types, links that exist, inertias that are
physically possible; placeholder tensors of dummy and sensor links are repaired by
`flywheel.robots.inertia_repair`), resolves every mesh (``package://`` by searching the URDF's folder and its
parents, relative paths against the URDF's folder), and raises `URDFError` with one line that names
the file and the element at fault. No file name from a URDF ever goes near a shell: paths are only
joined and tested with `pathlib`.

The model also does forward kinematics in numpy (`URDFModel.fk`), so spec inference can reason about
where links are (legs point down, hands are in front) without starting a simulator.
"""
from __future__ import annotations

import math
import os
import stat
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flywheel.robots.meshes import resolve_mesh

MAX_URDF_BYTES = 20 * 1024 * 1024  # real robot descriptions are kilobytes; meshes live in their own files
MAX_LINKS = 500  # real robots have tens to a couple of hundred links; the tree analysis is quadratic
JOINT_TYPES = ("revolute", "continuous", "prismatic", "fixed", "floating", "planar", "spherical")
MOVABLE_TYPES = ("revolute", "continuous", "prismatic", "spherical")  # what PyBullet can drive with a motor
GEOMETRY_TYPES = ("box", "cylinder", "sphere", "capsule", "mesh")
# a negative principal moment down to -mass * this is rounding in the exporter (repaired), not a broken tensor
ROUNDING_INERTIA = 1e-6


class URDFError(ValueError):
    """A URDF that cannot be used: one line naming the file, the element and the problem."""

    def __init__(self, path: str | os.PathLike | None, element: str, problem: str):
        self.path = str(path) if path is not None else "<urdf>"
        self.element = element
        self.problem = problem
        super().__init__(f"{self.path}: {element}: {problem}" if element else f"{self.path}: {problem}")


# ---- the model ---------------------------------------------------------------------------------
@dataclass
class Geometry:
    kind: str  # box | cylinder | sphere | capsule | mesh
    origin: np.ndarray  # 4x4, in the link frame
    size: tuple[float, float, float] | None = None  # box
    radius: float | None = None  # cylinder, sphere, capsule
    length: float | None = None  # cylinder, capsule
    filename: str | None = None  # mesh, as written in the URDF
    path: Path | None = None  # mesh, resolved on disk (None: not found)
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    role: str = "collision"  # collision | visual
    element: str = ""  # how to name this element in messages

    def local_points(self) -> np.ndarray:
        """A few points on the shape in the link frame (corners / extreme points); meshes give their origin."""
        if self.kind == "box" and self.size:
            hx, hy, hz = (s / 2 for s in self.size)
            pts = np.array([[x, y, z] for x in (-hx, hx) for y in (-hy, hy) for z in (-hz, hz)])
        elif self.kind == "sphere" and self.radius:
            r = self.radius
            pts = np.array([[r, 0, 0], [-r, 0, 0], [0, r, 0], [0, -r, 0], [0, 0, r], [0, 0, -r]], dtype=float)
        elif self.kind in ("cylinder", "capsule") and self.radius is not None:
            r, h = self.radius, (self.length or 0.0) / 2 + (self.radius if self.kind == "capsule" else 0.0)
            ring = [[r * math.cos(a), r * math.sin(a)] for a in np.linspace(0, 2 * math.pi, 8, endpoint=False)]
            pts = np.array([[x, y, z] for x, y in ring for z in (-h, h)])
        else:
            pts = np.zeros((1, 3))
        return pts @ self.origin[:3, :3].T + self.origin[:3, 3]


@dataclass
class Inertial:
    mass: float
    origin: np.ndarray  # 4x4 centre of mass frame in the link frame
    inertia: np.ndarray  # 3x3 about the centre of mass, in the inertial frame


@dataclass
class Link:
    name: str
    inertial: Inertial | None = None
    visuals: list[Geometry] = field(default_factory=list)
    collisions: list[Geometry] = field(default_factory=list)

    @property
    def mass(self) -> float:
        return self.inertial.mass if self.inertial else 0.0

    @property
    def com(self) -> np.ndarray:
        return self.inertial.origin[:3, 3] if self.inertial else np.zeros(3)


@dataclass
class Mimic:
    joint: str
    multiplier: float = 1.0
    offset: float = 0.0


@dataclass
class Joint:
    name: str
    type: str
    parent: str
    child: str
    origin: np.ndarray  # 4x4 joint frame in the parent link frame
    axis: np.ndarray  # unit vector in the joint frame
    lower: float | None = None
    upper: float | None = None
    effort: float | None = None
    velocity: float | None = None
    mimic: Mimic | None = None

    @property
    def movable(self) -> bool:
        return self.type in MOVABLE_TYPES

    @property
    def limited(self) -> bool:
        """Has usable limits (continuous joints, and revolute joints without a <limit> range, are unlimited)."""
        return self.type in ("revolute", "prismatic") and self.lower is not None and self.upper is not None \
            and self.lower <= self.upper

    @property
    def zero_range(self) -> bool:
        return self.limited and abs(self.upper - self.lower) < 1e-9

    def range(self) -> tuple[float, float]:
        """Limits as PyBullet's runtime uses them: unlimited rotations are [-pi, pi]."""
        if self.limited:
            return float(self.lower), float(self.upper)
        if self.type == "prismatic":
            return -1.0, 1.0
        return -math.pi, math.pi


@dataclass
class URDFModel:
    path: Path
    name: str
    links: dict[str, Link]
    joints: dict[str, Joint]  # file order
    root: str
    notes: list[str] = field(default_factory=list)  # leniencies applied while reading (said in the report)
    package_dirs: dict[str, Path] = field(default_factory=dict)
    repaired: dict[str, str] = field(default_factory=dict)  # link -> why its <inertial> was replaced (see repair_inertias)

    def __post_init__(self) -> None:
        self.parent_joint: dict[str, Joint] = {j.child: j for j in self.joints.values()}
        self.child_joints: dict[str, list[Joint]] = {name: [] for name in self.links}
        for j in self.joints.values():
            self.child_joints[j.parent].append(j)
        order, stack = [], list(reversed(self.child_joints[self.root]))
        while stack:  # depth first from the root in file order: parents before children, one limb after another
            j = stack.pop()
            order.append(j)
            stack.extend(reversed(self.child_joints[j.child]))
        self.topological_joints: list[Joint] = order

    # ---- tree queries -----------------------------------------------------------------------
    def movable_joints(self) -> list[Joint]:
        return [j for j in self.joints.values() if j.movable]

    def leaves(self) -> list[str]:
        return [name for name, kids in self.child_joints.items() if not kids]

    def chain(self, link: str) -> list[Joint]:
        """Joints from the root down to `link`."""
        out = []
        while link in self.parent_joint:
            j = self.parent_joint[link]
            out.append(j)
            link = j.parent
        return out[::-1]

    def ancestors(self, link: str) -> list[str]:
        return [j.parent for j in self.chain(link)]

    def subtree(self, link: str) -> list[str]:
        out, queue = [], [link]
        while queue:
            cur = queue.pop()
            out.append(cur)
            queue.extend(j.child for j in self.child_joints[cur])
        return out

    def depth(self, link: str) -> int:
        return sum(1 for j in self.chain(link) if j.movable)

    def resolve_mimic(self, joint: str) -> tuple[str, float, float]:
        """Follow mimic tags to the joint that leads: (leader, multiplier, offset) with q = m * q_leader + o."""
        mult, off, seen = 1.0, 0.0, set()
        while self.joints[joint].mimic is not None and joint not in seen:
            seen.add(joint)
            m = self.joints[joint].mimic
            mult, off = mult * m.multiplier, mult * m.offset + off
            joint = m.joint
        return joint, mult, off

    def meshes(self) -> list[Geometry]:
        return [g for link in self.links.values() for g in (*link.visuals, *link.collisions) if g.kind == "mesh"]

    def total_mass(self) -> float:
        return sum(link.mass for link in self.links.values())

    # ---- kinematics -------------------------------------------------------------------------
    def joint_value(self, joint: Joint, q: dict[str, float]):
        if joint.name in q:
            return q[joint.name]
        if joint.mimic is not None:
            leader, mult, off = self.resolve_mimic(joint.name)
            if leader in q:
                return mult * q[leader] + off
        return 0.0

    def fk(self, q: dict[str, float] | None = None, base: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """World (or base-relative) 4x4 pose of every link frame for joint positions `q` (missing: 0)."""
        q = q or {}
        poses = {self.root: np.eye(4) if base is None else np.asarray(base, dtype=float)}
        for j in self.topological_joints:
            t = poses[j.parent] @ j.origin
            value = self.joint_value(j, q)
            if j.type in ("revolute", "continuous"):
                t = t @ _rotation_about(j.axis, float(value))
            elif j.type == "prismatic":
                m = np.eye(4)
                m[:3, 3] = j.axis * float(value)
                t = t @ m
            elif j.type == "spherical" and np.ndim(value) == 1 and len(value) == 3:
                rv = np.asarray(value, dtype=float)
                angle = float(np.linalg.norm(rv))
                if angle > 1e-12:
                    t = t @ _rotation_about(rv / angle, angle)
            poses[j.child] = t
        return poses

    def joint_frames(self, poses: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per movable joint: (position, axis) in the frame of `poses`, for analytic Jacobians."""
        out = {}
        for j in self.topological_joints:
            if j.type in ("revolute", "continuous", "prismatic"):
                t = poses[j.parent] @ j.origin
                out[j.name] = (t[:3, 3].copy(), t[:3, :3] @ j.axis)
        return out


# ---- geometry helpers ------------------------------------------------------------------------------
def rpy_matrix(r: float, p: float, y: float) -> np.ndarray:
    """URDF fixed-axis roll, pitch, yaw: R = Rz(y) Ry(p) Rx(r)."""
    cr, sr, cp, sp, cy, sy = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    return np.array([
        [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
        [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
        [-sp, cp * sr, cp * cr],
    ])


def transform(xyz=(0.0, 0.0, 0.0), rpy=(0.0, 0.0, 0.0)) -> np.ndarray:
    t = np.eye(4)
    t[:3, :3] = rpy_matrix(*rpy)
    t[:3, 3] = xyz
    return t


def _rotation_about(axis: np.ndarray, angle: float) -> np.ndarray:
    x, y, z = axis
    c, s, v = math.cos(angle), math.sin(angle), 1 - math.cos(angle)
    t = np.eye(4)
    t[:3, :3] = [[c + x * x * v, x * y * v - z * s, x * z * v + y * s],
                 [y * x * v + z * s, c + y * y * v, y * z * v - x * s],
                 [z * x * v - y * s, z * y * v + x * s, c + z * z * v]]
    return t


def matrix_to_quat(m: np.ndarray) -> tuple[float, float, float, float]:
    """Rotation matrix -> quaternion (x, y, z, w), PyBullet's order."""
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = math.sqrt(tr + 1.0) * 2
        w, x, y, z = 0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        w, x, y, z = (m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s
    elif m[1, 1] > m[2, 2]:
        s = math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        w, x, y, z = (m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s
    else:
        s = math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        w, x, y, z = (m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s
    n = math.sqrt(x * x + y * y + z * z + w * w)
    return (x / n, y / n, z / n, w / n)


# ---- parsing -----------------------------------------------------------------------------------------
def _describe(tag: str, name: str | None) -> str:
    return f'<{tag} name="{name}">' if name is not None else f"<{tag}> without a name"


def _floats(elem: ET.Element, attr: str, n: int, default, where: str, path) -> tuple[float, ...]:
    text = elem.get(attr)
    if text is None:
        return default
    parts = text.replace(",", " ").split()
    try:
        values = tuple(float(v) for v in parts)
    except ValueError:
        hint = " (an unexpanded xacro expression: run xacro to produce a plain URDF first)" if "$(" in text or "${" in text else ""
        raise URDFError(path, where, f"attribute {attr}={text!r} is not {n} number{'s' if n > 1 else ''}{hint}") from None
    if len(values) != n or not all(math.isfinite(v) for v in values):
        raise URDFError(path, where, f"attribute {attr}={text!r} must be {n} finite number{'s' if n > 1 else ''}")
    return values


def _float(elem: ET.Element, attr: str, default, where: str, path) -> float | None:
    value = _floats(elem, attr, 1, None, where, path)
    return default if value is None else value[0]


def _origin(parent: ET.Element, where: str, path) -> np.ndarray:
    o = parent.find("origin")
    if o is None:
        return np.eye(4)
    xyz = _floats(o, "xyz", 3, (0.0, 0.0, 0.0), f"{where}/<origin>", path)
    rpy = _floats(o, "rpy", 3, (0.0, 0.0, 0.0), f"{where}/<origin>", path)
    return transform(xyz, rpy)


def read_urdf_text(path: Path) -> tuple[bytes, list[str]]:
    """The file's bytes, refused quickly when it is not a regular file or too large to be a robot."""
    notes = []
    try:
        st = path.stat()
    except FileNotFoundError:
        raise URDFError(path, "", "no such file") from None
    except OSError as err:
        raise URDFError(path, "", f"cannot read: {err.strerror or err}") from None
    if not stat.S_ISREG(st.st_mode):
        raise URDFError(path, "", "not a regular file")
    if st.st_size > MAX_URDF_BYTES:
        raise URDFError(path, "", f"file is {st.st_size / 2**20:.1f} MB; a URDF larger than {MAX_URDF_BYTES // 2**20} MB "
                                  "is refused (robot descriptions are kilobytes; keep meshes in their own files)")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise URDFError(path, "", f"cannot read: {err.strerror or err}") from None
    # Leniencies PyBullet's own reader has too, said in the report rather than silently applied.
    stripped = data.lstrip()
    if stripped[:5] == b"<?xml" and len(stripped) != len(data):
        notes.append("the file has blank lines before its <?xml ?> declaration (ignored)")
        data = stripped
    if data.rstrip(b"\x00\r\n\t ") != data.rstrip(b"\r\n\t "):
        notes.append("the file ends in NUL bytes (ignored)")
        data = data.rstrip(b"\x00\r\n\t ")
    return data, notes


def parse_urdf(path: str | os.PathLike, package_dirs: dict[str, Path] | None = None, check_meshes: bool = True) -> URDFModel:
    """Read and check a URDF. Raises `URDFError` naming the file and element; never returns a broken tree."""
    path = Path(path).expanduser()
    try:
        path = path.resolve()
    except RuntimeError:  # Python 3.11 reports a symbolic-link loop this way, not as OSError(ELOOP)
        raise URDFError(path, "", "a symbolic-link loop; point at the real file") from None
    except OSError:
        pass
    data, notes = read_urdf_text(path)
    if b"<!ENTITY" in data:
        raise URDFError(path, "<!DOCTYPE>", "XML entity declarations are not allowed in a URDF")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        line, col = err.position
        reason = str(err).split(":")[0]
        raise URDFError(path, f"line {line}, column {col}", f"not well-formed XML ({reason})") from None
    if root.tag != "robot":
        hint = ""
        if root.tag == "mujoco":
            hint = " (this is an MJCF file: write its spec by hand with model = the .xml file)"
        elif root.tag == "sdf":
            hint = " (this is an SDF file: export a URDF from it first)"
        raise URDFError(path, f"<{root.tag}>", f"not a URDF: the root element must be <robot>{hint}")
    robot_name = root.get("name") or path.stem
    urdf_dir = path.parent

    links: dict[str, Link] = {}
    for i, le in enumerate(root.findall("link")):
        name = le.get("name")
        where = _describe("link", name) if name else f"<link> #{i + 1}"
        if not name:
            raise URDFError(path, where, "a link needs a name attribute")
        if name in links:
            raise URDFError(path, where, f"link name {name!r} is defined twice; link names must be unique")
        link = Link(name)
        ie = le.find("inertial")
        if ie is not None:
            me = ie.find("mass")
            mass = _float(me, "value", 0.0, f"{where}/<inertial>/<mass>", path) if me is not None else 0.0
            if mass < 0:
                raise URDFError(path, f"{where}/<inertial>/<mass>", f"negative mass {mass:g} kg; a mass must be >= 0")
            inertia = np.zeros((3, 3))
            te = ie.find("inertia")
            if te is not None:
                vals = {k: _float(te, k, 0.0, f"{where}/<inertial>/<inertia>", path)
                        for k in ("ixx", "ixy", "ixz", "iyy", "iyz", "izz")}
                inertia = np.array([[vals["ixx"], vals["ixy"], vals["ixz"]],
                                    [vals["ixy"], vals["iyy"], vals["iyz"]],
                                    [vals["ixz"], vals["iyz"], vals["izz"]]])
                eig = np.linalg.eigvalsh(inertia)
                if eig[0] < -max(1e-9 * float(np.max(np.abs(eig))), ROUNDING_INERTIA * max(mass, 1e-3)):
                    raise URDFError(path, f"{where}/<inertial>/<inertia>",
                                    f"inertia is not positive definite (principal moments {', '.join(f'{e:.3g}' for e in eig)}); "
                                    "fix the tensor or delete <inertia> and let PyBullet compute it from the collision shapes")
            link.inertial = Inertial(mass, _origin(ie, f"{where}/<inertial>", path), inertia)
        for role in ("visual", "collision"):
            for k, ge in enumerate(le.findall(role)):
                gwhere = f"{where}/<{role}>" + (f"[{k + 1}]" if len(le.findall(role)) > 1 else "")
                geom = _geometry(ge, gwhere, role, path, urdf_dir, package_dirs, check_meshes, notes)
                if geom is not None:
                    (link.visuals if role == "visual" else link.collisions).append(geom)
        links[name] = link
    if not links:
        raise URDFError(path, f'<robot name="{robot_name}">', "the robot has no <link> elements")
    if len(links) > MAX_LINKS:
        raise URDFError(path, f'<robot name="{robot_name}">', f"{len(links)} links; flywheel handles robots of up to "
                        f"{MAX_LINKS} links (real robots have tens to a few hundred)")

    joints: dict[str, Joint] = {}
    parent_of: dict[str, str] = {}
    for i, je in enumerate(root.findall("joint")):
        name = je.get("name")
        where = _describe("joint", name) if name else f"<joint> #{i + 1}"
        if not name:
            raise URDFError(path, where, "a joint needs a name attribute")
        if name in joints:
            raise URDFError(path, where, f"joint name {name!r} is defined twice; joint names must be unique")
        jtype = je.get("type")
        if jtype not in JOINT_TYPES:
            raise URDFError(path, where, f"unknown joint type {jtype!r}; URDF joint types are {', '.join(JOINT_TYPES[:-1])}")
        ends = {}
        for tag in ("parent", "child"):
            e = je.find(tag)
            if e is None or not e.get("link"):
                raise URDFError(path, where, f"missing <{tag} link=\"...\"/>")
            if e.get("link") not in links:
                raise URDFError(path, f"{where}/<{tag}>", f"link {e.get('link')!r} does not exist; "
                                f"define <link name=\"{e.get('link')}\"> or fix the name")
            ends[tag] = e.get("link")
        if ends["parent"] == ends["child"]:
            raise URDFError(path, where, f"parent and child are the same link {ends['child']!r} (a loop)")
        if ends["child"] in parent_of:
            raise URDFError(path, where, f"link {ends['child']!r} already has a parent joint {parent_of[ends['child']]!r}: "
                            "a link can have only one parent, so this joint closes a loop (URDF describes trees only)")
        parent_of[ends["child"]] = name
        axis = np.array([1.0, 0.0, 0.0])
        ae = je.find("axis")
        if ae is not None:
            axis = np.array(_floats(ae, "xyz", 3, (1.0, 0.0, 0.0), f"{where}/<axis>", path))
        norm = float(np.linalg.norm(axis))
        if jtype in ("revolute", "continuous", "prismatic") and norm < 1e-9:
            raise URDFError(path, f"{where}/<axis>", "the joint axis is the zero vector")
        axis = axis / norm if norm > 1e-9 else np.array([1.0, 0.0, 0.0])
        joint = Joint(name, jtype, ends["parent"], ends["child"], _origin(je, where, path), axis)
        lim = je.find("limit")
        if lim is not None:
            joint.lower = _float(lim, "lower", None, f"{where}/<limit>", path)
            joint.upper = _float(lim, "upper", None, f"{where}/<limit>", path)
            joint.effort = _float(lim, "effort", None, f"{where}/<limit>", path)
            joint.velocity = _float(lim, "velocity", None, f"{where}/<limit>", path)
            if jtype in ("revolute", "prismatic"):
                if joint.lower is None and joint.upper is not None:
                    joint.lower = 0.0  # the URDF default
                if joint.upper is None and joint.lower is not None:
                    joint.upper = 0.0
        if jtype in ("revolute", "prismatic") and not joint.limited:
            notes.append(f"joint {name!r} ({jtype}) has no usable <limit lower upper>; treated as unlimited")
        me = je.find("mimic")
        if me is not None:
            if not me.get("joint"):
                raise URDFError(path, f"{where}/<mimic>", "a mimic tag needs joint=\"...\"")
            joint.mimic = Mimic(me.get("joint"), _float(me, "multiplier", 1.0, f"{where}/<mimic>", path),
                                _float(me, "offset", 0.0, f"{where}/<mimic>", path))
        joints[name] = joint
    for joint in joints.values():
        if joint.mimic is not None and joint.mimic.joint not in joints:  # PyBullet ignores <mimic>: so can we
            notes.append(f"joint {joint.name!r}: <mimic> names joint {joint.mimic.joint!r}, which does not exist; "
                         "ignored (the joint is actuated on its own)")
            joint.mimic = None

    roots = [name for name in links if name not in parent_of]
    if not roots:
        cycle = _find_cycle(joints)
        raise URDFError(path, _describe("joint", cycle[0]), f"the joints form a loop ({' -> '.join(cycle)}); "
                        "URDF describes trees only, and no link is left to be the root")
    if len(roots) > 1:
        reachable = set()
        stack = [roots[0]]
        children: dict[str, list[str]] = {}
        for j in joints.values():
            children.setdefault(j.parent, []).append(j.child)
        while stack:
            cur = stack.pop()
            reachable.add(cur)
            stack.extend(children.get(cur, []))
        stray = [r for r in roots[1:]]
        raise URDFError(path, _describe("link", stray[0]), f"link is not connected to the tree rooted at {roots[0]!r} "
                        "(no joint has it as child); a URDF must be one tree: add a joint or remove the link")
    # A cycle that does not include the root leaves links unreachable from it.
    model = URDFModel(path, robot_name, links, joints, roots[0], notes, dict(package_dirs or {}))
    reached = {model.root} | {j.child for j in model.topological_joints}
    if len(reached) != len(links):
        cycle = _find_cycle(joints)
        raise URDFError(path, _describe("joint", cycle[0]) if cycle else "<robot>",
                        f"the joints form a loop ({' -> '.join(cycle)}); URDF describes trees only")
    for joint in joints.values():
        if joint.mimic is not None:
            leader, _, _ = model.resolve_mimic(joint.name)
            if joints[leader].mimic is not None:
                raise URDFError(path, f'{_describe("joint", joint.name)}/<mimic>', "mimic tags form a loop")
    from flywheel.robots.inertia_repair import repair_inertias  # it builds on this module's classes

    repair_inertias(model)
    if not model.movable_joints():
        kinds = sorted({j.type for j in joints.values()}) or ["none"]
        raise URDFError(path, f'<robot name="{robot_name}">', f"no movable joints (joint types here: {', '.join(kinds)}); "
                        "there is nothing to actuate: this is an object, not a robot")
    return model


def _find_cycle(joints: dict[str, Joint]) -> list[str]:
    """Joint names along a loop of parent links, for the error message."""
    parent_joint = {j.child: j for j in joints.values()}
    for start in parent_joint:
        seen, link, order = {}, start, []
        while link in parent_joint and link not in seen:
            seen[link] = len(order)
            order.append(parent_joint[link].name)
            link = parent_joint[link].parent
        if link in seen:
            loop = order[seen[link]:]
            return loop[::-1] + [loop[-1]]
    return []


def _geometry(ge: ET.Element, where: str, role: str, path: Path, urdf_dir: Path,
              package_dirs: dict[str, Path] | None, check_meshes: bool, notes: list[str]) -> Geometry | None:
    origin = _origin(ge, where, path)
    gnode = ge.find("geometry")
    if gnode is None or len(gnode) == 0:
        if role == "collision":
            raise URDFError(path, where, "a <collision> needs a <geometry> with a shape inside")
        return None
    shape = gnode[0]
    gwhere = f"{where}/<{shape.tag}>"
    if shape.tag not in GEOMETRY_TYPES:
        raise URDFError(path, gwhere, f"unknown geometry <{shape.tag}>; use one of {', '.join(GEOMETRY_TYPES)}")
    geom = Geometry(shape.tag, origin, role=role, element=gwhere)
    if shape.tag == "box":
        geom.size = _floats(shape, "size", 3, None, gwhere, path)
        if geom.size is None or min(geom.size) < 0:
            raise URDFError(path, gwhere, "a box needs size=\"x y z\" with sizes >= 0")
    elif shape.tag == "sphere":
        geom.radius = _float(shape, "radius", None, gwhere, path)
        if geom.radius is None or geom.radius < 0:
            raise URDFError(path, gwhere, "a sphere needs radius >= 0")
    elif shape.tag in ("cylinder", "capsule"):
        geom.radius = _float(shape, "radius", None, gwhere, path)
        geom.length = _float(shape, "length", None, gwhere, path)
        if geom.radius is None or geom.length is None or geom.radius < 0 or geom.length < 0:
            raise URDFError(path, gwhere, f"a {shape.tag} needs radius and length >= 0")
    else:
        filename = shape.get("filename")
        if not filename:
            raise URDFError(path, gwhere, "a mesh needs filename=\"...\"")
        geom.filename = filename
        geom.scale = _floats(shape, "scale", 3, (1.0, 1.0, 1.0), gwhere, path)
        geom.path, searched = resolve_mesh(filename, urdf_dir, package_dirs)
        geom.element = f'{gwhere[:-len("<mesh>")]}<mesh filename="{filename}">'
        if geom.path is None and check_meshes and role == "collision":
            raise URDFError(path, geom.element, f"mesh not found: {searched}")
        if geom.path is None and check_meshes:  # a picture only: the robot simulates without it
            notes.append(f"{geom.element}: visual mesh not found ({searched}); dropped from the resolved copy")
        elif geom.path is not None and searched and searched not in notes:  # found, not where the URDF says
            notes.append(searched)
    return geom

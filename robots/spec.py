"""`RobotSpec`: a robot described as data (a TOML file next to its model), never as a subclass.

Everything is addressed by joint and link *names*, so a spec stays valid when a model is re-exported
with a different joint order, and a user adding a robot edits one readable file instead of code.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import math
import os
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flywheel.canonical import END_EFFECTORS as CANONICAL_END_EFFECTORS
from flywheel.canonical import HANDS

KINDS = ("humanoid", "arm", "quadruped", "hand", "mobile")
MODEL_SCHEMES = ("pybullet_data://", "flywheel://")


class SpecError(ValueError):
    """A robot spec is wrong: the message names the file, the field and what to do."""

    def __init__(self, source: str | Path | None, field_name: str, problem: str):
        where = f"{source}" if source else "<robot spec>"
        super().__init__(f"{where}: field '{field_name}': {problem}")
        self.source = str(source) if source else None
        self.field = field_name


@dataclass(frozen=True)
class EndEffector:
    """A canonical end-effector: a link (or the child link of a joint) plus a tool-centre offset."""

    link: str | None = None
    joint: str | None = None  # for models whose link names are generated (MJCF): the joint that moves the link
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)  # tool centre point in the link frame
    ik_joints: tuple[str, ...] = ()  # joints IK may move for this end-effector; empty = the chain to the base


@dataclass(frozen=True)
class Gripper:
    joints: tuple[str, ...]
    open: tuple[float, ...]
    closed: tuple[float, ...]


@dataclass(frozen=True)
class Mimic:
    """A joint that follows another one: target = multiplier * target(joint) + offset.

    URDF `<mimic>` tags, which PyBullet ignores (linkage grippers such as the xArm's, whose knuckles
    and fingers move with one drive joint). A follower is not in `joints` (it is not commanded and not
    observed); it gets its leader's target through its own position motor (gains by its own name).
    """

    joint: str
    multiplier: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True)
class GainGroup:
    """Motor settings for the joints matching `joints` (glob patterns): PyBullet position-motor gains."""

    joints: tuple[str, ...]
    kp: float = 0.2
    kd: float = 1.0
    max_force: float = 100.0


@dataclass(frozen=True)
class Camera:
    name: str
    link: str | None = None  # attached to a link, else a world pose
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    target: tuple[float, float, float] = (1.0, 0.0, 0.0)  # look-at point (link frame or world)
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    fov: float = 60.0
    width: int = 128
    height: int = 128
    near: float = 0.01
    far: float = 5.0


@dataclass(frozen=True)
class FrictionOverride:
    links: tuple[str, ...]
    lateral: float = 1.0
    spinning: float = 0.0
    rolling: float = 0.0


@dataclass(frozen=True)
class Balance:
    """How a floating-base robot leans against a fall while standing (its whole-body balance settings): joint
    target change per radian of base tilt at the ankles (hips: half), and per rad/s of tilt rate."""

    ankle_gain: float = 0.6
    ankle_damping: float = 0.08


STANDS = ("balance", "fixed_pelvis")


@dataclass(frozen=True)
class WholeBody:
    """Whole-body control of a floating-base humanoid (`flywheel.sim.whole_body`): how it stands and how hard it keeps
    its centre of mass (CoM) over its feet.

    `stand = "balance"`: the robot stands on its own feet and keeps its balance (CoM feedback through ankles and hips);
    `"fixed_pelvis"`: the pelvis is held in the air where it stands, an honest mode for upper-body data (datasets
    record it in `meta/flywheel.json`, and the `balance` task refuses it). `com_gain` and `com_damping`: joint-target
    change at the ankles (hips: half) per unit of CoM offset from the middle of the support polygon, as a lean angle
    (offset / CoM height), and per unit of its rate. `com_task`: weight of the CoM in the hands' whole-body IK."""

    stand: str = "balance"
    com_gain: float = 0.5
    com_damping: float = 0.05
    com_task: float = 1.0


@dataclass(frozen=True)
class RobotSpec:
    name: str
    model: str
    kind: str
    joints: tuple[str, ...]
    fixed_base: bool = True
    base_position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # The base link's orientation when the robot stands in its canonical frame (z up, x forward); observations and
    # end-effector commands use that frame, so a Y-up model turned upright here reports like a Z-up one.
    base_orientation: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
    home: dict[str, Any] = field(default_factory=dict)
    base_height: float | None = None  # floating robots: pelvis height when standing in the home pose
    end_effectors: dict[str, EndEffector] = field(default_factory=dict)
    grippers: dict[str, Gripper] = field(default_factory=dict)
    gains: tuple[GainGroup, ...] = ()
    friction: tuple[FrictionOverride, ...] = ()
    cameras: tuple[Camera, ...] = ()
    mimic: dict[str, Mimic] = field(default_factory=dict)  # follower joint -> the joint it follows
    scale: float = 1.0  # uniform model scale at load (PyBullet globalScaling; URDF only); spec lengths are after scaling
    inertia_from_file: bool = True  # false: PyBullet derives inertia from the collision shapes (placeholder tensors in the file)
    model_format: str = "urdf"  # urdf | mjcf, inferred from the model's extension
    model_body: str | None = None  # MJCF files hold several bodies: the one that is the robot
    description: str = ""
    balance: Balance = Balance()  # floating-base robots: standing balance gains
    whole_body: WholeBody | None = None  # humanoids: whole-body control (None: joints and hands only, as before)
    source: str | None = None  # the spec file it was loaded from

    # ---- derived views -------------------------------------------------------------------------
    @property
    def hands(self) -> tuple[str, ...]:
        return tuple(h for h in HANDS if h in self.end_effectors)

    @property
    def floating(self) -> bool:
        return not self.fixed_base and not self.fixed_pelvis

    @property
    def fixed_pelvis(self) -> bool:
        """A humanoid held by its pelvis (`[whole_body] stand = "fixed_pelvis"`): simulated with a fixed base."""
        return self.whole_body is not None and self.whole_body.stand == "fixed_pelvis"

    @property
    def stand(self) -> str | None:
        """How a floating robot stands ("balance" or "fixed_pelvis"), None for fixed-base robots without [whole_body]."""
        if self.whole_body is not None:
            return self.whole_body.stand
        return None if self.fixed_base else "balance"

    def gripper_joint_names(self) -> tuple[str, ...]:
        return tuple(j for g in self.grippers.values() for j in g.joints)

    def gains_for(self, joint: str) -> GainGroup:
        """The last gain group whose pattern matches wins, so specs can go from general to specific."""
        chosen = GainGroup(joints=("*",))
        for group in self.gains:
            if any(fnmatch.fnmatchcase(joint, pattern) for pattern in group.joints):
                chosen = group
        return chosen

    def model_path(self) -> Path:
        return resolve_model_path(self.model, self.source)

    def model_hash(self) -> str:
        """SHA-256 of the model file, recorded in datasets so data can be traced to the exact robot."""
        return hashlib.sha256(self.model_path().read_bytes()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("source", None)
        if data.get("whole_body") is None:  # specs without it record what they recorded before it existed
            data.pop("whole_body", None)
        return data


def resolve_model_path(model: str, source: str | Path | None) -> Path:
    """`pybullet_data://x` and `flywheel://x` name installed package data; anything else is relative to the spec."""
    if model.startswith("pybullet_data://"):
        import pybullet_data

        return Path(pybullet_data.getDataPath()) / model[len("pybullet_data://"):]
    if model.startswith("flywheel://"):
        return Path(__file__).resolve().parent / model[len("flywheel://"):]
    path = Path(model).expanduser()
    if not path.is_absolute() and source:
        path = Path(source).resolve().parent / path
    return path


# ---- loading and validation ------------------------------------------------------------------------
# Every value is checked here, at the boundary, so a spec that loads never fails later with a traceback (or,
# worse, runs: a NaN gain collects 0% success with exit 0). The ranges are generous sanity bounds, not tuning
# advice: they refuse what no robot can mean (a 1e9 N motor, a 100 km tool offset), and say what to write instead.
_TOP_FIELDS = {f.name for f in dataclasses.fields(RobotSpec)} - {"source", "model_format"} | {"format", "expert"}
MAX_IMAGE_SIDE = 4096  # pixels; larger frames would exhaust memory long before they helped


def _kind_of(value: Any) -> str:
    """TOML's name for a value's type, so messages speak the file's language."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "an array"
    return type(value).__name__


def _bounds(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is None and hi is None:
        return ""
    if hi is None:
        return f" {'>' if lo_open else '>='} {lo:g}"
    if lo is None:
        return f" {'<' if hi_open else '<='} {hi:g}"
    return f" in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def _number(value: Any, source: Any, name: str, what: str = "a number", lo: float | None = None,
            hi: float | None = None, lo_open: bool = False, hi_open: bool = False, integer: bool = False) -> float:
    """A finite number (an integer when asked) within [lo, hi]; booleans are not numbers here."""
    want = f"{'an integer' if integer else what}{_bounds(lo, hi, lo_open, hi_open)}"
    ok_type = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_type):
        raise SpecError(source, name, f"expected {want}, got {_kind_of(value)} {value!r}")
    if not math.isfinite(value):
        raise SpecError(source, name, f"expected a finite number ({want}), got {value!r}")
    if ((lo is not None and (value < lo or (lo_open and value == lo)))
            or (hi is not None and (value > hi or (hi_open and value == hi)))):
        raise SpecError(source, name, f"{value!r} is out of range; expected {want}")
    return value  # as written (an int stays an int), so a spec's recorded form does not change


def _tuple_of_floats(value: Any, n: int | None, source: Any, name: str, bound: float = 1e6) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or (n is not None and len(value) != n):
        want = f"a list of {n} numbers" if n else "a list of numbers"
        got = (f"{len(value)} values" if isinstance(value, (list, tuple)) else
               "nothing (the field is missing)" if value is None else f"{_kind_of(value)} {value!r}")
        raise SpecError(source, name, f"expected {want}, got {got}")
    return tuple(float(_number(v, source, f"{name}[{i}]", lo=-bound, hi=bound)) for i, v in enumerate(value))


def _vec3(bound: float):
    return lambda v, source, name: _tuple_of_floats(v, 3, source, name, bound)


def _names(value: Any, source: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise SpecError(source, name, f"expected a list of names, got {value!r}")
    return tuple(value)


def _text(value: Any, source: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise SpecError(source, name, f"expected a non-empty string, got {_kind_of(value)} {value!r}")
    return value


def _identifier(value: Any, source: Any, name: str) -> str:
    """Names that become file names and column names (cameras): letters, digits, '_' and '-' only."""
    if not isinstance(value, str) or not value or not all(c.isalnum() or c in "_-" for c in value):
        raise SpecError(source, name, f"expected a name of letters, digits, '_' or '-', got {value!r}")
    return value


def _boolean(value: Any, source: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(source, name, f"expected true or false, got {_kind_of(value)} {value!r}")
    return value


def _num(what: str, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
         hi_open: bool = False, integer: bool = False):
    return lambda v, source, name: _number(v, source, name, what, lo, hi, lo_open, hi_open, integer)


def _table(value: Any, source: Any, name: str, what: str) -> dict:
    if not isinstance(value, dict):
        raise SpecError(source, name, f"expected {what}, got {_kind_of(value)} {value!r}")
    return value


def _array_of_tables(data: dict, key: str, source: Any, what: str) -> list[dict]:
    """`[[key]]` tables; one written as a plain table or a value is named, not iterated."""
    value = data.get(key, [])
    if not isinstance(value, list):
        raise SpecError(source, key, f"expected {what} written as [[{key}]] tables, got {_kind_of(value)} {value!r}")
    for i, item in enumerate(value):
        _table(item, source, f"{key}[{i}]", f"a [[{key}]] table")
    return value


def _check_keys(table: dict, allowed: set[str], source: Any, prefix: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SpecError(source, f"{prefix}{unknown[0]}", f"unknown field; allowed: {', '.join(sorted(allowed))}")


_GAIN_FIELDS = {"joints": _names, "kp": _num("a non-negative position gain", 0.0, 1e4),
                "kd": _num("a non-negative velocity gain", 0.0, 1e4),
                "max_force": _num("a non-negative force or torque (N or N m)", 0.0, 1e6)}
_FRICTION_FIELDS = {"links": _names, "lateral": _num("a friction coefficient", 0.0, 100.0),
                    "spinning": _num("a friction coefficient", 0.0, 100.0),
                    "rolling": _num("a friction coefficient", 0.0, 100.0)}
_CAMERA_FIELDS = {"name": _identifier, "link": _text, "position": _vec3(100.0), "target": _vec3(100.0),
                  "up": _vec3(100.0), "fov": _num("a field of view in degrees", 0.0, 180.0, True, True),
                  "width": _num("", 1, MAX_IMAGE_SIDE, integer=True), "height": _num("", 1, MAX_IMAGE_SIDE, integer=True),
                  "near": _num("a clip distance in metres", 0.0, 100.0, lo_open=True),
                  "far": _num("a clip distance in metres", 0.0, 1e4, lo_open=True)}
_EE_FIELDS = {"link": _text, "joint": _text, "offset": _vec3(10.0), "ik_joints": _names}
_MIMIC_FIELDS = {"joint": _text, "multiplier": _num("a non-zero number", -100.0, 100.0),
                 "offset": _num("an offset (rad or m)", -100.0, 100.0)}


def _build(cls, table: Any, fields: dict, source: Any, prefix: str, what: str, **converted):
    """Check every present field of a sub-table with its checker, then build the dataclass (defaults for the rest)."""
    table = _table(table, source, prefix, what)
    _check_keys(table, set(fields), source, prefix + ".")
    values = {k: check(table[k], source, f"{prefix}.{k}") for k, check in fields.items() if k in table}
    values.update(converted)
    for f in dataclasses.fields(cls):
        if f.name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SpecError(source, f"{prefix}.{f.name}", f"missing; {what} needs {f.name}")
    return cls(**values)


def spec_from_dict(data: dict[str, Any], source: str | Path | None = None) -> RobotSpec:
    """Build and check a spec from parsed TOML. Checks that need the model file live in `flywheel.robots.validate`."""
    _check_keys(data, _TOP_FIELDS, source, "")
    for required in ("name", "model", "kind", "joints"):
        if required not in data:
            raise SpecError(source, required, "missing; every robot spec needs name, model, kind and joints")
    name = data["name"]
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "_-" for c in name):
        raise SpecError(source, "name", f"must be a non-empty name of letters, digits, '_' or '-', got {name!r}")
    kind = data["kind"]
    if kind not in KINDS:
        raise SpecError(source, "kind", f"{kind!r} is not a kind; use one of {', '.join(KINDS)}")
    model = data["model"]
    if not isinstance(model, str) or not model or "\x00" in model:
        raise SpecError(source, "model", f"expected the path of a URDF or MJCF file, got {_kind_of(model)} {model!r}")
    fmt = data.get("format") or ("mjcf" if model.lower().endswith((".xml", ".mjcf")) else "urdf")
    if fmt not in ("urdf", "mjcf"):
        raise SpecError(source, "format", f"{fmt!r} is not a model format; use 'urdf' or 'mjcf'")
    joints = _names(data["joints"], source, "joints")
    if len(set(joints)) != len(joints):
        dup = next(j for j in joints if joints.count(j) > 1)
        raise SpecError(source, "joints", f"joint {dup!r} is listed twice")

    home = dict(_table(data.get("home", {}), source, "home", "a table of joint name = position"))
    for joint, value in home.items():
        if joint not in joints:
            raise SpecError(source, f"home.{joint}", f"not an actuated joint of this spec; joints are: {', '.join(joints)}")
        if isinstance(value, (list, tuple)):
            _tuple_of_floats(value, 3, source, f"home.{joint}", 100.0)
        else:
            _number(value, source, f"home.{joint}", "a position (radians or metres)", -100.0, 100.0)

    end_effectors = {}
    for ee_name, table in _table(data.get("end_effectors", {}), source, "end_effectors",
                                 "tables like [end_effectors.right_hand]").items():
        prefix = f"end_effectors.{ee_name}"
        if ee_name not in CANONICAL_END_EFFECTORS:
            raise SpecError(source, prefix, f"not a canonical end-effector; use {', '.join(CANONICAL_END_EFFECTORS)}")
        ee = _build(EndEffector, table, _EE_FIELDS, source, prefix, "an end-effector table (link or joint, offset)")
        for j in ee.ik_joints:
            if j not in joints:
                raise SpecError(source, f"{prefix}.ik_joints", f"{j!r} is not in joints")
        if (ee.link is None) == (ee.joint is None):
            raise SpecError(source, prefix, "give exactly one of 'link' or 'joint'")
        end_effectors[ee_name] = ee

    grippers = {}
    for ee_name, table in _table(data.get("grippers", {}), source, "grippers",
                                 "tables like [grippers.right_hand]").items():
        prefix = f"grippers.{ee_name}"
        if ee_name not in end_effectors:
            raise SpecError(source, prefix, f"a gripper must belong to an end-effector; this spec has: {', '.join(end_effectors) or 'none'}")
        table = _table(table, source, prefix, "a table with joints, open and closed")
        _check_keys(table, {"joints", "open", "closed"}, source, prefix + ".")
        g_joints = _names(table.get("joints"), source, f"{prefix}.joints")
        for j in g_joints:
            if j not in joints:
                raise SpecError(source, f"{prefix}.joints", f"{j!r} is not in joints")
        grippers[ee_name] = Gripper(
            joints=g_joints,
            open=_tuple_of_floats(table.get("open"), len(g_joints), source, f"{prefix}.open", 100.0),
            closed=_tuple_of_floats(table.get("closed"), len(g_joints), source, f"{prefix}.closed", 100.0))

    gains = tuple(_build(GainGroup, {"joints": "*", **t}, _GAIN_FIELDS, source, f"gains[{i}]", "a [[gains]] table")
                  for i, t in enumerate(_array_of_tables(data, "gains", source, "joint groups")))
    friction = tuple(_build(FrictionOverride, t, _FRICTION_FIELDS, source, f"friction[{i}]", "a [[friction]] table")
                     for i, t in enumerate(_array_of_tables(data, "friction", source, "link groups")))
    cameras = tuple(_camera(t, source, i) for i, t in enumerate(_array_of_tables(data, "cameras", source, "cameras")))
    names = [c.name for c in cameras]
    if len(set(names)) != len(names):
        raise SpecError(source, "cameras", "camera names must be unique")

    mimic = {}
    for follower, table in _table(data.get("mimic", {}), source, "mimic", "tables like [mimic.finger2]").items():
        prefix = f"mimic.{follower}"
        if follower in joints:
            raise SpecError(source, prefix, "a mimic joint follows another joint and must not be listed in joints")
        m = _build(Mimic, table, _MIMIC_FIELDS, source, prefix, "a mimic table (joint, multiplier, offset)")
        if m.joint not in joints:
            raise SpecError(source, f"{prefix}.joint", f"{m.joint!r} is not in joints; a mimic joint follows an actuated joint")
        if m.multiplier == 0:
            raise SpecError(source, f"{prefix}.multiplier", "must not be 0; a follower that never moves is a fixed joint")
        mimic[follower] = Mimic(m.joint, float(m.multiplier), float(m.offset))

    scale = _number(data.get("scale", 1.0), source, "scale", "a positive model scale", 1e-3, 1e3)
    if scale != 1.0 and fmt == "mjcf":
        raise SpecError(source, "scale", "PyBullet cannot scale MJCF models at load; scale works for URDF only")
    base_height = data.get("base_height")
    if base_height is not None:
        base_height = float(_number(base_height, source, "base_height", "a height in metres", 0.0, 10.0, lo_open=True))
    orientation = _tuple_of_floats(data.get("base_orientation", (0, 0, 0, 1)), 4, source, "base_orientation", 1.01)
    if abs(math.sqrt(sum(v * v for v in orientation)) - 1.0) > 0.01:
        raise SpecError(source, "base_orientation", f"expected a unit quaternion [x, y, z, w], got {list(orientation)!r}")
    model_body = data.get("model_body")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise SpecError(source, "description", f"expected a string, got {_kind_of(description)} {description!r}")

    return RobotSpec(
        name=name,
        model=model,
        kind=kind,
        joints=joints,
        fixed_base=_boolean(data.get("fixed_base", True), source, "fixed_base"),
        base_position=_tuple_of_floats(data.get("base_position", (0, 0, 0)), 3, source, "base_position", 100.0),
        base_orientation=orientation,
        home=dict(home),
        base_height=base_height,
        end_effectors=end_effectors,
        grippers=grippers,
        gains=gains,
        friction=friction,
        cameras=cameras,
        mimic=mimic,
        scale=float(scale),
        inertia_from_file=_boolean(data.get("inertia_from_file", True), source, "inertia_from_file"),
        model_format=fmt,
        model_body=None if model_body is None else _text(model_body, source, "model_body"),
        description=description,
        balance=_balance(data, source),
        whole_body=_whole_body(data, source, kind, fixed_base=data.get("fixed_base", True)),
        source=str(source) if source else None,
    )


def _camera(table: Any, source: Any, i: int) -> Camera:
    """A camera whose view PyBullet can compute: near < far, and an eye, target and up that span a frame."""
    prefix = f"cameras[{i}]"
    cam = _build(Camera, table, _CAMERA_FIELDS, source, prefix, "a [[cameras]] table (name, link, position, target, fov)")
    if cam.far <= cam.near:
        raise SpecError(source, f"{prefix}.far", f"must be greater than near ({cam.near:g}), got {cam.far:g}")
    view = [t - p for t, p in zip(cam.target, cam.position)]
    if math.sqrt(sum(v * v for v in view)) < 1e-6:
        raise SpecError(source, f"{prefix}.target", "must differ from position (the camera looks from position to target)")
    cross = (view[1] * cam.up[2] - view[2] * cam.up[1], view[2] * cam.up[0] - view[0] * cam.up[2],
             view[0] * cam.up[1] - view[1] * cam.up[0])
    if math.sqrt(sum(v * v for v in cross)) < 1e-9:
        raise SpecError(source, f"{prefix}.up", "must not be zero or point along the view direction (target - position)")
    return cam


def _balance(data: dict[str, Any], source: Any) -> Balance:
    """`[balance]`, or the deprecated `[expert.balance]` of older spec files (the same numbers, read as robot data)."""
    table = data.get("balance")
    old = data.get("expert")
    if old is not None and old != {}:  # {}: what RobotSpec.to_dict() wrote before [balance] existed
        old = _table(old, source, "expert", "only [expert.balance], which is now [balance]")
        if set(old) - {"balance"}:
            raise SpecError(source, "expert", "deprecated; the only table it took, [expert.balance], is now [balance]")
        if table is not None:
            raise SpecError(source, "expert.balance", "deprecated and given beside [balance]; keep [balance] only")
        warnings.warn(f"{source or '<robot spec>'}: [expert.balance] is deprecated; rename the table [balance]",
                      FutureWarning, stacklevel=4)
        table, prefix = old.get("balance", {}), "expert.balance"
    else:
        prefix = "balance"
    if table is None:
        return Balance()
    table = _table(table, source, prefix, "a [balance] table (ankle_gain, ankle_damping)")
    _check_keys(table, {"ankle_gain", "ankle_damping"}, source, prefix + ".")
    default = Balance()
    gains = [float(_number(table.get(k, getattr(default, k)), source, f"{prefix}.{k}", "a balance gain", 0.0, 100.0))
             for k in ("ankle_gain", "ankle_damping")]
    return Balance(*gains)


_WHOLE_BODY_FIELDS = {"stand": _text, "com_gain": _num("a balance gain", 0.0, 100.0),
                      "com_damping": _num("a balance gain", 0.0, 100.0),
                      "com_task": _num("a task weight", 0.0, 100.0)}


def _whole_body(data: dict[str, Any], source: Any, kind: str, fixed_base: Any) -> WholeBody | None:
    """`[whole_body]`: only floating-base robots stand, so only they take it; `stand` is one of `STANDS`."""
    if "whole_body" not in data:
        return None
    wb = _build(WholeBody, data["whole_body"], _WHOLE_BODY_FIELDS, source, "whole_body",
                "a [whole_body] table (stand, com_gain, com_damping, com_task)")
    if wb.stand not in STANDS:
        raise SpecError(source, "whole_body.stand", f"{wb.stand!r} is not a way to stand; use one of {', '.join(STANDS)}")
    if fixed_base is True:
        raise SpecError(source, "whole_body", "a fixed-base robot does not stand; remove [whole_body] or set "
                        "fixed_base = false (stand = \"fixed_pelvis\" holds a floating robot by its pelvis)")
    return WholeBody(wb.stand, float(wb.com_gain), float(wb.com_damping), float(wb.com_task))


def load_spec(path: str | Path) -> RobotSpec:
    """Read a spec file; every problem is reported against the file and field it is in."""
    path = Path(path)
    try:
        if not path.is_file():
            what = "not a regular file (a folder, a broken link or a link loop)" if os.path.lexists(path) else "no such spec file"
            raise SpecError(path, "<file>", what)
        raw = path.read_bytes()
    except OSError as err:
        raise SpecError(path, "<file>", f"cannot read the spec file: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(path, "<file>", f"not a UTF-8 text file (byte {err.start}); a robot spec is a TOML text "
                                        "file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(path, "<file>", f"not valid TOML: {err}") from None
    spec = spec_from_dict(data, source=path)
    try:
        found = spec.model_path().is_file()
    except (OSError, ValueError) as err:
        raise SpecError(path, "model", f"cannot use the model path {spec.model!r}: {err}") from None
    if not found:
        raise SpecError(path, "model", f"model file {spec.model_path()} does not exist; fix the path (relative paths are relative to the spec file)")
    return spec

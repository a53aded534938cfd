"""`RobotSpec`: a robot described as data (a TOML file next to its model), never as a subclass.

Everything is addressed by joint and link *names*, so a spec stays valid when a model is re-exported
with a different joint order, and a user adding a robot edits one readable file instead of code.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import math
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
    source: str | None = None  # the spec file it was loaded from

    # ---- derived views -------------------------------------------------------------------------
    @property
    def hands(self) -> tuple[str, ...]:
        return tuple(h for h in HANDS if h in self.end_effectors)

    @property
    def floating(self) -> bool:
        return not self.fixed_base

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
_TOP_FIELDS = {f.name for f in dataclasses.fields(RobotSpec)} - {"source", "model_format"} | {"format", "expert"}


def _tuple_of_floats(value: Any, n: int | None, source: Any, name: str) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or (n is not None and len(value) != n):
        want = f"a list of {n} numbers" if n else "a list of numbers"
        raise SpecError(source, name, f"expected {want}, got {value!r}")
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise SpecError(source, name, f"expected numbers, got {value!r}") from None
    if not all(math.isfinite(v) for v in out):
        raise SpecError(source, name, f"values must be finite, got {value!r}")
    return out


def _names(value: Any, source: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise SpecError(source, name, f"expected a list of names, got {value!r}")
    return tuple(value)


def _check_keys(table: dict, allowed: set[str], source: Any, prefix: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SpecError(source, f"{prefix}{unknown[0]}", f"unknown field; allowed: {', '.join(sorted(allowed))}")


def _build_dataclass(cls, table: Any, source: Any, prefix: str, **converted):
    if not isinstance(table, dict):
        raise SpecError(source, prefix.rstrip("."), f"expected a table, got {table!r}")
    allowed = {f.name for f in dataclasses.fields(cls)}
    _check_keys(table, allowed, source, prefix)
    values = dict(table)
    values.update(converted)
    try:
        return cls(**values)
    except TypeError as err:
        raise SpecError(source, prefix.rstrip("."), str(err)) from None


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
    if not isinstance(model, str) or not model:
        raise SpecError(source, "model", "expected the path of a URDF or MJCF file")
    fmt = data.get("format") or ("mjcf" if model.lower().endswith((".xml", ".mjcf")) else "urdf")
    if fmt not in ("urdf", "mjcf"):
        raise SpecError(source, "format", f"{fmt!r} is not a model format; use 'urdf' or 'mjcf'")
    joints = _names(data["joints"], source, "joints")
    if len(set(joints)) != len(joints):
        dup = next(j for j in joints if joints.count(j) > 1)
        raise SpecError(source, "joints", f"joint {dup!r} is listed twice")

    home = data.get("home", {})
    if not isinstance(home, dict):
        raise SpecError(source, "home", "expected a table of joint name = position")
    for joint, value in home.items():
        if joint not in joints:
            raise SpecError(source, f"home.{joint}", f"not an actuated joint of this spec; joints are: {', '.join(joints)}")
        if isinstance(value, (list, tuple)):
            _tuple_of_floats(value, 3, source, f"home.{joint}")
        elif not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SpecError(source, f"home.{joint}", f"expected a number (radians or metres), got {value!r}")

    end_effectors = {}
    for ee_name, table in (data.get("end_effectors") or {}).items():
        if ee_name not in CANONICAL_END_EFFECTORS:
            raise SpecError(source, f"end_effectors.{ee_name}", f"not a canonical end-effector; use {', '.join(CANONICAL_END_EFFECTORS)}")
        conv = {}
        if isinstance(table, dict):
            if "offset" in table:
                conv["offset"] = _tuple_of_floats(table["offset"], 3, source, f"end_effectors.{ee_name}.offset")
            if "ik_joints" in table:
                conv["ik_joints"] = _names(table["ik_joints"], source, f"end_effectors.{ee_name}.ik_joints")
                for j in conv["ik_joints"]:
                    if j not in joints:
                        raise SpecError(source, f"end_effectors.{ee_name}.ik_joints", f"{j!r} is not in joints")
        ee = _build_dataclass(EndEffector, table, source, f"end_effectors.{ee_name}.", **conv)
        if (ee.link is None) == (ee.joint is None):
            raise SpecError(source, f"end_effectors.{ee_name}", "give exactly one of 'link' or 'joint'")
        end_effectors[ee_name] = ee

    grippers = {}
    for ee_name, table in (data.get("grippers") or {}).items():
        prefix = f"grippers.{ee_name}"
        if ee_name not in end_effectors:
            raise SpecError(source, prefix, f"a gripper must belong to an end-effector; this spec has: {', '.join(end_effectors) or 'none'}")
        if not isinstance(table, dict):
            raise SpecError(source, prefix, "expected a table with joints, open and closed")
        g_joints = _names(table.get("joints"), source, f"{prefix}.joints")
        conv = {
            "joints": g_joints,
            "open": _tuple_of_floats(table.get("open"), len(g_joints), source, f"{prefix}.open"),
            "closed": _tuple_of_floats(table.get("closed"), len(g_joints), source, f"{prefix}.closed"),
        }
        for j in g_joints:
            if j not in joints:
                raise SpecError(source, f"{prefix}.joints", f"{j!r} is not in joints")
        grippers[ee_name] = _build_dataclass(Gripper, table, source, prefix + ".", **conv)

    gains = []
    for i, table in enumerate(data.get("gains") or []):
        conv = {"joints": _names(table.get("joints", "*"), source, f"gains[{i}].joints")} if isinstance(table, dict) else {}
        group = _build_dataclass(GainGroup, table, source, f"gains[{i}].", **conv)
        for attr in ("kp", "kd", "max_force"):
            if not isinstance(getattr(group, attr), (int, float)) or getattr(group, attr) < 0:
                raise SpecError(source, f"gains[{i}].{attr}", "must be a non-negative number")
        gains.append(group)

    friction = []
    for i, table in enumerate(data.get("friction") or []):
        conv = {"links": _names(table.get("links"), source, f"friction[{i}].links")} if isinstance(table, dict) else {}
        friction.append(_build_dataclass(FrictionOverride, table, source, f"friction[{i}].", **conv))

    cameras = []
    for i, table in enumerate(data.get("cameras") or []):
        conv = {}
        if isinstance(table, dict):
            for vec in ("position", "target", "up"):
                if vec in table:
                    conv[vec] = _tuple_of_floats(table[vec], 3, source, f"cameras[{i}].{vec}")
        cam = _build_dataclass(Camera, table, source, f"cameras[{i}].", **conv)
        if cam.width <= 0 or cam.height <= 0:
            raise SpecError(source, f"cameras[{i}]", "width and height must be positive")
        cameras.append(cam)
    names = [c.name for c in cameras]
    if len(set(names)) != len(names):
        raise SpecError(source, "cameras", "camera names must be unique")

    mimic = {}
    for follower, table in (data.get("mimic") or {}).items():
        prefix = f"mimic.{follower}"
        if follower in joints:
            raise SpecError(source, prefix, "a mimic joint follows another joint and must not be listed in joints")
        m = _build_dataclass(Mimic, table, source, prefix + ".")
        if m.joint not in joints:
            raise SpecError(source, f"{prefix}.joint", f"{m.joint!r} is not in joints; a mimic joint follows an actuated joint")
        for attr in ("multiplier", "offset"):
            if not isinstance(getattr(m, attr), (int, float)) or not math.isfinite(getattr(m, attr)):
                raise SpecError(source, f"{prefix}.{attr}", "expected a finite number")
        mimic[follower] = Mimic(m.joint, float(m.multiplier), float(m.offset))

    scale = data.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
        raise SpecError(source, "scale", f"expected a positive number, got {scale!r}")
    if scale != 1.0 and fmt == "mjcf":
        raise SpecError(source, "scale", "PyBullet cannot scale MJCF models at load; scale works for URDF only")

    inertia_from_file = data.get("inertia_from_file", True)
    if not isinstance(inertia_from_file, bool):
        raise SpecError(source, "inertia_from_file", "expected true or false")

    base_height = data.get("base_height")
    if base_height is not None and not isinstance(base_height, (int, float)):
        raise SpecError(source, "base_height", "expected a number of metres")
    fixed_base = data.get("fixed_base", True)
    if not isinstance(fixed_base, bool):
        raise SpecError(source, "fixed_base", "expected true or false")

    return RobotSpec(
        name=name,
        model=model,
        kind=kind,
        joints=joints,
        fixed_base=fixed_base,
        base_position=_tuple_of_floats(data.get("base_position", (0, 0, 0)), 3, source, "base_position"),
        base_orientation=_tuple_of_floats(data.get("base_orientation", (0, 0, 0, 1)), 4, source, "base_orientation"),
        home=dict(home),
        base_height=None if base_height is None else float(base_height),
        end_effectors=end_effectors,
        grippers=grippers,
        gains=tuple(gains),
        friction=tuple(friction),
        cameras=tuple(cameras),
        mimic=mimic,
        scale=float(scale),
        inertia_from_file=inertia_from_file,
        model_format=fmt,
        model_body=data.get("model_body"),
        description=str(data.get("description", "")),
        balance=_balance(data, source),
        source=str(source) if source else None,
    )


def _balance(data: dict[str, Any], source: Any) -> Balance:
    """`[balance]`, or the deprecated `[expert.balance]` of older spec files (the same numbers, read as robot data)."""
    table = data.get("balance")
    old = data.get("expert")
    if old is not None and old != {}:  # {}: what RobotSpec.to_dict() wrote before [balance] existed
        if not isinstance(old, dict) or set(old) - {"balance"}:
            raise SpecError(source, "expert", "deprecated; the only table it took, [expert.balance], is now [balance]")
        if table is not None:
            raise SpecError(source, "expert.balance", "deprecated and given beside [balance]; keep [balance] only")
        warnings.warn(f"{source or '<robot spec>'}: [expert.balance] is deprecated; rename the table [balance]",
                      FutureWarning, stacklevel=4)
        table, prefix = old.get("balance", {}), "expert.balance."
    else:
        prefix = "balance."
    if table is None:
        return Balance()
    balance = _build_dataclass(Balance, table, source, prefix)
    for attr in ("ankle_gain", "ankle_damping"):
        value = getattr(balance, attr)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SpecError(source, prefix + attr, f"expected a finite number, got {value!r}")
    return Balance(float(balance.ankle_gain), float(balance.ankle_damping))


def load_spec(path: str | Path) -> RobotSpec:
    """Read a spec file; every problem is reported against the file and field it is in."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(path, "<file>", "no such spec file")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise SpecError(path, "<file>", f"not valid TOML: {err}") from None
    spec = spec_from_dict(data, source=path)
    if not spec.model_path().is_file():
        raise SpecError(path, "model", f"model file {spec.model_path()} does not exist; fix the path (relative paths are relative to the spec file)")
    return spec

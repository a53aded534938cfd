"""The project's own full-size manipulation humanoid, generated as URDF from a few parameters.

`pybullet_data` ships no humanoid with hands, so the project models one: 6-DoF legs, a waist, a
2-DoF neck, 7-DoF (or 6-DoF) arms and two-finger parallel grippers, built from boxes, cylinders and
spheres only so it simulates fast and its collision geometry is exactly its visual geometry.

Why a generator rather than a hand-written file: the proportions, masses and inertias all follow
from height and mass, so a variant (a 1.6 m robot, 6-DoF arms, no fingers) is one call, and the
inertias are computed from the shapes instead of typed in (hand-typed tensors are where URDFs go
wrong). The default output is checked in as `models/flywheel_humanoid.urdf`; the output is
deterministic (fixed float formatting, no timestamps) so a test can regenerate it and compare bytes.

Conventions (z up, x forward, y left): in the zero pose the robot stands straight with its arms
hanging and its fingers pointing down. Pitch joints turn about +y and roll joints about +x, so hip
and shoulder flexion (leg or arm forward) is negative and knee flexion positive; the elbow alone
turns about -y, so that its flexion is positive too. Positive ankle pitch points the toes down,
positive neck pitch looks down; a standing crouch is hip = -a, knee = 2a, ankle = -a. Roll and yaw
limits are mirrored between the sides. Fingers are prismatic along the hand's y (finger 1 towards
+y, finger 2 towards -y): 0 is closed, 0.04 m is open (each), like the Panda's.

    python -m flywheel.robots.humanoid_urdf            # rewrite models/flywheel_humanoid.urdf
    python -m flywheel.robots.humanoid_urdf --check    # exit 1 if the checked-in file is stale
"""
from __future__ import annotations

import argparse
import math
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

MODEL_PATH = Path(__file__).resolve().parent / "models" / "flywheel_humanoid.urdf"
REFERENCE_HEIGHT = 1.7  # m: every length below is given for this height and scales with it
REFERENCE_MASS = 60.0  # kg: every mass and effort below is given for this mass and scales with it
FINGER_TRAVEL = 0.04  # m per finger, not scaled, so the gripper opens like a Panda's at any size
MIN_FINGER_MASS = 0.05  # kg: much lighter links beside a 0.35 kg palm make Bullet's solver jitter
SIDES = (("l", 1.0), ("r", -1.0))  # side prefix and the sign of its y

# Geometry at the reference height (m). Vertical chain, soles to head top, in the zero pose:
# sole 0 -> ankle 0.07 -> knee 0.48 -> hip pitch/roll 0.89 -> hip yaw 0.95 -> pelvis 1.00
# -> waist 1.07 -> shoulders 1.37 -> neck 1.45 -> neck pitch 1.50 -> head top 1.70.
ANKLE_HEIGHT = 0.07
SHIN = 0.41
THIGH = 0.41
HIP_ROLL_DROP = 0.06  # hip yaw joint to hip roll/pitch joints
HIP_YAW_DROP = 0.05  # pelvis origin to hip yaw joint
HIP_Y = 0.085
WAIST_RISE = 0.07  # pelvis origin to waist joint
SHOULDER_RISE = 0.30  # waist joint to shoulder joints
SHOULDER_Y = 0.20
NECK_RISE = 0.38  # waist joint to neck yaw joint
NECK_PITCH_RISE = 0.05
HEAD_RADIUS = 0.105
UPPER_ARM = 0.34  # shoulder to elbow; a little longer than a human's so the hands reach a table
SHOULDER_YAW_DROP = 0.09  # the shoulder yaw joint sits this far down the upper arm
FOREARM = 0.29  # elbow to wrist
WRIST_YAW_DROP = 0.14  # the forearm twist joint sits this far below the elbow
PALM = (0.045, 0.10, 0.085)  # x (thickness), y (across the jaws), z (length) of the palm box
FINGER = (0.02, 0.012, 0.055)  # x (depth), y (jaw thickness), z (length) of one finger
TCP_DEPTH = 0.04  # grasp centre below the palm: 15 mm inside the fingertips
BARE_TCP_DEPTH = 0.02  # without fingers: just below the palm, where a grasp assist would hold an object
FOOT = (0.23, 0.10, 0.045)  # sole box; the ankle sits 3 cm behind its centre, like a human's
FOOT_FORWARD = 0.03

# Masses at the reference mass (kg): heavy legs and trunk keep the centre of mass low (0.97 m standing).
# The pelvis is not listed: it takes the remainder of the total (9.3 kg at the reference).
LEG_MASSES = {"hip_yaw_link": 1.0, "hip_roll_link": 1.2, "thigh": 4.0, "shin": 2.6, "ankle_link": 0.3, "foot": 1.0}
ARM_MASSES = {
    "shoulder_pitch_link": 0.6, "shoulder_roll_link": 0.6, "upper_arm": 1.2, "forearm": 0.6,
    "wrist_yaw_link": 0.4, "wrist_pitch_link": 0.15, "hand": 0.35, "finger": 0.06,
}
TORSO_MASS = 20.0
NECK_MASS = 0.3
HEAD_MASS = 2.2
TCP_MASS = 0.001  # the tool-centre link exists to be looked up by name; it must not change dynamics


@dataclass(frozen=True)
class JointSpec:
    """Limits (rad or m), effort (Nm or N, at the reference size) and velocity of one joint kind."""

    lower: float
    upper: float
    effort: float
    velocity: float


# Left-side limits; the right side mirrors roll and yaw joints (lower/upper swapped and negated).
JOINTS = {
    "hip_yaw": JointSpec(-0.7, 0.7, 150.0, 10.0),
    "hip_roll": JointSpec(-0.35, 0.7, 200.0, 10.0),
    "hip_pitch": JointSpec(-2.0, 0.8, 250.0, 10.0),
    "knee": JointSpec(-0.05, 2.4, 300.0, 10.0),
    "ankle_pitch": JointSpec(-0.8, 0.6, 150.0, 10.0),
    "ankle_roll": JointSpec(-0.4, 0.4, 150.0, 10.0),
    "waist_yaw": JointSpec(-1.0, 1.0, 150.0, 6.0),
    "neck_yaw": JointSpec(-1.2, 1.2, 20.0, 5.0),
    "neck_pitch": JointSpec(-0.5, 0.9, 20.0, 5.0),
    "shoulder_pitch": JointSpec(-3.0, 1.0, 60.0, 8.0),
    "shoulder_roll": JointSpec(-0.7, 2.6, 60.0, 8.0),
    "shoulder_yaw": JointSpec(-2.0, 2.0, 40.0, 8.0),
    "elbow": JointSpec(-0.05, 2.6, 40.0, 8.0),
    "wrist_yaw": JointSpec(-2.0, 2.0, 20.0, 10.0),
    "wrist_pitch": JointSpec(-1.6, 1.6, 20.0, 10.0),
    "wrist_roll": JointSpec(-1.0, 1.0, 20.0, 10.0),
    "finger": JointSpec(0.0, FINGER_TRAVEL, 40.0, 0.2),
}
MIRRORED = {"hip_yaw", "hip_roll", "ankle_roll", "shoulder_roll", "shoulder_yaw", "wrist_yaw", "wrist_roll"}

COLORS = {"body": (0.82, 0.84, 0.86, 1.0), "joint": (0.22, 0.24, 0.27, 1.0), "accent": (0.95, 0.55, 0.15, 1.0)}


@dataclass(frozen=True)
class Shape:
    """One primitive, axis-aligned in its link frame: the link's collision, visual and inertia."""

    kind: str  # box | cylinder | sphere
    size: tuple[float, ...]  # box (x, y, z); cylinder (radius, length); sphere (radius,)
    center: tuple[float, float, float] = (0.0, 0.0, 0.0)
    axis: str = "z"  # cylinders: the axis they lie along

    def inertia(self, mass: float) -> tuple[float, float, float]:
        """Principal moments about the centre for a solid of uniform density."""
        if self.kind == "box":
            x, y, z = self.size
            return (mass * (y * y + z * z) / 12, mass * (x * x + z * z) / 12, mass * (x * x + y * y) / 12)
        if self.kind == "sphere":
            moment = 0.4 * mass * self.size[0] ** 2
            return (moment, moment, moment)
        radius, length = self.size
        across = mass * (3 * radius * radius + length * length) / 12
        along = mass * radius * radius / 2
        return tuple(along if axis == self.axis else across for axis in "xyz")  # type: ignore[return-value]

    def rpy(self) -> tuple[float, float, float]:
        """URDF cylinders lie along z; turn them onto their axis."""
        if self.kind != "cylinder" or self.axis == "z":
            return (0.0, 0.0, 0.0)
        return (0.0, math.pi / 2, 0.0) if self.axis == "x" else (math.pi / 2, 0.0, 0.0)


def _num(value: float) -> str:
    """Fixed formatting so the output is byte-identical on every platform; no '-0'."""
    text = f"{value:.9g}"
    return "0" if text in ("0", "-0") else text


def _vec(values: tuple[float, ...]) -> str:
    return " ".join(_num(v) for v in values)


class _Urdf:
    """A tiny URDF writer: links from one `Shape` each, joints with limits, shared materials.

    Links are kept as records and rendered last, so a mass can still be settled after the whole tree
    is known (the pelvis takes the remainder of the total).
    """

    def __init__(self, name: str, header: str):
        self.name, self.header = name, header
        self.links: dict[str, tuple[float, Shape | None, str]] = {}
        self._items: list[str | ET.Element] = []  # link names and joint elements, in file order

    def link(self, name: str, mass: float, shape: Shape | None, color: str = "body") -> None:
        self.links[name] = (mass, shape, color)
        self._items.append(name)

    def set_mass(self, name: str, mass: float) -> None:
        _, shape, color = self.links[name]
        self.links[name] = (mass, shape, color)

    def joint(self, name: str, kind: str, parent: str, child: str, xyz: tuple[float, float, float],
              axis: tuple[float, float, float] | None = None, limits: JointSpec | None = None) -> None:
        joint = ET.Element("joint", name=name, type=kind)
        ET.SubElement(joint, "parent", link=parent)
        ET.SubElement(joint, "child", link=child)
        ET.SubElement(joint, "origin", xyz=_vec(xyz), rpy="0 0 0")
        if axis is not None:
            ET.SubElement(joint, "axis", xyz=_vec(axis))
        if limits is not None:
            ET.SubElement(joint, "limit", lower=_num(limits.lower), upper=_num(limits.upper),
                          effort=_num(limits.effort), velocity=_num(limits.velocity))
        self._items.append(joint)

    def _link_element(self, name: str) -> ET.Element:
        mass, shape, color = self.links[name]
        link = ET.Element("link", name=name)
        inertial = ET.SubElement(link, "inertial")
        if shape is None:  # a frame only: a speck of mass with a valid (tiny, solid-sphere) inertia
            ET.SubElement(inertial, "origin", xyz="0 0 0", rpy="0 0 0")
            ET.SubElement(inertial, "mass", value=_num(mass))
            moment = _num(0.4 * mass * 0.005**2)
            ET.SubElement(inertial, "inertia", ixx=moment, ixy="0", ixz="0", iyy=moment, iyz="0", izz=moment)
            return link
        ixx, iyy, izz = shape.inertia(mass)
        ET.SubElement(inertial, "origin", xyz=_vec(shape.center), rpy="0 0 0")
        ET.SubElement(inertial, "mass", value=_num(mass))
        ET.SubElement(inertial, "inertia", ixx=_num(ixx), ixy="0", ixz="0", iyy=_num(iyy), iyz="0", izz=_num(izz))
        for tag in ("visual", "collision"):
            element = ET.SubElement(link, tag)
            ET.SubElement(element, "origin", xyz=_vec(shape.center), rpy=_vec(shape.rpy()))
            geometry = ET.SubElement(element, "geometry")
            if shape.kind == "box":
                ET.SubElement(geometry, "box", size=_vec(shape.size))
            elif shape.kind == "sphere":
                ET.SubElement(geometry, "sphere", radius=_num(shape.size[0]))
            else:
                ET.SubElement(geometry, "cylinder", radius=_num(shape.size[0]), length=_num(shape.size[1]))
            if tag == "visual":
                ET.SubElement(element, "material", name=color)
        return link

    def text(self) -> str:
        root = ET.Element("robot", name=self.name)
        root.append(ET.Comment(self.header))
        for color, rgba in COLORS.items():
            ET.SubElement(ET.SubElement(root, "material", name=color), "color", rgba=_vec(rgba))
        for item in self._items:
            root.append(self._link_element(item) if isinstance(item, str) else item)
        ET.indent(root, space="  ")
        return '<?xml version="1.0"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def generate_humanoid_urdf(height: float = 1.7, mass: float = 60.0, arm_dof: int = 7, grippers: bool = True,
                           ankle_roll: bool = True) -> str:
    """The humanoid's URDF text: lengths scale with `height`, masses with `mass`, efforts with both.

    `arm_dof=6` drops the forearm twist (`{s}_wrist_yaw`); `grippers=False` leaves a bare palm with
    the `{s}_tcp` frame just below it; `ankle_roll=False` welds the foot to the ankle (a fixed joint), as on
    humanoids whose ankles only pitch.
    """
    if not 1.0 <= height <= 2.5:
        raise ValueError(f"height {height} m is outside the 1.0-2.5 m this model's proportions are meant for")
    if not 10.0 <= mass <= 200.0:
        raise ValueError(f"mass {mass} kg is outside the 10-200 kg this model's mass split is meant for")
    if arm_dof not in (6, 7):
        raise ValueError(f"arm_dof must be 6 or 7, got {arm_dof}")
    s = height / REFERENCE_HEIGHT
    k = mass / REFERENCE_MASS

    def limits(joint: str, side: float = 1.0) -> JointSpec:
        spec = JOINTS[joint]
        lower, upper = (-spec.upper, -spec.lower) if side < 0 and joint in MIRRORED else (spec.lower, spec.upper)
        effort = spec.effort if joint == "finger" else spec.effort * k * s
        return JointSpec(lower, upper, round(effort, 3), spec.velocity)

    def kg(value: float) -> float:
        return value * k

    urdf = _Urdf("flywheel_humanoid", f" generated by flywheel.robots.humanoid_urdf: height={_num(height)} m, "
                 f"mass={_num(mass)} kg, arm_dof={arm_dof}, grippers={grippers}"
                 + ("" if ankle_roll else ", ankle_roll=False") + "; do not edit, regenerate ")

    def cyl(radius: float, top: float, bottom: float) -> Shape:
        """A limb segment along z from `top` down to `bottom` (link frame, metres at the reference height)."""
        return Shape("cylinder", (radius * s, (top - bottom) * s), (0.0, 0.0, (top + bottom) / 2 * s))

    # Pelvis (floating base) and the torso on the waist.
    pelvis_shape = Shape("box", (0.16 * s, 0.26 * s, 0.12 * s), (0.0, 0.0, 0.01 * s))
    urdf.link("pelvis", 0.0, pelvis_shape)  # its mass is settled last
    urdf.link("torso", kg(TORSO_MASS), Shape("box", (0.20 * s, 0.30 * s, 0.36 * s), (0.0, 0.0, 0.19 * s)))
    urdf.joint("waist_yaw", "revolute", "pelvis", "torso", (0.0, 0.0, WAIST_RISE * s), (0, 0, 1), limits("waist_yaw"))
    urdf.link("neck_link", kg(NECK_MASS), cyl(0.035, 0.045, 0.005), "joint")
    urdf.joint("neck_yaw", "revolute", "torso", "neck_link", (0.0, 0.0, NECK_RISE * s), (0, 0, 1), limits("neck_yaw"))
    urdf.link("head", kg(HEAD_MASS), Shape("sphere", (HEAD_RADIUS * s,), (0.01 * s, 0.0, 0.095 * s)))
    urdf.joint("neck_pitch", "revolute", "neck_link", "head", (0.0, 0.0, NECK_PITCH_RISE * s), (0, 1, 0),
               limits("neck_pitch"))

    for p, side in SIDES:
        # Leg: yaw, roll, pitch at the hip; knee; pitch, roll at the ankle; a flat box sole.
        legs = {name: kg(value) for name, value in LEG_MASSES.items()}
        urdf.link(f"{p}_hip_yaw_link", legs["hip_yaw_link"], cyl(0.045, 0.0, -0.045), "joint")
        urdf.joint(f"{p}_hip_yaw", "revolute", "pelvis", f"{p}_hip_yaw_link", (0.0, side * HIP_Y * s, -HIP_YAW_DROP * s),
                   (0, 0, 1), limits("hip_yaw", side))
        urdf.link(f"{p}_hip_roll_link", legs["hip_roll_link"], Shape("cylinder", (0.045 * s, 0.10 * s), axis="x"), "joint")
        urdf.joint(f"{p}_hip_roll", "revolute", f"{p}_hip_yaw_link", f"{p}_hip_roll_link", (0.0, 0.0, -HIP_ROLL_DROP * s),
                   (1, 0, 0), limits("hip_roll", side))
        urdf.link(f"{p}_thigh", legs["thigh"], cyl(0.055, -0.05, -THIGH + 0.04))
        urdf.joint(f"{p}_hip_pitch", "revolute", f"{p}_hip_roll_link", f"{p}_thigh", (0.0, 0.0, 0.0), (0, 1, 0),
                   limits("hip_pitch", side))
        urdf.link(f"{p}_shin", legs["shin"], cyl(0.045, -0.04, -SHIN + 0.035))
        urdf.joint(f"{p}_knee", "revolute", f"{p}_thigh", f"{p}_shin", (0.0, 0.0, -THIGH * s), (0, 1, 0),
                   limits("knee", side))
        urdf.link(f"{p}_ankle_link", legs["ankle_link"], Shape("sphere", (0.03 * s,)), "joint")
        urdf.joint(f"{p}_ankle_pitch", "revolute", f"{p}_shin", f"{p}_ankle_link", (0.0, 0.0, -SHIN * s), (0, 1, 0),
                   limits("ankle_pitch", side))
        foot = Shape("box", (FOOT[0] * s, FOOT[1] * s, FOOT[2] * s),
                     (FOOT_FORWARD * s, 0.0, (FOOT[2] / 2 - ANKLE_HEIGHT) * s))
        urdf.link(f"{p}_foot", legs["foot"], foot, "joint")
        if ankle_roll:
            urdf.joint(f"{p}_ankle_roll", "revolute", f"{p}_ankle_link", f"{p}_foot", (0.0, 0.0, 0.0), (1, 0, 0),
                       limits("ankle_roll", side))
        else:
            urdf.joint(f"{p}_ankle_roll", "fixed", f"{p}_ankle_link", f"{p}_foot", (0.0, 0.0, 0.0))

    for p, side in SIDES:
        # Arm: pitch, roll, yaw at the shoulder; elbow; forearm twist; pitch, roll at the wrist; palm.
        arm = {name: kg(value) for name, value in ARM_MASSES.items()}
        finger_mass = max(MIN_FINGER_MASS, arm["finger"])
        if arm_dof == 6:
            arm["forearm"] += arm.pop("wrist_yaw_link")
        if not grippers:
            arm["hand"] += 2 * finger_mass
        shoulder_motor = Shape("cylinder", (0.05 * s, 0.08 * s), axis="y")
        urdf.link(f"{p}_shoulder_pitch_link", arm["shoulder_pitch_link"], shoulder_motor, "joint")
        urdf.joint(f"{p}_shoulder_pitch", "revolute", "torso", f"{p}_shoulder_pitch_link",
                   (0.0, side * SHOULDER_Y * s, SHOULDER_RISE * s), (0, 1, 0), limits("shoulder_pitch", side))
        urdf.link(f"{p}_shoulder_roll_link", arm["shoulder_roll_link"], cyl(0.045, -0.03, -SHOULDER_YAW_DROP), "joint")
        urdf.joint(f"{p}_shoulder_roll", "revolute", f"{p}_shoulder_pitch_link", f"{p}_shoulder_roll_link", (0.0, 0.0, 0.0),
                   (1, 0, 0), limits("shoulder_roll", side))
        elbow_drop = UPPER_ARM - SHOULDER_YAW_DROP
        urdf.link(f"{p}_upper_arm", arm["upper_arm"], cyl(0.045, 0.0, -elbow_drop + 0.04))
        urdf.joint(f"{p}_shoulder_yaw", "revolute", f"{p}_shoulder_roll_link", f"{p}_upper_arm",
                   (0.0, 0.0, -SHOULDER_YAW_DROP * s), (0, 0, 1), limits("shoulder_yaw", side))
        if arm_dof == 7:
            urdf.link(f"{p}_forearm", arm["forearm"], cyl(0.04, -0.035, -WRIST_YAW_DROP))
            urdf.joint(f"{p}_elbow", "revolute", f"{p}_upper_arm", f"{p}_forearm", (0.0, 0.0, -elbow_drop * s), (0, -1, 0),
                       limits("elbow", side))
            urdf.link(f"{p}_wrist_yaw_link", arm["wrist_yaw_link"], cyl(0.035, 0.0, -(FOREARM - WRIST_YAW_DROP) + 0.03))
            urdf.joint(f"{p}_wrist_yaw", "revolute", f"{p}_forearm", f"{p}_wrist_yaw_link", (0.0, 0.0, -WRIST_YAW_DROP * s),
                       (0, 0, 1), limits("wrist_yaw", side))
            wrist_parent, wrist_drop = f"{p}_wrist_yaw_link", FOREARM - WRIST_YAW_DROP
        else:
            urdf.link(f"{p}_forearm", arm["forearm"], cyl(0.04, -0.035, -FOREARM + 0.03))
            urdf.joint(f"{p}_elbow", "revolute", f"{p}_upper_arm", f"{p}_forearm", (0.0, 0.0, -elbow_drop * s), (0, -1, 0),
                       limits("elbow", side))
            wrist_parent, wrist_drop = f"{p}_forearm", FOREARM
        urdf.link(f"{p}_wrist_pitch_link", arm["wrist_pitch_link"], Shape("sphere", (0.03 * s,)), "joint")
        urdf.joint(f"{p}_wrist_pitch", "revolute", wrist_parent, f"{p}_wrist_pitch_link", (0.0, 0.0, -wrist_drop * s),
                   (0, 1, 0), limits("wrist_pitch", side))
        palm = Shape("box", (PALM[0] * s, PALM[1] * s, PALM[2] * s), (0.0, 0.0, -PALM[2] / 2 * s))
        urdf.link(f"{p}_hand", arm["hand"], palm)
        urdf.joint(f"{p}_wrist_roll", "revolute", f"{p}_wrist_pitch_link", f"{p}_hand", (0.0, 0.0, 0.0), (1, 0, 0),
                   limits("wrist_roll", side))
        if grippers:
            fx, fy, fz = FINGER[0] * s, FINGER[1] * s, FINGER[2] * s
            for finger, sign in ((1, 1.0), (2, -1.0)):  # finger 1 opens towards the hand's +y, finger 2 towards -y
                jaw = Shape("box", (fx, fy, fz), (0.0, sign * fy / 2, -fz / 2))
                urdf.link(f"{p}_finger_{finger}_link", finger_mass, jaw, "accent")
                urdf.joint(f"{p}_finger_{finger}", "prismatic", f"{p}_hand", f"{p}_finger_{finger}_link",
                           (0.0, 0.0, -PALM[2] * s), (0, sign, 0), limits("finger"))
        urdf.link(f"{p}_tcp", TCP_MASS, None)
        tcp_depth = PALM[2] + (TCP_DEPTH if grippers else BARE_TCP_DEPTH)
        urdf.joint(f"{p}_tcp_joint", "fixed", f"{p}_hand", f"{p}_tcp", (0.0, 0.0, -tcp_depth * s))

    # The pelvis takes whatever makes the total exactly `mass` (the finger masses have a floor).
    urdf.set_mass("pelvis", mass - sum(m for m, _, _ in urdf.links.values()))
    return urdf.text()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flywheel.robots.humanoid_urdf", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help=f"where to write the URDF (default {MODEL_PATH})")
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing; exit 1 if it differs")
    parser.add_argument("--height", type=float, default=REFERENCE_HEIGHT)
    parser.add_argument("--mass", type=float, default=REFERENCE_MASS)
    parser.add_argument("--arm-dof", type=int, default=7, choices=(6, 7))
    parser.add_argument("--no-grippers", action="store_true")
    args = parser.parse_args(argv)
    text = generate_humanoid_urdf(args.height, args.mass, args.arm_dof, not args.no_grippers)
    if args.check:
        if not args.out.is_file() or args.out.read_text() != text:
            print(f"{args.out} is out of date; regenerate it with python -m flywheel.robots.humanoid_urdf", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Infer a `RobotSpec` from a URDF: every value is a guess with a reason, written next to it in the spec.

What is inferred, and from what:

* **actuated joints**: revolute, continuous, prismatic and spherical joints; fixed, floating and planar
  joints and joints whose limits have zero range stay passive; joints with a URDF ``<mimic>`` tag follow
  their leader through the spec's ``[mimic]`` table instead of being commanded.
* **kind**: from the kinematic tree: its tips (leaf links), the names along the chains that lead to
  them (leg, foot, wheel, finger, hand...) and where the tips are in the zero pose.
* **end-effectors**: hands are the tips of spatial chains (three or more joints that move a point in
  3-D); a hand with fingers is the link the finger joints branch from, its tool centre between the
  fingertips. Feet are the tips of legs. Left and right come from names, else from the side the tip is on.
* **grippers**: the joints below a hand; open is the limit that spreads the fingertips apart.
* **home**: inside the limits; arms get a ready pose found by searching for the pose from which the
  reach task's targets are reachable; legged robots stand with each foot under its hip, and the base
  height comes from the lowest point of the collision shapes in that pose.
* **gains**: force limits from the URDF's effort limits, or from the gravity load of the links each
  joint carries when the URDF gives none.
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from flywheel.robots.spec import KINDS
from flywheel.robots.urdf import Joint, URDFModel, matrix_to_quat

GRAVITY = 9.81
REACH_BOX = np.array([0.15, 0.2, 0.15])  # the reach task's target half-extents around the hand's home position
ARM_KP, LEG_KP, DEFAULT_KD = 0.3, 0.5, 1.0
MAX_SEARCH_DOFS = 12  # the ready-pose search is for arms; longer chains keep their zero pose
EFFORT_MARGIN = 5.0  # force limit / static gravity load when the URDF gives no effort: PyBullet's motors need headroom

FOOT_WORDS = ("foot", "feet", "toe", "ankle", "sole", "paw")
LEG_WORDS = FOOT_WORDS + ("leg", "hip", "thigh", "knee", "calf", "shin", "shank", "femur", "tibia")
WHEEL_WORDS = ("wheel", "caster", "tire", "tyre")
FINGER_WORDS = ("finger", "thumb", "knuckle", "claw", "jaw", "pinch", "phalanx")
GRIPPER_WORDS = ("gripper", "grip")
HAND_WORDS = ("hand", "palm", "wrist", "gripper", "tool", "tcp", "eef", "effector", "flange", "grasp")
ARM_WORDS = ("arm", "shoulder", "elbow", "wrist", "hand", "palm")
HEAD_WORDS = ("head", "neck", "camera", "eye", "lidar", "sensor", "imu")
SHORT_LEFT, SHORT_RIGHT = {"l", "lt", "lft"}, {"r", "rt", "rgt"}
CORNERS = {"fl": ("front", "left"), "fr": ("front", "right"), "rl": ("back", "left"), "rr": ("back", "right"),
           "bl": ("back", "left"), "br": ("back", "right"), "hl": ("back", "left"), "hr": ("back", "right"),
           "lf": ("front", "left"), "rf": ("front", "right"), "lh": ("back", "left"), "rh": ("back", "right")}


@dataclass
class Guess:
    field: str  # the spec field it is about ("kind", "home", "end_effectors.right_hand", ...)
    text: str


@dataclass
class Inference:
    model: URDFModel
    spec: dict[str, Any]  # what spec_from_dict takes (and the TOML writer writes)
    guesses: list[Guess] = field(default_factory=list)

    def notes_for(self, prefix: str) -> list[str]:
        return [g.text for g in self.guesses if g.field == prefix]


# ---- names ------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def tokens(name: str) -> tuple[str, ...]:
    """'FR_hip_joint' -> ['fr', 'hip', 'joint']; 'leftFinger2' -> ['left', 'finger', '2']."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Za-z])([0-9])", r"\1 \2", spaced)
    return tuple(t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t)


def has_word(names, words) -> bool:
    for name in ([names] if isinstance(names, str) else names):
        low, toks = name.lower(), tokens(name)
        for w in words:
            if (len(w) >= 4 and w in low) or w in toks:
                return True
    return False


def side_of(names) -> str | None:
    """'left' / 'right' from names, nearest-to-the-tip name first; None when names do not say."""
    for name in names:
        low, toks = name.lower(), tokens(name)
        left = "left" in low or any(t in SHORT_LEFT for t in toks)
        right = "right" in low or any(t in SHORT_RIGHT for t in toks)
        if left != right:
            return "left" if left else "right"
        for t in toks:
            if t in CORNERS:
                return CORNERS[t][1]
    return None


def front_of(names) -> str | None:
    for name in names:
        low, toks = name.lower(), tokens(name)
        if "front" in low or "fore" in toks:
            return "front"
        if any(w in low for w in ("rear", "back", "hind")):
            return "back"
        for t in toks:
            if t in CORNERS:
                return CORNERS[t][0]
    return None


def spec_name(model: URDFModel) -> str:
    """A registry name from the URDF: the robot's name unless it is generic, else the file or folder name."""
    generic = {"", "robot", "model", "urdf", "physics", "default", "my_robot", "untitled"}
    for cand in (model.name, model.path.stem, model.path.parent.name):
        clean = re.sub(r"[^A-Za-z0-9_-]+", "_", cand).strip("_-")
        if clean.lower() not in generic:
            return clean
    return "robot"


# ---- kinematics on one chain --------------------------------------------------------------------------
def _rot(axis: np.ndarray, angle: float) -> np.ndarray:
    x, y, z = axis
    c, s, v = math.cos(angle), math.sin(angle), 1 - math.cos(angle)
    return np.array([[c + x * x * v, x * y * v - z * s, x * z * v + y * s],
                     [y * x * v + z * s, c + y * y * v, y * z * v - x * s],
                     [z * x * v - y * s, z * y * v + x * s, c + z * z * v]])


class Chain:
    """The joints from the root to one link, with fast FK and an analytic position Jacobian."""

    def __init__(self, model: URDFModel, link: str, dofs: list[str], base: np.ndarray):
        self.model, self.link, self.base = model, link, base
        self.joints = model.chain(link)
        self.dofs = [d for d in dofs if any(j.name == d for j in self.joints)]
        self._col = {d: i for i, d in enumerate(self.dofs)}

    def fk(self, q: dict[str, float], point=np.zeros(3)):
        t = self.base.copy()
        frames = []
        for j in self.joints:
            t = t @ j.origin
            if j.type in ("revolute", "continuous", "prismatic"):
                axis_w = t[:3, :3] @ j.axis
                frames.append((j.name, t[:3, 3].copy(), axis_w, j.type == "prismatic"))
                value = float(self.model.joint_value(j, q))
                if j.type == "prismatic":
                    m = np.eye(4)
                    m[:3, 3] = j.axis * value
                    t = t @ m
                elif value:
                    m = np.eye(4)
                    m[:3, :3] = _rot(j.axis, value)
                    t = t @ m
        tip = t[:3, :3] @ point + t[:3, 3]
        return t, tip, frames

    def jacobian(self, tip: np.ndarray, frames) -> np.ndarray:
        jac = np.zeros((6, len(self.dofs)))
        for name, pos, axis, prismatic in frames:
            col = self._col.get(name)
            if col is None:
                continue
            if prismatic:
                jac[:3, col] = axis
            else:
                jac[:3, col] = np.cross(axis, tip - pos)
                jac[3:, col] = axis
        return jac

    def ik(self, q: dict[str, float], limits: dict[str, tuple[float, float]], target: np.ndarray, point=np.zeros(3),
           target_rot: np.ndarray | None = None, iters: int = 60, tol: float = 0.01) -> tuple[dict[str, float], float]:
        """Damped least squares towards a position (and orientation), clipped to the limits."""
        q = dict(q)
        err_norm = float("inf")
        for _ in range(iters):
            t, tip, frames = self.fk(q, point)
            err = target - tip
            err_norm = float(np.linalg.norm(err))
            if target_rot is not None:
                r_err = target_rot @ t[:3, :3].T
                angle_err = 0.5 * np.array([r_err[2, 1] - r_err[1, 2], r_err[0, 2] - r_err[2, 0], r_err[1, 0] - r_err[0, 1]])
                if err_norm < tol and np.linalg.norm(angle_err) < 0.05:
                    break
                jac = self.jacobian(tip, frames)
                e = np.concatenate([err, 0.3 * angle_err])
            else:
                if err_norm < tol:
                    break
                jac = self.jacobian(tip, frames)[:3]
                e = err
            dq = jac.T @ np.linalg.solve(jac @ jac.T + 1e-3 * np.eye(jac.shape[0]), e)
            scale = np.max(np.abs(dq)) / 0.3 if len(dq) else 0
            if scale > 1:
                dq /= scale
            for name, d in zip(self.dofs, dq):
                lo, hi = limits[name]
                q[name] = float(np.clip(q[name] + d, lo, hi))
        return q, err_norm


# ---- the inference ---------------------------------------------------------------------------------------
@dataclass
class _Tip:
    link: str
    chain: list[Joint]  # root -> tip
    private: list[Joint]  # from the last branching link -> tip
    position: np.ndarray  # zero pose, in the URDF root frame
    names: list[str]  # link and joint names from the tip upwards


def _tips(model: URDFModel, poses) -> list[_Tip]:
    out = []
    for leaf in model.leaves():
        chain = model.chain(leaf)
        if not any(j.movable for j in chain):
            continue  # a sensor frame or a decorative link bolted to the base
        private = []
        for j in reversed(chain):
            private.insert(0, j)
            siblings = [c for c in model.child_joints[j.parent] if _has_movable(model, c)]
            if len(siblings) > 1 or j.parent == model.root:
                break
        names = []
        for j in reversed(chain):
            names += [j.child, j.name]
        out.append(_Tip(leaf, chain, private, poses[leaf][:3, 3].copy(), names))
    return out


def _has_movable(model: URDFModel, joint: Joint) -> bool:
    """Whether the joint, or any joint below it, can move (iterative: deep chains must not hit the recursion limit)."""
    stack = [joint]
    while stack:
        j = stack.pop()
        if j.movable:
            return True
        stack.extend(model.child_joints[j.child])
    return False


def _subtree_extent(model: URDFModel, link: str, poses) -> float:
    origin = poses[link][:3, 3]
    pts = []
    for name in model.subtree(link):
        pose = poses[name]
        pts.append(pose[:3, 3])
        for g in model.links[name].collisions:
            pts.extend((g.local_points() @ pose[:3, :3].T) + pose[:3, 3])
    return max(float(np.linalg.norm(p - origin)) for p in pts) if pts else 0.0


def _quat_from_axes(forward: np.ndarray, up: np.ndarray) -> tuple[float, float, float, float]:
    """Orientation that turns the robot's own forward/up axes onto world +x / +z."""
    up = up / np.linalg.norm(up)
    forward = forward - up * float(forward @ up)
    forward = forward / np.linalg.norm(forward)
    left = np.cross(up, forward)
    body = np.column_stack([forward, left, up])  # body axes expressed in the URDF frame
    return matrix_to_quat(body.T)  # world_R_urdf maps those axes to x, y, z


def _snap(v: np.ndarray, degrees: float = 25.0) -> np.ndarray:
    """A direction snapped to the nearest model axis when it is close: URDFs are drawn along their axes."""
    n = float(np.linalg.norm(v))
    if n < 1e-9:
        return v
    u = v / n
    i = int(np.argmax(np.abs(u)))
    if abs(u[i]) >= math.cos(math.radians(degrees)):
        out = np.zeros(3)
        out[i] = math.copysign(1.0, u[i])
        return out
    return u


def _min_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation matrix taking unit vector a to unit vector b."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    v, c = np.cross(a, b), float(a @ b)
    if c < -0.999999:
        perp = np.array([1.0, 0, 0]) if abs(a[0]) < 0.9 else np.array([0, 1.0, 0])
        axis = np.cross(a, perp)
        return _rot(axis / np.linalg.norm(axis), math.pi)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


def infer_spec(model: URDFModel, name: str | None = None, kind: str | None = None,
               fixed_base: bool | None = None, compute_base_height: bool = True,
               inertia_from_file: bool = True) -> Inference:
    """The spec flywheel guesses for `model`, with a note for every guess (see the module docstring)."""
    guesses: list[Guess] = []

    def guess(field_name: str, text: str) -> None:
        guesses.append(Guess(field_name, text))

    for note in model.notes:
        guess("model", note)

    # -- joints -------------------------------------------------------------------------------------
    actuated, mimic, passive = [], {}, []
    for j in model.topological_joints:
        if not j.movable:
            if j.type in ("floating", "planar"):
                passive.append(j.name)
                guess("joints", f"{j.name}: a {j.type} joint cannot be driven by a PyBullet motor; left passive")
            continue
        if j.zero_range:
            passive.append(j.name)
            guess("joints", f"{j.name}: limits have zero range ({j.lower:g}); treated as fixed, not actuated")
            continue
        if j.mimic is not None:
            leader, mult, off = model.resolve_mimic(j.name)
            lj = model.joints[leader]
            if lj.movable and not lj.zero_range and lj.type != "spherical" and j.type in ("revolute", "prismatic", "continuous"):
                mimic[j.name] = {"joint": leader, "multiplier": mult, "offset": off}
                continue
            guess("joints", f"{j.name}: mimics {j.mimic.joint!r}, which is not actuated; actuated on its own instead")
        actuated.append(j)
    actuated_names = [j.name for j in actuated]
    limits = {j.name: j.range() for j in model.joints.values()}
    q_zero = {j.name: float(np.clip(0.0, *j.range())) for j in actuated if j.type != "spherical"}
    guess("joints", f"{len(actuated)} actuated joint(s) in tree order"
          + (f"; {len(mimic)} mimic joint(s) follow their leaders through [mimic]" if mimic else "")
          + (f"; passive: {', '.join(passive)}" if passive else ""))
    continuous = [j.name for j in actuated if j.type == "continuous"]
    if continuous:
        shown = ", ".join(continuous[:4]) + (f" and {len(continuous) - 4} more" if len(continuous) > 4 else "")
        guess("joints", f"{len(continuous)} continuous joint(s) ({shown}): commanded within [-pi, pi]")
    for j in actuated:
        if j.type in ("revolute", "prismatic") and not j.limited:
            lo, hi = j.range()
            guess("joints", f"{j.name}: no limits in the URDF; commanded within [{lo:g}, {hi:g}]")

    # -- the tree: tips, legs, wheels, hands -------------------------------------------------------
    poses = model.fk(q_zero)
    tips = _tips(model, poses)
    root_pos = poses[model.root][:3, 3]
    wheels = [j for j in actuated if j.type == "continuous" and (
        has_word([j.name, j.child], WHEEL_WORDS)
        or (model.links[j.child].collisions and all(g.kind in ("cylinder", "sphere") for g in model.links[j.child].collisions)
            and not model.child_joints[j.child] and not has_word([j.name, j.child], LEG_WORDS + FINGER_WORDS)))]
    wheel_links = {j.child for j in wheels}
    leg_tips = [t for t in tips if has_word(t.names[:6], LEG_WORDS) and not has_word(t.names[:2], WHEEL_WORDS)
                and t.link not in wheel_links and not has_word(t.names[:4], FINGER_WORDS)]
    # Legs: group tips that share a corner (minitaur's two motors per leg, a foot with toes).
    leg_groups: dict[Any, list[_Tip]] = {}
    trunk = _trunk(model)
    for t in leg_tips:
        limb = next((j.child for j in t.chain if j.parent in trunk and j.movable), t.link)
        key = (front_of(t.names), side_of(t.names))
        key = key if None not in key else limb
        leg_groups.setdefault(key, []).append(t)
    # Within a leg, the tip that ends the most joints is the foot (not a shoulder cover bolted to the hip).
    for key, group in leg_groups.items():
        group.sort(key=lambda t: (-sum(j.movable for j in t.chain), float(t.position @ np.array([0, 0, 1.0]))))
    n_legs = len(leg_groups)

    # Down: where the feet (or wheels) are, relative to the base. URDFs are meant to be z-up, not all are.
    down = np.array([0.0, 0.0, -1.0])
    ground_points = [g[0].position for g in leg_groups.values()]
    if len(ground_points) >= 2:
        dirs = [(p - root_pos) / np.linalg.norm(p - root_pos) for p in ground_points if np.linalg.norm(p - root_pos) > 1e-6]
        mean = np.mean(dirs, axis=0) if dirs else np.zeros(3)
        consistent = len(dirs) == len(ground_points) and all(float(d @ mean) > 0.6 * np.linalg.norm(mean) for d in dirs)
        if consistent and np.linalg.norm(mean) > 0.6 and float(mean @ np.array([0, 0, -1.0])) < 0.7 * np.linalg.norm(mean):
            down = _snap(mean / np.linalg.norm(mean))

    # Kind.
    if kind is None:
        if n_legs >= 4:
            kind, why = "quadruped", f"{n_legs} legs ({', '.join(sorted(t.link for g in leg_groups.values() for t in g[:1]))})"
        elif n_legs in (2, 3) and len(wheels) < 2:
            kind, why = "humanoid", f"{n_legs} legs ({', '.join(sorted(t.link for g in leg_groups.values() for t in g[:1]))})"
        elif len(wheels) >= 2:
            kind, why = "mobile", f"{len(wheels)} wheel joint(s): {', '.join(j.name for j in wheels)}"
        else:
            kind, why = None, ""
        if kind is None:
            fingers = {j.name for j in model.topological_joints if _is_finger_joint(model, j)}
            below_finger = set()
            for j in model.topological_joints:  # parents first
                if j.name in fingers or (j.parent in model.parent_joint and model.parent_joint[j.parent].name in below_finger):
                    below_finger.add(j.name)
            finger_tips = [t for t in tips if any(j.name in fingers for j in t.chain)]
            arm_dofs = [j for j in actuated if j.name not in below_finger]
            if finger_tips and len(arm_dofs) < 3:
                kind, why = "hand", f"finger joints ({', '.join(t.link for t in finger_tips)}) and no arm"
            else:
                kind, why = "arm", "a fixed chain of joints with no legs or wheels"
        guess("kind", f"{kind}: {why}")
    elif kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    else:
        guess("kind", f"{kind}: given on the command line")

    # Base: fixed for arms and hands and for URDFs pinned to a 'world' link.
    if fixed_base is None:
        pinned = model.root.lower() in ("world", "world_link", "map") and model.links[model.root].mass == 0
        fixed_base = pinned or kind in ("arm", "hand")
        guess("fixed_base", f"{'fixed' if fixed_base else 'floating'}: "
              + ("the URDF's root link is 'world'" if pinned else f"{kind}s are usually "
                 + ("bolted down" if fixed_base else "free to move")))
    else:
        guess("fixed_base", f"{'fixed' if fixed_base else 'floating'}: given on the command line")

    # Orientation: rotate a y-up (or otherwise tilted) model so its feet point down.
    orientation = np.array([0.0, 0.0, 0.0, 1.0])
    world_r = np.eye(3)
    if not np.allclose(down, [0, 0, -1]) and not fixed_base:
        fronts = [t.position for g in leg_groups.values() for t in g if front_of(t.names) == "front"]
        backs = [t.position for g in leg_groups.values() for t in g if front_of(t.names) == "back"]
        if fronts and backs:
            fwd = np.mean(fronts, axis=0) - np.mean(backs, axis=0)
            fwd = _snap(fwd - down * float(fwd @ down))
            if np.linalg.norm(fwd - down * float(fwd @ down)) > 1e-6:
                orientation = np.array(_quat_from_axes(fwd, -down))
        if orientation[3] == 1.0 and not orientation[:3].any():
            r = _min_rotation(down, np.array([0, 0, -1.0]))
            orientation = np.array(matrix_to_quat(r))
        world_r = _quat_matrix(orientation)
        guess("base_orientation", f"the feet point along {np.round(down, 3).tolist()} in the URDF's frame (not -z): "
              f"the base is turned by quaternion {np.round(orientation, 4).tolist()} so they point down")
    base_t = np.eye(4)
    base_t[:3, :3] = world_r

    def world(p):
        return world_r @ (np.asarray(p) - root_pos)

    # -- hands and grippers ------------------------------------------------------------------------
    leg_links = {t.link for g in leg_groups.values() for t in g}
    hands: list[dict[str, Any]] = []
    seen_hands = set()
    for t in tips:
        if t.link in leg_links or t.link in wheel_links or has_word(t.names[:2], WHEEL_WORDS):
            continue
        hand_link, gripper_joints = _hand_of(model, t, trunk, poses), []
        if hand_link != t.link:
            gripper_joints = [j.name for j in model.topological_joints
                              if j.parent in model.subtree(hand_link) and j.name in actuated_names and j.type != "spherical"]
        if hand_link in seen_hands:
            continue
        seen_hands.add(hand_link)
        names = []
        for j in reversed(model.chain(hand_link)):
            names += [j.child, j.name]
        arm = _arm_joints(model, hand_link, actuated_names)
        hands.append({"link": hand_link, "tip": t, "names": names or [hand_link], "arm": arm, "gripper": gripper_joints,
                      "spherical": any(j.type == "spherical" for j in model.chain(hand_link))})
    # Head and sensor tips are not hands.
    hands = [h for h in hands if not (has_word(h["names"][:4], HEAD_WORDS) and not h["gripper"])]

    q_home = dict(q_zero)
    grippers: dict[str, dict[str, Any]] = {}
    end_effectors: dict[str, dict[str, Any]] = {}
    hand_info: dict[str, dict[str, Any]] = {}

    # Which hands are usable: the arm moves the hand in 3-D (position Jacobian of rank 3).
    usable = []
    for h in hands:
        if h["link"] == model.root:
            guess("end_effectors", f"{h['link']}: the base link cannot be an end-effector in the runtime "
                  "(PyBullet keeps no link state for the base); add a fixed child link as the hand to use it")
            continue
        chain = Chain(model, h["link"], [a for a in h["arm"] if model.joints[a].type != "spherical"], base_t)
        rank = _generic_rank(chain, q_home, limits)
        if h["spherical"]:
            rank = 3  # ball joints move it in 3-D
        if rank >= 3 or (kind == "hand" and h["gripper"]):
            usable.append(h)
        else:
            guess("end_effectors", f"{h['link']}: not a hand: its {len(chain.dofs)} joint(s) move it in {rank} dimension(s) only")
    if kind in ("quadruped",) and usable:
        usable = [h for h in usable if has_word(h["names"], ARM_WORDS + FINGER_WORDS + HAND_WORDS)]
    usable.sort(key=lambda h: (-len(h["arm"]), h["link"]))
    # Sides: names first, then which side of the body the hand is on (+y is left in a z-up, x-forward frame).
    assigned: dict[str, dict[str, Any]] = {}
    for h in usable[:2]:
        side = side_of(h["names"])
        if side is None and len(usable) >= 2:
            side = "left" if world(poses[h["link"]][:3, 3])[1] > 0 else "right"
        slot = f"{side or 'right'}_hand"
        if slot in assigned:
            slot = "left_hand" if slot == "right_hand" else "right_hand"
        assigned[slot] = h
    assigned = {slot: assigned[slot] for slot in ("right_hand", "left_hand") if slot in assigned}
    for slot, h in assigned.items():
        info = {"link": h["link"]}
        if h["arm"]:
            info["ik_joints"] = h["arm"]
        hand_info[slot] = h
        end_effectors[slot] = info
        guess(f"end_effectors.{slot}", f"link {h['link']!r}: "
              + (f"where the finger joints branch ({', '.join(h['gripper'])})" if h["gripper"] else "the tip of the chain")
              + (f", moved by {len(h['arm'])} joint(s)" if h["arm"] else "")
              + (f"; side from {'names' if side_of(h['names']) else 'position'}" if len(assigned) > 1 else ""))
    for extra in usable[2:]:
        guess("end_effectors", f"{extra['link']}: a third hand-like tip; only right_hand and left_hand are canonical")

    for slot, h in hand_info.items():
        if not h["gripper"]:
            continue
        g = _gripper(model, h, q_home, limits, mimic, actuated_names)
        if not g["joints"]:
            continue
        grippers[slot] = {"joints": g["joints"], "open": g["open"], "closed": g["closed"]}
        for jn, value in zip(g["joints"], g["open"]):
            q_home[jn] = value
        if g["offset"] is not None:
            end_effectors[slot]["offset"] = [round(float(v), 4) + 0.0 for v in g["offset"]]
            guess(f"end_effectors.{slot}", f"offset {end_effectors[slot]['offset']}: the tool centre, between the fingertips "
                  f"({', '.join(g['tips'])}) when open")
        guess(f"grippers.{slot}", g["why"])

    # -- feet ----------------------------------------------------------------------------------------
    feet: dict[str, str] = {}
    if leg_groups:
        groups = sorted(leg_groups.values(), key=lambda g: g[0].link)
        feet_tips = [g[0] for g in groups]
        if kind == "quadruped":
            fronts = [t for t in feet_tips if front_of(t.names) == "front"] or \
                     sorted(feet_tips, key=lambda t: -float(world(t.position)[0]))[:2]
            candidates, label = fronts, "front feet (only two feet are canonical)"
        else:
            candidates, label = feet_tips, "leg tips"
        sides = {t.link: side_of(t.names) or ("left" if world(t.position)[1] > 0 else "right") for t in candidates[:2]}
        for t in sorted(candidates[:2], key=lambda t: sides[t.link] != "right"):
            side = sides[t.link]
            slot = f"{side}_foot"
            if slot in feet.values() or slot in end_effectors:
                continue
            end_effectors[slot] = {"link": t.link}
            feet[t.link] = slot
            guess(f"end_effectors.{slot}", f"link {t.link!r}: {label}")

    # -- home pose ------------------------------------------------------------------------------------
    home_note = "every joint at 0 (clipped into its limits)"
    if kind in ("quadruped", "humanoid") and leg_groups and not fixed_base:
        home_note = _standing_pose(model, leg_groups, q_home, limits, actuated_names, base_t)
    arm_slots = [s for s in end_effectors if s.endswith("_hand") and hand_info[s]["arm"] and not hand_info[s]["spherical"]]
    if arm_slots:  # arms, and the arms of humanoids and mobile manipulators
        arm_note = _ready_pose(model, [hand_info[s] for s in arm_slots], [end_effectors[s] for s in arm_slots],
                               q_home, limits, base_t)
        home_note = arm_note if home_note.startswith("every joint at 0") else f"{home_note}; {arm_note}"
    home = {}
    for j in actuated:
        if j.type == "spherical":
            continue
        value = float(np.clip(round(float(q_home.get(j.name, 0.0)), 4), *limits[j.name]))  # rounding stays inside
        if abs(value) > 1e-12:
            home[j.name] = value
    guess("home", home_note)

    # -- gains ---------------------------------------------------------------------------------------
    total_mass = sum(_pb_mass(model, l) for l in model.links if l != model.root or not fixed_base)
    gains_by_joint: dict[str, tuple[float, float, float]] = {}
    leg_joint_names = {j.name for g in leg_groups.values() for t in g for j in t.chain}
    missing_effort, low_effort = [], []
    all_poses = model.fk(q_home)
    for j in [*actuated, *(model.joints[f] for f in mimic)]:
        load = _gravity_load(model, j, all_poses)
        if j.name in leg_joint_names and not fixed_base and n_legs:
            load = max(load, total_mass * GRAVITY / n_legs * _lever(model, j, all_poses))
        if j.effort and j.effort > 0:
            force = float(j.effort)
            if force < load:
                low_effort.append(f"{j.name} ({force:g} < ~{load:.3g})")
        else:
            force = max(1.0, EFFORT_MARGIN * load)
            missing_effort.append(j.name)
        kp = LEG_KP if j.name in leg_joint_names else ARM_KP
        gains_by_joint[j.name] = (kp, DEFAULT_KD, float(f"{force:.4g}"))
    gains = []
    for values in sorted(set(gains_by_joint.values()), key=lambda v: (-v[2], v[0])):
        names = [n for n, v in gains_by_joint.items() if v == values]
        gains.append({"joints": [_glob_escape(n) for n in names], "kp": values[0], "kd": values[1], "max_force": values[2]})
    guess("gains", "max_force from the URDF's <limit effort>" + (
        f"; no effort given for {', '.join(missing_effort)}: {EFFORT_MARGIN:g}x the gravity load they carry" if missing_effort else "")
        + f"; kp {ARM_KP}" + (f" ({LEG_KP} for legs)" if leg_joint_names & set(gains_by_joint) else "") + f", kd {DEFAULT_KD}")
    if low_effort:
        guess("gains", "effort limits below the estimated gravity load (the hold check will tell): " + ", ".join(low_effort))

    # -- friction --------------------------------------------------------------------------------
    friction = []
    fingertip_links = sorted({t for slot in grippers for t in _fingertips(model, hand_info[slot]["link"])})
    if fingertip_links:
        friction.append({"links": fingertip_links, "lateral": 1.5, "spinning": 0.01})
        guess("friction", f"fingertips {', '.join(fingertip_links)}: lateral 1.5, spinning 0.01 so grasps hold")
    foot_links = sorted({g[0].link for g in leg_groups.values()})
    if foot_links and not fixed_base:
        friction.append({"links": foot_links, "lateral": 1.0})
        guess("friction", f"feet {', '.join(foot_links)}: lateral 1.0 so standing does not slip")

    # -- the spec, base height ----------------------------------------------------------------------
    spec: dict[str, Any] = {
        "name": name or spec_name(model),
        "description": f"Inferred by 'flywheel robots add' from {model.path.name}; every guess is commented, edit and run 'flywheel robots check'.",
        "model": str(model.path),
        "kind": kind,
        "fixed_base": bool(fixed_base),
        "joints": actuated_names,
    }
    if not inertia_from_file:
        spec["inertia_from_file"] = False
        guess("inertia_from_file", "false: PyBullet computes each link's inertia from its collision shapes (asked on the command line)")
    if not np.allclose(orientation, [0, 0, 0, 1]):
        spec["base_orientation"] = [round(float(v), 6) for v in orientation]
    moving = {l for j in model.joints.values() if j.movable for l in model.subtree(j.child)}
    if compute_base_height:
        lows, how = link_lows(model, spec.get("base_orientation", (0, 0, 0, 1)), q_home, mimic, inertia_from_file)
    else:
        lows, how = _link_lows_geometry(model, q_home, base_t), "from the primitive collision shapes in the home pose"
    low_all = min(lows.values(), default=0.0)
    low_moving = min((z for l, z in lows.items() if l in moving), default=0.0)
    # a hand must be able to go down to the reach task's lowest targets without its links hitting the floor
    hand_room = min((z for slot, h in hand_info.items() for l, z in lows.items() if l in model.subtree(h["link"])),
                    default=float("inf")) - REACH_BOX[2] - 0.01
    if not fixed_base:
        height = -low_all + 0.001
        spec["base_height"] = round(height, 4)
        guess("base_height", f"{height:.3f} m: the lowest point of the robot ({how}) touches the floor")
        if kind == "humanoid" and height > 2.2:
            guess("scale", f"the base stands {height:.2f} m high, tall for a humanoid: if the model is drawn at another "
                  "scale, add scale = <factor> to the spec (and run 'flywheel robots add' again to re-infer heights)")
    elif low_moving < -1e-4 or hand_room < 0:
        lift = round(max(-low_moving + 0.002, -hand_room), 4)
        spec["base_position"] = [0.0, 0.0, lift]
        why = (f"moving links reach {low_moving:.3f} m, under the floor" if low_moving < -1e-4 else
               f"the hand's links would hit the floor {REACH_BOX[2]:g} m below its home position")
        guess("base_position", f"raised {lift:.3f} m: in the home pose {why} ({how})")
    spec["home"] = home
    if end_effectors:
        spec["end_effectors"] = end_effectors
    if grippers:
        spec["grippers"] = grippers
    if mimic:
        spec["mimic"] = mimic
        guess("mimic", "from the URDF's <mimic> tags (PyBullet ignores them; the runtime drives followers)")
    spec["gains"] = gains
    if friction:
        spec["friction"] = friction
    if not end_effectors:
        guess("end_effectors", "none found: tasks that need a hand (reach, pick_place) will not accept this robot")
    guess("self_collision", "self-collision stays off (PyBullet's default), so adjacent links never collide")
    return Inference(model, spec, guesses)


# ---- pieces ------------------------------------------------------------------------------------------
def _trunk(model: URDFModel) -> set[str]:
    """The root and the links bolted to it."""
    out, stack = set(), [model.root]
    while stack:
        link = stack.pop()
        out.add(link)
        stack.extend(j.child for j in model.child_joints[link] if not j.movable)
    return out


def _is_finger_joint(model: URDFModel, j: Joint) -> bool:
    if not j.movable:
        return False
    names = [j.name, j.child]
    if has_word(names, FINGER_WORDS):
        return True
    if has_word(names, GRIPPER_WORDS):
        siblings = [c for c in model.child_joints[j.parent] if _has_movable(model, c)]
        return len(siblings) >= 2 or side_of(names) is not None or j.type == "prismatic"
    return False


def _hand_of(model: URDFModel, tip: _Tip, trunk: set[str], poses) -> str:
    """The hand a tip belongs to: where the first finger joint hangs, else a small branching, else the tip."""
    for j in tip.chain:
        if _is_finger_joint(model, j):
            return j.parent
    link = tip.link
    while link in model.parent_joint and link not in trunk:
        parent = model.parent_joint[link].parent
        branches = [c for c in model.child_joints[parent] if _has_movable(model, c)]
        if len(branches) >= 2:
            if parent not in trunk and _subtree_extent(model, parent, poses) < 0.25:
                return parent
            break
        link = parent
    return tip.link


def _arm_joints(model: URDFModel, hand_link: str, actuated_names) -> list[str]:
    """Actuated joints from the hand up to where the limb leaves the body (a link where movable branches split)."""
    out = []
    for j in reversed(model.chain(hand_link)):
        if j.name in actuated_names:
            out.insert(0, j.name)
        branches = [c for c in model.child_joints[j.parent] if _has_movable(model, c)]
        if len(branches) >= 2 and out:
            break
    return out


def _generic_rank(chain: "Chain", q_home, limits) -> int:
    """The rank of the hand's position Jacobian away from singular poses (an arm at zero can be straight)."""
    if not chain.dofs:
        return 0
    rng = np.random.default_rng(1)
    best = 0
    for k in range(6):
        q = dict(q_home)
        if k:
            for d in chain.dofs:
                lo, hi = limits[d]
                q[d] = float(rng.uniform(max(lo, -math.pi), min(hi, math.pi)))
        _, tip, frames = chain.fk(q)
        best = max(best, int(np.linalg.matrix_rank(chain.jacobian(tip, frames)[:3], tol=1e-6)))
        if best >= 3:
            break
    return best


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _fingertips(model: URDFModel, hand_link: str) -> list[str]:
    inside = set(model.subtree(hand_link))
    leaves = [l for l in inside if not model.child_joints[l] and l != hand_link
              and any(j.movable for j in model.chain(l) if j.child in inside)]
    named = [l for l in leaves if has_word(l, ("finger", "tip", "pad", "jaw", "claw"))]
    tips = named or leaves
    # a fixed "tip" frame is the fingertip of its parent: keep the link with geometry if the leaf has none
    out = []
    for l in tips:
        link = l
        while not model.links[link].collisions and link in model.parent_joint and not model.parent_joint[link].movable:
            link = model.parent_joint[link].parent
        out.append(link)
    return sorted(set(out))


def _point(model: URDFModel, link: str, poses) -> np.ndarray:
    pose = poses[link]
    return pose[:3, :3] @ model.links[link].com + pose[:3, 3]


def _gripper(model, h, q_home, limits, mimic, actuated_names) -> dict[str, Any]:
    hand = h["link"]
    tips = _fingertips(model, hand)
    leaders = [j for j in h["gripper"] if j in actuated_names]

    def spread(q):
        poses = model.fk(q)
        pts = [_point(model, t, poses) for t in tips]
        if len(pts) < 2:
            pts.append(poses[hand][:3, 3])
        return sum(float(np.linalg.norm(a - b)) for i, a in enumerate(pts) for b in pts[i + 1:])

    opens, closes, undecided = [], [], []
    for jn in leaders:
        lo, hi = limits[jn]
        q_lo, q_hi = dict(q_home), dict(q_home)
        q_lo[jn], q_hi[jn] = lo, hi
        s_lo, s_hi = spread(q_lo), spread(q_hi)
        if abs(s_hi - s_lo) < 1e-6:
            undecided.append(jn)
            opens.append(hi)
            closes.append(lo)
        elif s_hi > s_lo:
            opens.append(hi)
            closes.append(lo)
        else:
            opens.append(lo)
            closes.append(hi)
    q_open = dict(q_home)
    q_open.update(zip(leaders, opens))
    poses = model.fk(q_open)
    offset = None
    if tips:
        centre = np.mean([_point(model, t, poses) for t in tips], axis=0)
        hand_pose = poses[hand]
        offset = hand_pose[:3, :3].T @ (centre - hand_pose[:3, 3])
    why = (f"{', '.join(leaders)}: open = the limit that spreads the fingertips ({', '.join(tips) or 'none'}) apart, "
           f"closed = the other")
    if undecided:
        why += f"; could not tell for {', '.join(undecided)} (assumed upper = open)"
    followers = [f for f, m in mimic.items() if m["joint"] in leaders]
    if followers:
        why += f"; {', '.join(followers)} follow through [mimic]"
    return {"joints": leaders, "open": [round(float(v), 4) for v in opens], "closed": [round(float(v), 4) for v in closes],
            "offset": offset, "tips": tips, "why": why}


def _gravity_load(model: URDFModel, joint: Joint, poses) -> float:
    """Worst-case static torque (N m) or force (N) at a joint from the links below it."""
    below = model.subtree(joint.child)
    masses = np.array([_pb_mass(model, l) for l in below])
    if joint.type == "prismatic":
        return GRAVITY * float(masses.sum())
    origin = (poses[joint.parent] @ joint.origin)[:3, 3]
    points = np.array([_point(model, l, poses) for l in below])
    return GRAVITY * float(masses @ np.linalg.norm(points - origin, axis=1))


def _pb_mass(model: URDFModel, link: str) -> float:
    """The mass PyBullet simulates: a link without <inertial> gets 1 kg."""
    return 1.0 if model.links[link].inertial is None else model.links[link].mass


def _lever(model: URDFModel, joint: Joint, poses) -> float:
    if joint.type == "prismatic":
        return 1.0
    origin = (poses[joint.parent] @ joint.origin)[:3, 3]
    tips = [l for l in model.subtree(joint.child) if not model.child_joints[l]]
    return max([0.05] + [0.5 * float(np.linalg.norm(poses[l][:3, 3] - origin)) for l in tips])


def _standing_pose(model, leg_groups, q_home, limits, actuated_names, base_t) -> str:
    """Each foot straight under its hip with the knee a little bent, found by IK on each leg."""
    rng = np.random.default_rng(2)
    done = []
    for group in leg_groups.values():
        tip = group[0]
        dofs = [j.name for j in tip.chain if j.name in actuated_names and j.type != "spherical"]
        if not dofs:
            continue
        chain = Chain(model, tip.link, dofs, base_t)
        first = next(j for j in tip.chain if j.name in dofs)
        hip = (base_t @ model.fk(q_home)[first.parent] @ first.origin)[:3, 3]
        point = model.links[tip.link].com  # a leg without a toe link ends in its shin: aim with its middle, not the knee
        _, foot, _ = chain.fk(q_home, point)
        length = float(np.linalg.norm(foot - hip))
        if length < 1e-3:
            continue
        target = np.array([hip[0], hip[1], hip[2] - 0.9 * length])
        rot = None
        if len(dofs) >= 5:  # humanoid legs: keep the sole as it is in the zero pose
            rot = chain.fk(q_home)[0][:3, :3]
        # a straight leg is a singular pose the Jacobian cannot bend out of: start from a few bent seeds too
        best = None
        for k in range(9):
            seed = dict(q_home)
            if k:
                for d in dofs:
                    lo, hi = limits[d]
                    seed[d] = float(np.clip(q_home.get(d, 0.0) + rng.normal(0.0, 0.5), lo, hi))
            q_try, err_try = chain.ik(seed, limits, target, point, target_rot=rot, iters=60)
            moved = sum(abs(q_try[d] - q_home.get(d, 0.0)) for d in dofs)
            key = (err_try > 0.05 * length + 0.01, moved if err_try <= 0.05 * length + 0.01 else err_try)
            if best is None or key < best[0]:
                best = (key, q_try, err_try)
            if k == 0 and err_try <= 0.01:
                break
        _, q_new, err = best
        if err < 0.05 * length + 0.01:
            q_home.update({d: q_new[d] for d in dofs})
            done.append(tip.link)
    if not done:
        return "every joint at 0 (clipped into its limits): no leg could be posed by IK"
    return (f"standing: each foot ({', '.join(done)}) under its hip at 90% of the leg's length, by IK from the zero pose; "
            "check the knees bend the right way")


def _ready_pose(model, hands, ee_infos, q_home, limits, base_t) -> str:
    """Search the arm's joint space for a pose from which the reach task's targets are reachable."""
    rng = np.random.default_rng(0)
    notes = []
    for h, ee in zip(hands, ee_infos):
        dofs = [a for a in h["arm"] if model.joints[a].type != "spherical"]
        point = np.asarray(ee.get("offset", (0.0, 0.0, 0.0)))
        chain = Chain(model, h["link"], dofs, base_t)
        if not chain.dofs:
            continue
        if len(chain.dofs) > MAX_SEARCH_DOFS:
            notes.append(f"{h['link']}: {len(chain.dofs)} joints is too many to search a ready pose; zero pose kept")
            continue
        lo = np.array([max(limits[d][0], -math.pi) for d in chain.dofs])
        hi = np.array([min(limits[d][1], math.pi) for d in chain.dofs])
        mid, half = (lo + hi) / 2, (hi - lo) / 2
        base_q = dict(q_home)
        reach = _chain_length(chain, base_q, point)

        def build(vec):
            q = dict(base_q)
            q.update({d: float(v) for d, v in zip(chain.dofs, vec)})
            return q

        def score(q):
            t, tip, frames = chain.fk(q, point)
            jac = chain.jacobian(tip, frames)[:3]
            manip = math.sqrt(max(0.0, float(np.linalg.det(jac @ jac.T)))) / max(reach, 1e-3) ** 3
            horiz = float(np.linalg.norm(tip[:2]))
            low = min(float(f[1][2]) for f in frames) if frames else 0.0
            s = manip
            s -= 2.0 * max(0.0, 0.25 - tip[2])  # above the floor, room for targets below
            s -= 1.0 * max(0.0, 0.25 * reach - horiz)  # not over the base
            s -= 2.0 * max(0.0, -low)  # no joint under the floor
            vec = np.array([q[d] for d in chain.dofs])
            margin = np.min(1 - np.abs(vec - mid) / np.maximum(half, 1e-6)) if len(vec) else 1
            s += 0.2 * margin
            s -= 0.15 * float(np.mean(np.abs(vec - zero)))  # prefer small excursions from the drawn pose
            s += 0.3 * float(tip[0]) / max(horiz, 1e-6)  # in front of the robot (+x), as tasks expect
            if h["gripper"] and np.linalg.norm(point) > 1e-6:
                approach = t[:3, :3] @ (point / np.linalg.norm(point))
                s += 0.3 * float(-approach[2])  # fingers pointing down suit pick and place
            return s, tip

        zero = np.clip(np.array([base_q.get(d, 0.0) for d in chain.dofs]), lo, hi)
        candidates = [zero]
        candidates += [np.clip(zero + rng.normal(0.0, 0.8, len(lo)), lo, hi) for _ in range(160)]
        candidates += [mid + half * rng.uniform(-0.7, 0.7, len(lo)) for _ in range(40)]
        scored = sorted(((score(build(c))[0], i) for i, c in enumerate(candidates)), reverse=True)
        best, best_key = None, None
        offsets = [np.array(v) * REACH_BOX for v in
                   [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1),
                    (1, 1, 1), (-1, -1, -1), (1, -1, -1), (-1, 1, 1)]]
        for s, i in scored[:6] + [(score(build(candidates[0]))[0], 0)]:
            q = build(candidates[i])
            _, centre, _ = chain.fk(q, point)
            reached = 0
            for off in offsets:
                target = centre + off
                target[2] = max(target[2], 0.05)
                _, err = chain.ik(q, limits, target, point, iters=40, tol=0.01)
                reached += err < 0.015
            key = (reached, s)
            if best_key is None or key > best_key:
                best, best_key = q, key
        q_home.update({d: best[d] for d in chain.dofs})
        notes.append(f"{h['link']}: ready pose chosen from {len(candidates)} candidates; "
                     f"{best_key[0]}/{len(offsets)} test targets around it (±{REACH_BOX.tolist()} m) reachable by IK")
    return "arm ready pose: " + "; ".join(notes) if notes else "every joint at 0 (clipped into its limits)"


def _chain_length(chain: Chain, q, point) -> float:
    _, tip, frames = chain.fk(q, point)
    pts = [f[1] for f in frames] + [tip]
    return float(sum(np.linalg.norm(b - a) for a, b in zip(pts, pts[1:]))) or 0.1


def _link_lows_geometry(model: URDFModel, q_home, base_t) -> dict[str, float]:
    poses = model.fk(q_home, base=base_t)
    out = {}
    for name, link in model.links.items():
        pose = poses[name]
        for g in link.collisions:
            z = float((g.local_points() @ pose[:3, :3].T + pose[:3, 3])[:, 2].min())
            out[name] = min(out.get(name, z), z)
    return out


CollisionLows = Callable[..., dict[str, float]]
_collision_lows: CollisionLows | None = None


def use_collision_lows(fn: CollisionLows | None) -> None:
    """Hand `infer_spec` the simulator's collision bounds (`flywheel.sim.collision_bounds.link_lows`): `robots` knows no
    simulator (the layer rule), so whoever composes the layers passes it in; without it the primitive shapes are used."""
    global _collision_lows
    _collision_lows = fn


def link_lows(model: URDFModel, orientation, q_home, mimic, inertia_from_file: bool = True) -> tuple[dict[str, float], str]:
    """Lowest collision point of every link (meshes included when a simulator is wired in), base at the origin."""
    if _collision_lows is not None:
        try:
            return _collision_lows(model, orientation, q_home, mimic, inertia_from_file), \
                "PyBullet's collision bounds in the home pose"
        except ValueError:
            how = "primitive shapes (PyBullet could not load the model)"
    else:
        how = "primitive shapes (no simulator wired in)"
    base_t = np.eye(4)
    base_t[:3, :3] = np.array([_quat_matrix(orientation)]).reshape(3, 3)
    return _link_lows_geometry(model, q_home, base_t), how


def _quat_matrix(q) -> np.ndarray:
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])

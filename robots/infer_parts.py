"""Pieces of the inference of `robots add`: the chain tips, the trunk, hands and fingertips, arm joints, grippers."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from flywheel.robots.kinematic_chain import Chain, _rot
from flywheel.robots.naming import FINGER_WORDS, GRIPPER_WORDS, has_word, side_of
from flywheel.robots.urdf import Joint, URDFModel, matrix_to_quat


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



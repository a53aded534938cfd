"""Hands from the kinematic tree: how many fingers a hand has, and how a multi-finger hand closes.

Two-finger grippers close by bringing their jaws together (`infer_parts._gripper`: open = the limit that spreads the
fingertips). Full-size humanoids often have three- or five-finger hands instead; those close as one *power grasp
synergy*: every finger joint moves together from its open limit to the limit that wraps the fingertips around the
grasp centre (the point between the open fingertips and the palm, where the object sits), so one command (the
gripper opening, 0..1) curls the whole hand around an object. Hands without finger joints keep the task's grasp
assist. Nothing here reads joint names: fingers are the branches of the tree below the hand link.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from flywheel.robots.infer_parts import _point
from flywheel.robots.urdf import URDFModel

MULTI_FINGER = 3  # a hand with this many fingers or more closes as a power grasp


def finger_roots(model: URDFModel, hand_link: str, joints: list[str]) -> list[str]:
    """The first finger joint of each finger: the gripper joints with no gripper joint above them below the hand."""
    chosen = set(joints)
    roots = set()
    for name in joints:
        root, link = name, model.joints[name].parent
        while link != hand_link and link in model.parent_joint:
            up = model.parent_joint[link]
            if up.name in chosen:
                root = up.name
            link = up.parent
        roots.add(root)
    return sorted(roots)


def power_grasp(model: URDFModel, hand_link: str, gripper: dict[str, Any], q_home: dict[str, float],
                limits: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """`gripper` (as `_gripper` infers it) turned into a power-grasp synergy when the hand has three fingers or more;
    returned unchanged otherwise."""
    joints, tips = gripper["joints"], gripper["tips"]
    fingers = finger_roots(model, hand_link, joints)
    if len(fingers) < MULTI_FINGER or len(tips) < MULTI_FINGER:
        return gripper
    q_open = dict(q_home)
    q_open.update(zip(joints, gripper["open"]))
    poses = model.fk(q_open)
    centre = (np.mean([_point(model, t, poses) for t in tips], axis=0) + poses[hand_link][:3, 3]) / 2

    def wrap(q) -> float:
        p = model.fk(q)
        return sum(float(np.linalg.norm(_point(model, t, p) - centre)) for t in tips)

    opens, closes = [], []
    for name in joints:
        lo, hi = limits[name]
        q_lo, q_hi = dict(q_open), dict(q_open)
        q_lo[name], q_hi[name] = lo, hi
        closed_value = lo if wrap(q_lo) < wrap(q_hi) else hi
        opens.append(hi if closed_value == lo else lo)
        closes.append(closed_value)
    why = (f"a {len(fingers)}-finger hand (fingers from {', '.join(fingers)}): closes as a power grasp synergy, every "
           f"finger joint from the limit that opens the hand to the one that wraps the fingertips ({', '.join(tips)}) "
           "around the grasp centre; one opening command drives them all")
    q_open.update(zip(joints, opens))
    poses = model.fk(q_open)
    hand = poses[hand_link]
    tool = np.mean([_point(model, t, poses) for t in tips], axis=0)  # the tool centre: between the open fingertips
    return dict(gripper, open=[round(float(v), 4) for v in opens], closed=[round(float(v), 4) for v in closes], why=why,
                offset=hand[:3, :3].T @ (tool - hand[:3, 3]), fingers=len(fingers))

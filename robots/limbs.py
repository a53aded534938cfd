"""Limbs from the kinematic tree first, names second: which chains of a URDF are legs, and which link is each foot.

Real URDFs name their links every way there is (``Link_hip_l_pitch``, ``LHipYaw``, ``leg_left_1_link``,
``RIGHT_HIP_X``) and hang sensor frames, cameras and force-sensor pads off their feet. So a leg is found by what
it does in the tree: a limb (a chain that leaves the body where the big branches split) with at least two movable
joints that goes down from where it is attached to the lowest points of the robot. Names only support that
reading: a limb whose names say leg/hip/knee/ankle/foot is a leg even when the URDF is not drawn z-up, and a limb
whose names say arm/shoulder/hand/finger is never one (arms that hang down in the zero pose are still arms).

The foot of a leg is its last moving body: a ``sole``/``foot`` frame bolted to it when there is one, else the
link itself, never an IMU, camera or force-sensor frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from flywheel.robots.naming import (ARM_WORDS, BODY_WORDS, FINGER_WORDS, FOOT_WORDS, HAND_WORDS, LEG_WORDS, SENSOR_WORDS,
                                    WHEEL_WORDS, front_of, has_word, side_of)
from flywheel.robots.urdf import URDFModel

BODY_FRACTION = 0.3  # a branching link whose subtree spans this share of the robot is the body, not a hand
LOW_FRACTION = 0.15  # a foot is within this share of the robot's height from its lowest point
DROP_FRACTION = 0.2  # and at least this share of the height below where its limb is attached


@dataclass
class Limb:
    """One chain leaving the body: its first joint, the leaves below it and what the tree says about it."""
    attach: str  # the body link it hangs from
    first_joint: str  # the joint that starts it
    leaves: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # every link and joint name in it, top first
    lowest: float = 0.0  # lowest z of its link frames in the zero pose (URDF frame)
    drop: float = 0.0  # how far that is below the attachment point
    movable: int = 0  # movable joints from the body to its deepest leaf


def robot_extent(model: URDFModel, poses) -> np.ndarray:
    """The zero pose's bounding-box size over link frames (3 values); collision shapes are left out, since a
    ground plate or a big placeholder box would hide the proportions of the limbs."""
    pts = np.array([pose[:3, 3] for pose in poses.values()])
    return pts.max(axis=0) - pts.min(axis=0)


def _subtree_span(model: URDFModel, link: str, poses) -> float:
    pts = np.array([poses[name][:3, 3] for name in model.subtree(link)])
    return float(np.linalg.norm(pts.max(axis=0) - pts.min(axis=0)))


def _movable_branches(model: URDFModel, link: str) -> int:
    return sum(1 for j in model.child_joints[link] if any(k.movable for k in _joints_below(model, j.child)) or j.movable)


def _joints_below(model: URDFModel, link: str):
    stack = list(model.child_joints[link])
    while stack:
        j = stack.pop()
        yield j
        stack.extend(model.child_joints[j.child])


def find_limbs(model: URDFModel, poses) -> list[Limb]:
    """Split the tree at the body: links that are the root, bolted to it, or branch into big subtrees."""
    size = float(np.linalg.norm(robot_extent(model, poses))) or 1.0
    # names support the tree: a branching pelvis, torso or waist is the body however small the robot draws it
    big = [link for link in model.links if _movable_branches(model, link) >= 2
           and (_subtree_span(model, link, poses) >= BODY_FRACTION * size or has_word(link, BODY_WORDS))]
    body = {model.root}
    for link in big:  # a waist or torso that arms and head branch from, and everything between it and the root
        body.add(link)
        body.update(model.ancestors(link))
    for j in model.topological_joints:  # parents first: what is bolted to the body is the body
        if j.parent in body and not j.movable:
            body.add(j.child)
    limbs: dict[str, Limb] = {}
    for leaf in model.leaves():
        chain = model.chain(leaf)
        if not any(j.movable for j in chain):
            continue
        start = next((j for j in chain if j.parent in body and j.child not in body), None)
        if start is None:
            continue
        limb = limbs.setdefault(start.name, Limb(start.parent, start.name))
        limb.leaves.append(leaf)
    for limb in limbs.values():
        top = model.joints[limb.first_joint]
        links = model.subtree(top.child)
        limb.names = [top.name, top.child] + [n for j in _joints_below(model, top.child) for n in (j.name, j.child)]
        limb.lowest = min(float(poses[n][2, 3]) for n in links)
        limb.drop = float(poses[limb.attach][2, 3]) - limb.lowest
        limb.movable = max(sum(j.movable for j in model.chain(leaf)) for leaf in limb.leaves)
    return list(limbs.values())


def is_armlike(names: list[str]) -> bool:
    """Names that say arm (shoulder, elbow, hand, finger) and nothing that says leg."""
    return has_word(names, ARM_WORDS + FINGER_WORDS + HAND_WORDS) and not has_word(names, LEG_WORDS)


def leg_limbs(model: URDFModel, poses, wheel_links: set[str], floating: bool) -> tuple[list[Limb], str]:
    """The limbs that are legs, and how they were found (for the spec's comment)."""
    limbs = find_limbs(model, poses)
    if not limbs:
        return [], ""
    height = float(robot_extent(model, poses)[2])
    lowest = min(float(p[2, 3]) for p in poses.values())

    def joints_besides_wheels(limb: Limb) -> int:
        """A leg may end in a wheel (centauro); a chain that is only a wheel or a caster is not a leg."""
        return sum(1 for n in limb.names if n in model.joints and model.joints[n].movable
                   and model.joints[n].child not in wheel_links and not has_word(n, WHEEL_WORDS))

    by_tree = [l for l in limbs if floating and height > 0 and joints_besides_wheels(l) >= 2 and not is_armlike(l.names)
               and l.lowest <= lowest + LOW_FRACTION * height and l.drop >= DROP_FRACTION * height]
    by_name = [l for l in limbs if joints_besides_wheels(l) >= 1 and has_word(l.names, LEG_WORDS)
               and not has_word(l.names[:4], FINGER_WORDS)]
    if len(by_name) >= 2 and not set(map(id, by_name)) <= set(map(id, by_tree)):
        # named legs the tree does not see as hanging down: a model not drawn z-up (laikago's y-up toes)
        return by_name, "names (leg, hip, knee, ankle, foot...); the model is not drawn z-up"
    if len(by_tree) >= 2:
        # the tree decides; names add legs the tree missed only when they reach down too (a leg lifted in the zero pose)
        extra = [l for l in by_name if l not in by_tree and l.drop >= DROP_FRACTION * height and l.movable >= 2]
        return by_tree + extra, "chains from the body down to the lowest links"
    if by_name:
        return by_name, "names (leg, hip, knee, ankle, foot...)"
    return [], ""


def foot_link(model: URDFModel, limb: Limb, poses) -> str:
    """The last moving body of the leg (a sole or foot frame bolted to it when there is one)."""
    deepest = max(limb.leaves, key=lambda leaf: (sum(j.movable for j in model.chain(leaf)), -float(poses[leaf][2, 3])))
    chain = model.chain(deepest)
    last = max(i for i, j in enumerate(chain) if j.movable)
    moving = chain[last].child
    bolted = [moving] + [j.child for j in _joints_below(model, moving) if not any(
        k.movable for k in model.chain(j.child)[last + 1:])]
    bolted = [l for l in bolted if not has_word(l, SENSOR_WORDS)] or [moving]
    named = [l for l in bolted if has_word(l, FOOT_WORDS)]
    if named:
        return min(named, key=lambda l: (not has_word(l, ("sole",)), float(poses[l][2, 3])))
    # a contact frame at the tip of a point foot, else the moving link itself
    return min(bolted, key=lambda l: (round(float(poses[l][2, 3]), 4), l != moving))


def leg_key(model: URDFModel, limb: Limb):
    """Legs split into two chains from the body (minitaur's two motors) share a corner name."""
    top = limb.names[:2]
    key = (front_of(top), side_of(top))
    return key if None not in key else limb.first_joint


def leg_groups(model: URDFModel, poses, tips: list, wheel_links: set[str], floating: bool) -> tuple[dict, str]:
    """{leg key: [the foot as a tip, then every other leaf tip of that leg]} and how the legs were found."""
    from flywheel.robots.infer_parts import _Tip

    legs, how = leg_limbs(model, poses, wheel_links, floating)
    by_link = {t.link: t for t in tips}
    groups: dict = {}
    for limb in legs:
        foot = foot_link(model, limb, poses)
        names = []
        for j in reversed(model.chain(foot)):
            names += [j.child, j.name]
        foot_tip = by_link.get(foot) or _Tip(foot, model.chain(foot), [], poses[foot][:3, 3].copy(), names or [foot])
        others = [by_link[leaf] for leaf in limb.leaves if leaf in by_link and leaf != foot]
        key = leg_key(model, limb)
        if key in groups:  # two chains of one leg: the one with more joints holds the foot
            if len(foot_tip.chain) > len(groups[key][0].chain):
                groups[key] = [foot_tip, *groups[key], *others]
            else:
                groups[key] += [foot_tip, *others]
        else:
            groups[key] = [foot_tip, *others]
    return groups, how


def one_hand_per_limb(model: URDFModel, poses, hands: list[dict]) -> list[dict]:
    """Hand candidates (dicts with link, names, arm, gripper) reduced to one per limb: an arm has one hand, however
    many fingertip, tool and sensor frames hang off it. The one with a gripper wins, then one named like a hand or
    tool, then the link all the candidates of that limb share."""
    owner = {}
    for limb in find_limbs(model, poses):
        for link in model.subtree(model.joints[limb.first_joint].child):
            owner[link] = limb.first_joint
    groups: dict = {}
    for h in hands:
        groups.setdefault(owner.get(h["link"], h["link"]), []).append(h)
    out = []
    for group in groups.values():
        if len(group) == 1:
            out.append(group[0])
            continue
        most = max(len(h["arm"]) for h in group)
        group = [h for h in group if len(h["arm"]) == most]
        best = [h for h in group if h["gripper"]] or [h for h in group if has_word(h["names"][:2], HAND_WORDS)]
        if best:
            out.append(min(best, key=lambda h: (-len(h["gripper"]), len(model.chain(h["link"])))))
            continue
        shared = _common_ancestor(model, [h["link"] for h in group])
        pick = dict(group[0])
        if shared is not None and len([j for j in model.chain(shared) if j.name in group[0]["arm"]]) == most:
            names = []
            for j in reversed(model.chain(shared)):
                names += [j.child, j.name]
            pick.update(link=shared, names=names or [shared])
        out.append(pick)
    return out


def _common_ancestor(model: URDFModel, links: list[str]) -> str | None:
    paths = [[model.root, *(j.child for j in model.chain(link))] for link in links]
    shared = None
    for step in zip(*paths):
        if len(set(step)) != 1:
            break
        shared = step[0]
    return shared

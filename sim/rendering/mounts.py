"""Robot-mounted cameras placed by rule where a robot's spec has none: a ``head`` camera on humanoids, a wrist
camera on every hand.

Why by rule: policies for real robots expect head and wrist views, and most models (a URDF just added with
``flywheel robots add``) carry no camera. A spec's own cameras always win; the rule only adds what is missing:

- a camera on every link named like one (``camera``, ``cam``; ``_optical`` frames skipped), named after the link,
  looking along the link's x axis with z up (the ROS ``camera_link`` convention);
- ``head`` (humanoids): on the link named like a head (else neck, else the base), 10 cm forward of it, looking
  forward and down at 45 degrees;
- ``<hand>_wrist`` (``wrist`` on a one-handed robot), for each hand without a camera on its end-effector link:
  6 cm back up the hand from the tool centre, looking along the hand past the tool centre.

"Forward", "up" and "along the hand" are read from the model at its home pose (the robot's canonical frame:
x forward, z up; the hand's axis from its link origin to its tool centre), then expressed in the link's frame,
so a camera rides its link whatever the model's axis conventions.
"""
from __future__ import annotations

import numpy as np
import pybullet as p

from flywheel.robots.naming import tokens
from flywheel.robots.spec import Camera, RobotSpec
from flywheel.sim import transforms as tf

SIZE = 224


def _link_pose(robot, index: int) -> tuple[np.ndarray, np.ndarray]:
    if index == -1:
        pos, orn = p.getBasePositionAndOrientation(robot.body, physicsClientId=robot.client)
    else:
        st = p.getLinkState(robot.body, index, computeForwardKinematics=1, physicsClientId=robot.client)
        pos, orn = st[4], st[5]
    return np.asarray(pos, float), np.asarray(orn, float)


def _in_link(orn: np.ndarray, world_vec: np.ndarray) -> np.ndarray:
    return tf.quat_rotate(tf.quat_conj(orn), np.asarray(world_vec, float))


def _head_link(robot) -> str:
    names = {name: idx for name, idx in robot.link_index.items()}
    for word in ("head", "neck"):
        found = [n for n in names if word in tokens(n)]
        if found:
            return min(found, key=len)
    return min(names, key=lambda n: names[n])  # the base


def _canonical_axes(robot) -> tuple[np.ndarray, np.ndarray]:
    """World directions of the robot's canonical forward (x) and up (z) at its current (home) pose."""
    _, base_orn = robot.base_pose()
    return tf.quat_rotate(base_orn, np.array([1.0, 0, 0])), tf.quat_rotate(base_orn, np.array([0, 0, 1.0]))


def head_camera(robot) -> Camera:
    link = _head_link(robot)
    _, orn = _link_pose(robot, robot.link_index[link])
    forward, up = _canonical_axes(robot)
    eye = 0.10 * forward
    target = eye + 0.5 * (forward - up) / np.sqrt(2)
    return Camera(name="head", link=link, position=tuple(_in_link(orn, eye)), target=tuple(_in_link(orn, target)),
                  up=tuple(_in_link(orn, up)), fov=70.0, width=SIZE, height=SIZE, near=0.02, far=6.0)


def wrist_camera(robot, hand: str, name: str) -> Camera:
    i = robot.ee_names.index(hand)
    index = robot.ee_links[i]
    link = next(n for n, k in robot.link_index.items() if k == index)
    pos, orn = _link_pose(robot, index)
    offset = np.asarray(robot.ee_offsets[i], float) if len(robot.ee_offsets) > i else np.zeros(3)
    forward, up = _canonical_axes(robot)
    axis_link = offset if np.linalg.norm(offset) > 1e-6 else _in_link(orn, -up)  # along the hand, else down
    axis_link = axis_link / np.linalg.norm(axis_link)
    eye = offset - 0.06 * axis_link + 0.04 * _in_link(orn, up)
    target = offset + 0.15 * axis_link
    view_up = _in_link(orn, forward)
    if abs(float(np.dot(view_up, axis_link))) > 0.95:
        view_up = _in_link(orn, up)
    return Camera(name=name, link=link, position=tuple(eye), target=tuple(target), up=tuple(view_up), fov=80.0,
                  width=SIZE, height=SIZE, near=0.01, far=3.0)


def camera_links(robot) -> list[str]:
    """Links named like cameras (``camera``/``cam`` among their words), optical frames left out."""
    return sorted(n for n in robot.link_index if {"camera", "cam"} & set(tokens(n)) and "optical" not in tokens(n))


def mounted_cameras(spec: RobotSpec, robot) -> list[Camera]:
    """The spec's cameras plus those the rule adds: one per camera-named link, then head and wrist cameras
    where the spec has none."""
    cams = list(spec.cameras)
    names = {c.name for c in cams}
    on_links = {c.link for c in cams if c.link}
    for link in camera_links(robot):
        if link in on_links or link in names:
            continue
        cams.append(Camera(name=link, link=link, position=(0.0, 0.0, 0.0), target=(1.0, 0.0, 0.0), up=(0.0, 0.0, 1.0),
                           fov=70.0, width=SIZE, height=SIZE, near=0.02, far=6.0))
        names.add(link)
        on_links.add(link)
    if spec.kind == "humanoid" and "head" not in names:
        cams.append(head_camera(robot))
    hands = [h for h in robot.hands]
    for hand in hands:
        index = robot.ee_links[robot.ee_names.index(hand)]
        link = next((n for n, k in robot.link_index.items() if k == index), None)
        if link in on_links:
            continue
        name = "wrist" if len(hands) == 1 else f"{hand.replace('_hand', '')}_wrist"
        if name in names:
            continue
        cams.append(wrist_camera(robot, hand, name))
        names.add(name)
    return cams

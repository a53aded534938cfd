"""Control modes as objects: what an action means, shared by the env, the experts and the benchmark.

A controller owns its action space and action names, turns an action into joint targets (and the commands
of virtual grippers, which the task's grasp assist serves), reports the canonical `action.ee` written to
datasets, and inverts a world-frame hand target into an action (what scripted experts and robot checks
emit). `RobotTaskEnv` picks one by its `control_mode` name from `CONTROLLERS`; `whole_body` (humanoids) is
`joint_pos` with a whole-body inverse.

The arithmetic is the env's and the experts' former code, operation for operation: datasets collected
before controllers existed replay bit for bit.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from flywheel.canonical import (
    EE_ACTION_DIM,
    EE_ACTION_FIELDS,
    EE_ACTION_WIDTH,
    EE_GRIPPER,
    HANDS,
    ee_action_offset,
    ee_obs_offset,
)
from flywheel.sim import transforms as tf

EE_DELTA_LIMITS = np.array([0.05, 0.05, 0.05, 0.25, 0.25, 0.25], dtype=np.float32)  # metres, radians per step
WAYPOINT_STEP = 0.03  # metres per control step a hand's waypoint may lead the hand (0.6 m/s at 20 Hz)

Pose = tuple[np.ndarray, np.ndarray]
HandCommands = list[tuple[str, float]]  # (fingerless hand, opening) for the task's grasp assist


class Controller(Protocol):
    """What every control mode provides (`CONTROLLERS` maps mode names to classes with this shape)."""

    name: str
    action_space: gym.spaces.Box
    action_names: list[str]
    targets_depend_on_state: bool  # False: `to_joint_targets` is a pure function of the action (replay without physics)

    def to_joint_targets(self, action: np.ndarray, previous: np.ndarray) -> np.ndarray:
        """Joint targets for a float64 action; `previous` are the targets of the last step."""

    def hand_commands(self, action: np.ndarray) -> HandCommands:
        """The virtual-gripper commands an action carries, one per fingerless hand."""

    def canonical_action(self, action: np.ndarray, before: dict | None, after: dict, q_target: np.ndarray) -> np.ndarray:
        """`action.ee` (float32, 14) of one step, from the observations around it."""

    def action_for_hand_target(self, hand: str, target_pos: np.ndarray, target_orn: np.ndarray | None,
                               gripper: float, pose: Pose | None = None) -> np.ndarray:
        """The action (float32) that moves `hand` towards a world-frame target this step."""


class _ControllerBase:
    """What both modes share: the robot, the fingerless hands the task assists, and how to read the base."""

    name = "controller"

    def __init__(self, robot: Any, virtual_grippers: Sequence[str], base_pose: Callable[[], Pose],
                 fingerless_opening: Callable[[str], float] | None = None):
        self.robot = robot
        self.virtual_grippers = list(virtual_grippers)
        self.base_pose = base_pose  # the env's: a fixed base's pose is read once per episode
        self.fingerless_opening = fingerless_opening  # the task's grasp-assist state of a hand, 1 = open


class JointPositionController(_ControllerBase):
    """`joint_pos`: absolute joint targets (clipped to the limits), then one [0, 1] command per virtual gripper."""

    name = "joint_pos"
    targets_depend_on_state = False

    def __init__(self, robot: Any, virtual_grippers: Sequence[str], base_pose: Callable[[], Pose],
                 fingerless_opening: Callable[[str], float] | None = None):
        super().__init__(robot, virtual_grippers, base_pose, fingerless_opening)
        extra = len(self.virtual_grippers)
        low = np.concatenate([robot.lower, np.zeros(extra)]).astype(np.float32)
        high = np.concatenate([robot.upper, np.ones(extra)]).astype(np.float32)
        self.action_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.action_names = list(robot.dof_names) + [f"{h}.grasp" for h in self.virtual_grippers]
        self._hold_masks: dict[str, np.ndarray] = {}

    def to_joint_targets(self, action: np.ndarray, previous: np.ndarray) -> np.ndarray:
        robot = self.robot
        return action[:robot.num_dofs].clip(robot.lower, robot.upper)

    def hand_commands(self, action: np.ndarray) -> HandCommands:
        return [(hand, float(c)) for hand, c in zip(self.virtual_grippers, action[self.robot.num_dofs:])]

    def canonical_action(self, action: np.ndarray, before: dict | None, after: dict, q_target: np.ndarray) -> np.ndarray:
        """The achieved change of each hand's pose (base frame) and its commanded gripper opening."""
        out = np.zeros(EE_ACTION_DIM, dtype=np.float32)
        if before is None:
            return out
        robot = self.robot
        for hand in robot.hands:
            o, a = ee_obs_offset(hand), ee_action_offset(hand)
            out[a:a + 3] = after["ee"][o:o + 3] - before["ee"][o:o + 3]
            rel = tf.quat_mul(after["ee"][o + 3:o + 7], tf.quat_conj(before["ee"][o + 3:o + 7]))
            out[a + 3:a + 6] = tf.quat_to_euler(rel)
            if hand in robot.gripper_dofs:
                out[a + EE_GRIPPER] = robot.gripper_opening(q_target, hand)  # the commanded opening, clipped to [0, 1]
            else:
                out[a + EE_GRIPPER] = self.fingerless_opening(hand) if self.fingerless_opening is not None else 1.0
        return out

    def holds_home(self, hand: str) -> np.ndarray:
        """Mask of the joints that stay at home while `hand` moves (all but its arm); fixed per robot."""
        masks = self._hold_masks
        if hand not in masks:
            masks[hand] = np.ones(self.robot.num_dofs, dtype=bool)
            masks[hand][self.robot.ik_dofs(hand)] = False
        return masks[hand]

    def action_for_hand_target(self, hand: str, target_pos: np.ndarray, target_orn: np.ndarray | None,
                               gripper: float, pose: Pose | None = None) -> np.ndarray:
        """One IK step of the hand's arm towards the target; every other joint holds home (legs: standing)."""
        robot = self.robot
        q, _ = robot.joint_state()
        q_target = robot.ik_step(q, hand, target_pos, target_orn, q_ref=robot.home_q, pose=pose)
        keep = self.holds_home(hand)
        q_target[keep] = robot.home_q[keep]
        robot.set_gripper(q_target, hand, gripper)
        extra = [gripper if h == hand else 1.0 for h in self.virtual_grippers]
        return np.concatenate([q_target, extra]).astype(np.float32)

    def action_for_joint_targets(self, q_target: np.ndarray) -> np.ndarray:
        """Joint targets as an action, with every virtual gripper open."""
        return np.concatenate([q_target, np.ones(len(self.virtual_grippers))]).astype(np.float32)


class EndEffectorDeltaController(_ControllerBase):
    """`ee_delta`: per canonical hand a delta pose in the base frame plus an absolute gripper opening (the
    layout of `action.ee`), turned into joint targets by one IK step per hand from the measured state."""

    name = "ee_delta"
    targets_depend_on_state = True  # IK from the measured state

    def __init__(self, robot: Any, virtual_grippers: Sequence[str], base_pose: Callable[[], Pose],
                 fingerless_opening: Callable[[str], float] | None = None):
        super().__init__(robot, virtual_grippers, base_pose, fingerless_opening)
        low = np.tile(np.concatenate([-EE_DELTA_LIMITS, [0.0]]), len(HANDS)).astype(np.float32)
        high = np.tile(np.concatenate([EE_DELTA_LIMITS, [1.0]]), len(HANDS)).astype(np.float32)
        self.action_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.action_names = [f"{h}.{a}" for h in HANDS for a in EE_ACTION_FIELDS]
        self._all_open = np.zeros(EE_ACTION_DIM, dtype=np.float32)
        for h in HANDS:
            self._all_open[ee_action_offset(h) + EE_GRIPPER] = 1.0

    def to_joint_targets(self, action: np.ndarray, previous: np.ndarray) -> np.ndarray:
        """Delta pose per canonical hand (base frame) -> joint targets through one IK step per hand."""
        robot = self.robot
        q, _ = robot.joint_state()
        q_target = previous.copy()
        base_pos, base_orn = self.base_pose()
        for hand in robot.hands:
            o = ee_action_offset(hand)
            a = action[o:o + EE_ACTION_WIDTH]
            pos, orn = robot.ee_world_pose(hand)
            target_pos = pos + tf.quat_rotate(base_orn, a[:3])
            delta_world = tf.quat_mul(tf.quat_mul(base_orn, tf.euler_to_quat(a[3:6])), tf.quat_conj(base_orn))
            target_orn = tf.quat_mul(delta_world, orn)
            arm = robot.ik_step(q, hand, target_pos, target_orn, q_ref=robot.home_q)
            dofs = robot.ik_dofs(hand)
            q_target[dofs] = arm[dofs]
            robot.set_gripper(q_target, hand, a[EE_GRIPPER])
        return q_target

    def hand_commands(self, action: np.ndarray) -> HandCommands:
        return [(hand, float(action[ee_action_offset(hand) + EE_GRIPPER])) for hand in self.virtual_grippers]

    def canonical_action(self, action: np.ndarray, before: dict | None, after: dict, q_target: np.ndarray) -> np.ndarray:
        """The command itself: this mode's actions are `action.ee`."""
        return action.astype(np.float32)

    def action_for_hand_target(self, hand: str, target_pos: np.ndarray, target_orn: np.ndarray | None,
                               gripper: float, pose: Pose | None = None) -> np.ndarray:
        """The delta from the hand's pose to the target in the base frame, clipped to the limits; other hands
        hold still with their grippers open."""
        pos, orn = pose if pose is not None else self.robot.ee_world_pose(hand)
        base_pos, base_orn = self.base_pose()
        inv = tf.quat_conj(base_orn)
        action = self._all_open.copy()
        o = ee_action_offset(hand)
        action[o:o + 3] = np.clip(tf.quat_rotate(inv, np.asarray(target_pos) - pos), -EE_DELTA_LIMITS[:3], EE_DELTA_LIMITS[:3])
        if target_orn is not None:
            rel = tf.quat_mul(inv, tf.quat_mul(tf.quat_mul(np.asarray(target_orn), tf.quat_conj(orn)), base_orn))
            action[o + 3:o + 6] = np.clip(tf.quat_to_euler(rel), -EE_DELTA_LIMITS[3:], EE_DELTA_LIMITS[3:])
        action[o + EE_GRIPPER] = gripper
        return action

    def action_for_joint_targets(self, q_target: np.ndarray) -> np.ndarray:
        raise ValueError("control_mode 'ee_delta' commands hands, not joints; use control_mode='joint_pos'")


class WholeBodyController(JointPositionController):
    """`whole_body`: absolute joint targets, as `joint_pos` (the same action space and names, so its data is joint-level
    and replays without physics), whose inverse moves the whole body (`flywheel.sim.whole_body`): a hand target moves
    the arm and the trunk by whole-body IK that keeps the centre of mass over the feet, and the legs balance (CoM and
    tilt feedback through ankles and hips). A humanoid whose spec has `[whole_body]` gets it under `joint_pos` too."""

    name = "whole_body"

    def __init__(self, robot: Any, virtual_grippers: Sequence[str], base_pose: Callable[[], Pose],
                 fingerless_opening: Callable[[str], float] | None = None):
        super().__init__(robot, virtual_grippers, base_pose, fingerless_opening)
        from flywheel.sim.whole_body import WholeBody

        self.whole_body = WholeBody(robot, robot.scene)

    def action_for_hand_target(self, hand: str, target_pos: np.ndarray, target_orn: np.ndarray | None,
                               gripper: float, pose: Pose | None = None) -> np.ndarray:
        """One whole-body IK step towards the target (arm and trunk); the legs balance; every other joint holds home."""
        robot, wb = self.robot, self.whole_body
        if not wb.has_whole_body_ik(hand):
            q_target = super().action_for_hand_target(hand, target_pos, target_orn, gripper, pose)[:robot.num_dofs]
        else:
            q, _ = robot.joint_state()
            moved = wb.ik_step(q, hand, target_pos, target_orn, q_ref=robot.home_q, pose=pose)
            q_target = robot.home_q.copy()
            dofs = wb.moved_dofs(hand)
            q_target[dofs] = moved[dofs]
            robot.set_gripper(q_target, hand, gripper)
        if not robot.fixed_base:
            q_target = wb.balance_targets(q_target, np.concatenate(robot.base_state()))
        extra = [gripper if h == hand else 1.0 for h in self.virtual_grippers]
        return np.concatenate([q_target, extra]).astype(np.float32)

    def action_for_standing(self, base: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
        """Stand at home with the balance strategy, for the observation's base state `base`."""
        return self.action_for_joint_targets(self.whole_body.balance_targets(self.robot.home_q, base, noise))


CONTROLLERS: dict[str, type] = {"joint_pos": JointPositionController, "ee_delta": EndEffectorDeltaController,
                                "whole_body": WholeBodyController}


def make_controller(mode: str, robot: Any, *, virtual_grippers: Sequence[str], base_pose: Callable[[], Pose],
                    fingerless_opening: Callable[[str], float] | None = None) -> Controller:
    if mode not in CONTROLLERS:
        raise ValueError(f"unknown control_mode {mode!r}; use one of {', '.join(CONTROLLERS)}")
    cls = CONTROLLERS[mode]
    if mode == "joint_pos" and getattr(robot.spec, "whole_body", None) is not None:
        cls = WholeBodyController  # the same actions; a whole-body inverse for the experts
    return cls(robot, virtual_grippers, base_pose, fingerless_opening)


def waypoint(pos: np.ndarray, target_pos: np.ndarray, max_step: float) -> np.ndarray:
    """A point at most `max_step` from `pos` on the way to `target_pos`: a moving waypoint keeps a hand's motion
    smooth and its overshoot small (experts and robot checks steer hands with it)."""
    step = np.asarray(target_pos, dtype=np.float64) - pos
    length = np.linalg.norm(step)
    if length > max_step:
        step *= max_step / length
    return pos + step

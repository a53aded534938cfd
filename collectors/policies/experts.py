"""Scripted experts: waypoints for reach and pick_place, the robot's standing balance for balance.

Experts read the simulator through the env and its `Scene` (they are privileged teachers), choose an
end-effector target with state-driven phases (so they can label any state a learned policy visits,
DAgger-style), and turn it into an action with the env's controller (`action_for_hand_target`), whatever
the control mode. `noise` perturbs the targets for diverse demonstrations. Each expert registers for its
task (`@register_expert`), so a new task and its expert need no table edited elsewhere.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from flywheel.sim import transforms as tf
from flywheel.sim.balance import AnkleHipBalance
from flywheel.sim.controllers import WAYPOINT_STEP, waypoint

# task name -> expert class, filled by `register_expert` (the old name `EXPERTS` stays importable)
EXPERTS: dict[str, type] = {}


def register_expert(task: str) -> Callable[[type], type]:
    """Class decorator: the scripted expert of task `task` (a class taking `(env, noise=...)` with `reset(seed)` and
    `act(observation)`). A task module and its expert are all a new task needs; nothing else lists them."""

    def decorate(cls: type) -> type:
        old = EXPERTS.get(task)
        if old is not None and old.__qualname__ != cls.__qualname__:
            raise ValueError(f"task {task!r} already has an expert: {old.__module__}.{old.__qualname__}")
        EXPERTS[task] = cls
        return cls

    return decorate


def expert_names() -> list[str]:
    """The tasks that have a scripted expert, in registration order."""
    return list(EXPERTS)


def expert(task_name: str, env, noise: float = 0.0):
    """The scripted expert for an env's task, with `reset(seed)` and `act(observation)`."""
    if task_name not in EXPERTS:
        raise KeyError(f"no expert for task {task_name!r}; experts exist for: {', '.join(EXPERTS)}")
    return EXPERTS[task_name](env, noise=noise)


class _ExpertBase:
    name = "expert"

    def __init__(self, env, noise: float = 0.0):
        self.env = env.unwrapped
        self.robot = self.env.robot
        self.noise = float(noise)
        self.rng = np.random.default_rng()

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    # ---- emit an action towards a world-frame hand target ------------------------------------
    max_speed = WAYPOINT_STEP  # metres per control step the hand target may move ahead of the hand

    def _action_for(self, hand: str, target_pos, target_orn, gripper: float) -> np.ndarray:
        """A moving waypoint towards the target (plus noise), turned into an action by the env's controller."""
        pos, orn = self.robot.ee_world_pose(hand)
        target_pos = waypoint(pos, target_pos, self.max_speed)
        if self.noise > 0:
            target_pos = target_pos + self.rng.normal(0.0, self.noise, 3)
        return self.env.controller.action_for_hand_target(hand, target_pos, target_orn, gripper, pose=(pos, orn))


@register_expert("reach")
class ReachExpert(_ExpertBase):
    name = "expert_reach"

    def act(self, observation) -> np.ndarray:
        task = self.env.task
        return self._action_for(task.hand, task.goal_world, None, 1.0)


@register_expert("pick_place")
class PickPlaceExpert(_ExpertBase):
    """Above the cube -> down -> close -> lift -> above the target -> down -> open."""

    name = "expert_pick_place"
    hover = 0.10
    close_steps = 6

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.phase, self.closed_for = "approach", 0
        self.grasp_orn = None  # chosen at the first step, once the cube has been placed by reset
        self.touch, self.grasp_distance = None, 0.0  # where a fingerless hand met the cube; hand-cube distance held

    def _grasp_orientation(self) -> np.ndarray:
        """The hand's home orientation, turned about the vertical to match the cube's yaw (mod 90 degrees)."""
        task = self.env.task
        home_orn = self._home_orn
        _, cube_orn = self.env.scene.body_pose(task.cube)
        yaw = tf.quat_to_euler(np.asarray(cube_orn))[2]
        yaw = (yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4
        return tf.quat_mul(tf.euler_to_quat([0, 0, yaw]), home_orn)

    def act(self, observation) -> np.ndarray:
        task, robot = self.env.task, self.robot
        if self.grasp_orn is None:
            if getattr(self, "_home_orn", None) is None:  # fixed per env: computing it costs a saveState (2.5 ms)
                self._home_orn = self._home_orientation()
            self.grasp_orn = self._grasp_orientation()
        hand = task.hand
        pos, _ = robot.ee_world_pose(hand)
        cube = task.cube_world
        goal = task.goal_world
        orn = self.grasp_orn
        if self.phase == "approach":
            above = cube + [0, 0, self.hover]
            if np.linalg.norm((pos - above)[:2]) < 0.01 and abs(pos[2] - above[2]) < 0.03:
                self.phase = "descend"
            return self._action_for(hand, above, orn, 1.0)
        if self.phase == "descend":
            if np.linalg.norm(pos - cube) < 0.01:
                self.phase = "close"
            elif task.assisted and task.hand_touches_cube():  # a fingerless hand grasps where it touches
                self.phase, self.touch = "close", pos
            elif np.linalg.norm((pos - cube)[:2]) > 0.03:
                self.phase = "approach"
            return self._action_for(hand, cube, orn, 1.0)
        if self.phase == "close":
            self.closed_for += 1
            if self.closed_for >= self.close_steps:
                self.phase = "lift"
                self.grasp_distance = float(np.linalg.norm(pos - cube))
            return self._action_for(hand, cube if self.touch is None else self.touch, orn, 0.0)
        grip_offset = pos - cube  # where in the fingers the cube sits: steer the cube, not the hand
        if np.linalg.norm(grip_offset) > max(0.05, self.grasp_distance + 0.03):
            self.phase, self.closed_for, self.touch = "approach", 0, None  # dropped it: start again
            return self._action_for(hand, cube + [0, 0, self.hover], orn, 1.0)
        if self.phase == "lift":
            above_goal = goal + [0, 0, self.hover]
            if cube[2] < goal[2] + self.hover * 0.7:
                return self._action_for(hand, np.array([pos[0], pos[1], above_goal[2] + grip_offset[2]]), orn, 0.0)
            if np.linalg.norm((cube - above_goal)[:2]) < 0.01:
                self.phase = "place"
            return self._action_for(hand, above_goal + grip_offset, orn, 0.0)
        # place: lower onto the target, open when it sits there
        if np.linalg.norm(cube - goal) < 0.015:
            return self._action_for(hand, pos + [0, 0, 0.03], orn, 1.0)
        return self._action_for(hand, goal + grip_offset, orn, 0.0)

    def _home_orientation(self) -> np.ndarray:
        """The hand's world orientation in the home pose with the base as the spec places it: a constant of the
        env (never of the episode), so it is computed once and episodes stay independent of each other."""
        robot = self.robot
        hand = self.env.task.hand
        with self.env.scene.saved_state():
            robot.reset(robot.home_q, robot.base_position, robot.base_orientation)
            _, orn = robot.ee_world_pose(hand)
        if hasattr(self.env.controller, "whole_body") and hand in robot.gripper_dofs:
            orn = _fingers_down(orn, robot.ee_offsets[robot.ee_names.index(hand)])
        return orn


@register_expert("balance")
class BalanceExpert(_ExpertBase):
    """Stand with the robot's balance strategy (`flywheel.sim.balance`: hold home, lean against the fall at ankles
    and hips, gains from the spec's `[balance]`), perturbed by `noise` for diverse demonstrations."""

    name = "expert_balance"

    def __init__(self, env, noise: float = 0.0):
        super().__init__(env, noise)
        self.balance = AnkleHipBalance(self.robot, self.env.scene)

    def act(self, observation) -> np.ndarray:
        noise = self.rng.normal(0.0, self.noise * 0.1, size=self.robot.num_dofs) if self.noise > 0 else None
        controller = self.env.controller
        if hasattr(controller, "action_for_standing"):  # whole-body: CoM feedback on top of the lean
            return controller.action_for_standing(observation["base"], noise)
        q_target = self.balance.joint_targets(observation["base"], noise)
        if self.env.control_mode == "joint_pos":
            return controller.action_for_joint_targets(q_target)
        raise ValueError("the balance expert drives joints; use control_mode='joint_pos' for task 'balance'")


def _fingers_down(orn: np.ndarray, tool_offset: np.ndarray) -> np.ndarray:
    """A humanoid's hand orientation turned (the least rotation) so its fingers point down: the palm-to-tool-centre
    direction is where the fingers point, and an inferred ready pose may hold them level, which a grasp from above
    cannot use."""
    length = float(np.linalg.norm(tool_offset))
    if length < 1e-6:
        return orn
    approach = tf.quat_rotate(orn, np.asarray(tool_offset) / length)
    down = np.array([0.0, 0.0, -1.0])
    if float(approach @ down) > 0.95:
        return orn
    axis = np.cross(approach, down)
    sin = float(np.linalg.norm(axis))
    angle = float(np.arctan2(sin, float(approach @ down)))
    if sin < 1e-9:
        axis, sin = np.array([1.0, 0.0, 0.0]), 1.0
    return tf.quat_mul(tf.rotvec_to_quat(axis / sin * angle), orn)

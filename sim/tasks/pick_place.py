"""`pick_place`: move a cube from a table to a target on it; arms with grippers and humanoids with hands.

Hands without finger joints get a documented grasp assist: when the hand's virtual gripper command
closes within `assist_distance` of the cube, or while the hand (its link and the links fixed to it)
touches the cube, a fixed constraint attaches it; opening releases it. The
assist is part of the task (visible in `meta/flywheel.json` task params), never hidden in the robot.
"""
from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from flywheel.canonical import ee_obs_offset
from flywheel.sim import transforms as tf
from flywheel.sim.registration import register_task
from flywheel.sim.tasks.base import StepResult, Task, box_space

CUBE_HALF_SIZES = (0.022, 0.025, 0.028)  # domain randomisation picks one per episode; the others are parked


@register_task("pick_place", env_id="flywheel/PickPlace-v0", max_episode_steps=200, requires=("hand", "grasp"))
@dataclass
class PickPlaceTask(Task):
    success_distance: float = 0.03
    spawn_range: tuple[float, float] = (0.08, 0.12)
    min_separation: float = 0.1
    table_drop: float = 0.15  # table top this far below the hand's home height
    assist_distance: float = 0.06
    knee_room: float = 0.15  # depth under the near edge of a high table, for a standing robot's legs

    def build(self, scene, robot) -> None:
        super().build(scene, robot)
        self.hand = self.default_hand()
        self.assisted = self.hand not in robot.gripper_dofs
        self.hand_links = scene.welded_links(robot.body, robot.ee_links[robot.ee_names.index(self.hand)])
        self.center = self.workspace_center()
        self.table_top = float(self.center[2] - self.table_drop)
        self.table = None
        if self.table_top > 0.02:
            self.table = self._table(scene)
        else:
            self.table_top = 0.0
        self.cubes = [scene.box([h, h, h], self._parking(i), mass=0.1, color=(0.85, 0.15, 0.1, 1.0))
                      for i, h in enumerate(CUBE_HALF_SIZES)]
        for cube in self.cubes:
            scene.change_dynamics(cube, -1, lateralFriction=1.0, spinningFriction=0.002)
        self.target_marker = scene.sphere(0.02, self.center, color=(0.1, 0.8, 0.1, 0.6))
        self.cube, self.half = self.cubes[1], CUBE_HALF_SIZES[1]
        self.goal_world = self.center.copy()
        self.grasp_constraint = None
        self.hand_closed = False

    def _table(self, scene) -> int:
        """A static table 0.5 x 0.8 m, from 0.2 m behind the workspace centre (towards the robot) to 0.3 m
        beyond it. High tables (humanoids) are a top slab on a pedestal that leaves `knee_room` under the near
        edge, so a standing robot's feet and knees fit under it; low ones are a plain block."""
        x, y, top = float(self.center[0]) + 0.05, float(self.center[1]), self.table_top
        color = (0.55, 0.4, 0.3, 1.0)
        slab = 0.05
        if top <= 0.3 + slab:
            return scene.box([0.25, 0.4, top / 2], [x, y, top / 2], mass=0.0, color=color)
        pedestal = 0.25 - self.knee_room / 2  # half depth of the pedestal, flush with the far edge
        halves = [[0.25, 0.4, slab / 2], [pedestal, 0.4, (top - slab) / 2]]
        offsets = [[0.0, 0.0, top - slab / 2], [0.25 - pedestal, 0.0, (top - slab) / 2]]
        return scene.compound_boxes(halves, offsets, [x, y, 0.0], color=color)

    def _parking(self, i: int) -> list[float]:
        return [self.center[0] - 3.0 - i, self.center[1] + 3.0, CUBE_HALF_SIZES[i]]

    def reset(self, rng: np.random.Generator, randomize: bool) -> None:
        scene = self.scene
        self._release()
        k = int(rng.integers(len(self.cubes))) if randomize else 1
        for i, cube in enumerate(self.cubes):
            scene.set_body_pose(cube, self._parking(i), [0, 0, 0, 1])
        self.cube, self.half = self.cubes[k], CUBE_HALF_SIZES[k]
        span = np.array(self.spawn_range)
        xy = self.center[:2] + rng.uniform(-span, span)
        while True:
            goal_xy = self.center[:2] + rng.uniform(-span, span)
            if np.linalg.norm(goal_xy - xy) >= self.min_separation:
                break
        yaw = rng.uniform(-np.pi / 4, np.pi / 4)
        z = self.table_top + self.half
        scene.set_body_pose(self.cube, [xy[0], xy[1], z + 0.001], list(tf.euler_to_quat([0, 0, yaw])))
        if randomize:
            scene.change_dynamics(self.cube, -1, lateralFriction=rng.uniform(0.8, 1.2), mass=rng.uniform(0.08, 0.12))
        self.goal_world = np.array([goal_xy[0], goal_xy[1], z])
        scene.set_body_pose(self.target_marker, self.goal_world.tolist(), [0, 0, 0, 1])

    # ---- observation ---------------------------------------------------------------------------
    # environment_state (base frame): the cube's pose and velocity, then what a multi-stage policy needs to tell
    # its stage from one observation: where the cube is relative to the hand and to the goal, and whether it is
    # held (touched by two links of the robot, or welded by the grasp assist). The goal is its own entry.
    ENV_STATE_NAMES = ("cube.x", "cube.y", "cube.z", "cube.qx", "cube.qy", "cube.qz", "cube.qw",
                       "cube.vx", "cube.vy", "cube.vz", "cube_from_hand.x", "cube_from_hand.y", "cube_from_hand.z",
                       "goal_from_cube.x", "goal_from_cube.y", "goal_from_cube.z", "cube.held")

    def observation_spaces(self) -> dict[str, gym.spaces.Box]:
        return {"environment_state": box_space(len(self.ENV_STATE_NAMES)), "goal": box_space(3)}

    def observation_names(self) -> dict[str, list[str]]:
        return {"environment_state": list(self.ENV_STATE_NAMES), "goal": ["x", "y", "z"]}

    def observe(self, base_pos, base_orn) -> dict[str, np.ndarray]:
        inv = tf.quat_conj(base_orn)
        pos, orn = self.scene.body_pose(self.cube)
        lin, _ = self.scene.body_velocity(self.cube)
        self.cube_world = np.asarray(pos)
        hand_world, _ = self.robot.ee_world_pose(self.hand)
        goal = tf.quat_rotate(inv, self.goal_world - base_pos)
        cube = tf.quat_rotate(inv, self.cube_world - base_pos)
        env_state = np.concatenate([cube, tf.quat_mul(inv, np.asarray(orn)), tf.quat_rotate(inv, np.asarray(lin)),
                                    tf.quat_rotate(inv, self.cube_world - hand_world), goal - cube,
                                    [1.0 if self.cube_held() else 0.0]])
        return {"environment_state": env_state, "goal": goal}

    def cube_held(self) -> bool:
        """Welded by the assist, or touched by at least two links of the robot (both fingers of a gripper)."""
        if self.grasp_constraint is not None:
            return True
        return len(set(self.scene.contact_links(self.robot.body, self.cube))) >= 2

    # ---- grasp assist (hands without fingers) ------------------------------------------------
    def command_hand(self, opening: float, hand: str | None = None) -> None:
        """The env forwards the virtual gripper command of a fingerless hand here (1 = open); the task's
        assist serves its own hand only, so the other hand's command is ignored."""
        if hand is None or hand == self.hand:
            self.hand_closed = opening < 0.5

    def hand_command(self, hand: str) -> float:
        return 0.0 if self.hand_closed else 1.0

    def before_physics(self, step: int, rng) -> None:
        if not self.assisted:
            return
        if self.hand_closed and self.grasp_constraint is None:
            pos, _ = self.robot.ee_world_pose(self.hand)
            cube_pos, cube_orn = self.scene.body_pose(self.cube)
            if np.linalg.norm(np.asarray(cube_pos) - pos) < self.assist_distance or self.hand_touches_cube():
                link = self.robot.ee_links[self.robot.ee_names.index(self.hand)]
                self.grasp_constraint = self.scene.weld(self.robot.body, link, self.cube, cube_pos, cube_orn)
        elif not self.hand_closed:
            self._release()

    def hand_touches_cube(self) -> bool:
        return any(link in self.hand_links for link in self.scene.contact_links(self.robot.body, self.cube))

    def _release(self) -> None:
        if self.grasp_constraint is not None:
            self.scene.remove_constraint(self.grasp_constraint)
            self.grasp_constraint = None
        self.hand_closed = False

    # ---- scoring -----------------------------------------------------------------------------
    def evaluate(self, obs) -> StepResult:
        o = ee_obs_offset(self.hand)
        cube = obs["environment_state"][:3]
        to_goal = float(np.linalg.norm(cube - obs["goal"]))
        to_cube = float(np.linalg.norm(obs["ee"][o:o + 3] - cube))
        success = to_goal < self.success_distance
        return StepResult(reward=-(to_goal + 0.5 * to_cube), success=success)

    def describe(self) -> str:
        return "pick up the red cube and place it on the green target"

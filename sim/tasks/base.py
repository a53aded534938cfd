"""The task half of `RobotTaskEnv`: what to do (objects, goal, reward, success), not how the robot moves.

A task is composed with any robot that has what it needs (`requires`); it builds its objects once per
scene and re-places them at every reset from the episode's random generator, so the seed decides everything.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from flywheel.robots.spec import Camera
from flywheel.sim.robot import Robot
from flywheel.sim.scene import Scene


class TaskNotApplicable(ValueError):
    """This robot lacks what the task needs (a hand, a gripper, a floating base)."""


@dataclass
class StepResult:
    reward: float
    success: bool
    failed: bool = False  # terminates the episode as a failure (a fall)
    done_on_success: bool = True


@dataclass
class Task:
    """Base for tasks. Subclasses fill in the hooks; the env owns the loop."""

    name: str = "task"
    max_episode_steps: int = 100
    params: dict = field(default_factory=dict)

    def check_robot(self, robot_spec) -> None:  # raise TaskNotApplicable with what is missing
        return None

    def build(self, scene: Scene, robot: Robot) -> None:
        self.scene, self.robot = scene, robot

    def reset(self, rng: np.random.Generator, randomize: bool) -> None:
        raise NotImplementedError

    def observation_spaces(self) -> dict[str, gym.spaces.Box]:
        """Extra observation entries (`goal`, `env_state`)."""
        return {}

    def observe(self, base_pos: np.ndarray, base_orn: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def before_physics(self, step: int, rng: np.random.Generator) -> None:
        """Called once per control step before the physics substeps (pushes, grasp assist)."""

    def substep_hook(self):
        """A callable to run before every physics substep of this control step (forces last one substep), or None."""
        return None

    def evaluate(self, obs: dict[str, np.ndarray]) -> StepResult:
        raise NotImplementedError

    def default_hand(self) -> str:
        return self.robot.hands[0]

    def workspace_center(self) -> np.ndarray:
        """Where the task happens, in the world: the default hand's home position, or the base."""
        if self.robot.hands:
            return self.robot.ee_world_pose(self.default_hand())[0]
        return self.robot.base_position.copy()

    def scene_cameras(self) -> list[Camera]:
        """A `front` camera looking at the workspace from the robot's front-left, fixed in the world."""
        c = self.workspace_center()
        return [Camera(name="front", position=tuple(c + np.array([0.9, 0.6, 0.6])), target=tuple(c), fov=60.0,
                       width=128, height=128, far=6.0)]

    def describe(self) -> str:
        """The task string written into datasets (LeRobot's `task`)."""
        return self.name


def box_space(n: int, bound: float = np.inf) -> gym.spaces.Box:
    return gym.spaces.Box(-bound, bound, shape=(n,), dtype=np.float64)

"""The task half of `RobotTaskEnv`: what to do (objects, goal, reward, success), not how the robot moves.

A task is composed with any robot that has what it needs (`requires`); it builds its objects once per
scene and re-places them at every reset from the episode's random generator, so the seed decides everything.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import gymnasium as gym
import numpy as np

from flywheel.robots.spec import Camera, RobotSpec

if TYPE_CHECKING:  # the simulator loads with the first env, not when `import flywheel` registers the tasks
    from flywheel.sim.registration import TaskRegistration
    from flywheel.sim.robot import Robot
    from flywheel.sim.scene import Scene


class TaskNotApplicable(ValueError):
    """This robot lacks what the task needs (a hand, a gripper, a floating base)."""


def _has_no(what: str) -> Callable[[str, RobotSpec], str]:
    return lambda task, spec: (f"task {task!r} needs {what}; robot {spec.name!r} has "
                               f"{', '.join(spec.end_effectors) or 'no end-effectors'}")


# What a task may require of a robot (`register_task(..., requires=...)`): a test of the spec, and the message
# that says what is missing and how to fix it.
REQUIREMENTS: dict[str, tuple[Callable[[RobotSpec], bool], Callable[[str, RobotSpec], str]]] = {
    "hand": (lambda spec: bool(spec.hands), _has_no("a hand end-effector (right_hand or left_hand)")),
    # a gripper, or a humanoid hand that the task's grasp assist holds objects with
    "grasp": (lambda spec: bool(spec.grippers) or spec.kind == "humanoid",
              lambda task, spec: (f"task {task!r} needs a gripper; robot {spec.name!r} ({spec.kind}) has none. "
                                  "Add a [grippers.<hand>] table to its spec, or use task 'reach'")),
    "floating_base": (lambda spec: spec.floating,
                      lambda task, spec: f"task {task!r} needs a floating-base robot; {spec.name!r} is "
                                         + ("held by its pelvis ([whole_body] stand = \"fixed_pelvis\")"
                                            if spec.fixed_pelvis else "fixed to the world")),
}


def check_requirements(task: str, requires: tuple[str, ...], spec: RobotSpec) -> None:
    """Raise `TaskNotApplicable` for the first requirement the robot does not meet."""
    for name in requires:
        if name not in REQUIREMENTS:
            raise ValueError(f"task {task!r} requires {name!r}, which is not a requirement; use {', '.join(REQUIREMENTS)}")
        met, message = REQUIREMENTS[name]
        if not met(spec):
            raise TaskNotApplicable(message(task, spec))


@dataclass
class StepResult:
    reward: float
    success: bool
    failed: bool = False  # terminates the episode as a failure (a fall)
    done_on_success: bool = True


@dataclass
class Task:
    """Base for tasks. Subclasses fill in the hooks; the env owns the loop.

    `name` and `max_episode_steps` default to the task's registration (`register_task`), the one place they
    are written; pass them to override one instance (a shorter episode in a test).
    """

    name: str = ""
    max_episode_steps: int = 0
    params: dict = field(default_factory=dict)
    registration: ClassVar[TaskRegistration | None] = None  # set by `register_task`

    def __post_init__(self) -> None:
        reg = type(self).registration
        if reg is not None:
            self.name = self.name or reg.name
            self.max_episode_steps = self.max_episode_steps or reg.max_episode_steps
        self.name = self.name or "task"
        self.max_episode_steps = self.max_episode_steps or 100

    def check_robot(self, robot_spec: RobotSpec) -> None:
        """Raise `TaskNotApplicable` with what is missing (the registration's `requires`, by default)."""
        reg = type(self).registration
        check_requirements(self.name, reg.requires if reg is not None else (), robot_spec)

    def build(self, scene: Scene, robot: Robot) -> None:
        self.scene, self.robot = scene, robot

    def reset(self, rng: np.random.Generator, randomize: bool) -> None:
        raise NotImplementedError

    def observation_spaces(self) -> dict[str, gym.spaces.Box]:
        """Extra observation entries: `environment_state` (objects, as LeRobot names it) and `goal`."""
        return {}

    def observation_names(self) -> dict[str, list[str]]:
        """Per-element names of the entries of `observation_spaces` (``cube.x``...), written into the dataset's
        feature `names` so a column says what each number is; an entry left out is named by index."""
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

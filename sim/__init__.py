"""PyBullet scenes wrapped as Gymnasium tasks: `RobotTaskEnv(robot, task)`, one API for every robot.

Attributes load lazily so that importing `flywheel.sim.registration` (done by `import flywheel`) does not
start PyBullet.
"""
from __future__ import annotations

import importlib

_LAZY = {
    "RobotTaskEnv": "flywheel.sim.env", "CONTROL_MODES": "flywheel.sim.env",
    "CONTROLLERS": "flywheel.sim.controllers", "make_controller": "flywheel.sim.controllers",
    "TASKS": "flywheel.sim.tasks", "TaskNotApplicable": "flywheel.sim.tasks", "make_task": "flywheel.sim.tasks",
    "task_class": "flywheel.sim.tasks", "task_params": "flywheel.sim.tasks",
    "register_task": "flywheel.sim.registration", "task_names": "flywheel.sim.registration",
    "task_registration": "flywheel.sim.registration", "env_id_for": "flywheel.sim.registration",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'flywheel.sim' has no attribute {name!r}")


def make_env(task: str, robot: str = "panda", max_episode_steps: int | None = None, **kwargs):
    """`RobotTaskEnv` wrapped in Gymnasium's `TimeLimit` with the task's episode length."""
    import gymnasium as gym

    from flywheel.sim.env import RobotTaskEnv

    env = RobotTaskEnv(robot=robot, task=task, **kwargs)
    return gym.wrappers.TimeLimit(env, max_episode_steps or env.task.max_episode_steps)


__all__ = ["CONTROLLERS", "CONTROL_MODES", "TASKS", "RobotTaskEnv", "TaskNotApplicable", "env_id_for", "make_controller",
           "make_env", "make_task", "register_task", "task_class", "task_names", "task_params", "task_registration"]

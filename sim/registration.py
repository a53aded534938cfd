"""Gymnasium ids `flywheel/<Task>-v0`; each takes `robot=` (a built-in name or a spec path)."""
from __future__ import annotations

import gymnasium as gym

ENV_IDS = {"flywheel/Reach-v0": "reach", "flywheel/PickPlace-v0": "pick_place", "flywheel/Balance-v0": "balance"}


def _max_steps(task: str) -> int:
    from flywheel.sim.tasks import TASKS

    return TASKS[task].max_episode_steps


def register_all() -> None:
    for env_id, task in ENV_IDS.items():
        if env_id in gym.registry:
            continue
        gym.register(id=env_id, entry_point="flywheel.sim.env:RobotTaskEnv", kwargs={"task": task},
                     max_episode_steps=_max_steps(task), disable_env_checker=True)


def env_id_for(task: str) -> str:
    for env_id, name in ENV_IDS.items():
        if name == task:
            return env_id
    raise KeyError(f"unknown task {task!r}; available tasks: {', '.join(ENV_IDS.values())}")

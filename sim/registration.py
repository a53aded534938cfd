"""Gymnasium ids `flywheel/<Task>-v0`; each takes `robot=` (a built-in name or a spec path).

Imports nothing but Gymnasium, so `import flywheel` (and `flywheel.datasets`) stays free of PyBullet;
the env module loads only when an env is made.
"""
from __future__ import annotations

import gymnasium as gym

# Episode lengths in control steps (20 Hz by default); the tasks take their defaults from here.
EPISODE_STEPS = {"reach": 50, "pick_place": 200, "balance": 100}
ENV_IDS = {"flywheel/Reach-v0": "reach", "flywheel/PickPlace-v0": "pick_place", "flywheel/Balance-v0": "balance"}


def register_all() -> None:
    for env_id, task in ENV_IDS.items():
        if env_id in gym.registry:
            continue
        gym.register(id=env_id, entry_point="flywheel.sim.env:RobotTaskEnv", kwargs={"task": task},
                     max_episode_steps=EPISODE_STEPS[task], disable_env_checker=True)


def env_id_for(task: str) -> str:
    for env_id, name in ENV_IDS.items():
        if name == task:
            return env_id
    raise KeyError(f"unknown task {task!r}; available tasks: {', '.join(ENV_IDS.values())}")

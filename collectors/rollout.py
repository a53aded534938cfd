"""The episode loop shared by the demo, the collectors, replay and the benchmark."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class EpisodeResult:
    seed: int
    steps: int
    success: bool
    terminated: bool
    truncated: bool
    total_reward: float
    frames: dict[str, np.ndarray] = field(default_factory=dict)


def run_episode(env, policy, seed: int, record: bool = False) -> EpisodeResult:
    """One seeded episode. `env` is a TimeLimit-wrapped `RobotTaskEnv`; same seed, same episode."""
    obs, info = env.reset(seed=seed)
    policy.reset(seed)
    steps, total, success = 0, 0.0, False
    terminated = truncated = False
    while not (terminated or truncated):
        action = policy.act(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        success = bool(info.get("is_success", False))
        steps += 1
    return EpisodeResult(seed, steps, success, bool(terminated), bool(truncated), total)

"""The one small interface every policy shares: `reset(seed)` then `act(observation) -> action`."""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Policy(Protocol):
    name: str

    def reset(self, seed: int | None = None) -> None: ...

    def act(self, observation: dict[str, Any]) -> np.ndarray: ...


class RandomPolicy:
    """Uniform actions from the env's action space, seeded so episodes are reproducible."""

    name = "random"

    def __init__(self, env):
        self.space = env.action_space
        self.rng = np.random.default_rng()

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, observation) -> np.ndarray:
        low, high = self.space.low, self.space.high
        return self.rng.uniform(low, high).astype(np.float32)


class ReplayPolicy:
    """Plays recorded actions back (`flywheel replay`, the benchmark's engine ceiling)."""

    name = "replay"

    def __init__(self, actions: np.ndarray):
        self.actions = np.asarray(actions, dtype=np.float32)
        self.t = 0

    def reset(self, seed: int | None = None) -> None:
        self.t = 0

    def act(self, observation) -> np.ndarray:
        action = self.actions[min(self.t, len(self.actions) - 1)]
        self.t += 1
        return action

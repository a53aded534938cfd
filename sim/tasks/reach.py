"""`reach`: bring a canonical hand to a sampled point; every robot with a hand, humanoids included."""
from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from flywheel.canonical import ee_obs_offset
from flywheel.sim import transforms as tf
from flywheel.sim.registration import register_task
from flywheel.sim.tasks.base import StepResult, Task, box_space


@register_task("reach", env_id="flywheel/Reach-v0", max_episode_steps=50, requires=("hand",))
@dataclass
class ReachTask(Task):
    success_distance: float = 0.03
    target_range: tuple[float, float, float] = (0.15, 0.2, 0.15)  # half-extents of the target box around the hand's home

    def build(self, scene, robot) -> None:
        super().build(scene, robot)
        self.hand = self.default_hand()
        self.center = self.workspace_center()
        self.marker = scene.sphere(self.success_distance, self.center)
        self.goal_world = self.center.copy()

    def reset(self, rng: np.random.Generator, randomize: bool) -> None:
        lo = self.center - np.array(self.target_range)
        lo[2] = max(lo[2], 0.05)
        hi = self.center + np.array(self.target_range)
        self.goal_world = rng.uniform(lo, hi)
        self.scene.set_body_pose(self.marker, self.goal_world.tolist(), [0, 0, 0, 1])

    def observation_spaces(self) -> dict[str, gym.spaces.Box]:
        return {"goal": box_space(3)}

    def observation_names(self) -> dict[str, list[str]]:
        return {"goal": ["x", "y", "z"]}

    def observe(self, base_pos, base_orn) -> dict[str, np.ndarray]:
        self._goal_base = tf.quat_rotate(tf.quat_conj(base_orn), self.goal_world - base_pos)
        return {"goal": self._goal_base}

    def evaluate(self, obs) -> StepResult:
        o = ee_obs_offset(self.hand)
        dist = float(np.linalg.norm(obs["ee"][o:o + 3] - obs["goal"]))
        return StepResult(reward=-dist, success=dist < self.success_distance)

    def describe(self) -> str:
        return f"move the {self.hand.replace('_', ' ')} to the green target"

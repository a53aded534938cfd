"""`balance`: a floating-base humanoid or quadruped stays up for the episode under random pushes.

Pushes are impulses at the base, sized as a velocity change so they mean the same for a 12 kg
quadruped and a 60 kg humanoid; their timing, direction and size come from the episode's seed.
Falling (base too low or tilted past `max_tilt`) ends the episode as a failure.
"""
from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from flywheel.sim.registration import register_task
from flywheel.sim.tasks.base import StepResult, Task, box_space


@register_task("balance", env_id="flywheel/Balance-v0", max_episode_steps=100, requires=("floating_base",))
@dataclass
class BalanceTask(Task):
    push_interval: tuple[float, float] = (1.0, 2.0)  # seconds between pushes
    push_speed: tuple[float, float] = (0.2, 0.4)  # base velocity change of one push, m/s
    push_duration: float = 0.1  # seconds
    min_height_ratio: float = 0.6
    max_tilt: float = 0.8  # radians

    def build(self, scene, robot) -> None:
        super().build(scene, robot)
        self.mass = sum(mass for _, mass in scene.link_masses(robot.body))
        self.stand_height = float(robot.base_position[2])
        self.control_dt = None

    def reset(self, rng: np.random.Generator, randomize: bool) -> None:
        self.pushes = []  # (start step, end step, force vector)
        dt = 1.0 / 20  # pushes are scheduled in control steps of the default rate; exact times do not matter
        t = rng.uniform(*self.push_interval)
        while t < self.max_episode_steps * dt:
            angle = rng.uniform(0, 2 * np.pi)
            speed = rng.uniform(*self.push_speed)
            force = self.mass * speed / self.push_duration
            start = int(t / dt)
            self.pushes.append((start, start + max(1, int(round(self.push_duration / dt))),
                                [force * np.cos(angle), force * np.sin(angle), 0.0]))
            t += rng.uniform(*self.push_interval)
        self._push_force = None

    def before_physics(self, step: int, rng) -> None:
        self._push_force = next((f for s, e, f in self.pushes if s <= step < e), None)

    def substep_hook(self):
        return self._apply_push if self._push_force is not None else None

    def _apply_push(self) -> None:
        """External forces last one substep in PyBullet, so an active push is re-applied every substep."""
        if self._push_force is not None:
            self.scene.push_base(self.robot.body, self._push_force)

    def observation_spaces(self) -> dict[str, gym.spaces.Box]:
        return {"environment_state": box_space(3)}

    def observation_names(self) -> dict[str, list[str]]:
        return {"environment_state": ["push.ax", "push.ay", "push.az"]}

    def observe(self, base_pos, base_orn) -> dict[str, np.ndarray]:
        force = np.zeros(3) if self._push_force is None else np.asarray(self._push_force) / self.mass
        return {"environment_state": force}  # the push being applied now (acceleration, m/s^2), so a policy can react

    def evaluate(self, obs) -> StepResult:
        base = obs["base"]
        height_ok = base[2] > self.min_height_ratio * self.stand_height
        qx, qy, qz, qw = base[3:7]
        up_z = 1 - 2 * (qx * qx + qy * qy)  # z of the base's up axis in the world
        tilt = float(np.arccos(np.clip(up_z, -1, 1)))
        upright = tilt < self.max_tilt
        fallen = not (height_ok and upright)
        reward = 1.0 - tilt - 0.1 * float(np.linalg.norm(base[7:10]))
        return StepResult(reward=reward, success=not fallen, failed=fallen, done_on_success=False)

    def describe(self) -> str:
        return "stay standing under random pushes"

"""A toy task in one module, as a user would write one: touch a point 5 cm in front of the hand.

Not a test module: tests load it through the `toy_task` fixture (conftest.py), which forgets it afterwards."""
from dataclasses import dataclass

import numpy as np

from flywheel.canonical import ee_obs_offset
from flywheel.collectors.policies.experts import register_expert
from flywheel.sim import transforms as tf
from flywheel.sim.controllers import WAYPOINT_STEP, waypoint
from flywheel.sim.registration import register_task
from flywheel.sim.tasks.base import StepResult, Task, box_space


@register_task("toy_point", env_id="flywheel/ToyPoint-v0", max_episode_steps=12, requires=("hand",))
@dataclass
class ToyPointTask(Task):
    reach: float = 0.05

    def build(self, scene, robot) -> None:
        super().build(scene, robot)
        self.hand = self.default_hand()
        self.home = self.workspace_center()
        self.goal_world = self.home.copy()

    def reset(self, rng, randomize) -> None:
        self.goal_world = self.home + np.array([self.reach, rng.uniform(-0.03, 0.03), 0.0])

    def observation_spaces(self):
        return {"goal": box_space(3)}

    def observe(self, base_pos, base_orn):
        return {"goal": tf.quat_rotate(tf.quat_conj(base_orn), self.goal_world - base_pos)}

    def evaluate(self, obs) -> StepResult:
        o = ee_obs_offset(self.hand)
        dist = float(np.linalg.norm(obs["ee"][o:o + 3] - obs["goal"]))
        return StepResult(reward=-dist, success=dist < 0.02)

    def describe(self) -> str:
        return "touch the point in front of the hand"


@register_expert("toy_point")
class ToyPointExpert:
    name = "expert_toy_point"

    def __init__(self, env, noise: float = 0.0):
        self.env = env.unwrapped

    def reset(self, seed=None) -> None:
        pass

    def act(self, observation):
        env, hand = self.env, self.env.task.hand
        pos, orn = env.robot.ee_world_pose(hand)
        target = waypoint(pos, env.task.goal_world, WAYPOINT_STEP)
        return env.controller.action_for_hand_target(hand, target, None, 1.0, pose=(pos, orn))

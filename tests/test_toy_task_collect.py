"""A new task is one module, even for the Ray collectors: a module written by this test registers a task and its
expert, and `flywheel collect` runs it on Ray workers (which import that module themselves) with no other edit."""
from __future__ import annotations

import importlib.util
import sys
import textwrap

import gymnasium as gym
import pytest

from flywheel import datasets
from flywheel.cli import main as cli_main
from flywheel.collectors.policies import expert, experts
from flywheel.sim import registration

TOY_MODULE = textwrap.dedent('''
    """A toy task in one module: touch a point 5 cm in front of the hand."""
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
''')


@pytest.fixture
def toy_module(tmp_path):
    path = tmp_path / "toy_point_task.py"
    path.write_text(TOY_MODULE)
    spec = importlib.util.spec_from_file_location("toy_point_task", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["toy_point_task"] = module
    spec.loader.exec_module(module)
    try:
        yield module
    finally:
        registration.unregister_task("toy_point")
        experts.EXPERTS.pop("toy_point", None)
        sys.modules.pop("toy_point_task", None)


def test_a_task_in_one_module_collects_on_ray_workers(toy_module, tmp_path, capsys):
    env = gym.make("flywheel/ToyPoint-v0", robot="panda")
    try:
        assert env.spec.max_episode_steps == 12 and type(expert("toy_point", env)).__name__ == "ToyPointExpert"
    finally:
        env.close()
    out = tmp_path / "toy"
    rc = cli_main(["collect", "--task", "toy_point", "--robot", "panda", "-n", "6", "--workers", "2", "--out", str(out),
                   "--quiet"])
    assert rc == 0, capsys.readouterr().err
    assert datasets.validate(out) == []
    ds = datasets.open(out)
    assert ds.num_episodes == 6 and ds.task == "touch the point in front of the hand"
    assert ds.episodes.column("success").to_pylist() == [True] * 6  # the module's expert ran on the workers

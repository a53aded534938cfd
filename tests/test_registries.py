"""A new task is one module: register it (and its expert) and Gymnasium, `make_task` and the expert lookup find it."""
from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import flywheel  # noqa: F401  (registers the built-in ids)
from flywheel.canonical import ee_obs_offset
from flywheel.collectors.policies import experts
from flywheel.sim import registration, transforms as tf
from flywheel.sim.controllers import WAYPOINT_STEP, waypoint
from flywheel.sim.tasks import TASKS, TaskNotApplicable, make_task, task_class
from flywheel.sim.tasks.base import StepResult, Task, box_space


@pytest.fixture
def toy_registered():
    """Define, in this test module only, a task and its expert; forget both afterwards."""

    @registration.register_task("toy_touch", env_id="flywheel/ToyTouch-v0", max_episode_steps=7, requires=("hand",))
    @dataclass
    class ToyTouchTask(Task):
        reach: float = 0.05

        def build(self, scene, robot) -> None:
            super().build(scene, robot)
            self.hand = self.default_hand()
            self.goal_world = self.workspace_center() + np.array([self.reach, 0.0, 0.0])
            scene.sphere(0.02, self.goal_world)

        def reset(self, rng, randomize) -> None:
            pass

        def observation_spaces(self):
            return {"goal": box_space(3)}

        def observe(self, base_pos, base_orn):
            return {"goal": tf.quat_rotate(tf.quat_conj(base_orn), self.goal_world - base_pos)}

        def evaluate(self, obs) -> StepResult:
            o = ee_obs_offset(self.hand)
            dist = float(np.linalg.norm(obs["ee"][o:o + 3] - obs["goal"]))
            return StepResult(reward=-dist, success=dist < 0.02)

    @experts.register_expert("toy_touch")
    class ToyTouchExpert:
        name = "expert_toy_touch"

        def __init__(self, env, noise: float = 0.0):
            self.env = env.unwrapped

        def reset(self, seed=None) -> None:
            pass

        def act(self, observation) -> np.ndarray:
            env, hand = self.env, self.env.task.hand
            pos, orn = env.robot.ee_world_pose(hand)
            target = waypoint(pos, env.task.goal_world, WAYPOINT_STEP)
            return env.controller.action_for_hand_target(hand, target, None, 1.0, pose=(pos, orn))

    try:
        yield ToyTouchTask
    finally:
        registration.unregister_task("toy_touch")
        experts.EXPERTS.pop("toy_touch", None)


@pytest.mark.parametrize("mode", ["joint_pos", "ee_delta"])
def test_a_task_registered_in_a_test_module_works_everywhere(toy_registered, mode):
    assert registration.task_names()[-1] == "toy_touch" and "toy_touch" in TASKS
    assert registration.env_id_for("toy_touch") == "flywheel/ToyTouch-v0"
    assert task_class("toy_touch") is toy_registered
    task = make_task("toy_touch", reach=0.04)
    assert (task.name, task.max_episode_steps, task.reach) == ("toy_touch", 7, 0.04)

    env = gym.make("flywheel/ToyTouch-v0", robot="panda", control_mode=mode)
    try:
        check_env(env.unwrapped, skip_render_check=True)
        policy = experts.expert("toy_touch", env)
        obs, _ = env.reset(seed=0)
        policy.reset(0)
        for steps in range(1, 100):
            obs, _, terminated, truncated, info = env.step(policy.act(obs))
            if terminated or truncated:
                break
        assert info["is_success"] and steps <= 7
    finally:
        env.close()


def test_requirements_come_from_the_registration(toy_registered):
    from flywheel import robots

    with pytest.raises(TaskNotApplicable, match="task 'toy_touch' needs a hand.*'laikago'"):
        make_task("toy_touch").check_robot(robots.get("laikago"))


def test_unregistered_task_is_gone(toy_registered):
    registration.unregister_task("toy_touch")
    assert "toy_touch" not in registration.task_names() and "flywheel/ToyTouch-v0" not in gym.registry
    with pytest.raises(KeyError, match="unknown task 'toy_touch'; available tasks: reach, pick_place, balance"):
        make_task("toy_touch")


def test_a_name_or_id_cannot_be_taken_twice():
    with pytest.raises(ValueError, match="already registered"):
        @registration.register_task("reach", env_id="flywheel/Other-v0", max_episode_steps=5)
        @dataclass
        class OtherReach(Task):
            pass
    with pytest.raises(ValueError, match="'flywheel/Reach-v0' is already registered for task 'reach'"):
        @registration.register_task("other", env_id="flywheel/Reach-v0", max_episode_steps=5)
        @dataclass
        class Other(Task):
            pass
    with pytest.raises(ValueError, match="already has an expert"):
        @experts.register_expert("reach")
        class OtherExpert:
            pass


def test_builtin_registrations():
    assert registration.task_names()[:3] == ["reach", "pick_place", "balance"]
    assert {n: (registration.task_registration(n).env_id, registration.task_registration(n).max_episode_steps)
            for n in ("reach", "pick_place", "balance")} == {
        "reach": ("flywheel/Reach-v0", 50), "pick_place": ("flywheel/PickPlace-v0", 200),
        "balance": ("flywheel/Balance-v0", 100)}
    assert gym.spec("flywheel/PickPlace-v0").max_episode_steps == 200
    assert experts.expert_names()[:3] == ["reach", "pick_place", "balance"]

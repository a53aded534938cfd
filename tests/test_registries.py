"""A new task is one module (tests/toy_task.py): register it and its expert, and Gymnasium, `make_task` and the
expert lookup find it."""
from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import flywheel  # noqa: F401  (registers the built-in ids)
from flywheel.collectors.policies import experts
from flywheel.sim import registration
from flywheel.sim.tasks import TASKS, TaskNotApplicable, make_task, task_class
from flywheel.sim.tasks.base import Task


@pytest.mark.parametrize("mode", ["joint_pos", "ee_delta"])
def test_a_task_registered_in_a_test_module_works_everywhere(toy_task, mode):
    assert registration.task_names()[-1] == "toy_point" and "toy_point" in TASKS
    assert registration.env_id_for("toy_point") == "flywheel/ToyPoint-v0"
    assert task_class("toy_point") is toy_task.ToyPointTask
    task = make_task("toy_point", reach=0.04)
    assert (task.name, task.max_episode_steps, task.reach) == ("toy_point", 12, 0.04)

    env = gym.make("flywheel/ToyPoint-v0", robot="panda", control_mode=mode)
    try:
        check_env(env.unwrapped, skip_render_check=True)
        policy = experts.expert("toy_point", env)
        obs, _ = env.reset(seed=0)
        policy.reset(0)
        for steps in range(1, 100):
            obs, _, terminated, truncated, info = env.step(policy.act(obs))
            if terminated or truncated:
                break
        assert info["is_success"] and steps <= 12
    finally:
        env.close()


def test_requirements_come_from_the_registration(toy_task):
    from flywheel import robots

    with pytest.raises(TaskNotApplicable, match="task 'toy_point' needs a hand.*'laikago'"):
        make_task("toy_point").check_robot(robots.get("laikago"))


def test_unregistered_task_is_gone(toy_task):
    registration.unregister_task("toy_point")
    assert "toy_point" not in registration.task_names() and "flywheel/ToyPoint-v0" not in gym.registry
    with pytest.raises(KeyError, match="unknown task 'toy_point'; available tasks: reach, pick_place, balance"):
        make_task("toy_point")


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

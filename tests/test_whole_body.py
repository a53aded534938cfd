"""The whole-body controller of humanoids: `[whole_body]` in a spec, standing held by the pelvis (`fixed_pelvis`),
balance with CoM feedback, whole-body IK for the hands, and the stand recorded in a dataset's metadata."""
from __future__ import annotations

import numpy as np
import pytest

from flywheel import robots
from flywheel.collectors.collection.config import CollectConfig
from flywheel.collectors.collection.plan import plan_run
from flywheel.collectors.policies import expert
from flywheel.robots.humanoid_urdf import MODEL_PATH
from flywheel.robots.spec import SpecError, load_spec
from flywheel.sim.controllers import WholeBodyController
from flywheel.sim.env import RobotTaskEnv
from flywheel.sim.tasks.base import TaskNotApplicable

BUILTIN = robots.get("flywheel_humanoid")


def humanoid_spec(tmp_path, whole_body: str, name: str = "wb_humanoid"):
    """The built-in humanoid's spec with a `[whole_body]` table appended."""
    text = open(BUILTIN.source).read()
    text = text.replace('name = "flywheel_humanoid"', f'name = "{name}"')
    text = text.replace('model = "flywheel://models/flywheel_humanoid.urdf"', f'model = "{MODEL_PATH}"')
    path = tmp_path / f"{name}.toml"
    path.write_text(text + "\n[whole_body]\n" + whole_body + "\n")
    return path


def run_expert(env, task: str, seeds: int) -> int:
    policy = expert(task, env)
    wins = 0
    for seed in range(seeds):
        obs, info = env.reset(seed=seed)
        policy.reset(seed)
        for _ in range(env.task.max_episode_steps):
            obs, _, terminated, _, info = env.step(policy.act(obs))
            if terminated or (task != "balance" and info["is_success"]):
                break
        wins += bool(info["is_success"])
    return wins


@pytest.mark.parametrize("table, field, words", [
    ('stand = "crouch"', "whole_body.stand", ["balance", "fixed_pelvis"]),
    ("com_gain = -1", "whole_body.com_gain", ["out of range"]),
    ("wobble = 1", "whole_body.wobble", ["unknown field"]),
])
def test_bad_whole_body_tables_name_the_field(tmp_path, table, field, words):
    path = humanoid_spec(tmp_path, table)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert f"field '{field}'" in str(err.value) and str(path) in str(err.value)
    assert all(w in str(err.value) for w in words)


def test_whole_body_is_refused_on_a_fixed_base(tmp_path):
    path = tmp_path / "arm.toml"
    path.write_text(open(robots.get("panda").source).read().replace("pybullet_data://", "pybullet_data://")
                    + '\n[whole_body]\nstand = "balance"\n')
    with pytest.raises(SpecError, match="fixed-base robot does not stand"):
        load_spec(path)


def test_fixed_pelvis_holds_the_pelvis_refuses_balance_and_is_recorded(tmp_path):
    spec = load_spec(humanoid_spec(tmp_path, 'stand = "fixed_pelvis"'))
    assert spec.fixed_pelvis and not spec.floating and spec.stand == "fixed_pelvis"
    with pytest.raises(TaskNotApplicable, match="fixed_pelvis"):
        RobotTaskEnv(robot=spec, task="balance")
    env = RobotTaskEnv(robot=spec, task="reach")
    try:
        assert env.robot.fixed_base and isinstance(env.controller, WholeBodyController)
        assert run_expert(env, "reach", 3) == 3
        pos, _ = env.robot.base_pose()
        assert abs(pos[2] - spec.base_height) < 1e-6  # held where it would stand, not dropped
    finally:
        env.close()
    plan = plan_run(CollectConfig(task="reach", robot=str(spec.source), episodes=1, out=tmp_path / "ds"))
    assert plan.flywheel_meta["robot"]["stand"] == "fixed_pelvis"
    assert plan.flywheel_meta["robot"]["spec"]["whole_body"]["stand"] == "fixed_pelvis"


def test_builtin_specs_without_whole_body_record_what_they_did():
    assert "whole_body" not in BUILTIN.to_dict() and BUILTIN.stand == "balance"
    env = RobotTaskEnv(robot="flywheel_humanoid", task="reach")
    try:
        assert type(env.controller).__name__ == "JointPositionController"
    finally:
        env.close()


def test_whole_body_balance_and_reach_on_a_standing_humanoid(tmp_path):
    spec = load_spec(humanoid_spec(tmp_path, 'stand = "balance"\ncom_gain = 1.0'))
    env = RobotTaskEnv(robot=spec, task="balance")
    try:
        assert run_expert(env, "balance", 4) >= 3
    finally:
        env.close()
    for hand in ("right_hand", "left_hand"):
        env = RobotTaskEnv(robot=spec, task="reach")
        try:
            env.robot.reset()
            env.task.hand, env.task.center = hand, env.robot.ee_world_pose(hand)[0]
            assert run_expert(env, "reach", 4) >= 3
            obs = env._last_obs
            assert np.all(np.isfinite(obs["state"])) and obs["base"][2] > 0.8 * spec.base_height  # still standing
        finally:
            env.close()


def test_whole_body_ik_respects_joint_limits_and_keeps_the_com_over_the_feet(tmp_path):
    """A target far out of reach: the step stays inside the limits and the CoM inside the feet's rectangle."""
    spec = load_spec(humanoid_spec(tmp_path, 'stand = "balance"'))
    env = RobotTaskEnv(robot=spec, task="reach", randomize=False)
    try:
        env.reset(seed=0)
        wb, robot = env.controller.whole_body, env.robot
        pos, _ = robot.ee_world_pose("right_hand")
        far = pos + np.array([1.5, -0.5, 0.0])
        for _ in range(40):
            action = env.controller.action_for_hand_target("right_hand", far, None, 1.0)
            assert np.all(action[:robot.num_dofs] >= robot.lower - 1e-9) and np.all(action[:robot.num_dofs] <= robot.upper + 1e-9)
            env.step(action)
        com, _ = wb.com()
        lo, hi = wb.support()
        assert np.all(com[:2] > lo[:2]) and np.all(com[:2] < hi[:2])
    finally:
        env.close()

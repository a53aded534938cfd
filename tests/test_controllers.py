"""Controllers own what an action means; `step_joint_targets` is the physics of `step`, replayable on its own."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from flywheel import robots
from flywheel.canonical import EE_ACTION_DIM, ee_action_offset
from flywheel.collectors.policies import expert
from flywheel.robots.spec import SpecError, spec_from_dict
from flywheel.sim import RobotTaskEnv
from flywheel.sim.controllers import CONTROLLERS, EndEffectorDeltaController, JointPositionController


def _expert_run(env, seed: int, steps: int):
    """Step the env with its expert; record the targets and grasp commands each step applied, and the end state."""
    policy = expert(env.task.name, env)
    obs, _ = env.reset(seed=seed)
    policy.reset(seed)
    targets, commands, actions = [], [], []
    for _ in range(steps):
        action = policy.act(obs)
        obs, *_ = env.step(action)
        actions.append(np.asarray(action, dtype=np.float32).astype(np.float64))  # what step computes from
        targets.append(env.joint_targets.copy())
        commands.append(env.controller.hand_commands(actions[-1]))
    return targets, commands, actions, np.concatenate(env.robot.joint_state())


@pytest.mark.parametrize("robot,task,mode", [("panda", "pick_place", "ee_delta"), ("panda", "pick_place", "joint_pos"),
                                             ("mujoco_humanoid", "pick_place", "joint_pos"),
                                             ("flywheel_humanoid", "balance", "joint_pos")])
def test_physics_replay_from_joint_targets_is_bit_identical(robot, task, mode):
    env = RobotTaskEnv(robot=robot, task=task, control_mode=mode)
    try:
        targets, commands, actions, end = _expert_run(env, seed=3, steps=90)
        if not env.controller.targets_depend_on_state:  # joint_pos: the targets follow from the actions alone
            assert all(np.array_equal(env.controller.to_joint_targets(a, None), q) for a, q in zip(actions, targets))
        env.reset(seed=3)
        for q, c in zip(targets, commands):
            env.step_joint_targets(q, c)
        assert np.array_equal(np.concatenate(env.robot.joint_state()).view(np.uint64), end.view(np.uint64))
    finally:
        env.close()


def test_controllers_are_selected_by_name_and_own_the_action_layout():
    assert tuple(CONTROLLERS) == ("joint_pos", "ee_delta", "whole_body")
    for mode, cls in (("joint_pos", JointPositionController), ("ee_delta", EndEffectorDeltaController)):
        env = RobotTaskEnv(robot="mujoco_humanoid", task="pick_place", control_mode=mode)
        try:
            assert isinstance(env.controller, cls) and env.action_space is env.controller.action_space
            assert len(env.action_names) == env.action_space.shape[0]
            if mode == "joint_pos":  # fingerless hands get a grasp channel for the task's assist
                assert env.action_names[-2:] == ["right_hand.grasp", "left_hand.grasp"]
            else:
                assert env.action_space.shape == (EE_ACTION_DIM,)
        finally:
            env.close()


def test_ee_delta_inverse_points_the_hand_at_the_target_and_reports_itself_as_action_ee():
    env = RobotTaskEnv(robot="panda", task="reach", control_mode="ee_delta")
    try:
        obs, _ = env.reset(seed=0)
        pos, orn = env.robot.ee_world_pose("right_hand")
        action = env.controller.action_for_hand_target("right_hand", pos + np.array([0.02, -0.01, 0.0]), None, 0.5)
        o = ee_action_offset("right_hand")
        assert np.allclose(action[o:o + 3], [0.02, -0.01, 0.0], atol=1e-6) and action[o + 6] == np.float32(0.5)
        assert action[ee_action_offset("left_hand") + 6] == 1.0  # the absent hand: still, gripper open
        _, _, _, _, info = env.step(action)
        assert np.array_equal(info["action_ee"], action)
    finally:
        env.close()


def test_balance_is_robot_data_and_the_old_expert_table_still_loads():
    assert robots.get("flywheel_humanoid").balance.ankle_gain == 0.3
    assert robots.get("mujoco_humanoid").balance.ankle_gain == 0.6  # the default
    base = {"name": "b", "model": "x.urdf", "kind": "humanoid", "joints": ["a"], "fixed_base": False}
    with pytest.warns(FutureWarning, match=r"\[expert.balance\] is deprecated; rename the table \[balance\]"):
        old = spec_from_dict({**base, "expert": {"balance": {"ankle_gain": 0.3, "ankle_damping": 0.05}}})
    assert old.balance == spec_from_dict({**base, "balance": {"ankle_gain": 0.3, "ankle_damping": 0.05}}).balance
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec_from_dict({**base, "expert": {}})  # what RobotSpec.to_dict() used to write: no warning
    with pytest.raises(SpecError, match="field 'balance.ankle_gian': unknown field"):
        spec_from_dict({**base, "balance": {"ankle_gian": 0.3}})
    with pytest.raises(SpecError, match="field 'expert': deprecated"):
        spec_from_dict({**base, "expert": {"reach": {"speed": 1.0}}})


def test_static_validation_without_a_simulator_skips_the_simulation_checks():
    from flywheel.robots import validate as static
    from flywheel.sim import robot_checks

    spec = robots.get("panda")
    saved = static._simulation_checks
    static.use_simulation_checks(None)
    try:
        checks = static.validate(spec)
    finally:
        static.use_simulation_checks(saved)
    assert [c.name for c in checks if c.status == "skip"] == static.simulation_check_names(spec)
    full = robot_checks.validate(spec, seconds=0.5, reach_targets=1)
    assert [c.name for c in full][-4:] == static.simulation_check_names(spec) and static.overall(full) != "fail"

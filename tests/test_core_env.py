"""The core promises of `RobotTaskEnv`: Gymnasium-valid, deterministic, isolated, and clear about bad input."""
import multiprocessing as mp
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import flywheel  # noqa: F401  (registers the ids)
from flywheel import robots
from flywheel.collectors.policies import expert
from flywheel.collectors.collection.recorder import run_episode
from flywheel.robots.spec import SpecError
from flywheel.sim import RobotTaskEnv, TaskNotApplicable, make_env

PANDA_SPEC = Path(robots.get("panda").source)


def rollout(env, seed, steps=15, actions_seed=123):
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(actions_seed)
    trace = [np.concatenate([v.ravel() for k, v in sorted(obs.items()) if k != "images"])]
    for _ in range(steps):
        action = rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32)
        obs, *_ = env.step(action)
        trace.append(np.concatenate([v.ravel() for k, v in sorted(obs.items()) if k != "images"]))
    return np.stack(trace)


@pytest.mark.parametrize("env_id", ["flywheel/Reach-v0", "flywheel/PickPlace-v0"])
@pytest.mark.parametrize("mode", ["joint_pos", "ee_delta"])
def test_check_env_panda(env_id, mode):
    env = gym.make(env_id, robot="panda", control_mode=mode)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_observation_layout_is_canonical():
    env = gym.make("flywheel/PickPlace-v0", robot="panda")
    obs, info = env.reset(seed=0)
    assert obs["ee"].shape == (16,) and obs["ee_mask"].tolist() == [1.0, 0.0]
    assert obs["state"].shape == (2 * 9,)
    assert info["is_success"] is False
    _, _, _, _, info = env.step(env.action_space.sample())
    assert info["action_ee"].shape == (14,) and info["action_ee"].dtype == np.float32
    env.close()


def test_same_seed_same_episode_bit_for_bit_even_after_other_episodes():
    a = make_env("pick_place", robot="panda")
    b = make_env("pick_place", robot="panda")
    for s in range(3):  # a has a history, b is fresh: the seed alone must decide the episode
        rollout(a, seed=100 + s)
    first, second = rollout(a, seed=7), rollout(b, seed=7)
    assert first.dtype == np.float64
    assert np.array_equal(first, second)
    assert not np.array_equal(first, rollout(b, seed=8))
    a.close(), b.close()


def test_two_envs_in_one_process_do_not_share_state():
    alone = rollout(make_env("reach", robot="panda"), seed=3)
    a, b = make_env("reach", robot="panda"), make_env("pick_place", robot="panda")
    a.reset(seed=3)
    b.reset(seed=4)
    interleaved = rollout(a, seed=3, steps=0)
    rng = np.random.default_rng(123)
    trace = [interleaved[0]]
    for _ in range(15):
        b.step(b.action_space.sample())  # disturb the other env between every step
        action = rng.uniform(a.action_space.low, a.action_space.high).astype(np.float32)
        obs, *_ = a.step(action)
        trace.append(np.concatenate([v.ravel() for k, v in sorted(obs.items())]))
    assert np.array_equal(alone, np.stack(trace))


def _rollout_in_subprocess(queue):
    queue.put(rollout(make_env("reach", robot="panda"), seed=5))


def test_envs_in_two_processes_match_in_process():
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_rollout_in_subprocess, args=(queue,)) for _ in range(2)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    local = rollout(make_env("reach", robot="panda"), seed=5)
    assert all(np.array_equal(local, r) for r in results)


@pytest.mark.parametrize("task,n,minimum", [("reach", 20, 19), ("pick_place", 12, 11)])
def test_panda_expert_success(task, n, minimum):
    env = make_env(task, robot="panda")
    policy = expert(task, env)
    successes = sum(run_episode(env, policy, seed).success for seed in range(n))
    assert successes >= minimum, f"{task}: expert succeeded {successes}/{n}"


def test_random_policy_rarely_succeeds_at_pick_place():
    from flywheel.collectors.policies import RandomPolicy

    env = make_env("pick_place", robot="panda")
    policy = RandomPolicy(env.unwrapped)
    assert sum(run_episode(env, policy, s).success for s in range(3)) == 0  # success is measured, not assumed


# ---- bad input ----------------------------------------------------------------------------------
def test_unknown_robot_lists_available():
    with pytest.raises(KeyError, match="unknown robot 'nao'.*available robots:.*panda"):
        gym.make("flywheel/Reach-v0", robot="nao")


def test_unknown_task_lists_available():
    with pytest.raises(KeyError, match="unknown task 'juggle'.*reach.*pick_place.*balance"):
        RobotTaskEnv(robot="panda", task="juggle")


def test_unknown_camera_lists_available():
    with pytest.raises(ValueError, match="unknown camera 'nose'.*available cameras: front, wrist"):
        gym.make("flywheel/Reach-v0", robot="panda", camera="nose")


def test_unknown_control_mode():
    with pytest.raises(ValueError, match="unknown control_mode 'torque'.*joint_pos, ee_delta"):
        RobotTaskEnv(robot="panda", task="reach", control_mode="torque")


def _spec_variant(tmp_path, edit) -> Path:
    text = PANDA_SPEC.read_text().replace('model = "pybullet_data://', 'model = "pybullet_data://')
    text = edit(text)
    path = tmp_path / "variant.toml"
    path.write_text(text)
    return path


def test_robot_without_gripper_refuses_pick_place(tmp_path):
    def drop_gripper(text):
        head, tail = text.split("[grippers.right_hand]")
        return head + tail.split("\n\n", 1)[1]

    path = _spec_variant(tmp_path, drop_gripper)
    with pytest.raises(TaskNotApplicable, match="needs a gripper.*'panda'.*arm"):
        gym.make("flywheel/PickPlace-v0", robot=str(path))
    gym.make("flywheel/Reach-v0", robot=str(path)).close()  # reach still works


@pytest.mark.parametrize("edit,field,message", [
    (lambda t: t.replace('kind = "arm"\n', ""), "kind", "missing"),
    (lambda t: t.replace('kind = "arm"', 'knd = "arm"'), "knd", "unknown field"),
    (lambda t: t.replace('kind = "arm"', 'kind = "octopus"'), "kind", "not a kind"),
    (lambda t: t.replace('"panda_joint7", "panda_finger_joint1"', '"panda_joint7", "panda_joint99", "panda_finger_joint1"'),
     "joints", "'panda_joint99' is not in the model"),
    (lambda t: t.replace("panda_joint4 = -2.2", "panda_joint4 = 1.0"), "home.panda_joint4", "outside the joint limits"),
    (lambda t: t.replace("panda_joint1 = 0.0", "panda_joint1 = 0.0\nwrist_joint = 0.0"), "home.wrist_joint", "not an actuated joint"),
    (lambda t: t.replace('link = "panda_hand"\noffset', 'link = "panda_palm"\noffset'), "end_effectors.right_hand", "'panda_palm' is not in the model"),
    (lambda t: t.replace("franka_panda/panda.urdf", "franka_panda/missing.urdf"), "model", "does not exist"),
    (lambda t: t + "\n[[gains]\n", "<file>", "not valid TOML"),
])
def test_bad_spec_names_file_and_field(tmp_path, edit, field, message):
    path = _spec_variant(tmp_path, edit)
    with pytest.raises(SpecError) as err:
        RobotTaskEnv(robot=str(path), task="reach")
    assert str(path) in str(err.value) and f"field '{field}'" in str(err.value) and message in str(err.value)


def test_registry_lists_builtin_robots():
    assert "panda" in robots.names()
    spec = robots.get("panda")
    assert spec.kind == "arm" and spec.hands == ("right_hand",) and spec.fixed_base


def _expert_trace(env, policy, seed):
    obs, _ = env.reset(seed=seed)
    policy.reset(seed)
    trace, done = [], False
    while not done:
        action = policy.act(obs)
        trace.append(action)
        obs, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
    return np.stack(trace)


def test_expert_episode_does_not_depend_on_the_episodes_before_it():
    """A worker runs many episodes with one env and one expert: episode k must equal a fresh run of seed S+k."""
    used_env = make_env("pick_place", robot="panda")
    used = expert("pick_place", used_env)
    for seed in (11, 12):
        _expert_trace(used_env, used, seed)
    fresh_env = make_env("pick_place", robot="panda")
    assert np.array_equal(_expert_trace(used_env, used, 5), _expert_trace(fresh_env, expert("pick_place", fresh_env), 5))


@pytest.mark.parametrize("hz", [0, -5, 7, "20", 1e9, float("nan"), True])
def test_control_rate_must_divide_the_physics_rate(hz):
    """control_hz=0 used to divide by zero and -5 froze the physics (negative substeps) silently."""
    with pytest.raises(ValueError, match="control_hz=.* must be a whole number of Hz that divides the physics rate"):
        RobotTaskEnv(robot="panda", task="reach", control_hz=hz)

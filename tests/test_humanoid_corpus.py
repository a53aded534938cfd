"""The development corpus of humanoids (`flywheel.robots.corpus`): real models from `example-robot-data` (a test
extra; those cases skip where it is absent) and variants of our generator, each through `flywheel robots add` and the
scripted experts. Plus the hand inference every multi-finger humanoid relies on (a synthetic three-finger hand).

The per-model cases are `slow` (each adds a robot, tuning included, then runs a few episodes); the README table is
written by `scripts/humanoid_table.py` with more seeds.
"""
from __future__ import annotations

import numpy as np
import pytest

from flywheel.cli import main as flywheel_main
from flywheel.collectors.policies import expert
from flywheel.robots.corpus import ERD_HUMANOIDS, GENERATED, corpus, erd_root
from flywheel.robots.hands import finger_roots, power_grasp
from flywheel.robots.infer import infer_spec
from flywheel.robots.spec import load_spec
from flywheel.robots.urdf import parse_urdf
from flywheel.sim.env import RobotTaskEnv

SEEDS = 3


def episodes_won(spec, task: str, seeds: int, hand: str | None = None) -> int:
    env = RobotTaskEnv(robot=spec, task=task)
    try:
        if hand is not None:
            env.robot.reset()
            env.task.hand, env.task.center = hand, env.robot.ee_world_pose(hand)[0]
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
    finally:
        env.close()


# Measured and not yet met (issue 13): iCub falls in the `stands` check after 0.3 s (tilted 65 deg) and G1 keeps its
# balance on 1 of 3 seeds. Not strict: they are the open work, and a fix should show up as an XPASS, not break CI.
KNOWN_SHORT = {"icub": "falls in the stands check after 0.3 s", "g1": "balances on 1 of 3 seeds"}


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN_SHORT[n], strict=False))
                                  if n in KNOWN_SHORT else n for n in [*ERD_HUMANOIDS, *GENERATED]])
def test_corpus_humanoid_is_added_stands_reaches_and_balances(name, tmp_path):
    if name in ERD_HUMANOIDS and erd_root() is None:
        pytest.skip("example-robot-data is not installed (pip install example-robot-data, in the test extra)")
    robot = next(r for r in corpus(tmp_path / "urdf") if r.name == name)
    argv = ["robots", "add", str(robot.urdf), "--name", name, "--out", str(tmp_path / "specs")]
    for d in robot.package_dir_args():
        argv += ["--package-dir", d]
    assert flywheel_main(argv) == 0  # no failed check: loads, stands, random targets, reach with each hand
    spec = load_spec(tmp_path / "specs" / f"{name}.toml")
    assert spec.whole_body is not None and spec.stand == "balance"
    for hand in spec.hands:
        assert episodes_won(spec, "reach", SEEDS, hand) >= SEEDS - 1, hand
    assert episodes_won(spec, "balance", SEEDS) >= SEEDS - 1


FINGER_LINK = ('<link name="{n}"><inertial><mass value="0.05"/><inertia ixx="1e-5" iyy="1e-5" izz="1e-5" ixy="0" '
               'ixz="0" iyz="0"/></inertial><collision><geometry><box size="0.015 0.015 0.04"/></geometry>'
               '<origin xyz="0 0 -0.02"/></collision></link>')
FINGER_JOINT = ('<joint name="{n}" type="revolute"><parent link="{p}"/><child link="{c}"/><origin xyz="{xyz}"/>'
                '<axis xyz="{axis}"/><limit lower="{lo}" upper="{hi}" effort="2" velocity="2"/></joint>')


def three_finger_arm() -> str:
    """A fixed 4-joint arm ending in a palm with a thumb and two fingers (two joints each) curling about y."""
    parts = ['<?xml version="1.0"?>\n<robot name="tri">', FINGER_LINK.format(n="base")]
    parent = "base"
    for i, axis in enumerate(["0 0 1", "0 1 0", "0 1 0", "1 0 0"]):
        parts += [FINGER_LINK.format(n=f"arm{i}"),
                  FINGER_JOINT.format(n=f"arm_joint{i}", p=parent, c=f"arm{i}", xyz="0 0 0.2", axis=axis, lo=-2, hi=2)]
        parent = f"arm{i}"
    parts += [FINGER_LINK.format(n="palm"), '<joint name="wrist" type="fixed"><parent link="arm3"/><child link="palm"/>'
              '<origin xyz="0 0 0.1"/></joint>']
    for name, x, y, sign in (("thumb", -0.03, 0.0, -1), ("index", 0.03, 0.02, 1), ("middle", 0.03, -0.02, 1)):
        parts += [FINGER_LINK.format(n=f"{name}_finger_1"), FINGER_LINK.format(n=f"{name}_finger_tip"),
                  FINGER_JOINT.format(n=f"{name}_finger_joint_1", p="palm", c=f"{name}_finger_1", xyz=f"{x} {y} 0.05",
                                      axis="0 1 0", lo=min(0, -1.5 * sign), hi=max(0, -1.5 * sign)),
                  FINGER_JOINT.format(n=f"{name}_finger_joint_2", p=f"{name}_finger_1", c=f"{name}_finger_tip",
                                      xyz="0 0 0.04", axis="0 1 0", lo=min(0, -1.5 * sign), hi=max(0, -1.5 * sign))]
    return "\n".join(parts + ["</robot>"]) + "\n"


def test_a_three_finger_hand_closes_as_one_power_grasp(tmp_path):
    path = tmp_path / "tri.urdf"
    path.write_text(three_finger_arm())
    model = parse_urdf(path)
    assert finger_roots(model, "palm", [f"{n}_finger_joint_{k}" for n in ("thumb", "index", "middle") for k in (1, 2)]) \
        == ["index_finger_joint_1", "middle_finger_joint_1", "thumb_finger_joint_1"]
    spec = infer_spec(model, compute_base_height=False).spec
    grip = spec["grippers"]["right_hand"]
    assert len(grip["joints"]) == 6
    q_open = {j: v for j, v in zip(grip["joints"], grip["open"])}
    q_closed = {j: v for j, v in zip(grip["joints"], grip["closed"])}
    tips = ["thumb_finger_tip", "index_finger_tip", "middle_finger_tip"]

    def spread(q):
        poses = model.fk(q)
        pts = [poses[t][:3, 3] for t in tips]
        return sum(np.linalg.norm(a - b) for i, a in enumerate(pts) for b in pts[i + 1:])

    assert spread(q_closed) < 0.7 * spread(q_open)  # closing wraps the fingertips together
    two = power_grasp(model, "palm", {"joints": ["index_finger_joint_1", "middle_finger_joint_1"], "tips": tips[1:],
                                      "open": [0.0, 0.0], "closed": [-1.5, -1.5]}, {}, {})
    assert two["open"] == [0.0, 0.0] and "fingers" not in two  # two fingers: a gripper, left as inferred

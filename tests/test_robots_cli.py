"""`flywheel robots list | add | check` end to end, on small generated robots (fast) and package layouts."""
from __future__ import annotations

import math
import os
import re
import tomllib
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import flywheel  # noqa: F401  (registers the gymnasium ids)
from flywheel import robots
from flywheel.cli import main


# ---- a small arm with a two-finger gripper, primitives only ---------------------------------------------
def _cyl_inertia(m, r, h):
    side = m * (3 * r * r + h * h) / 12
    return f'<inertia ixx="{side:.6g}" iyy="{side:.6g}" izz="{m * r * r / 2:.6g}" ixy="0" ixz="0" iyz="0"/>'


def _link(name, m, r, h, mesh: str | None = None):
    shape = f'<mesh filename="{mesh}"/>' if mesh else f'<cylinder radius="{r}" length="{h}"/>'
    return (f'<link name="{name}"><inertial><origin xyz="0 0 {h / 2}"/><mass value="{m}"/>{_cyl_inertia(m, r, h)}</inertial>'
            f'<visual><origin xyz="0 0 {h / 2}"/><geometry>{shape}</geometry></visual>'
            f'<collision><origin xyz="0 0 {h / 2}"/><geometry>{shape}</geometry></collision></link>')


def _joint(name, parent, child, z, axis, lo, hi, effort, jtype="revolute", extra=""):
    return (f'<joint name="{name}" type="{jtype}"><parent link="{parent}"/><child link="{child}"/>'
            f'<origin xyz="0 0 {z}"/><axis xyz="{axis}"/>'
            f'<limit lower="{lo}" upper="{hi}" effort="{effort}" velocity="2"/>{extra}</joint>')


def toy_arm_urdf(name="toy_arm", mesh: str | None = None) -> str:
    """6-DoF arm, 0.95 m tall, with prismatic fingers (the second mimics the first)."""
    parts = [
        _link("base", 4.0, 0.08, 0.1, mesh),
        _link("shoulder", 2.0, 0.05, 0.15),
        _link("upper_arm", 2.0, 0.04, 0.35),
        _link("forearm", 1.2, 0.035, 0.3),
        _link("wrist_1", 0.4, 0.03, 0.05),
        _link("wrist_2", 0.4, 0.03, 0.05),
        _link("hand", 0.5, 0.04, 0.04),
        '<link name="left_finger"><inertial><origin xyz="0 0 0.025"/><mass value="0.05"/>'
        '<inertia ixx="1e-5" iyy="1e-5" izz="1e-6" ixy="0" ixz="0" iyz="0"/></inertial>'
        '<collision><origin xyz="0 0 0.025"/><geometry><box size="0.01 0.02 0.05"/></geometry></collision></link>',
        '<link name="right_finger"><inertial><origin xyz="0 0 0.025"/><mass value="0.05"/>'
        '<inertia ixx="1e-5" iyy="1e-5" izz="1e-6" ixy="0" ixz="0" iyz="0"/></inertial>'
        '<collision><origin xyz="0 0 0.025"/><geometry><box size="0.01 0.02 0.05"/></geometry></collision></link>',
        _joint("joint_1", "base", "shoulder", 0.1, "0 0 1", -2.9, 2.9, 80),
        _joint("joint_2", "shoulder", "upper_arm", 0.15, "0 1 0", -2.0, 2.0, 80),
        _joint("joint_3", "upper_arm", "forearm", 0.35, "0 1 0", -2.6, 2.6, 40),
        _joint("joint_4", "forearm", "wrist_1", 0.3, "0 0 1", -2.9, 2.9, 10),
        _joint("joint_5", "wrist_1", "wrist_2", 0.05, "0 1 0", -2.0, 2.0, 10),
        _joint("joint_6", "wrist_2", "hand", 0.05, "0 0 1", -2.9, 2.9, 10),
        _joint("finger_joint_left", "hand", "left_finger", 0.04, "0 1 0", 0.0, 0.04, 20, "prismatic"),
        _joint("finger_joint_right", "hand", "right_finger", 0.04, "0 -1 0", 0.0, 0.04, 20, "prismatic",
               '<mimic joint="finger_joint_left" multiplier="1" offset="0"/>'),
    ]
    return f'<?xml version="1.0"?>\n<robot name="{name}">\n' + "\n".join(parts) + "\n</robot>\n"


CUBE_OBJ = "\n".join([*(f"v {x} {y} {z}" for x in (-0.08, 0.08) for y in (-0.08, 0.08) for z in (0.0, 0.1)),
                      "f 1 2 4 3", "f 5 7 8 6", "f 1 5 6 2", "f 3 4 8 7", "f 1 3 7 5", "f 2 6 8 4"]) + "\n"


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """A private user robots folder (XDG_CONFIG_HOME) and no FLYWHEEL_ROBOTS_PATH."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("FLYWHEEL_ROBOTS_PATH", raising=False)
    return tmp_path / "config" / "flywheel" / "robots"


def _rows(out: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^(\S+)\s+(pass|warn|fail|skip)\s+(.*)$", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


# ---- tests --------------------------------------------------------------------------------------------
def test_list_shows_builtin_robots(user_dir, capsys):
    assert main(["robots", "list"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header == ["name", "kind", "joints", "end-effectors", "grippers", "model"]
    assert re.search(r"^panda\s+arm\s+9\s+right_hand=panda_hand\s+right_hand\s+pybullet_data://", out, re.M), out


def test_add_writes_a_commented_spec_validates_it_and_gymnasium_finds_it(user_dir, tmp_path, capsys):
    urdf = tmp_path / "models" / "toy_arm.urdf"
    urdf.parent.mkdir()
    urdf.write_text(toy_arm_urdf())
    rc = main(["robots", "add", str(urdf)])
    out = capsys.readouterr().out
    assert rc == 0, out
    spec_path = user_dir / "toy_arm.toml"
    text = spec_path.read_text()
    assert f'model = "{urdf.resolve()}"' in text  # the absolute path of the URDF
    assert text.count("# guess:") >= 6
    spec = robots.load_spec(spec_path)
    assert spec.kind == "arm" and spec.fixed_base
    assert spec.joints == ("joint_1", "joint_2", "joint_3", "joint_4", "joint_5", "joint_6", "finger_joint_left")
    assert spec.mimic["finger_joint_right"].joint == "finger_joint_left"
    assert spec.end_effectors["right_hand"].link == "hand"
    assert spec.grippers["right_hand"].open == (0.04,) and spec.grippers["right_hand"].closed == (0.0,)
    assert spec.home["finger_joint_left"] == 0.04
    assert {g.max_force for g in spec.gains} == {80.0, 40.0, 10.0, 20.0}  # from <limit effort>
    rows = _rows(out)
    assert [r for r in rows] == ["meshes", "inertia", "loads", "holds_home", "random_targets", "reach.right_hand"]
    assert all(status == "pass" for status, _ in rows.values()), out
    assert 'gymnasium.make("flywheel/Reach-v0", robot="toy_arm")' in out

    # the registry finds it by name: robots list, gymnasium.make, the scripted expert
    assert main(["robots", "list"]) == 0
    assert re.search(r"^toy_arm\s+arm\s+7\s+right_hand=hand\s+right_hand\s", capsys.readouterr().out, re.M)
    env = gym.make("flywheel/Reach-v0", robot="toy_arm")
    try:
        from flywheel.collectors.policies import expert

        policy = expert("reach", env)
        obs, info = env.reset(seed=3)
        policy.reset(3)
        for _ in range(50):
            obs, reward, terminated, truncated, info = env.step(policy.act(obs))
            if terminated or truncated:
                break
        assert info["is_success"]
    finally:
        env.close()

    # check re-runs the validation
    assert main(["robots", "check", "toy_arm"]) == 0
    out = capsys.readouterr().out
    assert "result: PASS" in out and _rows(out)["reach.right_hand"][0] == "pass"


def test_check_after_an_edit_reports_the_failure_and_the_fix(user_dir, tmp_path, capsys):
    urdf = tmp_path / "toy_arm.urdf"
    urdf.write_text(toy_arm_urdf())
    assert main(["robots", "add", str(urdf), "--no-validate"]) == 0
    capsys.readouterr()
    spec_path = user_dir / "toy_arm.toml"
    weak = re.sub(r"^max_force = .*$", "max_force = 0.01", spec_path.read_text(), flags=re.M)
    spec_path.write_text(weak)
    assert main(["robots", "check", "toy_arm"]) == 1
    out = capsys.readouterr().out
    status, rest = _rows(out)["holds_home"]
    assert status == "fail" and "max_force" in rest
    assert "result: FAIL" in out


def test_add_refuses_to_overwrite_or_shadow_without_force(user_dir, tmp_path, capsys):
    urdf = tmp_path / "toy_arm.urdf"
    urdf.write_text(toy_arm_urdf())
    assert main(["robots", "add", str(urdf), "--no-validate"]) == 0
    capsys.readouterr()
    assert main(["robots", "add", str(urdf), "--no-validate"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["robots", "add", str(urdf), "--no-validate", "--name", "panda"]) == 2  # a built-in
    err = capsys.readouterr().err
    assert "'panda' already exists" in err and "--name" in err
    assert main(["robots", "add", str(urdf), "--no-validate", "--force"]) == 0
    assert main(["robots", "add", str(urdf), "--no-validate", "--name", "bad name!"]) == 2


def test_overrides_and_out_dir(user_dir, tmp_path, capsys, monkeypatch):
    urdf = tmp_path / "toy_arm.urdf"
    urdf.write_text(toy_arm_urdf())
    out_dir = tmp_path / "elsewhere"
    assert main(["robots", "add", str(urdf), "--no-validate", "--out", str(out_dir), "--name", "floaty",
                 "--kind", "humanoid", "--floating-base", "--inertia-from-geometry"]) == 0
    out = capsys.readouterr().out
    assert "FLYWHEEL_ROBOTS_PATH" in out  # the folder is not searched: say how to make it so
    spec = robots.load_spec(out_dir / "floaty.toml")
    assert spec.kind == "humanoid" and not spec.fixed_base and spec.base_height > 0 and not spec.inertia_from_file
    monkeypatch.setenv("FLYWHEEL_ROBOTS_PATH", str(out_dir))
    assert robots.get("floaty").source == str(out_dir / "floaty.toml")


def test_check_unknown_robot(user_dir, capsys):
    assert main(["robots", "check", "no_such_robot"]) == 2
    err = capsys.readouterr().err
    assert "unknown robot 'no_such_robot'" in err and "panda" in err and "Traceback" not in err


def _package(root: Path, name: str) -> Path:
    """A ROS-style package: NAME/urdf/toy.urdf and NAME/meshes/base.obj, meshes named package://NAME/..."""
    pkg = root / name
    (pkg / "urdf").mkdir(parents=True)
    (pkg / "meshes").mkdir()
    (pkg / "meshes" / "base.obj").write_text(CUBE_OBJ)
    urdf = pkg / "urdf" / "toy.urdf"
    urdf.write_text(toy_arm_urdf("pkg_arm", mesh=f"package://{name}/meshes/base.obj"))
    return urdf


def test_package_uris_resolve_from_parent_folders(user_dir, tmp_path, capsys):
    urdf = _package(tmp_path / "ws" / "src", "toy_description")
    rc = main(["robots", "add", str(urdf)])
    out = capsys.readouterr().out
    assert rc == 0, out
    spec = robots.get("pkg_arm")
    # PyBullet cannot search package folders, so the spec points at a copy whose meshes are absolute paths
    model = Path(spec.model)
    assert model.is_file() and model != urdf.resolve()
    assert str((urdf.parent.parent / "meshes" / "base.obj").resolve()) in model.read_text()
    rows = _rows(out)
    assert rows["meshes"][0] == "pass" and rows["loads"][0] == "pass", out


def test_package_dir_option(user_dir, tmp_path, capsys):
    _package(tmp_path / "other_place", "toy_description")
    lone = tmp_path / "lonely" / "toy.urdf"  # the URDF moved away from its package
    lone.parent.mkdir()
    lone.write_text(toy_arm_urdf("pkg_arm", mesh="package://toy_description/meshes/base.obj"))
    assert main(["robots", "add", str(lone), "--no-validate"]) == 2
    err = capsys.readouterr().err
    assert "toy_description" in err and "--package-dir toy_description=PATH" in err and "toy.urdf" in err
    assert main(["robots", "add", str(lone), "--no-validate",
                 "--package-dir", f"toy_description={tmp_path / 'other_place' / 'toy_description'}"]) == 0
    spec = robots.get("pkg_arm")
    assert "package://" not in Path(spec.model).read_text()


def test_file_names_never_reach_a_shell(user_dir, tmp_path, capsys, monkeypatch):
    weird = tmp_path / "we ird $(touch PWNED) `touch PWNED2`; echo"
    weird.mkdir()
    (weird / "mesh $(touch PWNED3).obj").write_text(CUBE_OBJ)
    urdf = weird / "arm;rm -rf x.urdf"
    urdf.write_text(toy_arm_urdf("shell_arm", mesh="mesh $(touch PWNED3).obj"))
    monkeypatch.chdir(tmp_path)
    assert main(["robots", "add", str(urdf), "--no-validate"]) == 0
    capsys.readouterr()
    assert main(["robots", "check", "shell_arm"]) in (0, 1)
    out = capsys.readouterr().out
    assert _rows(out)["loads"][0] == "pass" and _rows(out)["meshes"][0] == "pass", out
    assert not [p for p in tmp_path.rglob("PWNED*")]
    assert robots.get("shell_arm").model == str(urdf.resolve())


def test_home_pose_is_a_ready_pose(user_dir, tmp_path, capsys):
    """The arm's zero pose is straight up (singular): the inferred home bends it so targets around the hand are reachable."""
    urdf = tmp_path / "toy_arm.urdf"
    urdf.write_text(toy_arm_urdf())
    assert main(["robots", "add", str(urdf), "--no-validate"]) == 0
    spec = tomllib.loads((user_dir / "toy_arm.toml").read_text())
    bends = [abs(spec["home"].get(j, 0.0)) for j in ("joint_2", "joint_3", "joint_5")]
    assert max(bends) > 0.3
    assert all(math.isfinite(v) for v in spec["home"].values())
    assert np.isfinite(list(spec["home"].values())).all()
    assert os.path.basename(str(urdf)) in spec["description"]


def test_a_humanoid_urdf_becomes_a_standing_humanoid_with_hands(user_dir, tmp_path, capsys):
    """The project's own humanoid, added from its URDF as if it were new: legs, hands, grippers, all inferred."""
    model = Path(robots.__file__).resolve().parent / "models" / "flywheel_humanoid.urdf"
    rc = main(["robots", "add", str(model), "--name", "humanoid_from_urdf"])
    out = capsys.readouterr().out
    assert rc == 0, out
    spec = robots.get("humanoid_from_urdf")
    assert spec.kind == "humanoid" and not spec.fixed_base and 0.8 < spec.base_height < 1.2
    assert {k: v.link for k, v in spec.end_effectors.items()} == {
        "right_hand": "r_hand", "left_hand": "l_hand", "right_foot": "r_foot", "left_foot": "l_foot"}
    assert spec.grippers["right_hand"].joints == ("r_finger_1", "r_finger_2")
    assert spec.end_effectors["right_hand"].ik_joints[0] == "r_shoulder_pitch"  # the arm starts where it leaves the torso
    rows = _rows(out)
    assert rows["stands"][0] == "pass" and rows["reach.right_hand"][0] == "pass" and rows["reach.left_hand"][0] == "pass", out

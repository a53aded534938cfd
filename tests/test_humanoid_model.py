"""The project's own humanoid: the checked-in URDF is what the generator makes, it is a physically
valid 1.6-1.8 m, 50-70 kg robot with the joint names the rest of the code relies on, its spec
agrees with it, and it stands on its own PD motors, the way the runtime drives it."""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pybullet as p
import pybullet_data
import pytest

from flywheel import robots
from flywheel.robots import humanoid_urdf
from flywheel.robots.humanoid_urdf import MODEL_PATH, generate_humanoid_urdf

SIDES = ("l", "r")
LEG = ("hip_yaw", "hip_roll", "hip_pitch", "knee", "ankle_pitch", "ankle_roll")
ARM = ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow", "wrist_yaw", "wrist_pitch", "wrist_roll")
FINGERS = ("finger_1", "finger_2")
EXPECTED_JOINTS = {
    "waist_yaw", "neck_yaw", "neck_pitch",
    *(f"{s}_{j}" for s in SIDES for j in LEG + ARM + FINGERS),
}
DT = 1.0 / 240.0


@pytest.fixture(scope="module")
def spec() -> robots.RobotSpec:
    return robots.get("flywheel_humanoid")


@pytest.fixture()
def client() -> Iterator[int]:
    """Each test gets its own DIRECT client, as every env does: nothing leaks between tests."""
    cid = p.connect(p.DIRECT)
    p.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=cid)
    yield cid
    p.disconnect(cid)


def _joints(body: int, cid: int) -> dict[str, int]:
    count = p.getNumJoints(body, physicsClientId=cid)
    return {p.getJointInfo(body, j, physicsClientId=cid)[1].decode(): j for j in range(count)}


def _links(body: int, cid: int) -> dict[str, int]:
    count = p.getNumJoints(body, physicsClientId=cid)
    return {"pelvis": -1, **{p.getJointInfo(body, j, physicsClientId=cid)[12].decode(): j for j in range(count)}}


def _actuated(root: ET.Element) -> set[str]:
    return {j.get("name") for j in root.iter("joint") if j.get("type") != "fixed"}  # type: ignore[misc]


def _mass(link: ET.Element) -> float:
    return float(link.find("inertial/mass").get("value"))  # type: ignore[union-attr,arg-type]


def _total_mass(root: ET.Element) -> float:
    return sum(_mass(link) for link in root.iter("link"))


def _height(path: Path, cid: int) -> float:
    """Head top to sole in the zero pose, from PyBullet's collision bounding boxes."""
    body = p.loadURDF(str(path), physicsClientId=cid)
    count = p.getNumJoints(body, physicsClientId=cid)
    boxes = [p.getAABB(body, link, physicsClientId=cid) for link in range(-1, count)]
    return max(b[1][2] for b in boxes) - min(b[0][2] for b in boxes)


def _set_home(body: int, spec: robots.RobotSpec, cid: int) -> None:
    joints = _joints(body, cid)
    for name, value in spec.home.items():
        p.resetJointState(body, joints[name], value, physicsClientId=cid)


# ---- the generated file ---------------------------------------------------------------------------
def test_regenerating_gives_the_checked_in_file_byte_for_byte() -> None:
    assert MODEL_PATH.read_bytes() == generate_humanoid_urdf().encode()
    assert humanoid_urdf.main(["--check"]) == 0


def test_check_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "humanoid.urdf"
    stale.write_text(generate_humanoid_urdf(height=1.65))
    assert humanoid_urdf.main(["--check", "--out", str(stale)]) == 1


def test_joint_and_link_names() -> None:
    root = ET.parse(MODEL_PATH).getroot()
    assert _actuated(root) == EXPECTED_JOINTS
    assert len(EXPECTED_JOINTS) == 33
    links = {link.get("name") for link in root.iter("link")}
    for s in SIDES:
        assert {f"{s}_foot", f"{s}_hand", f"{s}_tcp", f"{s}_finger_1_link", f"{s}_finger_2_link"} <= links
    assert {"pelvis", "torso", "head"} <= links
    tcp_joints = {j.get("name"): j for j in root.iter("joint") if j.get("type") == "fixed"}
    assert set(tcp_joints) == {"l_tcp_joint", "r_tcp_joint"}
    assert all(j.find("parent").get("link").endswith("_hand") for j in tcp_joints.values())  # type: ignore[union-attr]


def test_variants_drop_the_right_joints_and_keep_the_mass(tmp_path: Path, client: int) -> None:
    root = ET.fromstring(generate_humanoid_urdf(arm_dof=6, grippers=False))
    assert _actuated(root) == EXPECTED_JOINTS - {f"{s}_{j}" for s in SIDES for j in ("wrist_yaw", *FINGERS)}
    assert {link.get("name") for link in root.iter("link")} >= {"l_tcp", "r_tcp", "l_hand", "r_hand"}
    assert _total_mass(root) == pytest.approx(60.0, abs=1e-6)
    small = tmp_path / "small.urdf"
    small.write_text(generate_humanoid_urdf(height=1.6, mass=50.0))
    assert _total_mass(ET.parse(small).getroot()) == pytest.approx(50.0, abs=1e-6)
    assert _height(small, client) == pytest.approx(1.6, abs=0.01)


# ---- physical plausibility -------------------------------------------------------------------------
def test_total_mass_and_height_are_those_of_a_full_size_humanoid(client: int) -> None:
    root = ET.parse(MODEL_PATH).getroot()
    assert 50.0 <= _total_mass(root) <= 70.0
    assert 1.6 <= _height(MODEL_PATH, client) <= 1.8


def test_every_link_has_a_positive_mass_and_a_physically_valid_inertia() -> None:
    for link in ET.parse(MODEL_PATH).getroot().iter("link"):
        name = link.get("name")
        mass = _mass(link)
        assert mass > 0, name
        if "finger" in name:  # type: ignore[operator]
            assert mass >= 0.05, name
        i = {k: float(v) for k, v in link.find("inertial/inertia").attrib.items()}  # type: ignore[union-attr]
        tensor = np.array([[i["ixx"], i["ixy"], i["ixz"]], [i["ixy"], i["iyy"], i["iyz"]], [i["ixz"], i["iyz"], i["izz"]]])
        moments = np.linalg.eigvalsh(tensor)
        assert moments.min() > 0, f"{name}: inertia not positive definite"
        assert all(m <= sum(moments) - m + 1e-12 for m in moments), f"{name}: moments break the triangle inequality"


# ---- the spec ----------------------------------------------------------------------------------------
def test_spec_loads_and_matches_the_model(spec: robots.RobotSpec, client: int) -> None:
    assert spec.name == "flywheel_humanoid" and spec.kind == "humanoid" and spec.floating
    assert spec.model_path() == MODEL_PATH
    assert set(spec.joints) == EXPECTED_JOINTS
    body = p.loadURDF(str(MODEL_PATH), physicsClientId=client)
    joints, links = _joints(body, client), _links(body, client)
    for name in spec.joints:
        info = p.getJointInfo(body, joints[name], physicsClientId=client)
        lower, upper, effort = info[8], info[9], info[10]
        assert lower <= spec.home.get(name, 0.0) <= upper, name
        assert 0 < spec.gains_for(name).max_force <= effort, f"{name}: motor force above the URDF effort"
    assert {ee.link for ee in spec.end_effectors.values()} == {"l_tcp", "r_tcp", "l_foot", "r_foot"}
    for s, hand in (("r", "right_hand"), ("l", "left_hand")):
        assert spec.end_effectors[hand].link == f"{s}_tcp"
        assert spec.end_effectors[hand].ik_joints == tuple(f"{s}_{j}" for j in ARM)
        assert spec.grippers[hand].joints == (f"{s}_finger_1", f"{s}_finger_2")
        assert spec.home[f"{s}_finger_1"] == spec.grippers[hand].open[0] > spec.grippers[hand].closed[0] == 0.0
    for name in [link for f in spec.friction for link in f.links] + [c.link for c in spec.cameras if c.link]:
        assert name in links, name
    assert "head" in {c.name for c in spec.cameras}


def test_base_height_is_the_forward_kinematics_of_the_home_pose(spec: robots.RobotSpec, client: int) -> None:
    """With the pelvis at z=0 in the home pose the soles lie flat at z=-base_height."""
    body = p.loadURDF(str(MODEL_PATH), physicsClientId=client)
    _set_home(body, spec, client)
    links = _links(body, client)
    for foot in ("l_foot", "r_foot"):
        low, high = p.getAABB(body, links[foot], physicsClientId=client)
        assert -low[2] == pytest.approx(spec.base_height, abs=1e-3)
        assert high[2] - low[2] == pytest.approx(0.045, abs=1e-4), "sole not flat"


# ---- dynamics --------------------------------------------------------------------------------------
def test_stands_on_its_pd_motors_through_a_small_push(spec: robots.RobotSpec, client: int) -> None:
    """Loaded at base_height in the home pose with the motors holding it: 5 s with a 100 N push."""
    p.setGravity(0, 0, -9.81, physicsClientId=client)
    p.setTimeStep(DT, physicsClientId=client)
    p.loadURDF("plane.urdf", physicsClientId=client)
    body = p.loadURDF(str(MODEL_PATH), [0, 0, spec.base_height], physicsClientId=client)
    joints, links = _joints(body, client), _links(body, client)
    for override in spec.friction:
        for link in override.links:
            p.changeDynamics(body, links[link], lateralFriction=override.lateral, spinningFriction=override.spinning,
                             physicsClientId=client)
    _set_home(body, spec, client)
    gains = [spec.gains_for(name) for name in spec.joints]
    p.setJointMotorControlArray(
        body, [joints[name] for name in spec.joints], p.POSITION_CONTROL,
        targetPositions=[spec.home.get(name, 0.0) for name in spec.joints],
        positionGains=[g.kp for g in gains], velocityGains=[g.kd for g in gains], forces=[g.max_force for g in gains],
        physicsClientId=client,
    )
    start = np.array(p.getBasePositionAndOrientation(body, physicsClientId=client)[0])
    worst_tilt = 0.0
    for step in range(int(5.0 / DT)):
        position, orientation = p.getBasePositionAndOrientation(body, physicsClientId=client)
        if 1.0 <= step * DT < 1.1:
            p.applyExternalForce(body, -1, (80.0, 60.0, 0.0), position, p.WORLD_FRAME, physicsClientId=client)
        p.stepSimulation(physicsClientId=client)
        up = p.getMatrixFromQuaternion(orientation)[8]
        worst_tilt = max(worst_tilt, math.degrees(math.acos(min(1.0, up))))
    end = np.array(p.getBasePositionAndOrientation(body, physicsClientId=client)[0])
    assert worst_tilt < 5.0
    assert abs(end[2] - start[2]) < 0.01
    assert np.linalg.norm((end - start)[:2]) < 0.02


def test_arm_jacobian_places_the_right_hand_on_the_table(spec: robots.RobotSpec, client: int) -> None:
    """Damped least squares on calculateJacobian over the 7 right-arm joints, pelvis standing at x=y=0."""
    body = p.loadURDF(str(MODEL_PATH), [0, 0, spec.base_height], physicsClientId=client)
    _set_home(body, spec, client)
    joints, links = _joints(body, client), _links(body, client)
    movable = [j for j in range(p.getNumJoints(body, physicsClientId=client))
               if p.getJointInfo(body, j, physicsClientId=client)[2] != p.JOINT_FIXED]
    arm = [joints[name] for name in spec.end_effectors["right_hand"].ik_joints]
    limits = np.array([p.getJointInfo(body, j, physicsClientId=client)[8:10] for j in arm])
    tcp, goal = links["r_tcp"], np.array([0.45, -0.2, 0.85])
    for _ in range(200):
        q = [p.getJointState(body, j, physicsClientId=client)[0] for j in movable]
        position = np.array(p.getLinkState(body, tcp, computeForwardKinematics=True, physicsClientId=client)[4])
        linear, _ = p.calculateJacobian(body, tcp, [0, 0, 0], q, [0.0] * len(q), [0.0] * len(q), physicsClientId=client)
        linear = np.array(linear)
        offset = linear.shape[1] - len(movable)  # a floating base adds its 6 DoF in front
        jac = linear[:, [offset + movable.index(j) for j in arm]]
        step = jac.T @ np.linalg.solve(jac @ jac.T + 0.05**2 * np.eye(3), goal - position)
        current = np.array([p.getJointState(body, j, physicsClientId=client)[0] for j in arm])
        for j, value in zip(arm, np.clip(current + step, limits[:, 0], limits[:, 1])):
            p.resetJointState(body, j, value, physicsClientId=client)
    position = np.array(p.getLinkState(body, tcp, computeForwardKinematics=True, physicsClientId=client)[4])
    assert np.linalg.norm(goal - position) < 0.005

"""`flywheel robots add` over every URDF in pybullet_data that describes a robot.

A file describes a robot when it has at least one joint that can move. Runtime is bounded by doing
the cheap part (parse + infer + write + read back) for all of them, and the PyBullet validation for a
representative subset plus every arm that gets a hand: each is added, and passes or fails with a
reason; every arm with an end-effector passes reach.
"""
from __future__ import annotations

import functools
import os
import re
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pybullet_data
import pytest

from flywheel.cli import main
from flywheel.robots.infer import infer_spec
from flywheel.robots.spec import KINDS, spec_from_dict
from flywheel.robots.spec_writer import render_spec
from flywheel.robots.urdf import MOVABLE_TYPES, URDFError, parse_urdf
from flywheel.robots.validate import quiet

DATA = Path(pybullet_data.getDataPath())


def _describes_a_robot(path: Path) -> bool:
    """At least one movable joint (read leniently: a file that will not parse still counts, to be reported)."""
    try:
        root = ET.fromstring(path.read_bytes().strip().rstrip(b"\x00"))
    except ET.ParseError:
        return True
    return root.tag == "robot" and any(j.get("type") in MOVABLE_TYPES for j in root.iter("joint"))


ROBOT_FILES = sorted(str(p.relative_to(DATA)) for p in DATA.rglob("*.urdf") if _describes_a_robot(p))


def _name(rel: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", rel[: -len(".urdf")])


@functools.lru_cache(maxsize=None)
def _infer(rel: str):
    model = parse_urdf(DATA / rel)
    with quiet():
        return infer_spec(model, name=_name(rel))


def test_there_are_many_robots():
    assert len(ROBOT_FILES) >= 35, ROBOT_FILES


@pytest.mark.parametrize("rel", ROBOT_FILES)
def test_every_pybullet_data_robot_is_inferred_or_refused_with_a_reason(rel):
    try:
        inference = _infer(rel)
    except URDFError as err:  # a malformed file: one line naming it and the element
        message = str(err)
        assert "\n" not in message and os.path.basename(rel) in message and err.element
        return
    spec, model = inference.spec, inference.model
    assert spec["kind"] in KINDS
    assert spec["joints"] and len(set(spec["joints"])) == len(spec["joints"])
    for joint, value in spec["home"].items():
        lo, hi = model.joints[joint].range()
        assert lo - 1e-9 <= value <= hi + 1e-9, (joint, value, lo, hi)
    for slot, g in spec.get("grippers", {}).items():
        assert slot in spec["end_effectors"]
        for joint, a, b in zip(g["joints"], g["open"], g["closed"]):
            lo, hi = model.joints[joint].range()
            assert lo - 1e-9 <= min(a, b) and max(a, b) <= hi + 1e-9 and a != b
    for ee in spec.get("end_effectors", {}).values():
        assert ee["link"] in model.links
    if not spec["fixed_base"]:
        assert spec["base_height"] > 0
    notes = {}
    for g in inference.guesses:
        notes.setdefault(g.field, []).append(g.text)
    assert "kind" in notes and "home" in notes
    text = render_spec(spec, notes, {j.name: j.range() for j in model.joints.values()})
    assert "# guess:" in text
    loaded = spec_from_dict(tomllib.loads(text))  # what add writes reads back as a RobotSpec
    assert loaded.joints == tuple(spec["joints"])


@pytest.mark.parametrize("rel,kind,hands,feet", [
    ("kuka_iiwa/model.urdf", "arm", {"right_hand": "lbr_iiwa_link_7"}, {}),
    ("franka_panda/panda.urdf", "arm", {"right_hand": "panda_hand"}, {}),
    ("xarm/xarm6_with_gripper.urdf", "arm", {"right_hand": "xarm_gripper_base_link"}, {}),
    ("a1/a1.urdf", "quadruped", {}, {"right_foot": "FR_toe", "left_foot": "FL_toe"}),
    ("laikago/laikago_toes_zup.urdf", "quadruped", {}, {"right_foot": "toeFR", "left_foot": "toeFL"}),
    ("humanoid/humanoid.urdf", "humanoid", {"right_hand": "right_wrist", "left_hand": "left_wrist"},
     {"right_foot": "right_ankle", "left_foot": "left_ankle"}),
    ("racecar/racecar.urdf", "mobile", {}, {}),
    ("r2d2.urdf", "mobile", {}, {}),
])
def test_known_answers(rel, kind, hands, feet):
    spec = _infer(rel).spec
    assert spec["kind"] == kind
    ees = {k: v["link"] for k, v in spec.get("end_effectors", {}).items()}
    assert ees == {**hands, **feet}
    assert spec["fixed_base"] == (kind == "arm")


def test_grippers_mimic_and_orientation():
    panda = _infer("franka_panda/panda.urdf").spec
    assert panda["grippers"]["right_hand"] == {"joints": ["panda_finger_joint1"], "open": [0.04], "closed": [0.0]}
    assert panda["mimic"]["panda_finger_joint2"]["joint"] == "panda_finger_joint1"  # the URDF's <mimic>
    assert 0.05 < panda["end_effectors"]["right_hand"]["offset"][2] < 0.12  # tool centre between the fingers
    xarm = _infer("xarm/xarm6_with_gripper.urdf").spec
    assert xarm["grippers"]["right_hand"] == {"joints": ["drive_joint"], "open": [0.0], "closed": [0.85]}
    assert set(xarm["mimic"]) == {"left_finger_joint", "left_inner_knuckle_joint", "right_outer_knuckle_joint",
                                  "right_inner_knuckle_joint", "right_finger_joint"}
    laikago = _infer("laikago/laikago_toes.urdf").spec  # a y-up model: turned so its feet point down
    assert np.allclose(laikago["base_orientation"], [0.5, 0.5, 0.5, 0.5])
    a1 = _infer("a1/a1.urdf").spec  # continuous limits, standing pose inside them, base height from the toes
    assert 0.2 < a1["base_height"] < 0.45
    assert all(-2.7 <= a1["home"][j] <= -0.9 for j in a1["home"] if j.endswith("lower_joint"))


def _arms_with_hands() -> list[str]:
    out = []
    for rel in ROBOT_FILES:
        try:
            spec = _infer(rel).spec
        except URDFError:
            continue
        if spec["kind"] == "arm" and any(k.endswith("_hand") for k in spec.get("end_effectors", {})):
            out.append(rel)
    return out


ARMS_WITH_HANDS = _arms_with_hands()
# Representative others: quadrupeds (z-up and y-up), wheeled, a toy with placeholder inertias, a chain without a
# hand, a model that blows up (zeroed inertia on a ball joint), one that cannot stand (a bicycle).
REPRESENTATIVE = ["a1/a1.urdf", "laikago/laikago_toes_zup.urdf", "laikago/laikago.urdf", "racecar/racecar.urdf",
                  "r2d2.urdf", "pendulum5.urdf", "spherical_joint_limit.urdf", "bicycle/bike.urdf"]
ROW = re.compile(r"^(\S+)\s+(pass|warn|fail|skip)\s+(.*)$")


def test_arms_with_hands_found():
    assert {"kuka_iiwa/model.urdf", "franka_panda/panda.urdf", "xarm/xarm6_with_gripper.urdf", "xarm/xarm6_robot.urdf"} \
        <= set(ARMS_WITH_HANDS)


@pytest.mark.parametrize("rel", ARMS_WITH_HANDS + REPRESENTATIVE)
def test_added_and_validated_in_pybullet(rel, tmp_path, capsys):
    rc = main(["robots", "add", str(DATA / rel), "--name", _name(rel), "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert rc in (0, 1), err
    assert (tmp_path / f"{_name(rel)}.toml").is_file()
    rows = {}
    for line in out.splitlines():
        m = ROW.match(line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    assert {"meshes", "inertia", "loads", "random_targets"} <= set(rows), out
    assert "holds_home" in rows or "stands" in rows
    for name, (status, rest) in rows.items():
        assert rest.strip(), f"{name} has no reason"
        if status == "fail":
            assert not rest.rstrip().endswith(" -"), f"{name} fails without a fix: {rest}"
    assert ("FAIL" in out) == (rc == 1)
    if rel in ARMS_WITH_HANDS:
        reach = {k: v for k, v in rows.items() if k.startswith("reach.")}
        assert reach and all(status == "pass" for status, _ in reach.values()), out
        assert rows["holds_home"][0] == "pass", out

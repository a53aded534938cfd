"""Articulated fixtures (generated URDFs): joint state as a fraction open, handles that move with the joint, a button
that springs back, deterministic cached URDF files."""
from __future__ import annotations

import numpy as np
import pytest

from flywheel.sim.objects import known_kinds, validate_object

ARTICULATED = known_kinds("articulated")


@pytest.fixture(scope="module")
def scene():
    from flywheel.sim.scene import Scene
    s = Scene()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FLYWHEEL_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "fixtures"


def test_the_five_articulated_fixtures_are_in_the_catalogue():
    assert set(ARTICULATED) == {"drawer", "lidded_box", "door", "button", "slider"}


@pytest.mark.parametrize("kind", [k for k in ARTICULATED if k != "button"])
def test_closed_is_0_driven_open_is_1_and_the_handle_moves_the_open_way(scene, kind):
    from flywheel.sim.objects import spawn
    obj = spawn(scene, kind, {}, position=(1.0, 0.0, 0.0), yaw=0.5)
    try:
        scene.step(120)
        assert obj.joint_fraction() == pytest.approx(0.0, abs=0.01), "stays closed at rest"
        handle0, _ = obj.handle_pose()
        direction = obj.open_direction()
        obj.drive(1.0)
        scene.step(480)
        assert obj.joint_fraction() > 0.97
        moved = obj.handle_pose()[0] - handle0
        assert np.dot(moved, direction) > 0.5 * np.linalg.norm(moved) > 0.0, "opening moves the handle the open way"
        obj.drive(None)  # back to its resting friction: it stays open
        scene.step(240)
        assert obj.joint_fraction() > 0.95
        obj.set_joint_fraction(0.5)
        assert obj.joint_fraction() == pytest.approx(0.5, abs=1e-6)
    finally:
        obj.remove()


@pytest.mark.parametrize("handle, approach", [("fin", [0.0, 0.0, 1.0]), ("bar", [-1.0, 0.0, 0.0])])
def test_handles_face_the_robot_at_yaw_0(scene, handle, approach):
    from flywheel.sim import transforms as tf
    from flywheel.sim.objects import spawn
    drawer = spawn(scene, "drawer", {"handle": handle}, position=(0.8, 0.0, 0.0))
    pos, orn = drawer.handle_pose()
    assert pos[0] < 0.8 - 0.15 - 0.02 and abs(pos[1]) < 1e-9
    assert np.allclose(drawer.open_direction(), [-1.0, 0.0, 0.0])
    assert np.allclose(drawer.handle_approach(), approach)
    assert np.allclose(tf.quat_rotate(np.asarray(orn), np.array([1.0, 0.0, 0.0])), [1.0, 0.0, 0.0])
    drawer.remove()


def test_a_cube_in_the_drawer_rides_out_and_back_in(scene):
    from flywheel.sim.objects import spawn
    drawer = spawn(scene, "drawer", {}, position=(0.0, 2.0, 0.0))
    drawer.set_joint_fraction(1.0)
    inside = drawer.point("inside")
    assert drawer.contains(inside + np.array([0.0, 0.0, 0.01])) and not drawer.contains(inside - [0.0, 0.0, 0.01])
    cube = spawn(scene, "box", {"size": 0.04}, position=inside + np.array([-0.05, 0.0, 0.0]))
    scene.step(60)
    drawer.drive(0.0)
    scene.step(480)
    assert drawer.joint_fraction() < 0.02
    assert drawer.contains(cube.center()), "the cube went in with the drawer"
    centre, half, _ = drawer.interior()
    assert abs(centre[0]) < 0.01 and np.all(half > 0.05), "closed: the interior is back in the cabinet"
    cube.remove()
    drawer.remove()


def test_button_is_pressed_while_pushed_and_springs_back(scene):
    from flywheel.sim.objects import spawn
    button = spawn(scene, "button", {}, position=(0.0, -2.0, 0.0))
    scene.step(60)
    assert not button.pressed() and button.joint_fraction() < 0.05
    press_point, _ = button.handle_pose()
    for _ in range(120):
        scene.push_link(button.body, button.articulation.link, [0.0, 0.0, -10.0], press_point)
        scene.step()
    assert button.pressed() and button.joint_fraction() > 0.9
    scene.step(240)
    assert not button.pressed() and button.joint_fraction() < 0.1, "the spring returns it"
    for _ in range(120):  # a push weaker than the spring does not press it
        scene.push_link(button.body, button.articulation.link, [0.0, 0.0, -1.0])
        scene.step()
    assert not button.pressed()
    button.remove()


def test_generated_urdfs_are_deterministic_and_cached(private_cache):
    from flywheel.sim.objects.articulated import urdf_path
    for kind in ARTICULATED:
        params = validate_object(kind, {})
        path = urdf_path(kind, params)
        first = path.read_bytes()
        mtime = path.stat().st_mtime_ns
        assert path.parent == private_cache and path.name.startswith(kind + "-")
        assert urdf_path(kind, dict(params)) == path and path.stat().st_mtime_ns == mtime, "reused, not rewritten"
        path.unlink()
        assert urdf_path(kind, params).read_bytes() == first, "same parameters, same bytes"
    wider = validate_object("drawer", {"size": [0.3, 0.5, 0.16]})
    assert urdf_path("drawer", wider) != urdf_path("drawer", validate_object("drawer", {}))
    assert sorted(p.suffix for p in private_cache.iterdir()) == [".urdf"] * (len(ARTICULATED) + 1), "no temp files left"


def test_a_panda_pinches_the_drawer_fin_from_above_and_pulls_it_open():
    """What a skill reads (handle_pose, handle_approach, open_direction) is enough to open the drawer."""
    from flywheel import robots
    from flywheel.sim import transforms as tf
    from flywheel.sim.objects import spawn
    from flywheel.sim.robot import Robot
    from flywheel.sim.scene import Scene
    scene = Scene()
    try:
        robot, hand = Robot(scene, robots.get("panda")), "right_hand"
        table = spawn(scene, "table", {"height": 0.21, "size": [0.6, 0.8]}, position=(0.6, 0.0, 0.0))
        drawer = spawn(scene, "drawer", {}, position=(0.75, 0.0, table.top_z()), yaw=0.2)
        grip, frame = drawer.handle_pose()
        _, down = robot.ee_world_pose(hand)  # fingers close along the hand's y: turn it onto the handle's y
        orn = tf.quat_mul(tf.euler_to_quat(np.array([0.0, 0.0, tf.quat_to_euler(frame)[2]])), down)

        def go(target, opening, steps):
            for _ in range(steps):
                q_target = robot.ik_step(robot.joint_state()[0], hand, target, orn)
                robot.set_gripper(q_target, hand, opening)
                robot.apply_joint_targets(q_target)
                scene.step(4)
        go(grip + 0.08 * drawer.handle_approach(), 1.0, 100)
        go(grip, 1.0, 60)
        go(grip, 0.0, 30)
        assert 0.002 < robot.gripper_opening(robot.joint_state()[0], hand) < 0.5, "the fin is between the fingers"
        for _ in range(40):
            go(drawer.handle_pose()[0] + 0.02 * drawer.open_direction(), 0.0, 3)
        assert drawer.joint_fraction() > 0.9
    finally:
        scene.close()


def test_a_fingerless_hand_welded_to_the_lid_lifts_it_open():
    """The grasp assist of hands without fingers (humanoids) holds a fixture's moving part like an object."""
    from flywheel.sim import transforms as tf
    from flywheel.sim.objects import spawn
    from flywheel.sim.scene import Scene
    scene = Scene()
    try:
        box = spawn(scene, "lidded_box", {}, position=(0.0, 0.0, 0.0))
        grip, frame0 = box.handle_pose()
        hand = spawn(scene, "sphere", {"radius": 0.02, "mass": 0.5}, position=grip + np.array([0.0, 0.0, 0.03]))
        offset = tf.quat_rotate(tf.quat_conj(frame0), hand.center() - grip)  # the hand in the lid's frame
        constraint = box.weld_handle(hand.body, -1)
        for _ in range(480):  # the hand (a floating ball, holding up its weight) drags the lid along its arc
            grip, frame = box.handle_pose()
            target = grip + tf.quat_rotate(frame, offset) + 0.05 * box.open_direction()
            push = 40.0 * (target - hand.center()) + np.array([0.0, 0.0, 0.7 * 9.81])
            scene.push_base(hand.body, push.tolist())
            scene.step()
        assert box.joint_fraction() > 0.9
        scene.remove_constraint(constraint)
        scene.remove_body(hand.body)
        scene.step(240)
        assert box.joint_fraction() > 0.9, "let go past upright, the lid stays open on its stop"
    finally:
        scene.close()

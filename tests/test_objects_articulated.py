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


def test_handles_face_the_robot_at_yaw_0(scene):
    from flywheel.sim.objects import spawn
    drawer = spawn(scene, "drawer", {}, position=(0.8, 0.0, 0.0))
    pos, orn = drawer.handle_pose()
    assert pos[0] < 0.8 - 0.15 and abs(pos[1]) < 1e-6
    assert np.allclose(drawer.open_direction(), [-1.0, 0.0, 0.0])
    from flywheel.sim import transforms as tf
    assert np.allclose(tf.quat_rotate(np.asarray(orn), np.array([1.0, 0.0, 0.0])), [-1.0, 0.0, 0.0])
    drawer.remove()


def test_a_cube_in_the_drawer_rides_out_and_back_in(scene):
    from flywheel.sim.objects import spawn
    drawer = spawn(scene, "drawer", {}, position=(0.0, 2.0, 0.0))
    drawer.set_joint_fraction(1.0)
    inside = drawer.point("inside")
    cube = spawn(scene, "box", {"size": 0.04}, position=inside + np.array([-0.05, 0.0, 0.0]))
    scene.step(60)
    drawer.drive(0.0)
    scene.step(480)
    assert drawer.joint_fraction() < 0.02
    lo, hi = drawer.aabb()
    c = cube.center()
    assert np.all(c[:2] > lo[:2]) and np.all(c[:2] < hi[:2]) and c[2] < drawer.top_z(), "the cube went in with the drawer"
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

"""The joint-space planner (flywheel.sim.planning): paths around obstacles where the straight line collides,
deterministic for a seed, checked through the Scene without changing the episode."""
from __future__ import annotations

import numpy as np
import pytest

from flywheel.sim.planning import Plan, edge_free, interpolate, path_length, rrt_connect


def _wall_2d(q) -> bool:
    """Free unless inside a wall |x| < 0.1, y < 0.8 of the square [-1, 1]^2."""
    return not (abs(q[0]) < 0.1 and q[1] < 0.8)


def test_rrt_connect_goes_around_a_wall_deterministically():
    start, goal, lo, hi = [-0.5, -0.5], [0.5, -0.5], [-1, -1], [1, 1]
    assert not edge_free(np.array(start, float), np.array(goal, float), _wall_2d, 0.01)
    plans = [rrt_connect(start, goal, lo, hi, _wall_2d, np.random.default_rng(seed)) for seed in (7, 7, 8)]
    for plan in plans:
        assert plan.ok and plan.reason == ""
        assert np.array_equal(plan.path[0], start) and np.array_equal(plan.path[-1], goal)
        assert all(edge_free(a, b, _wall_2d, 0.001) for a, b in zip(plan.path, plan.path[1:]))
        assert max(q[1] for q in plan.path) >= 0.8, "it went over the wall's end"
        assert path_length(plan.path) < 4.0, "shortcut: not a random walk"
    assert [q.tolist() for q in plans[0].path] == [q.tolist() for q in plans[1].path], "same seed, same path"
    dense = interpolate(plans[0].path, 0.05)
    assert max(np.max(np.abs(b - a)) for a, b in zip(dense, dense[1:])) <= 0.05 + 1e-12


def test_rrt_connect_says_why_it_fails():
    assert rrt_connect([0.0, 0.0], [0.5, 0.0], [-1, -1], [1, 1], _wall_2d, np.random.default_rng(0)).reason == \
        "the start configuration is in collision"
    assert rrt_connect([0.5, 0.0], [2.0, 0.0], [-1, -1], [1, 1], _wall_2d, np.random.default_rng(0)).reason == \
        "the goal is outside the joint limits"
    from flywheel.sim.planning import PlannerSettings
    boxed_in = rrt_connect([-0.5, 0.0], [0.5, 0.0], [-1, -1], [1, 1], lambda q: abs(q[0]) > 0.1,
                           np.random.default_rng(0), PlannerSettings(max_iterations=50))
    assert isinstance(boxed_in, Plan) and not boxed_in.ok and boxed_in.reason == "no path found in 50 iterations"


def _panda_scene():
    from flywheel import robots
    from flywheel.sim.objects import spawn
    from flywheel.sim.robot import Robot
    from flywheel.sim.scene import Scene
    scene = Scene()
    robot = Robot(scene, robots.get("panda"))
    qa = robot.home_q.copy()
    qa[[0, 1, 3, 5]] = [0.8, 0.5, -1.8, 2.3]  # hand low on the left (y = +0.47)
    qb = qa.copy()
    qb[0] = -0.8  # ... and on the right
    wall = spawn(scene, "wall", {"size": [0.3, 0.02, 0.45]}, position=(0.5, 0.0, 0.0))
    cube = spawn(scene, "box", {"size": 0.04}, position=(0.3, 0.35, 0.0))
    robot.reset(qa)
    return scene, robot, qa, qb, wall, cube


@pytest.fixture(scope="module")
def panda():
    scene, *rest = _panda_scene()
    yield (scene, *rest)
    scene.close()


def test_the_panda_reaches_around_a_wall_it_would_hit_in_a_straight_line(panda):
    from flywheel.sim.planning import JointSpaceChecker, plan_joint_path
    scene, robot, qa, qb, wall, cube = panda
    dofs = robot.ik_dofs("right_hand")
    exact = JointSpaceChecker(scene, robot.body, [robot.joints[d].index for d in dofs], [wall.body], margin=0.0)
    with exact.session():
        assert exact(qa[dofs]) and exact(qb[dofs])
        assert not edge_free(qa[dofs], qb[dofs], exact, 0.01), "the straight line goes through the wall"
    plan = plan_joint_path(scene, robot, qa, qb, [wall.body, cube.body], np.random.default_rng(3), hand="right_hand")
    assert plan.ok, plan.reason
    again = plan_joint_path(scene, robot, qa, qb, [wall.body, cube.body], np.random.default_rng(3), hand="right_hand")
    assert [q.tolist() for q in plan.path] == [q.tolist() for q in again.path], "same seed, same path"
    assert np.array_equal(plan.path[0], qa) and np.array_equal(plan.path[-1], qb)
    assert all(np.array_equal(q[7:], qa[7:]) for q in plan.path), "the fingers are not planned"
    with exact.session():
        assert all(edge_free(a[dofs], b[dofs], exact, 0.003) for a, b in zip(plan.path, plan.path[1:]))
    # the motors follow it without touching the wall
    for q in interpolate(plan.path, 0.05):
        robot.apply_joint_targets(q)
        scene.step(8)
        assert not scene.near(robot.body, wall.body, 0.0)
    scene.step(120)
    assert np.allclose(robot.joint_state()[0][dofs], qb[dofs], atol=0.01)


def test_planning_changes_nothing_in_the_episode():
    from flywheel.sim.planning import plan_joint_path
    finals = []
    for plan_first in (True, False):
        scene, robot, qa, qb, wall, cube = _panda_scene()
        cube.set_pose((0.3, 0.35, 0.2))  # falling while the world is saved, teleported and restored
        scene.step(5)
        if plan_first:
            assert plan_joint_path(scene, robot, qa, qb, [wall.body], np.random.default_rng(0), hand="right_hand").ok
        robot.apply_joint_targets(qb)
        scene.step(200)
        finals.append((scene.body_pose(cube.body), robot.joint_state()[0].tolist()))
        scene.close()
    assert finals[0] == finals[1], "bit for bit"


def test_a_held_object_must_miss_the_obstacles_too(panda):
    from flywheel.sim.objects import spawn
    from flywheel.sim.planning import JointSpaceChecker
    scene, robot, qa, qb, wall, cube = panda
    robot.reset(qa)
    hand = robot.ee_links[robot.ee_names.index("right_hand")]
    hand_pos = np.asarray(scene.link_pose(robot.body, hand)[0])
    beside = hand_pos + np.array([0.0, 0.15, 0.0])  # a cube held (rigidly, by the hand) 15 cm beside it ...
    held = spawn(scene, "box", {"size": 0.04}, position=beside)
    post = spawn(scene, "box", {"size": 0.02, "mass": 1.0}, position=beside + np.array([0.0, 0.0, 0.01]))  # ... in a post
    joints = [robot.joints[d].index for d in robot.ik_dofs("right_hand")]
    q = qa[robot.ik_dofs("right_hand")]
    try:
        with JointSpaceChecker(scene, robot.body, joints, [post.body]).session() as free:
            assert free(q), "the arm alone clears the post"
        with JointSpaceChecker(scene, robot.body, joints, [post.body], attached=[(held.body, hand)]).session() as free:
            assert not free(q), "the held cube would hit it"
    finally:
        held.remove()
        post.remove()


def test_plan_to_a_hand_pose_behind_the_wall(panda):
    from flywheel.sim.planning import plan_to_pose, solve_ik
    scene, robot, qa, qb, wall, cube = panda
    robot.reset(qa)
    target, orn = robot.ee_world_pose("right_hand")
    target = target * np.array([1.0, -1.0, 1.0]) + np.array([0.0, 0.0, 0.05])  # the mirror image, 5 cm higher
    q_goal = solve_ik(scene, robot, "right_hand", target, orn, q_seed=qb)
    assert q_goal is not None and np.array_equal(robot.joint_state()[0], qa), "IK left the robot where it was"
    plan = plan_to_pose(scene, robot, "right_hand", target, orn, [wall.body], np.random.default_rng(0))
    assert plan.ok, plan.reason
    robot.reset(plan.path[-1])
    assert np.linalg.norm(robot.ee_world_pose("right_hand")[0] - target) < 0.003
    robot.reset(qa)
    far = plan_to_pose(scene, robot, "right_hand", [3.0, 0.0, 0.3], None, [wall.body], np.random.default_rng(0))
    assert not far.ok and far.reason.startswith("no joint configuration reaches the target pose")


def test_self_collision_is_checked_on_request(panda):
    from flywheel.sim.planning import JointSpaceChecker
    scene, robot, qa, qb, wall, cube = panda
    robot.reset(robot.home_q)
    dofs = robot.ik_dofs("right_hand")
    joints = [robot.joints[d].index for d in dofs]
    folded = np.array([0.81, -0.84, -2.72, -3.09, 1.86, 3.48, 0.63])  # the wrist and hand down on the base
    with JointSpaceChecker(scene, robot.body, joints, [], self_collision=True).session() as free:
        assert free(robot.home_q[dofs]), "neighbours touching at the start are allowed"
        assert not free(folded)
    with JointSpaceChecker(scene, robot.body, joints, []).session() as free:
        assert free(folded), "off by default"

"""Object-centric segments from a synthetic pick-and-place: gripper events or a subtask annotation end the segments,
each is relative to the right object, free space is left out, and a segment placed on a moved object moves with it."""
import numpy as np
import pytest

from flywheel.collectors.collection import segments as sg


def pick_and_place(T_pick=30, T_place=30):
    """Hand from home down to a cube at (0.5, 0, 0.1), closes, carries it to a goal at (0.5, 0.3, 0.1), opens."""
    home, cube, goal = np.array([0.4, 0.0, 0.4]), np.array([0.5, 0.0, 0.1]), np.array([0.5, 0.3, 0.1])
    down = np.linspace(home, cube, T_pick)
    hold = np.repeat(cube[None], 5, axis=0)
    carry = np.linspace(cube, goal + [0, 0, 0.0], T_place)
    after = np.repeat(goal[None], 5, axis=0)
    hand = np.concatenate([down, hold, carry, after])
    T = len(hand)
    grip = np.ones(T)
    grip[T_pick:T_pick + 5 + T_place] = 0.0
    cube_pos = np.where(np.arange(T)[:, None] < T_pick + 5, cube, hand)
    frames = sg.Frames({"cube": cube_pos, "goal": np.repeat(goal[None], T, axis=0)},
                       {"cube": np.full(T, 0.3), "goal": None})
    quat = np.tile([1.0, 0.0, 0.0, 0.0], (T, 1))
    return hand, quat, grip, frames, T_pick


def test_gripper_events_make_a_grasp_and_a_release_segment():
    hand, quat, grip, frames, t_close = pick_and_place()
    segs = sg.split(hand, quat, grip, frames)
    assert [(s.ref, s.kind) for s in segs] == [("cube", "grasp"), ("goal", "release")]
    grasp = segs[0]
    start, end = grasp.source_frames
    assert start > 0  # the free-space part of the approach is left to the transition
    assert np.all(np.linalg.norm(hand[start:t_close] - frames.positions["cube"][start:t_close], axis=1) < sg.RADIUS)
    assert end > t_close and grasp.gripper[-1] == 0.0  # the closing frames belong to the grasp
    assert np.allclose(grasp.rel_pos[-1], 0.0, atol=1e-9)  # ends at the cube's centre, in the cube's frame
    assert grasp.has_yaw and grasp.src_yaw == pytest.approx(0.3)
    assert not segs[1].has_yaw


def test_segment_follows_its_object_to_a_new_pose():
    hand, quat, grip, frames, _ = pick_and_place()
    grasp = sg.split(hand, quat, grip, frames)[0]
    new_origin, new_yaw = np.array([0.2, -0.1, 0.05]), 1.0
    placed = sg.planar_apply(grasp.rel_pos, new_origin, new_yaw)
    assert np.allclose(placed[-1], new_origin)
    src = sg.planar_apply(grasp.rel_pos, frames.positions["cube"][grasp.source_frames[0]], 0.3)
    assert np.allclose(src, hand[grasp.source_frames[0]:grasp.source_frames[1]])  # the inverse round-trips
    d_src = np.linalg.norm(src - frames.positions["cube"][0], axis=1)
    assert np.allclose(np.linalg.norm(placed - new_origin, axis=1), d_src)  # rigid: distances kept


def test_subtask_annotation_ends_segments_where_the_skills_change():
    hand, quat, grip, frames, t_close = pick_and_place()
    T = len(hand)
    subtask = np.zeros(T, np.int64)
    subtask[t_close - 3:] = 1  # "grasp the cube" begins before the gripper closes
    subtask[t_close + 5:] = 2
    segs = sg.split(hand, quat, grip, frames, subtask=subtask, subtask_names=["reach", "grasp the cube", "place"])
    kinds = [s.kind for s in segs]
    assert kinds[:2] == ["reach", "grasp the cube"]
    assert segs[1].source_frames[1] >= t_close + 4


def test_reach_without_events_is_one_segment_relative_to_the_goal():
    T = 40
    hand = np.linspace([0.4, 0.0, 0.4], [0.5, 0.2, 0.3], T)
    frames = sg.Frames({"goal": np.repeat([[0.5, 0.2, 0.3]], T, axis=0)}, {"goal": None})
    segs = sg.split(hand, np.tile([0, 0, 0, 1.0], (T, 1)), np.ones(T), frames)
    assert len(segs) == 1 and segs[0].ref == "goal" and segs[0].source_frames[1] == T


def test_frames_are_read_from_environment_state_names():
    names = ["cube.x", "cube.y", "cube.z", "cube.qx", "cube.qy", "cube.qz", "cube.qw", "cube_from_hand.x",
             "cube_from_hand.y", "cube_from_hand.z", "goal.x", "goal.y", "goal.z"]
    values = np.arange(len(names), dtype=float)[None, :]
    f = sg.parse_frames(names, values)
    assert f.names() == ["cube", "goal"] and f.yaws["goal"] is None and f.yaws["cube"] is not None
    with pytest.raises(ValueError, match="no object positions"):
        sg.split(np.zeros((3, 3)), np.tile([0, 0, 0, 1.0], (3, 1)), np.ones(3), sg.Frames({}, {}))

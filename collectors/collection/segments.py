"""Object-centric segments of a demonstration: where a hand acts relative to one object, and the free space between.

MimicGen's observation: a manipulation demonstration is a chain of sub-tasks, each a stretch of hand poses that only
makes sense relative to one object (the approach to and the closing around a cube, the descent onto a target), joined
by motion through free space that can be replanned. Here a segment is such a stretch, stored *relative to its
object's frame at the segment's start*, so it can be replayed around the same object anywhere else.

Where a segment ends comes from the source's own annotation when it has one (a per-frame ``subtask_index``, the skill
its expert ran), else from the gripper: a close (grasp) or an open (release) event ends a segment, and what remains
after the last event ends at the last frame. Its object is the one nearest the hand at that moment (for a release:
not the object held). It starts where the hand last came within ``radius`` of that object: what lies before is free
space, which the follower crosses with its own transition. Pure numpy: no simulator, no dataset I/O.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flywheel.sim import transforms as tf

RADIUS = 0.15  # metres: how close to its object a hand must be for its motion to be object-centric
HOLD_MOVE = 0.01  # metres: after an event, the frames until the hand moves this far belong to it (fingers closing)
MAX_HOLD = 20  # frames


@dataclass
class Frames:
    """Object frames over an episode in the robot's base frame: name -> positions (T, 3) and yaw (T,) or None."""

    positions: dict[str, np.ndarray]
    yaws: dict[str, np.ndarray | None]

    def names(self) -> list[str]:
        return list(self.positions)


@dataclass
class Segment:
    """One object-centric stretch: hand poses and gripper commands relative to object ``ref`` (planar frame)."""

    ref: str  # the object (or goal) this stretch is relative to
    kind: str  # "grasp" | "release" | "final" | the source's subtask name
    rel_pos: np.ndarray  # (N, 3) hand positions in the object's frame (position, yaw) at the segment's start
    rel_rot: np.ndarray  # (N, 4) hand orientation as rotation from the hand's home orientation, object yaw removed
    gripper: np.ndarray  # (N,) commanded opening, 1 = open
    source_frames: tuple[int, int]  # [start, end) in the source episode
    has_yaw: bool  # the object frame carries an orientation (a goal point does not)
    src_yaw: float = 0.0  # the object's yaw in the source at the segment's start


def parse_frames(names: list[str], values: np.ndarray) -> Frames:
    """Object frames from an environment-state feature named ``<object>.x/.y/.z`` (and ``.qx .qy .qz .qw``).

    Derived entries (``cube_from_hand.x``) are not objects and are skipped. ``values`` is (T, len(names))."""
    col = {n: i for i, n in enumerate(names)}
    positions, yaws = {}, {}
    for name in names:
        if not name.endswith(".x"):
            continue
        obj = name[:-2]
        if "_from_" in obj or any(f"{obj}.{a}" not in col for a in "yz"):
            continue
        positions[obj] = np.asarray(values[:, [col[f"{obj}.{a}"] for a in "xyz"]], dtype=np.float64)
        quat = [f"{obj}.q{a}" for a in ("x", "y", "z", "w")]
        yaws[obj] = quat_yaws(values[:, [col[q] for q in quat]]) if all(q in col for q in quat) else None
    return Frames(positions, yaws)


def quat_yaws(quats: np.ndarray) -> np.ndarray:
    """Yaw (rotation about the vertical) of each quaternion ``x, y, z, w``."""
    q = np.asarray(quats, dtype=np.float64)
    x, y, z, w = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def planar_inverse(points: np.ndarray, origin: np.ndarray, yaw: float) -> np.ndarray:
    """Points (N, 3) expressed in the frame at ``origin`` turned by ``yaw`` about the vertical."""
    c, s = np.cos(-yaw), np.sin(-yaw)
    d = np.asarray(points, dtype=np.float64) - origin
    return np.stack([c * d[:, 0] - s * d[:, 1], s * d[:, 0] + c * d[:, 1], d[:, 2]], axis=1)


def planar_apply(points: np.ndarray, origin: np.ndarray, yaw: float) -> np.ndarray:
    """The inverse of `planar_inverse`: frame coordinates back to the base frame."""
    c, s = np.cos(yaw), np.sin(yaw)
    p = np.asarray(points, dtype=np.float64)
    return np.stack([c * p[:, 0] - s * p[:, 1], s * p[:, 0] + c * p[:, 1], p[:, 2]], axis=1) + origin


def events(gripper: np.ndarray, closed_below: float = 0.5) -> list[tuple[int, str]]:
    """Frames where the commanded gripper closes (``grasp``) or opens (``release``)."""
    closed = np.asarray(gripper) < closed_below
    out = []
    for t in range(1, len(closed)):
        if closed[t] != closed[t - 1]:
            out.append((t, "grasp" if closed[t] else "release"))
    if len(closed) and closed[0]:
        out.insert(0, (0, "grasp"))
    return out


def annotated_events(subtask: np.ndarray, names: list[str] | None = None) -> list[tuple[int, str]]:
    """Segment ends from a per-frame subtask annotation: the last frame of each run of one subtask index."""
    s = np.asarray(subtask).reshape(-1)
    out = []
    for t in range(1, len(s)):
        if s[t] != s[t - 1]:
            k = int(s[t - 1])
            out.append((t - 1, names[k] if names is not None and 0 <= k < len(names) else f"subtask {k}"))
    return out


def split(hand_pos: np.ndarray, hand_quat: np.ndarray, gripper: np.ndarray, frames: Frames,
          subtask: np.ndarray | None = None, subtask_names: list[str] | None = None,
          radius: float = RADIUS) -> list[Segment]:
    """The object-centric segments of one episode (see the module docstring); raises ValueError when the episode
    has no object frame to be relative to."""
    names = frames.names()
    if not names:
        raise ValueError("the episode has no object positions (environment state named <object>.x/.y/.z)")
    T = len(hand_pos)
    home = np.asarray(hand_quat[0], dtype=np.float64)
    marks = annotated_events(subtask, subtask_names) if subtask is not None else []
    if not marks:
        marks = events(gripper)
    segments: list[Segment] = []
    held: str | None = None
    start_floor = 0
    for i, (t, kind) in enumerate(marks + [(T - 1, "final")]):
        if t < start_floor and kind != "final":
            continue
        if kind == "final" and start_floor >= T:
            break
        closed = gripper[min(t, T - 1)] < 0.5
        exclude = {held} if held is not None and kind != "grasp" else set()
        ref = _nearest(hand_pos[t], frames, t, exclude) if len(names) > len(exclude) else names[0]
        end = t + 1
        if kind != "final":  # the frames the fingers take to act, until the hand moves on
            limit = min(T, t + 1 + MAX_HOLD, marks[i + 1][0] if i + 1 < len(marks) else T)
            while end < limit and np.linalg.norm(hand_pos[end] - hand_pos[t]) < HOLD_MOVE:
                end += 1
        start = t
        while start - 1 >= start_floor and np.linalg.norm(hand_pos[start - 1] - frames.positions[ref][start - 1]) < radius:
            start -= 1
        if kind == "final" and end - start <= 1 and segments:
            break  # nothing object-centric after the last event
        origin = frames.positions[ref][start]
        yaw = float(frames.yaws[ref][start]) if frames.yaws[ref] is not None else 0.0
        rel_pos = planar_inverse(hand_pos[start:end], origin, yaw)
        undo = tf.euler_to_quat([0.0, 0.0, -yaw])
        rel_rot = np.array([tf.quat_mul(undo, tf.quat_mul(q, tf.quat_conj(home))) for q in hand_quat[start:end]])
        segments.append(Segment(ref=ref, kind=kind, rel_pos=rel_pos, rel_rot=rel_rot,
                                gripper=np.asarray(gripper[start:end], dtype=np.float64), source_frames=(start, end),
                                has_yaw=frames.yaws[ref] is not None, src_yaw=yaw))
        if kind == "grasp" or (closed and held is None):
            held = ref
        elif not closed:
            held = None
        start_floor = end
    return segments


def _nearest(point: np.ndarray, frames: Frames, t: int, exclude: set[str]) -> str:
    best, dist = None, np.inf
    for name, pos in frames.positions.items():
        if name in exclude:
            continue
        d = float(np.linalg.norm(pos[t] - point))
        if d < dist:
            best, dist = name, d
    return best

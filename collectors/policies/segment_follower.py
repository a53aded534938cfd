"""The retargeting policy: drive a robot's canonical hand through object-centric segments in its own scene.

Given the segments of one source episode (`flywheel.collectors.collection.segments`), each segment is placed on the
*current* pose of its object in this env when the hand gets to it (MimicGen: transform, then follow), and reached
through a collision-aware transition: up to a clearance height above every object first, across, then down, so a
hand (or what it holds) never sweeps through the table or another object. Hand poses are turned into actions by the
env's own controller (`action_for_hand_target`: IK for arms, the whole-body controller for humanoids when it is the
env's), so the same segments drive any robot. Orientations travel as rotations from the hand's home orientation, so
robots whose hand frames differ (a gripper pointing down, a humanoid palm) each keep their own grasp.

It watches what goes wrong, in order of time, so a failed episode says why: ``unreachable`` (the hand stalled short
of a segment pose), ``grasp lost`` (a held object fell behind the hand), ``collision`` (the arm touched a fixture or
knocked an object it was not manipulating), else ``not achieved`` (the task's goal was not met in time).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flywheel.canonical import ENV_STATE_KEY, ee_obs_offset
from flywheel.collectors.collection.recorder import dataset_features, feature_sources, observation_vector
from flywheel.collectors.collection.segments import Segment, parse_frames, planar_apply
from flywheel.sim import transforms as tf
from flywheel.sim.controllers import WAYPOINT_STEP, waypoint

REACHED = 0.012  # metres: a segment pose counts as reached
REACHED_TRANSIT = 0.02
SEGMENT_TIMEOUT = 15  # control steps on one segment pose before it is given up (and called unreachable)
TRANSIT_TIMEOUT = 40
STALL = 0.03  # metres short of a given-up segment pose that make it unreachable
CLEARANCE = 0.08  # metres above the highest object that a transition crosses at
GRASP_SLACK = 0.03  # metres a held object may fall behind the hand before the grasp counts as lost
RETRIES = 2  # times a lost grasp is tried again from its grasp segment, on the object where it fell
MAX_SLIP = 0.03  # metres of slip in the fingers that placing makes up for
KNOCKED = 0.02  # metres an object nobody grasped may move before it counts as knocked


@dataclass
class _Point:
    pos: np.ndarray  # world
    orn: np.ndarray  # world
    gripper: float
    transit: bool
    last_of: int | None = None  # the segment this point ends


class SegmentFollower:
    """A policy (``reset(seed)``, ``act(obs)``) that follows the segments given to `load`."""

    name = "retarget"

    def __init__(self, env, hand: str | None = None):
        self.env = env.unwrapped
        u = self.env
        self.robot, self.task = u.robot, u.task
        self.hand = hand or getattr(self.task, "hand", None) or self.task.default_hand()
        features = dataset_features(env)
        if ENV_STATE_KEY not in features:
            raise ValueError(f"task {self.task.name!r} observes no objects (no {ENV_STATE_KEY}): nothing to retarget around")
        self.names = list(features[ENV_STATE_KEY]["names"])
        self.sources = feature_sources(u.observation_space)[ENV_STATE_KEY]
        self.offset = ee_obs_offset(self.hand)
        chain = [jt.index for jt in self.robot.ik_chain(self.hand)]
        self.arm_links = set(chain[:-1])  # the arm, not its last link (the wrist, which holds the fingers)
        self.segments: list[Segment] = []
        self.reset()

    def load(self, segments: list[Segment]) -> None:
        """The segments of the next episode (call before the recorder resets the env)."""
        self.segments = list(segments)

    def reset(self, seed: int | None = None) -> None:
        self.queue: list[_Point] = []
        self.i = 0
        self.next_segment = 0
        self.steps_on = 0
        self.home = None
        self.carry_yaw = 0.0
        self.held: str | None = None
        self.current_ref: str | None = None
        self.hold_distance = 0.0
        self.grip_offset: np.ndarray | None = None  # held object minus hand (world) when the grasp closed
        self.slip = np.zeros(3)
        self.grasped: set[str] = set()
        self.start_positions: dict[str, np.ndarray] = {}
        self.events: list[str] = []
        self.retries = 0
        self.t = 0

    # ---- what went wrong ------------------------------------------------------------------------
    def failure(self) -> str:
        """Why the episode failed: the first thing that went wrong, or ``not achieved``."""
        return self.events[0] if self.events else "not achieved"

    def _event(self, what: str) -> None:
        if what not in self.events:
            self.events.append(what)

    # ---- the loop ---------------------------------------------------------------------------------
    def act(self, obs) -> np.ndarray:
        frames = self._frames(obs)
        base_pos, base_orn = self.env.base_pose()
        if self.home is None:
            o = self.offset
            self.home = np.asarray(obs["ee"][o + 3:o + 7], dtype=np.float64)
            self.start_positions = {k: v.copy() for k, v in frames.items()}
        pos, orn = self.robot.ee_world_pose(self.hand)
        self._watch(obs, frames, pos, base_pos, base_orn)
        if self.i >= len(self.queue) and self.next_segment < len(self.segments):
            self._plan_next(obs, pos, base_pos, base_orn)
        if not self.queue:
            return self.env.controller.action_for_hand_target(self.hand, pos, None, 1.0, pose=(pos, orn))
        point = self._advance(pos, obs, frames)
        self.steps_on += 1
        self.t += 1
        goal = point.pos
        if self.held is not None and self.grip_offset is not None and self.held in frames and not point.transit:
            # steer what it holds, not the hand: where the object slipped in the fingers (horizontally) is made up
            slip = self._world(frames[self.held], base_pos, base_orn) - pos - self.grip_offset
            slip[2] = 0.0
            self.slip = 0.8 * self.slip + 0.2 * np.clip(slip, -MAX_SLIP, MAX_SLIP)  # smoothed: the fingers wobble
            goal = goal - self.slip
        target = waypoint(pos, goal, WAYPOINT_STEP)
        return self.env.controller.action_for_hand_target(self.hand, target, point.orn, point.gripper, pose=(pos, orn))

    def _advance(self, pos: np.ndarray, obs, frames) -> _Point:
        """The pose to steer to now. Reached poses are passed (transit corners several at a time, segment poses one
        per step, so grippers keep the source's timing); a pose not reached in time is passed too, and a segment pose
        given up far from the hand makes the episode's problem ``unreachable``. After the last, the last is held."""
        while self.i < len(self.queue):
            point = self.queue[self.i]
            d = float(np.linalg.norm(pos - point.pos))
            limit = TRANSIT_TIMEOUT if point.transit else SEGMENT_TIMEOUT
            if d >= (REACHED_TRANSIT if point.transit else REACHED) and self.steps_on < limit:
                return point
            if d >= STALL and not point.transit:
                self._event("unreachable")
            self._passed(point, obs, frames)
            self.i, self.steps_on = self.i + 1, 0
            if not point.transit:
                break
        return self.queue[min(self.i, len(self.queue) - 1)]

    def _frames(self, obs) -> dict[str, np.ndarray]:
        """This env's object positions now (base frame), and their yaws kept in ``self._yaws``."""
        vec = observation_vector(obs, self.sources)[None, :]
        parsed = parse_frames(self.names, vec)
        self._yaws = {k: (None if y is None else float(y[0])) for k, y in parsed.yaws.items()}
        return {k: v[0] for k, v in parsed.positions.items()}

    def _plan_next(self, obs, pos, base_pos, base_orn) -> None:
        """Place the next segment on its object's pose now, and the transition that reaches it."""
        seg = self.segments[self.next_segment]
        frames = self._frames(obs)

        if seg.ref not in frames:
            raise ValueError(f"this task has no object {seg.ref!r} to retarget around; it has {', '.join(frames)}")
        yaw = self._yaws.get(seg.ref)
        if yaw is None:  # a goal point: keep the turn the held object was grasped with
            turn = self.carry_yaw
            points_b = planar_apply(seg.rel_pos, frames[seg.ref], 0.0)
        else:
            turn = yaw
            points_b = planar_apply(seg.rel_pos, frames[seg.ref], yaw)
        if yaw is not None and (seg.kind == "grasp" or seg.gripper[-1] < 0.5):
            self.carry_yaw = yaw - seg.src_yaw  # what this segment grasps keeps this turn until it is put down
        self.current_ref = seg.ref
        spin = tf.euler_to_quat([0.0, 0.0, turn])
        points: list[_Point] = []
        for k, (p_b, rel) in enumerate(zip(points_b, seg.rel_rot)):
            q_b = tf.quat_mul(spin, tf.quat_mul(rel, self.home))
            points.append(_Point(base_pos + tf.quat_rotate(base_orn, p_b), tf.quat_mul(base_orn, q_b),
                                 float(seg.gripper[k]), False))
        if seg.kind == "final":  # the source stopped the moment it succeeded: finish the move it was making
            place = self._world(frames[seg.ref], base_pos, base_orn)
            if self.held is not None and self.grip_offset is not None:  # the held object onto its place
                points.append(_Point(place - self.grip_offset, points[-1].orn, points[-1].gripper, False))
            elif np.linalg.norm(seg.rel_pos[-1]) < np.linalg.norm(seg.rel_pos[0]) - 0.01:  # closing in: the hand onto it
                points.append(_Point(place, points[-1].orn, points[-1].gripper, False))
        points[-1].last_of = self.next_segment
        # bodies to clear (objects with an orientation); a goal point is a place, not something in the way
        others = [self._world(p, base_pos, base_orn) for name, p in frames.items()
                  if name != self.held and self._yaws.get(name) is not None]
        self.queue = self._transition(pos, points[0], others) + points
        self.i, self.steps_on = 0, 0
        self.next_segment += 1

    @staticmethod
    def _transition(pos: np.ndarray, first: _Point, objects: list[np.ndarray]) -> list[_Point]:
        """Corners of a lifted path from ``pos`` to the segment's first pose: up, across, down."""
        goal = first.pos
        if np.linalg.norm((goal - pos)[:2]) < 0.03:
            return []
        top = max([pos[2], goal[2]] + [float(o[2]) + CLEARANCE for o in objects])
        corners = []
        if top - pos[2] > 0.01:
            corners.append(np.array([pos[0], pos[1], top]))
        corners.append(np.array([goal[0], goal[1], top]))
        return [_Point(c, first.orn, first.gripper, True) for c in corners]

    def _passed(self, point: _Point, obs, frames) -> None:
        """Bookkeeping when a pose is passed: a finished grasp segment holds its object, an open gripper drops it."""
        if point.last_of is not None:
            seg = self.segments[point.last_of]
            if seg.kind == "grasp" or (point.gripper < 0.5 and self.held is None and seg.ref in frames):
                self.held = seg.ref
                self.grasped.add(seg.ref)
                o = self.offset
                self.hold_distance = float(np.linalg.norm(obs["ee"][o:o + 3] - frames[seg.ref]))
                base_pos, base_orn = self.env.base_pose()
                pos, _ = self.robot.ee_world_pose(self.hand)
                self.grip_offset = self._world(frames[seg.ref], base_pos, base_orn) - pos
        if point.gripper >= 0.5 and not point.transit:
            self.held = None

    def _regrasp(self, name: str) -> None:
        """Go back to the segment that grasped ``name`` (placed anew on where the object lies now), a few times."""
        grasps = [k for k, seg in enumerate(self.segments[:self.next_segment]) if seg.ref == name and seg.kind == "grasp"]
        if not grasps or self.retries >= RETRIES:
            return
        self.retries += 1
        self.next_segment = grasps[-1]
        self.queue, self.i, self.steps_on = [], 0, 0
        self.grasped.discard(name)

    @staticmethod
    def _world(p_base: np.ndarray, base_pos: np.ndarray, base_orn: np.ndarray) -> np.ndarray:
        return base_pos + tf.quat_rotate(base_orn, p_base)

    def _watch(self, obs, frames, pos, base_pos, base_orn) -> None:
        o = self.offset
        hand_b = np.asarray(obs["ee"][o:o + 3])
        if self.held is not None and self.held in frames:
            if np.linalg.norm(hand_b - frames[self.held]) > self.hold_distance + GRASP_SLACK:
                self._event("grasp lost")
                self._regrasp(self.held)
                self.held = None
        for name, p in frames.items():
            if name in self.grasped or name in (self.held, self.current_ref) or name not in self.start_positions:
                continue
            if np.linalg.norm(p - self.start_positions[name]) > KNOCKED:
                self._event("collision")
        table = getattr(self.task, "table", None)
        if table is not None and any(link in self.arm_links for link in
                                     self.env.scene.contact_links(self.robot.body, table)):
            self._event("collision")

"""Whole-body control of a floating-base humanoid, from its model alone: balance and hand IK that keep the centre of
mass (CoM) over the feet.

* **Balance**: the ankle/hip lean of `AnkleHipBalance` (against base tilt), plus CoM feedback: the CoM's offset from the
  middle of the support polygon (and its rate), read as a lean angle (offset / CoM height), turns the ankles (hips:
  half) so the ground pushes the CoM back over the feet. Which joints lean, and which way, comes from the kinematics.
* **Whole-body IK for a hand**: one weighted damped-least-squares step per control step over the hand's arm and the
  trunk joints between the arm and the pelvis (waist, torso): the hand's target (position, plus orientation for arms
  of six or more joints), the CoM's horizontal position kept inside the inner part of the support polygon, and a pull
  of the trunk towards its home pose; joint limits are respected by dropping a blocked joint and solving again.
  The legs are left to the balance, which keeps the feet flat and the CoM over them.

Plain numpy on geometric Jacobians (joint axes and origins from one `getLinkStates` call); QP-based libraries (PlaCo,
Pink) were considered but need Pinocchio builds and a second model of the robot, for a 10-column problem this solves
in microseconds. The settings are the spec's `[whole_body]` (`flywheel.robots.spec.WholeBody`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pybullet as p

from flywheel.robots.spec import WholeBody as WholeBodySettings
from flywheel.sim import transforms as tf
from flywheel.sim.balance import AnkleHipBalance

if TYPE_CHECKING:
    from flywheel.sim.robot import Robot
    from flywheel.sim.scene import Scene

SUPPORT_MARGIN = 0.5  # the CoM task keeps the CoM inside this fraction of the support rectangle (around its middle)
IK_DAMPING = 0.05
TRUNK_POSTURE = 0.3  # weight of the trunk's pull towards home: the arm moves first, the torso helps when it must
MAX_STEP = 0.25  # rad per control step, as `Robot.ik_step`
POSITION_GAIN = 2.0  # the step aims this far past the hand's error: targets set from the measured state would
# otherwise leave the sag a position motor needs to hold the arm against gravity (a centimetre on a long arm)
ORIENTATION_WEIGHT = 0.3  # the hand's position comes first: a grasp needs it within a centimetre, its angle less so


class WholeBody:
    """Balance and whole-body hand IK of one runtime robot (see the module docstring)."""

    def __init__(self, robot: Robot, scene: Scene, settings: WholeBodySettings | None = None):
        self.robot, self.scene = robot, scene
        self.settings = settings or robot.spec.whole_body or WholeBodySettings()
        self.lean = AnkleHipBalance(robot, scene)
        cid, body = scene.client, robot.body
        n = p.getNumJoints(body, physicsClientId=cid)
        info = [p.getJointInfo(body, j, physicsClientId=cid) for j in range(n)]
        self._n_links = n
        self._masses = np.array([m for _, m in scene.link_masses(body)])  # base first
        self._total = float(self._masses.sum())
        self._feet = [robot.ee_links[robot.ee_names.index(f)] for f in robot.ee_names if f.endswith("_foot")]
        # links below each link (itself included), for the CoM Jacobian
        parent = [info[j][16] for j in range(n)]
        below = {j: [j] for j in range(n)}
        for j in reversed(range(n)):  # PyBullet orders links parents first
            if parent[j] >= 0:
                below[parent[j]] += below[j]
        self._below = {j: np.array(sorted(set(v)), dtype=np.int64) + 1 for j, v in below.items()}  # +1: mass index
        single = {jt.index: jt for jt in robot.joints if jt.type != p.JOINT_SPHERICAL}
        self._dofs: dict[str, list] = {}
        for hand in robot.hands:
            arm = [int(d) for d in robot.ik_dofs(hand)]
            link, trunk = robot.ee_links[robot.ee_names.index(hand)], []
            while link >= 0:
                jt = single.get(link)
                if jt is not None and jt.dof_slice.start not in arm:
                    trunk.append(jt)
                link = parent[link]
            chain = [jt for jt in robot.ik_chain(hand) if jt.type != p.JOINT_SPHERICAL]
            if len(chain) != len(robot.ik_chain(hand)) or not chain:
                continue  # spherical arms keep the arm-only IK of `Robot.ik_step`
            joints = trunk[::-1] + chain
            self._dofs[hand] = [(jt, jt.type == p.JOINT_PRISMATIC, jt in trunk) for jt in joints]

    # ---- state -------------------------------------------------------------------------------------
    def com(self) -> tuple[np.ndarray, np.ndarray]:
        """World CoM of the robot and its velocity."""
        cid, body = self.scene.client, self.robot.body
        pos, _ = p.getBasePositionAndOrientation(body, physicsClientId=cid)  # the base's inertial frame
        lin, _ = p.getBaseVelocity(body, physicsClientId=cid)
        states = p.getLinkStates(body, range(self._n_links), computeLinkVelocity=1, physicsClientId=cid)
        points = np.array([pos] + [st[0] for st in states])
        vels = np.array([lin] + [st[6] for st in states])
        m = self._masses
        return m @ points / self._total, m @ vels / self._total

    def support(self) -> tuple[np.ndarray, np.ndarray]:
        """The feet's bounding rectangle on the ground (world x-y corners low, high); the middle of the support
        polygon is its centre. Without feet: a point under the base."""
        cid, body = self.scene.client, self.robot.body
        if not self._feet:
            pos, _ = p.getBasePositionAndOrientation(body, physicsClientId=cid)
            return np.array(pos[:3]), np.array(pos[:3])
        boxes = [p.getAABB(body, f, physicsClientId=cid) for f in self._feet]
        lo = np.min([b[0] for b in boxes], axis=0)
        hi = np.max([b[1] for b in boxes], axis=0)
        return lo, hi

    # ---- balance -----------------------------------------------------------------------------------
    def balance_targets(self, q_des: np.ndarray, base: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
        """`q_des` with the legs leaning against base tilt (`[balance]`) and against the CoM's offset from the middle
        of the feet (`[whole_body]`), plus `noise`, clipped to the joint limits."""
        lean, s = self.lean, self.settings
        q = lean.joint_targets(base, noise=noise, q_des=q_des)
        com, vel = self.com()
        lo, hi = self.support()
        centre = (lo + hi) / 2
        height = max(float(com[2] - lo[2]), 0.05)
        yaw = tf.quat_to_euler(base[3:7])[2]
        c, sn = np.cos(yaw), np.sin(yaw)
        d = com[:2] - centre[:2]
        fwd, left = c * d[0] + sn * d[1], -sn * d[0] + c * d[1]  # in the heading frame
        vf, vl = c * vel[0] + sn * vel[1], -sn * vel[0] + c * vel[1]
        pitch = (s.com_gain * fwd + s.com_damping * vf) / height  # CoM ahead: like a forward lean
        roll = -(s.com_gain * left + s.com_damping * vl) / height  # CoM to the left: like a negative roll
        if lean.pitch_dofs:
            q[lean.pitch_dofs] += lean.pitch_sign * pitch
        if lean.roll_dofs:
            q[lean.roll_dofs] += lean.roll_sign * roll
        return np.clip(q, self.robot.lower, self.robot.upper)

    # ---- whole-body IK -----------------------------------------------------------------------------
    def has_whole_body_ik(self, hand: str) -> bool:
        return hand in self._dofs

    def ik_step(self, q: np.ndarray, hand: str, target_pos: np.ndarray, target_orn: np.ndarray | None,
                q_ref: np.ndarray, pose: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """One weighted DLS step of the hand's arm and trunk (see the module docstring); other joints unchanged."""
        robot, cid = self.robot, self.scene.client
        joints = self._dofs[hand]
        pos, orn = pose if pose is not None else robot.ee_world_pose(hand)
        states = p.getLinkStates(robot.body, range(self._n_links), physicsClientId=cid)
        base_pos, _ = p.getBasePositionAndOrientation(robot.body, physicsClientId=cid)
        points = np.array([base_pos] + [st[0] for st in states])
        m = self._masses
        com = m @ points / self._total
        use_orn = target_orn is not None and sum(not trunk for _, _, trunk in joints) >= 6
        k = len(joints)
        jh = np.zeros((6 if use_orn else 3, k))
        jc = np.zeros((2, k))
        for col, (jt, prismatic, _) in enumerate(joints):
            st = states[jt.index]
            axis = tf.quat_rotate(np.array(st[1]), robot.joint_axis(jt.index))
            origin = np.array(st[4])
            sub = self._below[jt.index]
            m_sub = float(m[sub].sum())
            if prismatic:
                jh[:3, col] = axis
                jc[:, col] = (axis * m_sub / self._total)[:2]
            else:
                jh[:3, col] = np.cross(axis, pos - origin)
                if use_orn:
                    jh[3:, col] = axis
                c_sub = m[sub] @ points[sub] / max(m_sub, 1e-9)
                jc[:, col] = (np.cross(axis, c_sub - origin) * m_sub / self._total)[:2]
        err = POSITION_GAIN * (np.asarray(target_pos, dtype=np.float64) - pos)
        if use_orn:
            err = np.concatenate([err, 0.5 * tf.orientation_error(orn, np.asarray(target_orn))])
            jh[3:] *= ORIENTATION_WEIGHT
            err[3:] *= ORIENTATION_WEIGHT
        lo, hi = self.support()
        centre, half = (lo[:2] + hi[:2]) / 2, SUPPORT_MARGIN * (hi[:2] - lo[:2]) / 2
        err_c = np.clip(com[:2], centre - half, centre + half) - com[:2]  # zero while the CoM is well inside
        dofs = np.array([jt.dof_slice.start for jt, _, _ in joints])
        trunk = np.array([t for _, _, t in joints])
        posture = np.where(trunk, TRUNK_POSTURE, 0.0) + IK_DAMPING ** 2
        pull = np.where(trunk, TRUNK_POSTURE, 0.01) * 0.1 * (q_ref[dofs] - q[dofs])
        w_c = self.settings.com_task
        lower, upper = robot.lower[dofs], robot.upper[dofs]
        free = np.ones(k, dtype=bool)
        for _ in range(2):
            a = jh * free
            b = jc * free
            lhs = a.T @ a + w_c * b.T @ b + np.diag(posture)
            rhs = a.T @ err + w_c * b.T @ err_c + pull * free
            dq = np.linalg.solve(lhs, rhs) * free
            blocked = ((q[dofs] + dq < lower) & (dq < 0)) | ((q[dofs] + dq > upper) & (dq > 0))
            if not blocked.any():
                break
            free &= ~blocked
        scale = np.abs(dq).max() / MAX_STEP if k else 0.0
        if scale > 1:
            dq /= scale
        out = q.copy()
        out[dofs] = (q[dofs] + dq).clip(lower, upper)
        return out

    def moved_dofs(self, hand: str) -> np.ndarray:
        """The dofs the whole-body IK of `hand` moves (trunk and arm)."""
        return np.array([jt.dof_slice.start for jt, _, _ in self._dofs[hand]], dtype=np.int64)

"""Standing balance for floating-base robots: hold the home pose and lean against the fall at ankles and hips.

The robot's own balance settings (`[balance]` in its spec: `ankle_gain`, `ankle_damping`) scale the lean;
which joints lean, and which way, comes from the kinematics in the home pose, never from joint names, so
any humanoid or quadruped spec works. The balance expert and the `stands` robot check both stand with it;
the whole-body controller of humanoids (`flywheel.sim.whole_body`) adds CoM feedback and whole-body hand IK.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pybullet as p

from flywheel.sim import transforms as tf

if TYPE_CHECKING:
    from flywheel.sim.robot import Robot
    from flywheel.sim.scene import Scene


class AnkleHipBalance:
    """Joint targets that lean against base tilt and tilt rate: ankles at full weight, hips at half."""

    def __init__(self, robot: Robot, scene: Scene):
        self.robot = robot
        self.ankle_gain = robot.spec.balance.ankle_gain
        self.ankle_damping = robot.spec.balance.ankle_damping
        self._dofs_from_kinematics(scene)

    def _dofs_from_kinematics(self, scene: Scene) -> None:
        """Find the ankle and hip degrees of freedom of each leg (chain from the base to a foot end-effector) from
        where the joints sit, and how much each turns about the canonical pitch (y) and roll (x) axes in the home
        pose: signs come from the geometry, never from joint names, so any humanoid or quadruped spec works.
        Only robots with ankles (joints at the foot) get the strategy; point-footed ones hold their home pose."""
        robot, cid = self.robot, scene.client
        feet = [n for n in robot.ee_names if n.endswith("_foot")]
        pitch, roll = np.zeros(robot.num_dofs), np.zeros(robot.num_dofs)
        with scene.saved_state():
            robot.reset(robot.home_q, robot.base_position, robot.base_orientation)
            canon = tf.quat_conj(robot.canonical_orientation(robot.base_orientation))  # world -> canonical frame
            q = robot.home_q
            for foot in feet:
                chain = robot.ik_chain(foot)
                if not chain:
                    continue
                states = p.getLinkStates(robot.body, [jt.index for jt in chain], physicsClientId=cid)
                foot_pos = np.array(p.getLinkState(robot.body, robot.ee_links[robot.ee_names.index(foot)],
                                                   physicsClientId=cid)[4])
                origins = [np.array(st[4]) for st in states]
                length = np.linalg.norm(origins[0] - foot_pos)
                for jt, st, origin in zip(chain, states, origins):
                    if np.linalg.norm(origin - foot_pos) < 0.25 * length:
                        weight = 1.0  # ankle
                    elif np.linalg.norm(origin - origins[0]) < 0.25 * length:
                        weight = 0.5  # hip
                    else:
                        continue  # knee
                    if jt.type == p.JOINT_SPHERICAL:  # rotation-vector components turn about the parent frame's axes
                        parent = tf.quat_mul(np.array(st[5]), tf.quat_conj(tf.rotvec_to_quat(q[jt.dof_slice])))
                        axes = [tf.quat_rotate(parent, e) for e in np.eye(3)]
                    else:
                        axes = [tf.quat_rotate(np.array(st[1]), robot.joint_axis(jt.index))]
                    for d, axis in zip(range(jt.dof_slice.start, jt.dof_slice.stop), axes):
                        axis = tf.quat_rotate(canon, axis)
                        pitch[d], roll[d] = weight * axis[1], weight * axis[0]
                has_ankle = any(np.linalg.norm(o - foot_pos) < 0.25 * length for o in origins)
                if not has_ankle:
                    pitch[:], roll[:] = 0.0, 0.0
                    break
        self.pitch_dofs = [int(i) for i in np.flatnonzero(np.abs(pitch) > 0.2)]
        self.roll_dofs = [int(i) for i in np.flatnonzero(np.abs(roll) > 0.2)]
        self.pitch_sign, self.roll_sign = pitch[self.pitch_dofs], roll[self.roll_dofs]

    def joint_targets(self, base: np.ndarray, noise: np.ndarray | None = None,
                      q_des: np.ndarray | None = None) -> np.ndarray:
        """Home (or `q_des`) plus the lean for the base state `base` (the observation's: position, canonical
        orientation, linear and angular velocity), plus `noise` (demonstration diversity), clipped to the joint limits."""
        robot = self.robot
        q_target = (robot.home_q if q_des is None else q_des).copy()
        roll, pitch, _ = tf.quat_to_euler(base[3:7])
        ang = tf.quat_rotate(tf.quat_conj(base[3:7]), base[10:13])
        if self.pitch_dofs:
            q_target[self.pitch_dofs] += self.pitch_sign * (self.ankle_gain * pitch + self.ankle_damping * ang[1])
        if self.roll_dofs:
            q_target[self.roll_dofs] += self.roll_sign * (self.ankle_gain * roll + self.ankle_damping * ang[0])
        if noise is not None:
            q_target += noise
        return np.clip(q_target, robot.lower, robot.upper)

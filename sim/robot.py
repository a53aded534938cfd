"""The runtime robot: a `RobotSpec` loaded into a `Scene`, driven by joint targets, read by names.

All per-step work is a handful of batched PyBullet calls (one motor call, one joint-state call, one
link-state call), because physics is 92-98% of a state-only episode and every microsecond of Python shows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pybullet as p

from flywheel.robots.spec import HANDS, RobotSpec, SpecError
from flywheel.sim import transforms as tf
from flywheel.sim.scene import Scene


@dataclass(frozen=True)
class _Joint:
    name: str
    index: int
    type: int  # p.JOINT_REVOLUTE | p.JOINT_PRISMATIC | p.JOINT_SPHERICAL
    dof_slice: slice


class Robot:
    def __init__(self, scene: Scene, spec: RobotSpec, fixed_base: bool | None = None):
        self.scene = scene
        self.spec = spec
        self.client = cid = scene.client
        self.fixed_base = spec.fixed_base if fixed_base is None else fixed_base
        self.body = self._load()
        self.base_position = np.array(spec.base_position, dtype=np.float64)
        self.base_orientation = np.array(spec.base_orientation, dtype=np.float64)
        if not self.fixed_base and spec.base_height is not None:
            self.base_position[2] = spec.base_height

        joint_index, link_index, movable = {}, {p.getBodyInfo(self.body, physicsClientId=cid)[0].decode(): -1}, []
        info = {}
        for j in range(p.getNumJoints(self.body, physicsClientId=cid)):
            ji = p.getJointInfo(self.body, j, physicsClientId=cid)
            name, link = ji[1].decode(), ji[12].decode()
            joint_index[name] = j
            link_index.setdefault(link, j)
            info[j] = ji
            if ji[2] != p.JOINT_FIXED:
                movable.append(j)
        self.joint_index, self.link_index = joint_index, link_index
        self._movable = movable

        joints, offset = [], 0
        for name in spec.joints:
            if name not in joint_index:
                raise SpecError(spec.source, "joints", f"joint {name!r} is not in the model {spec.model_path().name}; "
                                f"its movable joints are: {', '.join(info[j][1].decode() for j in movable)}")
            j = joint_index[name]
            jtype = info[j][2]
            if jtype == p.JOINT_FIXED:
                raise SpecError(spec.source, "joints", f"joint {name!r} is fixed in the model and cannot be actuated")
            width = 3 if jtype == p.JOINT_SPHERICAL else 1
            joints.append(_Joint(name, j, jtype, slice(offset, offset + width)))
            offset += width
        self.joints = joints
        self.num_dofs = offset
        self.dof_names = []
        for jt in joints:
            self.dof_names += [f"{jt.name}.{a}" for a in "xyz"] if jt.type == p.JOINT_SPHERICAL else [jt.name]
        self._single = [jt for jt in joints if jt.type != p.JOINT_SPHERICAL]
        self._single_idx = [jt.index for jt in self._single]
        self._single_dofs = np.array([jt.dof_slice.start for jt in self._single], dtype=np.int64)
        self._spherical = [jt for jt in joints if jt.type == p.JOINT_SPHERICAL]

        lower, upper = np.full(self.num_dofs, -np.pi), np.full(self.num_dofs, np.pi)
        for jt in self._single:
            lo, hi = info[jt.index][8], info[jt.index][9]
            if lo < hi:  # continuous joints report lo > hi
                lower[jt.dof_slice], upper[jt.dof_slice] = lo, hi
        self.lower, self.upper = lower, upper

        kp, kd, force = np.zeros(self.num_dofs), np.zeros(self.num_dofs), np.zeros(self.num_dofs)
        for jt in joints:
            g = spec.gains_for(jt.name)
            kp[jt.dof_slice], kd[jt.dof_slice], force[jt.dof_slice] = g.kp, g.kd, g.max_force
        self._kp_single = kp[self._single_dofs].tolist()
        self._kd_single = kd[self._single_dofs].tolist()
        self._force_single = force[self._single_dofs].tolist()
        # Mimic joints (spec.mimic) ride along in the same motor call, with targets from their leaders.
        dof_by_name = {jt.name: jt for jt in joints}
        self._mimic_idx, mimic_leader, mimic_mult, mimic_off = [], [], [], []
        for follower, m in spec.mimic.items():
            if follower not in joint_index or info[joint_index[follower]][2] not in (p.JOINT_REVOLUTE, p.JOINT_PRISMATIC):
                raise SpecError(spec.source, f"mimic.{follower}", "not a revolute or prismatic joint of the model")
            if dof_by_name[m.joint].type == p.JOINT_SPHERICAL:
                raise SpecError(spec.source, f"mimic.{follower}.joint", "a mimic joint must follow a one-dof joint")
            g = spec.gains_for(follower)
            self._mimic_idx.append(joint_index[follower])
            mimic_leader.append(dof_by_name[m.joint].dof_slice.start)
            mimic_mult.append(m.multiplier)
            mimic_off.append(m.offset)
            self._kp_single.append(g.kp)
            self._kd_single.append(g.kd)
            self._force_single.append(g.max_force)
        self._mimic_leader = np.array(mimic_leader, dtype=np.int64)
        self._mimic_mult, self._mimic_off = np.array(mimic_mult), np.array(mimic_off)
        self._motor_idx = self._single_idx + self._mimic_idx
        self._spherical_gains = [(kp[jt.dof_slice.start], kd[jt.dof_slice.start], force[jt.dof_slice.start]) for jt in self._spherical]

        self.home_q = np.zeros(self.num_dofs)
        for jt in joints:
            value = spec.home.get(jt.name, 0.0)
            self.home_q[jt.dof_slice] = value
        bad = (self.home_q < lower - 1e-9) | (self.home_q > upper + 1e-9)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SpecError(spec.source, f"home.{self.dof_names[i]}",
                            f"{self.home_q[i]:.4g} is outside the joint limits [{lower[i]:.4g}, {upper[i]:.4g}]")

        self.ee_names = [n for n in spec.end_effectors]
        self.ee_links, self.ee_offsets = [], []
        for name, ee in spec.end_effectors.items():
            key = ee.link if ee.link is not None else ee.joint
            table = link_index if ee.link is not None else joint_index
            if key not in table:
                raise SpecError(spec.source, f"end_effectors.{name}", f"{'link' if ee.link else 'joint'} {key!r} is not in the model; "
                                f"links are: {', '.join(sorted(link_index))}")
            self.ee_links.append(table[key])
            self.ee_offsets.append(np.array(ee.offset))
        self.hands = [h for h in HANDS if h in spec.end_effectors]
        self._jacobian_points = [self._jacobian_point(i) for i in range(len(self.ee_links))]
        self._ik_cols = {}
        base_cols = 0 if self.fixed_base else 6
        col_of = {j: base_cols + i for i, j in enumerate(movable)}
        dof_of = {jt.name: jt.dof_slice.start for jt in self._single}
        for name, ee in spec.end_effectors.items():
            chain = ee.ik_joints or self._chain_to_base(self.ee_links[self.ee_names.index(name)], info)
            chain = [j for j in chain if j in dof_of]
            self._ik_cols[name] = (np.array([col_of[joint_index[j]] for j in chain]), np.array([dof_of[j] for j in chain]))
        self._has_spherical_movable = any(info[j][2] == p.JOINT_SPHERICAL for j in movable)

        self.gripper_dofs = {}
        for ee_name, g in spec.grippers.items():
            dofs = np.array([dof_of[j] for j in g.joints])
            self.gripper_dofs[ee_name] = (dofs, np.array(g.open), np.array(g.closed))

        self._disable_passive_motors(set(jt.index for jt in joints) | set(self._mimic_idx))
        self._apply_friction()
        self.reset()

    # ---- loading -----------------------------------------------------------------------------
    def _load(self) -> int:
        spec, cid = self.spec, self.client
        path = spec.model_path()
        if not path.is_file():
            raise SpecError(spec.source, "model", f"model file {path} does not exist")
        flags = p.URDF_USE_INERTIA_FROM_FILE
        try:
            if spec.model_format == "mjcf":
                bodies = p.loadMJCF(str(path), flags=p.URDF_USE_SELF_COLLISION_EXCLUDE_ALL_PARENTS, physicsClientId=cid)
                return self._pick_mjcf_body(bodies)
            return p.loadURDF(str(path), spec.base_position, spec.base_orientation, useFixedBase=self.fixed_base,
                              flags=flags, physicsClientId=cid)
        except p.error as err:
            raise SpecError(spec.source, "model", f"PyBullet could not load {path}: {err}") from None

    def _pick_mjcf_body(self, bodies) -> int:
        cid = self.client
        if self.spec.model_body:
            for b in bodies:
                if p.getBodyInfo(b, physicsClientId=cid)[1].decode() == self.spec.model_body or \
                        p.getBodyInfo(b, physicsClientId=cid)[0].decode() == self.spec.model_body:
                    chosen = b
                    break
            else:
                raise SpecError(self.spec.source, "model_body", f"no body named {self.spec.model_body!r} in the MJCF file")
        else:
            chosen = max(bodies, key=lambda b: p.getNumJoints(b, physicsClientId=cid))
        for b in bodies:
            if b != chosen:
                p.removeBody(b, physicsClientId=cid)
        if self.fixed_base:
            p.createConstraint(chosen, -1, -1, -1, p.JOINT_FIXED, [0, 0, 0], [0, 0, 0],
                               list(self.spec.base_position[:2]) + [self.spec.base_height or self.spec.base_position[2]],
                               physicsClientId=cid)
        return chosen

    def _disable_passive_motors(self, actuated: set[int]) -> None:
        """PyBullet puts a velocity motor on every joint at load; joints we do not drive must swing freely."""
        for j in self._movable:
            if j not in actuated:
                p.setJointMotorControl2(self.body, j, p.VELOCITY_CONTROL, force=0.0, physicsClientId=self.client)

    def _apply_friction(self) -> None:
        for fr in self.spec.friction:
            for link in fr.links:
                if link not in self.link_index:
                    raise SpecError(self.spec.source, "friction.links", f"link {link!r} is not in the model")
                p.changeDynamics(self.body, self.link_index[link], lateralFriction=fr.lateral,
                                 spinningFriction=fr.spinning, rollingFriction=fr.rolling, physicsClientId=self.client)

    def _chain_to_base(self, link: int, info) -> list[str]:
        chain = []
        while link >= 0:
            chain.append(info[link][1].decode())
            link = info[link][16]
        return chain[::-1]

    # ---- state -------------------------------------------------------------------------------
    def reset(self, q: np.ndarray | None = None, base_position=None, base_orientation=None) -> None:
        """Teleport to a configuration with zero velocity and motors holding it (reset time only)."""
        cid, body = self.client, self.body
        q = self.home_q if q is None else np.asarray(q, dtype=np.float64)
        pos = self.base_position if base_position is None else base_position
        orn = self.base_orientation if base_orientation is None else base_orientation
        p.resetBasePositionAndOrientation(body, list(pos), list(orn), physicsClientId=cid)
        p.resetBaseVelocity(body, [0, 0, 0], [0, 0, 0], physicsClientId=cid)
        for jt in self._single:
            p.resetJointState(body, jt.index, float(q[jt.dof_slice.start]), 0.0, physicsClientId=cid)
        for j, value in zip(self._mimic_idx, self._mimic_targets(q)):
            p.resetJointState(body, j, float(value), 0.0, physicsClientId=cid)
        for jt in self._spherical:
            p.resetJointStateMultiDof(body, jt.index, list(tf.rotvec_to_quat(q[jt.dof_slice])), [0, 0, 0], physicsClientId=cid)
        self.apply_joint_targets(q)

    def apply_joint_targets(self, q_target: np.ndarray) -> None:
        cid, body = self.client, self.body
        if self._motor_idx:
            targets = q_target[self._single_dofs].tolist()
            if self._mimic_idx:
                targets += self._mimic_targets(q_target).tolist()
            p.setJointMotorControlArray(body, self._motor_idx, p.POSITION_CONTROL,
                                        targetPositions=targets,
                                        positionGains=self._kp_single, velocityGains=self._kd_single,
                                        forces=self._force_single, physicsClientId=cid)
        for jt, (kp, kd, force) in zip(self._spherical, self._spherical_gains):
            quat = tf.rotvec_to_quat(q_target[jt.dof_slice])
            p.setJointMotorControlMultiDof(body, jt.index, p.POSITION_CONTROL, targetPosition=list(quat),
                                           positionGain=kp, velocityGain=kd, force=[force] * 3, physicsClientId=cid)

    def _mimic_targets(self, q: np.ndarray) -> np.ndarray:
        return self._mimic_mult * q[self._mimic_leader] + self._mimic_off

    def joint_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Joint positions and velocities in spec order (spherical joints as rotation vectors)."""
        q, qd = np.empty(self.num_dofs), np.empty(self.num_dofs)
        if self._single:
            states = p.getJointStates(self.body, self._single_idx, physicsClientId=self.client)
            q[self._single_dofs] = [s[0] for s in states]
            qd[self._single_dofs] = [s[1] for s in states]
        for jt in self._spherical:
            pos, vel, _, _ = p.getJointStateMultiDof(self.body, jt.index, physicsClientId=self.client)
            q[jt.dof_slice] = tf.quat_to_rotvec(np.array(pos))
            qd[jt.dof_slice] = vel
        return q, qd

    def base_state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        pos, orn = p.getBasePositionAndOrientation(self.body, physicsClientId=self.client)
        lin, ang = p.getBaseVelocity(self.body, physicsClientId=self.client)
        return np.array(pos), np.array(orn), np.array(lin), np.array(ang)

    def ee_world_poses(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Tool-centre poses of every end-effector in the world frame, in spec order."""
        if not self.ee_links:
            return []
        states = p.getLinkStates(self.body, self.ee_links, computeForwardKinematics=1, physicsClientId=self.client)
        out = []
        for st, off in zip(states, self.ee_offsets):
            orn = np.array(st[5])
            out.append((np.array(st[4]) + tf.quat_rotate(orn, off), orn))
        return out

    def ee_world_pose(self, ee_name: str) -> tuple[np.ndarray, np.ndarray]:
        i = self.ee_names.index(ee_name)
        st = p.getLinkState(self.body, self.ee_links[i], computeForwardKinematics=1, physicsClientId=self.client)
        orn = np.array(st[5])
        return np.array(st[4]) + tf.quat_rotate(orn, self.ee_offsets[i]), orn

    def gripper_opening(self, q: np.ndarray, ee_name: str) -> float:
        """1 = fully open, 0 = closed, read from the finger joints (1.0 for hands without fingers)."""
        if ee_name not in self.gripper_dofs:
            return 1.0
        dofs, open_, closed = self.gripper_dofs[ee_name]
        span = open_ - closed
        return float(np.clip(np.mean((q[dofs] - closed) / np.where(span == 0, 1, span)), 0.0, 1.0))

    def set_gripper(self, q_target: np.ndarray, ee_name: str, opening: float) -> None:
        """Write a gripper command (1 = open) into a joint-target vector."""
        if ee_name in self.gripper_dofs:
            dofs, open_, closed = self.gripper_dofs[ee_name]
            q_target[dofs] = closed + float(np.clip(opening, 0.0, 1.0)) * (open_ - closed)

    # ---- inverse kinematics ------------------------------------------------------------------
    def ik_step(self, q: np.ndarray, ee_name: str, target_pos: np.ndarray, target_orn: np.ndarray | None = None,
                damping: float = 0.05, max_dq: float = 0.25, q_ref: np.ndarray | None = None) -> np.ndarray:
        """One damped-least-squares step towards a world-frame target over that end-effector's joints.

        Run once per control step from the measured state: the error feedback closes the loop, so a
        single Jacobian call per step suffices (resolved-rate control), and only the arm moves.
        """
        if self._has_spherical_movable:
            raise NotImplementedError(f"{self.spec.name}: IK through spherical joints is not supported")
        cols, dofs = self._ik_cols[ee_name]
        i = self.ee_names.index(ee_name)
        pos, orn = self.ee_world_pose(ee_name)
        all_q = [st[0] for st in p.getJointStates(self.body, self._movable, physicsClientId=self.client)]
        zeros = [0.0] * len(all_q)
        lin, ang = p.calculateJacobian(self.body, self.ee_links[i], self._jacobian_points[i], all_q, zeros, zeros,
                                       physicsClientId=self.client)
        jac_lin, jac_ang = np.asarray(lin)[:, cols], np.asarray(ang)[:, cols]
        err = np.asarray(target_pos) - pos
        if target_orn is not None:
            jac = np.vstack([jac_lin, jac_ang])
            err = np.concatenate([err, 0.5 * tf.orientation_error(orn, np.asarray(target_orn))])
        else:
            jac = jac_lin
        jjt = jac @ jac.T + (damping ** 2) * np.eye(jac.shape[0])
        dq = jac.T @ np.linalg.solve(jjt, err)
        if q_ref is not None:  # pull redundant joints towards a reference in the null space
            null = np.eye(len(dofs)) - jac.T @ np.linalg.solve(jjt, jac)
            dq += null @ (0.1 * (q_ref[dofs] - q[dofs]))
        scale = np.max(np.abs(dq)) / max_dq
        if scale > 1:
            dq /= scale
        out = q.copy()
        out[dofs] = np.clip(q[dofs] + dq, self.lower[dofs], self.upper[dofs])
        return out

    def _jacobian_point(self, i: int) -> list[float]:
        """calculateJacobian's localPosition is relative to the link's inertial frame, not the link frame."""
        st = p.getLinkState(self.body, self.ee_links[i], physicsClientId=self.client)
        com_pos, com_orn = np.array(st[2]), np.array(st[3])  # inertial frame expressed in the link frame
        return list(tf.quat_rotate(tf.quat_conj(com_orn), self.ee_offsets[i] - com_pos))

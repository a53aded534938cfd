"""The runtime robot: a `RobotSpec` loaded into a `Scene`, driven by joint targets, read by names.

All per-step work is a handful of batched PyBullet calls (one motor call, one joint-state call, one
link-state call), because physics is 92-98% of a state-only episode and every microsecond of Python shows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pybullet as p

from flywheel.canonical import HANDS
from flywheel.robots.spec import RobotSpec, SpecError
from flywheel.sim import transforms as tf
from flywheel.sim.scene import Scene

MIMIC_MAX_FORCE = 1000.0  # a mimic coupling is a rigid linkage, far stronger than the motor that drives it


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
        # a humanoid held by its pelvis (stand = "fixed_pelvis") is a fixed base where it would stand
        self.fixed_base = (spec.fixed_base or spec.fixed_pelvis) if fixed_base is None else fixed_base
        self.body = self._load()
        self.base_position = np.array(spec.base_position, dtype=np.float64)
        self.base_orientation = np.array(spec.base_orientation, dtype=np.float64)
        if (not self.fixed_base or spec.fixed_pelvis) and spec.base_height is not None:
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
        # Mimic joints (spec.mimic): a gear constraint ties each follower's velocity to its leader's, so a
        # linkage gripper moves as one mechanism (a follower blocked by contact holds its leader back too);
        # PyBullet's gear only weakly corrects position drift, so each follower's own (weak: its gains
        # group) motor also tracks its leader's measured position, refreshed every control step.
        dof_by_name = {jt.name: jt for jt in joints}
        self._mimic_idx, mimic_leader, mimic_mult, mimic_off = [], [], [], []
        for follower, m in spec.mimic.items():
            if follower not in joint_index or info[joint_index[follower]][2] not in (p.JOINT_REVOLUTE, p.JOINT_PRISMATIC):
                raise SpecError(spec.source, f"mimic.{follower}", "not a revolute or prismatic joint of the model")
            leader = dof_by_name[m.joint]
            if leader.type == p.JOINT_SPHERICAL:
                raise SpecError(spec.source, f"mimic.{follower}.joint", "a mimic joint must follow a one-dof joint")
            if m.multiplier == 0:
                raise SpecError(spec.source, f"mimic.{follower}.multiplier", "must not be 0")
            self._mimic_idx.append(joint_index[follower])
            mimic_leader.append(leader.dof_slice.start)
            mimic_mult.append(m.multiplier)
            mimic_off.append(m.offset)
            # PyBullet's gear constraint keeps q_leader + ratio * q_follower = relativePositionTarget
            gear = p.createConstraint(self.body, leader.index, self.body, joint_index[follower], p.JOINT_GEAR,
                                      [1, 0, 0], [0, 0, 0], [0, 0, 0], physicsClientId=cid)
            p.changeConstraint(gear, gearRatio=-1.0 / m.multiplier, relativePositionTarget=-m.offset / m.multiplier,
                               maxForce=MIMIC_MAX_FORCE, erp=1.0, physicsClientId=cid)
        self._mimic_leader = np.array(mimic_leader, dtype=np.int64)
        self._mimic_leader_idx = [dof_by_name[m.joint].index for m in spec.mimic.values()]
        self._mimic_kp = [spec.gains_for(f).kp for f in spec.mimic]
        self._mimic_kd = [spec.gains_for(f).kd for f in spec.mimic]
        self._mimic_force = [spec.gains_for(f).max_force for f in spec.mimic]
        self._mimic_mult, self._mimic_off = np.array(mimic_mult), np.array(mimic_off)
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
        actuated = {jt.name: jt for jt in joints}
        self._ik_chain: dict[str, list[_Joint]] = {}
        for name, ee in spec.end_effectors.items():
            chain = ee.ik_joints or self._chain_to_base(self.ee_links[self.ee_names.index(name)], info)
            self._ik_chain[name] = [actuated[j] for j in chain if j in actuated]
            chain = [j for j in chain if j in dof_of]
            dofs = [d for jt in self._ik_chain[name] for d in range(jt.dof_slice.start, jt.dof_slice.stop)]
            self._ik_cols[name] = (np.array([col_of[joint_index[j]] for j in chain]), np.array(dofs, dtype=np.int64))
        self._has_spherical_movable = any(info[j][2] == p.JOINT_SPHERICAL for j in movable)
        # Joint axes as PyBullet reports them: in the child link's inertial frame.
        self._joint_axis = {jt.index: np.array(info[jt.index][13], dtype=np.float64) for jt in joints}
        # The robot's canonical frame (z up, x forward) is the base link frame turned back by the spec's
        # base_orientation, so a Y-up model reports the same observations as a Z-up one.
        self._canonical = None if np.allclose(self.base_orientation, [0, 0, 0, 1]) else tf.quat_conj(self.base_orientation)

        self.gripper_dofs = {}
        for ee_name, g in spec.grippers.items():
            dofs = np.array([dof_of[j] for j in g.joints])
            self.gripper_dofs[ee_name] = (dofs, np.array(g.open), np.array(g.closed))

        self._disable_passive_motors(set(jt.index for jt in joints))
        self._apply_friction()
        self._prepare_hot_paths()
        self.reset()

    # ---- loading -----------------------------------------------------------------------------
    def _load(self) -> int:
        spec, cid = self.spec, self.client
        path = spec.model_path()
        if not path.is_file():
            raise SpecError(spec.source, "model", f"model file {path} does not exist")
        flags = p.URDF_USE_INERTIA_FROM_FILE if spec.inertia_from_file else 0
        try:
            if spec.model_format == "mjcf":
                bodies = p.loadMJCF(str(path), flags=p.URDF_USE_SELF_COLLISION_EXCLUDE_ALL_PARENTS, physicsClientId=cid)
                return self._pick_mjcf_body(bodies)
            return p.loadURDF(str(path), spec.base_position, spec.base_orientation, useFixedBase=self.fixed_base,
                              flags=flags, globalScaling=spec.scale, physicsClientId=cid)
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
        if self._single:
            p.setJointMotorControlArray(body, self._single_idx, p.POSITION_CONTROL,
                                        targetPositions=q_target[self._single_dofs].tolist(),
                                        positionGains=self._kp_single, velocityGains=self._kd_single,
                                        forces=self._force_single, physicsClientId=cid)
        if self._mimic_idx:  # followers' own motors pull out the drift the gear constraint lets build up
            leaders = p.getJointStates(body, self._mimic_leader_idx, physicsClientId=cid)
            targets = self._mimic_mult * np.array([s[0] for s in leaders]) + self._mimic_off
            p.setJointMotorControlArray(body, self._mimic_idx, p.POSITION_CONTROL, targetPositions=targets.tolist(),
                                        positionGains=self._mimic_kp, velocityGains=self._mimic_kd,
                                        forces=self._mimic_force, physicsClientId=cid)
        for jt, (kp, kd, force) in zip(self._spherical, self._spherical_gains):
            quat = tf.rotvec_to_quat(q_target[jt.dof_slice])
            p.setJointMotorControlMultiDof(body, jt.index, p.POSITION_CONTROL, targetPosition=list(quat),
                                           positionGain=kp, velocityGain=kd, force=[force] * 3, physicsClientId=cid)

    def _mimic_targets(self, q: np.ndarray) -> np.ndarray:
        return self._mimic_mult * q[self._mimic_leader] + self._mimic_off

    # ---- per-step hot paths -------------------------------------------------------------------
    # Physics is 60-90% of a state-only step, so the per-step methods below avoid numpy calls on 3- and
    # 4-vectors (Python floats are the same IEEE doubles, in the same order of operations: results are
    # bit-identical to the plain numpy forms they replace) and precompute what does not change.
    def _prepare_hot_paths(self) -> None:
        n = self.num_dofs
        self._dofs_in_order = not self._spherical and self._single_dofs.tolist() == list(range(n))
        self._ee_offsets_f = [tuple(float(c) for c in off) for off in self.ee_offsets]
        self._gripper_fast = {}
        for ee_name, (dofs, open_, closed) in self.gripper_dofs.items():
            span = open_ - closed
            self._gripper_fast[ee_name] = (dofs, closed, np.where(span == 0, 1, span))
        self._ik_bounds = {name: (self.lower[dofs], self.upper[dofs], np.eye(len(dofs)))
                           for name, (_, dofs) in self._ik_cols.items()}
        self._ik_zeros = [0.0] * len(self._movable)
        self._damping_eye: dict[tuple[float, int], np.ndarray] = {}

    def joint_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Joint positions and velocities in spec order (spherical joints as rotation vectors)."""
        if self._dofs_in_order:  # every joint one-dof, in spec order: one call, two arrays
            states = p.getJointStates(self.body, self._single_idx, physicsClientId=self.client)
            return np.array([s[0] for s in states]), np.array([s[1] for s in states])
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

    def canonical_orientation(self, base_orn: np.ndarray) -> np.ndarray:
        """The world orientation of the robot's canonical frame, given its base link's world orientation."""
        return base_orn if self._canonical is None else tf.quat_mul(base_orn, self._canonical)

    def base_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Base position and canonical-frame orientation in the world."""
        pos, orn = p.getBasePositionAndOrientation(self.body, physicsClientId=self.client)
        return np.array(pos), self.canonical_orientation(np.array(orn))

    def base_state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        pos, orn = p.getBasePositionAndOrientation(self.body, physicsClientId=self.client)
        lin, ang = p.getBaseVelocity(self.body, physicsClientId=self.client)
        return np.array(pos), self.canonical_orientation(np.array(orn)), np.array(lin), np.array(ang)

    def ee_world_poses(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Tool-centre poses of every end-effector in the world frame, in spec order."""
        if not self.ee_links:
            return []
        states = p.getLinkStates(self.body, self.ee_links, computeForwardKinematics=1, physicsClientId=self.client)
        return [(_tool_point(st[4], st[5], off), np.array(st[5])) for st, off in zip(states, self._ee_offsets_f)]

    def ee_world_poses_of(self, ee_names) -> list[tuple[np.ndarray, np.ndarray]]:
        """`ee_world_poses` for the named end-effectors only (one call; the same values)."""
        idx = [self.ee_names.index(n) for n in ee_names]
        if not idx:
            return []
        states = p.getLinkStates(self.body, [self.ee_links[i] for i in idx], computeForwardKinematics=1,
                                 physicsClientId=self.client)
        offs = self._ee_offsets_f
        return [(_tool_point(st[4], st[5], offs[i]), np.array(st[5])) for st, i in zip(states, idx)]

    def ik_chain(self, ee_name: str) -> list[_Joint]:
        """The actuated joints from the base to this end-effector (or its spec's `ik_joints`), base first."""
        return self._ik_chain[ee_name]

    def joint_axis(self, joint_index: int) -> np.ndarray:
        """A joint's axis as PyBullet reports it: in the child link's inertial frame."""
        return self._joint_axis[joint_index]

    def ik_dofs(self, ee_name: str) -> np.ndarray:
        """Indices (into the dof vector) of the joints IK moves for this end-effector: its arm, or its leg."""
        return self._ik_cols[ee_name][1]

    def ee_world_pose(self, ee_name: str) -> tuple[np.ndarray, np.ndarray]:
        i = self.ee_names.index(ee_name)
        st = p.getLinkState(self.body, self.ee_links[i], computeForwardKinematics=1, physicsClientId=self.client)
        return _tool_point(st[4], st[5], self._ee_offsets_f[i]), np.array(st[5])

    def gripper_opening(self, q: np.ndarray, ee_name: str) -> float:
        """1 = fully open, 0 = closed, read from the finger joints (1.0 for hands without fingers)."""
        fast = self._gripper_fast.get(ee_name)
        if fast is None:
            return 1.0
        dofs, closed, span = fast
        return _clip01(float(_add_reduce((q[dofs] - closed) / span)) / len(dofs))  # = np.mean: the same pairwise sum

    def set_gripper(self, q_target: np.ndarray, ee_name: str, opening: float) -> None:
        """Write a gripper command (1 = open) into a joint-target vector."""
        if ee_name in self.gripper_dofs:
            dofs, open_, closed = self.gripper_dofs[ee_name]
            q_target[dofs] = closed + float(np.clip(opening, 0.0, 1.0)) * (open_ - closed)

    # ---- inverse kinematics ------------------------------------------------------------------
    def ik_step(self, q: np.ndarray, ee_name: str, target_pos: np.ndarray, target_orn: np.ndarray | None = None,
                damping: float = 0.05, max_dq: float = 0.25, q_ref: np.ndarray | None = None,
                pose: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """One damped-least-squares step towards a world-frame target over that end-effector's joints.

        Run once per control step from the measured state: the error feedback closes the loop, so a
        single Jacobian call per step suffices (resolved-rate control), and only the arm moves.
        Chains of fewer than 6 degrees of freedom (3- and 4-DoF humanoid arms) track the position only.
        Models with spherical joints use a geometric Jacobian (PyBullet's calculateJacobian refuses them).
        `pose` is the end-effector's world pose when the caller has already read it this step.
        """
        cols, dofs = self._ik_cols[ee_name]
        if len(dofs) < 6:
            target_orn = None
        if self._has_spherical_movable:
            return self._ik_step_geometric(q, ee_name, target_pos, target_orn, damping, max_dq, q_ref, pose)
        i = self.ee_names.index(ee_name)
        pos, orn = pose if pose is not None else self.ee_world_pose(ee_name)
        all_q = [st[0] for st in p.getJointStates(self.body, self._movable, physicsClientId=self.client)]
        zeros = self._ik_zeros
        lin, ang = p.calculateJacobian(self.body, self.ee_links[i], self._jacobian_points[i], all_q, zeros, zeros,
                                       physicsClientId=self.client)
        err = np.asarray(target_pos) - pos
        if target_orn is not None:  # one array of the six rows, then the chain's columns (= vstack of both)
            jac = np.array(lin + ang)[:, cols]
            err = np.concatenate([err, 0.5 * tf.orientation_error(orn, np.asarray(target_orn))])
        else:
            jac = np.array(lin)[:, cols]
        key = (damping, jac.shape[0])
        damp = self._damping_eye.get(key)
        if damp is None:
            damp = self._damping_eye[key] = (damping ** 2) * np.eye(jac.shape[0])
        lower, upper, eye = self._ik_bounds[ee_name]
        jjt = jac @ jac.T + damp
        dq = jac.T @ _solve(jjt, err)
        blocked = ((q[dofs] + dq < lower) & (dq < 0)) | ((q[dofs] + dq > upper) & (dq > 0))
        if blocked.any():  # a joint pushing past its limit: solve again without it, so the others take over
            jac = jac * ~blocked
            jjt = jac @ jac.T + damp
            dq = jac.T @ _solve(jjt, err)
        if q_ref is not None:  # pull redundant joints towards a reference in the null space
            null = eye - jac.T @ _solve(jjt, jac)
            dq += null @ (0.1 * (q_ref[dofs] - q[dofs]))
        scale = np.abs(dq).max() / max_dq
        if scale > 1:
            dq /= scale
        out = q.copy()
        out[dofs] = (q[dofs] + dq).clip(lower, upper)
        return out

    def _ik_step_geometric(self, q, ee_name, target_pos, target_orn, damping, max_dq, q_ref, pose) -> np.ndarray:
        """`ik_step` through spherical joints: a geometric Jacobian whose columns for a spherical joint are
        rotations about the world axes, turned back into the joint's rotation vector after the step."""
        chain = self._ik_chain[ee_name]
        pos, orn = pose if pose is not None else self.ee_world_pose(ee_name)
        states = p.getLinkStates(self.body, [jt.index for jt in chain], computeForwardKinematics=1,
                                 physicsClientId=self.client)
        lin_cols, ang_cols, parent_frames = [], [], []
        for jt, st in zip(chain, states):
            origin = np.array(st[4])  # the joint sits at its child link's frame
            if jt.type == p.JOINT_SPHERICAL:
                link_orn = np.array(st[5])
                # the joint's parent frame in the world: the child link frame with the joint rotation undone
                parent = tf.quat_mul(link_orn, tf.quat_conj(tf.rotvec_to_quat(q[jt.dof_slice])))
                parent_frames.append(parent)
                for axis in np.eye(3):
                    lin_cols.append(np.cross(axis, pos - origin))
                    ang_cols.append(axis)
            else:
                axis = tf.quat_rotate(np.array(st[1]), self._joint_axis[jt.index])
                if jt.type == p.JOINT_PRISMATIC:
                    lin_cols.append(axis)
                    ang_cols.append(np.zeros(3))
                else:
                    lin_cols.append(np.cross(axis, pos - origin))
                    ang_cols.append(axis)
        jac_lin, jac_ang = np.array(lin_cols).T, np.array(ang_cols).T
        err = np.asarray(target_pos) - pos
        if target_orn is not None:
            jac = np.vstack([jac_lin, jac_ang])
            err = np.concatenate([err, 0.5 * tf.orientation_error(orn, np.asarray(target_orn))])
        else:
            jac = jac_lin
        jjt = jac @ jac.T + (damping ** 2) * np.eye(jac.shape[0])
        dx = jac.T @ np.linalg.solve(jjt, err)
        room_lo, room_hi = self._ik_room(chain, q)
        blocked = ((dx < room_lo) & (dx < 0)) | ((dx > room_hi) & (dx > 0))
        if blocked.any():  # a joint pushing past its limit: solve again without it, so the others take over
            jac = jac * ~blocked
            jjt = jac @ jac.T + (damping ** 2) * np.eye(jac.shape[0])
            dx = jac.T @ np.linalg.solve(jjt, err)
        if q_ref is not None:  # pull towards the reference in the null space (spherical: as a world rotation)
            ref, k = [], 0
            for jt in chain:
                if jt.type == p.JOINT_SPHERICAL:
                    delta = tf.quat_mul(tf.rotvec_to_quat(q_ref[jt.dof_slice]), tf.quat_conj(tf.rotvec_to_quat(q[jt.dof_slice])))
                    ref.extend(tf.quat_rotate(parent_frames[k], tf.quat_to_rotvec(delta)))
                    k += 1
                else:
                    ref.append(q_ref[jt.dof_slice.start] - q[jt.dof_slice.start])
            null = np.eye(len(dx)) - jac.T @ np.linalg.solve(jjt, jac)
            dx += null @ (0.1 * np.array(ref))
        scale = np.max(np.abs(dx)) / max_dq
        if scale > 1:
            dx /= scale
        out, col, k = q.copy(), 0, 0
        for jt in chain:
            if jt.type == p.JOINT_SPHERICAL:
                omega = tf.quat_rotate(tf.quat_conj(parent_frames[k]), dx[col:col + 3])  # in the parent frame
                out[jt.dof_slice] = tf.quat_to_rotvec(tf.quat_mul(tf.rotvec_to_quat(omega), tf.rotvec_to_quat(q[jt.dof_slice])))
                col, k = col + 3, k + 1
            else:
                d = jt.dof_slice.start
                out[d] = np.clip(q[d] + dx[col], self.lower[d], self.upper[d])
                col += 1
        return out

    def _ik_room(self, chain, q) -> tuple[np.ndarray, np.ndarray]:
        """How far each Jacobian column may move before a joint limit (spherical joints: unlimited)."""
        lo, hi = [], []
        for jt in chain:
            if jt.type == p.JOINT_SPHERICAL:
                lo += [-np.inf] * 3
                hi += [np.inf] * 3
            else:
                d = jt.dof_slice.start
                lo.append(self.lower[d] - q[d])
                hi.append(self.upper[d] - q[d])
        return np.array(lo), np.array(hi)

    def _jacobian_point(self, i: int) -> list[float]:
        """calculateJacobian's localPosition is relative to the link's inertial frame, not the link frame."""
        st = p.getLinkState(self.body, self.ee_links[i], physicsClientId=self.client)
        com_pos, com_orn = np.array(st[2]), np.array(st[3])  # inertial frame expressed in the link frame
        return list(tf.quat_rotate(tf.quat_conj(com_orn), self.ee_offsets[i] - com_pos))


# ---- hot-path helpers (bit-identical to the numpy expressions they stand for) ------------------------
def _tool_point(pos, orn, off) -> np.ndarray:
    """``np.array(pos) + tf.quat_rotate(orn, off)`` for PyBullet tuples, in Python floats (same operations)."""
    ux, uy, uz, w = orn
    vx, vy, vz = off
    tx, ty, tz = 2.0 * (uy * vz - uz * vy), 2.0 * (uz * vx - ux * vz), 2.0 * (ux * vy - uy * vx)
    return np.array([pos[0] + (vx + w * tx + (uy * tz - uz * ty)),
                     pos[1] + (vy + w * ty + (uz * tx - ux * tz)),
                     pos[2] + (vz + w * tz + (ux * ty - uy * tx))])


_add_reduce = np.add.reduce


def _clip01(x: float) -> float:
    """``float(np.clip(x, 0.0, 1.0))`` for a Python float (NaN and -0.0 pass through as numpy's clip does)."""
    if x < 0.0:
        return 0.0
    if x > 1.0:
        return 1.0
    return x


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.linalg.solve(a, b)`` for float64 a (n, n) and b (n,) or (n, k), without its per-call checks: the
    same LAPACK gufunc it calls. A singular ``a`` (never, with damping) falls back to raise its LinAlgError."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore", under="ignore"):
        x = (_solve1 if b.ndim == 1 else _solve2)(a, b, signature="dd->d")
    if not np.isfinite(x).all():
        return np.linalg.solve(a, b)
    return x


try:  # the gufuncs behind np.linalg.solve; fall back to the public function if numpy moves them
    from numpy.linalg import _umath_linalg as _ul

    _solve1, _solve2 = _ul.solve1, _ul.solve
except (ImportError, AttributeError):  # pragma: no cover
    def _solve1(a, b, signature=None):
        return np.linalg.solve(a, b)

    _solve2 = _solve1

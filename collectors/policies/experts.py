"""Scripted experts: inverse kinematics plus waypoints for reach and pick_place, a PD standing controller for balance.

Experts read the simulator through the env (they are privileged teachers), choose an end-effector target
with state-driven phases (so they can label any state a learned policy visits, DAgger-style), and emit the
action in whatever control mode the env uses. `noise` perturbs the targets for diverse demonstrations.
"""
from __future__ import annotations

import numpy as np

from flywheel.canonical import EE_ACTION_WIDTH, HANDS
from flywheel.sim import transforms as tf
from flywheel.sim.env import EE_DELTA_LIMITS


class _ExpertBase:
    name = "expert"

    def __init__(self, env, noise: float = 0.0):
        self.env = env.unwrapped
        self.robot = self.env.robot
        self.noise = float(noise)
        self.rng = np.random.default_rng()
        self._hold_masks: dict[str, np.ndarray] = {}

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    # ---- emit an action towards a world-frame hand target ------------------------------------
    max_speed = 0.03  # metres per control step the hand target may move ahead of the hand (0.6 m/s at 20 Hz)

    def _holds_home(self, hand: str) -> np.ndarray:
        """Mask of the joints that stay at home while `hand` moves (all but its arm); fixed per env."""
        masks = self._hold_masks
        if hand not in masks:
            masks[hand] = np.ones(self.robot.num_dofs, dtype=bool)
            masks[hand][self.robot.ik_dofs(hand)] = False
        return masks[hand]

    def _action_for(self, hand: str, target_pos, target_orn, gripper: float) -> np.ndarray:
        env, robot = self.env, self.robot
        pos, orn = robot.ee_world_pose(hand)
        step = np.asarray(target_pos, dtype=np.float64) - pos
        length = np.linalg.norm(step)
        if length > self.max_speed:  # a moving waypoint keeps the motion smooth and the overshoot small
            step *= self.max_speed / length
        target_pos = pos + step
        if self.noise > 0:
            target_pos = target_pos + self.rng.normal(0.0, self.noise, 3)
        if env.control_mode == "joint_pos":
            q, _ = robot.joint_state()
            q_target = robot.ik_step(q, hand, target_pos, target_orn, q_ref=robot.home_q, pose=(pos, orn))
            keep = self._holds_home(hand)
            q_target[keep] = robot.home_q[keep]  # everything but the arm holds its home pose (legs: standing)
            robot.set_gripper(q_target, hand, gripper)
            extra = [gripper if h == hand else 1.0 for h in env.virtual_grippers]
            return np.concatenate([q_target, extra]).astype(np.float32)
        base_pos, base_orn = env.base_pose()
        inv = tf.quat_conj(base_orn)
        action = np.zeros(EE_ACTION_WIDTH * len(HANDS), dtype=np.float32)
        for slot, h in enumerate(HANDS):
            action[slot * EE_ACTION_WIDTH + 6] = 1.0
        slot = HANDS.index(hand) * EE_ACTION_WIDTH
        action[slot:slot + 3] = np.clip(tf.quat_rotate(inv, np.asarray(target_pos) - pos), -EE_DELTA_LIMITS[:3], EE_DELTA_LIMITS[:3])
        if target_orn is not None:
            rel = tf.quat_mul(inv, tf.quat_mul(tf.quat_mul(np.asarray(target_orn), tf.quat_conj(orn)), base_orn))
            action[slot + 3:slot + 6] = np.clip(tf.quat_to_euler(rel), -EE_DELTA_LIMITS[3:], EE_DELTA_LIMITS[3:])
        action[slot + 6] = gripper
        return action


class ReachExpert(_ExpertBase):
    name = "expert_reach"

    def act(self, observation) -> np.ndarray:
        task = self.env.task
        return self._action_for(task.hand, task.goal_world, None, 1.0)


class PickPlaceExpert(_ExpertBase):
    """Above the cube -> down -> close -> lift -> above the target -> down -> open."""

    name = "expert_pick_place"
    hover = 0.10
    close_steps = 6

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.phase, self.closed_for = "approach", 0
        self.grasp_orn = None  # chosen at the first step, once the cube has been placed by reset
        self.touch, self.grasp_distance = None, 0.0  # where a fingerless hand met the cube; hand-cube distance held

    def _grasp_orientation(self) -> np.ndarray:
        """The hand's home orientation, turned about the vertical to match the cube's yaw (mod 90 degrees)."""
        import pybullet as p

        task = self.env.task
        home_orn = self._home_orn
        _, cube_orn = p.getBasePositionAndOrientation(task.cube, physicsClientId=self.env.scene.client)
        yaw = tf.quat_to_euler(np.asarray(cube_orn))[2]
        yaw = (yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4
        return tf.quat_mul(tf.euler_to_quat([0, 0, yaw]), home_orn)

    def act(self, observation) -> np.ndarray:
        task, robot = self.env.task, self.robot
        if self.grasp_orn is None:
            if getattr(self, "_home_orn", None) is None:  # fixed per env: computing it costs a saveState (2.5 ms)
                self._home_orn = self._home_orientation()
            self.grasp_orn = self._grasp_orientation()
        hand = task.hand
        pos, _ = robot.ee_world_pose(hand)
        cube = task.cube_world
        goal = task.goal_world
        orn = self.grasp_orn
        if self.phase == "approach":
            above = cube + [0, 0, self.hover]
            if np.linalg.norm((pos - above)[:2]) < 0.01 and abs(pos[2] - above[2]) < 0.03:
                self.phase = "descend"
            return self._action_for(hand, above, orn, 1.0)
        if self.phase == "descend":
            if np.linalg.norm(pos - cube) < 0.01:
                self.phase = "close"
            elif task.assisted and task.hand_touches_cube():  # a fingerless hand grasps where it touches
                self.phase, self.touch = "close", pos
            elif np.linalg.norm((pos - cube)[:2]) > 0.03:
                self.phase = "approach"
            return self._action_for(hand, cube, orn, 1.0)
        if self.phase == "close":
            self.closed_for += 1
            if self.closed_for >= self.close_steps:
                self.phase = "lift"
                self.grasp_distance = float(np.linalg.norm(pos - cube))
            return self._action_for(hand, cube if self.touch is None else self.touch, orn, 0.0)
        grip_offset = pos - cube  # where in the fingers the cube sits: steer the cube, not the hand
        if np.linalg.norm(grip_offset) > max(0.05, self.grasp_distance + 0.03):
            self.phase, self.closed_for, self.touch = "approach", 0, None  # dropped it: start again
            return self._action_for(hand, cube + [0, 0, self.hover], orn, 1.0)
        if self.phase == "lift":
            above_goal = goal + [0, 0, self.hover]
            if cube[2] < goal[2] + self.hover * 0.7:
                return self._action_for(hand, np.array([pos[0], pos[1], above_goal[2] + grip_offset[2]]), orn, 0.0)
            if np.linalg.norm((cube - above_goal)[:2]) < 0.01:
                self.phase = "place"
            return self._action_for(hand, above_goal + grip_offset, orn, 0.0)
        # place: lower onto the target, open when it sits there
        if np.linalg.norm(cube - goal) < 0.015:
            return self._action_for(hand, pos + [0, 0, 0.03], orn, 1.0)
        return self._action_for(hand, goal + grip_offset, orn, 0.0)

    def _home_orientation(self) -> np.ndarray:
        import pybullet as p

        """The hand's world orientation in the home pose with the base as the spec places it: a constant of the
        env (never of the episode), so it is computed once and episodes stay independent of each other."""
        robot = self.robot
        state = p.saveState(physicsClientId=self.env.scene.client)
        robot.reset(robot.home_q, robot.base_position, robot.base_orientation)
        _, orn = robot.ee_world_pose(self.env.task.hand)
        p.restoreState(state, physicsClientId=self.env.scene.client)
        p.removeState(state, physicsClientId=self.env.scene.client)
        return orn


class BalanceExpert(_ExpertBase):
    """Hold the home pose and lean against the fall: ankle and hip corrections from base tilt and rate."""

    name = "expert_balance"
    ankle_gain, ankle_damping = 0.6, 0.08  # a spec's [expert.balance] table overrides these per robot

    def __init__(self, env, noise: float = 0.0):
        super().__init__(env, noise)
        tuning = self.robot.spec.expert.get("balance", {})
        unknown = set(tuning) - {"ankle_gain", "ankle_damping"}
        if unknown:
            raise ValueError(f"{self.robot.spec.source}: field 'expert.balance.{sorted(unknown)[0]}': unknown; "
                             "the balance expert takes ankle_gain and ankle_damping")
        self.ankle_gain = tuning.get("ankle_gain", self.ankle_gain)
        self.ankle_damping = tuning.get("ankle_damping", self.ankle_damping)
        self._dofs_from_kinematics()

    def _dofs_from_kinematics(self) -> None:
        """Find the ankle and hip degrees of freedom of each leg (chain from the base to a foot end-effector) from
        where the joints sit, and how much each turns about the canonical pitch (y) and roll (x) axes in the home
        pose: signs come from the geometry, never from joint names, so any humanoid or quadruped spec works.
        Only robots with ankles (joints at the foot) get the strategy; point-footed ones hold their home pose."""
        import pybullet as p

        robot, cid = self.robot, self.env.scene.client
        feet = [n for n in robot.ee_names if n.endswith("_foot")]
        state = p.saveState(physicsClientId=cid)
        robot.reset(robot.home_q, robot.base_position, robot.base_orientation)
        canon = tf.quat_conj(robot.canonical_orientation(robot.base_orientation))  # world -> canonical frame
        q = robot.home_q
        pitch, roll = np.zeros(robot.num_dofs), np.zeros(robot.num_dofs)
        for foot in feet:
            chain = robot._ik_chain[foot]
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
                    axes = [tf.quat_rotate(np.array(st[1]), robot._joint_axis[jt.index])]
                for d, axis in zip(range(jt.dof_slice.start, jt.dof_slice.stop), axes):
                    axis = tf.quat_rotate(canon, axis)
                    pitch[d], roll[d] = weight * axis[1], weight * axis[0]
            has_ankle = any(np.linalg.norm(o - foot_pos) < 0.25 * length for o in origins)
            if not has_ankle:
                pitch[:], roll[:] = 0.0, 0.0
                break
        p.restoreState(state, physicsClientId=cid)
        p.removeState(state, physicsClientId=cid)
        self.pitch_dofs = [int(i) for i in np.flatnonzero(np.abs(pitch) > 0.2)]
        self.roll_dofs = [int(i) for i in np.flatnonzero(np.abs(roll) > 0.2)]
        self.pitch_sign, self.roll_sign = pitch[self.pitch_dofs], roll[self.roll_dofs]

    def act(self, observation) -> np.ndarray:
        robot = self.robot
        q_target = robot.home_q.copy()
        base = observation["base"]
        roll, pitch, _ = tf.quat_to_euler(base[3:7])
        ang = tf.quat_rotate(tf.quat_conj(base[3:7]), base[10:13])
        if self.pitch_dofs:
            q_target[self.pitch_dofs] += self.pitch_sign * (self.ankle_gain * pitch + self.ankle_damping * ang[1])
        if self.roll_dofs:
            q_target[self.roll_dofs] += self.roll_sign * (self.ankle_gain * roll + self.ankle_damping * ang[0])
        if self.noise > 0:
            q_target += self.rng.normal(0.0, self.noise * 0.1, size=q_target.shape)
        q_target = np.clip(q_target, robot.lower, robot.upper)
        if self.env.control_mode == "joint_pos":
            return np.concatenate([q_target, np.ones(len(self.env.virtual_grippers))]).astype(np.float32)
        raise ValueError("the balance expert drives joints; use control_mode='joint_pos' for task 'balance'")


EXPERTS = {"reach": ReachExpert, "pick_place": PickPlaceExpert, "balance": BalanceExpert}


def expert(task_name: str, env, noise: float = 0.0):
    """The scripted expert for an env's task, with `reset(seed)` and `act(observation)`."""
    if task_name not in EXPERTS:
        raise KeyError(f"no expert for task {task_name!r}; experts exist for: {', '.join(EXPERTS)}")
    return EXPERTS[task_name](env, noise=noise)

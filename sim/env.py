"""`RobotTaskEnv`: a robot and a task composed into one Gymnasium environment.

The env owns the `Scene` (one DIRECT PyBullet client) and the control loop; the robot knows how to
move and be read, the task knows what success is. Any built-in robot or spec file works with any task
whose `check_robot` accepts it, so there is no per-robot env class.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pybullet as p

from flywheel import robots as robot_registry
from flywheel.robots.spec import HANDS, Camera, RobotSpec
from flywheel.sim import transforms as tf
from flywheel.sim.camera import CameraRig
from flywheel.sim.robot import Robot
from flywheel.sim.scene import PHYSICS_HZ, Scene
from flywheel.sim.tasks import make_task
from flywheel.sim.tasks.base import Task

CONTROL_MODES = ("joint_pos", "ee_delta")
EE_OBS_WIDTH = 8  # x y z qx qy qz qw gripper, per canonical hand
EE_ACTION_WIDTH = 7  # dx dy dz droll dpitch dyaw gripper, per canonical hand
EE_DELTA_LIMITS = np.array([0.05, 0.05, 0.05, 0.25, 0.25, 0.25], dtype=np.float32)  # metres, radians per step


class RobotTaskEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, robot: str | RobotSpec = "panda", task: str | Task = "reach", control_mode: str = "joint_pos",
                 camera: str | list[str] | None = None, depth: bool = False, randomize: bool = True,
                 control_hz: int = 20, fixed_base: bool | None = None, render_mode: str | None = None):
        if control_mode not in CONTROL_MODES:
            raise ValueError(f"unknown control_mode {control_mode!r}; use one of {', '.join(CONTROL_MODES)}")
        if PHYSICS_HZ % control_hz:
            raise ValueError(f"control_hz={control_hz} must divide the physics rate {PHYSICS_HZ} Hz")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode {render_mode!r} is not supported; use 'rgb_array' or None")
        self.spec_robot = robot_registry.get(robot)
        self.task = make_task(task) if isinstance(task, str) else task
        self.task.check_robot(self.spec_robot)
        self.control_mode, self.randomize, self.render_mode = control_mode, randomize, render_mode
        self.control_hz, self.substeps = control_hz, PHYSICS_HZ // control_hz
        self.metadata = dict(self.metadata, render_fps=control_hz)

        self.scene = Scene()
        try:
            self.robot = Robot(self.scene, self.spec_robot, fixed_base=fixed_base)
            self.task.build(self.scene, self.robot)
            self._setup_cameras(camera, depth)
        except Exception:
            self.scene.close()
            raise
        self._nominal_dynamics = [(link, p.getDynamicsInfo(self.robot.body, link, physicsClientId=self.scene.client)[0])
                                  for link in range(-1, p.getNumJoints(self.robot.body, physicsClientId=self.scene.client))]
        self._initial_state = p.saveState(physicsClientId=self.scene.client)
        self._initial_dynamics = self._dynamics()

        self.hand_slots = [h for h in HANDS if h in self.robot.hands]
        # Fingerless hands in a grasping task get a virtual gripper channel that drives the task's grasp assist.
        self.virtual_grippers = [h for h in self.hand_slots
                                 if h not in self.robot.gripper_dofs and getattr(self.task, "assisted", False)]
        self.ee_mask = np.array([1.0 if h in self.robot.hands else 0.0 for h in HANDS])
        self._hand_index = {h: self.robot.ee_names.index(h) for h in self.hand_slots}
        self._obs_hands = [(slot * EE_OBS_WIDTH, h) for slot, h in enumerate(HANDS) if h in self._hand_index]
        self.observation_space = self._make_observation_space()
        self.action_space = self._make_action_space()
        self._q_target = self.robot.home_q.copy()
        self._steps = 0
        self._last_obs: dict[str, Any] | None = None

    # ---- spaces ------------------------------------------------------------------------------
    def _make_observation_space(self) -> gym.spaces.Dict:
        n = self.robot.num_dofs
        spaces = {
            "state": gym.spaces.Box(-np.inf, np.inf, shape=(2 * n,), dtype=np.float64),
            "ee": gym.spaces.Box(-np.inf, np.inf, shape=(EE_OBS_WIDTH * len(HANDS),), dtype=np.float64),
            "ee_mask": gym.spaces.Box(0.0, 1.0, shape=(len(HANDS),), dtype=np.float64),
        }
        if not self.robot.fixed_base:
            spaces["base"] = gym.spaces.Box(-np.inf, np.inf, shape=(13,), dtype=np.float64)
        spaces.update(self.task.observation_spaces())
        if self.cameras is not None:
            spaces["images"] = gym.spaces.Dict({c.name: gym.spaces.Box(0, 255, (c.height, c.width, 3), np.uint8)
                                                for c in self._camera_specs})
            if self.cameras.depth:
                spaces["depth"] = gym.spaces.Dict({c.name: gym.spaces.Box(0.0, np.inf, (c.height, c.width, 1), np.float32)
                                                   for c in self._camera_specs})
        return gym.spaces.Dict(spaces)

    def _make_action_space(self) -> gym.spaces.Box:
        if self.control_mode == "joint_pos":
            extra = len(self.virtual_grippers)
            low = np.concatenate([self.robot.lower, np.zeros(extra)]).astype(np.float32)
            high = np.concatenate([self.robot.upper, np.ones(extra)]).astype(np.float32)
            return gym.spaces.Box(low, high, dtype=np.float32)
        low = np.tile(np.concatenate([-EE_DELTA_LIMITS, [0.0]]), len(HANDS)).astype(np.float32)
        high = np.tile(np.concatenate([EE_DELTA_LIMITS, [1.0]]), len(HANDS)).astype(np.float32)
        return gym.spaces.Box(low, high, dtype=np.float32)

    @property
    def action_names(self) -> list[str]:
        if self.control_mode == "joint_pos":
            return list(self.robot.dof_names) + [f"{h}.grasp" for h in self.virtual_grippers]
        return [f"{h}.{a}" for h in HANDS for a in ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper")]

    @property
    def state_names(self) -> list[str]:
        return [f"q.{n}" for n in self.robot.dof_names] + [f"qd.{n}" for n in self.robot.dof_names]

    def _setup_cameras(self, camera, depth: bool) -> None:
        names = [camera] if isinstance(camera, str) else list(camera or [])
        available = {c.name: c for c in self.spec_robot.cameras}
        available.update({c.name: c for c in self.task.scene_cameras()})
        unknown = [n for n in names if n not in available]
        if unknown:
            raise ValueError(f"unknown camera {unknown[0]!r} for robot {self.spec_robot.name!r} and task {self.task.name!r}; "
                             f"available cameras: {', '.join(sorted(available)) or 'none'}")
        self._camera_specs: list[Camera] = [available[n] for n in names]
        self._available_cameras = available
        link_index = dict(self.robot.link_index)
        self.cameras = CameraRig(self.scene.client, self.robot.body, self._camera_specs, link_index, depth) if names else None
        self._render_rig = None

    # ---- gymnasium API -----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        rng = self.np_random
        cid = self.scene.client
        self._forget_contacts()
        p.restoreState(self._initial_state, physicsClientId=cid)
        self._drop_pairs()
        self._restore_dynamics()
        base_pos = self.robot.base_position.copy()
        if self.randomize:
            for link, mass in self._nominal_dynamics:
                if mass > 0:
                    p.changeDynamics(self.robot.body, link, mass=mass * rng.uniform(0.97, 1.03), physicsClientId=cid)
            if self.robot.fixed_base:
                base_pos[:2] += rng.uniform(-0.01, 0.01, size=2)
        self.robot.reset(base_position=base_pos)
        self.task.reset(rng, self.randomize)
        self._q_target = self.robot.home_q.copy()
        self.robot.apply_joint_targets(self._q_target)
        self._steps = 0
        obs = self._observe()
        info = {"is_success": False}
        return obs, info

    def step(self, action):
        action = np.asarray(action, dtype=np.float32)  # the dataset stores float32: replay must see the same action
        if action.shape != self.action_space.shape:
            raise ValueError(f"action has shape {action.shape}, expected {self.action_space.shape} ({self.control_mode})")
        if not np.isfinite(action).all():
            raise ValueError("action contains NaN or inf")
        before = self._last_obs
        act = action.astype(np.float64)
        if self.control_mode == "joint_pos":
            n = self.robot.num_dofs
            self._q_target = act[:n].clip(self.robot.lower, self.robot.upper)
            for hand, command in zip(self.virtual_grippers, act[n:]):
                self.task.command_hand(float(command), hand)
        else:
            self._q_target = self._ee_delta_to_joint_targets(act)
        self.task.before_physics(self._steps, self.np_random)
        self.robot.apply_joint_targets(self._q_target)
        hook = self.task.substep_hook()
        if hook is None:
            self.scene.step(self.substeps)
        else:
            for _ in range(self.substeps):
                hook()
                self.scene.step(1)
        self._steps += 1
        obs = self._observe()
        result = self.task.evaluate(obs)
        terminated = bool(result.failed or (result.success and result.done_on_success))
        info = {"is_success": bool(result.success), "action_ee": self._canonical_action(act, before, obs)}
        return obs, float(result.reward), terminated, False, info

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        if self._render_rig is None:
            cam = self._available_cameras.get("front") or next(iter(self._available_cameras.values()))
            self._render_rig = CameraRig(self.scene.client, self.robot.body, [cam], dict(self.robot.link_index))
        return next(iter(self._render_rig.render()[0].values()))

    def close(self):
        if getattr(self, "scene", None) is not None:
            self.scene.close()

    # ---- internals ---------------------------------------------------------------------------
    def _forget_contacts(self) -> None:
        """Drop every collision pair and contact manifold of the last episode before restoring the initial state.

        restoreState keeps them, and both their cached impulses and their order (the solver's constraint order)
        carry over, so without this an episode depends on the one before it. Lifting the bodies apart releases
        most pairs, but not the ground plane's (its box is infinite) nor a robot's own link pairs: those manifolds
        kept their old places, and the next episode differed from a new env's now and then (the MuJoCo humanoid in
        pick_place: a few previous episodes in a hundred, which ones depending on the process). So all pairs are
        dropped first (`_drop_pairs`); then every body but the ground is lifted out of reach of the others and
        collision detection runs; restoreState puts everything back (and `reset` drops the pairs its own
        collision pass made, so the first step finds them in a new env's order).
        """
        cid = self.scene.client
        self._drop_pairs()
        for i in range(p.getNumBodies(physicsClientId=cid)):
            body = p.getBodyUniqueId(i, physicsClientId=cid)
            if body != self.scene.plane:
                p.resetBasePositionAndOrientation(body, [0.0, 0.0, 1000.0 + 100.0 * i], [0, 0, 0, 1], physicsClientId=cid)
        p.performCollisionDetection(physicsClientId=cid)

    def _drop_pairs(self) -> None:
        """Rebuild every collider's broadphase proxy, which drops all its pairs and their contact manifolds.

        setCollisionFilterPair refreshes the proxies of both links it names; pairs chained in creation order refresh
        each collider last in that order, so the proxies keep their relative order (hence the sorted pair order of
        deterministicOverlappingPairs), and each pair is given the value its group/mask give it anyway (static with
        static off, anything else on), so what collides does not change. In a new env there are no pairs and this
        changes nothing.
        """
        cid = self.scene.client
        colliders = []
        for i in range(p.getNumBodies(physicsClientId=cid)):
            body = p.getBodyUniqueId(i, physicsClientId=cid)
            fixed = body == self.scene.plane or (body == self.robot.body and self.robot.fixed_base) \
                or p.getDynamicsInfo(body, -1, physicsClientId=cid)[0] == 0
            colliders += [(body, link, fixed and link == -1) for link in range(-1, p.getNumJoints(body, physicsClientId=cid))]
        for (body_a, link_a, static_a), (body_b, link_b, static_b) in zip(colliders, colliders[1:]):
            p.setCollisionFilterPair(body_a, body_b, link_a, link_b, int(not (static_a and static_b)), physicsClientId=cid)

    def _dynamics(self) -> dict[tuple[int, int], tuple]:
        """Every body's and link's changeDynamics values (mass, friction, inertia, restitution, rolling, spinning)."""
        cid, out = self.scene.client, {}
        for i in range(p.getNumBodies(physicsClientId=cid)):
            body = p.getBodyUniqueId(i, physicsClientId=cid)
            for link in range(-1, p.getNumJoints(body, physicsClientId=cid)):
                d = p.getDynamicsInfo(body, link, physicsClientId=cid)
                out[body, link] = (d[0], d[1], tuple(d[2]), d[5], d[6], d[7])
        return out

    def _restore_dynamics(self) -> None:
        """Put back what changeDynamics changed since the env was built: restoreState restores poses and velocities
        only, so a mass or friction an episode randomised (pick_place's cube, parked in the next episode) would
        carry over and the next episode would depend on this one. Only changed values are set: a new env's first
        episode is untouched."""
        cid = self.scene.client
        for (body, link), now in self._dynamics().items():
            initial = self._initial_dynamics.get((body, link))
            if initial is not None and now != initial:
                mass, friction, inertia, restitution, rolling, spinning = initial
                p.changeDynamics(body, link, mass=mass, lateralFriction=friction, localInertiaDiagonal=list(inertia),
                                 restitution=restitution, rollingFriction=rolling, spinningFriction=spinning,
                                 physicsClientId=cid)

    def base_pose(self) -> tuple[np.ndarray, np.ndarray]:
        if self.robot.fixed_base:
            return self._fixed_base_pose
        return self.robot.base_pose()  # the robot's canonical frame (z up, x forward), whatever its model's axes

    def _observe(self) -> dict[str, Any]:
        robot = self.robot
        q, qd = robot.joint_state()
        if robot.fixed_base:
            if self._steps == 0:
                self._fixed_base_pose = robot.base_pose()
            base_pos, base_orn = self._fixed_base_pose
        else:
            base_pos, base_orn, lin, ang = robot.base_state()
        ee = np.zeros(EE_OBS_WIDTH * len(HANDS))
        if self._obs_hands:  # only the hands' links (feet are end-effectors too, but not observed here)
            inv = tf.quat_conj(base_orn)
            poses = robot.ee_world_poses_of([h for _, h in self._obs_hands])
            for (o, hand), (pos, orn) in zip(self._obs_hands, poses):
                ee[o:o + 3] = tf.quat_rotate(inv, pos - base_pos)
                ee[o + 3:o + 7] = tf.quat_mul(inv, orn)
                ee[o + 7] = robot.gripper_opening(q, hand)
        obs = {"state": np.concatenate([q, qd]), "ee": ee, "ee_mask": self.ee_mask.copy()}
        if not robot.fixed_base:
            obs["base"] = np.concatenate([base_pos, base_orn, lin, ang])
        obs.update(self.task.observe(base_pos, base_orn))
        if self.cameras is not None:
            rgb, depth = self.cameras.render()
            obs["images"] = rgb
            if self.cameras.depth:
                obs["depth"] = depth
        self._last_obs = obs
        return obs

    def _ee_delta_to_joint_targets(self, act: np.ndarray) -> np.ndarray:
        """Delta pose per canonical hand (base frame) -> joint targets through one IK step per hand."""
        robot = self.robot
        q, _ = robot.joint_state()
        q_target = self._q_target.copy()
        base_pos, base_orn = self.base_pose()
        for slot, hand in enumerate(HANDS):
            if hand not in self._hand_index:
                continue
            a = act[slot * EE_ACTION_WIDTH:(slot + 1) * EE_ACTION_WIDTH]
            pos, orn = robot.ee_world_pose(hand)
            target_pos = pos + tf.quat_rotate(base_orn, a[:3])
            delta_world = tf.quat_mul(tf.quat_mul(base_orn, tf.euler_to_quat(a[3:6])), tf.quat_conj(base_orn))
            target_orn = tf.quat_mul(delta_world, orn)
            arm = robot.ik_step(q, hand, target_pos, target_orn, q_ref=robot.home_q)
            dofs = robot.ik_dofs(hand)
            q_target[dofs] = arm[dofs]
            robot.set_gripper(q_target, hand, a[6])
            if hand in self.virtual_grippers:
                self.task.command_hand(float(a[6]), hand)
        return q_target

    def _canonical_action(self, act: np.ndarray, before: dict | None, after: dict) -> np.ndarray:
        """`action.ee` for the dataset: the command itself in ee_delta mode, the achieved delta in joint mode."""
        if self.control_mode == "ee_delta":
            return act.astype(np.float32)
        out = np.zeros(EE_ACTION_WIDTH * len(HANDS), dtype=np.float32)
        if before is None:
            return out
        for slot, hand in enumerate(HANDS):
            if hand not in self._hand_index:
                continue
            o, a = slot * EE_OBS_WIDTH, slot * EE_ACTION_WIDTH
            out[a:a + 3] = after["ee"][o:o + 3] - before["ee"][o:o + 3]
            rel = tf.quat_mul(after["ee"][o + 3:o + 7], tf.quat_conj(before["ee"][o + 3:o + 7]))
            out[a + 3:a + 6] = tf.quat_to_euler(rel)
            if hand in self.robot.gripper_dofs:
                out[a + 6] = self.robot.gripper_opening(self._q_target, hand)  # the commanded opening, clipped to [0, 1]
            else:
                out[a + 6] = self.task.hand_command(hand) if hasattr(self.task, "hand_command") else 1.0
        return out

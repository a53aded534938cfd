"""`RobotTaskEnv`: a robot, a controller and a task composed into one Gymnasium environment.

The env owns the `Scene` (one DIRECT PyBullet client) and the control loop; the robot knows how to
move and be read, the controller what an action means, the task what success is. Any built-in robot or
spec file works with any task whose `check_robot` accepts it, so there is no per-robot env class.
"""
from __future__ import annotations

import weakref
from typing import Any

import gymnasium as gym
import numpy as np

from flywheel import robots as robot_registry
from flywheel.canonical import EE_OBS_DIM, HANDS, ee_obs_offset
from flywheel.robots.spec import Camera, RobotSpec
from flywheel.sim import transforms as tf
from flywheel.sim.camera import CameraRig
from flywheel.sim.rendering.meshes import VISUAL_TRIANGLES, render_spec
from flywheel.sim.rendering.mounts import mounted_cameras
from flywheel.sim.rendering.visual_random import VisualRandomization, VisualRandomizer
from flywheel.sim.controllers import CONTROLLERS, HandCommands, make_controller
from flywheel.sim.robot import Robot
from flywheel.sim.scene import PHYSICS_HZ, Scene
from flywheel.sim.tasks import make_task
from flywheel.sim.tasks.base import Task

CONTROL_MODES = tuple(CONTROLLERS)
# EE_ACTION_WIDTH, EE_OBS_WIDTH and EE_DELTA_LIMITS stay importable from here for older callers; their one
# definition is in flywheel.canonical (widths) and flywheel.sim.controllers (limits).


class RobotTaskEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, robot: str | RobotSpec = "panda", task: str | Task = "reach", control_mode: str = "joint_pos",
                 camera: str | list[str] | None = None, depth: bool = False, randomize: bool = True,
                 control_hz: int = 20, fixed_base: bool | None = None, render_mode: str | None = None,
                 camera_size: int | tuple[int, int] | None = None, camera_hz: int | None = None,
                 segmentation: bool = False, visual_randomization: bool | dict | None = None,
                 visual_triangles: int | None = VISUAL_TRIANGLES, renderer: str | None = None):
        """``camera_size``: every camera's (height, width), or one side for square images (default: each camera's
        own size). ``camera_hz``: how often cameras render (a divisor of ``control_hz``; default every step); between
        renders the observation repeats the last frame, as a camera slower than the control loop would.
        ``segmentation``: per-camera body-id masks in ``obs["segmentation"]``. ``visual_randomization``: True, or a
        dict of `VisualRandomization` fields: colours, textures, light and camera jitter drawn per episode from the
        reset seed (physics untouched). ``visual_triangles``: with cameras, the robot's visual meshes are
        decimated to about this many triangles (None: stock meshes; physics is the same either way).
        ``renderer``: tiny, egl or auto (default: ``$FLYWHEEL_RENDERER``, else EGL when a GPU is present)."""
        if control_mode not in CONTROL_MODES:
            raise ValueError(f"unknown control_mode {control_mode!r}; use one of {', '.join(CONTROL_MODES)}")
        valid_rates = [hz for hz in range(1, PHYSICS_HZ + 1) if PHYSICS_HZ % hz == 0]
        if isinstance(control_hz, bool) or not isinstance(control_hz, (int, np.integer)) or control_hz not in valid_rates:
            raise ValueError(f"control_hz={control_hz!r} must be a whole number of Hz that divides the physics rate "
                             f"{PHYSICS_HZ} Hz: one of {', '.join(map(str, valid_rates))}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode {render_mode!r} is not supported; use 'rgb_array' or None")
        self.spec_robot = robot_registry.get(robot)
        self.task = make_task(task) if isinstance(task, str) else task
        self.task.check_robot(self.spec_robot)
        self.control_mode, self.randomize, self.render_mode = control_mode, randomize, render_mode
        self.control_hz, self.substeps = control_hz, PHYSICS_HZ // control_hz
        rate = control_hz if camera_hz is None else camera_hz
        if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate < 1 or control_hz % rate:
            raise ValueError(f"camera_hz={camera_hz!r} must be a whole number of Hz that divides the control rate "
                             f"{control_hz} Hz")
        self.camera_hz, self._render_every = int(rate), control_hz // int(rate)
        self._camera_size = _camera_size(camera_size)
        self._frames: tuple[dict, dict] | None = None
        self.metadata = dict(self.metadata, render_fps=control_hz)

        self.visual_randomization = VisualRandomization.from_value(visual_randomization)
        self._visual = None
        self.visual_draw: dict[str, Any] | None = None  # the last episode's visual draws (randomisation on)
        self._resets = 0
        self.scene = Scene()
        try:
            loaded = self.spec_robot
            if camera and visual_triangles:  # rendering only: collision shapes and inertias are the model's own
                loaded = render_spec(self.spec_robot, int(visual_triangles))
            self.robot = Robot(self.scene, loaded, fixed_base=fixed_base)
            self.task.build(self.scene, self.robot)
            self._setup_cameras(camera, depth, segmentation, renderer)
        except Exception:
            self.scene.close()
            raise
        self._nominal_dynamics = self.scene.link_masses(self.robot.body)
        self._initial_state = self.scene.save_state()
        self._initial_dynamics = self.scene.dynamics()
        self._fixed_bodies = (self.robot.body,) if self.robot.fixed_base else ()

        self.hand_slots = [h for h in HANDS if h in self.robot.hands]
        # Fingerless hands in a grasping task get a virtual gripper channel that drives the task's grasp assist.
        self.virtual_grippers = [h for h in self.hand_slots
                                 if h not in self.robot.gripper_dofs and getattr(self.task, "assisted", False)]
        self.ee_mask = np.array([1.0 if h in self.robot.hands else 0.0 for h in HANDS])
        self._obs_hands = [(ee_obs_offset(h), h) for h in self.hand_slots]
        env = weakref.ref(self)  # no env <-> controller cycle: a dropped env closes its client at once
        self.controller = make_controller(control_mode, self.robot, virtual_grippers=self.virtual_grippers,
                                          base_pose=lambda: env().base_pose(),
                                          fingerless_opening=getattr(self.task, "hand_command", None))
        self.observation_space = self._make_observation_space()
        self.action_space = self.controller.action_space
        self._q_target = self.robot.home_q.copy()
        self._steps = 0
        self._last_obs: dict[str, Any] | None = None

    # ---- spaces ------------------------------------------------------------------------------
    def _make_observation_space(self) -> gym.spaces.Dict:
        n = self.robot.num_dofs
        spaces = {
            "state": gym.spaces.Box(-np.inf, np.inf, shape=(2 * n,), dtype=np.float64),
            "ee": gym.spaces.Box(-np.inf, np.inf, shape=(EE_OBS_DIM,), dtype=np.float64),
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
            if self.cameras.segmentation:
                spaces["segmentation"] = gym.spaces.Dict({c.name: gym.spaces.Box(-1, 2**31 - 1, (c.height, c.width), np.int32)
                                                          for c in self._camera_specs})
        return gym.spaces.Dict(spaces)

    @property
    def action_names(self) -> list[str]:
        return list(self.controller.action_names)

    @property
    def state_names(self) -> list[str]:
        return [f"q.{n}" for n in self.robot.dof_names] + [f"qd.{n}" for n in self.robot.dof_names]

    def _setup_cameras(self, camera, depth: bool, segmentation: bool = False, renderer: str | None = None) -> None:
        names = [camera] if isinstance(camera, str) else list(camera or [])
        available = {c.name: c for c in mounted_cameras(self.spec_robot, self.robot)}
        available.update({c.name: c for c in self.task.scene_cameras()})
        unknown = [n for n in names if n not in available]
        if unknown:
            raise ValueError(f"unknown camera {unknown[0]!r} for robot {self.spec_robot.name!r} and task {self.task.name!r}; "
                             f"available cameras: {', '.join(sorted(available)) or 'none'}")
        self._camera_specs: list[Camera] = [available[n] for n in names]
        if self._camera_size is not None:
            import dataclasses

            h, w = self._camera_size
            self._camera_specs = [dataclasses.replace(c, height=h, width=w) for c in self._camera_specs]
        self._available_cameras = available
        link_index = dict(self.robot.link_index)
        self.cameras = CameraRig(self.scene.client, self.robot.body, self._camera_specs, link_index, depth,
                                 segmentation, renderer) if names else None
        self._render_rig = None
        if self.cameras is not None and self.visual_randomization is not None:
            self._visual = VisualRandomizer(self.scene.client, self.robot.body, self.scene.plane, self.cameras,
                                            self.visual_randomization)

    # ---- gymnasium API -----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        rng = self.np_random
        scene = self.scene
        scene.forget_contacts(self._fixed_bodies)
        scene.restore_state(self._initial_state)
        scene.drop_pairs(self._fixed_bodies)
        scene.restore_dynamics(self._initial_dynamics)
        base_pos = self.robot.base_position.copy()
        if self.randomize:
            for link, mass in self._nominal_dynamics:
                if mass > 0:
                    scene.change_dynamics(self.robot.body, link, mass=mass * rng.uniform(0.97, 1.03))
            if self.robot.fixed_base:
                base_pos[:2] += rng.uniform(-0.01, 0.01, size=2)
        self.robot.reset(base_position=base_pos)
        self.task.reset(rng, self.randomize)
        if self._visual is not None:  # its own stream from the seed: the physics draws above are unchanged
            self.visual_draw = self._visual.apply(seed if seed is not None else self._resets)
        self._resets += 1
        self._frames = None
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
        controller = self.controller
        self.step_joint_targets(controller.to_joint_targets(act, self._q_target), controller.hand_commands(act))
        obs = self._observe()
        result = self.task.evaluate(obs)
        terminated = bool(result.failed or (result.success and result.done_on_success))
        info = {"is_success": bool(result.success),
                "action_ee": controller.canonical_action(act, before, obs, self._q_target)}
        return obs, float(result.reward), terminated, False, info

    def step_joint_targets(self, q_target: np.ndarray, hand_commands: HandCommands = ()) -> None:
        """Physics of one control step from given joint targets: what `step` does once the controller has
        turned the action into targets, and what the benchmark's physics-only ceiling replays.

        The fingerless hands' commands go to the task's grasp assist, then the task's `before_physics` (pushes,
        grasp assist), the motors get the targets, and the substeps run (with the task's per-substep hook when it
        has one). Nothing is observed or evaluated.
        """
        task = self.task
        for hand, command in hand_commands:
            task.command_hand(command, hand)
        self._q_target = q_target
        task.before_physics(self._steps, self.np_random)
        self.robot.apply_joint_targets(q_target)
        hook = task.substep_hook()
        if hook is None:
            self.scene.step(self.substeps)
        else:
            for _ in range(self.substeps):
                hook()
                self.scene.step(1)
        self._steps += 1

    @property
    def joint_targets(self) -> np.ndarray:
        """The joint targets the motors hold now (set by the last `step`, `step_joint_targets` or `reset`)."""
        return self._q_target

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        if self._render_rig is None:
            cam = self._available_cameras.get("front") or next(iter(self._available_cameras.values()))
            self._render_rig = CameraRig(self.scene.client, self.robot.body, [cam], dict(self.robot.link_index))
        return next(iter(self._render_rig.render()[0].values()))

    def close(self):
        for rig in (getattr(self, "cameras", None), getattr(self, "_render_rig", None)):
            if rig is not None:
                rig.close()
        if getattr(self, "scene", None) is not None:
            self.scene.close()

    # ---- internals ---------------------------------------------------------------------------
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
        ee = np.zeros(EE_OBS_DIM)
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
            if self._steps % self._render_every == 0 or self._frames is None:
                self._frames = self.cameras.render()
            rgb, depth, seg = self._frames  # between renders: the last frame again (the camera is slower than control)
            obs["images"] = dict(rgb)
            if self.cameras.depth:
                obs["depth"] = dict(depth)
            if self.cameras.segmentation:
                obs["segmentation"] = dict(seg)
        self._last_obs = obs
        return obs


def _camera_size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """(height, width) from one side or a pair; ValueError for anything but positive integers up to 4096."""
    if size is None:
        return None
    pair = (size, size) if isinstance(size, (int, np.integer)) and not isinstance(size, bool) else tuple(size)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 1 <= v <= 4096
                                 for v in pair):
        raise ValueError(f"camera_size={size!r} must be a side or (height, width) in pixels, 1 to 4096")
    return int(pair[0]), int(pair[1])

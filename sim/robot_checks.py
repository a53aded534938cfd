"""Robot checks that need the simulator: each passes, warns or fails with the reason and the fix.

The static checks of a spec and its URDF (meshes, inertias) live in `flywheel.robots.validate`, which knows no
simulator; these run the robot in a `Scene`, in order (a check that cannot run because an earlier one failed is
skipped, with the reason):

* ``loads``: the runtime robot (`flywheel.sim.robot.Robot`) builds from the spec in a fresh scene.
* ``holds_home`` (fixed base): position motors hold the home pose for 3 s without drifting or blowing up.
* ``stands`` (floating base): the robot stands for 3 s with its balance strategy, without pushes.
* ``random_targets``: random joint targets for 3 s keep every state finite.
* ``reach.<hand>``: each hand is steered to 3 seeded targets through the controller's inverse.

`validate(spec)` runs the static checks and these; `flywheel robots add/check` get the same list because the
command line (`flywheel.cli`) hands `simulation_checks` to `flywheel.robots.validate`.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import pybullet as p

from flywheel.robots import validate as static
from flywheel.robots.spec import RobotSpec, SpecError
from flywheel.robots.urdf import URDFModel
from flywheel.robots.validate import Check, quiet
from flywheel.sim import transforms as tf
from flywheel.sim.balance import AnkleHipBalance
from flywheel.sim.controllers import WAYPOINT_STEP, waypoint
from flywheel.sim.env import RobotTaskEnv
from flywheel.sim.load_narrowing import narrow_load_failure
from flywheel.sim.robot import Robot
from flywheel.sim.scene import Scene
from flywheel.sim.tasks.balance import BalanceTask

HOLD_PASS, HOLD_WARN = 0.05, 0.2  # rad (or m / 5 for prismatic joints) of drift after 3 s


def _load(spec: RobotSpec):
    with quiet():
        scene = Scene()
        try:
            robot = Robot(scene, spec)
        except BaseException:
            scene.close()
            raise
    return scene, robot


def check_loads(spec: RobotSpec) -> tuple[Check, tuple | None]:
    start = time.perf_counter()
    try:
        scene, robot = _load(spec)
    except (p.error, SpecError) as err:
        narrowed = None
        if spec.model_format == "urdf" and "Cannot load URDF" in str(err):  # PyBullet names nothing: find the element
            narrowed = narrow_load_failure(spec.model_path(), p.URDF_USE_INERTIA_FROM_FILE if spec.inertia_from_file else 0)
        if narrowed:
            where, _, fix = narrowed.rpartition("; fix: ")
            return Check("loads", "fail", where, fix), None
        return Check("loads", "fail", f"{type(err).__name__}: {err}", "fix the field the message names, then run 'flywheel robots check'"), None
    except (SpecError, ValueError, KeyError) as err:
        return Check("loads", "fail", f"{type(err).__name__}: {err}", "fix the field the message names, then run 'flywheel robots check'"), None
    elapsed = time.perf_counter() - start
    n_links = p.getNumJoints(robot.body, physicsClientId=scene.client) + 1
    return Check("loads", "pass", f"{robot.num_dofs} actuated dof, {n_links} links, loaded in {elapsed:.2f} s"), (scene, robot)


def _worst(robot, q, target) -> tuple[int, float]:
    err = np.abs(q - target)
    for i, name in enumerate(robot.dof_names):
        if _is_prismatic(robot, name):
            err[i] *= 5.0  # 1 cm of a slide counts like 0.05 rad
    i = int(np.argmax(err)) if len(err) else 0
    return i, float(err[i]) if len(err) else 0.0


def _is_prismatic(robot, dof_name: str) -> bool:
    jt = next((j for j in robot.joints if j.name == dof_name), None)
    return jt is not None and jt.type == p.JOINT_PRISMATIC


def check_holds_home(loaded, seconds: float) -> Check:
    scene, robot = loaded
    robot.reset()
    steps = int(seconds * scene.physics_hz)
    for k in range(steps):
        robot.apply_joint_targets(robot.home_q)
        scene.step(1)
        if k % 60 == 0:
            q, qd = robot.joint_state()
            if not (np.all(np.isfinite(q)) and np.all(np.isfinite(qd))):
                return Check("holds_home", "fail", f"the simulation blew up after {k / scene.physics_hz:.2f} s (non-finite state)",
                             "check masses and inertias (see 'inertia'); lower kp in [[gains]]")
    q, qd = robot.joint_state()
    i, drift = _worst(robot, q, robot.home_q)
    speed = float(np.max(np.abs(qd))) if len(qd) else 0.0
    name = robot.dof_names[i] if robot.dof_names else "-"
    reason = f"after {seconds:g} s: worst drift {drift:.3g} ({name}), max joint speed {speed:.2g}"
    fix = (f"raise max_force (or kp) in the [[gains]] group of {name}, or check its effort limit and the masses below it")
    if drift < HOLD_PASS and speed < 0.5:
        return Check("holds_home", "pass", reason)
    if drift < HOLD_WARN:
        return Check("holds_home", "warn", reason, fix)
    return Check("holds_home", "fail", reason, fix)


def check_stands(spec: RobotSpec, seconds: float) -> Check:
    """Stand for `seconds` with the robot's balance strategy and no pushes; tilt is measured from the starting
    orientation. (The balance expert without noise: the same strategy, the same actions.)"""
    with quiet():
        env = RobotTaskEnv(robot=spec, task=BalanceTask(push_speed=(0.0, 0.0)), randomize=False)
    try:
        balance = AnkleHipBalance(env.robot, env.scene)
        obs, _ = env.reset(seed=0)
        home_orn = np.asarray(obs["base"][3:7], dtype=float)  # tilt is measured from the pose the robot starts in
        start_height = float(env.robot.base_position[2])
        steps = int(seconds * env.control_hz)
        tilt, height = 0.0, start_height
        fix_fall = ("adjust [home] so the feet are under the body, raise leg max_force/kp in [[gains]], or check "
                    "base_height and base_orientation (a robot that cannot stand unsupported needs --fixed-base)")
        for k in range(steps):
            if hasattr(env.controller, "action_for_standing"):  # whole-body: CoM feedback on top of the lean
                action = env.controller.action_for_standing(obs["base"])
            else:
                action = env.controller.action_for_joint_targets(balance.joint_targets(obs["base"]))
            obs, _, _, _, _ = env.step(action)
            base = obs["base"]
            if not np.all(np.isfinite(obs["state"])) or not np.all(np.isfinite(base)):
                return Check("stands", "fail", f"the simulation blew up after {(k + 1) / env.control_hz:.2f} s",
                             "check masses and inertias (see 'inertia'); lower kp in [[gains]]")
            rel = tf.quat_mul(np.asarray(base[3:7]), tf.quat_conj(home_orn))  # rotation since home
            up = tf.quat_rotate(rel, np.array([0.0, 0.0, 1.0]))
            tilt = float(np.arccos(np.clip(up[2], -1.0, 1.0)))
            height = float(base[2])
            dropped = start_height - height
            if (dropped > 0.4 * start_height and dropped > 0.03) or tilt > 0.8:
                return Check("stands", "fail", f"fell after {(k + 1) / env.control_hz:.2f} s (base at {height:.3g} m "
                             f"of {start_height:.3g} m, tilted {math.degrees(tilt):.0f} deg)", fix_fall)
        reason = f"standing after {seconds:g} s: base at {height:.3g} m (home {start_height:.3g} m), tilted {math.degrees(tilt):.0f} deg"
        dropped = start_height - height
        if tilt < 0.25 and (dropped < 0.2 * start_height or dropped < 0.02):
            return Check("stands", "pass", reason)
        return Check("stands", "warn", reason + " (sagging or leaning)",
                     "raise leg max_force/kp in [[gains]] or widen the stance in [home]")
    finally:
        env.close()


def check_random_targets(loaded, seconds: float, seed: int = 0) -> Check:
    scene, robot = loaded
    rng = np.random.default_rng(seed)
    robot.reset()
    steps = int(seconds * scene.physics_hz)
    hold = max(1, scene.physics_hz // 4)
    max_speed, target = 0.0, robot.home_q
    for k in range(steps):
        if k % hold == 0:
            target = rng.uniform(robot.lower, robot.upper)
            robot.apply_joint_targets(target)
        scene.step(1)
        if k % 24 == 0 or k == steps - 1:
            q, qd = robot.joint_state()
            pos, orn, lin, ang = robot.base_state()
            values = np.concatenate([q, qd, pos, orn, lin, ang])
            if not np.all(np.isfinite(values)):
                return Check("random_targets", "fail", f"non-finite state after {k / scene.physics_hz:.2f} s of random targets",
                             "check masses and inertias (see 'inertia'); lower kp or max_force in [[gains]]")
            max_speed = max(max_speed, float(np.max(np.abs(qd))) if len(qd) else 0.0)
            if max_speed > 1e3 or np.linalg.norm(lin) > 100 or np.linalg.norm(pos) > 1e3:
                return Check("random_targets", "fail", f"state exploded after {k / scene.physics_hz:.2f} s "
                             f"(joint speed {max_speed:.3g}, base speed {np.linalg.norm(lin):.3g} m/s)",
                             "check masses and inertias (see 'inertia'); lower kp or max_force in [[gains]]")
    return Check("random_targets", "pass", f"{seconds:g} s of random targets, all states finite, max joint speed {max_speed:.3g}")


def check_reach(spec: RobotSpec, hand: str, targets: int = 3) -> Check:
    """Bring `hand` to `targets` seeded reach goals, steering a moving waypoint through the env's controller (what
    the reach expert does, without noise)."""
    name = f"reach.{hand}"
    with quiet():
        env = RobotTaskEnv(robot=spec, task="reach")
    try:
        task, robot = env.task, env.robot
        if hand != task.hand:
            task.hand = hand
            robot.reset()
            task.center = robot.ee_world_pose(hand)[0]
        reached, worst, steps_used = 0, 0.0, []
        for seed in range(targets):
            obs, info = env.reset(seed=seed)
            success, dist = False, float("inf")
            for step in range(task.max_episode_steps):
                pos, orn = robot.ee_world_pose(task.hand)
                target = waypoint(pos, task.goal_world, WAYPOINT_STEP)
                obs, _, terminated, _, info = env.step(
                    env.controller.action_for_hand_target(task.hand, target, None, 1.0, pose=(pos, orn)))
                dist = float(np.linalg.norm(robot.ee_world_pose(hand)[0] - task.goal_world))
                if info["is_success"]:
                    success = True
                    steps_used.append(step + 1)
                    break
                if terminated:
                    break
            reached += success
            if not success:
                worst = max(worst, dist)
        if reached == targets:
            return Check(name, "pass", f"{targets}/{targets} targets reached (within {task.success_distance * 100:g} cm) "
                         f"in {max(steps_used)} steps at most")
        status = "warn" if reached else "fail"
        return Check(name, status, f"{reached}/{targets} targets reached; missed by up to {worst * 100:.1f} cm",
                     f"move [home] so the hand has room around it (elbow bent, in front of the base), "
                     f"or set end_effectors.{hand}.ik_joints / raise arm max_force")
    except NotImplementedError as err:
        return Check(name, "warn", f"not possible with this runtime: {err}", "use joint-space tasks for this robot")
    except (p.error, ValueError) as err:
        return Check(name, "fail", f"{type(err).__name__}: {err}", "fix the end-effector in the spec")
    finally:
        env.close()


def simulation_checks(spec: RobotSpec, seconds: float = 3.0, reach_targets: int = 3,
                      progress: Callable[[str], None] | None = None) -> list[Check]:
    """The simulator's checks of one spec, in `flywheel.robots.validate.simulation_check_names` order; never raises
    for a problem with the robot (that is a failed check)."""
    checks: list[Check] = []
    with quiet():
        import pybullet  # noqa: F401  (its import prints a build banner)

    def run(name, fn, *args):
        if progress:
            progress(name)
        try:
            result = fn(*args)
        except Exception as err:  # a crash inside a check is that check's failure, reported, not a traceback
            result = Check(name, "fail", f"{type(err).__name__}: {err}", "see the message; fix the spec or the URDF")
        checks.append(result)
        return result

    if progress:
        progress("loads")
    loads, loaded = check_loads(spec)
    checks.append(loads)
    if loaded is None:
        for name in static.simulation_check_names(spec)[1:]:
            checks.append(Check(name, "skip", "the model does not load (see 'loads')"))
        return checks
    try:
        if spec.fixed_base or spec.fixed_pelvis:
            run("holds_home", check_holds_home, loaded, seconds)
        else:
            run("stands", check_stands, spec, seconds)
        run("random_targets", check_random_targets, loaded, seconds)
    finally:
        loaded[0].close()
    if not spec.hands:
        checks.append(Check("reach", "skip", "no hand end-effector (right_hand / left_hand) in the spec",
                            "add [end_effectors.right_hand] with the hand's link if the robot has one"))
    for hand in spec.hands:
        run(f"reach.{hand}", check_reach, spec, hand, reach_targets)
    return checks


def validate(spec: RobotSpec, model: URDFModel | None = None, package_dirs=None, seconds: float = 3.0,
             reach_targets: int = 3, progress: Callable[[str], None] | None = None) -> list[Check]:
    """Every check of one spec, static and in simulation (what `flywheel robots check` prints)."""
    return static.validate(spec, model=model, package_dirs=package_dirs, seconds=seconds, reach_targets=reach_targets,
                           progress=progress, simulation=simulation_checks)

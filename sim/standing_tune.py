"""What `flywheel robots add` settles in simulation for a floating-base humanoid, after inferring its spec statically.

* **Soles on the floor**: the base height that puts the lowest point of the robot in its home pose (the distance of
  the collision shapes PyBullet actually loads to the floor) 1 mm above it, so the robot does not drop at reset.
* **Force limits**: every joint's force limit at least 1.5x the worst-case static gravity load it carries (measured
  in the home pose), so a waist or shoulder whose URDF effort is too small does not fold under the links it holds.
* **Whole-body gains**: a short search over the CoM feedback gain (`[whole_body] com_gain`) and a scale of the legs'
  force limits, each candidate run on a few seeds of the `balance` task (pushes included) with the whole-body
  controller; the first candidate, in order of preference (the URDF's own force limits first, then the middle gain),
  that holds every seed wins, else the one that held most. The result goes into the spec with a comment.

Nothing here knows a particular robot: the candidates are the same for every model.
"""
from __future__ import annotations

import fnmatch
from typing import Any

import numpy as np
import pybullet as p

from flywheel.robots.spec import spec_from_dict
from flywheel.robots.validate import quiet

COM_GAINS = (1.0, 1.5, 0.5)  # in order of preference
FORCE_SCALES = (1.0, 2.0)  # the URDF's efforts first; doubling is the most the search may ask of the motors
TUNE_SEEDS = 3


def _sole_height(spec_dict: dict[str, Any], source: str) -> float | None:
    """The base height at which the robot's lowest point in the home pose is 1 mm above the floor."""
    from flywheel.sim.robot import Robot
    from flywheel.sim.scene import Scene

    spec = spec_from_dict(spec_dict, source=source)
    with quiet():
        scene = Scene()
    try:
        robot = Robot(scene, spec)
        robot.reset()
        cid = scene.client
        # the collision shapes' true distance to the floor (bounding boxes of meshes can reach far below them)
        gaps = [c[8] for c in p.getClosestPoints(robot.body, scene.plane, 10.0, physicsClientId=cid)]
        if not gaps:
            return None
        return float(robot.base_position[2] - min(gaps) + 0.001)
    finally:
        scene.close()


def _leg_joints_and_loads(spec_dict: dict[str, Any], source: str) -> tuple[set[str], dict[str, float]]:
    """The joints of the legs, and every actuated joint's worst-case static gravity load in the home pose (N m or N):
    the weight of the links below it times their distance from it (as if held out horizontally)."""
    from flywheel.sim.robot import Robot
    from flywheel.sim.scene import Scene

    spec = spec_from_dict(spec_dict, source=source)
    with quiet():
        scene = Scene()
    try:
        robot = Robot(scene, spec)
        robot.reset()
        cid, body = scene.client, robot.body
        legs = {jt.name for foot in robot.ee_names if foot.endswith("_foot") for jt in robot.ik_chain(foot)}
        n = p.getNumJoints(body, physicsClientId=cid)
        parent = [p.getJointInfo(body, j, physicsClientId=cid)[16] for j in range(n)]
        masses = dict(scene.link_masses(body))
        states = p.getLinkStates(body, range(n), physicsClientId=cid)
        loads = {}
        for jt in robot.joints:
            if jt.type != p.JOINT_REVOLUTE:
                continue
            origin = np.array(states[jt.index][4])
            load = 0.0
            for link in range(n):
                up = link
                while up >= 0 and up != jt.index:
                    up = parent[up]
                if up == jt.index:
                    load += masses[link] * float(np.linalg.norm(np.array(states[link][0]) - origin))
            loads[jt.name] = 9.81 * load
        return legs, loads
    finally:
        scene.close()


FORCE_FLOOR = 1.5  # a motor must hold at least this multiple of its worst-case static gravity load


def _force_floor(spec_dict: dict[str, Any], loads: dict[str, float]) -> list[str]:
    """Raise force limits below `FORCE_FLOOR` x the gravity load (a waist that cannot hold the torso folds the robot
    the first time the arms move); appended [[gains]] groups override the inferred ones. Returns the joints raised."""
    from flywheel.robots.spec import GainGroup

    groups = [GainGroup(joints=tuple(g["joints"]), kp=g["kp"], kd=g["kd"], max_force=g["max_force"])
              for g in spec_dict.get("gains", [])]

    def gains_for(joint: str) -> GainGroup:
        chosen = GainGroup(joints=("*",))
        for g in groups:
            if any(fnmatch.fnmatchcase(joint, pat) for pat in g.joints):
                chosen = g
        return chosen

    gripper = {j for g in spec_dict.get("grippers", {}).values() for j in g["joints"]}
    raised: dict[tuple[float, float, float], list[str]] = {}
    for joint, load in loads.items():
        g = gains_for(joint)
        if joint in gripper or g.max_force >= FORCE_FLOOR * load:
            continue
        raised.setdefault((g.kp, g.kd, float(f"{FORCE_FLOOR * load:.3g}")), []).append(joint)
    for (kp, kd, force), joints in sorted(raised.items()):
        spec_dict["gains"].append({"joints": [_escape(j) for j in joints], "kp": kp, "kd": kd, "max_force": force})
    return sorted(j for js in raised.values() for j in js)


def _escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _candidate(spec_dict: dict[str, Any], com_gain: float, scale: float, legs: set[str]) -> dict[str, Any]:
    d = dict(spec_dict)
    d["whole_body"] = dict(spec_dict.get("whole_body", {}), com_gain=com_gain)
    if scale != 1.0:
        d["gains"] = [dict(g, max_force=float(f"{g['max_force'] * scale:.4g}"))
                      if any(fnmatch.fnmatchcase(j, pat) for j in legs for pat in g["joints"]) else g
                      for g in spec_dict["gains"]]
    return d


def stand_seeds(spec_dict: dict[str, Any], source: str, seeds: int) -> int:
    """How many of `seeds` balance-task episodes (pushes and all) the robot stands through, standing with the
    whole-body controller's balance."""
    from flywheel.sim.env import RobotTaskEnv

    spec = spec_from_dict(spec_dict, source=source)
    with quiet():
        env = RobotTaskEnv(robot=spec, task="balance")
    try:
        held = 0
        for seed in range(seeds):
            obs, _ = env.reset(seed=seed)
            info = {"is_success": False}
            for _ in range(env.task.max_episode_steps):
                obs, _, terminated, _, info = env.step(env.controller.action_for_standing(obs["base"]))
                if terminated or not np.all(np.isfinite(obs["base"])):
                    break
            held += bool(info["is_success"])
        return held
    finally:
        env.close()


def tune_standing(spec_dict: dict[str, Any], source: str, model: str | None = None,
                  seeds: int = TUNE_SEEDS) -> list[tuple[str, str]]:
    """Settle the base height and search the whole-body gains of a floating humanoid's spec dict in place; returns
    (field, note) pairs for the spec's comments. Other robots are left as they are. `model`: the model file to
    simulate instead of the spec's (not written yet)."""
    if spec_dict.get("kind") != "humanoid" or spec_dict.get("fixed_base", True):
        return []
    written = spec_dict["model"]
    if model is not None:
        spec_dict["model"] = model
    try:
        return _tune(spec_dict, source, seeds)
    finally:
        spec_dict["model"] = written


def _tune(spec_dict: dict[str, Any], source: str, seeds: int) -> list[tuple[str, str]]:
    notes = []
    spec_dict.setdefault("whole_body", {"stand": "balance"})
    try:
        height = _sole_height(spec_dict, source)
    except (ValueError, p.error) as err:
        return [("whole_body", f"not tuned: the robot does not load ({err})")]
    if height is not None and height > 0.05 and abs(height - spec_dict.get("base_height", height)) > 1e-3:
        notes.append(("base_height", f"{height:.4f} m after simulation: the collision shapes PyBullet loads come within "
                                     f"1 mm of the floor in the home pose (was {spec_dict.get('base_height')})"))
        spec_dict["base_height"] = round(height, 4)
    legs, loads = _leg_joints_and_loads(spec_dict, source)
    raised = _force_floor(spec_dict, loads)
    if raised:
        notes.append(("gains", f"max_force raised to {FORCE_FLOOR:g}x the static gravity load the joint carries in the "
                               f"home pose (measured in simulation) for {', '.join(raised[:8])}"
                               + (f" and {len(raised) - 8} more" if len(raised) > 8 else "")
                               + ": their URDF efforts could not hold the links below them"))
    tried, best = [], None
    for scale in FORCE_SCALES:
        for gain in COM_GAINS:
            candidate = _candidate(spec_dict, gain, scale, legs)
            held = stand_seeds(candidate, source, seeds)
            tried.append(f"com_gain {gain:g} x{scale:g} force: {held}/{seeds}")
            if best is None or held > best[0]:
                best = (held, gain, scale, candidate)
            if held == seeds:
                break
        if best[0] == seeds:
            break
    held, gain, scale, candidate = best
    spec_dict.clear()
    spec_dict.update(candidate)
    notes.append(("whole_body", f"tuned in simulation by 'robots add': the balance task (pushes) on {seeds} seeds per "
                                f"candidate, first to hold them all wins ({'; '.join(tried)}): com_gain {gain:g}"
                                + (f", leg max_force x{scale:g}" if scale != 1.0 else ", the URDF's force limits")))
    if held < seeds:
        notes.append(("whole_body", f"no candidate held every seed ({held}/{seeds} at best): raise the legs' max_force "
                                    "or adjust [home], then 'flywheel robots check'"))
    return notes

"""Poses `robots add` proposes: the standing pose of legged robots, the ready pose of arms, gravity loads for
force limits, and the lowest collision points that set a floating robot's base height."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from flywheel.robots.infer_parts import _point
from flywheel.robots.kinematic_chain import Chain
from flywheel.robots.urdf import Joint, URDFModel

GRAVITY = 9.81
REACH_BOX = np.array([0.15, 0.2, 0.15])  # the reach task's target half-extents around the hand's home position
MAX_SEARCH_DOFS = 12  # the ready-pose search is for arms; longer chains keep their zero pose


def _gravity_load(model: URDFModel, joint: Joint, poses) -> float:
    """Worst-case static torque (N m) or force (N) at a joint from the links below it."""
    below = model.subtree(joint.child)
    masses = np.array([_pb_mass(model, l) for l in below])
    if joint.type == "prismatic":
        return GRAVITY * float(masses.sum())
    origin = (poses[joint.parent] @ joint.origin)[:3, 3]
    points = np.array([_point(model, l, poses) for l in below])
    return GRAVITY * float(masses @ np.linalg.norm(points - origin, axis=1))


def _pb_mass(model: URDFModel, link: str) -> float:
    """The mass PyBullet simulates: a link without <inertial> gets 1 kg."""
    return 1.0 if model.links[link].inertial is None else model.links[link].mass


def _lever(model: URDFModel, joint: Joint, poses) -> float:
    if joint.type == "prismatic":
        return 1.0
    origin = (poses[joint.parent] @ joint.origin)[:3, 3]
    tips = [l for l in model.subtree(joint.child) if not model.child_joints[l]]
    return max([0.05] + [0.5 * float(np.linalg.norm(poses[l][:3, 3] - origin)) for l in tips])


def _standing_pose(model, leg_groups, q_home, limits, actuated_names, base_t) -> str:
    """Each foot straight under its hip with the knee a little bent, found by IK on each leg."""
    rng = np.random.default_rng(2)
    done = []
    for group in leg_groups.values():
        tip = group[0]
        dofs = [j.name for j in tip.chain if j.name in actuated_names and j.type != "spherical"]
        if not dofs:
            continue
        chain = Chain(model, tip.link, dofs, base_t)
        first = next(j for j in tip.chain if j.name in dofs)
        hip = (base_t @ model.fk(q_home)[first.parent] @ first.origin)[:3, 3]
        point = model.links[tip.link].com  # a leg without a toe link ends in its shin: aim with its middle, not the knee
        _, foot, _ = chain.fk(q_home, point)
        length = float(np.linalg.norm(foot - hip))
        if length < 1e-3:
            continue
        target = np.array([hip[0], hip[1], hip[2] - 0.9 * length])
        rot = None
        if len(dofs) >= 5:  # humanoid legs: keep the sole as it is in the zero pose
            rot = chain.fk(q_home)[0][:3, :3]
        # a straight leg is a singular pose the Jacobian cannot bend out of: start from a few bent seeds too
        best = None
        for k in range(9):
            seed = dict(q_home)
            if k:
                for d in dofs:
                    lo, hi = limits[d]
                    seed[d] = float(np.clip(q_home.get(d, 0.0) + rng.normal(0.0, 0.5), lo, hi))
            q_try, err_try = chain.ik(seed, limits, target, point, target_rot=rot, iters=60)
            moved = sum(abs(q_try[d] - q_home.get(d, 0.0)) for d in dofs)
            key = (err_try > 0.05 * length + 0.01, moved if err_try <= 0.05 * length + 0.01 else err_try)
            if best is None or key < best[0]:
                best = (key, q_try, err_try)
            if k == 0 and err_try <= 0.01:
                break
        _, q_new, err = best
        if err < 0.05 * length + 0.01:
            q_home.update({d: q_new[d] for d in dofs})
            done.append(tip.link)
    if not done:
        return "every joint at 0 (clipped into its limits): no leg could be posed by IK"
    return (f"standing: each foot ({', '.join(done)}) under its hip at 90% of the leg's length, by IK from the zero pose; "
            "check the knees bend the right way")


def _ready_pose(model, hands, ee_infos, q_home, limits, base_t) -> str:
    """Search the arm's joint space for a pose from which the reach task's targets are reachable."""
    rng = np.random.default_rng(0)
    notes = []
    for h, ee in zip(hands, ee_infos):
        dofs = [a for a in h["arm"] if model.joints[a].type != "spherical"]
        point = np.asarray(ee.get("offset", (0.0, 0.0, 0.0)))
        chain = Chain(model, h["link"], dofs, base_t)
        if not chain.dofs:
            continue
        if len(chain.dofs) > MAX_SEARCH_DOFS:
            notes.append(f"{h['link']}: {len(chain.dofs)} joints is too many to search a ready pose; zero pose kept")
            continue
        lo = np.array([max(limits[d][0], -math.pi) for d in chain.dofs])
        hi = np.array([min(limits[d][1], math.pi) for d in chain.dofs])
        mid, half = (lo + hi) / 2, (hi - lo) / 2
        base_q = dict(q_home)
        reach = _chain_length(chain, base_q, point)

        def build(vec):
            q = dict(base_q)
            q.update({d: float(v) for d, v in zip(chain.dofs, vec)})
            return q

        def score(q):
            t, tip, frames = chain.fk(q, point)
            jac = chain.jacobian(tip, frames)[:3]
            manip = math.sqrt(max(0.0, float(np.linalg.det(jac @ jac.T)))) / max(reach, 1e-3) ** 3
            horiz = float(np.linalg.norm(tip[:2]))
            low = min(float(f[1][2]) for f in frames) if frames else 0.0
            s = manip
            s -= 2.0 * max(0.0, 0.25 - tip[2])  # above the floor, room for targets below
            s -= 1.0 * max(0.0, 0.25 * reach - horiz)  # not over the base
            s -= 2.0 * max(0.0, -low)  # no joint under the floor
            vec = np.array([q[d] for d in chain.dofs])
            margin = np.min(1 - np.abs(vec - mid) / np.maximum(half, 1e-6)) if len(vec) else 1
            s += 0.2 * margin
            s -= 0.15 * float(np.mean(np.abs(vec - zero)))  # prefer small excursions from the drawn pose
            s += 0.3 * float(tip[0]) / max(horiz, 1e-6)  # in front of the robot (+x), as tasks expect
            if h["gripper"] and np.linalg.norm(point) > 1e-6:
                approach = t[:3, :3] @ (point / np.linalg.norm(point))
                s += 0.3 * float(-approach[2])  # fingers pointing down suit pick and place
            return s, tip

        zero = np.clip(np.array([base_q.get(d, 0.0) for d in chain.dofs]), lo, hi)
        candidates = [zero]
        candidates += [np.clip(zero + rng.normal(0.0, 0.8, len(lo)), lo, hi) for _ in range(160)]
        candidates += [mid + half * rng.uniform(-0.7, 0.7, len(lo)) for _ in range(40)]
        scored = sorted(((score(build(c))[0], i) for i, c in enumerate(candidates)), reverse=True)
        best, best_key = None, None
        offsets = [np.array(v) * REACH_BOX for v in
                   [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1),
                    (1, 1, 1), (-1, -1, -1), (1, -1, -1), (-1, 1, 1)]]
        for s, i in scored[:6] + [(score(build(candidates[0]))[0], 0)]:
            q = build(candidates[i])
            _, centre, _ = chain.fk(q, point)
            reached = 0
            for off in offsets:
                target = centre + off
                target[2] = max(target[2], 0.05)
                _, err = chain.ik(q, limits, target, point, iters=40, tol=0.01)
                reached += err < 0.015
            key = (reached, s)
            if best_key is None or key > best_key:
                best, best_key = q, key
        q_home.update({d: best[d] for d in chain.dofs})
        notes.append(f"{h['link']}: ready pose chosen from {len(candidates)} candidates; "
                     f"{best_key[0]}/{len(offsets)} test targets around it (±{REACH_BOX.tolist()} m) reachable by IK")
    return "arm ready pose: " + "; ".join(notes) if notes else "every joint at 0 (clipped into its limits)"


def _chain_length(chain: Chain, q, point) -> float:
    _, tip, frames = chain.fk(q, point)
    pts = [f[1] for f in frames] + [tip]
    return float(sum(np.linalg.norm(b - a) for a, b in zip(pts, pts[1:]))) or 0.1


def _link_lows_geometry(model: URDFModel, q_home, base_t) -> dict[str, float]:
    poses = model.fk(q_home, base=base_t)
    out = {}
    for name, link in model.links.items():
        pose = poses[name]
        for g in link.collisions:
            z = float((g.local_points() @ pose[:3, :3].T + pose[:3, 3])[:, 2].min())
            out[name] = min(out.get(name, z), z)
    return out


CollisionLows = Callable[..., dict[str, float]]
_collision_lows: CollisionLows | None = None


def use_collision_lows(fn: CollisionLows | None) -> None:
    """Hand `infer_spec` the simulator's collision bounds (`flywheel.sim.collision_bounds.link_lows`): `robots` knows no
    simulator (the layer rule), so whoever composes the layers passes it in; without it the primitive shapes are used."""
    global _collision_lows
    _collision_lows = fn


def link_lows(model: URDFModel, orientation, q_home, mimic, inertia_from_file: bool = True) -> tuple[dict[str, float], str]:
    """Lowest collision point of every link (meshes included when a simulator is wired in), base at the origin."""
    if _collision_lows is not None:
        try:
            return _collision_lows(model, orientation, q_home, mimic, inertia_from_file), \
                "PyBullet's collision bounds in the home pose"
        except ValueError:
            how = "primitive shapes (PyBullet could not load the model)"
    else:
        how = "primitive shapes (no simulator wired in)"
    base_t = np.eye(4)
    base_t[:3, :3] = np.array([_quat_matrix(orientation)]).reshape(3, 3)
    return _link_lows_geometry(model, q_home, base_t), how


def _quat_matrix(q) -> np.ndarray:
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])

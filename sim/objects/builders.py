"""How each source of the catalogue becomes PyBullet bodies through the `Scene` (no raw PyBullet calls here).

A builder gets the scene, the validated parameters and the world pose of the object's *spawn frame* (the centre of
its footprint, on the surface it rests on; x forward, z up) and returns a `Built`: the body, where the body's base
sits in the spawn frame, the object's extents and named points (in the spawn frame). Articulated fixtures are built
in `flywheel.sim.objects.articulated`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pybullet_data

from flywheel.sim import transforms as tf
from flywheel.sim.objects.catalogue import ObjectKind

PARKED = (0.0, 0.0, -50.0)  # where a model is measured before it is put in place (below the floor; no physics runs)


@dataclass
class Built:
    body: int
    base_offset: np.ndarray  # the body's base origin in the spawn frame
    size: np.ndarray  # extents x y z (m) in the spawn frame
    points: dict[str, np.ndarray] = field(default_factory=dict)  # named points (spawn frame): top, inside, level_0 ...
    base_orientation: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 0.0, 1.0]))  # in the spawn frame
    info: dict = field(default_factory=dict)  # other figures skills may need (a bin's inner size)
    interior: tuple[np.ndarray, np.ndarray] | None = None  # a container's inner volume: centre, half extents (spawn frame)
    joint: object | None = None  # articulated fixtures: an `articulated.Articulation`


def place(scene, body: int, base_offset, position, orientation, base_orientation=None) -> None:
    """Put the body's base where the spawn frame (`position`, `orientation`) says it goes."""
    orn = np.asarray(orientation, dtype=np.float64)
    pos = np.asarray(position, dtype=np.float64) + tf.quat_rotate(orn, np.asarray(base_offset, dtype=np.float64))
    if base_orientation is not None:
        orn = tf.quat_mul(orn, np.asarray(base_orientation, dtype=np.float64))
    scene.set_body_pose(body, pos.tolist(), list(orn))


def _finish(scene, body: int, params: dict, rgba) -> None:
    if rgba is not None:
        scene.set_color(body, rgba)
    if "friction" in params:
        scene.change_dynamics(body, -1, lateralFriction=params["friction"])
    if "rolling_friction" in params:
        scene.change_dynamics(body, -1, rollingFriction=params["rolling_friction"],
                              spinningFriction=params["rolling_friction"])


# ---- primitives ------------------------------------------------------------------------------------------
def build_primitive(scene, kind: ObjectKind, params: dict, rgba, position, orientation) -> Built:
    mass = params["mass"]
    if kind.name == "box":
        size = np.array(params["size"])
        body = scene.box((size / 2).tolist(), PARKED, mass=mass, color=rgba)
    elif kind.name == "cylinder":
        size = np.array([2 * params["radius"], 2 * params["radius"], params["height"]])
        body = scene.cylinder(params["radius"], params["height"], PARKED, mass=mass, color=rgba)
    else:
        size = np.full(3, 2 * params["radius"])
        body = scene.ball(params["radius"], PARKED, mass=mass, color=rgba)
    offset = np.array([0.0, 0.0, size[2] / 2])
    place(scene, body, offset, position, orientation)
    _finish(scene, body, params, None)
    return Built(body, offset, size, {"top": np.array([0.0, 0.0, size[2]]), "center": offset.copy()})


# ---- shipped with pybullet_data --------------------------------------------------------------------------
def shipped_urdf_path(kind: ObjectKind, params: dict) -> str:
    return f"{pybullet_data.getDataPath()}/{kind.urdf.format(index=params.get('index', 0))}"


def build_shipped(scene, kind: ObjectKind, params: dict, rgba, position, orientation) -> Built:
    model_orn = np.asarray(tf.euler_to_quat(np.array(kind.model_rpy)), dtype=np.float64)
    body = scene.load_urdf(shipped_urdf_path(kind, params), PARKED, model_orn.tolist(), globalScaling=params["scale"])
    scene.set_body_pose(body, PARKED, model_orn.tolist())  # refreshes the AABB, which loading leaves unturned
    lo, hi = (np.asarray(v) for v in scene.aabb(body))
    size = hi - lo
    # base origin relative to the footprint centre on the bottom, measured in the model's own frame
    offset = np.asarray(PARKED) - np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]])
    mass = params["mass"]
    if mass > 0:
        old_mass, _, inertia = scene.dynamics_of(body, -1)[:3]
        scale = mass / old_mass if old_mass > 0 else 1.0
        scene.change_dynamics(body, -1, mass=mass, localInertiaDiagonal=[i * scale for i in inertia])
    place(scene, body, offset, position, orientation, model_orn)
    _finish(scene, body, params, rgba)
    points = {"top": np.array([0.0, 0.0, size[2]]), "center": np.array([0.0, 0.0, size[2] / 2])}
    if kind.category == "container":
        s = params["scale"]
        points["inside"] = np.array([0.0, 0.0, 0.025 * s])  # the tray's floor
        interior = (np.array([0.0, 0.0, 0.0775 * s]), np.array([0.2 * s, 0.2 * s, 0.0525 * s]))  # within sloped walls
        return Built(body, offset, size, points, base_orientation=model_orn, interior=interior)
    return Built(body, offset, size, points, base_orientation=model_orn)


# ---- fixtures made of boxes --------------------------------------------------------------------------------
def _compound(scene, halves, offsets, params, rgba, position, orientation, mass: float = 0.0,
              base_height: float = 0.0) -> tuple[int, np.ndarray]:
    """One body of boxes whose offsets are given from the spawn frame; its base sits `base_height` above it."""
    local = [[o[0], o[1], o[2] - base_height] for o in offsets]
    body = scene.compound_boxes(halves, local, PARKED, color=rgba, mass=mass)
    base = np.array([0.0, 0.0, base_height])
    place(scene, body, base, position, orientation)
    _finish(scene, body, params, None)
    return body, base


def build_fixture(scene, kind: ObjectKind, params: dict, rgba, position, orientation) -> Built:
    return _FIXTURES[kind.name](scene, params, rgba, position, orientation)


def _table(scene, params, rgba, position, orientation) -> Built:
    (sx, sy), top, slab, knee = params["size"], params["height"], params["thickness"], params["knee_room"]
    if top <= slab + 0.3 and knee == 0.0:  # a low table is one block
        halves, offsets = [[sx / 2, sy / 2, top / 2]], [[0.0, 0.0, top / 2]]
    else:  # a slab on a pedestal flush with the +x edge, leaving `knee_room` free under the -x edge
        depth = max(sx - knee, 0.02) / 2
        halves = [[sx / 2, sy / 2, slab / 2], [depth, sy / 2, (top - slab) / 2]]
        offsets = [[0.0, 0.0, top - slab / 2], [sx / 2 - depth, 0.0, (top - slab) / 2]]
    body, base = _compound(scene, halves, offsets, params, rgba, position, orientation)
    return Built(body, base, np.array([sx, sy, top]), {"top": np.array([0.0, 0.0, top])})


def _shelf(scene, params, rgba, position, orientation) -> Built:
    (d, w, h), t, levels = params["size"], params["thickness"], params["levels"]
    halves = [[d / 2, t / 2, h / 2], [d / 2, t / 2, h / 2], [t / 2, w / 2 - t, h / 2]]  # two sides, the back
    offsets = [[0.0, -(w - t) / 2, h / 2], [0.0, (w - t) / 2, h / 2], [(d - t) / 2, 0.0, h / 2]]
    board_z = [t / 2 + (h - t) * k / (levels + 1) for k in range(levels + 2)]  # bottom, levels, top
    for z in board_z:
        halves.append([d / 2 - t / 2, w / 2 - t, t / 2])
        offsets.append([-t / 2, 0.0, z])
    body, base = _compound(scene, halves, offsets, params, rgba, position, orientation)
    points = {f"level_{k}": np.array([-t / 2, 0.0, z + t / 2]) for k, z in enumerate(board_z[:-1])}
    points["top"] = np.array([0.0, 0.0, h])
    return Built(body, base, np.array([d, w, h]), points)


def _bin(scene, params, rgba, position, orientation) -> Built:
    (sx, sy, sz), t = params["size"], params["wall"]
    halves = [[sx / 2, sy / 2, t / 2], [t / 2, sy / 2, sz / 2], [t / 2, sy / 2, sz / 2],
              [sx / 2 - t, t / 2, sz / 2], [sx / 2 - t, t / 2, sz / 2]]
    offsets = [[0.0, 0.0, t / 2], [-(sx - t) / 2, 0.0, sz / 2], [(sx - t) / 2, 0.0, sz / 2],
               [0.0, -(sy - t) / 2, sz / 2], [0.0, (sy - t) / 2, sz / 2]]
    # a movable bin keeps its base (centre of mass) at its middle
    body, base = _compound(scene, halves, offsets, params, rgba, position, orientation, mass=params["mass"],
                           base_height=sz / 2)
    points = {"inside": np.array([0.0, 0.0, t]), "top": np.array([0.0, 0.0, sz])}
    interior = (np.array([0.0, 0.0, (sz + t) / 2]), np.array([sx / 2 - t, sy / 2 - t, (sz - t) / 2]))
    return Built(body, base, np.array([sx, sy, sz]), points, info={"inner_size": [sx - 2 * t, sy - 2 * t, sz - t]},
                 interior=interior)


def _wall(scene, params, rgba, position, orientation) -> Built:
    size = np.array(params["size"])
    body, base = _compound(scene, [(size / 2).tolist()], [[0.0, 0.0, size[2] / 2]], params, rgba, position,
                           orientation, base_height=size[2] / 2)
    return Built(body, base, size, {"top": np.array([0.0, 0.0, size[2]])})


def _region(scene, params, rgba, position, orientation) -> Built:
    (sx, sy), thickness = params["size"], 0.001
    body = scene.box([sx / 2, sy / 2, thickness / 2], PARKED, mass=0.0, color=rgba, collide=False)
    base = np.array([0.0, 0.0, thickness / 2])
    place(scene, body, base, position, orientation)
    return Built(body, base, np.array([sx, sy, thickness]), {"top": np.array([0.0, 0.0, thickness]),
                                                             "center": base.copy()})


def _marker(scene, params, rgba, position, orientation) -> Built:
    """A marker's spawn frame is its centre (it marks a point, it does not rest on anything)."""
    r = params["radius"]
    body = scene.sphere(r, PARKED, color=rgba)
    place(scene, body, np.zeros(3), position, orientation)
    return Built(body, np.zeros(3), np.full(3, 2 * r), {"center": np.zeros(3), "top": np.array([0.0, 0.0, r])})


_FIXTURES = {"table": _table, "shelf": _shelf, "bin": _bin, "wall": _wall, "platform": _wall, "region": _region,
             "marker": _marker}

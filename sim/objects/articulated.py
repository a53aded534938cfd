"""Articulated fixtures as generated URDFs: ``drawer``, ``lidded_box``, ``door``, ``button``, ``slider``.

Each is a fixed-base model (`urdf_gen.Model`) made from its parameters, cached by their hash, loaded through the
Scene, plus an `Articulation`: which joint opens it, its closed and open positions, the handle (or press point) and
the motor that holds it at rest (joint friction, or a button's spring). All face -x at yaw 0 (a robot at the origin
looking along +x faces their handles); their spawn frame is the footprint centre on the surface they stand on.

- drawer: a cabinet whose drawer slides out towards -x by `travel`; point ``inside`` is the drawer's floor and
  `interior` its inner volume, both moving with it.
- lidded_box: a box whose lid, hinged along the back (+x) top edge, lifts by up to `open_angle`; ``inside`` is the
  box's floor.
- door: a panel in a frame, hinged on its +y edge, swinging towards -x by up to `open_angle`; the handle near the
  free edge.
- button: a cap on a housing, pushed down by `travel`; a weak position motor (`spring`, N) returns it; `pressed` once
  down by `press_fraction` of the travel. The press point is the top of the cap.
- slider: a knob sliding along +y on a rail by `travel`; the grip point is the knob's middle.

Handles (`handle` = ``fin``, the default, or ``bar``): a fin is a plate standing out of the face (on top of the lid),
thin across the moving part's y, pinched by a top-down gripper whose palm stays clear of the face (a Panda pulls the
drawer open this way: tests/test_objects_articulated.py); a bar is grasped from the front. Opening a lid or a door by
its handle is an arc: a skill must turn its grasp with `handle_pose`'s orientation as it pulls along `open_direction`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from flywheel.sim import transforms as tf
from flywheel.sim.objects.builders import PARKED, Built, place
from flywheel.sim.objects.catalogue import ObjectKind, Param, register_kind
from flywheel.sim.objects.colors import parse_color
from flywheel.sim.objects.urdf_gen import Joint, Link, Model, Shape, cached_urdf

HANDLE_RGBA = (0.25, 0.25, 0.25, 1.0)
GAP = 0.002  # clearance between a moving part and what surrounds it, m
DRIVE_FORCE = 200.0  # default force (N or N m) of `drive`


@dataclass
class Articulation:
    """How to read and move one articulated fixture's joint (the numbers of one spawned body)."""
    joint: int
    link: int  # the moving link (PyBullet numbers a link by its joint)
    revolute: bool
    closed: float  # joint position at fraction 0
    opened: float  # joint position at fraction 1
    handle: np.ndarray  # handle point in the moving link's frame
    handle_out: np.ndarray  # unit vector, moving link frame: from the handle towards where the hand comes from
    rest_force: float  # friction (velocity motor) or, with spring True, the spring's force
    spring: bool = False
    press_fraction: float = 0.5
    link_points: dict[str, np.ndarray] = field(default_factory=dict)  # points that move with the link
    link_interior: tuple[np.ndarray, np.ndarray] | None = None  # inner volume moving with the link: centre, half

    def q(self, fraction: float) -> float:
        return self.closed + float(np.clip(fraction, 0.0, 1.0)) * (self.opened - self.closed)

    def fraction(self, scene, body: int) -> float:
        q = scene.joint_position(body, self.joint)
        return float(np.clip((q - self.closed) / (self.opened - self.closed), 0.0, 1.0))

    def rest(self, scene, body: int) -> None:
        if self.spring:
            scene.joint_motor(body, self.joint, self.rest_force, position=self.closed, position_gain=0.3)
        else:
            scene.joint_motor(body, self.joint, self.rest_force, velocity=0.0)

    def set_fraction(self, scene, body: int, fraction: float) -> None:
        scene.set_joint_positions(body, [self.joint], [self.q(fraction)])
        self.rest(scene, body)

    def drive(self, scene, body: int, fraction: float | None, force: float | None) -> None:
        if fraction is None:
            self.rest(scene, body)
        else:
            scene.joint_motor(body, self.joint, DRIVE_FORCE if force is None else force, position=self.q(fraction))

    def _link_frame(self, scene, body: int) -> tuple[np.ndarray, np.ndarray]:
        pos, orn = scene.link_pose(body, self.link)
        return np.asarray(pos, dtype=np.float64), np.asarray(orn, dtype=np.float64)

    def handle_pose(self, scene, body: int) -> tuple[np.ndarray, np.ndarray]:
        """Handle position, and the moving part's orientation (x into the fixture, y across a fin: the pinch axis)."""
        pos, orn = self._link_frame(scene, body)
        return pos + tf.quat_rotate(orn, self.handle), orn

    def approach(self, scene, body: int) -> np.ndarray:
        """World unit vector from the handle towards where the hand comes from (up for fins, out for bars)."""
        return tf.quat_rotate(self._link_frame(scene, body)[1], self.handle_out)

    def point(self, scene, body: int, name: str) -> np.ndarray:
        pos, orn = self._link_frame(scene, body)
        return pos + tf.quat_rotate(orn, self.link_points[name])

    def open_direction(self, scene, body: int) -> np.ndarray:
        pos, orn = self._link_frame(scene, body)
        axis = scene.joint_axis(body, self.joint)
        axis = tf.quat_rotate(orn, np.asarray(axis, dtype=np.float64)) * np.sign(self.opened - self.closed)
        if not self.revolute:
            return axis / np.linalg.norm(axis)
        lever = tf.quat_rotate(orn, self.handle)  # hinge (the link origin) to handle
        d = np.cross(axis, lever)
        return d / np.linalg.norm(d)


# ---- the models -----------------------------------------------------------------------------------------------
def _box(size, xyz, rgba) -> Shape:
    return Shape("box", tuple(float(s) for s in size), tuple(float(c) for c in xyz), tuple(rgba))


def _walls(d: float, w: float, h: float, t: float, rgba, front: bool, z0: float = 0.0) -> list[Shape]:
    """Floor, back (+x), two sides, and with `front` a front wall: an open-topped box from z0 to z0 + h."""
    shapes = [_box((d, w, t), (0, 0, z0 + t / 2), rgba), _box((t, w, h), ((d - t) / 2, 0, z0 + h / 2), rgba),
              _box((d - 2 * t, t, h), (0, -(w - t) / 2, z0 + h / 2), rgba),
              _box((d - 2 * t, t, h), (0, (w - t) / 2, z0 + h / 2), rgba)]
    if front:
        shapes.append(_box((t, w, h), (-(d - t) / 2, 0, z0 + h / 2), rgba))
    return shapes


FIN = (0.07, 0.012, 0.03)  # a fin handle: protrusion x, thickness y, height z (m)


def _handle(style: str, face_x: float, y: float, z: float, vertical_bar: bool):
    """(shapes, grip point, approach direction) of a handle on a face at `face_x` looking towards -x.

    ``fin``: a plate standing out of the face, thin across y, pinched from above by a top-down gripper (whose palm
    stays clear of the face: the grip point is 4.5 cm out). ``bar``: a bar on two posts 3 cm in front of the face,
    horizontal (drawers) or vertical (doors), grasped from the front."""
    if style == "fin":
        return [_box(FIN, (face_x - FIN[0] / 2, y, z), HANDLE_RGBA)], (face_x - 0.045, y, z), (0.0, 0.0, 1.0)
    bar, post = (0.012, 0.012, 0.1) if vertical_bar else (0.012, 0.1, 0.012), (0.024, 0.012, 0.012)
    ends = [(0.0, 0.0, -0.044), (0.0, 0.0, 0.044)] if vertical_bar else [(0.0, -0.044, 0.0), (0.0, 0.044, 0.0)]
    shapes = [_box(bar, (face_x - 0.03, y, z), HANDLE_RGBA)]
    shapes += [_box(post, (face_x - 0.012, y + dy, z + dz), HANDLE_RGBA) for _, dy, dz in ends]
    return shapes, (face_x - 0.03, y, z), (-1.0, 0.0, 0.0)


def _drawer(p: dict, rgba) -> tuple[Model, dict]:
    (d, w, h), t, travel = p["size"], p["wall"], p["travel"]
    cabinet = _walls(d, w, h, t, rgba, front=False) + [_box((d, w, t), (0, 0, h - t / 2), rgba)]  # + a top
    # the drawer: a box inside the cabinet whose front panel closes the cabinet's open front
    dd, dw, dh = d - t - GAP, w - 2 * t - 2 * GAP, h - 2 * t - 2 * GAP
    x0, z0 = -(d - dd) / 2, t + GAP  # drawer centre x (flush with the front), floor height
    inner = _walls(dd - t, dw, dh, t, rgba, front=False, z0=z0)
    inner = [Shape(s.geometry, s.size, (s.xyz[0] + x0 + t / 2, s.xyz[1], s.xyz[2]), s.rgba) for s in inner]
    front = _box((t, w - 2 * GAP, h - 2 * GAP), (-(d - t) / 2, 0, h / 2), rgba)
    handle, grip, out = _handle(p["handle"], -d / 2, 0.0, h - 0.025, vertical_bar=False)
    model = Model("drawer", (Link("cabinet", tuple(cabinet)), Link("drawer", tuple(inner + [front] + handle), 0.5)),
                  (Joint("drawer_slide", "prismatic", "cabinet", "drawer", (0, 0, 0), (-1, 0, 0), 0.0, travel),))
    front_in, back_in = -d / 2 + t, d / 2 - 2 * t - GAP  # inner faces of the front panel and of the drawer's back
    meta = dict(moving="drawer", joint="drawer_slide", closed=0.0, opened=travel, handle=grip, handle_out=out,
                link_points={"inside": (x0 + t / 2, 0, z0 + t)},
                link_interior=(((front_in + back_in) / 2, 0.0, z0 + (t + dh) / 2),
                               ((back_in - front_in) / 2, dw / 2 - t, (dh - t) / 2)))
    return model, meta


def _lidded_box(p: dict, rgba) -> tuple[Model, dict]:
    (d, w, h), t = p["size"], p["wall"]
    base = _walls(d, w, h, t, rgba, front=True)
    # lid frame on the hinge: the back (+x) top edge; the lid lies along -x and lifts when the joint turns about +y
    lid = [_box((d, w, t), (-d / 2, 0, t / 2 + GAP), rgba)]
    if p["handle"] == "fin":  # a plate standing on the lid by its front edge, pinched from above
        lid.append(_box((0.04, 0.012, 0.03), (-d + 0.03, 0, t + GAP + 0.015), HANDLE_RGBA))
        grip, out = (-d + 0.03, 0.0, t + GAP + 0.015), (0.0, 0.0, 1.0)
    else:  # a tab sticking out of the front edge
        lid.append(_box((0.03, 0.05, t), (-d - 0.015, 0, t / 2 + GAP), HANDLE_RGBA))
        grip, out = (-d - 0.015, 0.0, t / 2 + GAP), (-1.0, 0.0, 0.0)
    model = Model("lidded_box", (Link("box", tuple(base)), Link("lid", tuple(lid), 0.2)),
                  (Joint("lid_hinge", "revolute", "box", "lid", (d / 2, 0, h), (0, 1, 0), 0.0, p["open_angle"]),))
    meta = dict(moving="lid", joint="lid_hinge", closed=0.0, opened=p["open_angle"], handle=grip, handle_out=out,
                points={"inside": (0, 0, t), "top": (0, 0, h + t)},
                interior=((0.0, 0.0, (h + t) / 2), (d / 2 - t, w / 2 - t, (h - t) / 2)))
    return model, meta


def _door(p: dict, rgba) -> tuple[Model, dict]:
    (t, w, h), post = p["size"], 0.04
    frame = [_box((t, post, h + post), (0, -(w / 2 + GAP + post / 2), (h + post) / 2), HANDLE_RGBA),
             _box((t, post, h + post), (0, w / 2 + GAP + post / 2, (h + post) / 2), HANDLE_RGBA),
             _box((t, w + 2 * GAP, post), (0, 0, h + post / 2 + GAP), HANDLE_RGBA)]
    # panel frame on the hinge (the +y edge); it swings towards -x when the joint turns about -z
    handle, grip, out = _handle(p["handle"], -t / 2, -w + 0.05, h / 2, vertical_bar=True)
    panel = [_box((t, w, h - GAP), (0, -w / 2, h / 2 + GAP), rgba), *handle]
    model = Model("door", (Link("frame", tuple(frame)), Link("panel", tuple(panel), 2.0)),
                  (Joint("door_hinge", "revolute", "frame", "panel", (0, w / 2, 0), (0, 0, -1), 0.0, p["open_angle"]),))
    meta = dict(moving="panel", joint="door_hinge", closed=0.0, opened=p["open_angle"], handle=grip, handle_out=out)
    return model, meta


def _button(p: dict, rgba) -> tuple[Model, dict]:
    (bx, by, bz), r, cap, travel = p["base_size"], p["radius"], p["cap_height"], p["travel"]
    housing = [_box((bx, by, bz), (0, 0, bz / 2), (0.3, 0.3, 0.3, 1.0))]
    plunger = [Shape("cylinder", (r, cap), (0, 0, cap / 2), tuple(rgba))]
    model = Model("button", (Link("housing", tuple(housing)), Link("cap", tuple(plunger), 0.02)),
                  (Joint("press", "prismatic", "housing", "cap", (0, 0, bz), (0, 0, -1), 0.0, travel),))
    meta = dict(moving="cap", joint="press", closed=0.0, opened=travel, handle=(0, 0, cap), handle_out=(0, 0, 1),
                spring=True, press_fraction=p["press_fraction"])
    return model, meta


def _slider(p: dict, rgba) -> tuple[Model, dict]:
    (rx, ry, rz), knob = p["rail_size"], p["knob_size"]
    travel = ry - knob[1] - 0.02
    rail = [_box((rx, ry, rz), (0, 0, rz / 2), (0.3, 0.3, 0.3, 1.0))]
    k = [_box(knob, (0, 0, knob[2] / 2 + GAP), rgba)]
    model = Model("slider", (Link("rail", tuple(rail)), Link("knob", tuple(k), 0.05)),
                  (Joint("slide", "prismatic", "rail", "knob", (0, -travel / 2, rz), (0, 1, 0), 0.0, travel),))
    meta = dict(moving="knob", joint="slide", closed=0.0, opened=travel, handle=(0, 0, knob[2] / 2 + GAP),
                handle_out=(0, 0, 1))  # the knob's middle: pinched from above (or pushed along y)
    return model, meta


_MODELS = {"drawer": _drawer, "lidded_box": _lidded_box, "door": _door, "button": _button, "slider": _slider}

_FRICTION = Param("float", 1.0, 0.0, 100.0, doc="joint friction, N (or N m): what holds it where it is left")
HANDLE = Param("str", "fin", choices=("fin", "bar"), doc="fin: pinched from above; bar: grasped from the front")
for _kind in [
    ObjectKind("drawer", "articulated", "articulated", "drawer",
               {"size": Param("vec", [0.3, 0.35, 0.16], 0.08, 1.5, n=3, doc="cabinet depth x, width y, height z, m"),
                "travel": Param("float", 0.18, 0.02, 1.0, doc="how far the drawer slides out, m"),
                "wall": Param("float", 0.01, 0.004, 0.05), "color": Param("color", "wood"), "friction": _FRICTION,
                "handle": HANDLE},
               "a cabinet with a drawer that slides out towards -x"),
    ObjectKind("lidded_box", "articulated", "articulated", "box",
               {"size": Param("vec", [0.2, 0.25, 0.1], 0.05, 1.0, n=3), "wall": Param("float", 0.01, 0.004, 0.05),
                "open_angle": Param("float", 1.9, 0.3, 3.0, doc="rad"), "color": Param("color", "brown"),
                "friction": Param("float", 0.2, 0.0, 50.0), "handle": HANDLE},
               "a box with a lid hinged along its back top edge"),
    ObjectKind("door", "articulated", "articulated", "door",
               {"size": Param("vec", [0.03, 0.35, 0.45], 0.01, 3.0, n=3, doc="thickness x, width y, height z, m"),
                "open_angle": Param("float", 1.57, 0.3, 2.5, doc="rad"), "color": Param("color", "white"),
                "friction": _FRICTION, "handle": HANDLE},
               "a door in a frame, hinged on its +y edge, opening towards -x"),
    ObjectKind("button", "articulated", "articulated", "button",
               {"base_size": Param("vec", [0.08, 0.08, 0.03], 0.02, 0.5, n=3),
                "radius": Param("float", 0.02, 0.005, 0.2),
                "cap_height": Param("float", 0.015, 0.005, 0.1), "travel": Param("float", 0.01, 0.003, 0.05),
                "spring": Param("float", 3.0, 0.1, 100.0, doc="N pushing the cap back up"),
                "press_fraction": Param("float", 0.6, 0.1, 1.0, doc="pressed once down this fraction of the travel"),
                "color": Param("color", "red")},
               "a push button on a housing; a spring returns it"),
    ObjectKind("slider", "articulated", "articulated", "slider",
               {"rail_size": Param("vec", [0.05, 0.3, 0.02], 0.01, 2.0, n=3),
                "knob_size": Param("vec", [0.03, 0.04, 0.04], 0.01, 0.3, n=3), "color": Param("color", "blue"),
                "friction": _FRICTION},
               "a knob that slides along +y on a rail"),
]:
    register_kind(_kind)


def urdf_path(kind: str, params: dict):
    """The cached URDF file of an articulated fixture with these (complete) parameters."""
    rgba, _ = parse_color(params["color"])
    model, _ = _MODELS[kind](params, rgba)
    return cached_urdf(kind, params, model)


def build_articulated(scene, kind: ObjectKind, params: dict, rgba, position, orientation) -> Built:
    model, meta = _MODELS[kind.name](params, rgba)
    body = scene.load_urdf(cached_urdf(kind.name, params, model), PARKED, (0, 0, 0, 1), fixed=True)
    joints, links = scene.joints_by_name(body), scene.links_by_name(body)
    art = Articulation(joints[meta["joint"]], links[meta["moving"]], model.joints[0].type == "revolute",
                       meta["closed"], meta["opened"], np.array(meta["handle"], dtype=np.float64),
                       np.array(meta["handle_out"], dtype=np.float64),
                       params["spring"] if meta.get("spring") else params["friction"], meta.get("spring", False),
                       meta.get("press_fraction", 0.5),
                       {k: np.array(v, dtype=np.float64) for k, v in meta.get("link_points", {}).items()},
                       _volume(meta.get("link_interior")))
    art.set_fraction(scene, body, 0.0)
    lo, hi = (np.asarray(v) for v in scene.aabb(body))  # measured closed, unturned, parked
    points = {k: np.array(v, dtype=np.float64) for k, v in meta.get("points", {}).items()}
    points.setdefault("top", np.array([0.0, 0.0, hi[2] - lo[2]]))
    offset = np.asarray(scene.base_inertial_offset(body), dtype=np.float64)  # models are drawn around the spawn frame
    place(scene, body, offset, position, orientation)
    return Built(body, offset, hi - lo, points, joint=art, interior=_volume(meta.get("interior")))


def _volume(v) -> tuple[np.ndarray, np.ndarray] | None:
    return None if v is None else (np.array(v[0], dtype=np.float64), np.array(v[1], dtype=np.float64))

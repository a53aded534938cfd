"""`spawn` puts a catalogue object into a `Scene` and returns a `SceneObject` that tasks, predicates and skills read.

Poses: ``position`` is where the object's *spawn frame* goes, the centre of its footprint on the surface it rests
on (so "on the table at x, y" is ``(x, y, table.top_z())``); ``yaw`` turns it about z (or pass ``orientation``, a
quaternion x y z w). Fixtures face -x (towards a robot at the origin looking along +x) at yaw 0.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from flywheel.sim import transforms as tf
from flywheel.sim.objects import builders
from flywheel.sim.objects.catalogue import color_of, describe, display_noun, object_kind, validate_object


@dataclass(eq=False)
class SceneObject:
    """One spawned object or fixture: its body and what an instruction, a predicate or a skill asks of it."""
    scene: object
    kind: str
    params: dict  # complete, validated
    body: int
    name: str  # "red cube", "drawer": the instruction slot
    noun: str  # "cube"
    color_name: str  # "red" ("" when the shipped model's colours are kept and unnamed)
    category: str  # object | container | fixture | articulated
    size: np.ndarray  # extents x y z in the spawn frame, m
    base_offset: np.ndarray  # the body's base origin in the spawn frame
    points: dict[str, np.ndarray] = field(default_factory=dict)  # named points in the spawn frame
    base_orientation: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 0.0, 1.0]))  # base in spawn frame
    info: dict = field(default_factory=dict)
    articulation: object | None = None  # `articulated.Articulation` of an articulated fixture
    interior_local: tuple[np.ndarray, np.ndarray] | None = None  # a container's inner volume (spawn frame)

    # ---- where it is ---------------------------------------------------------------------------------
    def pose(self) -> tuple[np.ndarray, np.ndarray]:
        """World (position, orientation) of the spawn frame: the footprint centre at the bottom, as `spawn` took it."""
        pos, orn = self.scene.body_pose(self.body)
        orn = tf.quat_mul(np.asarray(orn, dtype=np.float64), tf.quat_conj(self.base_orientation))
        return np.asarray(pos, dtype=np.float64) - tf.quat_rotate(orn, self.base_offset), orn

    def position(self) -> np.ndarray:
        return self.pose()[0]

    def set_pose(self, position: Sequence[float], yaw: float = 0.0, orientation: Sequence[float] | None = None) -> None:
        """Teleport at rest (reset time), with the same pose convention as `spawn`."""
        builders.place(self.scene, self.body, self.base_offset, position, _orientation(yaw, orientation),
                       self.base_orientation)
        self.scene.set_body_velocity(self.body)

    def point(self, name: str) -> np.ndarray:
        """World position of a named point: ``center``, ``top`` (the middle of the top face), ``inside`` (a
        container's floor), ``level_0``.. (shelf boards); KeyError lists the object's points."""
        moving = self.articulation.link_points if self.articulation is not None else {}
        if name in moving:  # a point on the moving part (a drawer's floor)
            return self.articulation.point(self.scene, self.body, name)
        if name not in self.points:
            raise KeyError(f"{self.name} has no point {name!r}; it has: {', '.join([*self.points, *moving])}")
        pos, orn = self.pose()
        return pos + tf.quat_rotate(orn, self.points[name])

    def aabb(self) -> tuple[np.ndarray, np.ndarray]:
        """World axis-aligned box (min, max): from the collision shapes, or for visual-only markers from `size`."""
        if self.category == "marker":  # no collision shape for PyBullet to measure
            pos, orn = self.pose()
            bottom = -0.5 if self.kind == "marker" else 0.0  # a marker's spawn frame is its centre
            corners = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (bottom, bottom + 1.0)])
            corners *= self.size
            world = np.array([pos + tf.quat_rotate(orn, c) for c in corners])
            return world.min(axis=0), world.max(axis=0)
        lo, hi = self.scene.aabb(self.body)
        return np.asarray(lo), np.asarray(hi)

    def top_z(self) -> float:
        """Height of the highest point now (a table's surface, the top of a stack)."""
        if "top" in self.points and self.category in ("fixture", "container", "marker"):
            return float(self.point("top")[2])  # exact for box furniture, unlike the AABB's collision margin
        return float(self.aabb()[1][2])

    def up(self) -> np.ndarray:
        """The spawn frame's z axis in the world (upright: close to 0 0 1)."""
        return tf.quat_rotate(self.pose()[1], np.array([0.0, 0.0, 1.0]))

    def velocity(self) -> tuple[np.ndarray, np.ndarray]:
        lin, ang = self.scene.body_velocity(self.body)
        return np.asarray(lin), np.asarray(ang)

    def center(self) -> np.ndarray:
        """World centre of the object's box (its middle, whatever its orientation)."""
        pos, orn = self.pose()
        return pos + tf.quat_rotate(orn, np.array([0.0, 0.0, self.size[2] / 2]))

    def interior(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """A container's inner volume as a box in the world: (centre, half extents, orientation); None for things
        that hold nothing. A drawer's moves with the drawer. Predicates "in" and "inside" read it."""
        art = self.articulation
        if art is not None and art.link_interior is not None:
            pos, orn = (np.asarray(v, dtype=np.float64) for v in self.scene.link_pose(self.body, art.link))
            centre, half = art.link_interior
        elif self.interior_local is not None:
            pos, orn = self.pose()
            centre, half = self.interior_local
        else:
            return None
        return pos + tf.quat_rotate(orn, centre), half.copy(), orn

    def contains(self, point, margin: float = 0.0) -> bool:
        """Whether a world point (an object's `center()`) lies in the interior, grown by `margin`."""
        volume = self.interior()
        if volume is None:
            return False
        centre, half, orn = volume
        local = tf.quat_rotate(tf.quat_conj(orn), np.asarray(point, dtype=np.float64) - centre)
        return bool(np.all(np.abs(local) <= half + margin))

    # ---- per-episode randomisation without a new body -----------------------------------------------
    def set_color(self, color) -> None:
        """Repaint (a name or an RGBA); `color_name` and `name` follow, for the episode's instruction."""
        full = validate_object(self.kind, {**self.params, "color": color})
        rgba, self.color_name = color_of(self.kind, full)
        self.params = full
        self.name = describe(self.kind, full)
        if rgba is not None:
            self.scene.set_color(self.body, rgba)

    def set_mass(self, mass: float) -> None:
        """Through `Scene.change_dynamics`, so the env's `restore_dynamics` puts it back for the next episode."""
        self.scene.change_dynamics(self.body, -1, mass=float(mass))

    def set_friction(self, friction: float) -> None:
        self.scene.change_dynamics(self.body, -1, lateralFriction=float(friction))

    # ---- articulated fixtures (None/0 for the others) ---------------------------------------------
    def _joint(self):
        if self.articulation is None:
            raise TypeError(f"{self.name} ({self.kind}) has no joint; articulated kinds: drawer, lidded_box, door, "
                            "button, slider")
        return self.articulation

    def joint_fraction(self) -> float:
        """0 closed (released, for a button) .. 1 fully open (pressed), clipped."""
        return self._joint().fraction(self.scene, self.body)

    def set_joint_fraction(self, fraction: float) -> None:
        """Teleport the joint (reset time: a drawer that starts half open)."""
        self._joint().set_fraction(self.scene, self.body, fraction)

    def drive(self, fraction: float | None, force: float | None = None) -> None:
        """Drive the joint by its motor towards ``fraction`` (None: back to its resting motor: friction, or a
        button's spring). Tests and scripted scenes; robots open fixtures by their handles."""
        self._joint().drive(self.scene, self.body, fraction, force)

    def pressed(self) -> bool:
        """A button pushed past its press depth (for other fixtures: open past the same fraction)."""
        return self.joint_fraction() >= self._joint().press_fraction

    def handle_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """World pose of the handle (the button's press point): where a hand grasps or pushes; the orientation is
        the moving part's (x into the fixture, y across a fin handle: the axis to pinch it along, z up when closed)."""
        return self._joint().handle_pose(self.scene, self.body)

    def handle_approach(self) -> np.ndarray:
        """World unit vector from the handle towards where a hand comes from: up for fins, buttons and knobs,
        out of the face for bar handles."""
        return self._joint().approach(self.scene, self.body)

    def weld_handle(self, body: int, link: int) -> int:
        """Grasp assist for hands without fingers: fix the moving part to `body`'s `link` where both are now; the
        hand then opens the fixture by moving. Returns the constraint (`Scene.remove_constraint` lets go)."""
        moving = self._joint().link
        pos, orn = self.scene.link_com_pose(self.body, moving)
        return self.scene.weld(body, link, self.body, pos, orn, child_link=moving)

    def open_direction(self) -> np.ndarray:
        """World unit vector the handle moves along when the joint opens, at the current joint position."""
        return self._joint().open_direction(self.scene, self.body)

    # ---- bookkeeping -------------------------------------------------------------------------------
    def record(self) -> dict:
        """Plain data for `meta/flywheel.json`: kind, parameters, name."""
        return {"kind": self.kind, "params": self.params, "name": self.name}

    def remove(self) -> None:
        self.scene.remove_body(self.body)


def _orientation(yaw: float, orientation) -> np.ndarray:
    if orientation is not None:
        return np.asarray(orientation, dtype=np.float64)
    return np.asarray(tf.euler_to_quat(np.array([0.0, 0.0, float(yaw)])), dtype=np.float64)


def spawn(scene, kind: str, params: Mapping | None = None, position: Sequence[float] = (0.0, 0.0, 0.0),
          yaw: float = 0.0, orientation: Sequence[float] | None = None) -> SceneObject:
    """Create an object of catalogue ``kind`` with ``params`` (validated here too: `ObjectSpecError`) so that its
    spawn frame is at ``position`` turned by ``yaw`` (or ``orientation``)."""
    spec = object_kind(kind)
    full = validate_object(kind, params)
    rgba, color_name = color_of(kind, full)
    orn = _orientation(yaw, orientation)
    if spec.source == "articulated":
        from flywheel.sim.objects.articulated import build_articulated
        built = build_articulated(scene, spec, full, rgba, position, orn)
    else:
        build = {"primitive": builders.build_primitive, "pybullet_data": builders.build_shipped,
                 "fixture": builders.build_fixture}[spec.source]
        built = build(scene, spec, full, rgba, position, orn)
    return SceneObject(scene, kind, full, built.body, describe(kind, full), display_noun(kind, full), color_name,
                       spec.category, built.size, built.base_offset, built.points, built.base_orientation, built.info,
                       built.joint, built.interior)

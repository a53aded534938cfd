"""The object and fixture library: things a task file names, by kind and parameters (data, not subclasses).

Catalogue (``known_kinds()``; each kind's parameters, defaults and ranges in `catalogue.KINDS`):

- primitives: ``box`` (size: 3 extents or one number for a cube), ``cylinder`` (radius, height), ``sphere`` (radius);
- shipped with pybullet_data, scaled to fit a hand: ``lego``, ``duck``, ``jenga``, ``mug``, ``domino``, ``teddy``,
  ``stick``, ``random_object`` (index 0..999 of the procedural random_urdfs), ``tray`` (a container);
- fixtures from boxes: ``table``, ``shelf``, ``bin`` (walls; movable when given a mass), ``wall``, ``platform``;
- visual only (nothing collides): ``region`` (a flat patch: "push it into the blue area"), ``marker`` (a sphere);
- articulated fixtures, generated URDFs cached by parameter hash (`urdf_gen`): ``drawer`` (a cabinet with a
  prismatic drawer), ``lidded_box`` (revolute lid), ``door`` (revolute), ``button`` (prismatic, spring return by a
  weak motor), ``slider`` (prismatic knob on a rail). Handles are ``fin`` (a plate a top-down gripper pinches; the
  default) or ``bar``.

Every kind takes ``color`` (a name from `colors.COLORS` or an RGBA list) and most take ``mass`` and ``friction``.

Checking a task file, no simulator needed::

    from flywheel.sim.objects import ObjectSpecError, validate_object
    params = validate_object("box", {"size": 0.04, "color": "red"}, where="scene.objects[0]")
    # bad input -> ObjectSpecError("scene.objects[0].params.size: ... ") (one line; prefix it with the file)

In a scene (``position`` is the footprint centre on the surface it rests on; fixtures face -x at yaw 0)::

    table = spawn(scene, "table", {"height": 0.4}, position=(0.5, 0.0, 0.0))
    cube = spawn(scene, "box", {"size": 0.04, "color": "red"}, position=(0.45, 0.1, table.top_z()), yaw=0.3)
    cube.name, cube.color_name, cube.noun        # "red cube", "red", "cube"
    cube.pose(), cube.center(), cube.aabb(), cube.size, cube.top_z(), cube.up()
    cube.set_pose((x, y, z), yaw), cube.set_color("blue"), cube.set_mass(0.2)   # per episode, same body
    drawer = spawn(scene, "drawer", {}, position=(0.7, 0.0, table.top_z()))
    drawer.joint_fraction()                      # 0 closed .. 1 open; drawer.set_joint_fraction(0.5) at reset
    drawer.handle_pose(), drawer.handle_approach(), drawer.open_direction()   # for grasp / pull skills
    drawer.point("inside")                       # the drawer's floor, moving with it
    button.pressed()

Motion planning around fixtures: `flywheel.sim.planning`.

Only `spawn` and `SceneObject` touch the simulator (through `flywheel.sim.scene.Scene`); attributes load lazily, so
importing this package for validation does not start PyBullet.
"""
from __future__ import annotations

import importlib

_LAZY = {
    "COLORS": "flywheel.sim.objects.colors", "parse_color": "flywheel.sim.objects.colors",
    "ObjectSpecError": "flywheel.sim.objects.params", "Param": "flywheel.sim.objects.params",
    "KINDS": "flywheel.sim.objects.catalogue", "ObjectKind": "flywheel.sim.objects.catalogue",
    "known_kinds": "flywheel.sim.objects.catalogue", "validate_object": "flywheel.sim.objects.catalogue",
    "describe": "flywheel.sim.objects.catalogue", "object_kind": "flywheel.sim.objects.catalogue",
    "catalogue_rows": "flywheel.sim.objects.catalogue",
    "spawn": "flywheel.sim.objects.scene_object", "SceneObject": "flywheel.sim.objects.scene_object",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'flywheel.sim.objects' has no attribute {name!r}")


__all__ = sorted(_LAZY)

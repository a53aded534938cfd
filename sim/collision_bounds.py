"""The lowest collision point of every link of a URDF in a given pose, as PyBullet computes it (meshes included).

`flywheel robots add` uses it to infer a floating robot's base height; `robots` must not import PyBullet (the
layer rule), so the command line hands this function to `flywheel.robots.infer` (see `flywheel.cli.compose_layers`).
"""
from __future__ import annotations

from typing import Any

import pybullet as p


def link_lows(model: Any, orientation, q_home: dict[str, float], mimic: dict[str, dict],
              inertia_from_file: bool = True) -> dict[str, float]:
    """Lowest collision z of each link with the base at the origin; ValueError if PyBullet cannot load the model."""
    cid = p.connect(p.DIRECT)
    try:
        try:
            body = p.loadURDF(str(model.path), [0, 0, 0], list(orientation), useFixedBase=True,
                              flags=p.URDF_USE_INERTIA_FROM_FILE if inertia_from_file else 0, physicsClientId=cid)
        except p.error as err:
            raise ValueError(f"PyBullet cannot load {model.path}: {err}") from None
        n = p.getNumJoints(body, physicsClientId=cid)
        info = [p.getJointInfo(body, i, physicsClientId=cid) for i in range(n)]
        index = {ji[1].decode(): i for i, ji in enumerate(info)}
        values = dict(q_home)
        for follower, m in mimic.items():
            values[follower] = m["multiplier"] * values.get(m["joint"], 0.0) + m["offset"]
        for name, value in values.items():
            if name in index and not isinstance(value, (list, tuple)):
                p.resetJointState(body, index[name], float(value), physicsClientId=cid)
        out = {}
        for link in range(-1, n):
            name = model.root if link < 0 else info[link][12].decode()
            if name not in model.links or not model.links[name].collisions:
                continue
            lo, hi = p.getAABB(body, link, physicsClientId=cid)
            if hi[2] >= lo[2]:
                out[name] = float(lo[2])
        return out
    finally:
        p.disconnect(physicsClientId=cid)

"""How many catalogue objects come to rest on a table, and how many where they were put: each spawned on a table,
1.5 s of physics; "at rest": finite pose, speed < 1 cm/s, spin < 0.05 rad/s, touching the table; "where put": also
within 1 cm of where it was put and upright (tilted < 37 degrees). Prints one JSON object.

    python scripts/object_settling.py                # every kind with its defaults, and all 1000 random_urdfs
    python scripts/object_settling.py --random 100   # ... the first 100 random_urdfs only
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from flywheel.sim.objects import known_kinds, spawn
from flywheel.sim.objects.catalogue import BROKEN_RANDOM_URDFS, RANDOM_URDF_COUNT
from flywheel.sim.scene import Scene


def settles(scene, kind: str, params: dict, table) -> tuple[bool, bool]:
    """(at rest on the table, where it was put)."""
    obj = spawn(scene, kind, params, position=(0.6, 0.0, table.top_z()), yaw=0.4)
    start = obj.pose()[0]
    scene.step(360)
    pos, _ = obj.pose()
    lin, ang = obj.velocity()
    rest = bool(np.all(np.isfinite(pos)) and np.linalg.norm(lin) < 0.01 and np.linalg.norm(ang) < 0.05
                and scene.near(obj.body, table.body, 0.002))
    put = rest and bool(np.linalg.norm(pos - start) < 0.01 and obj.up()[2] > 0.8)
    obj.remove()
    return rest, put


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=RANDOM_URDF_COUNT, help="how many random_urdfs to try")
    args = parser.parse_args()
    scene = Scene()
    table = spawn(scene, "table", {"size": [1.2, 1.2]}, position=(0.6, 0.0, 0.0))
    kinds = [k for k in known_kinds() if k not in ("table", "random_object") and k not in known_kinds("marker")]
    kind_results = {k: settles(scene, k, {}, table) for k in kinds}
    indices = [i for i in range(min(args.random, RANDOM_URDF_COUNT)) if i not in BROKEN_RANDOM_URDFS]
    random_results = {i: settles(scene, "random_object", {"index": i}, table) for i in indices}
    print(json.dumps({
        "kinds": len(kinds), "kinds_where_put": sum(r[1] for r in kind_results.values()),
        "kinds_not_at_rest": [k for k, r in kind_results.items() if not r[0]],
        "kinds_moved": [k for k, r in kind_results.items() if r[0] and not r[1]],
        "random_urdfs": len(indices), "random_urdfs_at_rest": sum(r[0] for r in random_results.values()),
        "random_urdfs_where_put": sum(r[1] for r in random_results.values()),
        "random_urdfs_not_at_rest": [i for i, r in random_results.items() if not r[0]],
        "random_urdfs_refused": list(BROKEN_RANDOM_URDFS)}))


if __name__ == "__main__":
    main()

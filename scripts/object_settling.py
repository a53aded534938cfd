"""How many catalogue objects settle where they are put: each spawned on a table, 1.5 s of physics, then at rest
(speed < 1 cm/s, spin < 0.05 rad/s), within 1 cm of where it was put, upright. Prints one JSON object.

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


def settles(scene, kind: str, params: dict, top: float) -> bool:
    obj = spawn(scene, kind, params, position=(0.6, 0.0, top), yaw=0.4)
    start = obj.pose()[0]
    scene.step(360)
    pos, _ = obj.pose()
    lin, ang = obj.velocity()
    ok = bool(np.all(np.isfinite(pos)) and np.linalg.norm(lin) < 0.01 and np.linalg.norm(ang) < 0.05
              and np.linalg.norm(pos - start) < 0.01 and obj.up()[2] > 0.8)
    obj.remove()
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=RANDOM_URDF_COUNT, help="how many random_urdfs to try")
    args = parser.parse_args()
    scene = Scene()
    table = spawn(scene, "table", {"size": [1.2, 1.2]}, position=(0.6, 0.0, 0.0))
    kinds = [k for k in known_kinds() if k not in ("table", "random_object") and k not in known_kinds("marker")]
    kind_fail = [k for k in kinds if not settles(scene, k, {}, table.top_z())]
    indices = [i for i in range(min(args.random, RANDOM_URDF_COUNT)) if i not in BROKEN_RANDOM_URDFS]
    random_fail = [i for i in indices if not settles(scene, "random_object", {"index": i}, table.top_z())]
    print(json.dumps({"kinds": len(kinds), "kinds_settled": len(kinds) - len(kind_fail), "kinds_not_settled": kind_fail,
                      "random_urdfs": len(indices), "random_urdfs_settled": len(indices) - len(random_fail),
                      "random_urdfs_not_settled": random_fail, "random_urdfs_refused": list(BROKEN_RANDOM_URDFS)}))


if __name__ == "__main__":
    main()

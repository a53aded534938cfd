"""The planner on the scene of tests/test_planning.py: a Panda reaching from low left to low right past a wall it
would hit in a straight line. Prints how often a path is found over seeds, and iterations, collision checks, CPU time
and path length (medians). CPU time is a figure for this machine, never a test.

    python scripts/planner_bench.py --seeds 20 [--self-collision]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from flywheel import robots
from flywheel.sim.objects import spawn
from flywheel.sim.planning import path_length, plan_joint_path
from flywheel.sim.robot import Robot
from flywheel.sim.scene import Scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--self-collision", action="store_true")
    args = parser.parse_args()
    scene = Scene()
    robot = Robot(scene, robots.get("panda"))
    qa = robot.home_q.copy()
    qa[[0, 1, 3, 5]] = [0.8, 0.5, -1.8, 2.3]
    qb = qa.copy()
    qb[0] = -0.8
    wall = spawn(scene, "wall", {"size": [0.3, 0.02, 0.45]}, position=(0.5, 0.0, 0.0))
    cube = spawn(scene, "box", {"size": 0.04}, position=(0.3, 0.35, 0.0))
    robot.reset(qa)
    found = []
    for seed in range(args.seeds):
        start = time.process_time()
        plan = plan_joint_path(scene, robot, qa, qb, [wall.body, cube.body], np.random.default_rng(seed),
                               hand="right_hand", self_collision=args.self_collision)
        if plan.ok:
            found.append((plan.iterations, plan.checks, time.process_time() - start, path_length(plan.path)))
    it, checks, cpu, length = (np.median([f[i] for f in found]) for i in range(4)) if found else (0, 0, 0, 0)
    print(f"found {len(found)}/{args.seeds}; median: {it:.0f} iterations, {checks:.0f} collision checks, "
          f"{cpu:.2f} s CPU, path {length:.2f} rad (straight line {np.linalg.norm(qb - qa):.2f} rad, blocked)")


if __name__ == "__main__":
    main()

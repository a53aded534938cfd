"""Expert success per built-in robot x applicable task: the table in the README.

    python -m flywheel.collectors.bench.expert_report --episodes 100

Seeds 0..N-1, joint-position control, domain randomisation on: the same figures every run on one machine.
"""
from __future__ import annotations

import argparse
import time

from flywheel import robots
from flywheel.collectors.policies import expert
from flywheel.collectors.collection.recorder import run_episode
from flywheel.sim import TaskNotApplicable, make_env
from flywheel.sim.registration import task_names
from flywheel.sim.tasks import task_class


def applicable_pairs(robot_names: list[str] | None = None) -> list[tuple[str, str]]:
    pairs = []
    for name in robot_names or robots.names():
        spec = robots.get(name)
        for task_name in task_names():
            task_cls = task_class(task_name)
            try:
                task_cls().check_robot(spec)
            except TaskNotApplicable:
                continue
            pairs.append((name, task_name))
    return pairs


def measure(robot: str, task: str, episodes: int) -> dict:
    env = make_env(task, robot=robot)
    policy = expert(task, env)
    start = time.perf_counter()
    results = [run_episode(env, policy, seed) for seed in range(episodes)]
    elapsed = time.perf_counter() - start
    env.close()
    return {"robot": robot, "task": task, "episodes": episodes, "success_rate": sum(r.success for r in results) / episodes,
            "mean_steps": sum(r.length for r in results) / episodes, "seconds_per_episode": elapsed / episodes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--robot", action="append", help="limit to these robots (repeatable)")
    args = parser.parse_args(argv)
    print("| robot | task | expert success | mean steps | s / episode |")
    print("|---|---|---|---|---|")
    for robot, task in applicable_pairs(args.robot):
        row = measure(robot, task, args.episodes)
        print(f"| {robot} | {task} | {row['success_rate']:.0%} ({args.episodes} seeds) | {row['mean_steps']:.1f} | "
              f"{row['seconds_per_episode']:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`make demo`: collect small real datasets with the scripted experts and show what they hold.

Starts Ray once (2 workers), collects Panda reach and pick_place and the project's humanoid on reach and
balance, validates each dataset and prints where it is and what it holds, then how to read it.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

RUNS = (("panda", "reach"), ("panda", "pick_place"), ("flywheel_humanoid", "reach"), ("flywheel_humanoid", "balance"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo_data")
    parser.add_argument("--episodes", type=int, default=20)
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()

    import ray

    from flywheel import robots
    from flywheel.collectors import collect
    from flywheel.collectors.collection.actor_pool import connect
    from flywheel.datasets import validate
    from flywheel.datasets.cli import cmd_info

    connect(None, workers=2)
    try:
        for robot, task in RUNS:
            if robot not in robots.names():
                continue
            root = out / f"{robot}_{task}"
            if root.exists():
                shutil.rmtree(root)
            summary = collect(task=task, robot=robot, episodes=args.episodes, workers=2, out=root, seed=0, quiet=True)
            problems = validate(root)
            print(f"\n== {task} on {robot}: {summary.line()}")
            print(f"   flywheel dataset validate: {'OK' if not problems else f'{len(problems)} problems'}")
            cmd_info(argparse.Namespace(path=str(root), json=False))
    finally:
        ray.shutdown()
    print(f"\nDatasets are LeRobotDataset v3.0 folders under {out}. Try:")
    print(f"  .venv/bin/flywheel replay {out / 'panda_pick_place'} --episodes 0:5 --verify")
    print(f"  .venv/bin/python -c \"import pyarrow.dataset as d; print(d.dataset('{out}/panda_reach/data').count_rows())\"")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

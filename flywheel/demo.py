"""`make demo`: collect small real datasets with the scripted experts and show what they hold.

Starts Ray once (2 workers), collects Panda reach and pick_place and the project's humanoid on reach, balance and
pick_place, validates each dataset and prints where it is and what it holds. It ends with a multi-task humanoid
dataset (reach + pick_place, merged on disk with `flywheel dataset merge`) and its report: one HTML page with
the success tables, histograms, feature distributions and sample episodes as video (re-rendered through replay,
as the datasets are state-only), then prints how to open it and how to read the data.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

# (robot, task, share of --episodes): the humanoid's long episodes get fewer, so the demo stays near two minutes
RUNS = (("panda", "reach", 1.0), ("panda", "pick_place", 1.0), ("flywheel_humanoid", "reach", 1.0),
        ("flywheel_humanoid", "balance", 0.4), ("flywheel_humanoid", "pick_place", 0.4))
MULTITASK = ("flywheel_humanoid", ("reach", "pick_place"))  # merged into one dataset, then reported


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
        for robot, task, share in RUNS:
            if robot not in robots.names():
                continue
            root = out / f"{robot}_{task}"
            if root.exists():
                shutil.rmtree(root)
            episodes = max(2, round(args.episodes * share))
            summary = collect(task=task, robot=robot, episodes=episodes, workers=2, out=root, seed=0, quiet=True)
            problems = validate(root)
            print(f"\n== {task} on {robot}: {summary.line()}")
            print(f"   flywheel dataset validate: {'OK' if not problems else f'{len(problems)} problems'}")
            cmd_info(argparse.Namespace(path=str(root), json=False))
    finally:
        ray.shutdown()
    multitask = multitask_report(out)
    print(f"\nDatasets are LeRobotDataset v3.0 folders under {out}. Try:")
    if multitask is not None:
        root, page = multitask
        print(f"  open the multi-task humanoid dataset's report in a browser: file://{page}")
        print(f"  .venv/bin/flywheel dataset report {root} --out report.html   # the same for any dataset")
        print(f"  .venv/bin/flywheel dataset view {root} --episodes 0:2   # a Rerun recording (pip install 'flywheel[view]')")
    print(f"  .venv/bin/flywheel replay {out / 'panda_pick_place'} --episodes 0:5 --verify")
    print(f"  .venv/bin/python -c \"import pyarrow.dataset as d; print(d.dataset('{out}/panda_reach/data').count_rows())\"")
    return 0


def multitask_report(out: Path) -> tuple[Path, Path] | None:
    """Merge the humanoid's reach and pick_place datasets into one multi-task dataset and write its report.

    The two tasks observe different objects (observation.environment_state differs in width), so the merge is
    ``--canonical``: the cross-embodiment features (observation.ee, ee_mask, action.ee) and the standard columns.
    The report replays its sample episodes from the source datasets (their joint actions), with a camera."""
    from flywheel.collectors.collection.render import render_samples
    from flywheel.datasets import report, validate
    from flywheel.datasets.cli import cmd_info
    from flywheel.datasets.merge import merge

    robot, tasks = MULTITASK
    sources = [out / f"{robot}_{task}" for task in tasks]
    if not all((s / "meta" / "info.json").exists() for s in sources):
        return None
    root = out / f"{robot}_multitask"
    if root.exists():
        shutil.rmtree(root)
    merge(sources, root, canonical=True)
    problems = validate(root)
    print(f"\n== multi-task {robot} ({' + '.join(tasks)}, flywheel dataset merge --canonical): "
          f"validate {'OK' if not problems else f'{len(problems)} problems'}")
    cmd_info(argparse.Namespace(path=str(root), json=False))
    report.use_renderer(render_samples)
    page = report.write_report(root, out / f"{root.name}.report.html", samples=4)
    print(f"   report: {page} ({page.stat().st_size / 1024:.0f} KB, sample episodes re-rendered through replay)")
    return root, page.resolve()


if __name__ == "__main__":
    raise SystemExit(main())

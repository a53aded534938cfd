"""The README's humanoid table: every humanoid of the development corpus through `flywheel robots add`, then the
scripted experts on `reach` (each hand), `pick_place` and `balance`, N seeds each.

    python scripts/humanoid_table.py [--seeds 10] [--work /tmp/humanoids] [--only talos,g1] [--builtin]

Prints a Markdown table (and writes it to WORK/table.md). `stands` is the result of the `stands` check that
`robots add` runs; `add` is its exit status (0: no failed check). `--builtin` adds the built-in humanoids (no `add`).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import re
import sys
import time
from pathlib import Path

import numpy as np

from flywheel.cli import main as flywheel_main
from flywheel.collectors.policies.experts import expert
from flywheel.robots import registry
from flywheel.robots.corpus import corpus
from flywheel.robots.spec import RobotSpec, load_spec
from flywheel.sim.env import RobotTaskEnv
from flywheel.sim.tasks import make_task

BUILTIN_HUMANOIDS = ("flywheel_humanoid", "mujoco_humanoid", "deepmimic_humanoid")


def add(urdf: Path, name: str, package_dirs: list[str], out: Path) -> tuple[int, str]:
    """`flywheel robots add` in this process: its exit status and the `stands` check's status."""
    argv = ["robots", "add", str(urdf), "--name", name, "--out", str(out), "--force"]
    for d in package_dirs:
        argv += ["--package-dir", d]
    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
        rc = flywheel_main(argv)
    (out / f"{name}.add.log").write_text(text.getvalue())
    found = re.search(r"^stands\s+(\w+)", text.getvalue(), re.M)
    return rc, found.group(1) if found else "-"


def success_rate(spec: RobotSpec, task: str, seeds: int, hand: str | None = None) -> float | None:
    """Share of `seeds` episodes (seeds 0..N-1) the task's expert succeeds in; None when the task does not apply."""
    task_obj = make_task(task)
    try:
        env = RobotTaskEnv(robot=spec, task=task_obj)
    except ValueError:
        return None
    try:
        if hand is not None:
            if hand not in env.robot.hands:
                return None
            env.robot.reset()
            task_obj.hand = hand
            task_obj.center = env.robot.ee_world_pose(hand)[0]
        policy = expert(task, env)
        wins = 0
        for seed in range(seeds):
            obs, info = env.reset(seed=seed)
            policy.reset(seed)
            for _ in range(env.task.max_episode_steps):
                obs, _, terminated, _, info = env.step(policy.act(obs))
                if terminated or (task != "balance" and info["is_success"]):
                    break
            wins += bool(info["is_success"])
        return wins / seeds
    finally:
        env.close()


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def row(name: str, source: str, spec: RobotSpec, seeds: int, rc: int | str, stands: str) -> str:
    reach = [success_rate(spec, "reach", seeds, hand) for hand in ("right_hand", "left_hand")]
    pick = success_rate(spec, "pick_place", seeds)
    balance = success_rate(spec, "balance", seeds)
    grip = ", ".join(f"{len(g.joints)}-joint" for g in spec.grippers.values()) or "assist"
    return (f"| {name} | {source} | {rc} | {stands} | {_pct(reach[0])} | {_pct(reach[1])} | {_pct(pick)} | "
            f"{_pct(balance)} | {grip} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--work", default="/tmp/flywheel-humanoids")
    parser.add_argument("--only", default="", help="comma-separated corpus names")
    parser.add_argument("--builtin", action="store_true", help="also the built-in humanoids")
    args = parser.parse_args(argv)
    work = Path(args.work)
    specs = work / "specs"
    specs.mkdir(parents=True, exist_ok=True)
    only = {n for n in args.only.split(",") if n}
    lines = [f"| robot | model | `robots add` exit | stands | reach right | reach left | pick_place | balance | hands |",
             "|---|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for robot in corpus(work / "urdf"):
        if only and robot.name not in only:
            continue
        start = time.perf_counter()
        rc, stands = add(robot.urdf, robot.name, robot.package_dir_args(), specs)
        spec_path = specs / f"{robot.name}.toml"
        if not spec_path.is_file():
            lines.append(f"| {robot.name} | {robot.source} | {rc} | - | - | - | - | - | - |")
        else:
            lines.append(row(robot.name, robot.source, load_spec(spec_path), args.seeds, rc, stands))
        print(lines[-1], f"<!-- {time.perf_counter() - start:.0f} s -->", flush=True)
    if args.builtin:
        for name in BUILTIN_HUMANOIDS:
            if not only or name in only:
                lines.append(row(name, "built-in", registry.get(name), args.seeds, "built-in", "-"))
                print(lines[-1], flush=True)
    (work / "table.md").write_text("\n".join(lines) + "\n")
    np.set_printoptions()
    return 0


if __name__ == "__main__":
    sys.exit(main())

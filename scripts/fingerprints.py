"""Behaviour fingerprints: SHA-256 of the data of datasets collected with fixed seeds.

For every built-in robot x applicable task x control mode, collects a few expert episodes with fixed seeds
through the public `collect` API (one local Ray session, one worker) and prints, per combination, the SHA-256
of each data file's bytes and of its column contents (the Arrow buffers, independent of Parquet encoding
options such as page checksums). A refactor that claims "behaviour preserved bit for bit" must leave the
content hashes unchanged; the file hashes also stay unchanged unless the Parquet writer options changed.

    python scripts/fingerprints.py --out /tmp/fp --json fingerprints.json
    python scripts/fingerprints.py --compare before.json after.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

CONTROL_MODES = ("joint_pos", "ee_delta")


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _content_sha(path: Path) -> str:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    h = hashlib.sha256()
    for name in sorted(table.column_names):
        h.update(name.encode())
        column = table.column(name).combine_chunks()
        h.update(str(column.type).encode())
        h.update(json.dumps(column.to_pylist(), sort_keys=True).encode())
    return h.hexdigest()


def combinations() -> list[tuple[str, str, str]]:
    from flywheel import robots
    from flywheel.sim.tasks import TaskNotApplicable, make_task

    from flywheel.sim import registration

    tasks = sorted(getattr(registration, "ENV_IDS", {}).values()) or sorted(registration.task_names())
    combos = []
    for robot in sorted(robots.names()):
        spec = robots.get(robot)
        if robot not in _BUILTINS:
            continue
        for task in tasks:
            try:
                make_task(task).check_robot(spec)
            except TaskNotApplicable:
                continue
            for mode in CONTROL_MODES:
                combos.append((robot, task, mode))
    return combos


_BUILTINS = ("deepmimic_humanoid", "flywheel_humanoid", "laikago", "mujoco_humanoid", "panda", "xarm6")


def collect_all(out: Path, episodes: int, seed: int) -> dict[str, dict[str, str]]:
    import ray

    from flywheel.collectors import collect
    from flywheel.collectors.collection.actor_pool import connect

    connect(None, workers=1)
    result: dict[str, dict[str, str]] = {}
    try:
        for robot, task, mode in combinations():
            root = out / f"{robot}_{task}_{mode}"
            if root.exists():
                shutil.rmtree(root)
            try:
                collect(task, robot, episodes, workers=1, out=root, seed=seed,
                        control_mode=mode, quiet=True)
            except Exception as exc:  # a combination that cannot run is part of the fingerprint too
                result[f"{robot}/{task}/{mode}"] = {"error": f"{type(exc).__name__}: {exc}"}
                print(f"{robot}/{task}/{mode}: {type(exc).__name__}: {exc}", flush=True)
                continue
            entry = {}
            for f in sorted((root / "data").rglob("*.parquet")):
                rel = f.relative_to(root).as_posix()
                entry[rel] = _file_sha(f)
                entry[rel + "#content"] = _content_sha(f)
            result[f"{robot}/{task}/{mode}"] = entry
            print(f"{robot}/{task}/{mode}: " + " ".join(v[:12] for v in entry.values()), flush=True)
    finally:
        ray.shutdown()
    return result


def compare(before: dict, after: dict) -> int:
    bad = 0
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a == b:
            print(f"same       {key}")
            continue
        content_same = a and b and all(a.get(k) == b.get(k) for k in set(a) | set(b) if k.endswith("#content"))
        print(f"{'CONTENT=' if content_same else 'DIFFERENT'}  {key}")
        bad += not content_same
    print(f"{bad} combinations differ in content")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/flywheel_fingerprints")
    ap.add_argument("--episodes", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--json", help="write the fingerprints here")
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = ap.parse_args(argv)
    if args.compare:
        return compare(*(json.loads(Path(p).read_text()) for p in args.compare))
    result = collect_all(Path(args.out), args.episodes, args.seed)
    text = json.dumps(result, indent=1, sort_keys=True)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

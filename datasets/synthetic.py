"""Synthetic episodes for tests, demos and writer benchmarks (no simulator needed).

Two made-up embodiments with different joint counts and end-effectors: ``arm7`` (7 joints, one hand
with a gripper) and ``biped12`` (12 joints, two hands, floating base). Every episode is a pure function
of (robot, key), so a test can regenerate what it wrote and compare bit for bit.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import schema

ROBOTS: dict[str, dict[str, Any]] = {
    "arm7": {"joints": [f"joint{i}" for i in range(1, 8)], "hands": ("right_hand",), "base": False},
    "biped12": {"joints": [f"j{i:02d}" for i in range(12)], "hands": ("right_hand", "left_hand"), "base": True},
}


def robot_features(robot: str, *, image: tuple[int, int] | None = None) -> dict[str, dict[str, Any]]:
    """The caller features a collector would pass to ``create_dataset`` for ``robot``."""
    joints = ROBOTS[robot]["joints"]
    features: dict[str, dict[str, Any]] = {
        "observation.state": {"dtype": "float32", "shape": [2 * len(joints)], "names": schema.joint_state_names(joints)},
        "action": {"dtype": "float32", "shape": [len(joints)], "names": list(joints)},
        **schema.canonical_features(),
        "observation.goal": {"dtype": "float32", "shape": [3], "names": ["x", "y", "z"]},
        "observation.env_state": {"dtype": "float32", "shape": [7], "names": ["x", "y", "z", "qx", "qy", "qz", "qw"]},
    }
    if ROBOTS[robot]["base"]:
        features["observation.base"] = {
            "dtype": "float32", "shape": [13],
            "names": ["x", "y", "z", "qx", "qy", "qz", "qw", "vx", "vy", "vz", "wx", "wy", "wz"],
        }
    if image is not None:
        features["observation.images.wrist"] = schema.image_feature(image[0], image[1], 3)
    return features


def episode_length(key: int, base: int = 12) -> int:
    return base + (key * 7) % 9


def synthetic_episode(robot: str, key: int, features: dict[str, dict[str, Any]], *, length: int | None = None) -> dict[str, np.ndarray]:
    """Frames for episode ``key``: every feature in ``features`` plus the ``next.*`` columns."""
    rng = np.random.default_rng(1000 * key + len(robot))
    t = length if length is not None else episode_length(key)
    frames: dict[str, np.ndarray] = {}
    hands = ROBOTS[robot]["hands"]
    for name, ft in features.items():
        if ft["dtype"] == "image":
            h, w, c = ft["shape"]
            base = rng.integers(0, 256, size=(1, h, w, c), dtype=np.uint8)
            frames[name] = (base + np.arange(t, dtype=np.uint8)[:, None, None, None]).astype(np.uint8)
        elif name == schema.EE_MASK_KEY:
            frames[name] = np.tile(np.asarray(schema.ee_mask(hands), np.float32), (t, 1))
        elif name in (schema.EE_OBS_KEY, schema.EE_ACTION_KEY):
            x = rng.normal(size=(t, ft["shape"][0])).astype(np.float32)
            action = name == schema.EE_ACTION_KEY
            for ee in schema.CANONICAL_EE:
                if ee not in hands:
                    x[:, schema.ee_slice(ee, action=action)] = 0.0
            frames[name] = x
        else:
            frames[name] = rng.normal(size=(t, ft["shape"][0])).astype(ft["dtype"])
    success = bool(key % 3 != 1)
    frames["next.reward"] = rng.random(t).astype(np.float32)
    frames["next.done"] = np.zeros(t, bool)
    frames["next.done"][-1] = True
    frames["next.truncated"] = np.zeros(t, bool)
    frames["next.truncated"][-1] = not success
    frames["next.success"] = np.zeros(t, bool)
    frames["next.success"][-1] = success
    return frames


def episode_kwargs(key: int, seed0: int = 100) -> dict[str, Any]:
    """The keyword arguments of ``StagingWriter.add_episode`` matching ``synthetic_episode(key)``."""
    success = bool(key % 3 != 1)
    return {"seed": seed0 + key, "success": success, "policy": "scripted", "terminated": success, "truncated": not success}


def flywheel_meta(robot: str) -> dict[str, Any]:
    return {
        "robot": {"name": robot, "joints": ROBOTS[robot]["joints"], "model_sha256": "0" * 64},
        "task": {"name": "reach", "params": {"tolerance": 0.02}},
        "config": {"episodes": None, "seed": 100, "policy": "scripted"},
    }


def write_synthetic_dataset(
    root: str | Path,
    robot: str = "arm7",
    keys: range | list[int] = range(6),
    *,
    image: tuple[int, int] | None = None,
    workers: int = 2,
    episodes_per_file: int = 2,
    finalize_kwargs: dict[str, Any] | None = None,
    task: str = "reach the red target",
    fps: int = 10,
) -> dict[str, Any]:
    """Create, stage (round-robin over ``workers`` writers) and finalize a synthetic dataset; returns info."""
    from .finalize import finalize
    from .staging import create_dataset
    from .writer import StagingWriter

    features = robot_features(robot, image=image)
    create_dataset(root, features=features, fps=fps, robot_type=robot, task=task, flywheel_meta=flywheel_meta(robot))
    writers = [StagingWriter(root, worker=f"w{i}", episodes_per_file=episodes_per_file) for i in range(workers)]
    for n, key in enumerate(keys):
        writers[n % workers].add_episode(key, synthetic_episode(robot, key, features), **episode_kwargs(key))
    for w in writers:
        w.close()
    return finalize(root, **(finalize_kwargs or {}))


# ---- memory benchmark of finalize / open / validate ------------------------------------------------
def stage_tiny_episodes(root: str | Path, episodes: int, *, length: int = 5, robot: str = "arm7",
                        workers: int = 2, episodes_per_file: int = 16) -> None:
    """Create ``root`` and stage ``episodes`` short episodes round-robin over ``workers`` writers
    (interleaved keys, as Ray workers produce them), without finalizing."""
    from .staging import create_dataset
    from .writer import StagingWriter

    features = robot_features(robot)
    create_dataset(root, features=features, fps=10, robot_type=robot, task="reach the red target",
                   flywheel_meta=flywheel_meta(robot))
    writers = [StagingWriter(root, worker=f"w{i}", episodes_per_file=episodes_per_file) for i in range(workers)]
    template = {k: synthetic_episode(robot, k, features, length=length) for k in range(16)}
    for key in range(episodes):
        writers[key % workers].add_episode(key, template[key % 16], **episode_kwargs(key))
    for w in writers:
        w.close()


def _measure(phase: str, root: str, **kwargs: Any) -> dict[str, Any]:
    """Run one phase in this (fresh) process; peak RSS over the phase, minus what imports cost."""
    import gc
    import resource
    import time

    import pyarrow as pa

    import flywheel.datasets as fd

    gc.collect()
    start = resource.getrusage(resource.RUSAGE_SELF)
    base_kb = start.ru_maxrss
    t0 = time.perf_counter()
    if phase == "finalize":
        fd.finalize(root, **kwargs)
    elif phase == "open":
        ds = fd.open(root)
        n = len(ds)
        for i in sorted({0, n // 2, n - 1}):
            ds.episode(i)
        sum(1 for _ in ds.filter(success=True).episode_indices)
    elif phase == "validate":
        problems = fd.validate(root)
        if problems:
            raise SystemExit("\n".join(map(str, problems[:10])))
    else:
        raise ValueError(phase)
    seconds = time.perf_counter() - t0
    end = resource.getrusage(resource.RUSAGE_SELF)
    peak_kb = end.ru_maxrss
    cpu = end.ru_utime + end.ru_stime - start.ru_utime - start.ru_stime
    return {"phase": phase, "seconds": round(seconds, 2), "cpu_s": round(cpu, 2), "rss_before_mb": round(base_kb / 1024, 1),
            "rss_peak_mb": round(peak_kb / 1024, 1), "rss_growth_mb": round((peak_kb - base_kb) / 1024, 1),
            "arrow_peak_mb": round(pa.default_memory_pool().max_memory() / 2**20, 1)}


def _layout(root: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    out: dict[str, Any] = {}
    for name, folder in (("data", root / "data"), ("episodes", root / "meta" / "episodes")):
        files = sorted(folder.glob("*/*.parquet"))
        mds = [pq.read_metadata(p) for p in files]
        out[name] = {
            "files": len(files),
            "max_row_groups": max((m.num_row_groups for m in mds), default=0),
            "max_file_mb": round(max((p.stat().st_size for p in files), default=0) / 2**20, 2),
            "max_footer_kb": round(max((m.serialized_size for m in mds), default=0) / 1024, 1),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m flywheel.datasets.synthetic --episodes 20000 --length 5 --out DIR``: stage tiny episodes,
    then finalize, open and validate them, each in a fresh process, and print time and peak RSS as JSON."""
    import argparse
    import json
    import shutil
    import subprocess
    import sys

    p = argparse.ArgumentParser(prog="python -m flywheel.datasets.synthetic", description=main.__doc__)
    p.add_argument("--episodes", type=int, default=20000)
    p.add_argument("--length", type=int, default=5)
    p.add_argument("--out", type=Path, required=True, help="work folder (staging is kept in OUT/staged and reused)")
    p.add_argument("--finalize-kwargs", default="{}", help="JSON keyword arguments of finalize")
    p.add_argument("--phase", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.phase:
        print(json.dumps(_measure(args.phase, str(args.out), **json.loads(args.finalize_kwargs))))
        return 0
    staged = args.out / f"staged-{args.episodes}x{args.length}"
    if not (staged / "staging" / "spec.json").exists():
        shutil.rmtree(staged, ignore_errors=True)
        stage_tiny_episodes(staged, args.episodes, length=args.length)
    root = args.out / "ds"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(staged, root)
    results = []
    for phase in ("finalize", "open", "validate"):
        cmd = [sys.executable, "-m", "flywheel.datasets.synthetic", "--phase", phase, "--out", str(root)]
        if phase == "finalize":
            cmd += ["--finalize-kwargs", args.finalize_kwargs]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode:
            sys.stderr.write(res.stdout + res.stderr)
            return 1
        results.append(json.loads(res.stdout.strip().splitlines()[-1]))
    print(json.dumps({"episodes": args.episodes, "length": args.length, "phases": results, "layout": _layout(root)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``flywheel bench``: the throughput benchmark against 300-500 episodes per robot per day (see bench.py)."""
from __future__ import annotations

import argparse
import shlex
import sys


def _workers(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.replace(" ", "").split(",") if x)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--workers takes a comma-separated list of positive integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"--workers takes a comma-separated list of positive integers, got {text!r}")
    return tuple(sorted(set(values)))


def add_commands(subparsers) -> None:
    b = subparsers.add_parser(
        "bench", help="measure throughput: engine ceiling, 1-worker pipeline and W Ray workers, against 300-500 episodes/robot/day",
        description="Collect the same seeded episodes with 1 and W Ray workers (the real collector, dataset writing "
                    "included), replay the 1-worker episodes physics-only for the engine ceiling, time the parts of one "
                    "worker's loop, and write bench.json, bench.md and bench.png to --out.")
    b.add_argument("--task", default="pick_place", help="reach, pick_place, balance (default pick_place)")
    b.add_argument("--robot", default="panda", help="built-in robot name or spec .toml path (default panda)")
    b.add_argument("--workers", "-w", type=_workers, default=None, help="worker counts to measure, e.g. 1,2 (default 1,2)")
    b.add_argument("--episodes", "-n", type=int, default=None,
                   help="episodes per configuration (default 64; 24 with --quick)")
    b.add_argument("--camera", nargs="+", default=[], metavar="NAME", help="record images from these cameras")
    b.add_argument("--image-format", choices=("video", "png"), default="video", help="camera storage (default video)")
    b.add_argument("--video-codec", default=None, help="libsvtav1 (default where available) or libx264")
    b.add_argument("--camera-size", type=int, default=224, help="square camera images, pixels per side (default 224)")
    b.add_argument("--camera-hz", type=int, default=10, help="camera frames per second (default 10)")
    b.add_argument("--control-mode", default="joint_pos", choices=("joint_pos", "ee_delta"))
    b.add_argument("--max-steps", type=int, default=None, help="episode step limit (default: the task's)")
    b.add_argument("--seed", type=int, default=0, help="episode k uses seed SEED+k (default 0)")
    b.add_argument("--repeats", type=int, default=None, help="repeat every measurement and report medians (default 3; 1 with --quick)")
    b.add_argument("--out", "-o", default="bench-out", help="folder for bench.json, bench.md, bench.png (default ./bench-out)")
    b.add_argument("--quick", action="store_true", help="a small run (under 2 minutes): 24 episodes, 1 repeat")
    b.add_argument("--keep-data", action="store_true", help="keep the collected datasets under OUT/data")
    b.add_argument("--json", action="store_true", help="print the JSON document instead of the table")
    b.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    b.set_defaults(handler=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from flywheel.cli import UserError
    from flywheel.collectors.bench import report as bench_report, run as bench

    defaults = bench.QUICK if args.quick else {}
    episodes = args.episodes if args.episodes is not None else defaults.get("episodes", 64)
    repeats = args.repeats if args.repeats is not None else defaults.get("repeats", 3)
    if episodes < 1:
        raise UserError(f"--episodes must be a positive integer, got {episodes}")
    if repeats < 1:
        raise UserError(f"--repeats must be a positive integer, got {repeats}")
    cfg = bench.BenchConfig(task=args.task, robot=args.robot, workers=args.workers or (1, 2), episodes=episodes,
                            camera=tuple(args.camera), control_mode=args.control_mode, seed=args.seed, repeats=repeats,
                            quick=args.quick, max_steps=args.max_steps,
                            split_episodes=defaults.get("split_episodes"), keep_data=args.keep_data,
                            image_format=args.image_format, video_codec=args.video_codec,
                            camera_size=args.camera_size, camera_hz=args.camera_hz)
    command = "flywheel " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv and sys.argv[0].endswith("flywheel") \
        else "flywheel bench " + " ".join(shlex.quote(a) for a in _argv_of(args))
    log = (lambda msg: None) if args.quiet or args.json else (lambda msg: print(msg, file=sys.stderr, flush=True))
    try:
        doc = bench.run_bench(cfg, args.out, log=log, command=command)
    except Exception as err:
        from flywheel.collectors.collection.collect import CollectError

        if isinstance(err, CollectError):
            raise UserError(str(err)) from None
        raise
    paths = bench_report.write_outputs(doc, args.out)
    if args.json:
        import json

        print(json.dumps(doc, indent=2))
    else:
        print(bench_report.markdown(doc))
        print("wrote " + ", ".join(p for p in paths.values() if p))
    return 0


def _argv_of(args: argparse.Namespace) -> list[str]:
    """The options as given (for the record when called through `flywheel.cli.main([...])`)."""
    out = ["--task", args.task, "--robot", args.robot]
    if args.workers:
        out += ["--workers", ",".join(map(str, args.workers))]
    if args.episodes is not None:
        out += ["--episodes", str(args.episodes)]
    if args.camera:
        out += ["--camera", *args.camera, "--image-format", args.image_format, "--camera-size", str(args.camera_size),
                "--camera-hz", str(args.camera_hz)] + (["--video-codec", args.video_codec] if args.video_codec else [])
    if args.control_mode != "joint_pos":
        out += ["--control-mode", args.control_mode]
    if args.max_steps is not None:
        out += ["--max-steps", str(args.max_steps)]
    if args.seed:
        out += ["--seed", str(args.seed)]
    if args.repeats is not None:
        out += ["--repeats", str(args.repeats)]
    out += ["--out", args.out]
    if args.quick:
        out.append("--quick")
    return out


__all__ = ["add_commands", "cmd_bench"]

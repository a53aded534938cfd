"""``flywheel collect`` and ``flywheel replay``.

Ray, PyBullet and pyarrow are imported inside the handlers only, so ``flywheel --help`` stays fast.
"""
from __future__ import annotations

import argparse
import shlex
import sys


def add_commands(subparsers) -> None:
    c = subparsers.add_parser(
        "collect", help="collect episodes into a dataset with parallel Ray workers",
        description="Collect N episodes (episode k runs from seed S+k) with W Ray workers into a LeRobot v3.0 dataset. "
                    "Runs locally, or on the Ray cluster named by --address / RAY_ADDRESS.")
    c.add_argument("--task", required=True, help="reach, pick_place, balance")
    c.add_argument("--robot", default="panda", help="a built-in robot name or a robot spec .toml path (default panda)")
    c.add_argument("--episodes", "-n", type=int, required=True, help="episodes to collect (with --success-only: successes)")
    c.add_argument("--workers", "-w", type=int, default=2, help="Ray workers, one CPU each (default 2)")
    c.add_argument("--out", "-o", required=True, help="dataset folder (new or empty; an unfinished one with --resume)")
    c.add_argument("--seed", type=int, default=0, help="episode k uses seed SEED+k (default 0)")
    c.add_argument("--policy", default="expert", help="expert, random, or the path of a learned policy file (default expert)")
    c.add_argument("--noise", type=float, default=0.0, help="expert noise (target jitter, metres) for diverse demonstrations")
    c.add_argument("--relabel", choices=("expert",), default=None,
                   help="DAgger: the --policy drives, the scripted expert labels every visited state (stored as action)")
    c.add_argument("--beta", type=float, default=0.0, help="with --relabel: per-step probability that the expert drives")
    c.add_argument("--success-only", action="store_true", help="keep drawing seeds until N successful episodes are stored")
    c.add_argument("--resume", action="store_true", help="complete an unfinished dataset (same parameters as its first run)")
    c.add_argument("--camera", nargs="+", default=[], metavar="NAME", help="record images from these cameras")
    c.add_argument("--image-format", choices=("video", "png"), default="video",
                   help="cameras as LeRobot video features (mp4, default) or PNG images inside the Parquet")
    c.add_argument("--video-codec", default=None, metavar="CODEC",
                   help="libsvtav1 (AV1, default where PyAV has it, as LeRobot) or libx264 (H.264); also av1, h264")
    c.add_argument("--camera-size", default="224", metavar="HxW",
                   help="camera images: one side (224) or HEIGHTxWIDTH (default 224)")
    c.add_argument("--camera-hz", type=int, default=10,
                   help="camera frames per second, a divisor of the control rate; frames in between repeat the last "
                        "render, so the dataset keeps one frame rate (default 10)")
    c.add_argument("--randomize-visuals", action="store_true",
                   help="per-episode floor/table colours and textures, object shades, light and camera jitter, drawn "
                        "from each episode's seed (physics unchanged) and recorded in meta/flywheel.json")
    c.add_argument("--max-steps", type=int, default=None, help="episode step limit (default: the task's)")
    c.add_argument("--control-mode", default="joint_pos", choices=("joint_pos", "ee_delta"))
    c.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")
    c.add_argument("--episodes-per-file", type=int, default=16, help="episodes per staging file (what a killed worker can lose)")
    c.add_argument("--max-restarts", type=int, default=None, help="worker replacements before giving up (default 10 + 2W)")
    c.add_argument("--episode-timeout", type=float, default=None, metavar="SECONDS",
                   help="the watchdog: an episode running longer is retried once on a new worker, then dropped "
                        "(default 10x the expected episode time, at least 60 s)")
    c.add_argument("--json", action="store_true", help="print the summary as JSON")
    c.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary line")
    c.set_defaults(handler=cmd_collect)

    r = subparsers.add_parser(
        "replay", help="re-simulate stored episodes: verify them bit for bit, or render cameras into a new dataset",
        description="Re-simulate episodes from their stored seed and actions on Ray workers.")
    r.add_argument("dataset", help="a finished dataset folder")
    r.add_argument("--episodes", default=None, help="episode indices: 0:100, 5, 1,4,9 or 0:10,20:30 (default all)")
    r.add_argument("--verify", action="store_true", help="compare observations bit for bit and report mismatches")
    r.add_argument("--camera", nargs="+", default=[], metavar="NAME", help="render these cameras into a new dataset (--out)")
    r.add_argument("--out", "-o", default=None, help="where the dataset with images goes (with --camera)")
    r.add_argument("--image-format", choices=("video", "png"), default="video", help="with --camera: as collect (default video)")
    r.add_argument("--video-codec", default=None, metavar="CODEC", help="with --camera: as collect")
    r.add_argument("--camera-size", default="224", metavar="HxW", help="with --camera: as collect (default 224)")
    r.add_argument("--camera-hz", type=int, default=10, help="with --camera: as collect (default 10)")
    r.add_argument("--randomize-visuals", action="store_true", help="with --camera: as collect")
    r.add_argument("--workers", "-w", type=int, default=2)
    r.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")
    r.add_argument("--resume", action="store_true", help="complete an unfinished --out dataset of an earlier replay")
    r.add_argument("--json", action="store_true", help="print the report as JSON")
    r.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    r.set_defaults(handler=cmd_replay)

    t = subparsers.add_parser(
        "retarget", help="move episodes to another robot, or amplify a few demonstrations into many (MimicGen-style)",
        description="For every source episode: rebuild a scene in the target robot's env, split the source trajectory "
                    "into object-centric segments and drive the target's hand through them; keep the successes. "
                    "Exactly-once and resumable like collect; meta/flywheel.json records provenance and yield.")
    t.add_argument("source", help="a LeRobot v3.0 dataset with hand poses, a gripper signal and object poses")
    t.add_argument("--robot", required=True, help="the target robot: a built-in name or a robot spec .toml path")
    t.add_argument("--out", "-o", required=True, help="the new dataset folder (an unfinished one with --resume)")
    t.add_argument("--amplify", type=int, default=0, metavar="K",
                   help="K new episodes per source episode, each in a new randomised scene (default 0: retarget only)")
    t.add_argument("--seed", type=int, default=None,
                   help="scenes of key k use seed SEED+k (default: each source episode's own seed; with --amplify "
                        f"{1_000_000})")
    t.add_argument("--task", default=None, help="the flywheel task to retarget into (default: the source's)")
    t.add_argument("--mapping", default=None, metavar="TOML",
                   help="where a foreign dataset keeps its hand, gripper and objects (see the README)")
    t.add_argument("--episodes", default=None, help="source episodes: 0:10, 5, 1,4,9 (default all)")
    t.add_argument("--workers", "-w", type=int, default=2, help="Ray workers, one CPU each (default 2)")
    t.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")
    t.add_argument("--episodes-per-file", type=int, default=16, help="episodes per staging file")
    t.add_argument("--resume", action="store_true", help="complete an unfinished retarget (same parameters)")
    t.add_argument("--json", action="store_true", help="print the summary as JSON (the last line)")
    t.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary line")
    t.set_defaults(handler=cmd_retarget)


def _user_error(message: str):
    from flywheel.cli import UserError

    return UserError(message)


def _resume_command(args: argparse.Namespace, command: str) -> str:
    """The command that completes this run: the same parameters plus --resume (rebuilt from the parsed args)."""
    parts = ["flywheel", command]
    skip = {"command", "handler", "resume", "json", "quiet"}
    for key, value in vars(args).items():
        if key in skip or value is None or value is False or value == []:
            continue
        flag = "--" + key.replace("_", "-")
        if key in ("dataset", "source"):
            parts.append(str(value))
        elif value is True:
            parts.append(flag)
        elif isinstance(value, list):
            parts += [flag, *map(str, value)]
        else:
            parts += [flag, str(value)]
    return " ".join(shlex.quote(p) for p in parts + ["--resume"])


def _camera_size(text: str) -> list[int] | str:
    """``224`` -> [224, 224], ``96x128`` -> [96, 128]; anything else is passed on for CollectConfig to refuse."""
    parts = str(text).lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        return text
    return values * 2 if len(values) == 1 else values


def cmd_collect(args: argparse.Namespace) -> int:
    from flywheel.collectors.collection.collect import CollectError, CollectInterrupted, collect

    try:
        summary = collect(args.task, args.robot, args.episodes, out=args.out, workers=args.workers, seed=args.seed,
                          policy=args.policy, noise=args.noise, success_only=args.success_only, resume=args.resume,
                          cameras=args.camera, max_steps=args.max_steps, control_mode=args.control_mode,
                          image_format=args.image_format, video_codec=args.video_codec,
                          camera_size=_camera_size(args.camera_size), camera_hz=args.camera_hz,
                          visual_randomization=True if args.randomize_visuals else None,
                          address=args.address, quiet=args.quiet, episodes_per_file=args.episodes_per_file,
                          max_restarts=args.max_restarts, relabel=args.relabel, beta=args.beta,
                          episode_timeout_s=args.episode_timeout)
    except CollectError as err:
        raise _user_error(str(err)) from None
    except CollectInterrupted as err:
        resume = _resume_command(args, "collect")
        print(f"flywheel collect: {err}; the dataset is unfinished and resumable:\n  {resume}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # outside the drive loop: starting workers, shutting Ray down, finalising
        resume = _resume_command(args, "collect")
        print(f"flywheel collect: interrupted; if {args.out} is unfinished, complete it with:\n  {resume}",
              file=sys.stderr)
        return 130
    if args.json:
        import json

        print(json.dumps(summary.to_dict(), indent=2))
    elif not args.quiet:
        print(summary.line())
        for problem in summary.problems:
            print(f"  dropped: {problem}", file=sys.stderr)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from flywheel.collectors.collection.replay import ReplayError, parse_episodes, replay

    if args.camera and not args.out:
        raise _user_error("--camera writes a new dataset: give it a folder with --out")
    if args.out and not args.camera:
        raise _user_error("--out is for --camera (a new dataset with images); to check episodes use --verify")
    if not args.verify and not args.camera:
        args.verify = True  # replay without a job is a verification
    try:
        episodes = parse_episodes(args.episodes) if args.episodes else None
        report = replay(args.dataset, episodes=episodes, verify=args.verify, cameras=args.camera, out=args.out,
                        workers=args.workers, address=args.address, quiet=args.quiet, resume=args.resume,
                        image_format=args.image_format, video_codec=args.video_codec,
                        camera_size=_camera_size(args.camera_size), camera_hz=args.camera_hz,
                        visual_randomization=True if args.randomize_visuals else None)
    except ReplayError as err:
        raise _user_error(str(err)) from None
    except KeyboardInterrupt:
        print("flywheel replay: interrupted" + (f"; resume with:\n  {_resume_command(args, 'replay')}" if args.out else ""),
              file=sys.stderr)
        return 130
    if args.json:
        import json

        print(json.dumps(report.to_dict(), indent=2))
    else:
        for index, problems in sorted(report.mismatches.items()):
            for p in problems:
                print(f"episode {index}: {p}")
        if not args.quiet or report.mismatches:
            print(report.line())
    return 1 if report.mismatches else 0


def cmd_retarget(args: argparse.Namespace) -> int:
    from flywheel.collectors.collection.config import CollectError, CollectInterrupted
    from flywheel.collectors.collection.replay import ReplayError, parse_episodes
    from flywheel.collectors.collection.retarget import RetargetError, retarget

    try:
        episodes = parse_episodes(args.episodes) if args.episodes else None
        summary = retarget(args.source, args.robot, args.out, amplify=args.amplify, seed=args.seed, task=args.task,
                           mapping=args.mapping, episodes=episodes, workers=args.workers, resume=args.resume,
                           quiet=args.quiet or args.json, address=args.address,
                           episodes_per_file=args.episodes_per_file)
    except (RetargetError, CollectError, ReplayError) as err:
        raise _user_error(str(err)) from None
    except (CollectInterrupted, KeyboardInterrupt) as err:
        print(f"flywheel retarget: {err or 'interrupted'}; complete it with:\n  {_resume_command(args, 'retarget')}",
              file=sys.stderr)
        return 130
    if args.json:
        import json

        print(json.dumps(summary.to_dict()))
    elif not args.quiet:
        print(summary.line())
        for problem in summary.problems:
            print(f"  dropped: {problem}", file=sys.stderr)
    return 0


__all__ = ["add_commands", "cmd_collect", "cmd_replay", "cmd_retarget"]

"""``flywheel dataset ...`` commands: validate, info, report, view, export, finalize, merge, split, filter, push.

Imports of pyarrow and the exporters stay inside the handlers so ``flywheel --help`` stays fast. Every
handler turns an environment failure (disk full, read-only, permission, a file where a folder should be,
a symlink loop) into one line naming the path and what to do (a ValueError, which ``flywheel`` prints
with exit status 2), never a traceback. ``finalize`` holds the dataset's lock while it runs.
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path


def _one_line_errors(doing: str):
    """Handler decorator: OSError -> DatasetIOError (ValueError): ``PATH: cannot DOING: what; what to do``."""
    def wrap(handler):
        @functools.wraps(handler)
        def run(args: argparse.Namespace) -> int:
            try:
                return handler(args)
            except OSError as err:
                from ._io import environment_error

                raise environment_error(err, args.path, doing) from None
        return run
    return wrap


def add_commands(subparsers) -> None:
    """Add the ``dataset`` command group to the main ``flywheel`` parser."""
    p = subparsers.add_parser("dataset", help="inspect, validate, finalize and export trajectory datasets")
    sub = p.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND")
    sub.required = True

    v = sub.add_parser("validate", help="check a dataset against the standard; prints each problem with its file")
    v.add_argument("path", type=Path)
    v.set_defaults(handler=cmd_validate)

    i = sub.add_parser("info", help="summary: robot, task, episodes, frames, success rate, size, features")
    i.add_argument("path", type=Path)
    i.add_argument("--json", action="store_true", help="print the summary as JSON")
    i.set_defaults(handler=cmd_info)

    r = sub.add_parser("report", help="one self-contained HTML page: summary, success tables, histograms, feature "
                                      "distributions and sample episodes as video")
    r.add_argument("path", type=Path)
    r.add_argument("--out", required=True, type=Path, help="the HTML file to write (e.g. report.html)")
    r.add_argument("--samples", type=int, default=4, help="sample episodes shown as video (default 4)")
    r.add_argument("--no-render", action="store_true",
                   help="state-only datasets: do not re-simulate sample episodes to show them (no videos then)")
    r.set_defaults(handler=cmd_report)

    vw = sub.add_parser("view", help="write episodes as a Rerun recording (.rrd): every scalar and camera frame on a "
                                     "timeline (needs flywheel[view])")
    vw.add_argument("path", type=Path)
    vw.add_argument("--out", type=Path, default=None, help="the .rrd file (default: <dataset folder name>.rrd here)")
    vw.add_argument("--episodes", default="0", help="episode indices: 0:3, 5 or 1,4,9 (default 0)")
    vw.add_argument("--no-images", action="store_true", help="leave camera frames out")
    vw.set_defaults(handler=cmd_view)

    e = sub.add_parser("export", help="export to another format (minari, robomimic)")
    e.add_argument("path", type=Path)
    e.add_argument("--format", required=True, choices=("minari", "robomimic"))
    e.add_argument("--out", required=True, type=Path, help="output folder (minari: a datasets root for MINARI_DATASETS_PATH)")
    e.add_argument("--dataset-id", help="minari dataset id (default flywheel/<robot>-<task>-v0)")
    e.add_argument("--action", default="action", help="action feature to export: action (joints) or action.ee (canonical)")
    e.add_argument("--no-images", action="store_true", help="leave camera images out")
    e.add_argument("--no-env", action="store_true", help="minari: store no env_spec (recover_environment() will not "
                                                         "work); for datasets whose environment cannot be made here")
    e.set_defaults(handler=cmd_export)

    f = sub.add_parser("finalize", help="finish a dataset whose staging area is complete (an interrupted run: "
                                        "`flywheel collect ... --resume` instead)")
    f.add_argument("path", type=Path)
    f.add_argument("--allow-partial", action="store_true",
                   help="finish a run that did not stage every requested episode, on purpose (recorded as partial "
                        "in meta/flywheel.json); without it such a run is refused")
    f.add_argument("--data-file-size-mb", type=float, default=None)
    f.add_argument("--max-episodes-per-data-file", type=int, default=None,
                   help="also close a data file after this many episodes (row groups; default 1000)")
    f.add_argument("--max-episodes-per-meta-file", type=int, default=None,
                   help="rows per meta/episodes file (default 1000)")
    f.set_defaults(handler=cmd_finalize)

    m = sub.add_parser("merge", help="write several datasets as one new dataset (same robot; --canonical for different robots)")
    m.add_argument("sources", nargs="+", type=Path, metavar="PATH")
    m.add_argument("--out", required=True, type=Path, help="the new dataset folder (must not exist)")
    m.add_argument("--canonical", action="store_true", help="keep only observation.ee, observation.ee_mask, action.ee "
                                                             "and the standard columns, so different robots merge")
    m.set_defaults(handler=cmd_merge)

    s = sub.add_parser("split", help="split by episode into OUT/train and OUT/val (seeded)")
    s.add_argument("path", type=Path)
    s.add_argument("--out", required=True, type=Path, help="folder for train/ and val/ (these must not exist)")
    s.add_argument("--val-fraction", type=float, default=0.1, help="share of episodes for validation (default 0.1)")
    s.add_argument("--seed", type=int, default=0, help="seed of the episode permutation (default 0)")
    s.set_defaults(handler=cmd_split)

    fl = sub.add_parser("filter", help="write the episodes matching every criterion as a new dataset")
    fl.add_argument("path", type=Path)
    fl.add_argument("--out", required=True, type=Path, help="the new dataset folder (must not exist)")
    fl.add_argument("--success", action="store_true", help="only successful episodes")
    fl.add_argument("--task", help="task name (meta/flywheel.json) or an instruction of meta/tasks.parquet")
    fl.add_argument("--robot", help="robot type")
    fl.add_argument("--min-length", type=int, help="only episodes of at least N frames")
    fl.add_argument("--seeds", help="A:B, only episodes whose seed is in A..B-1")
    fl.set_defaults(handler=cmd_filter)

    pu = sub.add_parser("push", help="upload a dataset to the Hugging Face Hub (needs flywheel[hub] and a login)")
    pu.add_argument("path", type=Path)
    pu.add_argument("repo_id", help="owner/name on the Hub")
    pu.add_argument("--private", action="store_true")
    pu.add_argument("--branch", default=None, help="upload to this branch (default: main)")
    pu.set_defaults(handler=cmd_push)


@_one_line_errors("validate the dataset")
def cmd_validate(args: argparse.Namespace) -> int:
    from .validate import validate

    problems = validate(args.path)
    for p in problems:
        print(p)
    if problems:
        print(f"{args.path}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{args.path}: OK")
    return 0


def summary(path: Path) -> dict:
    """What ``dataset info`` prints, as a dict."""
    from .reader import open as open_dataset

    ds = open_dataset(path)
    size = sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file() and not p.is_symlink())
    fw = ds.flywheel
    return {
        "path": str(path),
        "robot": ds.robot_type,
        "task": ds.task,
        "tasks": list(ds.tasks),
        "episodes": len(ds),
        "frames": ds.num_frames,
        "fps": ds.fps,
        "success_rate": ds.success_rate,
        "size_bytes": size,
        "data_files": len(ds.data_files()),
        "code_version": fw.get("code_version"),
        "features": {k: {"dtype": v["dtype"], "shape": v["shape"]} for k, v in ds.features.items()},
    }


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)


@_one_line_errors("read the dataset")
def cmd_info(args: argparse.Namespace) -> int:
    s = summary(args.path)
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    print(f"dataset   {s['path']}")
    print(f"robot     {s['robot']}")
    if len(s["tasks"]) == 1:
        print(f"task      {s['task']}")
    else:
        print(f"tasks     {len(s['tasks'])}: " + "; ".join(s["tasks"][:5]) + (" ..." if len(s["tasks"]) > 5 else ""))
    print(f"episodes  {s['episodes']}")
    print(f"frames    {s['frames']} at {s['fps']} fps ({s['frames'] / max(s['fps'], 1):.1f} s)")
    rate = s["success_rate"]
    print(f"success   {rate:.1%}" if rate == rate else "success   n/a (no per-episode success column: not written by flywheel)")
    print(f"size      {_human(s['size_bytes'])} in {s['data_files']} data file(s)")
    print("features")
    width = max(len(k) for k in s["features"])
    for k, v in s["features"].items():
        print(f"  {k:<{width}}  {v['dtype']:<8} {v['shape']}")
    return 0


@_one_line_errors("write the report")
def cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    if args.samples < 0:
        raise ValueError(f"--samples must be 0 or more, got {args.samples}")
    out = write_report(args.path, args.out, samples=args.samples, render=not args.no_render)
    print(f"wrote {out} ({_human(out.stat().st_size)}); open it in a browser: file://{out.resolve()}")
    return 0


def _episode_list(text: str) -> list[int]:
    out: list[int] = []
    try:
        for part in str(text).split(","):
            if ":" in part:
                a, b = part.split(":", 1)
                out.extend(range(int(a or 0), int(b)))
            elif part.strip():
                out.append(int(part))
    except ValueError:
        raise ValueError(f"--episodes {text!r}: use indices like 0:3, 5 or 1,4,9") from None
    if not out:
        raise ValueError(f"--episodes {text!r} selects no episode")
    return out


@_one_line_errors("write the Rerun recording")
def cmd_view(args: argparse.Namespace) -> int:
    from .report_rerun import write_rrd

    out = args.out or Path(f"{Path(args.path).resolve().name}.rrd")
    write_rrd(args.path, out, _episode_list(args.episodes), images=not args.no_images)
    print(f"wrote {out}; open it with: rerun {out}")
    return 0


@_one_line_errors("export the dataset")
def cmd_export(args: argparse.Namespace) -> int:
    from .export_minari import OptionalDependencyError

    try:
        if args.format == "minari":
            from .export_minari import default_dataset_id, export_minari
            from .reader import open as open_dataset

            ds = open_dataset(args.path)
            dataset_id = args.dataset_id or default_dataset_id(ds)
            folder = export_minari(ds, args.out, dataset_id=dataset_id, action_key=args.action, images=not args.no_images,
                                   env=not args.no_env)
            print(f"wrote {folder}")
            print(f"load it with: MINARI_DATASETS_PATH={args.out} python -c \"import minari; minari.load_dataset('{dataset_id}')\"")
        else:
            from .export_robomimic import export_robomimic

            path = export_robomimic(args.path, args.out, action_key=args.action, images=not args.no_images)
            print(f"wrote {path}")
    except OptionalDependencyError as err:
        from flywheel.cli import UserError

        raise UserError(str(err)) from None
    return 0


@_one_line_errors("finalize the dataset")
def cmd_finalize(args: argparse.Namespace) -> int:
    from .finalize import finalize
    from .lock import DatasetLock

    kwargs = {}
    for name in ("data_file_size_mb", "max_episodes_per_data_file", "max_episodes_per_meta_file"):
        if getattr(args, name, None) is not None:
            kwargs[name] = getattr(args, name)
    with DatasetLock(args.path, "flywheel dataset finalize"):
        info = finalize(args.path, allow_partial=args.allow_partial, **kwargs)
    partial = " (partial: finished short on purpose)" if _is_partial(args.path) else ""
    print(f"{args.path}: {info['total_episodes']} episodes, {info['total_frames']} frames{partial}")
    return 0


def _is_partial(path: Path) -> bool:
    from . import schema
    from ._io import DatasetError, read_json

    try:
        meta = read_json(Path(path) / schema.FLYWHEEL_META_PATH, allow_inf=True)
    except DatasetError:
        return False
    return isinstance(meta, dict) and meta.get("partial") is True


def _done(out: Path, info: dict) -> None:
    print(f"{out}: {info['total_episodes']} episodes, {info['total_frames']} frames, {info['total_tasks']} task(s), "
          f"robot {info['robot_type']}")


@_one_line_errors("merge the datasets")
def cmd_merge(args: argparse.Namespace) -> int:
    from .merge import merge

    args.path = args.out
    _done(args.out, merge(args.sources, args.out, canonical=args.canonical))
    return 0


@_one_line_errors("split the dataset")
def cmd_split(args: argparse.Namespace) -> int:
    from .split import split

    for name, info in split(args.path, args.out, val_fraction=args.val_fraction, seed=args.seed).items():
        _done(args.out / name, info)
    return 0


@_one_line_errors("filter the dataset")
def cmd_filter(args: argparse.Namespace) -> int:
    from .filter import filter_dataset, parse_seeds

    seeds = parse_seeds(args.seeds) if args.seeds is not None else None
    info = filter_dataset(args.path, args.out, success=True if args.success else None, task=args.task, robot=args.robot,
                          min_length=args.min_length, seeds=seeds)
    _done(args.out, info)
    return 0


@_one_line_errors("push the dataset")
def cmd_push(args: argparse.Namespace) -> int:
    from .export_minari import OptionalDependencyError
    from .push import push

    try:
        url = push(args.path, args.repo_id, private=args.private, branch=args.branch)
    except OptionalDependencyError as err:
        from flywheel.cli import UserError

        raise UserError(str(err)) from None
    print(f"uploaded {args.path} to {url}")
    return 0

"""The ``flywheel`` command line: one entry point, each subpackage contributes its own commands.

Each command module exposes ``add_commands(subparsers)`` and keeps heavy imports (pybullet, ray)
inside its handlers, so ``flywheel --help`` stays fast and a broken optional part cannot hide the rest.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from flywheel.oserrors import one_line

COMMAND_MODULES = (
    "flywheel.robots.cli",
    "flywheel.datasets.cli",
    "flywheel.collectors.collection.cli",
    "flywheel.collectors.learning.cli",
    "flywheel.collectors.bench.cli",
)


class UserError(Exception):
    """An error caused by the user's input: printed as one clear message, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flywheel", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue  # that part is not built yet
            raise
        module.add_commands(sub)
    return parser


def compose_layers() -> None:
    """Wire what a lower layer may use but must not import: `flywheel robots add/check` validate in the simulator
    (`flywheel.sim.robot_checks`), while `flywheel.robots` imports neither `sim` nor PyBullet. Lazy, so
    `flywheel --help` loads no simulator."""
    from flywheel.robots import infer_poses, validate

    def simulation_checks(*args, **kwargs):
        from flywheel.sim.robot_checks import simulation_checks as checks

        return checks(*args, **kwargs)

    def collision_lows(*args, **kwargs):
        from flywheel.sim.collision_bounds import link_lows

        return link_lows(*args, **kwargs)

    def tune_standing(*args, **kwargs):
        from flywheel.sim.standing_tune import tune_standing as tune

        return tune(*args, **kwargs)

    validate.use_simulation_checks(simulation_checks)
    validate.use_simulation_tuner(tune_standing)
    infer_poses.use_collision_lows(collision_lows)


def use_report_renderer() -> None:
    """`flywheel dataset report` shows state-only datasets by re-simulating sample episodes
    (`flywheel.collectors.collection.render`), while `flywheel.datasets` imports no simulator. Wired for the
    `dataset` commands only: it imports pyarrow, which `flywheel --help` need not load."""
    from flywheel.datasets import report

    def render_samples(*args, **kwargs):
        from flywheel.collectors.collection.render import render_samples as render

        return render(*args, **kwargs)

    report.use_renderer(render_samples)


def main(argv: list[str] | None = None) -> int:
    compose_layers()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "dataset":
        use_report_renderer()
    try:
        result = args.handler(args)
    except (UserError, FileNotFoundError, ValueError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"flywheel {args.command}: error: {message}", file=sys.stderr)
        return 2
    except OSError as err:  # the machine, not the input: a full disk, a read-only folder, a path through a file
        print(f"flywheel {args.command}: error: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"flywheel {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())

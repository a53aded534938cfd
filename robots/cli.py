"""``flywheel robots list | add | check``: see, add and validate robots.

    flywheel robots list
    flywheel robots add path/to/robot.urdf [--name N] [--kind K] [--fixed-base|--floating-base]
                        [--out DIR] [--package-dir NAME=PATH] [--inertia-from-geometry] [--force] [--no-validate]
    flywheel robots check NAME_OR_SPEC.toml

`add` parses the URDF, infers a spec (every guess written as a comment), writes it where the registry
finds it (the user robots folder, or --out), then validates it in PyBullet and prints a table. A bad
URDF is one line naming the file and element, exit status 2; a failed validation is exit status 1.

`add` never writes over what it did not create: not its input, not an existing file (without --force), and
with --force only files whose first line says 'robots add' wrote them and whose content still matches that
line's hash. A URDF PyBullet cannot load as it is (meshes in package folders, repaired inertias) is copied to
NAME.resolved.urdf. Any refusal or
environment failure (read-only, disk full, --out under a file, a link loop) is one line, exit 2, and leaves
the disk as it was.
"""
from __future__ import annotations

import errno
import functools
import os
import stat
import sys
import time
import tomllib
from pathlib import Path


def add_commands(subparsers) -> None:
    robots = subparsers.add_parser("robots", help="list, add and check robots (specs are TOML files)",
                                   description=__doc__.splitlines()[0])
    sub = robots.add_subparsers(dest="robots_command", metavar="ACTION")
    sub.required = True

    p_list = sub.add_parser("list", help="built-in and user robots with kind, joints and end-effectors")
    p_list.set_defaults(handler=cmd_list)

    p_add = sub.add_parser("add", help="infer a spec from a URDF, write it, validate it in PyBullet")
    p_add.add_argument("path", help="the robot's URDF file")
    p_add.add_argument("--name", help="registry name (default: from the URDF)")
    p_add.add_argument("--kind", choices=("humanoid", "arm", "quadruped", "hand", "mobile"), help="override the inferred kind")
    base = p_add.add_mutually_exclusive_group()
    base.add_argument("--fixed-base", dest="fixed_base", action="store_const", const=True, default=None,
                      help="bolt the base to the world")
    base.add_argument("--floating-base", dest="fixed_base", action="store_const", const=False, help="a free base")
    p_add.add_argument("--out", metavar="DIR", help="folder for the spec (default: the user robots folder)")
    p_add.add_argument("--package-dir", action="append", default=[], metavar="NAME=PATH",
                       help="where package://NAME lives (repeatable)")
    p_add.add_argument("--inertia-from-geometry", action="store_true",
                       help="let PyBullet compute inertias from the collision shapes (for URDFs with placeholder tensors)")
    p_add.add_argument("--force", action="store_true",
                       help="replace a spec (and model copy) that 'robots add' wrote and nobody edited since, and shadow "
                            "a robot of the same name; never the input URDF or a file you wrote")
    p_add.add_argument("--no-validate", action="store_true", help="write the spec without the PyBullet checks")
    p_add.set_defaults(handler=cmd_add)

    p_check = sub.add_parser("check", help="re-run the PyBullet validation of a robot (after editing its spec)")
    p_check.add_argument("robot", help="a robot name or the path of a spec file")
    p_check.set_defaults(handler=cmd_check)


def _user_error(message: str):
    from flywheel.cli import UserError

    return UserError(message)


def _one_line_on_os_error(target: str):
    """An environment failure (disk full, read-only, permissions, a link loop) is one line and exit 2, never a
    traceback: `flywheel.cli.main` turns `UserError` into that line. `target` is what the user should change."""
    def decorate(handler):
        @functools.wraps(handler)
        def wrapper(args) -> int:
            try:
                return handler(args)
            except OSError as err:
                raise _user_error(f"{err.filename or 'a file'}: {_os_problem(err, target)}") from None
            except RuntimeError as err:  # pathlib reports a symbolic-link loop as RuntimeError on Python 3.11
                if "Symlink loop" not in str(err):
                    raise
                raise _user_error(f"{str(err).removeprefix('Symlink loop from ')}: a symbolic-link loop; "
                                  "point at the real file or folder") from None
        return wrapper
    return decorate


# ---- list ---------------------------------------------------------------------------------------
@_one_line_on_os_error("path")
def cmd_list(args) -> int:
    from flywheel.robots import registry
    from flywheel.robots.spec import SpecError

    rows = [("name", "kind", "joints", "end-effectors", "grippers", "model")]
    for name in registry.names():
        try:
            spec = registry.get(name)
        except (SpecError, OSError, ValueError) as err:
            rows.append((name, "?", "-", "-", "-", f"error: {err}"))
            continue
        ees = ", ".join(f"{k}={v.link or v.joint}" for k, v in spec.end_effectors.items()) or "-"
        grippers = ", ".join(spec.grippers) or "-"
        rows.append((spec.name, spec.kind, str(len(spec.joints)), ees, grippers, spec.model))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for i, row in enumerate(rows):
        print("  ".join(f"{c:<{w}}" for c, w in zip(row[:5], widths)) + "  " + row[5])
        if i == 0:
            print("  ".join("-" * w for w in widths) + "  " + "-" * 5)
    dirs = ", ".join(str(d) for d in registry.search_dirs())
    print(f"\n{len(rows) - 1} robot(s); searched: {dirs}")
    return 0


# ---- add ----------------------------------------------------------------------------------------
@_one_line_on_os_error("--out")
def cmd_add(args) -> int:
    import numpy as np

    from flywheel.robots import registry
    from flywheel.robots.infer import infer_spec
    from flywheel.robots.spec import SpecError, spec_from_dict
    from flywheel.robots.spec_writer import mark_text, render_spec
    from flywheel.robots.meshes import parse_package_dirs
    from flywheel.robots.light_meshes import heavy_collision_meshes
    from flywheel.robots.resolved_copy import reasons_for_copy, resolved_copy
    from flywheel.robots.urdf import URDFError, parse_urdf
    from flywheel.robots.validate import quiet

    path = Path(args.path).expanduser()
    try:
        package_dirs = parse_package_dirs(args.package_dir)
        model = parse_urdf(path, package_dirs=package_dirs)
    except URDFError as err:
        raise _user_error(str(err)) from None
    except ValueError as err:
        raise _user_error(str(err)) from None
    name = args.name
    if name is not None and (not name or not all(c.isalnum() or c in "_-" for c in name)):
        raise _user_error(f"--name {name!r}: use letters, digits, '_' or '-'")
    try:
        with quiet():
            inference = infer_spec(model, name=name, kind=args.kind, fixed_base=args.fixed_base,
                                   inertia_from_file=not args.inertia_from_geometry)
    except (ArithmeticError, LookupError, ValueError, np.linalg.LinAlgError) as err:  # a bug of ours, said in one line
        raise _user_error(f"{model.path}: could not infer a spec ({type(err).__name__}: {err}); please report this, "
                          "with the URDF") from None
    spec_dict = inference.spec
    name = spec_dict["name"]
    out_dir = Path(args.out).expanduser() if args.out else registry.user_robots_dir()
    out_dir = out_dir.absolute()
    _check_out_dir(out_dir, "--out" if args.out else "the user robots folder")
    dest = out_dir / f"{name}.toml"
    heavy = heavy_collision_meshes(model)  # PyBullet would crawl on these: light hulls beside the spec
    light = {fn: out_dir / f"{name}.collision-{k + 1}.obj" for k, fn in enumerate(sorted(heavy))}
    copy_bytes = resolved_copy(model, light)  # None when PyBullet loads the URDF as it is
    copy = out_dir / f"{name}.resolved.urdf" if copy_bytes is not None else None
    replace = {target: _check_target(target, model.path, args.force)
               for target in (dest, copy, *light.values()) if target is not None}
    existing = {n: p for n, p in registry.spec_files().items()}
    if name in existing and existing[name].absolute() != dest and not args.force:
        raise _user_error(f"a robot named {name!r} already exists ({existing[name]}); pass --name to choose another "
                          "name, or --force to shadow it")

    if copy is not None:
        spec_dict["model"] = str(copy)
        inference.guesses.insert(0, type(inference.guesses[0])("model", (
            f"a copy of {model.path} that PyBullet loads: {'; '.join(reasons_for_copy(model, light))}; "
            "run 'flywheel robots add' again after changing the original")))
    for fn in sorted(heavy):
        inference.guesses.insert(1, type(inference.guesses[0])("model", (
            f"collision mesh {fn}: {heavy[fn][1]} triangles, replaced by {heavy[fn][2]} hull points in "
            f"{light[fn].name} so PyBullet does not crawl (the visual keeps the original)")))
    if not args.no_validate:  # floating humanoids: sole height and whole-body gains, settled in simulation
        for field_name, text in _tune_on_scratch_copies(spec_dict, dest, model, heavy):
            inference.guesses.append(type(inference.guesses[0])(field_name, text))
    notes: dict[str, list[str]] = {}
    for g in inference.guesses:
        notes.setdefault(g.field, []).append(g.text)
    header = [f"Robot spec inferred by 'flywheel robots add' from {model.path}.",
              "Every inferred value has a '# guess:' comment saying why. Correct what is wrong, then run:",
              f"    flywheel robots check {name}",
              "(The first line lets 'robots add --force' replace this file while it is unedited; once you edit it,",
              " it is yours and is never overwritten.)"]
    text = mark_text(render_spec(spec_dict, notes, {j.name: j.range() for j in model.joints.values()}, header))
    try:
        spec_from_dict(tomllib.loads(text), source=dest)  # what we write must read back
    except (SpecError, tomllib.TOMLDecodeError) as err:
        raise _user_error(f"internal error: the inferred spec does not read back ({err}); please report this") from None
    files = [(copy, copy_bytes)] if copy is not None else []
    files += [(light[fn], mark_text(heavy[fn][0])) for fn in sorted(heavy)]
    _write_all_or_nothing(out_dir, [*files, (dest, text)], replace)

    n_movable = len(model.movable_joints())
    print(f"parsed {model.path}: {len(model.links)} links, {len(model.joints)} joints ({n_movable} movable)")
    if copy is not None:
        print(f"wrote {copy}")
    print(f"wrote {dest}")
    print("\nguesses (also in the spec as comments):")
    for g in inference.guesses:
        print(f"  {g.field:<26} {g.text}")
    on_path = any(_same_dir(out_dir, d) for d in registry.search_dirs())
    if not on_path:
        print(f"\nnote: {out_dir} is not searched by the registry; add it with  export FLYWHEEL_ROBOTS_PATH={out_dir}"
              f"  (or use the spec path {dest} as the robot name)")
    if args.no_validate:
        print(f"\nnot validated (--no-validate); run: flywheel robots check {name if on_path else dest}")
        return 0
    return _validate_and_report(dest, model, package_dirs, name if on_path else str(dest))


def _tune_on_scratch_copies(spec_dict: dict, dest: Path, model, heavy: dict) -> list[tuple[str, str]]:
    """Tune in simulation before anything is written: the resolved copy and its light collision hulls are made in a
    scratch folder, so a tuning run that fails leaves the user's folder untouched."""
    import tempfile

    from flywheel.robots.resolved_copy import resolved_copy
    from flywheel.robots.validate import tune_in_simulation

    with tempfile.TemporaryDirectory() as tmp:
        light = {fn: Path(tmp) / f"collision-{k + 1}.obj" for k, fn in enumerate(sorted(heavy))}
        for fn, path in light.items():
            path.write_text(heavy[fn][0])
        copy_bytes = resolved_copy(model, light)
        scratch = None
        if copy_bytes is not None:
            scratch = Path(tmp) / "model.resolved.urdf"
            scratch.write_bytes(copy_bytes)
        return tune_in_simulation(spec_dict, str(dest), None if scratch is None else str(scratch))


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.expanduser().resolve() == b.expanduser().resolve()
    except (OSError, RuntimeError):
        return False


# ---- never write over what the tool did not create -------------------------------------------------
def _os_problem(err: OSError, target: str = "--out") -> str:
    """The reason and what to do, for the environment failures a user can fix (`target`: what to choose anew).

    The wording is `flywheel.oserrors`' (one table for every command); where choosing another path helps, it says
    which option to change."""
    from flywheel.oserrors import explain

    text = explain(err)
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG):
        text += f" (or choose another {target})"
    return text


def _check_out_dir(out_dir: Path, what: str) -> None:
    """Refuse an output folder we cannot create or write into before anything is written."""
    probe = out_dir
    while True:
        try:
            st = os.stat(probe)
        except (FileNotFoundError, NotADirectoryError):  # walk up to what exists (a file, for ENOTDIR)
            if probe.parent == probe:
                break
            probe = probe.parent
            continue
        except OSError as err:
            raise _user_error(f"{what} {out_dir}: cannot use {probe}: {_os_problem(err)}") from None
        if not stat.S_ISDIR(st.st_mode):
            where = "is a file" if probe == out_dir else f"is under the file {probe}"
            raise _user_error(f"{what} {out_dir} {where}, not a folder; choose a folder with --out")
        if not os.access(probe, os.W_OK | os.X_OK):
            raise _user_error(f"{what} {out_dir}: {probe} is not writable; choose a writable folder with --out")
        return


def _check_target(target: Path, input_path: Path, force: bool) -> bool:
    """May we write `target`? False: it is new; True: replace it (--force, and it is an unedited file of ours)."""
    from flywheel.robots.spec_writer import ownership

    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return False
    except OSError as err:
        raise _user_error(f"cannot write {target}: {_os_problem(err)}") from None
    try:
        is_input = os.path.samefile(target, input_path)
    except OSError:
        is_input = False
    if is_input:
        raise _user_error(f"{target} is the input URDF; flywheel robots add never writes over its input: "
                          "choose another --out or --name")
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise _user_error(f"{target} already exists and is not a regular file (a link, a folder or a device); "
                          "flywheel robots add never writes through it: choose another --out or --name")
    if not force:
        raise _user_error(f"{target} already exists; pass --force to overwrite it or --name to choose another name")
    owner = ownership(target)
    if owner == "edited":
        raise _user_error(f"{target} was edited after 'flywheel robots add' wrote it, so --force will not replace "
                          "it: move it away (or choose another --name) and run again")
    if owner != "ours":
        raise _user_error(f"{target} was not written by 'flywheel robots add', so --force will not replace it: "
                          "move it away or choose another --out or --name")
    return True


def _write_all_or_nothing(out_dir: Path, files: list[tuple[Path, str | bytes]], replace: dict[Path, bool]) -> None:
    """Write every file or, on an environment failure (disk full, read-only, ...), undo what this call created."""
    from flywheel.robots.spec_writer import write_file

    missing = []
    probe = out_dir
    while not os.path.lexists(probe):
        missing.append(probe)
        probe = probe.parent
    created: list[Path] = []
    current = out_dir
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for current, data in files:
            write_file(current, data, replace=replace[current])
            if not replace[current]:
                created.append(current)
    except OSError as err:
        for path in reversed(created):
            _quietly(os.unlink, path)
        for folder in missing:
            _quietly(os.rmdir, folder)
        if isinstance(err, FileExistsError):  # appeared while we were working
            raise _user_error(f"{err.filename or current} appeared while writing; nothing was changed, run again") from None
        raise _user_error(f"cannot write {err.filename or current}: {_os_problem(err)}; nothing was written") from None


def _quietly(fn, path: Path) -> None:
    try:
        fn(path)
    except OSError:
        pass


def _validate_and_report(spec_path: Path, model, package_dirs, display_name: str) -> int:
    from flywheel.robots.spec import SpecError, load_spec

    try:
        spec = load_spec(spec_path)
    except SpecError as err:
        raise _user_error(str(err)) from None
    return _report(spec, model, package_dirs, display_name)


def _report(spec, model, package_dirs, display_name: str) -> int:
    from flywheel.robots.validate import format_table, overall, validate

    print(f"\nvalidating {spec.name!r} in PyBullet ...", flush=True)
    start = time.perf_counter()
    checks = validate(spec, model=model, package_dirs=package_dirs)
    print()
    print(format_table(checks))
    verdict = overall(checks)
    counts = {s: sum(c.status == s for c in checks) for s in ("pass", "warn", "fail", "skip")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    print(f"\nresult: {verdict.upper()} ({summary}) in {time.perf_counter() - start:.1f} s")
    if verdict != "fail":
        if spec.hands:
            print(f"use it: gymnasium.make(\"flywheel/Reach-v0\", robot=\"{display_name}\")")
        print(f"after editing the spec: flywheel robots check {display_name}")
    else:
        print(f"fix what failed in {spec.source}, then: flywheel robots check {display_name}")
    return 1 if verdict == "fail" else 0


# ---- check --------------------------------------------------------------------------------------
@_one_line_on_os_error("path")
def cmd_check(args) -> int:
    from flywheel.robots import registry
    from flywheel.robots.spec import SpecError

    try:
        spec = registry.get(args.robot)
    except (SpecError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        raise _user_error(message) from None
    print(f"checking {spec.name!r} from {spec.source}")
    return _report(spec, None, None, args.robot)


def main(argv: list[str] | None = None) -> int:
    """`python -m flywheel.robots.cli ...` is `flywheel robots ...`."""
    from flywheel.cli import main as flywheel_main

    return flywheel_main(["robots", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())

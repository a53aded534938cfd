"""Validation of a robot spec: each check passes, warns or fails with the reason and the fix.

The checks here read the spec and its URDF only (``robots`` knows no simulator):

* ``meshes``: every mesh the URDF names is found on disk.
* ``inertia``: masses and inertias are positive and plausible (no links PyBullet would silently give
  1 kg, no tensors that break the triangle inequality, no absurd radii of gyration).

then `validate` runs the simulator's checks it is given (``loads``, ``holds_home`` or ``stands``,
``random_targets``, ``reach.<hand>``: `flywheel.sim.robot_checks`), skipping them with the reason when a static
check failed.
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from flywheel.robots.spec import RobotSpec
from flywheel.robots.urdf import URDFError, URDFModel, parse_urdf

STATUSES = ("pass", "warn", "fail", "skip")
GEOMETRY_FIX = ("correct the <inertial>, or set inertia_from_file = false in the spec so PyBullet computes inertias "
                "from the collision shapes (flywheel robots add --inertia-from-geometry)")


@dataclass
class Check:
    name: str
    status: str  # pass | warn | fail | skip
    reason: str
    fix: str = ""


@contextlib.contextmanager
def quiet():
    """Silence PyBullet's C-level prints (b3Warning, urdfdom) so reports stay readable."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        try:
            sys.stdout.flush()
            _libc_fflush()
        except (OSError, ValueError):
            pass
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def _libc_fflush() -> None:
    """Flush C stdio buffers (PyBullet prints with printf) while they still point at /dev/null."""
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):
        pass


def overall(checks: list[Check]) -> str:
    statuses = {c.status for c in checks}
    return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"


# ---- static checks (the URDF) ------------------------------------------------------------------
def check_meshes(model: URDFModel) -> Check:
    meshes = model.meshes()
    missing = [g for g in meshes if g.path is None]
    if missing:
        names = ", ".join(f"{g.filename} ({g.element.split('/')[0]})" for g in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        return Check("meshes", "fail", f"{len(missing)} of {len(meshes)} mesh file(s) not found: {names}{more}",
                     "put the files where the URDF says, or pass --package-dir NAME=PATH for package:// URIs")
    if not meshes:
        return Check("meshes", "pass", "primitive shapes only, no mesh files")
    return Check("meshes", "pass", f"all {len(meshes)} mesh file(s) found")


def check_inertia(model: URDFModel, fixed_base: bool, from_file: bool = True) -> Check:
    moving = set()
    for j in model.joints.values():
        if j.movable:
            moving.update(model.subtree(j.child))
    if not fixed_base:
        moving.update(model.links)
    problems, fixes = [], set()
    for name, link in model.links.items():
        if fixed_base and name == model.root:
            continue
        if link.inertial is None or link.mass == 0:
            if name in moving or not fixed_base:
                if link.inertial is None:
                    problems.append(f"{name}: no <inertial> (PyBullet uses 1 kg and a 1 kg m^2 inertia)")
                    fixes.add("give every moving link an <inertial> with its real mass and inertia")
                elif link.collisions:
                    problems.append(f"{name}: mass 0 on a moving link")
                    fixes.add("give moving links a positive mass")
            continue
        m, inertia = link.mass, link.inertial.inertia
        if not from_file:
            if m > 2000:
                problems.append(f"{name}: {m:g} kg is implausible for one link")
                fixes.add("check the units of <mass> (kg)")
            continue
        eig = np.linalg.eigvalsh(inertia)
        if eig[-1] <= 0:
            problems.append(f"{name}: {m:g} kg with a zero inertia tensor")
            fixes.add(GEOMETRY_FIX)
            continue
        if eig[0] + eig[1] < eig[2] * (1 - 1e-3):
            problems.append(f"{name}: principal moments {', '.join(f'{e:.3g}' for e in eig)} break the triangle "
                            "inequality (PyBullet zeroes such a tensor)")
            fixes.add(GEOMETRY_FIX)
            continue
        gyration = math.sqrt(eig[-1] / m)
        if gyration > 2.0 or (eig[0] > 0 and math.sqrt(eig[0] / m) < 1e-4 and m > 0.01):
            problems.append(f"{name}: radius of gyration {gyration:.3g} m is implausible for {m:g} kg")
            fixes.add("check the units of <mass> (kg) and <inertia> (kg m^2), " + GEOMETRY_FIX)
        if m > 2000:
            problems.append(f"{name}: {m:g} kg is implausible for one link")
            fixes.add("check the units of <mass> (kg)")
    total = model.total_mass()
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        return Check("inertia", "warn", f"{len(problems)} link(s): " + "; ".join(problems[:3]) + more, "; ".join(sorted(fixes)))
    how = "inertias positive and plausible" if from_file else "inertias from the collision shapes (inertia_from_file = false)"
    return Check("inertia", "pass", f"{len(model.links)} links, total mass {total:.3g} kg, {how}")


SimulationChecks = Callable[..., "list[Check]"]
_simulation_checks: SimulationChecks | None = None


def use_simulation_checks(checks: SimulationChecks | None) -> None:
    """Hand `validate` the checks that run the robot in a simulator (`flywheel.sim.robot_checks.simulation_checks`).

    `robots` knows no simulator (the layer rule), so whoever composes the layers (the command line) passes them in;
    without them `validate` runs the static checks and reports the simulation ones as skipped.
    """
    global _simulation_checks
    _simulation_checks = checks


SimulationTuner = Callable[..., "list[tuple[str, str]]"]
_simulation_tuner: SimulationTuner | None = None


def use_simulation_tuner(tuner: SimulationTuner | None) -> None:
    """Hand `robots add` what settles a humanoid's spec in a simulator (`flywheel.sim.standing_tune.tune_standing`:
    sole height, whole-body gains); composed like `use_simulation_checks`."""
    global _simulation_tuner
    _simulation_tuner = tuner


def tune_in_simulation(spec_dict: dict, source: str, model: str | None = None) -> list[tuple[str, str]]:
    """Tune a freshly inferred spec dict in place where a simulator is wired in (`model`: the model file to simulate
    when the spec's is not written yet); (field, note) pairs for its comments."""
    if _simulation_tuner is None:
        return []
    return _simulation_tuner(spec_dict, source, model=model)


def simulation_check_names(spec: RobotSpec) -> list[str]:
    """The checks the simulator runs for this spec, in order (so the ones that cannot run are listed as skipped)."""
    return ["loads", "stands" if spec.floating else "holds_home", "random_targets", *(f"reach.{h}" for h in spec.hands)]


def validate(spec: RobotSpec, model: URDFModel | None = None, package_dirs=None, seconds: float = 3.0,
             reach_targets: int = 3, progress=None, simulation: SimulationChecks | None = None) -> list[Check]:
    """All checks for one spec: the static ones here, then `simulation` (default: the checks given to
    `use_simulation_checks`). Never raises for a problem with the robot (that is a failed check)."""
    checks: list[Check] = []
    if model is None and spec.model_format == "urdf":
        try:
            model = parse_urdf(spec.model_path(), package_dirs=package_dirs, check_meshes=False)
        except URDFError as err:
            checks.append(Check("urdf", "fail", str(err), "fix the URDF element the message names"))
    if model is not None:
        for name, fn, args in (("meshes", check_meshes, (model,)),
                               ("inertia", check_inertia, (model, spec.fixed_base, spec.inertia_from_file))):
            if progress:
                progress(name)
            try:
                checks.append(fn(*args))
            except Exception as err:  # a crash inside a check is that check's failure, reported, not a traceback
                checks.append(Check(name, "fail", f"{type(err).__name__}: {err}", "see the message; fix the spec or the URDF"))
    if any(c.status == "fail" for c in checks):
        checks += [Check(name, "skip", "not run: fix the failures above first") for name in simulation_check_names(spec)]
        return checks
    simulation = simulation or _simulation_checks
    if simulation is None:
        checks += [Check(name, "skip", "no simulator attached: use flywheel.sim.robot_checks.validate or "
                         "'flywheel robots check'") for name in simulation_check_names(spec)]
        return checks
    return checks + simulation(spec, seconds=seconds, reach_targets=reach_targets, progress=progress)


def format_table(checks: list[Check]) -> str:
    rows = [("check", "result", "reason", "fix")] + [(c.name, c.status, c.reason, c.fix or "-") for c in checks]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    w2 = min(90, max(len(r[2]) for r in rows))
    lines = []
    for i, (a, b, c, d) in enumerate(rows):
        lines.append(f"{a:<{w0}}  {b:<{w1}}  {c:<{w2}}  {d}".rstrip())
        if i == 0:
            lines.append(f"{'-' * w0}  {'-' * w1}  {'-' * w2}  {'-' * 3}")
    return "\n".join(lines)


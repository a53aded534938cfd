"""Held-out evaluation: how often a policy, alone, succeeds on seeds no training episode used.

    flywheel eval POLICY [--task T[,T2...]] [--robot R] --episodes N [--workers W] [--seed S] [--out DIR] [--json]

Episode k of each task runs from seed ``S + k`` (default ``S`` = `EVAL_SEED`, ten million, far above the
seeds `collect` and `loop` train on), on the Ray workers through `flywheel.collectors.collect`: the same
driver, recorder and exactly-once seeding as collection, so an evaluation episode can be replayed bit for bit.
The episodes go to a temporary dataset (kept with ``--out``; needed on a multi-node cluster, where workers
write it). The success rate comes with a 95% Wilson score interval (right at 0% and 100%, where the normal
approximation says nothing), per task for a policy trained on several, and pooled. An episode the workers
dropped (a non-finite action or observation, a crash) counts as a failure: a policy is not scored on the
episodes it survived.

`flywheel loop` evaluates each round with `evaluate`, so the loop's table and ``flywheel eval`` agree.
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

EVAL_SEED = 10_000_000  # first held-out seed; training seeds (collect, loop) start at 0
Z95 = 1.959963984540054  # two-sided 95% normal quantile


class EvalError(ValueError):
    """Bad evaluation input (a ValueError: the command line prints it as one line, exit 2)."""


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (95% by default); (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1.0 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, center - half)  # exact at the edges, not 1e-18 off
    hi = 1.0 if successes == n else min(1.0, center + half)
    return lo, hi


@dataclass
class TaskEvaluation:
    task: str
    episodes: int  # requested: dropped episodes count as failures
    successes: int
    success_rate: float
    interval: tuple[float, float]
    seeds: tuple[int, int]
    recorded: int  # episodes in the dataset (episodes - dropped)
    mean_length: float | None
    dataset: str | None  # kept only with out=


@dataclass
class Evaluation:
    policy: str
    robot: str
    control_mode: str
    task: str  # comma-separated when several
    episodes: int
    successes: int
    success_rate: float
    interval: tuple[float, float]
    per_task: dict[str, TaskEvaluation] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["interval"] = [round(x, 4) for x in self.interval]
        for t in doc["per_task"].values():
            t["interval"] = [round(x, 4) for x in t["interval"]]
            t["seeds"] = list(t["seeds"])
        return doc

    def lines(self) -> list[str]:
        def one(name: str, k: int, n: int, rate: float, iv: tuple[float, float]) -> str:
            return f"{name}: {k}/{n} held-out episodes succeeded, {rate:.1%} (95% interval {iv[0]:.1%} to {iv[1]:.1%})"

        out = [f"policy {self.policy} on robot {self.robot} ({self.control_mode})"]
        for t in self.per_task.values():
            out.append("  " + one(t.task, t.successes, t.episodes, t.success_rate, t.interval)
                       + f", seeds {t.seeds[0]}..{t.seeds[1]}" + (f", {t.episodes - t.recorded} dropped" if t.recorded < t.episodes else ""))
        if len(self.per_task) > 1:
            out.append("  " + one("all tasks", self.successes, self.episodes, self.success_rate, self.interval))
        return out


def _tasks(task: str | Sequence[str] | None, header: dict[str, Any] | None) -> list[str]:
    if task is None or task == "" or task == []:
        if header and header.get("task"):
            return [str(header["task"])]
        raise EvalError("--task is required: the policy file names no single task it was trained on")
    names = [t.strip() for t in (task.split(",") if isinstance(task, str) else task)]
    if not all(names) or len(set(names)) != len(names):
        raise EvalError(f"--task must be task names separated by commas, each once, got {task!r}")
    return names


def _policy_settings(policy: Any, robot: str | None, control_mode: str | None) -> tuple[dict | None, str, str]:
    """The policy's header (None for expert/random), the robot and the control mode to evaluate it with."""
    if isinstance(policy, (str, os.PathLike)) and os.fspath(policy) in ("expert", "random"):
        if not robot:
            raise EvalError(f"--robot is required to evaluate the {os.fspath(policy)} policy")
        return None, robot, control_mode or "joint_pos"
    if not isinstance(policy, (str, os.PathLike)):
        return None, robot or "panda", control_mode or "joint_pos"  # a factory (Python API): the caller knows
    from flywheel.collectors.learning.policy_file import read_policy

    header, _ = read_policy(policy)  # FileNotFoundError / PolicyFileError: one line, exit 2
    trained = (header.get("robot") or {}).get("name")
    native = header.get("features") == "native"
    robot = robot or trained
    if not robot:
        raise EvalError(f"--robot is required: {Path(policy).name} was trained on several robots (canonical features)")
    mode = control_mode or (header.get("control_mode") or "joint_pos" if native else "ee_delta")
    return header, robot, mode


def evaluate(policy: Any, task: str | Sequence[str] | None = None, robot: str | None = None, episodes: int = 100, *,
             workers: int = 2, seed: int = EVAL_SEED, control_mode: str | None = None,
             out: str | os.PathLike | None = None, resume: bool = False, address: str | None = None,
             quiet: bool = True) -> Evaluation:
    """Run ``policy`` (a policy file, ``"expert"``, ``"random"`` or a factory) alone on ``episodes`` held-out seeds
    per task; with ``out`` the episodes stay there (``out/<task>`` when several tasks), else they are deleted.
    ``resume``: reuse finished datasets under ``out`` (what `flywheel loop --resume` needs)."""
    from flywheel.collectors.collection import actor_pool
    from flywheel.collectors.collection.collect import collect
    from flywheel.collectors.collection.config import CollectConfig, CollectError
    from flywheel.collectors.collection.plan import plan_run

    header, robot, mode = _policy_settings(policy, robot, control_mode)
    tasks = _tasks(task, header)
    keep = out is not None
    root = Path(out).expanduser().absolute() if keep else Path(tempfile.mkdtemp(prefix="flywheel-eval-"))
    paths = {t: root if len(tasks) == 1 else root / t for t in tasks}
    try:
        for t in tasks:  # every input checked before Ray starts or anything is written
            if keep and not resume and paths[t].is_dir() and any(paths[t].iterdir()):
                raise EvalError(f"--out {paths[t]} is not empty; choose a new folder")
            try:
                plan_run(CollectConfig(t, robot, episodes, out=paths[t], workers=workers, seed=seed, policy=policy,
                                       control_mode=mode, address=address).checked())
            except CollectError as err:
                raise EvalError(str(err)) from None
        started = actor_pool.connect(address, workers=workers) if len(tasks) > 1 else False
        try:
            results = {}
            for t in tasks:
                path = paths[t]
                if not (resume and (path / "meta" / "info.json").exists()):
                    try:
                        collect(t, robot, episodes, out=path, workers=workers, seed=seed, policy=policy,
                                control_mode=mode, address=address, quiet=quiet, resume=resume and path.exists())
                    except CollectError as err:
                        raise EvalError(str(err)) from None
                results[t] = _score(t, path, episodes, seed, keep)
        finally:
            if started:
                import ray

                ray.shutdown()
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    n = sum(r.episodes for r in results.values())
    k = sum(r.successes for r in results.values())
    name = "expert" if header is None and isinstance(policy, str) else (
        Path(policy).name if isinstance(policy, (str, os.PathLike)) else getattr(policy, "__name__", "policy"))
    return Evaluation(policy=name, robot=robot, control_mode=mode, task=",".join(tasks), episodes=n, successes=k,
                      success_rate=k / n if n else 0.0, interval=wilson_interval(k, n), per_task=results)


def _score(task: str, path: Path, requested: int, seed: int, keep: bool) -> TaskEvaluation:
    """Successes in the finished evaluation dataset at ``path``; missing (dropped) episodes are failures."""
    import numpy as np

    from flywheel import datasets as fd

    ds = fd.open(path)
    try:
        table = ds.episodes
        success = np.asarray(table.column("success").to_numpy(zero_copy_only=False), bool) if len(ds) else np.zeros(0, bool)
        lengths = np.asarray(table.column("length").to_numpy(), float) if "length" in table.column_names and len(ds) else None
        recorded = len(ds)
    finally:
        ds.close()
    k = int(success.sum())
    return TaskEvaluation(task=task, episodes=requested, successes=k, success_rate=k / requested,
                          interval=wilson_interval(k, requested), seeds=(seed, seed + requested - 1),
                          recorded=recorded, mean_length=round(float(lengths.mean()), 2) if lengths is not None and len(lengths) else None,
                          dataset=str(path) if keep else None)

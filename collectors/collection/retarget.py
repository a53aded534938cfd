"""``flywheel retarget``: move episodes to another robot, and amplify a few demonstrations into many (MimicGen-style).

For every source episode the run rebuilds a scene in the target robot's env, splits the source trajectory into
object-centric segments (`segments`), and drives the target's canonical hand through them around the objects of that
scene (`SegmentFollower`); the episodes that succeed are kept. Plain retargeting uses each source episode's own seed
for the scene; ``amplify=K`` makes K episodes per source episode in new scenes drawn from ``seed + key`` (new object
poses and sizes, as the task randomises them), each segment moved onto the new object poses.

It is `collect`'s machinery with another worker: the same lock, dataset creation, ledger, Ray actor pool, driver loop
and finaliser, so it is exactly-once (key k is always source episode and seed of plan entry k), survives killed
workers and resumes with ``resume=True``. ``meta/flywheel.json`` keeps the usual robot/task/config (so `flywheel
replay` re-simulates the output bit for bit) plus a ``retarget`` section: the source (dataset, robot, task), the
pair's yield, why the others failed, and which source episode each output episode came from.
"""
from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from flywheel.collectors.collection.config import CollectConfig, CollectError, CollectInterrupted
from flywheel.collectors.collection.retarget_source import RetargetError, Source

AMPLIFY_SEED = 1_000_000  # default first seed of amplified scenes: away from the seeds collections start at


@dataclass
class RetargetSummary:
    """What one retarget run did, per (source robot -> target robot, task) pair."""

    dataset: str
    source: str
    source_robot: str
    robot: str
    task: str
    source_episodes: int
    amplify: int
    attempted: int  # keys of the plan (source episodes x amplify)
    kept: int
    failures: dict[str, int]  # why episodes were not kept: unreachable, collision, grasp lost, not achieved, ...
    frames: int
    elapsed: float
    restarts: int
    resumed: int
    problems: list[str] = field(default_factory=list)

    @property
    def yield_rate(self) -> float:
        return self.kept / self.attempted if self.attempted else 0.0

    def line(self) -> str:
        why = ", ".join(f"{n} {k}" for k, n in sorted(self.failures.items(), key=lambda kv: -kv[1])) or "none"
        what = f"amplified x{self.amplify}" if self.amplify else "retargeted"
        return (f"{what} {self.source_episodes} {self.source_robot} episodes of {self.task} to {self.robot}: kept "
                f"{self.kept} of {self.attempted} (yield {self.yield_rate:.1%}; failed: {why}), {self.frames} frames, "
                f"{self.elapsed:.1f} s, {self.restarts} restarts -> {self.dataset}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["yield"] = self.yield_rate
        return d


def retarget(source: str | os.PathLike, robot: str, out: str | os.PathLike, *, amplify: int = 0,
             seed: int | None = None, task: str | None = None, mapping: str | os.PathLike | None = None,
             episodes: list[Any] | None = None, workers: int = 2, resume: bool = False, quiet: bool = True,
             address: str | None = None, episodes_per_file: int = 16, max_restarts: int | None = None,
             connect_timeout: float = 5.0, start_timeout_s: float = 120.0,
             callback: Callable[[dict[str, Any]], None] | None = None) -> RetargetSummary:
    """Retarget (``amplify=0``) or amplify ``source`` onto ``robot`` into the new dataset ``out``.

    Raises `RetargetError` (a ValueError: one line) for bad input before anything is written, `CollectError` for a
    run that cannot go on, `CollectInterrupted` on Ctrl-C (then resumable with ``resume=True``)."""
    t_start = time.time()
    plan = _plan(source, robot, out, amplify=amplify, seed=seed, task=task, mapping=mapping, episodes=episodes,
                 workers=workers, episodes_per_file=episodes_per_file)
    from flywheel.collectors.collection.collect import CreatedFolder
    from flywheel.datasets.lock import DatasetLock

    out_path = Path(plan["config"].out)
    created = CreatedFolder(out_path)
    lock = DatasetLock(out_path, f"flywheel retarget{' --resume' if resume else ''}", create=True)
    try:
        lock.acquire()
    except ValueError as err:
        raise RetargetError(str(err)) from None
    try:
        return _run(plan, out_path, created, resume=resume, quiet=quiet, address=address, max_restarts=max_restarts,
                    connect_timeout=connect_timeout, start_timeout_s=start_timeout_s, callback=callback,
                    t_start=t_start)
    finally:
        lock.release()
        created.undo_if_empty()


def _plan(source, robot, out, *, amplify, seed, task, mapping, episodes, workers, episodes_per_file) -> dict[str, Any]:
    """Check every input and fix the run's keys, env and metadata (before any folder or Ray exists)."""
    from flywheel.collectors.collection.plan import file_sha256, plan_run

    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if not is_int(amplify) or amplify < 0:
        raise RetargetError(f"--amplify must be a whole number of episodes per source episode (>= 1), got {amplify!r}")
    if not is_int(workers) or workers < 1:
        raise RetargetError(f"--workers must be a positive integer, got {workers!r}")
    if seed is not None and (not is_int(seed) or seed < 0):
        raise RetargetError(f"--seed must be a non-negative integer, got {seed!r}")
    if not os.fspath(out):
        raise RetargetError("--out is required: the dataset folder to write")
    from flywheel import robots

    try:
        robots.get(robot)  # an unknown robot is refused before the simulator loads
    except KeyError as err:
        raise RetargetError(err.args[0] if err.args else str(err)) from None
    except ValueError as err:
        raise RetargetError(str(err)) from None
    src = Source(source, mapping)
    try:
        if task is not None:
            src.task = task
        n_src = len(src)
        from flywheel.collectors.collection.replay import _select

        try:
            chosen = _select(episodes, n_src)  # indices and slices, as `flywheel replay --episodes` takes them
        except ValueError as err:
            raise RetargetError(f"{src.path}: {err}") from None
        try:
            src.segments(chosen[0])  # the source can be read and split (columns, names) before anything starts
        except ValueError as err:
            raise RetargetError(f"{src.path}: episode {chosen[0]}: {err}") from None
        if amplify == 0 and src.seeds is None and seed is None:
            raise RetargetError(f"{src.path}: the source stores no seeds, so its scenes cannot be rebuilt; give --seed "
                                "(scenes are then drawn from seed + k) or use --amplify")
        first = AMPLIFY_SEED if seed is None else int(seed)
        if amplify:
            source_episodes = [i for i in chosen for _ in range(amplify)]
            seeds = [first + k for k in range(len(source_episodes))]
        else:
            source_episodes = chosen
            seeds = [src.seed(i) if seed is None else first + k for k, i in enumerate(chosen)]
        source_info = {"dataset": str(src.path), "robot": src.robot, "task": src.task, "episodes": n_src,
                       "info_sha256": file_sha256(str(src.path / "meta" / "info.json")),
                       "mapping": str(Path(mapping).absolute()) if mapping is not None else None,
                       "mapping_sha256": file_sha256(str(mapping)) if mapping is not None else None}
        src_task = src.task
    finally:
        src.close()
    config = CollectConfig(src_task, robot, len(source_episodes), out=out, workers=workers, seed=first,
                           policy="random", episodes_per_file=episodes_per_file)
    try:
        config = config.checked()
        run_plan = plan_run(config)
    except CollectError as err:
        raise RetargetError(str(err)) from None
    meta_cfg = run_plan.flywheel_meta["config"]
    meta_cfg.update(policy="retarget", seed=None if not amplify and seed is None else first,
                    retarget={"source": source_info, "amplify": int(amplify), "source_episodes": chosen})
    run_plan.policy_label = "retarget"
    run_plan.flywheel_meta["retarget"] = {"source": source_info, "amplify": int(amplify)}
    return {"config": config, "run_plan": run_plan, "source_episodes": source_episodes, "seeds": seeds,
            "source": source_info, "amplify": int(amplify), "mapping": source_info["mapping"], "n_source": len(chosen)}


def _run(plan: dict[str, Any], out: Path, created, *, resume, quiet, address, max_restarts, connect_timeout,
         start_timeout_s, callback, t_start) -> RetargetSummary:
    """Under the lock: create or reopen the dataset, run the keys left on the actor pool, record and finalize."""
    from flywheel.collectors.collection import actor_pool
    from flywheel.collectors.collection.driver import drive, flush_workers
    from flywheel.collectors.collection.ledger import EpisodeLedger
    from flywheel.collectors.collection.plan import check_resume
    from flywheel.collectors.collection.progress import Progress
    from flywheel.collectors.collection.retarget_worker import RetargetWorker
    from flywheel.datasets import create_dataset, finalize, schema
    from flywheel.datasets.run_log import record_entry
    from flywheel.datasets.staging import scan_staging

    config, run_plan = plan["config"], plan["run_plan"]
    if resume and (out / schema.SPEC_PATH).exists():
        try:
            check_resume(out, run_plan)
        except CollectError as err:
            raise RetargetError(str(err)) from None
    try:
        create_dataset(out, features=run_plan.features, fps=run_plan.fps, robot_type=run_plan.robot_type,
                       task=run_plan.task_string, flywheel_meta=run_plan.flywheel_meta, resume=resume)
    except ValueError as err:
        raise RetargetError(str(err)) from None
    n = len(plan["source_episodes"])
    staged = {e.key: (bool(e.meta.get("success")), int(e.length)) for e in scan_staging(out)}
    ledger = EpisodeLedger(n, False, staged)
    reasons: dict[int, str] = {}

    def on_result(r: dict) -> None:
        reasons.update({int(k): v for k, v in r.get("reasons", {}).items()})

    address = address or os.environ.get("RAY_ADDRESS") or None
    pool, started, t_loop = None, False, time.time()
    progress = None
    if not ledger.finished():
        try:
            started = actor_pool.connect(address, workers=config.workers, timeout=connect_timeout)
        except Exception as err:
            created.undo()
            raise CollectError(f"cannot start or join Ray: {err}") from None
        n_workers = max(1, min(int(config.workers), ledger.to_dispatch()))
        args = (str(out), run_plan.env_cfg, plan["source"]["dataset"], plan["mapping"], plan["source_episodes"],
                plan["seeds"])
        kwargs = dict(episodes_per_file=int(config.episodes_per_file), flush_interval_s=float(config.flush_interval_s))
        pool = actor_pool.ActorPool(RetargetWorker, lambda name: ((name,) + args, kwargs), n_workers,
                                    max_restarts=max_restarts if max_restarts is not None else 10 + 2 * n_workers,
                                    start_timeout_s=start_timeout_s,
                                    key_timeout_s=max(60.0, 10.0 * run_plan.expected_episode_s))
    try:
        if pool is not None:
            pool.start()
            t_loop = time.time()
            progress = Progress(total=n, initial=ledger.done_count(), quiet=quiet, desc=f"retarget {config.robot}")
            drive(pool, ledger, progress, callback, on_result=on_result)
    except actor_pool.PoolError as err:
        flush_workers(pool, ledger)
        raise CollectError(str(err)) from None
    except KeyboardInterrupt:
        if pool is not None:
            flush_workers(pool, ledger)
        _log(out, t_start, t_loop, ledger, pool, interrupted=True)
        from flywheel.datasets.staging import staged_keys

        raise CollectInterrupted(str(out), len(staged_keys(out)), n) from None
    finally:
        if progress is not None:
            progress.close()
        if pool is not None:
            pool.shutdown()
        if started:
            import ray

            ray.shutdown()
    _log(out, t_start, t_loop, ledger, pool, interrupted=False)
    kept = [int(k) for k in ledger.kept_keys()]
    failures = Counter(reasons[k] for k in range(n) if k not in set(kept) and k in reasons)
    unknown = n - len(kept) - sum(failures.values())  # failed in an earlier run of a resumed dataset
    if unknown > 0:
        failures["failed before resume"] += unknown
    summary = RetargetSummary(
        dataset=str(out), source=plan["source"]["dataset"], source_robot=plan["source"]["robot"], robot=config.robot,
        task=config.task, source_episodes=plan["n_source"], amplify=plan["amplify"], attempted=n, kept=len(kept),
        failures=dict(failures), frames=int(ledger.length[kept].sum()) if kept else 0, elapsed=0.0,
        restarts=pool.restarts if pool is not None else 0, resumed=ledger.resumed, problems=list(ledger.problems))
    if not kept:
        raise CollectError(f"no episode was kept ({summary.line().split(': ', 1)[1]}); {out} stays unfinished")
    record_entry(out, "retarget", {
        "source": plan["source"], "amplify": plan["amplify"],
        "pair": f"{summary.source_robot} -> {summary.robot}", "task": summary.task,
        "attempted": n, "kept": len(kept), "yield": summary.yield_rate, "failures": summary.failures,
        "episodes": [{"episode_index": j, "source_episode": plan["source_episodes"][k], "seed": plan["seeds"][k]}
                     for j, k in enumerate(kept)]})
    try:
        finalize(out, keys=kept)
    except ValueError as err:
        raise CollectError(f"finalize failed: {err}") from None
    summary.elapsed = time.time() - t_start
    return summary


def _log(out: Path, t_start: float, t_loop: float, ledger, pool, *, interrupted: bool) -> None:
    """Append this run's figures to the dataset's run log (best effort: a full disk must not hide the cause)."""
    from flywheel.collectors.collection.driver import worker_figures
    from flywheel.datasets.run_log import append_run

    record = {"command": "retarget", "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t_start)),
              "elapsed_s": round(time.time() - t_start, 3), "collect_s": round(time.time() - t_loop, 3),
              "attempted": int(ledger.attempted), "resumed": int(ledger.resumed),
              "restarts": int(pool.restarts) if pool is not None else 0, "interrupted": interrupted,
              "workers": worker_figures(pool)}
    try:
        append_run(out, json.loads(json.dumps(record, default=str)))
    except OSError:
        pass

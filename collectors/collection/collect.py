"""Ray-parallel collection: ``flywheel.collectors.collect(...)`` and the driver behind ``flywheel collect``.

How it stays exactly-once and crash-safe:

* Episode ``k`` always runs from seed ``S + k``, so running it twice gives the same episode; the
  finaliser keeps one copy of a key staged twice. Retrying is therefore always safe.
* Workers (Ray actors, one CPU each, an env built once) write finished episodes to the dataset's staging
  area themselves and tell the driver, per batch, which keys became durable. The driver holds indices and
  counters only (`ledger.EpisodeLedger`).
* A worker that dies is replaced; the batches it had in flight and the episodes it had not yet written
  are queued again. Keys that kill a worker while running alone twice are dropped and counted.
* A driver that dies (or is stopped with Ctrl-C) leaves an unfinished dataset; ``resume=True`` checks
  that the parameters match the stored config, skips the keys already staged and runs the rest; the
  finaliser runs once, at the end.
* ``success_only``: keys are drawn in order until the first ``N`` successful keys are known; the dataset
  holds exactly those (successes of keys beyond them that were in flight are left out at finalize).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from flywheel.collectors.collection import actor_pool, worker
from flywheel.collectors.collection.config import CollectConfig, CollectError, CollectInterrupted, CollectSummary
from flywheel.collectors.collection.driver import drive, flush_workers, worker_figures
from flywheel.collectors.collection.ledger import DURABLE, EpisodeLedger
from flywheel.collectors.collection.plan import RunPlan, check_resume, plan_run, relabeled
from flywheel.datasets.lock import DatasetLock


def collect(config: CollectConfig | str | None = None, /, *args: Any,
            callback: Callable[[dict[str, Any]], None] | None = None, **options: Any) -> CollectSummary:
    """Collect episodes into a dataset folder as ``config`` says; episode k runs from seed ``config.seed + k``.

    ``config`` is a `CollectConfig`, or its fields given directly (``collect("reach", "panda", 100, out=...)``).
    ``callback(state)`` is called after every batch with a small dict (done, requested, pids, restarts, ...).

    On a multi-node cluster ``out`` (and a robot spec or policy file given by path) must be on a filesystem every
    node sees: workers write the staging files, the driver finalizes them.

    Raises CollectError for bad input (before any work starts) and CollectInterrupted on Ctrl-C (the dataset is
    then resumable with ``resume=True``). Returns a `CollectSummary`.
    """
    t_start = time.time()
    if not isinstance(config, CollectConfig):
        try:
            config = CollectConfig(*([] if config is None else [config]), *args, **options)
        except TypeError as err:
            raise CollectError(f"collect: {err}") from None
    elif args or options:
        raise CollectError("collect: pass either a CollectConfig or its fields, not both")
    config = config.checked()
    plan = plan_run(config)
    out = Path(config.out)

    address = config.address or os.environ.get("RAY_ADDRESS") or None
    if address:  # fail fast, before touching the output folder (checked even if Ray is already up here)
        try:
            actor_pool.check_address(address, config.connect_timeout)
        except (ConnectionError, ValueError) as err:
            raise CollectError(str(err)) from None

    created = CreatedFolder(out)  # before the lock, which creates the folder
    lock = DatasetLock(out, f"flywheel collect{' --resume' if config.resume else ''}", create=True)
    try:
        lock.acquire()
    except ValueError as err:  # another writer holds it, or the folder cannot be made
        raise CollectError(str(err)) from None
    try:
        run = _start(config, plan, out, created, lock, address, t_start)
        try:
            run.execute(address, callback)
        finally:
            run.close()
        return run.finish()
    finally:
        lock.release()
        created.undo_if_empty()


def _start(config: CollectConfig, plan: RunPlan, out: Path, created: "CreatedFolder", lock, address: str | None,
           t_start: float) -> "_Run":
    """Under the dataset's lock: check a resume, create or reopen the dataset, start (or join) Ray if work is left."""
    from flywheel.datasets import create_dataset, schema
    from flywheel.datasets.staging import scan_staging

    if config.resume and (out / schema.SPEC_PATH).exists():
        try:
            check_resume(out, plan)
        except ValueError as err:
            raise CollectError(str(err)) from None
    try:
        create_dataset(out, features=plan.features, fps=plan.fps, robot_type=plan.robot_type, task=plan.task_string,
                       flywheel_meta=plan.flywheel_meta, resume=config.resume)
    except ValueError as err:
        raise CollectError(str(err)) from None

    staged = {e.key: (bool(e.meta.get("success")), int(e.length)) for e in scan_staging(out)}
    ledger = EpisodeLedger(int(config.episodes), bool(config.success_only), staged)
    run = _Run(config, plan, out, ledger, t_start)
    if not ledger.finished():
        try:
            run.started_ray = actor_pool.connect(address, workers=config.workers, timeout=config.connect_timeout)
            run.n_workers = _placeable_workers(config, ledger, address)
        except Exception as err:
            run.close()
            created.undo()
            raise err if isinstance(err, CollectError) else CollectError(f"cannot start or join Ray: {err}") from None
    return run


def _placeable_workers(config: CollectConfig, ledger: EpisodeLedger, address: str | None) -> int:
    """How many workers to start: what the run can use, and what the Ray cluster can place (refused at once on a
    cluster that is too small, instead of waiting for the start timeout)."""
    import ray

    wanted = int(config.workers) if config.success_only else min(int(config.workers), ledger.to_dispatch())
    n_workers = max(1, wanted)
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if address and cpus < n_workers:
        raise CollectError(f"--workers {n_workers} needs {n_workers} CPUs, and the Ray cluster at {address} has "
                           f"{cpus}; use --workers {max(cpus, 1)} or add nodes")
    if 0 < cpus < n_workers:  # a local Ray someone started with fewer CPUs: use what it has
        if not config.quiet:
            print(f"flywheel collect: this Ray has {cpus} CPUs; running {cpus} workers, not {n_workers}", file=sys.stderr)
        n_workers = cpus
    return n_workers


class _Run:
    """One collection run once its dataset folder exists: the worker pool, the progress bar, the run record."""

    def __init__(self, config: CollectConfig, plan: RunPlan, out: Path, ledger: EpisodeLedger, t_start: float):
        self.config, self.plan, self.out, self.ledger, self.t_start = config, plan, out, ledger, t_start
        self.pool: actor_pool.ActorPool | None = None
        self.progress = None
        self.started_ray = False
        self.n_workers = 1
        self.t_loop = time.time()
        self.loop_s = 0.0

    def execute(self, address: str | None, callback) -> None:
        config, ledger = self.config, self.ledger
        if ledger.finished():
            return
        from flywheel.collectors.collection.progress import Progress

        n_workers = self.n_workers
        worker_kwargs = dict(seed0=int(config.seed), policy=relabeled(config), noise=float(config.noise),
                             success_only=bool(config.success_only), episodes_per_file=int(config.episodes_per_file),
                             flush_interval_s=float(config.flush_interval_s))
        out, env_cfg = str(self.out), self.plan.env_cfg
        max_restarts = config.max_restarts if config.max_restarts is not None else 10 + 2 * n_workers
        timeout = config.episode_timeout_s or max(60.0, 10.0 * self.plan.expected_episode_s)
        self.pool = actor_pool.ActorPool(worker.CollectorWorker, lambda name: ((name, out, env_cfg), worker_kwargs),
                                         n_workers, max_restarts=max_restarts, start_timeout_s=config.start_timeout_s,
                                         key_timeout_s=timeout)
        try:
            self.pool.start()
            self.t_loop = time.time()
            self.progress = Progress(total=int(config.episodes), initial=ledger.done_count(), quiet=config.quiet,
                                     desc=f"collect {config.task}")
            drive(self.pool, ledger, self.progress, callback, seed0=int(config.seed))
        except actor_pool.PoolError as err:
            flush_workers(self.pool, ledger)
            self._record(interrupted=False, error=str(err))
            if isinstance(err.cause, OSError):  # the machine, not the input: say what to do, keep it resumable
                from flywheel.oserrors import one_line

                raise CollectError(f"{one_line(err.cause, self.out)} (a worker writing {self.out} stopped; the dataset "
                                   f"is unfinished and resumable with --resume)") from None
            raise CollectError(str(err)) from None
        except KeyboardInterrupt:
            flush_workers(self.pool, ledger)
            self._record(interrupted=True)
            raise CollectInterrupted(str(self.out), self._staged_now(), int(config.episodes)) from None
        except BaseException as err:
            flush_workers(self.pool, ledger)
            self._record(interrupted=False, error=str(err))
            raise
        finally:
            self.loop_s = time.time() - self.t_loop

    def close(self) -> None:
        """Always runs: close the progress bar, stop the workers, shut down a Ray this run started."""
        if self.progress is not None:
            self.progress.close()
            self.progress = None
        if self.pool is not None:
            self.pool.shutdown()  # everything kept is on disk; what is still running is beyond the cutoff
        if self.started_ray:
            import ray

            ray.shutdown()
            self.started_ray = False

    def _staged_now(self) -> int:
        from flywheel.datasets.staging import staged_keys

        try:
            return len(staged_keys(self.out))
        except ValueError:
            return self.ledger.count(DURABLE)

    def _record(self, *, interrupted: bool, error: str | None = None) -> None:
        """Append this run's figures to the dataset's run log (best effort: a full disk must not hide the cause)."""
        from flywheel.datasets.run_log import append_run

        ledger, pool = self.ledger, self.pool
        loop_s = time.time() - self.t_loop
        record = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.t_start)),
            "elapsed_s": round(time.time() - self.t_start, 3),
            "collect_s": round(loop_s, 3),
            "attempted": int(ledger.attempted),
            "resumed": int(ledger.resumed),
            "episodes_per_s": round(ledger.attempted / loop_s, 3) if loop_s > 0 else None,
            "restarts": int(pool.restarts) if pool is not None else 0,
            "dropped_nonfinite": int(ledger.dropped_nonfinite),
            "dropped_crash": int(ledger.dropped_crash),
            "dropped_error": int(ledger.dropped_error),
            "interrupted": interrupted,
            "error": error,
            "workers": worker_figures(pool),
        }
        try:
            append_run(self.out, record)
        except OSError:
            pass

    def finish(self) -> CollectSummary:
        """Record the run, finalize the dataset and summarise (the run is complete when this is called)."""
        from flywheel.datasets import finalize
        from flywheel.datasets.run_log import read_flywheel_meta

        config, ledger, out, pool = self.config, self.ledger, self.out, self.pool
        kept = ledger.kept_keys()
        self._record(interrupted=False)
        if ledger.count(DURABLE) == 0:
            raise CollectError(f"no episodes were kept ({ledger.dropped_nonfinite} non-finite, "
                               f"{ledger.dropped_error} raised, {ledger.dropped_crash} crashed); {out} stays unfinished")
        try:
            if config.success_only:  # exactly the first N successful keys; successes staged beyond them are left out
                info = finalize(out, keys=[int(k) for k in kept])
            else:
                info = finalize(out)
        except ValueError as err:
            raise CollectError(f"finalize failed: {err}") from None
        ds = read_flywheel_meta(out).get("dataset", {})
        episodes = int(info.get("total_episodes", 0))
        successes = int(ds.get("successes", ledger.stored_successes()))
        loop_s = self.loop_s
        return CollectSummary(
            dataset=str(out), requested=int(config.episodes), episodes=episodes, successes=successes,
            success_rate=successes / episodes if episodes else 0.0, frames=int(info.get("total_frames", 0)),
            elapsed=time.time() - self.t_start,
            episodes_per_s=(ledger.attempted / loop_s) if loop_s > 0 and ledger.attempted else 0.0,
            attempted=ledger.attempted, resumed=ledger.resumed, restarts=pool.restarts if pool is not None else 0,
            dropped_nonfinite=ledger.dropped_nonfinite, dropped_crash=ledger.dropped_crash,
            dropped_error=ledger.dropped_error, success_only=bool(config.success_only),
            yield_rate=(ledger.attempt_successes / ledger.attempted) if config.success_only and ledger.attempted else None,
            workers=worker_figures(pool), problems=list(ledger.problems),
        )


class CreatedFolder:
    """What this run created in the dataset folder, so a run that cannot start removes exactly that and nothing else
    (never a file or folder that was there before it)."""

    def __init__(self, out: Path):
        from flywheel.datasets import schema

        self.out = out
        self.root_existed = out.exists()
        self._files = [out / rel for rel in (schema.SPEC_PATH, schema.FLYWHEEL_META_PATH) if not (out / rel).exists()]
        self._dirs = [out / rel for rel in (schema.STAGING_DIR, "meta") if not (out / rel).exists()]

    def undo(self) -> None:
        """Ray could not start: remove the files and folders this run created, unless episodes were staged."""
        from flywheel.datasets.staging import staging_files

        if staging_files(self.out):
            return
        for path in self._files:
            path.unlink(missing_ok=True)
        for path in self._dirs:
            try:
                path.rmdir()  # only if empty
            except OSError:
                pass
        self.undo_if_empty()

    def undo_if_empty(self) -> None:
        """Remove the dataset folder if this run made it and nothing is in it (a run refused before it wrote)."""
        if not self.root_existed:
            try:
                self.out.rmdir()
            except OSError:
                pass

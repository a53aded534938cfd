"""Ray-parallel collection: ``flywheel.collectors.collect(...)`` and the driver behind ``flywheel collect``.

How it stays exactly-once and crash-safe:

* Episode ``k`` always runs from seed ``S + k``, so running it twice gives the same episode; the
  finaliser keeps one copy of a key staged twice. Retrying is therefore always safe.
* Workers (Ray actors, one CPU each, an env built once) write finished episodes to the dataset's staging
  area themselves and tell the driver, per batch, which keys became durable. The driver holds indices and
  counters only: a status byte per key, a queue of keys to (re)run, figures per worker.
* A worker that dies is replaced; the batches it had in flight and the episodes it had not yet written
  are queued again. Keys that kill a worker while running alone twice are dropped and counted.
* A driver that dies (or is stopped with Ctrl-C) leaves an unfinished dataset; ``resume=True`` checks
  that the parameters match the stored config, skips the keys already staged and runs the rest; the
  finaliser runs once, at the end.
* ``success_only``: keys are drawn in order until the first ``N`` successful keys are known; the dataset
  holds exactly those (successes of keys beyond them that were in flight are left out at finalize).
"""
from __future__ import annotations

import heapq
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from flywheel.collectors import worker as W

# Status byte per key (driver-side bookkeeping).
UNKNOWN, DURABLE, FAILED, DROPPED, BUFFERED, CRASHED, INFLIGHT = 0, 1, 2, 3, 4, 5, 6
RESOLVED = (DURABLE, FAILED, DROPPED, BUFFERED, CRASHED)  # outcome known (BUFFERED: not yet on disk)


class CollectError(ValueError):
    """Bad input or a run that cannot go on; the message says what to do. (A ValueError: the CLI prints it.)"""


class CollectInterrupted(KeyboardInterrupt):
    """Ctrl-C during collection: workers were stopped, what they had was flushed, the dataset is resumable."""

    def __init__(self, out: str, staged: int, requested: int):
        super().__init__(f"interrupted: {staged} of {requested} episodes are staged in {out}")
        self.out, self.staged, self.requested = out, staged, requested


@dataclass
class CollectSummary:
    """What one `collect` call did. ``episodes_per_s`` counts this run's new episodes over its collection time."""

    dataset: str
    requested: int
    episodes: int
    successes: int
    success_rate: float
    frames: int
    elapsed: float
    episodes_per_s: float
    attempted: int
    resumed: int
    restarts: int
    dropped_nonfinite: int
    dropped_crash: int
    dropped_error: int
    success_only: bool
    yield_rate: float | None
    workers: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # examples of why episodes were dropped

    def __str__(self) -> str:
        return self.line()

    def line(self) -> str:
        parts = [f"{self.episodes} episodes", f"{self.frames} frames",
                 f"success {self.success_rate:.1%}", f"{self.episodes_per_s:.1f} episodes/s",
                 f"{self.elapsed:.1f} s", f"{len(self.workers)} workers", f"{self.restarts} restarts"]
        if self.resumed:
            parts.append(f"{self.resumed} resumed")
        dropped = self.dropped_nonfinite + self.dropped_crash + self.dropped_error
        if dropped:
            parts.append(f"{dropped} dropped ({self.dropped_nonfinite} non-finite, {self.dropped_error} raised, "
                         f"{self.dropped_crash} crashed their worker)")
        if self.success_only and self.yield_rate is not None:
            parts.append(f"yield {self.yield_rate:.1%} of {self.attempted} attempts")
        return "collected " + ", ".join(parts) + f" -> {self.dataset}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- preparing a run -------------------------------------------------------------------------------
@dataclass
class RunPlan:
    env_cfg: dict[str, Any]
    features: dict[str, dict]
    fps: int
    robot_type: str
    task_string: str
    flywheel_meta: dict[str, Any]
    policy_label: str


def _file_sha256(path: str) -> str | None:
    import hashlib

    if not os.path.isfile(path):
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def plan_run(*, task: str, robot: str, episodes: int, seed: int, policy: Any, noise: float, success_only: bool,
             cameras, max_steps: int | None, control_mode: str, relabel: str | None = None, beta: float = 0.0) -> RunPlan:
    """Build one env in the driver to check every input and describe the dataset (before any work starts)."""
    from flywheel.collectors.episode_frames import dataset_features
    from flywheel.sim.tasks import TASKS, task_params

    if task not in TASKS:
        raise CollectError(f"unknown task {task!r}; available tasks: {', '.join(TASKS)}")
    cfg = W.env_config(task, str(robot), control_mode, cameras, max_steps)
    try:
        env = W.make_env(cfg)
    except KeyError as err:  # unknown robot
        raise CollectError(err.args[0] if err.args else str(err)) from None
    except (ValueError, FileNotFoundError, OSError) as err:  # bad spec, task not applicable, bad camera or mode
        raise CollectError(str(err)) from None
    try:
        u = env.unwrapped
        try:
            pol = W.build_policy(relabeled(policy, task, relabel, beta), task, env, noise)
        except KeyError as err:
            raise CollectError(err.args[0] if err.args else str(err)) from None
        except (ValueError, FileNotFoundError, OSError) as err:
            raise CollectError(str(err)) from None
        label = W.policy_name(pol, policy)
        features = dataset_features(env)
        spec = u.spec_robot
        policy_cfg = policy if isinstance(policy, str) else f"python:{label}"
        config = {
            "task": task,
            "robot": str(robot),
            "robot_model_hash": spec.model_hash(),
            "seed": int(seed),
            "episodes": int(episodes),
            "policy": policy_cfg,
            "policy_sha256": _file_sha256(policy) if isinstance(policy, str) and policy not in ("expert", "random") else None,
            "noise": float(noise),
            **({"relabel": relabel, "beta": float(beta)} if relabel is not None else {}),
            "control_mode": control_mode,
            "success_only": bool(success_only),
            "max_steps": int(env._max_episode_steps),
            "cameras": list(cfg["cameras"]),
            "randomize": True,
        }
        meta = {
            "robot": {"name": spec.name, "kind": spec.kind, "spec": spec.to_dict(), "model_hash": spec.model_hash()},
            "task": {"name": task, "description": u.task.describe(), "params": task_params(u.task)},
            "config": config,
        }
        meta = json.loads(json.dumps(meta, default=_jsonable))
        return RunPlan(env_cfg=cfg, features=features, fps=int(u.control_hz), robot_type=spec.name,
                       task_string=u.task.describe(), flywheel_meta=meta, policy_label=label)
    finally:
        env.close()


def relabeled(policy: Any, task: str, relabel: str | None, beta: float) -> Any:
    """``policy`` as the workers build it: wrapped so the expert labels what it visits when ``relabel`` is set."""
    if relabel is None:
        return policy
    from flywheel.collectors.relabel import RelabelingFactory

    try:
        return RelabelingFactory(policy, task, beta, teacher=relabel)
    except ValueError as err:
        raise CollectError(str(err)) from None


def _jsonable(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (set, frozenset)):
        return sorted(x)
    return str(x)


def _absolute_if_path(robot: Any) -> str:
    text = os.fspath(robot)
    if text.endswith(".toml") or os.sep in text:  # a spec file, not a registry name (as flywheel.robots.get decides)
        return str(Path(text).expanduser().absolute())
    return text


def _check_args(episodes, workers, seed, noise, max_steps, episodes_per_file) -> None:
    def is_int(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if not is_int(episodes) or episodes < 1:
        raise CollectError(f"--episodes must be a positive integer, got {episodes!r}")
    if not is_int(workers) or workers < 1:
        raise CollectError(f"--workers must be a positive integer, got {workers!r}")
    if not is_int(seed) or seed < 0:
        raise CollectError(f"--seed must be a non-negative integer, got {seed!r}")
    if not isinstance(noise, (int, float)) or not math.isfinite(noise) or noise < 0:
        raise CollectError(f"--noise must be a finite number >= 0, got {noise!r}")
    if max_steps is not None and (not is_int(max_steps) or max_steps < 1):
        raise CollectError(f"--max-steps must be a positive integer, got {max_steps!r}")
    if not is_int(episodes_per_file) or episodes_per_file < 1:
        raise CollectError(f"episodes_per_file must be a positive integer, got {episodes_per_file!r}")


class _CreatedDataset:
    """Remembers whether this call created the dataset folder, to undo it if Ray cannot start."""

    def __init__(self, out: Path):
        from flywheel.datasets import schema

        self.out = out
        self.root_existed = out.exists()
        self.spec_existed = (out / schema.SPEC_PATH).exists()

    def undo(self) -> None:
        from flywheel.datasets import schema
        from flywheel.datasets.staging import staging_files

        if self.spec_existed or staging_files(self.out):
            return
        for rel in (schema.SPEC_PATH, schema.FLYWHEEL_META_PATH):
            try:
                (self.out / rel).unlink()
            except FileNotFoundError:
                pass
        for rel in (schema.STAGING_DIR, "meta"):
            try:
                (self.out / rel).rmdir()
            except OSError:
                pass
        if not self.root_existed:
            try:
                self.out.rmdir()
            except OSError:
                pass


# ---- driver-side bookkeeping --------------------------------------------------------------------------
class _Book:
    """A status byte per key plus counters: everything the driver holds about the episodes."""

    def __init__(self, n: int, success_only: bool, staged: dict[int, tuple[bool, int]]):
        self.n, self.success_only = n, success_only
        size = n if not success_only else max(n, max(staged, default=-1) + 1) * 2 + 16
        self.status = np.zeros(size, np.uint8)
        self.success = np.zeros(size, np.bool_)
        self.length = np.zeros(size, np.int32)
        self.requeue: list[int] = []
        self.suspects: set[int] = set()
        self.crash_count: dict[int, int] = {}
        self.next_fresh = 0
        self.resumed = 0
        for k, (ok, length) in staged.items():
            if k < len(self.status):
                self.status[k], self.success[k], self.length[k] = DURABLE, ok, length
                self.resumed += 1
        self.attempted = self.attempt_successes = 0
        self.dropped_nonfinite = self.dropped_crash = self.dropped_error = 0
        self.busy_s = 0.0
        self.problems: list[str] = []  # a few examples of why episodes were dropped
        self.prefix = 0  # success-only: every key below it has a known outcome
        self.prefix_successes = 0

    # ---- keys to run ----
    def _grow(self, need: int) -> None:
        if need <= len(self.status):
            return
        size = max(need, 2 * len(self.status))
        for name in ("status", "success", "length"):
            old = getattr(self, name)
            new = np.zeros(size, old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def fresh_left(self) -> int:
        if self.success_only:
            return 1 << 60
        return int(np.count_nonzero(self.status[self.next_fresh:] == UNKNOWN))

    def to_dispatch(self) -> int:
        return len(self.requeue) + self.fresh_left()

    def take(self, size: int, allow_fresh: bool = True) -> list[int]:
        """Up to ``size`` keys, requeued ones first (lowest first); a suspect key always runs alone."""
        keys: list[int] = []
        while self.requeue and len(keys) < size:
            k = self.requeue[0]
            if k in self.suspects:
                if keys:
                    break
                heapq.heappop(self.requeue)
                self.status[k] = INFLIGHT
                return [k]
            heapq.heappop(self.requeue)
            if self.status[k] == UNKNOWN:
                self.status[k] = INFLIGHT
                keys.append(k)
        limit = len(self.status) if not self.success_only else 1 << 62
        while allow_fresh and len(keys) < size and self.next_fresh < (self.n if not self.success_only else limit):
            k = self.next_fresh
            self.next_fresh += 1
            self._grow(k + 1)
            if self.status[k] == UNKNOWN:
                self.status[k] = INFLIGHT
                keys.append(k)
        return keys

    def put_back(self, keys, suspect: bool = False) -> None:
        for k in keys:
            if self.status[k] in (INFLIGHT, BUFFERED):
                self.status[k] = UNKNOWN
                heapq.heappush(self.requeue, int(k))
                if suspect:
                    self.suspects.add(int(k))
                if self.success_only and k < self.prefix:
                    self._reset_prefix(int(k))

    def _reset_prefix(self, k: int) -> None:
        self.prefix = k
        s = self.status[:k]
        self.prefix_successes = int(np.count_nonzero(self.success[:k] & ((s == DURABLE) | (s == BUFFERED))))

    # ---- outcomes ----
    def record(self, keys, codes, successes, lengths) -> tuple[int, int, int]:
        """Apply one batch result; returns (stored, successes stored, dropped)."""
        stored = ok = dropped = 0
        for k, code, s, n in zip(keys, codes, successes, lengths):
            self.attempted += 1
            self.attempt_successes += int(s)
            self.suspects.discard(k)
            if self.status[k] == DURABLE:  # already on disk (flushed by a worker that died before answering)
                continue
            self.success[k], self.length[k] = bool(s), n
            if code == W.STORED:
                self.status[k] = BUFFERED
                stored += 1
                ok += int(s)
            elif code == W.FAILED:
                self.status[k] = FAILED
            else:
                self.status[k] = DROPPED
                if code == W.ERRORED:
                    self.dropped_error += 1
                else:
                    self.dropped_nonfinite += 1
                dropped += 1
        return stored, ok, dropped

    def durable(self, keys, *, also_inflight: bool = False) -> None:
        for k in keys:
            if self.status[k] == BUFFERED or (also_inflight and self.status[k] == INFLIGHT):
                self.status[k] = DURABLE

    def crashed(self, key: int) -> bool:
        """A key was running alone when its worker died; True once it has done so twice (then it is dropped)."""
        self.crash_count[key] = self.crash_count.get(key, 0) + 1
        if self.crash_count[key] >= 2:
            self.status[key] = CRASHED
            self.suspects.discard(key)
            self.dropped_crash += 1
            return True
        return False

    # ---- progress and completion ----
    def advance_prefix(self) -> None:
        s = self.status
        while self.prefix < len(s) and s[self.prefix] in RESOLVED and self.prefix_successes < self.n:
            if self.success[self.prefix] and s[self.prefix] in (DURABLE, BUFFERED):
                self.prefix_successes += 1
            self.prefix += 1

    def count(self, *codes) -> int:
        return int(np.count_nonzero(np.isin(self.status, codes)))

    def stored_successes(self) -> int:
        s = self.status
        return int(np.count_nonzero(self.success & ((s == DURABLE) | (s == BUFFERED))))

    def done_count(self) -> int:
        """What the progress bar shows: resolved keys, or in success-only mode stored successes."""
        if self.success_only:
            self.advance_prefix()
            return min(self.n, self.stored_successes())
        return self.count(DURABLE, BUFFERED, DROPPED, CRASHED)

    def kept_keys(self) -> np.ndarray | None:
        """Success-only: the first N successful keys once known, else None. Normal: every stored key."""
        if not self.success_only:
            return np.flatnonzero((self.status == DURABLE) | (self.status == BUFFERED))
        self.advance_prefix()
        if self.prefix_successes < self.n:
            return None
        s = self.status[: self.prefix]
        return np.flatnonzero(self.success[: self.prefix] & ((s == DURABLE) | (s == BUFFERED)))[: self.n]

    def finished(self) -> bool:
        if not self.success_only:
            return self.count(UNKNOWN, INFLIGHT, BUFFERED) == 0 and not self.requeue
        kept = self.kept_keys()
        return kept is not None and bool(np.all(self.status[kept] == DURABLE))

    def want_fresh(self, inflight_keys: int) -> bool:
        """Success-only: draw new keys only while the ones running may not bring enough successes."""
        if not self.success_only:
            return True
        if self.kept_keys() is not None:
            return False
        rate = (self.attempt_successes + 1) / (self.attempted + 2)
        return self.stored_successes() + rate * inflight_keys < self.n or inflight_keys == 0

    def remaining_estimate(self, inflight_keys: int) -> int:
        if not self.success_only:
            return self.to_dispatch()
        rate = max((self.attempt_successes + 1) / (self.attempted + 2), 1e-3)
        need = self.n - self.stored_successes()
        return max(1, int(math.ceil(need / rate)) - inflight_keys)


# ---- the run ----------------------------------------------------------------------------------------
def collect(task: str, robot: str = "panda", episodes: int = 100, *, out: str | os.PathLike, workers: int = 2,
            seed: int = 0, policy: Any = "expert", noise: float = 0.0, success_only: bool = False,
            resume: bool = False, cameras: list[str] | tuple[str, ...] | None = None, max_steps: int | None = None,
            control_mode: str = "joint_pos", address: str | None = None, quiet: bool = True,
            episodes_per_file: int = 16, flush_interval_s: float = 30.0, max_restarts: int | None = None,
            callback: Callable[[dict[str, Any]], None] | None = None, connect_timeout: float = 5.0,
            start_timeout_s: float = 120.0, relabel: str | None = None, beta: float = 0.0) -> CollectSummary:
    """Collect ``episodes`` episodes of ``task`` with ``robot`` into the dataset folder ``out``.

    Episode k runs from seed ``seed + k``. ``policy`` is ``"expert"``, ``"random"``, a learned policy file, or
    a callable ``factory(env) -> policy`` (Python API only). With no ``address`` (and no ``RAY_ADDRESS``) a local
    Ray is started and shut down afterwards; if Ray is already initialised in this process it is used as is.
    ``callback(state)`` is called after every batch with a small dict (done, requested, pids, restarts, ...).

    On a multi-node cluster ``out`` (and a robot spec or policy file given by path) must be on a filesystem every
    node sees: workers write the staging files, the driver finalizes them.

    Raises CollectError for bad input (before any work starts) and CollectInterrupted on Ctrl-C (the dataset is
    then resumable with ``resume=True``). Returns a `CollectSummary`.
    """
    t_start = time.time()
    _check_args(episodes, workers, seed, noise, max_steps, episodes_per_file)
    # workers may run with another working directory (or on other machines): hand them absolute paths
    out = Path(out).expanduser().absolute()
    robot = _absolute_if_path(robot)
    if isinstance(policy, (str, os.PathLike)) and os.fspath(policy) not in ("expert", "random"):
        policy = str(Path(policy).expanduser().absolute())
    cameras = list(cameras or [])
    plan = plan_run(task=task, robot=robot, episodes=episodes, seed=seed, policy=policy, noise=noise,
                    success_only=success_only, cameras=cameras, max_steps=max_steps, control_mode=control_mode,
                    relabel=relabel, beta=beta)

    from flywheel.collectors import pool as P
    from flywheel.datasets import create_dataset
    from flywheel.datasets.staging import scan_staging, staged_keys

    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:  # fail fast, before touching the output folder (checked even if Ray is already up here)
        try:
            P.check_address(address, connect_timeout)
        except (ConnectionError, ValueError) as err:
            raise CollectError(str(err)) from None

    created = _CreatedDataset(out)
    try:
        create_dataset(out, features=plan.features, fps=plan.fps, robot_type=plan.robot_type, task=plan.task_string,
                       flywheel_meta=plan.flywheel_meta, resume=resume)
    except ValueError as err:
        raise CollectError(str(err)) from None

    staged = {e.key: (bool(e.meta.get("success")), int(e.length)) for e in scan_staging(out)}
    book = _Book(int(episodes), bool(success_only), staged)

    started_ray = False
    if not book.finished():
        try:
            started_ray = P.connect(address, workers=workers, timeout=connect_timeout)
        except Exception as err:
            created.undo()
            raise CollectError(f"cannot start or join Ray: {err}") from None

    progress = None
    pool = None
    t_loop = time.time()
    try:
        if not book.finished():
            import ray

            n_workers = max(1, min(int(workers), book.to_dispatch() if not success_only else int(workers)))
            cpus = int(ray.cluster_resources().get("CPU", 0))
            if not address and 0 < cpus < n_workers:  # a local Ray someone started with fewer CPUs: use what it has
                if not quiet:
                    print(f"flywheel collect: this Ray has {cpus} CPUs; running {cpus} workers, not {n_workers}",
                          file=sys.stderr)
                n_workers = cpus
            worker_kwargs = dict(seed0=int(seed), policy=relabeled(policy, task, relabel, beta), noise=float(noise), success_only=bool(success_only),
                                 episodes_per_file=int(episodes_per_file), flush_interval_s=float(flush_interval_s))
            pool = P.ActorPool(W.CollectorWorker, lambda name: ((name, str(out), plan.env_cfg), worker_kwargs),
                               n_workers, max_restarts=max_restarts if max_restarts is not None else 10 + 2 * n_workers,
                               start_timeout_s=start_timeout_s)
            from flywheel.collectors.progress import Progress

            try:
                pool.start()
                t_loop = time.time()
                progress = Progress(total=int(episodes), initial=book.done_count(), quiet=quiet, desc=f"collect {task}")
                _drive(pool, book, progress, callback)
            except P.PoolError as err:
                raise CollectError(str(err)) from None
            except KeyboardInterrupt:
                _stop(pool, book)
                raise
    except KeyboardInterrupt:
        if progress is not None:
            progress.close()
        _record_run(out, book, pool, t_start, time.time() - t_loop, interrupted=True)
        if pool is not None:
            pool.shutdown()
        if started_ray:
            _ray_shutdown()
        try:
            staged_now = len(staged_keys(out))
        except ValueError:
            staged_now = book.count(DURABLE)
        raise CollectInterrupted(str(out), staged_now, int(episodes)) from None
    except BaseException as err:
        if progress is not None:
            progress.close()
        if pool is not None:
            _stop(pool, book)
            _record_run(out, book, pool, t_start, time.time() - t_loop, interrupted=False, error=str(err))
            pool.shutdown()
        if started_ray:
            _ray_shutdown()
        raise
    loop_s = time.time() - t_loop
    if progress is not None:
        progress.close()
    if pool is not None:
        pool.shutdown()  # everything kept is on disk; what is still running is beyond the cutoff
    if started_ray:
        _ray_shutdown()

    return _finish(out, book, pool, plan, t_start, loop_s, int(episodes), bool(success_only))


def _ray_shutdown() -> None:
    import ray

    ray.shutdown()


def _batch_size(book: _Book, pool, inflight_keys: int) -> int:
    per_episode = book.busy_s / book.attempted if book.attempted else 0.05
    target = int(min(64, max(1, 0.5 / max(per_episode, 1e-4))))  # about half a second of work per batch
    alive = max(1, pool.alive())
    tail = int(math.ceil(book.remaining_estimate(inflight_keys) / (alive * pool.depth)))
    return max(1, min(target, tail))


def _drive(pool, book: _Book, progress, callback, on_result: Callable[[dict], None] | None = None,
           postfix: Callable[[], dict] | None = None) -> None:
    """The driver loop: keep every worker busy, apply results, redo what dead workers lose, until finished."""
    unflushed: dict[int, set[int]] = {s.index: set() for s in pool.slots}
    flushing: set[int] = set()
    while True:
        if book.success_only and book.attempted >= 200 and book.attempt_successes == 0:
            raise CollectError(f"success-only: no success in the first {book.attempted} episodes; "
                               "this policy does not solve the task, so the run would never end")
        if book.dropped_error > 5 and book.dropped_error > 0.05 * book.attempted:
            raise CollectError(f"{book.dropped_error} of {book.attempted} episodes raised an exception "
                               f"(e.g. {book.problems[0] if book.problems else 'see the worker logs'}); stopping")
        if book.finished():
            return
        inflight_keys = sum(len(t.keys) for s in pool.slots for t in s.inflight if t.kind == "run")
        for slot in pool.free_slots():
            allow_fresh = book.want_fresh(inflight_keys)
            keys = book.take(_batch_size(book, pool, inflight_keys), allow_fresh=allow_fresh)
            if not keys:
                break
            pool.submit(slot, "run", keys)
            inflight_keys += len(keys)
        # nothing left to run but episodes still buffered in workers: ask those workers to write them
        if book.requeue == [] and (book.to_dispatch() == 0 or not book.want_fresh(inflight_keys)):
            for index, keys in unflushed.items():
                if keys and index not in flushing and pool.slots[index].alive:
                    pool.submit(index, "flush")
                    flushing.add(index)
        if pool.inflight == 0:
            if book.finished():
                return
            if book.to_dispatch() == 0 and not any(unflushed.values()):
                raise CollectError("internal error: nothing in flight, nothing to run, and the run is not complete")
            continue
        for ev in pool.wait(timeout=0.5):
            slot = pool.slots[ev.slot]
            if ev.kind == "result":
                if ev.task.kind == "run":
                    r = ev.value
                    stored, ok, dropped = book.record(r["keys"], r["codes"], r["success"], r["length"])
                    book.busy_s += r["busy_s"]
                    st = slot.stats
                    st["attempted"] += len(r["keys"])
                    st["episodes"] += stored
                    st["successes"] += ok
                    st["dropped"] += dropped
                    st["frames"] += int(sum(n for n, c in zip(r["length"], r["codes"]) if c == W.STORED))
                    st["busy_s"] += r["busy_s"]
                    unflushed[ev.slot].update(k for k, c in zip(r["keys"], r["codes"]) if c == W.STORED)
                    flushed = r["flushed"]
                    book.problems.extend(r.get("problems", [])[: max(0, 5 - len(book.problems))])
                    if on_result is not None:
                        on_result(r)
                else:  # flush
                    flushing.discard(ev.slot)
                    flushed = ev.value
                book.durable(flushed)
                unflushed[ev.slot].difference_update(flushed)
            else:  # the actor died: run again what it had in flight and what it had not written
                flushing.discard(ev.slot)
                runs = [t for t in ev.lost if t.kind == "run"]
                if runs and len(runs[0].keys) == 1 and book.crashed(runs[0].keys[0]) and len(book.problems) < 5:
                    book.problems.append(f"episode {runs[0].keys[0]} killed its worker twice: {ev.error}")
                for t in runs:
                    book.put_back(t.keys, suspect=True)
                book.put_back(sorted(unflushed[ev.slot]), suspect=False)
                unflushed[ev.slot].clear()
                pool.replace(ev.slot)
        done = book.done_count()
        stored = book.count(DURABLE, BUFFERED)
        progress.update(done, success_rate=None if book.success_only else book.stored_successes() / max(stored, 1),
                        yield_rate=book.attempt_successes / max(book.attempted, 1) if book.success_only else None,
                        alive=pool.alive(), restarts=pool.restarts,
                        dropped=book.dropped_nonfinite + book.dropped_crash + book.dropped_error,
                        **(postfix() if postfix is not None else {}))
        if callback is not None:
            callback({"done": book.done_count(), "requested": book.n, "attempted": book.attempted,
                      "durable": book.count(DURABLE), "pids": pool.pids(), "restarts": pool.restarts,
                      "alive": pool.alive()})


def _stop(pool, book: _Book) -> None:
    """Ctrl-C or an error: let every worker write what it holds (bounded wait), so little is lost."""
    try:
        results = pool.call_all("flush", timeout=15)
    except BaseException:  # a second Ctrl-C: give up flushing; the staging area is still consistent
        return
    for keys in results.values():
        book.durable(keys, also_inflight=True)  # written, even if the batch's own answer was never read


def _worker_figures(pool) -> list[dict[str, Any]]:
    if pool is None:
        return []
    out = []
    for s in pool.slots:
        st = dict(s.stats)
        busy = st.get("busy_s", 0.0)
        out.append({"name": s.name, "host": s.host, "pids": list(s.pids), "restarts": s.restarts,
                    "episodes": int(st["episodes"]), "attempted": int(st["attempted"]),
                    "successes": int(st["successes"]), "dropped": int(st["dropped"]), "frames": int(st["frames"]),
                    "busy_s": round(busy, 3), "episodes_per_busy_s": round(st["attempted"] / busy, 2) if busy else None})
    return out


def _record_run(out: Path, book: _Book, pool, t_start: float, loop_s: float, *, interrupted: bool,
                error: str | None = None) -> None:
    """Append this run's figures to meta/flywheel.json ("runs"); the finaliser keeps the key."""
    from flywheel.datasets import schema

    path = out / schema.FLYWHEEL_META_PATH
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    new = book.attempted
    meta.setdefault("runs", []).append({
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t_start)),
        "elapsed_s": round(time.time() - t_start, 3),
        "collect_s": round(loop_s, 3),
        "attempted": int(new),
        "resumed": int(book.resumed),
        "episodes_per_s": round(new / loop_s, 3) if loop_s > 0 else None,
        "restarts": int(pool.restarts) if pool is not None else 0,
        "dropped_nonfinite": int(book.dropped_nonfinite),
        "dropped_crash": int(book.dropped_crash),
        "dropped_error": int(book.dropped_error),
        "interrupted": interrupted,
        "error": error,
        "workers": _worker_figures(pool),
    })
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    tmp.write_text(json.dumps(meta, indent=4) + "\n")
    os.replace(tmp, path)


def _finish(out: Path, book: _Book, pool, plan: RunPlan, t_start: float, loop_s: float, n: int,
            success_only: bool) -> CollectSummary:
    from flywheel.datasets import finalize, schema

    kept = book.kept_keys()
    staged_total = book.count(DURABLE)
    _record_run(out, book, pool, t_start, loop_s, interrupted=False)
    if staged_total == 0:
        raise CollectError(f"no episodes were kept ({book.dropped_nonfinite} non-finite, {book.dropped_error} raised, "
                           f"{book.dropped_crash} crashed); "
                           f"{out} stays unfinished")
    try:
        if success_only:  # exactly the first N successful keys; successes staged beyond them are left out
            info = finalize(out, keys=[int(k) for k in kept])
        else:
            info = finalize(out)
    except ValueError as err:
        raise CollectError(f"finalize failed: {err}") from None
    try:
        fw = json.loads((out / schema.FLYWHEEL_META_PATH).read_text())
    except (OSError, ValueError):
        fw = {}
    ds = fw.get("dataset", {})
    episodes = int(info.get("total_episodes", 0))
    successes = int(ds.get("successes", book.stored_successes()))
    elapsed = time.time() - t_start
    return CollectSummary(
        dataset=str(out), requested=n, episodes=episodes, successes=successes,
        success_rate=successes / episodes if episodes else 0.0, frames=int(info.get("total_frames", 0)),
        elapsed=elapsed, episodes_per_s=(book.attempted / loop_s) if loop_s > 0 and book.attempted else 0.0,
        attempted=book.attempted, resumed=book.resumed, restarts=pool.restarts if pool is not None else 0,
        dropped_nonfinite=book.dropped_nonfinite, dropped_crash=book.dropped_crash, dropped_error=book.dropped_error,
        success_only=success_only,
        yield_rate=(book.attempt_successes / book.attempted) if success_only and book.attempted else None,
        workers=_worker_figures(pool), problems=list(book.problems),
    )

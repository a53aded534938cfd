"""A pool of Ray actors kept busy with small batches of keys, replaced when they die.

The pool knows nothing of episodes: it starts ``n`` actors of one class, submits ``method(keys)`` to a
slot (at most ``depth`` tasks in flight per slot, so work never piles up in a dead actor's queue), and
turns Ray's answers into events: a result, or a slot whose actor died together with every batch it had
in flight. The caller decides what to run again. Ray is imported lazily by the caller's process only.
"""
from __future__ import annotations

import os
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlparse


class PoolError(RuntimeError):
    """The pool cannot go on (workers cannot start, too many restarts, a task raised). ``cause`` is the worker's
    own exception when one is known (an OSError from a full disk, say), so the caller can say what to do."""

    def __init__(self, message: str, cause: BaseException | None = None):
        super().__init__(message)
        self.cause = cause


@dataclass
class Task:
    ref: Any
    slot: int
    kind: str  # "run" | "flush" | "ping"
    keys: list[int]
    seq: int = 0  # submission order: an actor answers in this order, so results are applied in it too
    started: float | None = None  # when the actor began it (it runs its tasks one at a time, in order)


@dataclass
class Slot:
    index: int
    name: str
    handle: Any = None
    pid: int | None = None
    host: str | None = None
    node_id: str | None = None  # the Ray node the current actor runs on
    pids: list[int] = field(default_factory=list)
    inflight: deque = field(default_factory=deque)
    restarts: int = 0
    alive: bool = False
    # figures reported by the caller
    stats: dict[str, float] = field(default_factory=lambda: {"episodes": 0, "attempted": 0, "successes": 0,
                                                              "dropped": 0, "frames": 0, "busy_s": 0.0})


@dataclass
class Event:
    kind: str  # "result" | "died"
    slot: int
    task: Task | None = None
    value: Any = None
    lost: list[Task] = field(default_factory=list)
    error: str = ""


class ActorPool:
    def __init__(self, actor_cls, make_args: Callable[[str], tuple[tuple, dict]], n: int, *, depth: int = 2,
                 max_restarts: int = 10, name_prefix: str = "w", start_timeout_s: float = 120.0,
                 key_timeout_s: float | None = None):
        import ray

        self.ray = ray
        self.remote_cls = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(actor_cls)
        self.make_args = make_args
        self.depth = depth
        self.max_restarts = max_restarts
        self.start_timeout_s = start_timeout_s
        self.key_timeout_s = key_timeout_s  # the watchdog: a batch may run this long per key before its actor is killed
        self.slots = [Slot(i, f"{name_prefix}{i}") for i in range(n)]
        self.restarts = 0
        self.last_error = ""
        self._by_ref: dict[Any, Task] = {}
        self._seq = 0

    # ---- lifecycle ------------------------------------------------------------------------------
    def _spawn(self, slot: Slot) -> None:
        args, kwargs = self.make_args(slot.name)
        slot.handle = self.remote_cls.remote(*args, **kwargs)
        slot.alive = True
        slot.pid = None
        self._submit(slot, "ping", [])

    def start(self) -> None:
        """Start every actor and wait until each answers (errors in their constructors surface here)."""
        for slot in self.slots:
            self._spawn(slot)
        deadline = time.monotonic() + self.start_timeout_s
        pending = [t.ref for s in self.slots for t in s.inflight]
        while pending:
            ready, pending = self.ray.wait(pending, num_returns=len(pending), timeout=max(0.0, deadline - time.monotonic()))
            for ref in ready:
                task = self._by_ref[ref]
                try:
                    self._finish(task, self.ray.get(ref))
                except self.ray.exceptions.RayError as err:
                    self.shutdown()
                    raise PoolError(f"workers failed to start: {_error_text(err)}") from None
            if pending and time.monotonic() >= deadline:
                cpus = self.ray.cluster_resources().get("CPU", 0)
                self.shutdown()
                raise PoolError(f"workers did not start within {self.start_timeout_s:.0f} s: {len(self.slots)} workers "
                                f"need {len(self.slots)} CPUs and the Ray cluster has {cpus:g}")

    def shutdown(self) -> None:
        for slot in self.slots:
            if slot.handle is not None:
                try:
                    self.ray.kill(slot.handle, no_restart=True)
                except Exception:
                    pass
            slot.handle, slot.alive = None, False
            slot.inflight.clear()
        self._by_ref.clear()

    # ---- work -------------------------------------------------------------------------------------
    def _submit(self, slot: Slot, kind: str, keys: list[int]) -> Task:
        method = getattr(slot.handle, kind)
        ref = method.remote(keys) if kind == "run" else method.remote()
        self._seq += 1
        task = Task(ref, slot.index, kind, list(keys), self._seq)
        if not slot.inflight:
            task.started = time.monotonic()
        slot.inflight.append(task)
        self._by_ref[ref] = task
        return task

    def submit(self, slot_index: int, kind: str, keys: list[int] | None = None) -> Task:
        slot = self.slots[slot_index]
        if not slot.alive:
            raise PoolError(f"worker {slot.name} is not alive")
        return self._submit(slot, kind, keys or [])

    def free_slots(self) -> list[int]:
        """Alive slots with room for another batch, least loaded first."""
        free = [s for s in self.slots if s.alive and sum(t.kind == "run" for t in s.inflight) < self.depth]
        return [s.index for s in sorted(free, key=lambda s: len(s.inflight))]

    @property
    def inflight(self) -> int:
        return len(self._by_ref)

    def alive(self) -> int:
        return sum(s.alive for s in self.slots)

    def pids(self) -> dict[str, int]:
        return {s.name: s.pid for s in self.slots if s.alive and s.pid is not None}

    def _finish(self, task: Task, value: Any) -> None:
        slot = self.slots[task.slot]
        self._by_ref.pop(task.ref, None)
        try:
            slot.inflight.remove(task)
        except ValueError:
            pass
        if slot.inflight and slot.inflight[0].started is None:
            slot.inflight[0].started = time.monotonic()
        if task.kind == "ping":
            slot.pid, slot.host, slot.node_id = int(value["pid"]), value.get("host"), value.get("node_id")
            slot.pids.append(slot.pid)

    def wait(self, timeout: float = 0.5) -> list[Event]:
        """Answers that are ready (waiting up to ``timeout`` for the first), pings handled internally.

        Only the oldest task of each actor is waited on: an actor answers in submission order, so a flush is
        never applied before the batch it follows, and a dead actor shows up through its oldest task.
        """
        events: list[Event] = []
        wait_s = timeout
        while True:
            heads = {s.inflight[0].ref: s.inflight[0] for s in self.slots if s.inflight}
            if not heads:
                return events
            ready, _ = self.ray.wait(list(heads), num_returns=1 if wait_s else len(heads), timeout=wait_s)
            if not ready:
                return events + self._overdue()
            wait_s = 0
            for ref in ready:
                task = heads[ref]
                if self._by_ref.get(ref) is not task:  # its slot died earlier in this loop
                    continue
                try:
                    value = self.ray.get(ref)
                except self.ray.exceptions.RayActorError as err:
                    events.append(self._died(self.slots[task.slot], err))
                    continue
                except self.ray.exceptions.RayTaskError as err:
                    cause = getattr(err, "cause", None)
                    raise PoolError(f"worker {self.slots[task.slot].name} failed: {_error_text(err)}",
                                    cause if isinstance(cause, BaseException) else None) from None
                self._finish(task, value)
                if task.kind != "ping":
                    events.append(Event("result", task.slot, task, value))

    def _overdue(self) -> list[Event]:
        """The watchdog: an actor whose current batch has run past ``key_timeout_s`` per key is killed like a dead one
        (its batches are run again by the caller, a lone suspect key twice at most), so a hung episode never stalls
        the run."""
        if not self.key_timeout_s:
            return []
        now = time.monotonic()
        events = []
        for slot in self.slots:
            head = slot.inflight[0] if slot.alive and slot.inflight else None
            if head is None or head.kind != "run" or head.started is None:
                continue
            limit = self.key_timeout_s * max(1, len(head.keys))
            if now - head.started > limit:
                events.append(self._died(slot, TimeoutError(
                    f"hung: a batch of {len(head.keys)} episode(s) ran past the episode timeout "
                    f"({self.key_timeout_s:.0f} s per episode; --episode-timeout)")))
        return events

    def _died(self, slot: Slot, err: BaseException) -> Event:
        lost = [t for t in slot.inflight if t.kind != "ping"]
        for t in slot.inflight:
            self._by_ref.pop(t.ref, None)
        slot.inflight.clear()
        slot.alive = False
        try:
            self.ray.kill(slot.handle, no_restart=True)
        except Exception:
            pass
        slot.handle = None
        self.last_error = _error_text(err)
        return Event("died", slot.index, lost=lost, error=self.last_error)

    def replace(self, slot_index: int) -> None:
        """Start a new actor in a dead slot; PoolError once the restart budget is spent."""
        slot = self.slots[slot_index]
        self.restarts += 1
        slot.restarts += 1
        if self.restarts > self.max_restarts:
            raise PoolError(f"workers died {self.restarts} times (limit {self.max_restarts}); last error: {self.last_error}")
        self._spawn(slot)

    def call_all(self, kind: str, timeout: float) -> dict[int, Any]:
        """Call a no-argument method on every alive actor and wait (bounded); dead or late ones are skipped."""
        tasks = {s.index: self._submit(s, kind, []) for s in self.slots if s.alive}
        out: dict[int, Any] = {}
        deadline = time.monotonic() + timeout
        for index, task in tasks.items():
            try:
                out[index] = self.ray.get(task.ref, timeout=max(0.0, deadline - time.monotonic()))
                self._finish(task, out[index])
            except Exception:  # dead, or busy past the deadline: what it holds is redone on resume
                pass
        return out


def _error_text(err: BaseException) -> str:
    """The useful line of a Ray error: the innermost exception, not the whole remote traceback."""
    if isinstance(err, TimeoutError):
        return str(err)
    cause = getattr(err, "cause", None)
    if isinstance(cause, BaseException) and not type(cause).__name__.startswith("Ray"):
        return f"{type(cause).__name__}: {cause}".splitlines()[0]
    text = str(err).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error" in ln or "error" in ln:
            return ln.strip()
    return lines[-1].strip() if lines else type(err).__name__


# ---- connecting to Ray ----------------------------------------------------------------------------------
def check_address(address: str, timeout: float = 5.0) -> None:
    """Fail fast on an unreachable Ray address (``ray.init`` itself can wait for minutes)."""
    if address in ("auto", "local"):
        return
    text = address if "://" in address else f"ray://{address}"
    parsed = urlparse(text)
    host, port = parsed.hostname, parsed.port
    if not host:
        raise ValueError(f"Ray address {address!r} is not HOST:PORT or ray://HOST:PORT")
    if port is None:
        port = 10001 if address.startswith("ray://") else 6379
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            speaks_grpc = _answers_http2(sock, timeout)
    except OSError as err:
        raise ConnectionError(f"cannot reach the Ray cluster at {address} ({host}:{port}): {err.strerror or err}; "
                              "check --address / RAY_ADDRESS, or leave it out to run locally") from None
    if not speaks_grpc:  # ray.init would retry such a port for minutes
        raise ConnectionError(f"{address} ({host}:{port}) answers, but it is not a Ray cluster (no gRPC there); "
                              "give the Ray head's GCS address (HOST:6379) or its client address (ray://HOST:10001)")


_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # + empty SETTINGS


def _answers_http2(sock: socket.socket, timeout: float) -> bool:
    """Ray's GCS and client server speak gRPC (HTTP/2): they answer the connection preface with a SETTINGS frame."""
    sock.settimeout(timeout)
    sock.sendall(_HTTP2_PREFACE)
    header = b""
    try:
        while len(header) < 9:
            chunk = sock.recv(9 - len(header))
            if not chunk:
                return False
            header += chunk
    except socket.timeout:
        return False
    return header[3] == 0x04  # frame type SETTINGS


def connect(address: str | None, *, workers: int, quiet: bool = True, timeout: float = 5.0) -> bool:
    """Join ``address`` (or RAY_ADDRESS), or start a local Ray; returns True if this call started/joined Ray
    (and so should shut it down), False if Ray was already initialised in this process.

    A local Ray is started with token authentication on (explicitly: `enable_local_token_auth`), its node address
    on loopback and no dashboard, so nothing on the network can submit work to it. Joining a cluster is only ever
    explicit (``address``), and that cluster's own authentication applies (RAY_AUTH_MODE=token and its token).
    """
    import logging

    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    if not address:
        enable_local_token_auth()
    kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    if address:
        check_address(address, timeout)
        if address.startswith("ray://"):
            kwargs.pop("include_dashboard")
        ray.init(address=address, **kwargs)
    else:
        cpus = max(os.cpu_count() or 1, workers)  # never fewer CPUs than workers: that would wait forever
        # "local": never join a cluster found on this machine
        ray.init(address="local", num_cpus=cpus, _node_ip_address="127.0.0.1", **kwargs)
    return True


def enable_local_token_auth() -> None:
    """Turn on Ray's token authentication for a local cluster, whatever Ray's default; refuse an explicit opt-out.

    Ray reads RAY_AUTH_MODE into its config when it is imported, so after setting it the cached config is refreshed
    (what Ray itself does when it enables token auth by default for local clusters, Ray >= 2.52).
    """
    mode = os.environ.get("RAY_AUTH_MODE")
    if mode is not None and mode.lower() != "token":
        raise ValueError(f"RAY_AUTH_MODE={mode}: flywheel starts local Ray clusters only with token authentication "
                         "(anyone who reaches an open Ray can run code on this machine); unset RAY_AUTH_MODE or set it "
                         "to 'token'")
    if mode is None:
        os.environ["RAY_AUTH_MODE"] = "token"
        if "ray" in sys.modules:
            from ray._raylet import Config

            Config.initialize("")

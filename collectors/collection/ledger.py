"""The episode ledger: everything the collection driver holds about the episodes of a run.

A status byte, a success flag and a length per episode key, a heap of keys to run again and a few
counters; never the episodes themselves, so a run of a million episodes costs a few megabytes here.
Plain Python and numpy (no Ray), shared by `collect` and `replay`.
"""
from __future__ import annotations

import heapq
import math

import numpy as np

from flywheel.collectors.collection import worker

# Status byte per key.
UNKNOWN, DURABLE, FAILED, DROPPED, BUFFERED, CRASHED, INFLIGHT = 0, 1, 2, 3, 4, 5, 6
RESOLVED = (DURABLE, FAILED, DROPPED, BUFFERED, CRASHED)  # outcome known (BUFFERED: not yet on disk)


class EpisodeLedger:
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
            if code == worker.STORED:
                self.status[k] = BUFFERED
                stored += 1
                ok += int(s)
            elif code == worker.FAILED:
                self.status[k] = FAILED
            else:
                self.status[k] = DROPPED
                if code == worker.ERRORED:
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
        return self.count(DURABLE, BUFFERED, DROPPED, CRASHED, FAILED)  # FAILED: a retarget that did not succeed

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

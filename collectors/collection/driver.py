"""The collection driver: keep every Ray actor busy with batches of episode keys, apply their results to the
ledger, and run again what a dead worker lost, until the ledger says the run is finished.

Shared by `collect` and `replay` (they differ only in the worker class and what they do with a result).
The driver knows nothing of episodes' contents: workers write them to staging and report which keys are durable.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from flywheel.collectors.collection import worker
from flywheel.collectors.collection.config import CollectError
from flywheel.collectors.collection.ledger import BUFFERED, DURABLE, EpisodeLedger



def batch_size(ledger: EpisodeLedger, pool, inflight_keys: int) -> int:
    per_episode = ledger.busy_s / ledger.attempted if ledger.attempted else 0.05
    target = int(min(64, max(1, 0.5 / max(per_episode, 1e-4))))  # about half a second of work per batch
    alive = max(1, pool.alive())
    tail = int(math.ceil(ledger.remaining_estimate(inflight_keys) / (alive * pool.depth)))
    return max(1, min(target, tail))


def drive(pool, ledger: EpisodeLedger, progress, callback, on_result: Callable[[dict], None] | None = None,
          postfix: Callable[[], dict] | None = None, seed0: int | None = None) -> None:
    """The driver loop: keep every worker busy, apply results, redo what dead workers lose, until finished."""
    unflushed: dict[int, set[int]] = {s.index: set() for s in pool.slots}
    flushing: set[int] = set()
    while True:
        if ledger.success_only and ledger.attempted >= 200 and ledger.attempt_successes == 0:
            raise CollectError(f"success-only: no success in the first {ledger.attempted} episodes; "
                               "this policy does not solve the task, so the run would never end")
        if ledger.dropped_error > 5 and ledger.dropped_error > 0.05 * ledger.attempted:
            raise CollectError(f"{ledger.dropped_error} of {ledger.attempted} episodes raised an exception "
                               f"(e.g. {ledger.problems[0] if ledger.problems else 'see the worker logs'}); stopping")
        if ledger.finished():
            return
        inflight_keys = sum(len(t.keys) for s in pool.slots for t in s.inflight if t.kind == "run")
        for slot in pool.free_slots():
            allow_fresh = ledger.want_fresh(inflight_keys)
            keys = ledger.take(batch_size(ledger, pool, inflight_keys), allow_fresh=allow_fresh)
            if not keys:
                break
            pool.submit(slot, "run", keys)
            inflight_keys += len(keys)
        # nothing left to run but episodes still buffered in workers: ask those workers to write them
        if ledger.requeue == [] and (ledger.to_dispatch() == 0 or not ledger.want_fresh(inflight_keys)):
            for index, keys in unflushed.items():
                if keys and index not in flushing and pool.slots[index].alive:
                    pool.submit(index, "flush")
                    flushing.add(index)
        if pool.inflight == 0:
            if ledger.finished():
                return
            if ledger.to_dispatch() == 0 and not any(unflushed.values()):
                raise CollectError("internal error: nothing in flight, nothing to run, and the run is not complete")
            continue
        for ev in pool.wait(timeout=0.5):
            slot = pool.slots[ev.slot]
            if ev.kind == "result":
                if ev.task.kind == "run":
                    r = ev.value
                    stored, ok, dropped = ledger.record(r["keys"], r["codes"], r["success"], r["length"])
                    ledger.busy_s += r["busy_s"]
                    st = slot.stats
                    st["attempted"] += len(r["keys"])
                    st["episodes"] += stored
                    st["successes"] += ok
                    st["dropped"] += dropped
                    st["frames"] += int(sum(n for n, c in zip(r["length"], r["codes"]) if c == worker.STORED))
                    st["busy_s"] += r["busy_s"]
                    unflushed[ev.slot].update(k for k, c in zip(r["keys"], r["codes"]) if c == worker.STORED)
                    flushed = r["flushed"]
                    ledger.problems.extend(r.get("problems", [])[: max(0, 5 - len(ledger.problems))])
                    if on_result is not None:
                        on_result(r)
                else:  # flush
                    flushing.discard(ev.slot)
                    flushed = ev.value
                ledger.durable(flushed)
                unflushed[ev.slot].difference_update(flushed)
            else:  # the actor died: run again what it had in flight and what it had not written
                flushing.discard(ev.slot)
                runs = [t for t in ev.lost if t.kind == "run"]
                if runs and len(runs[0].keys) == 1 and ledger.crashed(runs[0].keys[0]) and len(ledger.problems) < 5:
                    key = runs[0].keys[0]
                    seed = f" (seed {seed0 + key})" if seed0 is not None else ""
                    ledger.problems.append(f"episode {key}{seed} killed or hung its worker twice, dropped: {ev.error}")
                for t in runs:
                    ledger.put_back(t.keys, suspect=True)
                ledger.put_back(sorted(unflushed[ev.slot]), suspect=False)
                unflushed[ev.slot].clear()
                pool.replace(ev.slot)
        done = ledger.done_count()
        stored = ledger.count(DURABLE, BUFFERED)
        progress.update(done, success_rate=None if ledger.success_only else ledger.stored_successes() / max(stored, 1),
                        yield_rate=ledger.attempt_successes / max(ledger.attempted, 1) if ledger.success_only else None,
                        alive=pool.alive(), restarts=pool.restarts,
                        dropped=ledger.dropped_nonfinite + ledger.dropped_crash + ledger.dropped_error,
                        **(postfix() if postfix is not None else {}))
        if callback is not None:
            callback({"done": ledger.done_count(), "requested": ledger.n, "attempted": ledger.attempted,
                      "durable": ledger.count(DURABLE), "pids": pool.pids(), "restarts": pool.restarts,
                      "alive": pool.alive()})


def flush_workers(pool, ledger: EpisodeLedger) -> None:
    """Ctrl-C or an error: let every worker write what it holds (bounded wait), so little is lost."""
    try:
        results = pool.call_all("flush", timeout=15)
    except BaseException:  # a second Ctrl-C: give up flushing; the staging area is still consistent
        return
    for keys in results.values():
        ledger.durable(keys, also_inflight=True)  # written, even if the batch's own answer was never read


def worker_figures(pool) -> list[dict[str, Any]]:
    if pool is None:
        return []
    out = []
    for s in pool.slots:
        st = dict(s.stats)
        busy = st.get("busy_s", 0.0)
        out.append({"name": s.name, "host": s.host, "node_id": s.node_id, "pids": list(s.pids), "restarts": s.restarts,
                    "episodes": int(st["episodes"]), "attempted": int(st["attempted"]),
                    "successes": int(st["successes"]), "dropped": int(st["dropped"]), "frames": int(st["frames"]),
                    "busy_s": round(busy, 3), "episodes_per_busy_s": round(st["attempted"] / busy, 2) if busy else None})
    return out



"""The retargeting worker: one Ray actor with a target env, the source dataset open, and a staging writer.

Key ``k`` of a run is (source episode, seed) from the driver's plan, so a retried or resumed key is the same episode
(exactly-once by construction, as in `collect`). Successful episodes are staged; failed ones are not written, and
the driver is told why each failed (the follower's first problem). Plain Python: `retarget` wraps it with Ray.
"""
from __future__ import annotations

import time
from typing import Any

from flywheel.collectors.collection import worker


class RetargetWorker(worker._EnvWorker):
    """Runs keys of a retarget plan and stages the successful episodes under ``root``."""

    def __init__(self, name: str, root: str, cfg: dict[str, Any], source: str, mapping: str | None,
                 source_episodes: list[int], seeds: list[int], *, episodes_per_file: int = 16,
                 flush_interval_s: float = 30.0):
        from flywheel.collectors.collection.retarget_source import Source
        from flywheel.collectors.policies.segment_follower import SegmentFollower
        from flywheel.datasets import StagingWriter

        super().__init__(name, cfg)
        self.source = Source(source, mapping)
        self.follower = SegmentFollower(self.env)
        self.source_episodes, self.seeds = list(source_episodes), list(seeds)
        self.flush_interval_s = float(flush_interval_s)
        self.writer = StagingWriter(root, worker=name, episodes_per_file=episodes_per_file)
        self._segments: dict[int, list] = {}
        self._unflushed: list[int] = []
        self._oldest_unflushed = 0.0

    def _segments_of(self, i: int) -> list:
        if i not in self._segments:
            self._segments[i] = self.source.segments(i)
        return self._segments[i]

    def run(self, keys: list[int]) -> dict[str, Any]:
        """Retarget the episodes ``keys``; per key an outcome code, and for failures the reason."""
        t0 = time.perf_counter()
        out_keys, codes, successes, lengths, flushed = [], [], [], [], []
        reasons: dict[int, str] = {}
        problems: list[str] = []
        for key in keys:
            key = int(key)
            i, seed = self.source_episodes[key], self.seeds[key]
            out_keys.append(key)
            try:
                self.follower.load(self._segments_of(i))
                ep = self.recorder.run(self.follower, seed)
            except Exception as err:  # one bad episode must not end the run; the driver stops if it is every one
                successes.append(False)
                lengths.append(0)
                codes.append(worker.ERRORED)
                reasons[key] = "error"
                if len(problems) < 3:
                    text = f"{type(err).__name__}: {err}".splitlines()[0]
                    problems.append(f"source episode {i} (seed {seed}) raised {text}")
                continue
            successes.append(bool(ep.success))
            lengths.append(int(ep.length))
            if not ep.finite:
                codes.append(worker.DROPPED)
                reasons[key] = "non-finite"
                continue
            if not ep.success:
                codes.append(worker.FAILED)
                reasons[key] = self.follower.failure()
                continue
            self.writer.add_episode(key, ep.frames, seed=ep.seed, success=True, policy=self.follower.name,
                                    terminated=ep.terminated, truncated=ep.truncated)
            codes.append(worker.STORED)
            if not self._unflushed:
                self._oldest_unflushed = time.monotonic()
            self._unflushed.append(key)
            if self.writer.buffered == 0:
                flushed.extend(self._unflushed)
                self._unflushed.clear()
        if self._unflushed and time.monotonic() - self._oldest_unflushed > self.flush_interval_s:
            flushed.extend(self.flush())
        return {"keys": out_keys, "codes": codes, "success": successes, "length": lengths, "flushed": flushed,
                "busy_s": time.perf_counter() - t0, "problems": problems, "reasons": reasons}

    def flush(self) -> list[int]:
        self.writer.flush()
        done, self._unflushed = self._unflushed, []
        return done

    def close(self) -> list[int]:
        done = self.flush()
        self.writer.close()
        self.source.close()
        self.env.close()
        return done

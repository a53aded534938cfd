"""The live progress bar of `flywheel collect` and `flywheel replay` (tqdm, on stderr).

Shows done/N, episodes/s, ETA (tqdm's own), success rate, workers alive and restarts. With ``quiet``
nothing is printed. The bar may move backwards: episodes a dead worker had not yet written are redone.
"""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, *, initial: int = 0, quiet: bool = False, desc: str = "collect", unit: str = "ep"):
        self.quiet = quiet
        self.total = total
        self.n = initial
        self._bar = None
        self._last = 0.0
        if not quiet:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True, file=sys.stderr,
                             smoothing=0.1, mininterval=0.5)

    def update(self, done: int, *, success_rate: float | None = None, yield_rate: float | None = None,
               alive: int | None = None, restarts: int | None = None, dropped: int | None = None,
               mismatches: int | None = None) -> None:
        self.n = done
        if self._bar is None:
            return
        delta = done - self._bar.n
        if delta >= 0:
            self._bar.update(delta)
        else:  # episodes a dead worker had not written are redone
            self._bar.n = done
        now = time.monotonic()
        if now - self._last < 0.5 and done < self.total:
            return
        self._last = now
        post = {}
        if success_rate is not None:
            post["success"] = f"{success_rate:.0%}"
        if yield_rate is not None:
            post["yield"] = f"{yield_rate:.0%}"
        if alive is not None:
            post["workers"] = alive
        if restarts is not None:
            post["restarts"] = restarts
        if dropped:
            post["dropped"] = dropped
        if mismatches is not None:
            post["mismatches"] = mismatches
        self._bar.set_postfix(post, refresh=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

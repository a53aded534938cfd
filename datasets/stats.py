"""Feature statistics: per episode exactly, over the dataset by merging, in flat memory.

What LeRobot reads from ``meta/stats.json``: for every feature ``min``, ``max``, ``mean``, ``std``,
``count`` and the quantiles ``q01 q10 q50 q90 q99``; vectors per dimension, images per channel with
shape (C, 1, 1) scaled to [0, 1].

How they are merged without ever holding the dataset:

- min/max/mean/std: each episode contributes (count, mean, M2) per dimension, merged with Chan's
  parallel formula (weighted by count, in float64), exactly equal to computing over all frames.
- quantiles of numeric features: one fixed-edge histogram per dimension (``BINS`` bins between the
  dataset's min and max, which the finaliser knows from the staging footers before it streams the
  data). Memory is ``BINS x dims`` counters whatever the number of frames; the error is below one bin
  width (range / BINS).
- quantiles of images: 256-bin histograms per channel, which are exact for uint8 pixels; the writer
  computes them while it still holds the raw pixels, so the finaliser never decodes a PNG.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .schema import QUANTILE_KEYS, QUANTILES

BINS = 5000


def episode_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """Exact statistics of one episode's numeric feature, ``values`` shaped (T, D)."""
    x = np.asarray(values, dtype=np.float64)
    out = {
        "min": x.min(axis=0),
        "max": x.max(axis=0),
        "mean": x.mean(axis=0),
        "std": x.std(axis=0),
        "count": np.array([x.shape[0]], dtype=np.int64),
    }
    qs = np.quantile(x, QUANTILES, axis=0)
    for key, row in zip(QUANTILE_KEYS, qs):
        out[key] = row
    return out


def image_stats(hist: Sequence[Sequence[int]], frames: int) -> dict[str, np.ndarray]:
    """Statistics of an image feature from per-channel 256-bin pixel histograms, scaled to [0, 1].

    Non-count values have shape (C, 1, 1), as LeRobot's image stats; ``count`` is the number of frames.
    """
    h = np.asarray(hist, dtype=np.float64)  # (C, 256)
    values = np.arange(256, dtype=np.float64)
    n = h.sum(axis=1)
    safe_n = np.where(n > 0, n, 1)
    mean = (h * values).sum(axis=1) / safe_n
    var = (h * (values - mean[:, None]) ** 2).sum(axis=1) / safe_n
    nz = h > 0
    lo = np.where(nz.any(axis=1), nz.argmax(axis=1), 0).astype(np.float64)
    hi = np.where(nz.any(axis=1), 255 - nz[:, ::-1].argmax(axis=1), 0).astype(np.float64)
    cum = np.cumsum(h, axis=1)
    out = {"min": lo, "max": hi, "mean": mean, "std": np.sqrt(var)}
    for key, q in zip(QUANTILE_KEYS, QUANTILES):
        out[key] = np.array([float(np.searchsorted(cum[c], q * n[c], side="left")) for c in range(h.shape[0])])
    out = {k: (v / 255.0).reshape(-1, 1, 1) for k, v in out.items()}
    out["count"] = np.array([int(frames)], dtype=np.int64)
    return out


class NumericAccumulator:
    """Dataset statistics of one numeric feature with D dimensions, fed one episode at a time."""

    def __init__(self, lo: Sequence[float | None], hi: Sequence[float | None], bins: int = BINS):
        lo_a = np.array([np.nan if v is None else v for v in lo], dtype=np.float64)
        hi_a = np.array([np.nan if v is None else v for v in hi], dtype=np.float64)
        ok = np.isfinite(lo_a) & np.isfinite(hi_a)
        self.lo = np.where(ok, lo_a, 0.0)
        self.width = np.where(ok, np.maximum(hi_a - lo_a, 0.0), 0.0)
        self.bins = bins
        d = len(self.lo)
        self.hist = np.zeros((d, bins), dtype=np.int64)
        self.n = 0
        self.mean = np.zeros(d)
        self.m2 = np.zeros(d)
        self.min = np.full(d, np.inf)
        self.max = np.full(d, -np.inf)
        # Bin indices of the last few episodes, counted in one bincount once they reach a quarter of the
        # histogram's size: one bincount per tiny episode would cost a pass over all d x bins counters.
        self._pending: list[np.ndarray] = []
        self._pending_n = 0

    def add(self, values: np.ndarray, ep: dict[str, np.ndarray]) -> None:
        """Fold in one episode: its raw values (T, D) for the histogram, its ``episode_stats`` for the rest."""
        x = np.asarray(values, dtype=np.float64)
        t, d = x.shape
        # Chan et al.: merge (n_a, mean_a, M2_a) with (n_b, mean_b, M2_b).
        n_b, mean_b, m2_b = t, ep["mean"], ep["std"] ** 2 * t
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta**2 * (self.n * n_b / n)
        self.n = n
        self.min = np.fmin(self.min, ep["min"])  # fmin/fmax skip NaN; validation reports NaN itself
        self.max = np.fmax(self.max, ep["max"])
        finite = np.isfinite(x)
        scale = np.divide(self.bins, self.width, out=np.zeros_like(self.width), where=self.width > 0)
        idx = np.floor((np.where(finite, x, 0.0) - self.lo) * scale)
        idx = np.clip(np.nan_to_num(idx), 0, self.bins - 1).astype(np.int64)
        flat = (idx + np.arange(d, dtype=np.int64) * self.bins)[finite]
        self._pending.append(flat)
        self._pending_n += flat.size
        if self._pending_n >= max(self.hist.size // 4, 1 << 16):
            self._count_pending()

    def _count_pending(self) -> None:
        if self._pending:
            flat = np.concatenate(self._pending)
            self.hist += np.bincount(flat, minlength=self.hist.size).reshape(self.hist.shape)
            self._pending.clear()
            self._pending_n = 0

    def result(self) -> dict[str, np.ndarray]:
        self._count_pending()
        out = {
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "std": np.sqrt(np.maximum(self.m2 / max(self.n, 1), 0.0)),
            "count": np.array([self.n], dtype=np.int64),
        }
        cum = np.cumsum(self.hist, axis=1)
        total = cum[:, -1]
        for key, q in zip(QUANTILE_KEYS, QUANTILES):
            vals = np.empty(len(self.lo))
            for j in range(len(self.lo)):
                vals[j] = self._quantile(j, cum[j], total[j], q)
            out[key] = vals
        return out

    def _quantile(self, j: int, cum: np.ndarray, total: int, q: float) -> float:
        if total == 0:
            return float("nan")
        if self.width[j] == 0:
            return float(self.lo[j])
        target = q * total
        i = int(np.searchsorted(cum, target, side="left"))
        i = min(i, self.bins - 1)
        before = cum[i - 1] if i > 0 else 0
        in_bin = cum[i] - before
        frac = (target - before) / in_bin if in_bin > 0 else 0.0
        value = self.lo[j] + (i + frac) * self.width[j] / self.bins
        return float(min(max(value, self.min[j]), self.max[j]))


class ImageAccumulator:
    """Dataset statistics of one image feature: summed per-channel pixel histograms (exact)."""

    def __init__(self, channels: int):
        self.hist = np.zeros((channels, 256), dtype=np.int64)
        self.frames = 0

    def add(self, hist: Sequence[Sequence[int]], frames: int) -> None:
        self.hist += np.asarray(hist, dtype=np.int64)
        self.frames += int(frames)

    def result(self) -> dict[str, np.ndarray]:
        return image_stats(self.hist, self.frames)


def to_json(stats: dict[str, np.ndarray]) -> dict[str, Any]:
    """numpy arrays -> nested lists (LeRobot's stats.json layout)."""
    return {k: np.asarray(v).tolist() for k, v in stats.items()}

"""Mixing datasets of different robots on the features they share: the canonical end-effector space.

``observation.ee``, ``observation.ee_mask`` and ``action.ee`` have the same shape and meaning on every
robot, so frames from an arm and a humanoid can go into one batch. The sampler picks a dataset by
weight, then a frame uniformly within it, and reads whole episodes through a small cache, so memory
stays bounded by ``cache_episodes`` episodes whatever the datasets' size.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterator, Sequence

import numpy as np

from .reader import Dataset
from .schema import CANONICAL_KEYS


class MixSampler:
    """Weighted random frames from several datasets, restricted to shared ``features``."""

    def __init__(
        self,
        datasets: Sequence[Dataset],
        weights: Sequence[float] | None = None,
        *,
        features: Sequence[str] = CANONICAL_KEYS,
        seed: int | None = 0,
        cache_episodes: int = 8,
    ):
        if not datasets:
            raise ValueError("mix needs at least one dataset")
        self.datasets = list(datasets)
        self.features = list(features)
        if weights is None:
            weights = [1.0] * len(self.datasets)
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(self.datasets),) or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise ValueError(f"weights must be {len(self.datasets)} non-negative numbers with a positive sum, got {list(weights)}")
        self.weights = w / w.sum()
        ref = self.datasets[0]
        for ds in self.datasets:
            if len(ds) == 0:
                raise ValueError(f"{ds.root}: no episodes to sample from (empty after filtering?)")
            for f in self.features:
                if f not in ds.features:
                    raise ValueError(f"{ds.root}: feature {f!r} is missing; mixing needs it in every dataset")
                a, b = ref.features[f], ds.features[f]
                if (a["dtype"], list(a["shape"])) != (b["dtype"], list(b["shape"])):
                    raise ValueError(
                        f"{ds.root}: feature {f!r} is {b['dtype']}{list(b['shape'])}, but {ref.root} has {a['dtype']}{list(a['shape'])}"
                    )
        self._starts = []
        self._episode_index = []  # numpy, not a list per sample: O(1) per draw on datasets of any size
        for ds in self.datasets:
            lengths = ds.episodes.column("length").to_numpy()
            self._starts.append(np.concatenate([[0], np.cumsum(lengths)]))
            self._episode_index.append(np.asarray(ds.episode_indices, dtype=np.int64))
        self.rng = np.random.default_rng(seed)
        self._cache: OrderedDict[tuple[int, int], dict[str, np.ndarray]] = OrderedDict()
        self._cache_size = max(1, cache_episodes)

    def _episode(self, d: int, ep_index: int) -> dict[str, np.ndarray]:
        key = (d, ep_index)
        ep = self._cache.pop(key, None)
        if ep is None:
            ep = self.datasets[d].episode(ep_index, self.features)
        self._cache[key] = ep
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return ep

    def sample(self, batch_size: int) -> dict[str, np.ndarray]:
        """A batch: each feature stacked (B, ...), plus ``dataset``, ``episode_index``, ``frame_index`` (B,)."""
        ds_idx = self.rng.choice(len(self.datasets), size=batch_size, p=self.weights)
        picks = []
        for d in ds_idx:
            starts = self._starts[d]
            r = int(self.rng.integers(starts[-1]))
            row = int(np.searchsorted(starts, r, side="right") - 1)
            picks.append((int(d), int(self._episode_index[d][row]), r - int(starts[row])))
        out: dict[str, list[Any]] = {f: [] for f in self.features}
        for d, ep_index, t in picks:
            ep = self._episode(d, ep_index)
            for f in self.features:
                out[f].append(ep[f][t])
        batch = {f: np.stack(v) for f, v in out.items()}
        batch["dataset"] = np.array([p[0] for p in picks], dtype=np.int64)
        batch["episode_index"] = np.array([p[1] for p in picks], dtype=np.int64)
        batch["frame_index"] = np.array([p[2] for p in picks], dtype=np.int64)
        return batch

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        """Endless single frames (use ``itertools.islice`` or ``sample`` for batches)."""
        while True:
            b = self.sample(1)
            yield {k: v[0] for k, v in b.items()}


def mix(
    datasets: Sequence[Dataset],
    weights: Sequence[float] | None = None,
    *,
    features: Sequence[str] = CANONICAL_KEYS,
    seed: int | None = 0,
) -> MixSampler:
    """A sampler over ``datasets`` (e.g. of different robots) on shared ``features`` (canonical by default).

    ``weights`` are the probabilities of drawing from each dataset (equal when omitted).
    """
    return MixSampler(datasets, weights, features=features, seed=seed)

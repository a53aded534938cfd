"""Export to Minari (Farama's offline-RL format), readable by ``minari.load_dataset``.

Written through Minari's own storage API (``MinariStorage.new`` + ``update_episodes``), so the files
are exactly what the installed Minari writes and reads, and ``minari_version`` is the installed
version (always in its ``supported_dataset_versions``). Layout: ``OUT/<dataset_id>/data/`` with
``metadata.json`` and ``main_data.hdf5``; point ``MINARI_DATASETS_PATH`` at ``OUT`` to load it.

Minari stores T+1 observations per episode (the one after the last action too). A LeRobot frame holds
the observation *before* its action, so the final observation is not in the source dataset: the
export repeats the last one and says so in the dataset description. Observations become a ``Dict``
space keyed by the feature name without ``observation.`` (``state``, ``ee``, ``images.wrist``, ...);
actions are ``action`` (native joints) or, with ``action_key="action.ee"``, the canonical EE actions.
Episodes are written one at a time, so memory stays flat.
"""
from __future__ import annotations

import inspect
import os
import re
from pathlib import Path

import numpy as np

from .reader import Dataset
from .reader import open as open_dataset


class OptionalDependencyError(ImportError):
    """An exporter's optional dependency is not installed."""


def _minari():
    try:
        import gymnasium as gym
        import minari
        from minari.data_collector import EpisodeBuffer
        from minari.dataset.minari_storage import MinariStorage
    except ImportError as err:
        raise OptionalDependencyError(
            f"the minari export needs the 'minari' package (and h5py): pip install 'flywheel[minari]' ({err})"
        ) from None
    return gym, minari, EpisodeBuffer, MinariStorage


def default_dataset_id(ds: Dataset) -> str:
    """``flywheel/<robot>-<task>-v0`` with the names reduced to Minari's allowed characters."""
    def clean(s: str) -> str:
        return re.sub(r"[^A-Za-z0-9_]+", "_", s).strip("_") or "x"
    return f"flywheel/{clean(ds.robot_type or 'robot')}-{clean(ds.task or 'task')}-v0"


def _space(gym, ft):
    if ft["dtype"] == "image":
        return gym.spaces.Box(0, 255, shape=tuple(ft["shape"]), dtype=np.uint8)
    shape = tuple(ft["shape"])
    return gym.spaces.Box(-np.inf, np.inf, shape=shape, dtype=np.dtype(ft["dtype"]) if ft["dtype"] != "bool" else np.float32)


def export_minari(
    source: str | os.PathLike | Dataset,
    out_dir: str | os.PathLike,
    *,
    dataset_id: str | None = None,
    action_key: str = "action",
    images: bool = True,
) -> Path:
    """Write ``source`` as a Minari dataset under ``out_dir``; returns the dataset's folder.

    Load it with ``MINARI_DATASETS_PATH=out_dir`` and ``minari.load_dataset(dataset_id)``.
    """
    gym, minari, EpisodeBuffer, MinariStorage = _minari()
    ds = source if isinstance(source, Dataset) else open_dataset(source)
    dataset_id = dataset_id or default_dataset_id(ds)
    from minari.dataset.minari_dataset import parse_dataset_id

    parse_dataset_id(dataset_id)  # ValueError with Minari's explanation if malformed
    if action_key not in ds.features or not action_key.startswith("action"):
        raise ValueError(f"action_key {action_key!r} is not an action feature of {ds.root}")
    obs_keys = [k for k in ds.features if k.startswith("observation.") and (images or ds.features[k]["dtype"] != "image")]
    obs_space = gym.spaces.Dict({k[len("observation."):]: _space(gym, ds.features[k]) for k in obs_keys})
    act_space = _space(gym, ds.features[action_key])

    folder = Path(out_dir) / dataset_id
    data_path = folder / "data"
    if folder.exists():
        raise ValueError(f"{folder} already exists; choose another --out or dataset id")
    data_path.mkdir(parents=True)
    kwargs = {"data_format": "hdf5"}
    if "jpeg_encoding" in inspect.signature(MinariStorage.new).parameters:
        kwargs["jpeg_encoding"] = False  # keep pixels lossless, as in the source PNGs
    storage = MinariStorage.new(data_path, observation_space=obs_space, action_space=act_space, **kwargs)

    columns = obs_keys + [action_key, "next.reward", "next.done", "next.truncated"]
    seeds = ds.episodes.column("seed").to_pylist() if "seed" in ds.episodes.column_names else [None] * len(ds)
    for seed, ep in zip(seeds, ds.iter_episodes(columns)):
        obs = {}
        for k in obs_keys:
            name = k[len("observation."):]
            obs[name] = np.concatenate([ep[k], ep[k][-1:]], axis=0).astype(obs_space[name].dtype, copy=False)
        truncations = ep["next.truncated"].astype(bool)
        terminations = ep["next.done"].astype(bool) & ~truncations
        storage.update_episodes([
            EpisodeBuffer(
                seed=None if seed is None else int(seed),
                observations=obs,
                actions=ep[action_key].astype(act_space.dtype),
                rewards=ep["next.reward"].astype(np.float64),
                terminations=terminations,
                truncations=truncations,
            )
        ])
    meta_cols = [c for c in ("success", "policy", "uuid", "worker") if c in ds.episodes.column_names]
    if meta_cols:
        rows = ds.episodes.select(meta_cols).to_pylist()
        storage.update_episode_metadata(rows, episode_indices=range(len(rows)))
    storage.update_metadata({
        "dataset_id": dataset_id,
        "minari_version": minari.__version__,
        "algorithm_name": ",".join(sorted(set(ds.episodes.column("policy").to_pylist()))) if "policy" in ds.episodes.column_names else "unknown",
        "author": {"flywheel"},
        "description": (
            f"Exported by flywheel from {ds.root} (LeRobot v3.0; robot {ds.robot_type}, task {ds.task!r}, "
            f"fps {ds.fps}). The last of the T+1 observations of each episode repeats observation T-1, "
            "which the source dataset does not store."
        ),
    })
    return folder

"""Export to robomimic's HDF5 layout (optional extra: h5py).

Layout (robomimic's documented dataset structure)::

    data                       attrs: total (frames), env_args (JSON: env_name (the Gymnasium id), type, env_kwargs)
    data/demo_<i>              attrs: num_samples, seed, success
    data/demo_<i>/obs/<key>    (T, ...)  observations; images as uint8 (T, H, W, C)
    data/demo_<i>/next_obs/<key>  (T, ...) the following observation (last one repeated)
    data/demo_<i>/actions      (T, A)
    data/demo_<i>/rewards      (T,)
    data/demo_<i>/dones        (T,)  1 on the step that ends the episode
    data/demo_<i>/states       (T, S) ``observation.environment_state`` (format 1: ``observation.env_state``) when present
    mask/successful            names of the successful demos (a robomimic filter key)
    mask/train, mask/valid     a seeded split by demo (``split.split_indices``; ``val_fraction``), the filter keys
                               robomimic's training uses for its train and validation sets

``env_name`` is the Gymnasium id of the dataset's task with its robot, control mode and cameras as
``env_kwargs`` (``export_minari.env_spec_for``), so ``gym.make(env_name, **env_kwargs)`` makes it (robomimic's
``EnvGym``); a dataset with no registered task keeps its task string. Observation keys are the feature names without ``observation.`` and with ``.`` as ``_``; images are
renamed ``<camera>_image`` because robomimic configs select image modalities by key. ``type`` in
env_args is robomimic's ``EnvType.GYM_TYPE`` (2). Episodes are written one at a time.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .export_minari import OptionalDependencyError, env_spec_for
from .reader import Dataset
from .reader import open as open_dataset
from .split import split_indices

GYM_ENV_TYPE = 2  # robomimic.envs.env_base.EnvType.GYM_TYPE


def _h5py():
    try:
        import h5py
    except ImportError:
        raise OptionalDependencyError("the robomimic export needs h5py: pip install 'flywheel[robomimic]'") from None
    return h5py


def obs_key(feature: str) -> str:
    """robomimic observation key for a flywheel feature name."""
    name = feature[len("observation."):]
    if name.startswith("images."):
        return name[len("images."):].replace(".", "_") + "_image"
    return name.replace(".", "_")


def export_robomimic(
    source: str | os.PathLike | Dataset,
    out: str | os.PathLike,
    *,
    action_key: str = "action",
    images: bool = True,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> Path:
    """Write ``source`` as a robomimic HDF5 file; ``out`` is a folder (file ``<robot>.hdf5`` inside) or a ``.hdf5`` path."""
    h5py = _h5py()
    ds = source if isinstance(source, Dataset) else open_dataset(source)
    if action_key not in ds.features:
        raise ValueError(f"action_key {action_key!r} is not a feature of {ds.root}")
    out = Path(out)
    path = out if out.suffix in (".hdf5", ".h5") else out / f"{ds.robot_type or 'dataset'}.hdf5"
    if path.exists():
        raise ValueError(f"{path} already exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    obs_features = [k for k in ds.features if k.startswith("observation.") and (images or ds.features[k]["dtype"] != "image")]
    columns = obs_features + [action_key, "next.reward", "next.done"]
    ep_table = ds.episodes
    seeds = ep_table.column("seed").to_pylist() if "seed" in ep_table.column_names else [None] * len(ds)
    success = ep_table.column("success").to_pylist() if "success" in ep_table.column_names else [False] * len(ds)
    tmp = path.with_name(path.name + ".partial")
    total, successful = 0, []
    with h5py.File(tmp, "w") as f:
        data = f.create_group("data")
        for n, ep in enumerate(ds.iter_episodes(columns)):
            name = f"demo_{n}"
            g = data.create_group(name)
            t = len(ep["next.reward"])
            for k in obs_features:
                key = obs_key(k)
                g.create_dataset(f"obs/{key}", data=ep[k], compression="gzip" if ds.features[k]["dtype"] == "image" else None)
                nxt = np.concatenate([ep[k][1:], ep[k][-1:]], axis=0)
                g.create_dataset(f"next_obs/{key}", data=nxt, compression="gzip" if ds.features[k]["dtype"] == "image" else None)
            g.create_dataset("actions", data=ep[action_key].astype(np.float64))
            g.create_dataset("rewards", data=ep["next.reward"].astype(np.float64))
            g.create_dataset("dones", data=ep["next.done"].astype(np.int64))
            state_key = next((k for k in ("observation.environment_state", "observation.env_state") if k in ep), None)
            if state_key is not None:
                g.create_dataset("states", data=ep[state_key].astype(np.float64))
            g.attrs["num_samples"] = t
            if seeds[n] is not None:
                g.attrs["seed"] = int(seeds[n])
            g.attrs["success"] = bool(success[n])
            if success[n]:
                successful.append(name)
            total += t
        data.attrs["total"] = total
        spec, _ = env_spec_for(ds, images=images)
        kwargs = dict(spec.kwargs) if spec is not None else {"robot": ds.robot_type, "task": ds.task}
        data.attrs["env_args"] = json.dumps({
            "env_name": spec.id if spec is not None else (ds.task or "flywheel"),
            "type": GYM_ENV_TYPE,
            "env_kwargs": kwargs,
        })
        f.create_dataset("mask/successful", data=np.array(successful, dtype="S"))
        train, valid = split_indices(len(ds), val_fraction, seed) if len(ds) >= 2 else (np.arange(len(ds)), np.arange(0))
        f.create_dataset("mask/train", data=np.array([f"demo_{i}" for i in train], dtype="S"))
        f.create_dataset("mask/valid", data=np.array([f"demo_{i}" for i in valid], dtype="S"))
    os.replace(tmp, path)
    return path

"""Export to Minari (Farama's offline-RL format), readable by ``minari.load_dataset``, with the environment.

Written through Minari's public API, ``minari.create_dataset_from_buffers``, fed one episode at a time (it
takes any iterable of ``EpisodeBuffer``), so memory stays flat and the files are exactly what the installed
Minari writes. Layout: ``OUT/<dataset_id>/data/`` with ``metadata.json`` and ``main_data.hdf5``; point
``MINARI_DATASETS_PATH`` at ``OUT`` to load it.

The environment: a flywheel dataset knows its task (``meta/flywheel.json``), whose Gymnasium id
(``flywheel/Reach-v0``, ...) ``import flywheel`` registers, and the robot, control mode and cameras it was
collected with. The export stores that ``EnvSpec`` (id plus those kwargs), so ``recover_environment()`` makes
the very environment, and Minari takes the observation and action spaces from it (it makes the environment
once, through Gymnasium's registry: this module imports no simulator); observations are then stored as that
environment returns them: a ``Dict`` of float64 vectors keyed ``state``, ``ee``, ..., the cameras nested under
``images``. Without an environment (``env=False``, a dataset LeRobot wrote, or canonical ``action.ee`` actions,
which no environment takes) the spaces are rebuilt from the features the same way, with unbounded actions,
and no ``env_spec`` is stored.

Minari stores T+1 observations per episode (the one after the last action too). A LeRobot frame holds the
observation *before* its action, so the final observation is not in the source dataset: the export repeats
the last one and says so in the description. ``infos`` carries ``is_success`` per step (T+1, the first False).
"""
from __future__ import annotations

import dataclasses
import os
import re
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from flywheel.canonical import ENV_STATE_KEY, ENV_STATE_OBS, GOAL_OBS

from .reader import Dataset
from .reader import open as open_dataset
from .schema import EE_MASK_KEY

IMAGE_PREFIX = "observation.images."


class OptionalDependencyError(ImportError):
    """An exporter's optional dependency is not installed."""


def _minari():
    try:
        import gymnasium as gym
        import minari
        from minari.data_collector import EpisodeBuffer
    except ImportError as err:
        raise OptionalDependencyError(
            f"the minari export needs the 'minari' package (and h5py): pip install 'flywheel[minari]' ({err})"
        ) from None
    return gym, minari, EpisodeBuffer


def default_dataset_id(ds: Dataset) -> str:
    """``flywheel/<robot>-<task>-v0`` with the names reduced to Minari's allowed characters."""
    def clean(s: str) -> str:
        return re.sub(r"[^A-Za-z0-9_]+", "_", s).strip("_") or "x"
    return f"flywheel/{clean(ds.robot_type or 'robot')}-{clean(ds.task or 'task')}-v0"


def env_spec_for(ds: Dataset, *, images: bool = True, action_key: str = "action"):
    """The Gymnasium ``EnvSpec`` the dataset was collected in (id and kwargs from ``meta/flywheel.json``), or None
    with the reason when there is none: not a flywheel dataset, a task no Gymnasium id is registered for, or
    canonical actions."""
    import gymnasium as gym

    import flywheel  # noqa: F401 - registers the flywheel/... ids (no simulator is loaded)

    meta = ds.flywheel if isinstance(ds.flywheel, dict) else {}
    task = (meta.get("task") or {}).get("name") if isinstance(meta.get("task"), dict) else None
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    if action_key != "action":
        return None, f"{action_key} actions belong to no environment's action space"
    if not task:
        return None, "meta/flywheel.json names no task (not collected by flywheel)"
    specs = [s for s in gym.registry.values() if (s.kwargs or {}).get("task") == task and s.id.startswith("flywheel/")]
    if not specs:
        return None, f"no Gymnasium id is registered for task {task!r}"
    kwargs = dict(specs[0].kwargs)
    kwargs["robot"] = config.get("robot") or (meta.get("robot") or {}).get("name") or ds.robot_type
    if config.get("control_mode"):
        kwargs["control_mode"] = config["control_mode"]
    cameras = [k[len(IMAGE_PREFIX):] for k in ds.features if k.startswith(IMAGE_PREFIX)]
    if images and cameras:
        kwargs["camera"] = cameras
    steps = config.get("max_steps") or specs[0].max_episode_steps
    return dataclasses.replace(specs[0], kwargs=kwargs, max_episode_steps=steps), None


def feature_spaces(gym, ds: Dataset, obs_keys: list[str], action_key: str):
    """Observation and action spaces rebuilt from the features, shaped as flywheel's environments make them."""
    def box(ft, name=""):
        if name == EE_MASK_KEY:
            return gym.spaces.Box(0.0, 1.0, shape=tuple(ft["shape"]), dtype=np.float64)
        if ft["dtype"] == "image":
            return gym.spaces.Box(0, 255, shape=tuple(ft["shape"]), dtype=np.uint8)
        return gym.spaces.Box(-np.inf, np.inf, shape=tuple(ft["shape"]), dtype=np.float64)

    spaces: dict[str, Any] = {}
    cams = {}
    for k in obs_keys:
        if k.startswith(IMAGE_PREFIX):
            cams[k[len(IMAGE_PREFIX):]] = box(ds.features[k])
        else:
            spaces[k[len("observation."):]] = box(ds.features[k], k)
    if cams:
        spaces["images"] = gym.spaces.Dict(cams)
    return gym.spaces.Dict(spaces), box(ds.features[action_key])


def _observations(ep: dict[str, np.ndarray], space, features) -> dict[str, Any]:
    """One episode's T+1 observations laid out as ``space`` (a Dict, cameras nested under ``images``), in its dtypes."""
    def plus_last(values: np.ndarray, sub) -> np.ndarray:
        return np.concatenate([values, values[-1:]], axis=0).astype(sub.dtype, copy=False)

    out: dict[str, Any] = {}
    for key, sub in space.spaces.items():
        if key == "images":
            out[key] = {c: plus_last(ep[IMAGE_PREFIX + c], box) for c, box in sub.spaces.items()}
        else:
            feature, part = _source(key, space, features)
            out[key] = plus_last(ep[feature][:, part], sub)
    return out


def _source(key: str, space, features) -> tuple[str, slice]:
    """Where an env observation entry is stored: its own ``observation.<key>`` feature, or, for the objects' state and
    the goal, their slice of ``observation.environment_state`` (objects first, then the goal, as LeRobot reads it)."""
    if f"observation.{key}" in features or key not in (ENV_STATE_OBS, GOAL_OBS):
        return f"observation.{key}", slice(None)
    n_state = int(np.prod(space.spaces[ENV_STATE_OBS].shape)) if ENV_STATE_OBS in space.spaces else 0
    return ENV_STATE_KEY, slice(0, n_state) if key == ENV_STATE_OBS else slice(n_state, None)


def export_minari(
    source: str | os.PathLike | Dataset,
    out_dir: str | os.PathLike,
    *,
    dataset_id: str | None = None,
    action_key: str = "action",
    images: bool = True,
    env: bool = True,
) -> Path:
    """Write ``source`` as a Minari dataset under ``out_dir``; returns the dataset's folder.

    ``env`` stores the dataset's environment (``env_spec_for``) so ``recover_environment()`` works; it needs
    the environment to be makeable here (its robot registered). Load the export with
    ``MINARI_DATASETS_PATH=out_dir`` and ``minari.load_dataset(dataset_id)``.
    """
    gym, minari, EpisodeBuffer = _minari()
    ds = source if isinstance(source, Dataset) else open_dataset(source)
    dataset_id = dataset_id or default_dataset_id(ds)
    from minari.dataset.minari_dataset import parse_dataset_id

    parse_dataset_id(dataset_id)  # ValueError with Minari's explanation if malformed
    if action_key not in ds.features or not action_key.startswith("action"):
        raise ValueError(f"action_key {action_key!r} is not an action feature of {ds.root}")
    obs_keys = [k for k in ds.features if k.startswith("observation.") and ds.features[k]["dtype"] != "video"
                and (images or ds.features[k]["dtype"] != "image")]
    spec, why_not = env_spec_for(ds, images=images, action_key=action_key) if env else (None, "env=False")
    obs_space, act_space = (None, None) if spec is not None else feature_spaces(gym, ds, obs_keys, action_key)
    folder = Path(out_dir) / dataset_id
    if folder.exists():
        raise ValueError(f"{folder} already exists; choose another --out or dataset id")

    def episodes(space) -> Iterator:
        columns = obs_keys + [action_key] + [c for c in ("next.reward", "next.done", "next.truncated", "next.success")
                                              if c in ds.features]
        seeds = ds.episodes.column("seed").to_pylist() if "seed" in ds.episodes.column_names else [None] * len(ds)
        for seed, ep in zip(seeds, ds.iter_episodes(columns)):
            t = len(ep[action_key])
            truncations = ep["next.truncated"].astype(bool) if "next.truncated" in ep else np.zeros(t, bool)
            done = ep["next.done"].astype(bool) if "next.done" in ep else np.eye(1, t, t - 1, dtype=bool)[0]
            success = ep["next.success"].astype(bool) if "next.success" in ep else np.zeros(t, bool)
            yield EpisodeBuffer(
                seed=None if seed is None else int(seed),
                observations=_observations(ep, space, ds.features),
                actions=ep[action_key].astype(space_of_actions.dtype),
                rewards=(ep["next.reward"] if "next.reward" in ep else np.zeros(t)).astype(np.float64),
                terminations=done & ~truncations,
                truncations=truncations,
                infos={"is_success": np.concatenate([[False], success])},
            )

    description = (f"Exported by flywheel from {ds.root} (LeRobot v3.0; robot {ds.robot_type}, tasks {ds.tasks}, "
                   f"fps {ds.fps}). The last of the T+1 observations of each episode repeats observation T-1, which "
                   "the source dataset does not store." + ("" if spec else f" No env_spec: {why_not}."))
    policies = sorted(set(ds.episodes.column("policy").to_pylist())) if "policy" in ds.episodes.column_names else []
    if spec is not None:  # Minari makes the env once, for its spaces: check the observations fit before writing
        try:
            probe = gym.make(spec)
        except Exception as err:  # unknown robot, a task that does not apply: what the user must decide
            raise ValueError(f"{ds.root}: cannot make its environment {spec.id} with {spec.kwargs} "
                             f"({type(err).__name__}: {err}); export without it (env=False, --no-env)") from None
        obs_space, act_space = probe.observation_space, probe.action_space
        probe.close()
        missing = [k for k in _space_features(obs_space, ds.features) if k not in ds.features]
        if missing:
            raise ValueError(f"{ds.root}: the environment {spec.id} observes {missing}, which the dataset lacks; "
                             "export with env=False (--no-env)")
    space_of_actions = act_space
    saved = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(Path(out_dir))
    try:
        with warnings.catch_warnings():  # Minari warns about every optional metadata field left unset
            warnings.filterwarnings("ignore", category=UserWarning, module=r"minari\.")
            created = minari.create_dataset_from_buffers(
                dataset_id, episodes(obs_space), env=spec, action_space=act_space, observation_space=obs_space,
                algorithm_name=",".join(str(p) for p in policies if p) or "unknown", author="flywheel",
                description=description, data_format="hdf5", jpeg_encoding=False,  # lossless, as the source PNGs
            )
    finally:
        if saved is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = saved
    meta_cols = [c for c in ("success", "policy", "uuid", "worker") if c in ds.episodes.column_names]
    if meta_cols:
        rows = ds.episodes.select(meta_cols).to_pylist()
        created.storage.update_episode_metadata([{k: v for k, v in r.items() if v is not None} for r in rows],
                                                episode_indices=range(len(rows)))
    return folder


def _space_features(space, features) -> list[str]:
    """The dataset features an environment's observation Dict needs."""
    out = []
    for key, sub in space.spaces.items():
        if key == "images":
            out += [f"{IMAGE_PREFIX}{c}" for c in sub.spaces]
        elif key != "depth":
            out.append(_source(key, space, features)[0])
    return out

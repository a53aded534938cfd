"""From an env to dataset frames: the feature dictionary of a dataset and a recording episode loop.

`dataset_features(env)` says what columns an env's episodes produce (LeRobot style, every numeric
feature float32); `EpisodeRecorder` runs seeded episodes and fills per-feature numpy buffers that are
allocated once per worker and grow only when an episode is longer than any before, so a step costs a few
array copies and no per-step allocation, pyarrow or Python lists.

Mapping (observation ``obs_t`` is stored with the action taken in it, ``next.*`` come from the step):

=====================  ===========================================
env                    dataset feature
=====================  ===========================================
obs["state"]           observation.state (names ``q.<joint>``, ``qd.<joint>``)
obs["ee"]              observation.ee (canonical, 16)
obs["ee_mask"]         observation.ee_mask (canonical, 2)
obs["base"]            observation.base (floating-base robots)
obs["environment_state"] observation.environment_state (objects first ...
obs["goal"]              ... then the goal ``goal.*``: LeRobot's policies read only
                         state, environment_state and images, so the goal must be in there)
obs["images"][cam]     observation.images.<cam> (uint8 H x W x 3, PNG in the dataset)
action                 action (names = env.action_names)
info["action_ee"]      action.ee (canonical, 14)
reward                 next.reward
terminated|truncated   next.done
truncated              next.truncated
info["is_success"]     next.success
=====================  ===========================================
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flywheel.canonical import ENV_STATE_KEY, ENV_STATE_OBS, GOAL_OBS, LEGACY_ENV_STATE_KEY, LEGACY_GOAL_KEY

IMAGE_PREFIX = "observation.images."
BASE_NAMES = ["x", "y", "z", "qx", "qy", "qz", "qw", "vx", "vy", "vz", "wx", "wy", "wz"]
GOAL_NAMES = ["x", "y", "z"]
STEP_KEYS = ("next.reward", "next.done", "next.truncated", "next.success")
OBS_ORDER = ("state", "ee", "ee_mask", "base", ENV_STATE_OBS, GOAL_OBS)
FOLDED = (ENV_STATE_OBS, GOAL_OBS)  # observation entries stored together in observation.environment_state
# Feature names of flywheel format 1 that policy files trained on old datasets may still read: the env's
# entries they came from (the folded feature has no inverse, so these keep old policies running).
LEGACY_SOURCES = {LEGACY_ENV_STATE_KEY: (ENV_STATE_OBS,), LEGACY_GOAL_KEY: (GOAL_OBS,)}


def _obs_feature_key(key: str) -> str:
    return ENV_STATE_KEY if key in FOLDED else f"observation.{key}"


def feature_sources(spaces) -> dict[str, tuple[str, ...]]:
    """Dataset feature -> the observation entries concatenated (in this order) into it, for the numeric entries
    of an observation space (a gymnasium Dict or its ``.spaces``). The one place the folding is written: the
    recorder stores frames with it and learned policies rebuild their inputs with it."""
    spaces = getattr(spaces, "spaces", spaces)
    keys = [k for k in OBS_ORDER if k in spaces] + sorted(k for k in spaces if k not in OBS_ORDER)
    out: dict[str, tuple[str, ...]] = {}
    for key in keys:
        if key in ("images", "depth", "segmentation"):
            continue
        name = _obs_feature_key(key)
        out[name] = out.get(name, ()) + (key,)
    return out


def observation_vector(obs: dict[str, Any], sources: tuple[str, ...]) -> np.ndarray:
    """One dataset feature's value from an observation (the entries of ``sources`` concatenated)."""
    if len(sources) == 1:
        return np.asarray(obs[sources[0]]).ravel()
    return np.concatenate([np.asarray(obs[k], np.float64).ravel() for k in sources])


def _element_names(task, key: str, n: int) -> list[str]:
    """The task's names for the elements of observation entry ``key``, else ``key.<i>`` (``x, y, z`` for a goal)."""
    names = task.observation_names().get(key) if hasattr(task, "observation_names") else None
    if names is not None and len(names) == n:
        return list(names)
    if key == GOAL_OBS and n == len(GOAL_NAMES):
        return list(GOAL_NAMES)
    return [f"{key}.{i}" for i in range(n)]


def dataset_features(env) -> dict[str, dict[str, Any]]:
    """The per-frame features (beyond the standard columns) that episodes of ``env`` produce."""
    from flywheel.datasets import schema

    u = env.unwrapped
    features: dict[str, dict[str, Any]] = {}
    canonical = schema.canonical_features()
    spaces = u.observation_space.spaces  # gymnasium sorts Dict keys; the dataset lists state first, images last
    order = [k for k in OBS_ORDER if k in spaces] + sorted(k for k in spaces if k not in OBS_ORDER and k != "images")
    order += ["images"] if "images" in spaces else []
    task = getattr(u, "task", None)
    for key in order:
        space = spaces[key]
        if key in ("depth", "segmentation"):
            continue  # depth maps and segmentation masks are not part of the dataset standard yet
        if key == "images":
            for cam, box in space.spaces.items():
                h, w, c = box.shape
                features[IMAGE_PREFIX + cam] = schema.image_feature(h, w, c)
            continue
        name = _obs_feature_key(key)
        if name in canonical:
            features[name] = dict(canonical[name])
            continue
        n = int(np.prod(space.shape))
        names = None
        if key == "state":
            names = list(u.state_names)
        elif key == "base" and n == len(BASE_NAMES):
            names = list(BASE_NAMES)
        elif key in FOLDED:
            names = _element_names(task, key, n)
            if key == GOAL_OBS:
                names = [f"goal.{x}" for x in names]
        elif task is not None and hasattr(task, "observation_names") and key in task.observation_names():
            names = _element_names(task, key, n)
        if name in features:  # the goal after the objects, in one feature
            features[name]["shape"] = [features[name]["shape"][0] + n]
            features[name]["names"] = features[name]["names"] + names
        else:
            features[name] = {"dtype": "float32", "shape": [n], "names": names}
    features["action"] = {"dtype": "float32", "shape": [int(np.prod(u.action_space.shape))], "names": list(u.action_names)}
    features["action.ee"] = dict(canonical["action.ee"])
    return features


@dataclass
class RecordedEpisode:
    """One finished episode: frames ready for `StagingWriter.add_episode` plus what the driver is told."""

    seed: int
    length: int
    success: bool
    terminated: bool
    truncated: bool
    total_reward: float
    finite: bool
    frames: dict[str, np.ndarray] = field(default_factory=dict)
    problem: str | None = None  # why a non-finite episode was dropped


class EpisodeRecorder:
    """Runs seeded episodes of a TimeLimit-wrapped `RobotTaskEnv` and records them as dataset frames.

    Buffers are allocated once and reused; `run` returns copies sized to the episode, so the returned
    arrays stay valid while the next episode records (the staging writer may keep them until it flushes).
    """

    def __init__(self, env, features: dict[str, dict[str, Any]] | None = None, capacity: int | None = None):
        self.env = env
        self.u = env.unwrapped
        self.features = features if features is not None else dataset_features(env)
        self._capacity = 0
        self._buf: dict[str, np.ndarray] = {}
        self._obs_keys = [k for k in self.features if k.startswith("observation.") and not k.startswith(IMAGE_PREFIX)]
        sources = feature_sources(self.u.observation_space)
        self._sources = {k: sources.get(k, (k[len("observation."):],)) for k in self._obs_keys}
        self._image_keys = [k for k in self.features if k.startswith(IMAGE_PREFIX)]
        self._grow(int(capacity or getattr(env, "_max_episode_steps", None) or 64))

    # ---- buffers ------------------------------------------------------------------------------
    def _shape(self, name: str) -> tuple[tuple[int, ...], np.dtype]:
        ft = self.features[name]
        if ft["dtype"] == "image":
            return tuple(ft["shape"]), np.dtype(np.uint8)
        return tuple(ft["shape"]), np.dtype(ft["dtype"])

    def _grow(self, capacity: int) -> None:
        capacity = max(capacity, 1)
        new: dict[str, np.ndarray] = {}
        for name in self.features:
            shape, dtype = self._shape(name)
            new[name] = np.zeros((capacity,) + shape, dtype=dtype)
        new["next.reward"] = np.zeros(capacity, np.float32)
        new["next.done"] = np.zeros(capacity, np.bool_)
        new["next.truncated"] = np.zeros(capacity, np.bool_)
        new["next.success"] = np.zeros(capacity, np.bool_)
        keep = min(self._capacity, capacity)
        for name, old in self._buf.items():
            new[name][:keep] = old[:keep]
        self._buf, self._capacity = new, capacity

    def _store_obs(self, t: int, obs: dict[str, Any]) -> str | None:
        """Write obs into row t (as float32); returns a description if anything is non-finite."""
        buf = self._buf
        problem = None
        for name in self._obs_keys:
            value = observation_vector(obs, self._sources[name])
            row = buf[name][t]
            row[...] = value  # float64 -> float32 cast, as stored
            if problem is None and not (np.isfinite(value).all() and np.isfinite(row).all()):
                problem = f"non-finite {name} at frame {t}"
        if self._image_keys:
            images = obs["images"]
            for name in self._image_keys:
                buf[name][t] = images[name[len(IMAGE_PREFIX):]]
        return problem

    # ---- episodes -----------------------------------------------------------------------------
    def run(self, policy, seed: int, *, record: bool = True, steps: int | None = None) -> RecordedEpisode:
        """The one episode loop: run ``policy`` from ``seed`` and record every frame.

        Without ``steps`` the episode runs until the env ends it and stops at the first non-finite value (the
        episode is then dropped); with ``steps`` (replay) exactly that many steps run, whatever the env says, and a
        non-finite value is only reported. ``record=False`` returns no frames (evaluation, success reports).
        """
        env, buf = self.env, self._buf
        obs, info = env.reset(seed=int(seed))
        policy.reset(int(seed))
        if steps is not None and steps > self._capacity:
            self._grow(steps)
            buf = self._buf
        t, total, success = 0, 0.0, False
        terminated = truncated = False
        problem = None
        while (t < steps) if steps is not None else not (terminated or truncated):
            if t >= self._capacity:
                self._grow(2 * self._capacity)
                buf = self._buf
            problem = problem or self._store_obs(t, obs)
            if problem is not None and steps is None:
                break
            action = np.asarray(policy.act(obs), dtype=np.float32)
            if steps is None and not np.isfinite(action).all():
                problem = f"non-finite action at frame {t}"
                break
            obs, reward, terminated, truncated, info = env.step(action)
            success = self._store_step(t, action, reward, terminated, truncated, info)
            total += float(reward)
            t += 1
            if steps is None and not (np.isfinite(reward) and np.isfinite(buf["action.ee"][t - 1]).all()):
                problem = f"non-finite reward or action.ee at frame {t - 1}"
                break
        if steps is None and problem is None and t > 0 and not all(
                np.isfinite(observation_vector(obs, self._sources[k])).all() for k in self._obs_keys):
            problem = f"non-finite observation after the last step (frame {t})"
        finite = problem is None
        keep = record and (finite or steps is not None)
        frames = {name: arr[:t].copy() for name, arr in buf.items()} if keep else {}
        return RecordedEpisode(seed=int(seed), length=t, success=success, terminated=bool(terminated),
                               truncated=bool(truncated), total_reward=total, finite=finite, frames=frames,
                               problem=problem)

    def replay(self, actions: np.ndarray, seed: int, *, record: bool = True) -> RecordedEpisode:
        """Re-simulate stored float32 ``actions`` from ``seed`` (same number of steps, no early stop)."""
        from flywheel.collectors.policies import ReplayPolicy

        actions = np.asarray(actions, dtype=np.float32)
        return self.run(ReplayPolicy(actions), seed, record=record, steps=len(actions))

    def _store_step(self, t: int, action, reward, terminated, truncated, info) -> bool:
        """Write frame t's action and its step result into the episode buffers; returns is_success."""
        buf = self._buf
        buf["action"][t] = action
        buf["action.ee"][t] = info["action_ee"]
        buf["next.reward"][t] = reward
        buf["next.done"][t] = terminated or truncated
        buf["next.truncated"][t] = truncated
        success = bool(info.get("is_success", False))
        buf["next.success"][t] = success
        return success


def run_episode(env, policy, seed: int) -> RecordedEpisode:
    """One seeded episode without recording frames (success reports, tests): the recorder's loop, nothing else."""
    return EpisodeRecorder(env).run(policy, seed, record=False)

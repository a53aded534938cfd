"""Learned policies: the file `flywheel train` writes, loaded as a collector policy.

    policy = load_policy("policy.npz", env)   # checks the policy fits this env, or says why not
    policy.reset(seed); action = policy.act(observation)

Only numpy is needed to run one, whatever trained it. A policy trained on a robot's native features
(joint state in, joint targets out) runs only on that robot: `load_policy` compares the env's robot
name, state names and action names with the ones in the file and refuses another robot with a
`PolicyMismatch` that says what differs. A policy trained on the canonical cross-embodiment features
(`observation.ee` ... in, `action.ee` out) runs on any robot whose env uses the end-effector control mode.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from flywheel.collectors.collection.recorder import LEGACY_SOURCES, observation_vector
from flywheel.collectors.learning.policy_file import read_policy


def input_sources(spaces) -> dict[str, tuple[str, ...]]:
    """Policy input feature -> the env observation entries it is made of: the recorder's folding (what the
    dataset stored), plus the flywheel-format-1 names that older policy files read."""
    from flywheel.collectors.collection.recorder import feature_sources

    spaces = getattr(spaces, "spaces", spaces)
    out = feature_sources(spaces)
    out.update({k: v for k, v in LEGACY_SOURCES.items() if all(e in spaces for e in v)})
    return out


class PolicyMismatch(ValueError):
    """The policy was trained for a different robot, control mode or observation layout than this env's."""

def _describe(names: list[str] | None, limit: int = 4) -> str:
    if not names:
        return "?"
    shown = ", ".join(names[:limit])
    return f"{len(names)}: {shown}{', ...' if len(names) > limit else ''}"


def check_compatible(header: dict[str, Any], env, source: str = "policy") -> None:
    """Raise `PolicyMismatch` unless the policy in ``header`` can drive ``env``."""
    u = env.unwrapped
    robot = header.get("robot") or {}
    env_robot = u.spec_robot.name
    spaces = u.observation_space.spaces
    if header["features"] == "native":
        trained = robot.get("name")
        hint = ("a policy trained on native joint features only drives the robot it was trained on; "
                "train with --features canonical to deploy across robots")
        if trained != env_robot:
            raise PolicyMismatch(f"{source} was trained on robot {trained!r} (native features) and cannot drive robot "
                                 f"{env_robot!r}: {hint}")
        want_actions = header["target"]["names"]
        mode = header.get("control_mode")
        if mode and mode != u.control_mode:
            raise PolicyMismatch(f"{source} was trained on {trained!r} data collected with control_mode={mode!r}; "
                                 f"this env uses control_mode={u.control_mode!r} (make the env with control_mode={mode!r})")
        if want_actions is not None and list(want_actions) != list(u.action_names):
            raise PolicyMismatch(f"{source} outputs actions ({_describe(want_actions)}) but this {env_robot!r} env "
                                 f"takes ({_describe(list(u.action_names))}) (another version of the robot?); {hint}")
        for feature in header["inputs"]:
            if feature["key"] == "observation.state" and feature["names"] is not None \
                    and list(feature["names"]) != list(u.state_names):
                raise PolicyMismatch(f"{source} reads joint state ({_describe(feature['names'])}) but robot {env_robot!r} "
                                     f"here has ({_describe(list(u.state_names))}); {hint}")
        from flywheel.collectors.learning.train import robot_hashes

        env_hashes = robot_hashes(u.spec_robot)
        changed = [k for k, v in env_hashes.items() if robot.get(k) and v and robot[k] != v]
        if changed:
            warnings.warn(f"{source} was trained on a different version of robot {env_robot!r} "
                          f"({', '.join(changed)} differ); joint and action names match, so it is used anyway", stacklevel=3)
    else:
        from flywheel.datasets import schema

        if list(u.action_names) != schema.ee_action_names():
            raise PolicyMismatch(f"{source} was trained on canonical features and outputs action.ee (end-effector deltas); "
                                 f"make the env with control_mode='ee_delta' (this env uses {u.control_mode!r})")
    sources = input_sources(spaces)
    for feature in header["inputs"]:
        if feature["key"] not in sources:
            have = [k for k in sources if k not in LEGACY_SOURCES]
            raise PolicyMismatch(f"{source} reads {feature['key']} but robot {env_robot!r} in task {u.task.name!r} "
                                 f"observes only {', '.join(have)}")
        dim = sum(int(np.prod(spaces[k].shape)) for k in sources[feature["key"]])
        if dim != feature["dim"]:
            raise PolicyMismatch(f"{source} reads {feature['key']} of size {feature['dim']} but this env's has size {dim}")
    task = header.get("task")
    if task and task != u.task.name:
        warnings.warn(f"{source} was trained on task {task!r} and is deployed on task {u.task.name!r}", stacklevel=3)


class LearnedPolicy:
    """An MLP policy from a `flywheel train` file, bound to one env (checked by `load_policy`)."""

    def __init__(self, header: dict[str, Any], arrays: dict[str, np.ndarray], env, path: str | os.PathLike | None = None):
        self.header = header
        self.path = Path(path) if path is not None else None
        self.name = f"learned:{self.path.name}" if self.path is not None else "learned"
        layers = len(header["model"]["layers"]) - 1
        self.weights = [(arrays[f"W{i}"].astype(np.float64), arrays[f"b{i}"].astype(np.float64)) for i in range(layers)]
        self.activation = header["model"]["activation"]
        self.obs_mean = arrays["obs_mean"].astype(np.float64)
        self.obs_std = arrays["obs_std"].astype(np.float64)
        self.act_mean = arrays["act_mean"].astype(np.float64)
        self.act_std = arrays["act_std"].astype(np.float64)
        # outputs clipped to the range trained on (older files have none: -inf..inf)
        n_out = len(self.act_mean)
        self.out_low = arrays["out_low"].astype(np.float64) if "out_low" in arrays else np.full(n_out, -np.inf)
        self.out_high = arrays["out_high"].astype(np.float64) if "out_high" in arrays else np.full(n_out, np.inf)
        sources = input_sources(env.unwrapped.observation_space)
        self.sources = [sources[f["key"]] for f in header["inputs"]]
        pairs = header.get("residual") or []
        self._res_a = np.array([a for a, _ in pairs], dtype=np.int64)
        self._res_s = np.array([s for _, s in pairs], dtype=np.int64)
        space = env.unwrapped.action_space
        self.low, self.high = space.low.astype(np.float64), space.high.astype(np.float64)

    @property
    def features(self) -> str:
        return self.header["features"]

    def reset(self, seed: int | None = None) -> None:
        """Deterministic: nothing to reseed."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Raw (unclipped, non-residual) network output for a batch of flat inputs (N, D_in)."""
        from flywheel.collectors.learning.train import mlp_forward

        xn = (np.asarray(x, np.float64) - self.obs_mean) / self.obs_std
        return mlp_forward(self.weights, xn, self.activation) * self.act_std + self.act_mean

    def act(self, observation: dict[str, Any]) -> np.ndarray:
        x = np.concatenate([observation_vector(observation, src) for src in self.sources]).astype(np.float64)
        a = np.clip(self.predict(x[None])[0], self.out_low, self.out_high)
        if len(self._res_a):
            a[self._res_a] += np.asarray(observation["state"], np.float64)[self._res_s]
        return np.clip(a, self.low, self.high).astype(np.float32)


def load_policy(path: str | os.PathLike, env) -> LearnedPolicy:
    """The policy saved at ``path`` (by `flywheel train`), ready to drive ``env``.

    Raises `PolicyMismatch` (a ValueError) when the policy was trained on another robot's native features
    or for another control mode, naming what differs.
    """
    header, arrays = read_policy(path)
    check_compatible(header, env, source=f"policy {Path(path).name}")
    return LearnedPolicy(header, arrays, env, path)

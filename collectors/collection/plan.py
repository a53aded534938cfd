"""The run plan: one env built in the driver to check every input and describe the dataset before work starts.

The plan fixes the dataset's features, frame rate, robot type, task string and the metadata that resume compares
(`meta/flywheel.json`), so that a bad robot, task, camera or policy fails before any folder or Ray exists.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from flywheel.collectors.collection import worker
from flywheel.collectors.collection.config import CollectConfig, CollectError


@dataclass
class RunPlan:
    env_cfg: dict[str, Any]
    features: dict[str, dict]
    fps: int
    robot_type: str
    task_string: str
    flywheel_meta: dict[str, Any]
    policy_label: str



def file_sha256(path: str) -> str | None:
    """SHA-256 of a file's bytes (None if it is not a file): how resume recognises a changed input file."""
    if not os.path.isfile(path):
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def plan_run(config: CollectConfig) -> RunPlan:
    """Build one env in the driver to check every input and describe the dataset (before any work starts)."""
    from flywheel.collectors.collection.recorder import dataset_features
    from flywheel.sim.tasks import TASKS, task_params

    task, robot, policy = config.task, config.robot, config.policy
    if task not in TASKS:
        raise CollectError(f"unknown task {task!r}; available tasks: {', '.join(TASKS)}")
    cfg = worker.env_config(task, str(robot), config.control_mode, config.cameras, config.max_steps)
    try:
        env = worker.make_env(cfg)
    except KeyError as err:  # unknown robot
        raise CollectError(err.args[0] if err.args else str(err)) from None
    except (ValueError, FileNotFoundError, OSError) as err:  # bad spec, task not applicable, bad camera or mode
        raise CollectError(str(err)) from None
    try:
        u = env.unwrapped
        try:
            pol = worker.build_policy(relabeled(config), task, env, config.noise)
        except KeyError as err:
            raise CollectError(err.args[0] if err.args else str(err)) from None
        except (ValueError, FileNotFoundError, OSError) as err:
            raise CollectError(str(err)) from None
        label = worker.policy_name(pol, policy)
        features = dataset_features(env)
        spec = u.spec_robot
        policy_cfg = policy if isinstance(policy, str) else f"python:{label}"
        data_config = {
            "task": task,
            "robot": str(robot),
            "robot_model_hash": spec.model_hash(),
            "seed": int(config.seed),
            "episodes": int(config.episodes),
            "policy": policy_cfg,
            "policy_sha256": file_sha256(policy) if isinstance(policy, str) and policy not in ("expert", "random") else None,
            "noise": float(config.noise),
            **({"relabel": config.relabel, "beta": float(config.beta)} if config.relabel is not None else {}),
            "control_mode": config.control_mode,
            "success_only": bool(config.success_only),
            "max_steps": int(env._max_episode_steps),
            "cameras": list(cfg["cameras"]),
            "randomize": True,
        }
        meta = {
            "robot": {"name": spec.name, "kind": spec.kind, "spec": spec.to_dict(), "model_hash": spec.model_hash()},
            "task": {"name": task, "description": u.task.describe(), "params": task_params(u.task)},
            "config": data_config,
        }
        meta = json.loads(json.dumps(meta, default=_jsonable))
        return RunPlan(env_cfg=cfg, features=features, fps=int(u.control_hz), robot_type=spec.name,
                       task_string=u.task.describe(), flywheel_meta=meta, policy_label=label)
    finally:
        env.close()


def relabeled(config: CollectConfig) -> Any:
    """The policy as the workers build it: wrapped so the expert labels what it visits when ``relabel`` is set."""
    if config.relabel is None:
        return config.policy
    from flywheel.collectors.learning.relabel import RelabelingFactory

    try:
        return RelabelingFactory(config.policy, config.task, config.beta, teacher=config.relabel)
    except ValueError as err:
        raise CollectError(str(err)) from None


def _jsonable(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (set, frozenset)):
        return sorted(x)
    return str(x)

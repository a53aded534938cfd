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
    expected_episode_s: float = 0.0  # max_steps x one measured control step: what the watchdog scales



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
    from flywheel.sim.registration import task_names
    from flywheel.sim.rendering.meshes import VISUAL_TRIANGLES
    from flywheel.sim.tasks import task_params

    task, robot, policy = config.task, config.robot, config.policy
    if task not in task_names():
        raise CollectError(f"unknown task {task!r}; available tasks: {', '.join(task_names())}")
    cfg = worker.env_config(task, str(robot), config.control_mode, config.cameras, config.max_steps,
                            camera_size=config.camera_size, camera_hz=config.camera_hz,
                            visual_randomization=config.visual_randomization)
    plugins = worker.plugin_modules(task)
    if plugins:  # only for tasks defined outside flywheel: built-in runs keep their config as it was
        cfg["plugins"] = plugins
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
        features = camera_features(dataset_features(env), config.image_format, config.video_codec, int(u.control_hz))
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
            **({"image_format": config.image_format, "video_codec": config.video_codec, "camera_size": cfg["camera_size"],
                "camera_hz": cfg["camera_hz"], "renderer": u.cameras.renderer.name,
                "visual_triangles": VISUAL_TRIANGLES} if cfg["cameras"] else {}),
            **({"visual_randomization": cfg["visual_randomization"]} if cfg.get("visual_randomization") else {}),
            "randomize": True,
            "inputs": input_fingerprints(spec, task_params(u.task)),
        }
        meta = {
            # stand: how a floating robot stood ("balance" on its feet, or "fixed_pelvis": held, upper-body data)
            "robot": {"name": spec.name, "kind": spec.kind, **({"stand": spec.stand} if spec.stand else {}),
                      "spec": spec.to_dict(), "model_hash": spec.model_hash()},
            "task": {"name": task, "description": u.task.describe(), "params": task_params(u.task)},
            "config": data_config,
        }
        meta = json.loads(json.dumps(meta, default=_jsonable))
        return RunPlan(env_cfg=cfg, features=features, fps=int(u.control_hz), robot_type=spec.name,
                       task_string=u.task.describe(), flywheel_meta=meta, policy_label=label,
                       expected_episode_s=_step_seconds(env) * int(env._max_episode_steps))
    finally:
        env.close()


def camera_features(features: dict[str, dict], image_format: str, encoder: str | None, fps: int) -> dict[str, dict]:
    """The recorder's camera features (PNG ``image``) turned into LeRobot ``video`` features when cameras are video.

    fps is the dataset's: LeRobot reads one frame rate per dataset (timestamps = frame_index / fps), so a video holds
    a frame for every row, and a camera slower than the control rate repeats its last frame (nearly free once encoded)."""
    if image_format != "video":
        return features
    from flywheel.datasets.video import video_feature

    return {k: video_feature(ft["shape"][0], ft["shape"][1], fps, encoder) if ft["dtype"] == "image" else ft
            for k, ft in features.items()}


def _step_seconds(env, steps: int = 5) -> float:
    """Wall time of one control step (the median of a few), measured on the driver's own throwaway env."""
    import time

    env.reset(seed=0)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        env.step(env.action_space.sample())
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def input_fingerprints(spec, task_parameters: dict[str, Any]) -> dict[str, str]:
    """Hashes of everything besides the options that decides an episode's content: the robot spec's content, its
    model and mesh files, the task's parameters and the simulation and policy code. Resume compares them, so a
    dataset never mixes episodes made by an edited spec, a re-exported mesh or a changed expert."""
    def digest(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    model = spec.model_path()
    files = [model]
    if spec.model_format == "urdf":
        try:
            from flywheel.robots.urdf import parse_urdf

            files += sorted({g.path for g in parse_urdf(model, check_meshes=False).meshes() if g.path is not None})
        except (ValueError, OSError):
            pass  # the env loaded it; a mesh list we cannot read only weakens the fingerprint
    return {
        "robot_spec": digest(json.dumps(spec.to_dict(), sort_keys=True, default=_jsonable)),
        "robot_files": digest("\n".join(f"{p.name}:{file_sha256(str(p))}" for p in files)),
        "task_params": digest(json.dumps(task_parameters, sort_keys=True, default=_jsonable)),
        "code": code_fingerprint(),
    }


def code_fingerprint() -> str:
    """The package version and a hash of the code that makes episodes (robots, sim, policies)."""
    from importlib import metadata
    from pathlib import Path

    import flywheel.collectors.policies as policies
    import flywheel.robots as robots
    import flywheel.sim as sim

    try:
        version = metadata.version("flywheel")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    h = hashlib.sha256(version.encode())
    for package in (robots, sim, policies):
        for path in sorted(Path(package.__file__).parent.rglob("*.py")):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return f"{version}+{h.hexdigest()[:16]}"


def check_resume(out, plan: RunPlan) -> None:
    """Refuse to resume ``out`` with anything that changes the data, naming each input that changed."""
    from flywheel.datasets.staging import read_spec

    old = read_spec(out).get("config") or {}
    new = plan.flywheel_meta["config"]
    keys = list(new) + sorted(k for k in old if k not in new)  # the config's own order: cameras before camera_size
    changed = [k for k in keys if k != "inputs" and old.get(k) != new.get(k)]
    old_inputs, new_inputs = old.get("inputs") or {}, new.get("inputs") or {}
    changed += [f"inputs.{k}" for k in sorted(set(old_inputs) | set(new_inputs)) if old_inputs.get(k) != new_inputs.get(k)]
    if changed:
        what = {"inputs.robot_spec": "the robot spec file was edited", "inputs.robot_files": "the robot's model or "
                "mesh files changed", "inputs.task_params": "the task's parameters changed",
                "inputs.code": "flywheel's simulation or policy code changed"}
        reasons = "; ".join(what.get(k, f"{k}: {_short(old.get(k))} -> {_short(new.get(k))}") for k in changed)
        raise CollectError(f"cannot resume {out}: {reasons}. Episodes made with different inputs would be mixed in one "
                           "dataset: restore the original inputs, or collect into a new folder")


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


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

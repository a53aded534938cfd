"""What runs inside one Ray actor: an env built once, a policy, and a staging writer.

The classes here are plain Python (no Ray import), so they run and test without a cluster; `collect`
and `replay` wrap them with ``ray.remote(num_cpus=1)``. A worker writes finished episodes straight to
the dataset's staging area and answers the driver with a few numbers per batch, never with data.

Exactly-once bookkeeping: every answer lists the keys that became *durable* (in a closed, renamed
staging file) during that call. The driver counts a key as done only once it is durable; keys a worker
had buffered when it died are simply run again (same key, same seed, same episode).
"""
from __future__ import annotations

import os
import socket
import sys
import time
from typing import Any, Callable

import numpy as np

# Outcome codes of one attempted episode (what the driver is told per key).
STORED = 1  # added to the staging writer (durable once listed in "flushed")
FAILED = 2  # success-only: ran to the end without success, not stored
DROPPED = 3  # non-finite values: never written
ERRORED = 4  # the policy or the env raised during the episode: never written


def env_config(task: str, robot: str, control_mode: str = "joint_pos", cameras=(), max_steps: int | None = None,
               randomize: bool = True, camera_size: list[int] | None = None, camera_hz: int | None = None,
               visual_randomization: dict[str, Any] | None = None) -> dict[str, Any]:
    """The plain-data description a worker builds its env from (also part of the dataset's config). The camera
    size and rate are only listed when there are cameras, and visual randomisation only when it is on, so
    state-only configs stay as they were."""
    cfg = {"task": task, "robot": robot, "control_mode": control_mode, "cameras": list(cameras or []),
           "max_steps": max_steps, "randomize": randomize}
    if cameras:
        cfg.update(camera_size=list(camera_size) if camera_size is not None else None, camera_hz=camera_hz)
        if visual_randomization:
            cfg["visual_randomization"] = dict(visual_randomization)
    return cfg


def plugin_modules(task: str) -> list[list[str]]:
    """``[module name, file]`` of the modules outside flywheel that registered ``task`` or its expert: a task written
    as one module (in a notebook's folder, a test) runs on Ray workers too, which import these files first."""
    from flywheel.collectors.policies.experts import EXPERTS
    from flywheel.sim.tasks import task_class

    classes = [task_class(task)] + ([EXPERTS[task]] if task in EXPERTS else [])
    found: list[list[str]] = []
    for cls in classes:
        module = sys.modules.get(cls.__module__)
        path = getattr(module, "__file__", None)
        if cls.__module__.split(".")[0] != "flywheel" and path and [cls.__module__, path] not in found:
            found.append([cls.__module__, os.path.abspath(path)])
    return found


def load_plugins(plugins: list[list[str]] | None) -> None:
    """Import the modules `plugin_modules` named (once per process), so their tasks and experts register here."""
    import importlib.util

    for name, path in plugins or []:
        if name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {name} from {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise


def make_env(cfg: dict[str, Any]):
    from flywheel.sim import make_env as _make_env

    load_plugins(cfg.get("plugins"))

    cams = list(cfg.get("cameras") or [])
    size = cfg.get("camera_size")
    return _make_env(cfg["task"], robot=cfg["robot"], max_episode_steps=cfg.get("max_steps"),
                     control_mode=cfg.get("control_mode", "joint_pos"), camera=cams or None,
                     randomize=cfg.get("randomize", True), camera_size=tuple(size) if size else None,
                     camera_hz=cfg.get("camera_hz") if cams else None,
                     visual_randomization=cfg.get("visual_randomization") if cams else None)


def build_policy(policy: Any, task: str, env, noise: float = 0.0):
    """``"expert"``, ``"random"``, a path to a learned policy file, or a callable ``factory(env) -> policy``."""
    from flywheel.collectors import policies

    if callable(policy) and not isinstance(policy, str):
        return policy(env)
    if policy == "expert":
        return policies.expert(task, env, noise=noise)
    if policy == "random":
        return policies.RandomPolicy(env)
    path = os.fspath(policy)
    if not os.path.exists(path):
        raise FileNotFoundError(f"policy {path!r} is neither 'expert', 'random' nor an existing policy file")
    loader: Callable | None = getattr(policies, "load_policy", None)
    if loader is None:
        raise ValueError(f"cannot load policy file {path!r}: learned policies are not available in this flywheel "
                         "(flywheel.collectors.policies.load_policy is missing); use --policy expert or random")
    return loader(path, env)


def policy_name(policy_obj, policy: Any) -> str:
    name = getattr(policy_obj, "name", None)
    if isinstance(name, str) and name:
        return name
    if isinstance(policy, str):
        return os.path.basename(policy)
    return getattr(policy, "__qualname__", type(policy_obj).__name__)


class _EnvWorker:
    def __init__(self, name: str, cfg: dict[str, Any]):
        from flywheel.collectors.collection.recorder import EpisodeRecorder

        self.name = name
        self.cfg = cfg
        self.env = make_env(cfg)
        self.recorder = EpisodeRecorder(self.env)
        self.started = time.time()

    def ping(self) -> dict[str, Any]:
        """Who and where this worker is (the Ray node id when it runs inside Ray), for the run's per-worker figures."""
        node_id = None
        try:
            import ray

            if ray.is_initialized():
                node_id = ray.get_runtime_context().get_node_id()
        except Exception:  # plain Python (tests, the benchmark's in-process loop)
            pass
        return {"name": self.name, "pid": os.getpid(), "host": socket.gethostname(), "node_id": node_id}

    def rss_bytes(self) -> int:
        return _rss_bytes()


class CollectorWorker(_EnvWorker):
    """Runs episodes by key (seed = seed0 + key) and stages them under ``root``."""

    def __init__(self, name: str, root: str, cfg: dict[str, Any], *, seed0: int, policy: Any = "expert",
                 noise: float = 0.0, success_only: bool = False, episodes_per_file: int = 8,
                 flush_interval_s: float = 30.0):
        from flywheel.datasets import StagingWriter

        super().__init__(name, cfg)
        self.policy = build_policy(policy, cfg["task"], self.env, noise)
        self.policy_label = policy_name(self.policy, policy)
        self.seed0 = int(seed0)
        self.success_only = bool(success_only)
        self.flush_interval_s = float(flush_interval_s)
        self.writer = StagingWriter(root, worker=name, episodes_per_file=episodes_per_file)
        self._unflushed: list[int] = []
        self._oldest_unflushed = 0.0

    def run(self, keys: list[int]) -> dict[str, Any]:
        """Run the episodes ``keys``; returns per-key outcomes and the keys made durable meanwhile."""
        t0 = time.perf_counter()
        out_keys, codes, successes, lengths, flushed = [], [], [], [], []
        problems: list[str] = []
        for key in keys:
            try:
                ep = self.recorder.run(self.policy, self.seed0 + int(key))
            except Exception as err:  # one bad episode must not end the run; the driver stops if it is every one
                out_keys.append(int(key))
                successes.append(False)
                lengths.append(0)
                codes.append(ERRORED)
                if len(problems) < 3:
                    text = f"{type(err).__name__}: {err}".splitlines()[0]
                    problems.append(f"episode {key} (seed {self.seed0 + int(key)}) raised {text}")
                continue
            if ep.finite and hasattr(self.policy, "relabel"):
                self.policy.relabel(ep.frames)  # DAgger: store the expert's labels, not the actions that drove
            out_keys.append(int(key))
            successes.append(bool(ep.success))
            lengths.append(int(ep.length))
            if not ep.finite:
                codes.append(DROPPED)
                if len(problems) < 3:
                    problems.append(f"episode {key} (seed {ep.seed}): {ep.problem}")
                continue
            if self.success_only and not ep.success:
                codes.append(FAILED)
                continue
            self.writer.add_episode(int(key), ep.frames, seed=ep.seed, success=ep.success, policy=self.policy_label,
                                    terminated=ep.terminated, truncated=ep.truncated)
            codes.append(STORED)
            if not self._unflushed:
                self._oldest_unflushed = time.monotonic()
            self._unflushed.append(int(key))
            if self.writer.buffered == 0:  # the writer wrote a file: everything added so far is durable
                flushed.extend(self._unflushed)
                self._unflushed.clear()
        if self._unflushed and time.monotonic() - self._oldest_unflushed > self.flush_interval_s:
            flushed.extend(self.flush())
        return {"keys": out_keys, "codes": codes, "success": successes, "length": lengths, "flushed": flushed,
                "busy_s": time.perf_counter() - t0, "problems": problems}

    def flush(self) -> list[int]:
        """Write what is buffered; returns the keys that became durable."""
        self.writer.flush()
        done, self._unflushed = self._unflushed, []
        return done

    def close(self) -> list[int]:
        done = self.flush()
        self.writer.close()
        self.env.close()
        return done


class ReplayWorker(_EnvWorker):
    """Re-simulates stored episodes from their seed and actions; compares them, and with ``out`` stages them
    again (numeric columns exactly as stored, plus whatever the env now renders, e.g. camera images).

    Keys are positions in ``indices`` (the episode indices being replayed); the output dataset is keyed by
    episode index, so its finaliser keeps the source order.
    """

    def __init__(self, name: str, source: str, cfg: dict[str, Any], indices: list[int], *, out: str | None = None,
                 episodes_per_file: int = 8, flush_interval_s: float = 30.0):
        from flywheel import datasets

        super().__init__(name, cfg)
        self.indices = [int(i) for i in indices]
        self.ds = datasets.open(source)
        table = self.ds.episodes
        self._meta = {c: table.column(c).to_pylist() for c in
                      ("episode_index", "seed", "success", "policy", "terminated", "truncated", "uuid")
                      if c in table.column_names}
        self._row = {int(i): r for r, i in enumerate(self._meta["episode_index"])}
        # camera columns (PNG images, lossy video) are carried over but never compared: verify is bit for bit
        self.numeric = [k for k, ft in self.ds.features.items() if ft["dtype"] not in ("image", "video")]
        self.images = [k for k, ft in self.ds.features.items() if ft["dtype"] in ("image", "video")]
        self.compare = [k for k in self.recorder.features if k in self.ds.features and k != "action"
                        and self.ds.features[k]["dtype"] not in ("image", "video")]
        self.compare += [k for k in ("next.reward", "next.done", "next.truncated", "next.success") if k in self.ds.features]
        self.flush_interval_s = float(flush_interval_s)
        self._unflushed: list[int] = []
        self._oldest_unflushed = 0.0
        self.writer = None
        if out is not None:
            from flywheel.datasets import StagingWriter, schema

            self.writer = StagingWriter(out, worker=name, episodes_per_file=episodes_per_file)
            self._out_features = schema.staged_feature_names(self.writer.features)

    def run(self, keys: list[int]) -> dict[str, Any]:
        t0 = time.perf_counter()
        mismatches: dict[int, list[str]] = {}
        successes, lengths, flushed = [], [], []
        for pos in keys:
            i = self.indices[int(pos)]
            r = self._row[i]
            seed = int(self._meta["seed"][r])
            stored = self.ds.episode(i, columns=self.numeric)
            ep = self.recorder.replay(stored["action"], seed)
            successes.append(bool(self._meta.get("success", [False] * (r + 1))[r]))
            lengths.append(ep.length)
            bad = compare_episode(stored, ep.frames, self.compare)
            if bad:
                mismatches[i] = bad
            if self.writer is None:
                flushed.append(int(pos))
                continue
            frames = {k: stored[k] for k in self._out_features if k in stored}  # numeric: exactly as stored
            if self.images:
                frames.update(self.ds.episode(i, columns=self.images))
            frames.update({k: ep.frames[k] for k in self.writer.features  # new: rendered now (video ones too)
                           if k not in frames and k in ep.frames})
            meta = {k: v[r] for k, v in self._meta.items()}
            self.writer.add_episode(i, frames, seed=seed, success=bool(meta.get("success", False)),
                                    policy=str(meta.get("policy", "replay")),
                                    terminated=bool(meta.get("terminated", False)),
                                    truncated=bool(meta.get("truncated", False)), uuid=meta.get("uuid"))
            if not self._unflushed:
                self._oldest_unflushed = time.monotonic()
            self._unflushed.append(int(pos))
            if self.writer.buffered == 0:
                flushed.extend(self._unflushed)
                self._unflushed.clear()
        if self._unflushed and time.monotonic() - self._oldest_unflushed > self.flush_interval_s:
            flushed.extend(self.flush())
        return {"keys": [int(k) for k in keys], "codes": [STORED] * len(keys), "success": successes,
                "length": lengths, "flushed": flushed, "busy_s": time.perf_counter() - t0, "mismatches": mismatches,
                "problems": []}

    def flush(self) -> list[int]:
        if self.writer is not None:
            self.writer.flush()
        done, self._unflushed = self._unflushed, []
        return done

    def close(self) -> list[int]:
        done = self.flush()
        if self.writer is not None:
            self.writer.close()
        self.ds.close()
        self.env.close()
        return done


def compare_episode(stored: dict[str, np.ndarray], replayed: dict[str, np.ndarray], features: list[str]) -> list[str]:
    """Features whose replayed values differ bit for bit from the stored ones, with where they first differ."""
    bad = []
    for k in features:
        a = np.asarray(stored[k])
        b = np.asarray(replayed[k]).astype(a.dtype, copy=False).reshape(a.shape) if k in replayed and \
            np.asarray(replayed[k]).size == a.size else None
        if b is None:
            bad.append(f"{k}: length {len(np.asarray(replayed.get(k, [])))} != {len(a)}")
            continue
        if a.dtype.kind == "f":
            same = np.ascontiguousarray(a).view(np.uint8).reshape(len(a), -1) == \
                np.ascontiguousarray(b).view(np.uint8).reshape(len(b), -1)
            rows = same.all(axis=1)
        else:
            rows = (a == b).reshape(len(a), -1).all(axis=1)
        if not rows.all():
            t = int(np.argmin(rows))
            diff = float(np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64))))
            bad.append(f"{k}: first differs at frame {t} (max |diff| {diff:.3g})")
    return bad


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024

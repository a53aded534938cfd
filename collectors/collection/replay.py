"""``flywheel replay``: re-simulate stored episodes from their seed and actions, on Ray workers.

Every episode stores its seed and its float32 actions, and ``reset(seed)`` fixes everything else, so
replaying gives back the same observations bit for bit. ``replay`` checks exactly that (observations,
``action.ee`` and the ``next.*`` columns, as stored in float32) and reports what differs, per episode.
With ``cameras`` and ``out`` it writes a new dataset: the stored columns unchanged plus the camera images
rendered during the replay (collect fast without cameras, render only what you keep).
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from flywheel.collectors.collection import worker
from flywheel.datasets.lock import DatasetLock


class ReplayError(ValueError):
    """Bad input to replay (missing dataset, episodes out of range, unknown camera, ...)."""


@dataclass
class ReplayReport:
    dataset: str
    episodes: int
    frames: int
    mismatches: dict[int, list[str]]
    elapsed: float
    episodes_per_s: float
    restarts: int
    out: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def __str__(self) -> str:
        return self.line()

    def line(self) -> str:
        text = (f"replayed {self.episodes} episodes ({self.frames} frames) of {self.dataset} in {self.elapsed:.1f} s: "
                f"{len(self.mismatches)} mismatched episodes")
        if self.out:
            text += f" -> {self.out}"
        for w in self.warnings:
            text += f"\nwarning: {w}"
        return text

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mismatches"] = {str(k): v for k, v in sorted(self.mismatches.items())}
        return d


def parse_episodes(text: str) -> list[int]:
    """``"0:100"``, ``"5"``, ``"1,4,9"``, ``"0:10,20:30"``, ``"90:"`` (to the end: returns a slice marker)."""
    out: list[Any] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if ":" in part:
                a, b = part.split(":", 1)
                out.append(slice(int(a) if a.strip() else 0, int(b) if b.strip() else None))
            else:
                out.append(int(part))
        except ValueError:
            raise ReplayError(f"--episodes {text!r}: use indices like 0:100, 5, 1,4,9 or 0:10,20:30") from None
    if not out:
        raise ReplayError(f"--episodes {text!r} selects nothing")
    return out


def _select(spec: Iterable[Any] | slice | None, total: int) -> list[int]:
    if spec is None:
        return list(range(total))
    if isinstance(spec, (slice, int)):
        spec = [spec]
    chosen: list[int] = []
    for item in spec:
        if isinstance(item, slice):
            if (item.start or 0) < 0 or (item.stop is not None and item.stop < 0):
                raise ReplayError(f"episode range {item.start}:{item.stop} must not be negative")
            stop = total if item.stop is None else item.stop
            if stop > total:
                raise ReplayError(f"episode range {item.start or 0}:{item.stop} goes past the last episode ({total - 1})")
            chosen.extend(range(item.start or 0, stop, item.step or 1))
        else:
            i = int(item)
            if not 0 <= i < total:
                raise ReplayError(f"episode {i} is not in the dataset (it has episodes 0..{total - 1})")
            chosen.append(i)
    chosen = sorted(set(chosen))
    if not chosen:
        raise ReplayError("the selection holds no episodes")
    return chosen


def _source_config(ds) -> dict[str, Any]:
    cfg = (ds.flywheel or {}).get("config") or {}
    missing = [k for k in ("task", "robot") if k not in cfg]
    if missing:
        raise ReplayError(f"{ds.root}: meta/flywheel.json has no collection config ({', '.join(missing)} missing); "
                          "only datasets written by `flywheel collect` can be re-simulated")
    return cfg


def replay(dataset: str | os.PathLike, episodes: Iterable[Any] | slice | None = None, *, verify: bool = True,
           cameras: list[str] | tuple[str, ...] | None = None, out: str | os.PathLike | None = None, workers: int = 2,
           address: str | None = None, quiet: bool = True, resume: bool = False, episodes_per_file: int = 16,
           max_restarts: int | None = None, connect_timeout: float = 5.0,
           callback: Callable[[dict[str, Any]], None] | None = None, image_format: str = "video",
           video_codec: str | None = None, camera_size: int | list[int] | None = 224, camera_hz: int = 10,
           visual_randomization: bool | dict | None = None) -> ReplayReport:
    """Re-simulate ``episodes`` (indices, slices; default all) of ``dataset``; with ``cameras`` and ``out``,
    write a new dataset with those cameras added (holding its lock from creation to finalisation): as LeRobot
    video by default, with collect's camera options (size, rate, codec, visual randomisation), so a state-only
    collection becomes the camera dataset of the episodes kept. Returns a `ReplayReport` (mismatches per episode)."""
    with contextlib.ExitStack() as held:
        camera = dict(image_format=image_format, video_codec=video_codec, camera_size=camera_size, camera_hz=camera_hz,
                      visual_randomization=visual_randomization)
        return _replay(dataset, episodes, verify=verify, cameras=cameras, out=out, workers=workers, address=address,
                       quiet=quiet, resume=resume, episodes_per_file=episodes_per_file, max_restarts=max_restarts,
                       connect_timeout=connect_timeout, callback=callback, held=held, camera=camera)


def _camera_options(camera: dict[str, Any], cameras: list[str]) -> dict[str, Any]:
    """collect's checks of the camera options (one place: `CollectConfig.checked`), as ReplayError."""
    from flywheel.collectors.collection.config import CollectConfig

    try:
        checked = CollectConfig("replay", cameras=cameras, out="unused", **camera).checked()
    except Exception as err:  # CollectError: a bad option, named
        raise ReplayError(str(err)) from None
    return {k: getattr(checked, k) for k in camera}


def _replay(dataset, episodes, *, verify, cameras, out, workers, address, quiet, resume, episodes_per_file,
            max_restarts, connect_timeout, callback, held: contextlib.ExitStack, camera: dict[str, Any]) -> ReplayReport:
    t_start = time.time()
    from flywheel import datasets
    from flywheel.datasets import schema

    cameras = list(cameras or [])
    if cameras and out is None:
        raise ReplayError("cameras write a new dataset: give its folder (--out)")
    if out is not None and not cameras:
        raise ReplayError("out is only used with cameras (a new dataset with images)")
    if not isinstance(workers, int) or workers < 1:
        raise ReplayError(f"--workers must be a positive integer, got {workers!r}")
    try:
        ds = datasets.open(dataset)
    except ValueError as err:
        raise ReplayError(str(err)) from None
    try:
        cfg = _source_config(ds)
        indices = _select(episodes, len(ds))
        stored_cams = list(cfg.get("cameras") or [])
        dup = [c for c in cameras if c in stored_cams]
        if dup:
            raise ReplayError(f"the dataset already has images from camera(s) {dup}")
        camera = _camera_options(camera, cameras) if cameras else {}
        env_cfg = worker.env_config(cfg["task"], cfg["robot"], cfg.get("control_mode", "joint_pos"), cameras,
                                    cfg.get("max_steps"), cfg.get("randomize", True), camera_size=camera.get("camera_size"),
                                    camera_hz=camera.get("camera_hz"),
                                    visual_randomization=camera.get("visual_randomization"))
        warnings: list[str] = []
        try:
            env = worker.make_env(env_cfg)
        except KeyError as err:
            raise ReplayError(err.args[0] if err.args else str(err)) from None
        except (ValueError, OSError) as err:
            raise ReplayError(str(err)) from None
        try:
            from flywheel.collectors.collection.recorder import dataset_features

            new_features = dataset_features(env)
            model_hash = env.unwrapped.spec_robot.model_hash()
        finally:
            env.close()
        want = cfg.get("robot_model_hash") or (ds.flywheel.get("robot") or {}).get("model_hash")
        if want and want != model_hash:
            warnings.append(f"robot {cfg['robot']!r} model file differs from the one the dataset was collected with "
                            f"(sha256 {model_hash[:12]} here, {want[:12]} stored): replays will not match")
        missing = [k for k in new_features if k not in ds.features and not k.startswith("observation.images.")]
        if missing:
            warnings.append(f"the env now produces feature(s) the dataset lacks: {missing}")

        source_features = {k: ft for k, ft in ds.features.items() if k not in schema.STANDARD_FEATURES}
        out_path = None
        staged_positions: dict[int, tuple[bool, int]] = {}
        if out is not None:
            out_path = Path(out).expanduser().absolute()
            if out_path.resolve() == Path(dataset).resolve():
                raise ReplayError("--out must be a new folder, not the dataset being replayed")
            from flywheel.collectors.collection.plan import camera_features

            images = {k: ft for k, ft in camera_features(new_features, camera["image_format"], camera["video_codec"],
                                                          int(ds.fps)).items() if k.startswith("observation.images.")}
            obs = [k for k in source_features if k.startswith("observation.")]
            features = {k: source_features[k] for k in obs}  # observations, then the new images, then the rest
            features.update(images)
            features.update({k: ft for k, ft in source_features.items() if k not in features})
            meta = {k: v for k, v in (ds.flywheel or {}).items() if k not in ("dataset", "workers", "runs",
                                                                                "flywheel_format", "code_version")}
            meta["config"] = dict(cfg, cameras=stored_cams + cameras)
            meta["config"].update({k: env_cfg[k] for k in ("camera_size", "camera_hz", "visual_randomization") if k in env_cfg})
            meta["config"].update(image_format=camera["image_format"], video_codec=camera["video_codec"])
            meta["replayed_from"] = {"dataset": str(Path(dataset).resolve()), "episodes": _ranges(indices)}
            try:
                held.enter_context(DatasetLock(out_path, "flywheel replay --camera", create=True))
            except ValueError as err:  # another writer holds it, or the folder cannot be made
                raise ReplayError(str(err)) from None
            try:
                datasets.create_dataset(out_path, features=features, fps=ds.fps, robot_type=ds.robot_type or "unknown",
                                        task=ds.task or ds.tasks[0], flywheel_meta=json.loads(json.dumps(meta)),
                                        resume=resume)
            except ValueError as err:
                raise ReplayError(str(err)) from None
            from flywheel.datasets.staging import scan_staging

            position = {i: p for p, i in enumerate(indices)}
            staged_positions = {position[e.key]: (bool(e.meta.get("success")), e.length)
                                for e in scan_staging(out_path) if e.key in position}
    finally:
        ds.close()

    report = _run(str(dataset), env_cfg, indices, out_path, staged_positions, workers=workers, address=address,
                  quiet=quiet, episodes_per_file=episodes_per_file, max_restarts=max_restarts,
                  connect_timeout=connect_timeout, callback=callback)
    frames, mismatches, restarts, loop_s = report
    if out_path is not None:
        try:
            datasets.finalize(out_path)
        except ValueError as err:
            raise ReplayError(f"finalize of {out_path} failed: {err}") from None
    n = len(indices)
    return ReplayReport(dataset=str(dataset), episodes=n, frames=frames, mismatches=mismatches,
                        elapsed=time.time() - t_start, episodes_per_s=n / loop_s if loop_s > 0 else 0.0,
                        restarts=restarts, out=str(out_path) if out_path is not None else None, warnings=warnings)


def _ranges(indices: list[int]) -> list[str]:
    out, start, prev = [], None, None
    for i in indices:
        if start is None:
            start = prev = i
        elif i == prev + 1:
            prev = i
        else:
            out.append(f"{start}:{prev + 1}")
            start = prev = i
    if start is not None:
        out.append(f"{start}:{prev + 1}")
    return out


def _run(source: str, env_cfg: dict, indices: list[int], out: Path | None, staged: dict[int, tuple[bool, int]], *,
         workers: int, address: str | None, quiet: bool, episodes_per_file: int, max_restarts: int | None,
         connect_timeout: float, callback) -> tuple[int, dict[int, list[str]], int, float]:
    import ray

    from flywheel.collectors.collection import actor_pool
    from flywheel.collectors.collection.driver import drive, flush_workers
    from flywheel.collectors.collection.ledger import EpisodeLedger
    from flywheel.collectors.collection.progress import Progress

    address = address or os.environ.get("RAY_ADDRESS") or None
    ledger = EpisodeLedger(len(indices), False, staged)
    mismatches: dict[int, list[str]] = {}
    frames = [int(sum(length for _, length in staged.values()))]

    def on_result(r: dict) -> None:
        mismatches.update({int(k): v for k, v in r["mismatches"].items()})
        frames[0] += int(sum(r["length"]))

    if ledger.finished():
        return frames[0], mismatches, 0, 0.0
    try:
        started = actor_pool.connect(address, workers=workers, timeout=connect_timeout)
    except Exception as err:
        raise ReplayError(f"cannot start or join Ray: {err}") from None
    n_workers = max(1, min(workers, ledger.to_dispatch()))
    kwargs = dict(out=str(out) if out is not None else None, episodes_per_file=episodes_per_file)
    pool = actor_pool.ActorPool(worker.ReplayWorker, lambda name: ((name, str(Path(source).resolve()), env_cfg, indices), kwargs),
                       n_workers, max_restarts=max_restarts if max_restarts is not None else 10 + 2 * n_workers,
                       name_prefix="r")
    progress = None
    t_loop = time.time()
    try:
        pool.start()
        t_loop = time.time()
        progress = Progress(total=len(indices), initial=ledger.done_count(), quiet=quiet, desc="replay")
        drive(pool, ledger, progress, callback, on_result=on_result, postfix=lambda: {"mismatches": len(mismatches)})
    except actor_pool.PoolError as err:
        raise ReplayError(str(err)) from None
    except KeyboardInterrupt:
        flush_workers(pool, ledger)
        raise
    finally:
        if progress is not None:
            progress.close()
        pool.shutdown()
        if started:
            ray.shutdown()
    return frames[0], mismatches, pool.restarts, time.time() - t_loop

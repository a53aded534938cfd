"""`flywheel bench`: throughput of the engine, the one-worker pipeline and W Ray workers, on the same episodes.

What is measured, in one run (all on the same task, robot, control mode, camera and seeds):

- the **pipeline** at each worker count W: the real collector (`flywheel.collectors.collection.collect`: Ray actors,
  scripted expert, observations, cameras, dataset writing), timed from the first episode handed to a worker to
  the last one made durable, so Ray start-up and env construction (one-off costs) are not counted;
- the **engine ceiling**: the *same* episodes (seeds and recorded actions read back from the one-worker
  dataset) re-simulated in one Ray worker process (Ray runs workers at nice 15: the ceiling gets the same
  priority as the pipeline it is compared with) with physics alone - the joint targets the env applied, the task's
  physics hooks (pushes, grasp assist), the same robot, objects, physics rate and substeps - and no policy,
  observation, rendering or writing. Replaying the recorded trajectories keeps contacts and grasps in (an
  idle arm steps ~1.5x faster than a grasping one); every replayed episode is checked against the
  dataset's last stored joint state, bit for bit in float32, so the ceiling provably ran the same physics;
- the **time split** (physics, policy, observation, rendering, writing, reset, other) from an instrumented
  single-process run of the collector's own loop (`EpisodeRecorder` + `StagingWriter`) on the same seeds.

Units: a *step* is one control step (``env.step``); ``physics_steps_per_s`` counts simulator substeps.
One worker stands in for one robot, so episodes per robot-day is ``episodes_per_day / workers``.
Every derived figure (multiples, efficiencies, days) is computed in `bench_report.derive` from the measured
ones recorded next to it, so a reader (and the test) can recompute it. Load-insensitive cross-checks are recorded
too: thread CPU time for the pipeline efficiency, worker CPU time per episode for the parallel efficiency.
"""
from __future__ import annotations

import contextlib
import gc
import os
import resource
import shutil
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

SPLIT_KEYS = ("physics", "policy", "observation", "rendering", "writing", "reset", "other")


# ---- exclusive section timing ----------------------------------------------------------------------
class SectionClock:
    """Accumulates *exclusive* wall time per section name across nested timed calls.

    ``wrap(name, fn)`` returns ``fn`` timed under ``name``; time spent in a timed call nested inside it
    (the expert reading the robot, a reset re-applying motor targets) is charged to the inner section only.
    """

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[float] = []

    def wrap(self, name: str, fn: Callable) -> Callable:
        perf, stack, totals, calls = time.perf_counter, self._stack, self.totals, self.calls

        def timed(*args, **kwargs):
            stack.append(0.0)
            t0 = perf()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = perf() - t0
                child = stack.pop()
                totals[name] += dt - child
                calls[name] += 1
                if stack:
                    stack[-1] += dt

        timed.__wrapped__ = fn
        return timed


def instrument(env, policy, writer, clock: SectionClock) -> None:
    """Patch timing wrappers onto *instances* (never classes): env internals, the policy and the writer."""
    u = env.unwrapped
    scene, robot, task = u.scene, u.robot, u.task
    scene.step = clock.wrap("physics", scene.step)
    robot.apply_joint_targets = clock.wrap("physics", robot.apply_joint_targets)
    task.before_physics = clock.wrap("physics", task.before_physics)
    hook_of = task.substep_hook

    def substep_hook():
        hook = hook_of()
        return None if hook is None else clock.wrap("physics", hook)

    task.substep_hook = substep_hook
    u._observe = clock.wrap("observation", u._observe)
    if getattr(u, "cameras", None) is not None:
        u.cameras.render = clock.wrap("rendering", u.cameras.render)
    u.reset = clock.wrap("reset", u.reset)
    policy.act = clock.wrap("policy", policy.act)
    policy.reset = clock.wrap("policy", policy.reset)
    if writer is not None:
        for name in ("add_episode", "flush", "close"):
            setattr(writer, name, clock.wrap("writing", getattr(writer, name)))


# ---- episodes as (seed, actions) -------------------------------------------------------------------
@dataclass
class RecordedActions:
    """What the ceiling needs of one collected episode."""

    key: int
    seed: int
    actions: np.ndarray  # (T, A) float32, as stored
    last_state: np.ndarray | None = None  # observation.state of the last frame (float32), to verify the replay


def episodes_from_dataset(root: str | os.PathLike, limit: int | None = None) -> list[RecordedActions]:
    """(seed, actions, last stored state) of every episode of a finished dataset, in episode order."""
    from flywheel import datasets

    ds = datasets.open(root)
    try:
        table = ds.episodes
        idx = table.column("episode_index").to_pylist()
        seeds = table.column("seed").to_pylist()
        out = []
        for i, seed in zip(idx, seeds):
            if limit is not None and len(out) >= limit:
                break
            ep = ds.episode(int(i), columns=["action", "observation.state"])
            state = np.asarray(ep["observation.state"], dtype=np.float32)
            out.append(RecordedActions(int(i), int(seed), np.asarray(ep["action"], dtype=np.float32),
                                       state[-1].copy() if len(state) else None))
        return out
    finally:
        with contextlib.suppress(Exception):
            ds.close()


# ---- the engine ceiling ----------------------------------------------------------------------------
@dataclass
class CeilingResult:
    episodes: int
    steps: int
    physics_steps: int
    seconds: float  # physics-only wall time, resets excluded
    cpu_seconds: float  # the same interval in this thread's CPU time (insensitive to other processes' load)
    verified: int  # episodes whose replayed state matched the dataset bit for bit (float32)
    mismatched: list[int] = field(default_factory=list)
    niceness: int | None = None  # scheduling priority of the process that ran it (Ray workers: 15)

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0


def _joint_targets(env, seed: int, actions: np.ndarray) -> tuple[list[np.ndarray], list[list[tuple[str, float]]]]:
    """The joint targets (and virtual-gripper commands) the env applies for each recorded action, from its controller:
    computed from the actions alone when the controller allows it (joint_pos), else read from the env while it
    replays the actions (ee_delta: targets come from IK on the measured state)."""
    u = env.unwrapped
    controller = u.controller
    acts = actions.astype(np.float64)  # as RobotTaskEnv.step
    if not controller.targets_depend_on_state:
        return [controller.to_joint_targets(a, u.joint_targets) for a in acts], [controller.hand_commands(a) for a in acts]
    targets, commands = [], []
    env.reset(seed=seed)
    for a, a64 in zip(actions, acts):
        env.step(a)
        targets.append(u.joint_targets.copy())
        commands.append(controller.hand_commands(a64))
    return targets, commands


def physics_replay(env, episodes: Iterable[RecordedActions], verify: bool = True, capture_env=None) -> CeilingResult:
    """Re-simulate recorded episodes with physics alone and time only the stepping.

    Per control step: `RobotTaskEnv.step_joint_targets` with the targets and grasp commands the env applied (the
    task's `before_physics`, the motors, the substeps with the task's per-substep hook): exactly the physics of
    `RobotTaskEnv.step`, nothing else.

    Give ``env`` fresh and the episodes in the order one worker collected them: the env then has the same
    history as the worker's (an episode can depend on the one before it where a reset leaves contact state
    behind). ``capture_env`` (ee_delta only: where the IK targets are read) keeps that history untouched.
    """
    u = env.unwrapped
    robot, substeps, step_joint_targets = u.robot, u.substeps, u.step_joint_targets
    perf, cpu = time.perf_counter, time.thread_time
    total_t = total_cpu = 0.0
    total_steps, n_eps, verified, mismatched = 0, 0, 0, []
    for ep in episodes:
        targets, commands = _joint_targets(capture_env if capture_env is not None else env, ep.seed, ep.actions)
        env.reset(seed=ep.seed)
        last = len(targets) - 1
        snapshot = None
        gc_was = gc.isenabled()
        gc.disable()
        c0, t0 = cpu(), perf()
        for k, (q, c) in enumerate(zip(targets, commands)):
            if k == last and verify and ep.last_state is not None:
                pause, cpause = perf(), cpu()
                snapshot = np.concatenate(robot.joint_state()).astype(np.float32)
                t0 += perf() - pause  # the check is not stepping: keep it out of the clock
                c0 += cpu() - cpause
            step_joint_targets(q, c)
        total_t += perf() - t0
        total_cpu += cpu() - c0
        if gc_was:
            gc.enable()
        total_steps += len(targets)
        n_eps += 1
        if snapshot is not None:
            if snapshot.shape == ep.last_state.shape and np.array_equal(snapshot.view(np.uint32), ep.last_state.view(np.uint32)):
                verified += 1
            else:
                mismatched.append(ep.key)
    return CeilingResult(n_eps, total_steps, total_steps * substeps, total_t, total_cpu, verified, mismatched)


# ---- the instrumented single-process pipeline (time split) -------------------------------------------
@dataclass
class SplitResult:
    episodes: int
    steps: int
    seconds: float
    cpu_seconds: float
    split_s: dict[str, float]
    bytes_written: int
    peak_rss_mb: float
    encode_s: float = 0.0  # video encoding (inside "writing")
    video_bytes: int = 0  # the video segments written
    process_cpu_seconds: float = 0.0  # CPU time of every thread of the process (the video encoder runs its own)
    renders: int = 0  # camera rig renders (frames rendered; the rows between them repeat the last)

    @property
    def split(self) -> dict[str, float]:
        return {k: (v / self.seconds if self.seconds > 0 else 0.0) for k, v in self.split_s.items()}


def time_split(cfg: dict[str, Any], seeds: list[int], *, instrumented: bool = True, workdir: str | None = None,
               warmup: int = 1, naive_camera: bool = False, image_format: str = "png",
               video_codec: str | None = None) -> SplitResult:
    """Run the collector's per-worker loop (`EpisodeRecorder.run` + `StagingWriter.add_episode`) in this
    process on ``seeds``; with ``instrumented`` every part is timed exclusively (physics, policy, ...).
    ``naive_camera`` swaps the camera rig's `render` for `render_uncached` (the rendering baseline)."""
    from flywheel import datasets
    from flywheel.collectors.collection.plan import camera_features
    from flywheel.collectors.collection.recorder import EpisodeRecorder, dataset_features
    from flywheel.collectors.collection.worker import build_policy, make_env

    env = make_env(cfg)
    tmp = tempfile.mkdtemp(prefix="flywheel-bench-split-", dir=workdir)
    try:
        recorder = EpisodeRecorder(env)
        policy = build_policy("expert", cfg["task"], env)
        u = env.unwrapped
        features = camera_features(dataset_features(env), image_format, video_codec, int(u.control_hz))
        datasets.create_dataset(tmp, features=features, fps=int(u.control_hz),
                                robot_type=u.spec_robot.name, task=u.task.describe(),
                                flywheel_meta={"config": {"bench": "time_split"}})
        writer = datasets.StagingWriter(tmp, worker="split", episodes_per_file=8)
        for w in range(warmup):  # first-call costs (imports, buffer growth) are not per-episode costs
            recorder.run(policy, 10_000_000 + w)
        clock = SectionClock()
        if naive_camera and env.unwrapped.cameras is not None:
            env.unwrapped.cameras.render = env.unwrapped.cameras.render_uncached
        if instrumented:
            instrument(env, policy, writer, clock)
        steps = 0
        gc.collect()
        c0, t0, p0 = time.thread_time(), time.perf_counter(), time.process_time()
        for k, seed in enumerate(seeds):
            ep = recorder.run(policy, seed)
            steps += ep.length
            if ep.finite:
                writer.add_episode(k, ep.frames, seed=ep.seed, success=ep.success, policy=policy.name,
                                   terminated=ep.terminated, truncated=ep.truncated)
        writer.close()
        total, total_cpu, process_cpu = time.perf_counter() - t0, time.thread_time() - c0, time.process_time() - p0
        split = {k: clock.totals.get(k, 0.0) for k in SPLIT_KEYS if k != "other"}
        split["other"] = max(0.0, total - sum(split.values()))
        size = sum(f.stat().st_size for f in Path(tmp, "staging").glob("*.parquet"))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        return SplitResult(len(seeds), steps, total, total_cpu, split, size, rss, encode_s=writer.encode_s,
                           video_bytes=writer.video_bytes, process_cpu_seconds=process_cpu,
                           renders=int(clock.calls.get("rendering", 0)))
    finally:
        env.close()
        shutil.rmtree(tmp, ignore_errors=True)


# ---- peak memory of Ray workers -------------------------------------------------------------------------
def _vm_hwm_mb(pid: int) -> float | None:
    """Peak resident set size (VmHWM) of a live process, in MiB (Linux); None when unreadable."""
    try:
        with open(f"/proc/{int(pid)}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        return None
    return None


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a live process has used (Linux /proc), or None."""
    try:
        with open(f"/proc/{int(pid)}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class WorkerSampler:
    """A `collect` callback: after every batch, reads each worker's peak RSS (kept as the maximum) and CPU time.

    CPU time per episode between the first and the last batch answer excludes start-up, and unlike wall time it
    barely depends on how much CPU other processes leave free (Ray runs its workers at nice 15)."""

    def __init__(self) -> None:
        self.peak_mb: dict[str, float] = {}
        self.first: tuple[int, float] | None = None  # (episodes answered, total worker CPU s)
        self.last: tuple[int, float] | None = None

    def __call__(self, state: dict[str, Any]) -> None:
        pids = {name: pid for name, pid in (state.get("pids") or {}).items() if pid is not None}
        cpu = 0.0
        for name, pid in pids.items():
            mb = _vm_hwm_mb(pid)
            if mb is not None and mb > self.peak_mb.get(name, 0.0):
                self.peak_mb[name] = mb
            c = _cpu_seconds(pid)
            cpu = float("nan") if c is None else cpu + c
        point = (int(state.get("attempted", 0)), cpu)
        if self.first is None or (self.first[1] != self.first[1]):
            self.first = point
        self.last = point

    @property
    def cpu_s_per_episode(self) -> float | None:
        if self.first is None or self.last is None or self.last[0] <= self.first[0]:
            return None
        v = (self.last[1] - self.first[1]) / (self.last[0] - self.first[0])
        return v if v == v and v > 0 else None




# ---- one pipeline measurement through the real collector -------------------------------------------------
@dataclass
class PipelineRun:
    workers: int
    episodes: int
    steps: int
    seconds: float  # collection loop: first batch handed out -> last episode durable
    successes: int
    bytes_on_disk: int  # data/ parquet files of the finished dataset
    dataset_bytes: int  # the whole dataset folder
    peak_rss_mb: float | None  # the largest worker's peak RSS
    worker_busy_s: list[float]
    dataset: str
    cpu_s_per_episode: float | None = None  # worker CPU time per episode (between first and last batch answer)


def _folder_bytes(path: Path, pattern: str = "**/*") -> int:
    return sum(f.stat().st_size for f in path.glob(pattern) if f.is_file())


def run_pipeline(cfg: dict[str, Any], *, workers: int, episodes: int, seed: int, out: Path) -> PipelineRun:
    """`flywheel.collectors.collection.collect` into ``out`` with ``workers`` Ray workers; times from its own run record."""
    import json

    from flywheel.collectors.collection.collect import collect
    from flywheel.datasets import schema

    sampler = WorkerSampler()
    summary = collect(cfg["task"], cfg["robot"], episodes, out=str(out), workers=workers, seed=seed, policy="expert",
                      cameras=cfg.get("cameras") or None, max_steps=cfg.get("max_steps"),
                      control_mode=cfg.get("control_mode", "joint_pos"), quiet=True, callback=sampler,
                      **{k: cfg[k] for k in ("image_format", "video_codec", "camera_size", "camera_hz") if cfg.get(k)})
    meta = json.loads((out / schema.FLYWHEEL_META_PATH).read_text())
    run = meta["runs"][-1]
    seconds = float(run["collect_s"])
    busy = [float(w.get("busy_s", 0.0)) for w in run.get("workers", [])]
    return PipelineRun(workers=workers, episodes=int(summary.episodes), steps=int(summary.frames), seconds=seconds,
                       successes=int(summary.successes), bytes_on_disk=_folder_bytes(out / schema.DATA_DIR, "**/*.parquet"),
                       dataset_bytes=_folder_bytes(out), peak_rss_mb=max(sampler.peak_mb.values(), default=None),
                       worker_busy_s=busy, dataset=str(out), cpu_s_per_episode=sampler.cpu_s_per_episode)


def ceiling_of_dataset(env_cfg: dict[str, Any], root: str) -> CeilingResult:
    """The engine ceiling of a one-worker dataset: its episodes replayed physics-only in a fresh env (the
    worker's history), IK targets (ee_delta) read from a second env. Runs wherever it is called."""
    from flywheel.collectors.collection.worker import make_env

    eps = episodes_from_dataset(root)
    env = make_env(env_cfg)
    capture = make_env(env_cfg) if env_cfg.get("control_mode", "joint_pos") != "joint_pos" else None
    try:
        result = physics_replay(env, eps, capture_env=capture)
    finally:
        env.close()
        if capture is not None:
            capture.close()
    result.niceness = os.nice(0) if hasattr(os, "nice") else None
    return result


_REMOTE = {}


def _remote_ceiling(ray):
    if "ceiling" not in _REMOTE:
        _REMOTE["ceiling"] = ray.remote(num_cpus=1, max_retries=0)(ceiling_of_dataset)
    return _REMOTE["ceiling"]


# ---- the whole benchmark -----------------------------------------------------------------------------------
@dataclass
class BenchConfig:
    task: str = "pick_place"
    robot: str = "panda"
    workers: tuple[int, ...] = (1, 2)
    episodes: int = 64
    camera: tuple[str, ...] = ()
    control_mode: str = "joint_pos"
    seed: int = 0
    repeats: int = 1
    quick: bool = False
    max_steps: int | None = None
    split_episodes: int | None = None  # episodes of the in-process runs (default: all, the ceiling's episodes)
    keep_data: bool = False
    image_format: str = "video"
    video_codec: str | None = None
    camera_size: int | None = 224
    camera_hz: int = 10

    def env_cfg(self) -> dict[str, Any]:
        from flywheel.collectors.collection.worker import env_config

        cfg = env_config(self.task, self.robot, self.control_mode, list(self.camera), self.max_steps,
                         camera_size=[self.camera_size] * 2 if self.camera_size else None, camera_hz=self.camera_hz)
        if self.camera:
            from flywheel.datasets.video import check_encoder

            codec = check_encoder(self.video_codec) if self.image_format == "video" else None
            cfg.update(image_format=self.image_format, video_codec=codec)
        return cfg


QUICK = dict(episodes=24, repeats=1)


def run_bench(cfg: BenchConfig, out: str | os.PathLike, *, log: Callable[[str], None] = print,
              command: str | None = None) -> dict[str, Any]:
    """Measure everything for one (task, robot, mode, camera) and return the benchmark document (see `report`).

    Order: start Ray once; per repeat, for each W run the collector (W=1 first) and right after the W=1 run
    replay its episodes physics-only (the ceiling), so ratios compare measurements taken close together;
    then the instrumented time split. Figures are medians over repeats.
    """
    from flywheel.collectors.bench import report as bench_report
    from flywheel.collectors.collection import actor_pool

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data_root = out / "data"
    if data_root.exists():
        shutil.rmtree(data_root)
    env_cfg = cfg.env_cfg()
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    t_begin = time.time()
    from flywheel.collectors.collection.worker import build_policy, make_env

    probe = make_env(env_cfg)  # bad robot, task, camera or mode: fail here, before Ray starts
    try:
        build_policy("expert", cfg.task, probe)
    except Exception:
        probe.close()
        raise
    substeps, control_hz = probe.unwrapped.substeps, probe.unwrapped.control_hz
    probe.close()
    import ray

    runs: dict[int, list[PipelineRun]] = defaultdict(list)
    state_runs: list[PipelineRun] = []  # with a camera: the same episodes without it (camera_over_state)
    ceilings: list[CeilingResult] = []
    started_ray = False
    try:
        started_ray = actor_pool.connect(None, workers=max(cfg.workers))
        for r in range(cfg.repeats):
            for w in sorted(set(cfg.workers) | {1}):
                folder = data_root / f"r{r}-w{w}"
                log(f"bench: pipeline, {w} worker{'s' if w > 1 else ''}, {cfg.episodes} episodes (repeat {r + 1}/{cfg.repeats})")
                run = run_pipeline(env_cfg, workers=w, episodes=cfg.episodes, seed=cfg.seed, out=folder)
                runs[w].append(run)
                log(f"bench:   {run.steps / run.seconds:.0f} steps/s, {run.episodes / run.seconds:.2f} episodes/s")
                if w == 1 and cfg.camera:
                    s_run = run_pipeline(_state_only(env_cfg), workers=1, episodes=cfg.episodes, seed=cfg.seed,
                                         out=data_root / f"r{r}-w1-state")
                    state_runs.append(s_run)
                    log(f"bench:   state only, same episodes: {s_run.episodes / s_run.seconds:.2f} episodes/s")
                if w == 1:
                    # In a Ray worker process too: Ray starts its workers at nice 15, so on a shared machine a
                    # ceiling timed in this (nice 0) process would get more CPU than the pipeline it is compared with.
                    c = ray.get(_remote_ceiling(ray).remote(env_cfg, str(folder)))
                    ceilings.append(c)
                    log(f"bench: engine ceiling (same {c.episodes} episodes, physics only): {c.steps_per_s:.0f} steps/s, "
                        f"{c.verified}/{c.episodes} episodes verified bit for bit")
        n_split = cfg.split_episodes or cfg.episodes
        seeds = [cfg.seed + k for k in range(n_split)]
        log(f"bench: single-process runs of one worker's loop, plain and instrumented ({n_split} episodes)")
        fmt = dict(image_format=env_cfg.get("image_format", "png"), video_codec=env_cfg.get("video_codec"))
        plain = time_split(env_cfg, seeds, instrumented=False, **fmt)
        split = time_split(env_cfg, seeds, instrumented=True, **fmt)
        naive = png = state_plain = None
        if cfg.camera:
            log(f"bench: state only in one process, same seeds ({n_split} episodes): the load-insensitive camera ratio")
            state_plain = time_split(_state_only(env_cfg), seeds, instrumented=False)
            log(f"bench: camera baseline, naive rendering every control step ({n_split} episodes)")
            naive = time_split(env_cfg, seeds, instrumented=False, naive_camera=True, **fmt)
            png = time_split(env_cfg, seeds, instrumented=False, image_format="png") if fmt["image_format"] == "video" else None
    finally:
        if started_ray:
            ray.shutdown()
        if not cfg.keep_data and data_root.exists():
            shutil.rmtree(data_root, ignore_errors=True)
    doc = bench_report.build_document(cfg, runs=runs, ceilings=ceilings, split=split, plain=plain, naive=naive,
                                      substeps=substeps, control_hz=control_hz,
                                      load_before=load_before, wall_s=time.time() - t_begin, command=command)
    if cfg.camera:
        doc["camera_pipeline"] = camera_figures(cfg, runs[1], state_runs, split, plain, png, state_plain)
        doc["camera_pipeline"].update(renderer=_renderer_of(env_cfg), visual_triangles=_visual_triangles())
    return doc


def _state_only(env_cfg: dict[str, Any]) -> dict[str, Any]:
    """The same env config without cameras (the state-only side of ``camera_over_state``)."""
    cfg = {k: v for k, v in env_cfg.items() if k not in ("image_format", "video_codec", "visual_randomization")}
    cfg.update(cameras=[], camera_size=None, camera_hz=None)
    return cfg


def _renderer_of(env_cfg: dict[str, Any]) -> str:
    from flywheel.sim.rendering.renderer import choose_renderer

    return choose_renderer()


def _visual_triangles() -> int:
    from flywheel.sim.rendering.meshes import VISUAL_TRIANGLES

    return VISUAL_TRIANGLES


def camera_figures(cfg: BenchConfig, camera_runs: list[PipelineRun], state_runs: list[PipelineRun],
                   split: SplitResult, plain: SplitResult, png: SplitResult | None,
                   state_plain: SplitResult | None = None) -> dict[str, Any]:
    """The camera's cost, from one run: the 1-worker collector with the camera against the same episodes state-only
    (``camera_over_state``), bytes per camera frame (video against PNG) and one worker's render/encode split.

    ``camera_over_state_cpu`` is the same ratio from process CPU time of the in-process loop (camera run against
    the state-only run of the same seeds): on a machine shared with other work, wall-clock episodes/s of Ray
    workers (nice 15) follow the load more than the code, CPU seconds per episode do not."""
    def eps(rs):
        return _median_of([r.episodes / r.seconds for r in rs])

    cam, state = eps(camera_runs), eps(state_runs)
    frames = max(1, split.steps)
    n_cams = max(1, len(cfg.camera))
    video = split.video_bytes / frames / n_cams if split.video_bytes else None
    png_b = (png.bytes_written - plain.bytes_written) / frames / n_cams if png is not None else \
        (plain.bytes_written / frames / n_cams if cfg.image_format == "png" else None)
    return {
        "what": f"1 worker, {cfg.episodes} episodes, camera(s) {', '.join(cfg.camera)} at {cfg.camera_size}px, "
                f"{cfg.camera_hz} Hz, stored as {cfg.image_format}; state only = the same seeds without a camera",
        "camera_episodes_per_s": cam, "state_episodes_per_s": state,
        "camera_over_state": cam / state if state else None,
        "camera_over_state_cpu": (state_plain.process_cpu_seconds / plain.process_cpu_seconds
                                  if state_plain is not None and plain.process_cpu_seconds > 0 else None),
        "camera_cpu_s_per_episode": plain.process_cpu_seconds / max(1, plain.episodes),
        "state_cpu_s_per_episode": state_plain.process_cpu_seconds / max(1, state_plain.episodes) if state_plain else None,
        "camera_episodes_per_day_per_core_cpu": 86400 * max(1, plain.episodes) / plain.process_cpu_seconds
        if plain.process_cpu_seconds > 0 else None,
        "camera_episodes_per_day_per_worker": cam * 86400,
        "bytes_per_frame_video": video, "bytes_per_frame_png": png_b,
        "video_over_png": video / png_b if video and png_b else None,
        "render_s": split.split_s.get("rendering", 0.0), "encode_s": split.encode_s, "loop_s": split.seconds,
        "render_fraction": split.split_s.get("rendering", 0.0) / split.seconds if split.seconds else None,
        "encode_fraction": split.encode_s / split.seconds if split.seconds else None,
        "render_ms_per_frame": 1000 * split.split_s.get("rendering", 0.0) / frames,
        "render_ms_per_render": 1000 * split.split_s.get("rendering", 0.0) / split.renders if split.renders else None,
        "encode_ms_per_frame": 1000 * split.encode_s / frames,
    }


def _median_of(values: list[float]) -> float:
    v = sorted(values)
    return v[len(v) // 2] if v else 0.0


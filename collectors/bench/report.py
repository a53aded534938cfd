"""The benchmark's outputs: the JSON document, the Markdown table and the PNG chart.

Every derived figure is computed here, in `derive`, from measured figures stored in the same record
(``episodes``, ``steps``, ``seconds``, ``ceiling_steps_per_s``, ``one_worker_steps_per_s``, ``bytes_on_disk``)
and the reference figures in `flywheel.seeds`; nothing is rounded in the JSON, so anyone can recompute
each ratio from the numbers next to it (the test does).
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

SECONDS_PER_DAY = 86400.0
SCHEMA = "flywheel-bench/1"
REQUIRED_RECORD_KEYS = ("workers", "steps_per_s", "episodes_per_s", "episodes_per_day", "pipeline_efficiency",
                        "parallel_efficiency", "bytes_per_episode", "peak_rss_mb")

# Targets of issue 7, by what they apply to.
TARGET_PIPELINE_EFFICIENCY = 0.90
TARGET_PARALLEL_EFFICIENCY = 0.92
TARGET_EPISODES_PER_DAY = {  # (task, robot kind) -> (episodes per day on 2 cores, normalised episode length in s or None)
    ("pick_place", "arm"): (1_000_000, 10.0),
    ("balance", "humanoid"): (250_000, None),
    ("reach", "humanoid"): (250_000, None),
}
TARGET_CAMERA_SPEEDUP = 3.0


def _median(values) -> float:
    v = sorted(float(x) for x in values)
    n = len(v)
    if not n:
        return float("nan")
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def derive(rec: dict[str, Any], ref, control_hz: int, substeps: int) -> dict[str, Any]:
    """Fill a record's derived figures from its measured ones (in place; returns it)."""
    w = rec["workers"]
    sps = rec["steps"] / rec["seconds"]
    eps = rec["episodes"] / rec["seconds"]
    per_day = eps * SECONDS_PER_DAY
    rec["steps_per_s"] = sps
    rec["physics_steps_per_s"] = sps * substeps
    rec["episodes_per_s"] = eps
    rec["episodes_per_day"] = per_day
    rec["episodes_per_robot_day"] = per_day / w
    rec["sim_seconds_per_episode"] = rec["steps"] / rec["episodes"] / control_hz
    rec["episodes_per_day_at_10s"] = sps * SECONDS_PER_DAY / (10.0 * control_hz)
    rec["x_300_per_robot_day"] = rec["episodes_per_robot_day"] / ref.per_robot_low
    rec["x_500_per_robot_day"] = rec["episodes_per_robot_day"] / ref.per_robot_high
    rec["real_robots_equivalent"] = {"at_300_per_day": per_day / ref.per_robot_low,
                                     "at_500_per_day": per_day / ref.per_robot_high}
    rec["data_fields_equivalent"] = per_day / ref.per_field
    rec["days_for_100m_episodes"] = ref.per_year / per_day if per_day > 0 else None
    ceiling = rec.get("ceiling_steps_per_s")
    rec["pipeline_efficiency"] = sps / (w * ceiling) if ceiling else None
    one = rec.get("one_worker_steps_per_s")
    rec["parallel_efficiency"] = sps / (w * one) if one and rec["kind"] == "pipeline" else None
    on_disk = rec.get("bytes_on_disk")
    rec["bytes_per_episode"] = on_disk / rec["episodes"] if on_disk is not None else None
    return rec


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    from importlib import metadata

    for name in ("flywheel", "pybullet", "numpy", "pyarrow", "ray", "gymnasium"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def machine(load_before=None) -> dict[str, Any]:
    cores = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    return {"cores": cores, "usable_cores": usable, "cpu_model": _cpu_model(), "memory_gb": _memory_gb(),
            "platform": platform.platform(), "load_average_before": list(load_before) if load_before else None,
            "load_average_after": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def build_document(cfg, *, runs, ceilings, split, plain, substeps: int, control_hz: int, naive=None, load_before=None,
                   wall_s: float | None = None, command: str | None = None) -> dict[str, Any]:
    """The benchmark document from raw measurements (`run_bench` calls this; tests may too)."""
    from flywheel import robots
    from flywheel.seeds import reference

    ref = reference()
    c_steps, c_eps = ceilings[0].steps, ceilings[0].episodes
    c_seconds = _median(c.seconds for c in ceilings)
    c_cpu = _median(c.cpu_seconds for c in ceilings)
    ceiling = {
        "what": "the same episodes (seeds and recorded actions of the 1-worker dataset) re-simulated in one process "
                "with physics only: joint targets, task physics hooks, substeps; no policy, observation, rendering "
                "or writing",
        "episodes": c_eps, "steps": c_steps, "seconds": c_seconds, "seconds_repeats": [c.seconds for c in ceilings],
        "steps_per_s": c_steps / c_seconds, "cpu_seconds": c_cpu, "cpu_steps_per_s": c_steps / c_cpu if c_cpu else None,
        "niceness": ceilings[0].niceness,
        "verified_episodes": min(c.verified for c in ceilings),
        "mismatched_episodes": sorted({k for c in ceilings for k in c.mismatched}),
    }
    ceiling_sps = ceiling["steps_per_s"]
    records = []
    crec = {"kind": "ceiling", "label": "engine ceiling (physics only, 1 core)", "workers": 1, "episodes": c_eps,
            "steps": c_steps, "seconds": c_seconds, "ceiling_steps_per_s": ceiling_sps, "one_worker_steps_per_s": None,
            "bytes_on_disk": None, "peak_rss_mb": None, "success_rate": None}
    records.append(derive(crec, ref, control_hz, substeps))
    one = one_cpu = None
    for w in sorted(runs):
        rs = runs[w]
        seconds = _median(r.seconds for r in rs)
        first = rs[0]
        rec = {"kind": "pipeline", "label": f"pipeline, {w} worker{'s' if w > 1 else ''}", "workers": w,
               "episodes": first.episodes, "steps": first.steps, "seconds": seconds,
               "seconds_repeats": [r.seconds for r in rs], "ceiling_steps_per_s": ceiling_sps,
               "one_worker_steps_per_s": None, "bytes_on_disk": first.bytes_on_disk,
               "dataset_bytes": first.dataset_bytes,
               "peak_rss_mb": max((r.peak_rss_mb for r in rs if r.peak_rss_mb is not None), default=None),
               "success_rate": first.successes / first.episodes if first.episodes else None,
               "worker_busy_s": [r.worker_busy_s for r in rs]}
        # Are the workers kept busy? busy / loop ~ 1 means the driver feeds them and any shortfall in parallel
        # efficiency is each worker running slower (CPU share, memory bandwidth), not waiting for work.
        rec["worker_utilisation"] = _median(sum(r.worker_busy_s) / (len(r.worker_busy_s) * r.seconds)
                                            for r in rs if r.worker_busy_s and r.seconds > 0) if any(r.worker_busy_s for r in rs) else None
        cpu = [r.cpu_s_per_episode for r in rs if getattr(r, "cpu_s_per_episode", None)]
        rec["worker_cpu_s_per_episode"] = _median(cpu) if cpu else None
        busy = [sum(r.worker_busy_s) for r in rs if r.worker_busy_s]
        rec["steps_per_busy_worker_s"] = first.steps / _median(busy) if busy else None
        if w == 1:
            one = rec["steps"] / rec["seconds"]
            one_cpu = rec["worker_cpu_s_per_episode"]
        # CPU-time scaling: the same episodes' worker CPU time at 1 worker over W workers (1.0 = no extra work per
        # episode with more workers); independent of how much CPU other processes leave free
        rec["parallel_efficiency_cpu"] = (one_cpu / rec["worker_cpu_s_per_episode"]
                                          if one_cpu and rec["worker_cpu_s_per_episode"] else None)
        rec["one_worker_steps_per_s"] = one
        records.append(derive(rec, ref, control_hz, substeps))
        if w == 1 and len(rs) == len(ceilings):  # paired per repeat: pipeline and ceiling measured back to back
            rec["pipeline_efficiency_repeats"] = [(r.steps / r.seconds) / (c.steps / c.seconds) for r, c in zip(rs, ceilings)]
    fractions = split.split
    time_split = {
        "what": "instrumented single-process run of the collector's per-worker loop (EpisodeRecorder + StagingWriter) "
                "on the same seeds; exclusive wall time per part",
        "episodes": split.episodes, "steps": split.steps, "seconds": split.seconds,
        "seconds_by_part": dict(split.split_s), "fraction": fractions,
        "uninstrumented": {"episodes": plain.episodes, "steps": plain.steps, "seconds": plain.seconds,
                           "cpu_seconds": plain.cpu_seconds, "steps_per_s": plain.steps / plain.seconds,
                           "cpu_steps_per_s": plain.steps / plain.cpu_seconds if plain.cpu_seconds else None},
    }
    if ceiling["cpu_steps_per_s"] and time_split["uninstrumented"]["cpu_steps_per_s"] and plain.steps == c_steps:
        # Same per-step work, counted in CPU time of the one thread doing it: a cross-check of the pipeline
        # efficiency that other processes' load barely moves (the wall-clock figure is the headline).
        time_split["uninstrumented"]["pipeline_efficiency_cpu"] = (
            time_split["uninstrumented"]["cpu_steps_per_s"] / ceiling["cpu_steps_per_s"])
    for rec in records:
        rec["time_split"] = fractions if rec["kind"] == "pipeline" else {"physics": 1.0}
    camera = None
    if naive is not None:
        camera = {"what": "one worker's loop in this process, same seeds: the camera rig as used (matrices cached, "
                          "no segmentation mask) against rendering naively every control step (matrices recomputed, "
                          "full image read back), both with the model's stock meshes",
                  "episodes": plain.episodes, "rig_seconds": plain.seconds, "naive_seconds": naive.seconds,
                  "rig_episodes_per_s": plain.episodes / plain.seconds, "naive_episodes_per_s": naive.episodes / naive.seconds,
                  "speedup": naive.seconds / plain.seconds, "rendering_fraction": fractions.get("rendering")}
    try:
        kind = robots.get(cfg.robot).kind
    except Exception:
        kind = None
    doc = {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command or "flywheel.collectors.bench.run_bench(...)",
        "machine": machine(load_before),
        "versions": _versions(),
        "config": {"task": cfg.task, "robot": cfg.robot, "robot_kind": kind, "control_mode": cfg.control_mode,
                   "camera": list(cfg.camera), "episodes": cfg.episodes, "seed": cfg.seed, "repeats": cfg.repeats,
                   "workers": list(cfg.workers), "quick": cfg.quick, "control_hz": control_hz, "substeps": substeps,
                   "physics_hz": control_hz * substeps, "units": "a step is one control step (env.step); "
                   "physics_steps_per_s counts simulator substeps; one worker = one simulated robot"},
        "reference": ref.as_dict(),
        "ceiling": ceiling,
        "time_split": time_split,
        "records": records,
        "camera": camera,
        "wall_s": wall_s,
    }
    doc["targets"] = targets(doc)
    return doc


def targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 7's targets that apply to this configuration, each with the measured figure and met / not met."""
    cfg, out = doc["config"], []
    pipes = {r["workers"]: r for r in doc["records"] if r["kind"] == "pipeline"}
    if 1 in pipes and cfg["task"] in ("reach", "pick_place") and not cfg["camera"]:
        v = pipes[1]["pipeline_efficiency"]
        out.append({"target": f"pipeline efficiency >= {TARGET_PIPELINE_EFFICIENCY} at 1 worker", "value": v,
                    "met": v is not None and v >= TARGET_PIPELINE_EFFICIENCY})
    if 2 in pipes:
        v = pipes[2]["parallel_efficiency"]
        out.append({"target": f"parallel efficiency >= {TARGET_PARALLEL_EFFICIENCY} at 2 workers", "value": v,
                    "met": v is not None and v >= TARGET_PARALLEL_EFFICIENCY})
    if doc.get("camera"):
        v = doc["camera"]["speedup"]
        out.append({"target": f"camera: >= {TARGET_CAMERA_SPEEDUP:g}x the episodes/s of naive per-step TinyRenderer "
                              "rendering", "value": v, "met": v >= TARGET_CAMERA_SPEEDUP})
    goal = TARGET_EPISODES_PER_DAY.get((cfg["task"], cfg.get("robot_kind")))
    if goal and not cfg["camera"] and pipes:
        n, length = goal
        w = max(k for k in pipes if k <= max(2, 1))
        rec = pipes[w]
        v = rec["episodes_per_day_at_10s"] if length else rec["episodes_per_day"]
        what = f"{length:g}-s episodes" if length else "episodes"
        out.append({"target": f">= {n:,} state-only {cfg['robot']} {cfg['task']} {what} per day on 2 cores "
                              f"(measured with {w} worker{'s' if w > 1 else ''})", "value": v, "met": v >= n})
    return out


# ---- Markdown -------------------------------------------------------------------------------------------
def _fmt(v, digits=0, pct=False) -> str:
    if v is None:
        return "-"
    if pct:
        return f"{v:.2f}"
    if isinstance(v, float) and digits:
        return f"{v:,.{digits}f}"
    return f"{v:,.0f}"


def markdown(doc: dict[str, Any]) -> str:
    cfg, m = doc["config"], doc["machine"]
    cam = ", ".join(cfg["camera"]) or "none (state only)"
    lines = [
        f"**{cfg['robot']} / {cfg['task']}** ({cfg['control_mode']}, camera: {cam}), {cfg['episodes']} episodes per "
        f"configuration, seeds {cfg['seed']}..{cfg['seed'] + cfg['episodes'] - 1}, {cfg['repeats']} repeat(s), "
        f"{m['cores']} cores ({m['cpu_model']}), load average before {_load(m['load_average_before'])}, "
        f"after {_load(m['load_average_after'])}.",
        "",
        "| configuration | steps/s | episodes/s | episodes/day | per robot-day | x300 | x500 | real robots (500-300/day) "
        "| data fields | days for 100M | pipeline eff. | parallel eff. | bytes/episode | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in doc["records"]:
        robots_eq = r["real_robots_equivalent"]
        lines.append(
            f"| {r['label']} | {_fmt(r['steps_per_s'])} | {_fmt(r['episodes_per_s'], 2)} | {_fmt(r['episodes_per_day'])} "
            f"| {_fmt(r['episodes_per_robot_day'])} | {_fmt(r['x_300_per_robot_day'])} | {_fmt(r['x_500_per_robot_day'])} "
            f"| {_fmt(robots_eq['at_500_per_day'])}-{_fmt(robots_eq['at_300_per_day'])} | {_fmt(r['data_fields_equivalent'], 1)} "
            f"| {_fmt(r['days_for_100m_episodes'], 1)} | {_fmt(r['pipeline_efficiency'], pct=True)} "
            f"| {_fmt(r['parallel_efficiency'], pct=True)} | {_fmt(r['bytes_per_episode'])} | {_fmt(r['peak_rss_mb'])} |")
    c, ts = doc["ceiling"], doc["time_split"]
    sim_s = doc["records"][0]["sim_seconds_per_episode"]
    lines += [
        "",
        f"Episodes average {sim_s:.2f} s of simulated time ({cfg['control_hz']} Hz control, {cfg['substeps']} physics "
        f"substeps at {cfg['physics_hz']} Hz); at 10 s per episode the pipeline rows would read "
        + ", ".join(f"{_fmt(r['episodes_per_day_at_10s'])}/day ({r['workers']}w)" for r in doc["records"] if r["kind"] == "pipeline")
        + ".",
        f"Engine ceiling: the same {c['episodes']} episodes replayed physics-only in a Ray worker process (nice "
        f"{c.get('niceness')}, as the collector's workers), {c['verified_episodes']}/{c['episodes']} verified bit for bit "
        f"against the dataset.",
        "",
        "Time split of one worker (instrumented single process, exclusive wall time): "
        + ", ".join(f"{k} {v:.1%}" for k, v in ts["fraction"].items()) + ".",
    ]
    if doc.get("camera"):
        cam = doc["camera"]
        lines.append(f"Camera: {cam['rig_episodes_per_s']:.2f} episodes/s with the rig as used, "
                     f"{cam['naive_episodes_per_s']:.2f} rendering naively every step: {cam['speedup']:.2f}x "
                     f"(rendering is {cam['rendering_fraction']:.0%} of a step).")
    if doc.get("camera_pipeline"):
        cp = doc["camera_pipeline"]
        ratio = f"{cp['video_over_png']:.2f}" if cp.get("video_over_png") else "n/a"
        lines.append(f"Camera over state (1 worker, same episodes): {cp['camera_over_state']:.3f} "
                     f"({cp['camera_episodes_per_s']:.2f} vs {cp['state_episodes_per_s']:.2f} episodes/s); bytes per frame "
                     f"video {cp['bytes_per_frame_video'] or 0:.0f}, PNG {cp['bytes_per_frame_png'] or 0:.0f} "
                     f"(ratio {ratio}); render {cp['render_ms_per_frame']:.2f} ms/frame ({cp['render_fraction']:.0%}), "
                     f"encode {cp['encode_ms_per_frame']:.2f} ms/frame ({cp['encode_fraction']:.0%}).")
        if cp.get("camera_over_state_cpu"):
            lines.append(f"Camera over state in process CPU time (in-process, same seeds, load-insensitive): "
                         f"{cp['camera_over_state_cpu']:.3f}; camera episodes per core-day "
                         f"{cp['camera_episodes_per_day_per_core_cpu']:,.0f}; {cp.get('render_ms_per_render') or 0:.2f} ms "
                         f"per rendered frame; renderer {cp.get('renderer')}, robot visual meshes at "
                         f"{cp.get('visual_triangles')} triangles.")
    cpu_eff = ts["uninstrumented"].get("pipeline_efficiency_cpu")
    if cpu_eff is not None:
        lines.append(f"Pipeline efficiency in thread CPU time (in-process, load-insensitive cross-check): {cpu_eff:.2f}.")
    if doc.get("targets"):
        lines += ["", "| target | measured | met |", "|---|---:|---|"]
        for t in doc["targets"]:
            v = t["value"]
            shown = "-" if v is None else (f"{v:.3f}" if v < 10 else f"{v:,.0f}")
            lines.append(f"| {t['target']} | {shown} | {'yes' if t['met'] else 'no'} |")
    util = [f"{r['workers']}w {r['worker_utilisation']:.2f}" for r in doc["records"]
            if r["kind"] == "pipeline" and r.get("worker_utilisation") is not None]
    if util:
        lines.append("Worker utilisation (busy time / collection time): " + ", ".join(util) + "; steps per busy "
                     "worker-second: " + ", ".join(f"{r['workers']}w {r['steps_per_busy_worker_s']:,.0f}" for r in doc["records"]
                                                   if r["kind"] == "pipeline" and r.get("steps_per_busy_worker_s")) + ".")
    cpu_par = [f"{r['workers']}w {r['parallel_efficiency_cpu']:.2f}" for r in doc["records"]
               if r["kind"] == "pipeline" and r.get("parallel_efficiency_cpu") is not None]
    if cpu_par:
        lines.append("Parallel efficiency in worker CPU time per episode (load-insensitive cross-check): "
                     + ", ".join(cpu_par) + ".")
    lines += ["", f"Command: `{doc['command']}`"]
    return "\n".join(lines) + "\n"


def _load(v) -> str:
    return "-" if not v else " / ".join(f"{x:.2f}" for x in v)


# ---- chart -----------------------------------------------------------------------------------------------
class ChartUnavailable(RuntimeError):
    pass


def chart(doc: dict[str, Any], path: str | os.PathLike) -> Path:
    """Episodes per day against workers (log scale), the engine ceiling x W, and the 300-500 per robot band."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ChartUnavailable("the chart needs matplotlib: pip install 'flywheel[bench]' (or matplotlib); "
                               "the JSON and the Markdown table were written") from None
    ref = doc["reference"]
    low, high = ref["per_robot_per_day"]
    pipes = [r for r in doc["records"] if r["kind"] == "pipeline"]
    ceiling = next(r for r in doc["records"] if r["kind"] == "ceiling")
    ws = [r["workers"] for r in pipes]
    top = max(ws + [2])
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    xs = list(range(1, top + 1))
    ax.fill_between(xs, [low * w for w in xs], [high * w for w in xs], color="tab:orange", alpha=0.3,
                    label=f"{low}-{high} episodes per robot per day (x robots)")
    ax.plot(xs, [ceiling["episodes_per_day"] * w for w in xs], "--", color="grey",
            label="engine ceiling x workers (physics only)")
    ax.plot(ws, [r["episodes_per_day"] for r in pipes], "o-", color="tab:blue", label="pipeline (collector + writing)")
    for r in pipes:
        ax.annotate(f"{r['episodes_per_day']:,.0f}", (r["workers"], r["episodes_per_day"]), textcoords="offset points",
                    xytext=(6, -12), fontsize=8)
    ax.set_yscale("log")
    ax.set_xticks(xs)
    ax.set_xlabel("workers (one worker = one simulated robot)")
    ax.set_ylabel("episodes per day")
    cfg = doc["config"]
    ax.set_title(f"{cfg['robot']} {cfg['task']} ({'camera ' + ','.join(cfg['camera']) if cfg['camera'] else 'state only'}), "
                 f"{doc['machine']['cores']} cores")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_outputs(doc: dict[str, Any], out: str | os.PathLike, stem: str = "bench") -> dict[str, str | None]:
    """bench.json, bench.md and bench.png under ``out``; the chart is skipped (with a message) without matplotlib."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str | None] = {}
    j = out / f"{stem}.json"
    j.write_text(json.dumps(doc, indent=2) + "\n")
    paths["json"] = str(j)
    md = out / f"{stem}.md"
    md.write_text(markdown(doc))
    paths["markdown"] = str(md)
    try:
        paths["chart"] = str(chart(doc, out / f"{stem}.png"))
    except ChartUnavailable as err:
        print(f"flywheel bench: {err}", file=sys.stderr)
        paths["chart"] = None
    return paths

"""`flywheel bench`: a tiny real run end to end (JSON fields, ratios computed from the measured numbers next to
them, table, chart), plus the pieces it rests on: exclusive section timing, a physics-only ceiling that provably
replays the same trajectories, and derived figures recomputed from synthetic measurements."""
import json
import math
import sys
import time

import numpy as np
import pytest

from flywheel.collectors.bench import report as bench_report, run as bench
from flywheel.seeds import reference

RECORD_KEYS = ("workers", "steps_per_s", "episodes_per_s", "episodes_per_day", "pipeline_efficiency",
               "parallel_efficiency", "bytes_per_episode", "peak_rss_mb")


def _recorded(task, robot, mode, seeds):
    from flywheel.collectors.collection.recorder import EpisodeRecorder
    from flywheel.collectors.collection.worker import build_policy, env_config, make_env

    env = make_env(env_config(task, robot, mode))
    rec, pol = EpisodeRecorder(env), build_policy("expert", task, env)
    eps = []
    for s in seeds:
        e = rec.run(pol, s)
        eps.append(bench.RecordedActions(s, s, e.frames["action"], e.frames["observation.state"][-1].copy()))
    return env, eps


@pytest.mark.parametrize("task, robot, mode", [("pick_place", "panda", "joint_pos"), ("reach", "panda", "ee_delta"),
                                               ("balance", "flywheel_humanoid", "joint_pos")])
def test_ceiling_replays_the_same_trajectories_physics_only(task, robot, mode):
    from flywheel.collectors.collection.worker import env_config, make_env

    recorder_env, eps = _recorded(task, robot, mode, [0, 1])
    env = make_env(env_config(task, robot, mode))  # fresh, as the benchmark does: the recording env's history
    try:
        c = bench.physics_replay(env, eps, capture_env=recorder_env)
        assert c.episodes == 2 and c.steps == sum(len(e.actions) for e in eps)
        assert c.physics_steps == c.steps * env.unwrapped.substeps
        assert c.verified == 2 and c.mismatched == []  # bit for bit (float32) against the recorded state
        assert c.seconds > 0 and c.cpu_seconds > 0
        # a wrong action sequence is caught, not silently timed
        bad = [bench.RecordedActions(0, 0, eps[0].actions[::-1].copy(), eps[0].last_state)]
        assert bench.physics_replay(env, bad, capture_env=recorder_env).mismatched == [0]
    finally:
        env.close()
        recorder_env.close()


def test_section_clock_is_exclusive():
    clock = bench.SectionClock()
    inner = clock.wrap("inner", lambda: time.sleep(0.02))

    def outer_body():
        time.sleep(0.02)
        inner()

    outer = clock.wrap("outer", outer_body)
    outer()
    assert 0.015 < clock.totals["inner"] < 0.2
    assert 0.015 < clock.totals["outer"] < 0.2  # the nested 20 ms are not charged to the outer section twice
    assert clock.totals["outer"] < 0.035 + (clock.totals["inner"] - 0.02)
    assert clock.calls == {"inner": 1, "outer": 1}


class _C:
    def __init__(self, steps, episodes, seconds, cpu):
        self.steps, self.episodes, self.seconds, self.cpu_seconds = steps, episodes, seconds, cpu
        self.physics_steps, self.verified, self.mismatched, self.niceness = steps * 12, episodes, [], 15


def _synthetic_doc():
    runs = {w: [bench.PipelineRun(w, 10, 1000, s, 9, 50_000, 70_000, 300.0 + w, [s] * w, "x") for s in secs]
            for w, secs in {1: [2.0, 2.2, 1.9], 2: [1.1, 1.05, 1.3]}.items()}
    split = bench.SplitResult(10, 1000, 2.5, 2.4, {"physics": 2.0, "policy": 0.2, "observation": 0.1, "rendering": 0.0,
                                                   "writing": 0.1, "reset": 0.05, "other": 0.05}, 50_000, 200.0)
    plain = bench.SplitResult(10, 1000, 2.1, 2.0, {}, 50_000, 200.0)
    cfg = bench.BenchConfig(task="pick_place", robot="panda", workers=(1, 2), episodes=10, repeats=3)
    return bench_report.build_document(cfg, runs=runs, ceilings=[_C(1000, 10, 1.8, 1.7), _C(1000, 10, 1.7, 1.6),
                                                                 _C(1000, 10, 1.75, 1.65)],
                                       split=split, plain=plain, substeps=12, control_hz=20, command="test")


def test_derived_figures_are_computed_from_the_measured_ones():
    doc = _synthetic_doc()
    ref = reference()
    ceiling, one, two = doc["records"]
    assert ceiling["kind"] == "ceiling" and one["workers"] == 1 and two["workers"] == 2
    assert doc["ceiling"]["seconds"] == 1.75 and ceiling["steps_per_s"] == 1000 / 1.75  # median of repeats
    assert one["seconds"] == 2.0 and two["seconds"] == 1.1
    for r in (one, two):
        w = r["workers"]
        assert r["steps_per_s"] == r["steps"] / r["seconds"]
        assert r["episodes_per_day"] == r["episodes"] / r["seconds"] * 86400
        assert r["episodes_per_robot_day"] == r["episodes_per_day"] / w
        assert r["x_300_per_robot_day"] == r["episodes_per_robot_day"] / 300
        assert r["x_500_per_robot_day"] == r["episodes_per_robot_day"] / 500
        assert r["data_fields_equivalent"] == r["episodes_per_day"] / ref.per_field
        assert r["days_for_100m_episodes"] == 1e8 / r["episodes_per_day"]
        assert r["pipeline_efficiency"] == r["steps_per_s"] / (w * r["ceiling_steps_per_s"])
        assert r["parallel_efficiency"] == r["steps_per_s"] / (w * one["steps_per_s"])
        assert r["bytes_per_episode"] == 5000
        assert r["peak_rss_mb"] == 300.0 + w
    assert one["parallel_efficiency"] == 1.0
    assert one["pipeline_efficiency_repeats"] == [(1000 / 2.0) / (1000 / 1.8), (1000 / 2.2) / (1000 / 1.7),
                                                  (1000 / 1.9) / (1000 / 1.75)]
    assert math.isclose(sum(one["time_split"].values()), 1.0)
    assert doc["time_split"]["uninstrumented"]["pipeline_efficiency_cpu"] == (1000 / 2.0) / (1000 / 1.65)
    by_target = {t["target"].split(" ")[0]: t for t in doc["targets"]}
    assert by_target["pipeline"]["value"] == one["pipeline_efficiency"] and not by_target["pipeline"]["met"]
    assert by_target["parallel"]["value"] == two["parallel_efficiency"]
    assert by_target[">="]["value"] == two["episodes_per_day_at_10s"]


def test_markdown_and_chart(tmp_path, monkeypatch, capsys):
    doc = _synthetic_doc()
    md = bench_report.markdown(doc)
    assert "| pipeline, 2 workers |" in md and "engine ceiling" in md and "Command: `test`" in md
    paths = bench_report.write_outputs(doc, tmp_path)
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "bench.json").read_text())["records"][1]["workers"] == 1
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    paths = bench_report.write_outputs(doc, tmp_path / "nochart")
    assert paths["chart"] is None and (tmp_path / "nochart" / "bench.md").exists()
    assert "pip install 'flywheel[bench]'" in capsys.readouterr().err


def test_bench_command_tiny_run(tmp_path, capsys):
    """The CLI on a tiny configuration: real collector with 1 and 2 Ray workers, ceiling, split, outputs."""
    from flywheel.cli import main

    out = tmp_path / "bench"
    rc = main(["bench", "--task", "reach", "--robot", "panda", "--workers", "1,2", "--episodes", "6", "--quick",
               "--quiet", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| pipeline, 1 worker |" in printed and "| pipeline, 2 workers |" in printed
    doc = json.loads((out / "bench.json").read_text())
    assert (out / "bench.md").exists() and (out / "bench.png").exists()
    assert not (out / "data").exists()  # collected datasets are removed unless --keep-data
    assert doc["machine"]["cores"] >= 1 and doc["versions"]["pybullet"] and "bench" in doc["command"]
    assert doc["config"]["task"] == "reach" and doc["config"]["workers"] == [1, 2]
    ceiling = doc["ceiling"]
    assert ceiling["verified_episodes"] == ceiling["episodes"] == 6 and ceiling["mismatched_episodes"] == []
    pipes = {r["workers"]: r for r in doc["records"] if r["kind"] == "pipeline"}
    assert set(pipes) == {1, 2}
    for r in doc["records"]:
        for key in RECORD_KEYS:
            assert key in r
    for w, r in pipes.items():
        assert r["episodes"] == 6 and r["steps"] == ceiling["steps"]  # the same episodes in every configuration
        assert r["seconds"] > 0 and r["bytes_per_episode"] > 0 and r["peak_rss_mb"] > 50
        # every ratio is the measured numbers it is computed from
        assert r["steps_per_s"] == pytest.approx(r["steps"] / r["seconds"], rel=1e-12)
        assert r["episodes_per_s"] == pytest.approx(r["episodes"] / r["seconds"], rel=1e-12)
        assert r["episodes_per_day"] == pytest.approx(r["episodes_per_s"] * 86400, rel=1e-12)
        assert r["ceiling_steps_per_s"] == pytest.approx(ceiling["steps"] / ceiling["seconds"], rel=1e-12)
        assert r["pipeline_efficiency"] == pytest.approx(r["steps_per_s"] / (w * ceiling["steps_per_s"]), rel=1e-12)
        assert r["parallel_efficiency"] == pytest.approx(r["steps_per_s"] / (w * pipes[1]["steps_per_s"]), rel=1e-12)
        assert r["x_300_per_robot_day"] == pytest.approx(r["episodes_per_day"] / w / 300, rel=1e-12)
        assert r["days_for_100m_episodes"] == pytest.approx(1e8 / r["episodes_per_day"], rel=1e-12)
        assert r["bytes_per_episode"] == pytest.approx(r["bytes_on_disk"] / r["episodes"], rel=1e-12)
        assert set(r["time_split"]) == set(bench.SPLIT_KEYS) and sum(r["time_split"].values()) == pytest.approx(1.0)
    assert pipes[1]["parallel_efficiency"] == 1.0
    assert np.isfinite(doc["time_split"]["seconds"])

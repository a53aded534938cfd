"""``flywheel dataset report`` and ``flywheel dataset view``.

The report is checked where it is used: in a real headless Chromium (Debian's package; ``make test`` installs it
with scripts/install_chromium.sh where it can, else these tests skip with the reason). The page's own script
writes how many of its videos reached ``loadeddata`` and how many played into ``<body data-videos=...>``;
Chromium's ``--dump-dom`` returns the DOM after the page ran, and ``--enable-logging=stderr`` prints every console
message, of which there must be none. Real datasets are collected in this process (the collectors' worker without
Ray, 2-3 short panda reach episodes), one with a camera stored as video, one state-only whose samples are
re-rendered through replay.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flywheel.cli import main as cli_main
from flywheel.datasets import create_dataset, finalize, synthetic
from flywheel.datasets.merge import merge
from flywheel.datasets.report import build_html, success_rows
from flywheel.datasets.report_data import gather, pick_samples

ROOT = Path(__file__).resolve().parent.parent


def collect_in_process(out: Path, episodes: int, *, cameras=None, task="reach", robot="panda", seed=0) -> Path:
    """A real flywheel dataset without Ray: the plan, the collectors' worker run in this process, finalize."""
    from flywheel.collectors.collection.config import CollectConfig
    from flywheel.collectors.collection.plan import plan_run
    from flywheel.collectors.collection.worker import CollectorWorker

    config = CollectConfig(task, robot, episodes, out=out, seed=seed, cameras=cameras, camera_size=64).checked()
    plan = plan_run(config)
    create_dataset(out, features=plan.features, fps=plan.fps, robot_type=plan.robot_type, task=plan.task_string,
                   flywheel_meta=plan.flywheel_meta)
    w = CollectorWorker("w0", str(out), plan.env_cfg, seed0=seed, episodes_per_file=episodes)
    w.run(list(range(episodes)))
    w.close()
    finalize(out)
    return out


@pytest.fixture(scope="module")
def chromium() -> str:
    def find():
        return shutil.which("chromium") or shutil.which("chromium-browser")

    if find() is None:
        subprocess.run(["sh", str(ROOT / "scripts" / "install_chromium.sh")], timeout=500)
    path = find()
    if path is None:
        pytest.skip("Chromium is not installed and could not be installed here (scripts/install_chromium.sh: "
                    "Debian, root and apt-get are needed); the report's browser checks are skipped")
    return path


def open_in_chromium(chromium: str, page: Path, tmp: Path, *, screenshot: Path | None = None) -> tuple[str, str]:
    """(DOM after the page ran, Chromium's stderr) for ``page``; with ``screenshot``, a PNG of the page too."""
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--mute-audio",
            "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={tmp / 'chromium-profile'}",
            "--enable-logging=stderr", "--v=0"]
    res = subprocess.run(base + ["--virtual-time-budget=15000", "--dump-dom", page.resolve().as_uri()],
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    if screenshot is not None:
        shot = subprocess.run(base + [f"--screenshot={screenshot}", "--window-size=1280,1600",
                                      "--virtual-time-budget=5000", page.resolve().as_uri()],
                              capture_output=True, text=True, timeout=180)
        assert shot.returncode == 0 and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]
    return res.stdout, res.stderr


def video_state(dom: str) -> dict:
    m = re.search(r'<body[^>]*data-videos="([^"]*)"', dom)
    assert m, "the page's script did not run (no data-videos on <body>)"
    return json.loads(m.group(1).replace("&quot;", '"'))


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def assert_self_contained(html: str) -> None:
    """Nothing the page loads comes from outside it: every src/href is a data: URI or an in-page anchor."""
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", html)
    assert all(r.startswith(("data:", "#")) for r in refs), [r[:60] for r in refs if not r.startswith(("data:", "#"))]
    assert "<link" not in html and "@import" not in html and "url(" not in html
    outside = set(re.findall(r"https?://[^\s\"'<>]+", html)) - {"http://www.w3.org/2000/svg"}
    assert not outside, outside


@pytest.fixture(scope="module")
def video_dataset(tmp_path_factory):
    return collect_in_process(tmp_path_factory.mktemp("report") / "video", 3, cameras=["front"])


@pytest.fixture(scope="module")
def state_dataset(tmp_path_factory):
    return collect_in_process(tmp_path_factory.mktemp("report") / "state", 2)


# ---- in the browser ---------------------------------------------------------------------------------
def test_report_of_a_video_dataset_plays_in_chromium(video_dataset, chromium, tmp_path):
    page = tmp_path / "report.html"
    assert cli_main(["dataset", "report", str(video_dataset), "--out", str(page), "--samples", "3"]) == 0
    html = page.read_text()
    assert_self_contained(html)
    assert html.count("<video ") == 3 and "observation.images.front (stored video)" in html
    for section in ("summary", "collection", "samples", "success", "histograms", "features"):
        assert f"id='{section}'" in html
    shot = tmp_path / "report.png"
    dom, stderr = open_in_chromium(chromium, page, tmp_path, screenshot=shot)
    state = video_state(dom)
    assert state == {"total": 3, "ready": 3, "playing": 3, "errors": []}, state
    assert console_lines(stderr) == [], console_lines(stderr)


def test_state_only_dataset_is_rerendered_through_replay(state_dataset, chromium, tmp_path):
    page = tmp_path / "report.html"
    assert cli_main(["dataset", "report", str(state_dataset), "--out", str(page)]) == 0
    html = page.read_text()
    assert_self_contained(html)
    assert html.count("<video ") == 2 and html.count("re-rendered through replay (front camera)") == 2
    dom, stderr = open_in_chromium(chromium, page, tmp_path)
    assert video_state(dom) == {"total": 2, "ready": 2, "playing": 2, "errors": []}
    assert console_lines(stderr) == []


def test_rerendered_frames_are_the_replayed_episode(state_dataset, video_dataset):
    """Re-rendering is replay: the frames of a state-only episode are those a camera recorded during collection
    (same seed, same actions), up to the video codec's loss."""
    from flywheel import datasets
    from flywheel.collectors.collection.render import render_samples

    with_camera = datasets.open(video_dataset)
    plain = datasets.open(state_dataset)
    try:
        frames, label = render_samples(plain, [1], camera="front")
        stored = with_camera.episode(1, ["observation.images.front"])["observation.images.front"]
    finally:
        with_camera.close()
        plain.close()
    assert label == "re-rendered through replay (front camera)"
    assert frames[1].shape[0] == stored.shape[0]
    small = frames[1][:, ::3, ::3][:, :64, :64].astype(np.int16)  # 192 px rendered, 64 px stored: same view
    assert small.shape == stored.shape
    assert np.abs(small.mean(axis=(1, 2, 3)) - stored.astype(np.int16).mean(axis=(1, 2, 3))).max() < 12


def test_a_canonical_merge_is_rendered_from_its_sources(state_dataset, tmp_path):
    """A --canonical merge keeps no joint actions: its episodes replay from the datasets they came from, and
    give exactly the frames those datasets' own episodes give."""
    from flywheel import datasets
    from flywheel.collectors.collection.render import render_samples

    other = collect_in_process(tmp_path / "other", 1, seed=5)
    merge([state_dataset, other], tmp_path / "m", canonical=True)
    merged, a, b = (datasets.open(p) for p in (tmp_path / "m", state_dataset, other))
    try:
        assert "observation.state" not in merged.features
        got, _ = render_samples(merged, [1, 2])
        want_a, _ = render_samples(a, [1])
        want_b, _ = render_samples(b, [0])
    finally:
        for ds in (merged, a, b):
            ds.close()
    assert np.array_equal(got[1], want_a[1]) and np.array_equal(got[2], want_b[0])
    shutil.rmtree(other)  # the source is gone: nothing to replay from, and the report says so
    data = gather(tmp_path / "m", samples=3, renderer=render_samples)
    assert [c.episode for c in data.clips] == [0, 1]
    assert any("sample episode(s) 2 could not be re-rendered" in n for n in data.notes)
    page = build_html(data)
    assert page.count("<video ") == 2


def test_demo_ends_with_a_multi_task_humanoid_report(tmp_path):
    """`make demo`'s last step on tiny collections: the humanoid's reach and pick_place merged into one dataset whose
    report shows both tasks, each with a re-rendered sample episode."""
    from flywheel.demo import MULTITASK, multitask_report

    robot, tasks = MULTITASK
    for task, n in zip(tasks, (2, 1)):
        collect_in_process(tmp_path / f"{robot}_{task}", n, task=task, robot=robot)
    root, page = multitask_report(tmp_path)
    data = gather(root, samples=4)
    assert data.task == ["reach", "reach", "pick_place"] and len(data.clips) == 0  # no renderer passed here
    html = page.read_text()
    assert html.count("<video ") == 3 and html.count("re-rendered through replay") == 3
    assert "<td>reach</td>" in html and "<td>pick_place</td>" in html


def test_a_multi_task_episode_replays_the_task_its_seed_drew(monkeypatch):
    import types

    from flywheel.collectors.collection.render import task_of

    assert task_of({"task": "reach", "robot": "panda"}, 7) == "reach"
    fake = types.ModuleType("multitask")
    fake.task_for_seed = lambda seed, weights: seed % len(weights)  # the collectors' draw, stood in for
    monkeypatch.setitem(sys.modules, "flywheel.collectors.collection.multitask", fake)
    cfg = {"task": "reach,pick_place", "tasks": ["reach", "pick_place"], "weights": [1.0, 1.0], "robot": "panda"}
    assert [task_of(cfg, s) for s in range(3)] == ["reach", "pick_place", "reach"]
    monkeypatch.setitem(sys.modules, "flywheel.collectors.collection.multitask", None)
    with pytest.raises(ValueError, match="multi-task"):
        task_of(cfg, 0)


# ---- what the page says -----------------------------------------------------------------------------
def test_success_tables_of_a_merged_multi_instruction_dataset(tmp_path):
    synthetic.write_synthetic_dataset(tmp_path / "a", "arm7", range(4))
    synthetic.write_synthetic_dataset(tmp_path / "b", "arm7", range(4, 10), task="pick the cube")
    merge([tmp_path / "a", tmp_path / "b"], tmp_path / "m")
    data = gather(tmp_path / "m", samples=2)
    assert data.instruction == ["reach the red target"] * 4 + ["pick the cube"] * 6
    ok = np.array([k % 3 != 1 for k in range(10)])  # synthetic.episode_kwargs: success unless key % 3 == 1
    assert np.array_equal(data.success, ok)
    rows = success_rows(data.instruction, data.length, data.success)
    assert [(r[0], r[1], r[2]) for r in rows] == [("reach the red target", 4, int(ok[:4].sum())),
                                                  ("pick the cube", 6, int(ok[4:].sum()))]
    assert dict(data.summary)["success"] == f"{ok.mean():.1%} ({ok.sum()} of 10)"
    assert data.clips == [] and any("state-only dataset" in n for n in data.notes)
    html = build_html(data)
    assert_self_contained(html)
    assert "operation" in html and "pick the cube" in html
    assert "<summary>every episode (10)</summary>" in html and "<td>✗</td>" in html


def test_per_robot_table_of_a_canonical_merge(tmp_path):
    synthetic.write_synthetic_dataset(tmp_path / "arm", "arm7", range(3))
    synthetic.write_synthetic_dataset(tmp_path / "biped", "biped12", range(2))
    merge([tmp_path / "arm", tmp_path / "biped"], tmp_path / "m", canonical=True)
    data = gather(tmp_path / "m", samples=0)
    assert data.robot == ["arm7"] * 3 + ["biped12"] * 2
    assert [(r[0], r[1]) for r in success_rows(data.robot, data.length, data.success)] == [("arm7", 3), ("biped12", 2)]
    assert dict(data.summary)["robots"] == "arm7, biped12"


def test_image_dataset_clips_and_feature_charts(tmp_path):
    synthetic.write_synthetic_dataset(tmp_path / "img", "arm7", range(5), image=(24, 32))
    data = gather(tmp_path / "img", samples=3)
    assert [c.episode for c in data.clips] == [0, 2, 4]  # spread over the dataset (episode 4 is a failure)
    ok = np.array([True, False, True, True])
    assert pick_samples(ok, 4, 2) == [0, 1] and pick_samples(ok, 4, 3) == [0, 1, 2]  # a failure always shows
    assert pick_samples(None, 4, 9) == [0, 1, 2, 3] and pick_samples(ok, 0, 2) == []
    tasks = ["reach"] * 20 + ["pick_place"] * 20  # every task shows, each spread over its own episodes
    assert pick_samples(np.ones(40, bool), 40, 4, tasks) == [0, 19, 20, 39]
    assert pick_samples(np.ones(5, bool), 5, 4, ["a", "b", "b", "b", "b"]) == [0, 1, 3, 4]
    assert all(c.mp4[4:8] == b"ftyp" for c in data.clips)
    html = build_html(data)
    for feature in ("observation.state", "action", "observation.ee", "observation.images.wrist"):
        assert f"<summary>{feature}:" in html
    assert "joint1" in html  # dimension names from info.json label the rows


def test_report_of_datasets_lerobot_wrote(chromium, tmp_path):
    """Foreign datasets (no meta/flywheel.json, no seed/success columns): the page still has every section, and
    the video one shows its own (AV1) frames, re-encoded, playing."""
    from lerobot_written import lerobot_written_datasets

    written = lerobot_written_datasets()
    if written is None:
        pytest.skip("LeRobot's venv (shared/tools/lerobot-check) is not here to write the datasets")
    for root in written:
        page = tmp_path / f"{root.name}.html"
        assert cli_main(["dataset", "report", str(root), "--out", str(page), "--samples", "2"]) == 0
        html = page.read_text()
        assert_self_contained(html)
        assert "n/a (no success column)" in html and "not collected by flywheel" in html
        dom, stderr = open_in_chromium(chromium, page, tmp_path)
        state = video_state(dom)
        assert state["ready"] == state["playing"] == state["total"] == html.count("<video ") == 2, state
        assert not state["errors"], state
        assert console_lines(stderr) == []


# ---- bad input --------------------------------------------------------------------------------------
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    synthetic.write_synthetic_dataset(tmp_path / "ds", "arm7", range(2))
    assert cli_main(["dataset", "report", str(tmp_path / "missing"), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing" in err and "Traceback" not in err
    assert cli_main(["dataset", "report", str(tmp_path / "ds"), "--out", str(tmp_path / "r.txt")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ".html" in err
    assert cli_main(["dataset", "view", str(tmp_path / "ds"), "--episodes", "x"]) == 2
    assert "--episodes" in capsys.readouterr().err
    assert not list(tmp_path.glob("r.*")) and not list(tmp_path.glob("*.rrd"))


def test_view_without_rerun_says_what_to_install(tmp_path, capsys, monkeypatch):
    synthetic.write_synthetic_dataset(tmp_path / "ds", "arm7", range(1))
    monkeypatch.setitem(sys.modules, "rerun", None)  # as if rerun-sdk were not installed
    assert cli_main(["dataset", "view", str(tmp_path / "ds"), "--out", str(tmp_path / "v.rrd")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'flywheel[view]'" in err
    assert not (tmp_path / "v.rrd").exists()


# ---- rerun ------------------------------------------------------------------------------------------
def test_view_writes_a_rerun_recording(tmp_path):
    rr = pytest.importorskip("rerun", reason="rerun-sdk is an optional extra (flywheel[view])")
    synthetic.write_synthetic_dataset(tmp_path / "img", "arm7", range(3), image=(8, 8))
    out = tmp_path / "rec.rrd"
    assert cli_main(["dataset", "view", str(tmp_path / "img"), "--out", str(out), "--episodes", "0:2"]) == 0
    assert out.stat().st_size > 0
    try:  # read it back: rerun.dataframe up to 0.2x, rerun.chunk.RrdReader since
        from rerun import dataframe

        schema = dataframe.load_recording(str(out)).schema()
    except ImportError:
        from rerun.chunk import RrdReader

        schema = RrdReader(out).store().schema()
    paths = {str(c.entity_path) for c in schema.component_columns()}
    assert "/episode_0/observation.state/q.joint1" in paths and "/episode_1/observation.images.wrist" in paths
    assert "/episode_1/next.reward/0" in paths and not any(p.startswith("/episode_2") for p in paths)
    assert "/episode_0/index/0" not in paths  # index columns are the timeline, not plots
    del rr

"""``flywheel dataset merge|split|filter|push`` and the dataset card, on small synthetic datasets and on datasets
LeRobot itself wrote (tests/data/, made by tests/data/make_lerobot_fixtures.py with LeRobot 0.6.1)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import flywheel.datasets as fd
from flywheel.cli import main as cli_main
from flywheel.datasets import rewrite, synthetic
from flywheel.datasets.card import MARKER
from flywheel.datasets.filter import filter_dataset
from flywheel.datasets.merge import merge
from flywheel.datasets.split import split

DATA = Path(__file__).parent / "data"
LEROBOT_IMAGE, LEROBOT_VIDEO = DATA / "lerobot_image", DATA / "lerobot_video"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    """Two arm7 datasets with different instructions, a biped12 one, and the single dataset holding the
    episodes of the first two (what merging them must reproduce)."""
    t = tmp_path_factory.mktemp("tools")
    synthetic.write_synthetic_dataset(t / "a", "arm7", range(4), image=(6, 6))
    synthetic.write_synthetic_dataset(t / "b", "arm7", range(4, 7), image=(6, 6), task="pick the cube")
    synthetic.write_synthetic_dataset(t / "all", "arm7", range(7), image=(6, 6))
    synthetic.write_synthetic_dataset(t / "biped", "biped12", range(3))
    return t


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(str(path.relative_to(root)).encode())
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


def same_episode(a: dict, b: dict, skip=("episode_index", "index", "task_index")) -> bool:
    return all(np.array_equal(a[k], b[k]) for k in a if k not in skip)


# ---- merge -----------------------------------------------------------------------------------------
def test_merge_same_robot(src, tmp_path):
    info = merge([src / "a", src / "b"], tmp_path / "m")
    assert fd.validate(tmp_path / "m") == []
    ds, a, b = fd.open(tmp_path / "m"), fd.open(src / "a"), fd.open(src / "b")
    assert (len(ds), ds.num_frames) == (7, a.num_frames + b.num_frames) == (info["total_episodes"], info["total_frames"])
    assert ds.tasks == ["reach the red target", "pick the cube"] and info["total_tasks"] == 2
    for i, (s, j) in enumerate([(a, k) for k in range(4)] + [(b, k) for k in range(3)]):
        got = ds.episode(i)
        assert same_episode(got, s.episode(j))
        assert (got["task_index"] == (0 if s is a else 1)).all() and (got["episode_index"] == i).all()
    assert ds.episodes.column("tasks").to_pylist() == [["reach the red target"]] * 4 + [["pick the cube"]] * 3
    assert ds.episodes.column("seed").to_pylist() == list(range(100, 107))
    # statistics are those of the merged episodes: the same as one dataset written with them all
    want, got = fd.open(src / "all").stats, ds.stats
    for name in ("observation.state", "action", "observation.ee", "observation.images.wrist"):
        for k in ("min", "max", "mean", "std", "count", "q01", "q50", "q99"):
            np.testing.assert_allclose(got[name][k], want[name][k], rtol=1e-6, atol=1e-6, err_msg=f"{name}.{k}")
    meta = ds.flywheel
    assert meta["operation"]["name"] == "merge" and meta["robot"]["name"] == "arm7"
    assert [(s["episodes"], s["output_episodes"]) for s in meta["sources"]] == [([[0, 4]], [0, 4]), ([[0, 3]], [4, 7])]
    assert meta["sources"][0]["path"] == str((src / "a").resolve())
    assert meta["dataset"]["episodes"] == 7 and meta["dataset"]["seeds"] == [100, 106]
    assert not (tmp_path / "m" / ".flywheel.lock").exists()


def test_merge_different_robots_needs_canonical(src, tmp_path, capsys):
    rc = cli_main(["dataset", "merge", str(src / "a"), str(src / "biped"), "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "--canonical" in err and "biped12" in err
    assert not (tmp_path / "m").exists()
    info = merge([src / "a", src / "biped"], tmp_path / "c", canonical=True)
    assert fd.validate(tmp_path / "c") == []
    assert info["robot_type"] == rewrite.CANONICAL_ROBOT_TYPE
    assert set(info["features"]) == {"observation.ee", "observation.ee_mask", "action.ee", "action", *fd.schema.STANDARD_FEATURES}
    ds = fd.open(tmp_path / "c")
    ep = ds.episode(5)  # a biped episode
    assert np.array_equal(ep["action"], ep["action.ee"])
    assert same_episode({k: ep[k] for k in ("observation.ee", "action.ee")}, fd.open(src / "biped").episode(1))
    assert "robot" not in ds.flywheel and ds.flywheel["operation"]["canonical"] is True


def test_merge_lerobot_written_datasets(tmp_path):
    """Datasets LeRobot wrote (no flywheel columns, no meta/flywheel.json) merge too; the flywheel columns are null."""
    shutil.copytree(LEROBOT_IMAGE, tmp_path / "x")
    shutil.copytree(LEROBOT_IMAGE, tmp_path / "y")
    info = merge([tmp_path / "x", tmp_path / "y"], tmp_path / "m")
    assert fd.validate(tmp_path / "m") == []
    src, ds = fd.open(LEROBOT_IMAGE), fd.open(tmp_path / "m")
    assert (info["total_episodes"], info["total_tasks"]) == (6, 2) and ds.tasks == src.tasks
    assert same_episode(ds.episode(4), src.episode(1), skip=("episode_index", "index"))
    assert ds.episodes.column("success").null_count == 6


def test_merge_refuses_video_datasets(tmp_path, capsys):
    rc = cli_main(["dataset", "merge", str(LEROBOT_VIDEO), str(LEROBOT_IMAGE), "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert rc == 2 and "video feature(s) ['observation.images.front']" in err and "info.json" in err
    assert not (tmp_path / "m").exists()


def test_failure_while_writing_leaves_nothing(src, tmp_path, monkeypatch):
    calls = []

    def boom(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    real = rewrite._stats
    monkeypatch.setattr(rewrite, "_stats", boom)
    before = tree_hash(src)
    with pytest.raises(fd.DatasetIOError, match="nothing was kept"):
        merge([src / "a", src / "b"], tmp_path / "m")
    assert not (tmp_path / "m").exists() and tree_hash(src) == before


# ---- split -----------------------------------------------------------------------------------------
def test_split_is_seeded_disjoint_and_complete(src, tmp_path):
    out = split(src / "all", tmp_path / "s", val_fraction=0.3, seed=7)
    assert (out["train"]["total_episodes"], out["val"]["total_episodes"]) == (5, 2)
    parts = {}
    for name in ("train", "val"):
        assert fd.validate(tmp_path / "s" / name) == []
        meta = fd.open(tmp_path / "s" / name).flywheel
        assert meta["operation"] == {**meta["operation"], "name": "split", "part": name, "seed": 7, "val_fraction": 0.3}
        parts[name] = [i for a, b in meta["sources"][0]["episodes"] for i in range(a, b)]
    assert sorted(parts["train"] + parts["val"]) == list(range(7)) and not set(parts["train"]) & set(parts["val"])
    again = split(src / "all", tmp_path / "s2", val_fraction=0.3, seed=7)
    assert again == out
    seeds = fd.open(tmp_path / "s" / "val").episodes.column("seed").to_pylist()
    assert seeds == [100 + i for i in parts["val"]]


# ---- filter ----------------------------------------------------------------------------------------
def test_filter_criteria(src, tmp_path):
    ds = fd.open(src / "all")
    success = ds.episodes.column("success").to_pylist()
    info = filter_dataset(src / "all", tmp_path / "ok", success=True)
    assert info["total_episodes"] == sum(success)
    assert all(fd.open(tmp_path / "ok").episodes.column("success").to_pylist())
    info = filter_dataset(src / "all", tmp_path / "seeds", seeds=(102, 105), min_length=13)
    lengths = ds.episodes.column("length").to_pylist()
    assert info["total_episodes"] == sum(1 for k in range(2, 5) if lengths[k] >= 13)
    merged = tmp_path / "m"
    merge([src / "a", src / "b"], merged)
    info = filter_dataset(merged, tmp_path / "task", task="pick the cube")
    assert (info["total_episodes"], info["total_tasks"]) == (3, 1)
    assert filter_dataset(merged, tmp_path / "name", task="reach")["total_episodes"] == 7  # the task name (flywheel.json)
    for name in ("ok", "seeds", "task"):
        assert fd.validate(tmp_path / name) == []
    assert fd.open(tmp_path / "task").flywheel["operation"]["criteria"] == {"task": "pick the cube"}


# ---- bad input: one line naming the file or option, exit 2, nothing changed on disk ------------------
BAD = [
    (["merge", "{a}", "--out", "{t}/m"], "merge needs two or more"),
    (["merge", "{a}", "{a}", "--out", "{t}/m"], "given twice"),
    (["merge", "{a}", "{t}/absent", "--out", "{t}/m"], "absent: no such folder"),
    (["merge", "{a}", "{b}", "--out", "{a}"], "already exists"),
    (["merge", "{a}", "{b}", "--out", "{a}/inner"], "inside the source dataset"),
    (["merge", "{a}", "{b}", "--out", "{t}/file/m"], "not a folder"),
    (["merge", "{a}", "{lerobot}", "--out", "{t}/m"], "robot_type is 'lerobot_fixture_arm'"),
    (["merge", "{a}", "{lerobot}", "--out", "{t}/m", "--canonical"], "has no canonical feature 'observation.ee'"),
    (["split", "{a}", "--out", "{t}/s", "--val-fraction", "0"], "--val-fraction"),
    (["split", "{a}", "--out", "{t}/s", "--val-fraction", "nan"], "--val-fraction"),
    (["split", "{a}", "--out", "{t}/s", "--val-fraction", "0.99"], "and 0 for training"),
    (["split", "{a}", "--out", "{t}/file"], "not a folder"),
    (["split", "{a}", "--out", "{t}/taken"], "train: already exists"),
    (["split", "{t}/absent", "--out", "{t}/s"], "no such folder"),
    (["filter", "{a}", "--out", "{t}/f", "--seeds", "5"], "--seeds must be A:B"),
    (["filter", "{a}", "--out", "{t}/f", "--seeds", "9:3"], "A must be below B"),
    (["filter", "{a}", "--out", "{t}/f", "--min-length", "0"], "--min-length"),
    (["filter", "{a}", "--out", "{t}/f", "--task", "nope"], "no episode matches"),
    (["filter", "{a}", "--out", "{t}/f", "--robot", "panda"], "no episode matches"),
    (["filter", "{lerobot}", "--out", "{t}/f", "--success"], "no 'success' column"),
    (["filter", "{a}", "--out", "{a}"], "already exists"),
    (["push", "{a}", "not-a-repo-id"], "owner/name"),
    (["push", "{t}/absent", "me/ds"], "no such folder"),
]


@pytest.mark.parametrize("argv,expect", BAD, ids=[" ".join(a[:1] + a[-2:]) for a, _ in BAD])
def test_bad_input(src, tmp_path, capsys, argv, expect):
    (tmp_path / "file").write_text("x")
    (tmp_path / "taken" / "train").mkdir(parents=True)
    names = {"a": src / "a", "b": src / "b", "t": tmp_path, "lerobot": LEROBOT_IMAGE}
    before = tree_hash(tmp_path), tree_hash(src), tree_hash(LEROBOT_IMAGE)
    rc = cli_main(["dataset"] + [a.format(**names) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and expect in err and "Traceback" not in err, err
    assert (tree_hash(tmp_path), tree_hash(src), tree_hash(LEROBOT_IMAGE)) == before


# ---- reading what LeRobot writes ---------------------------------------------------------------------
@pytest.mark.parametrize("root", [LEROBOT_IMAGE, LEROBOT_VIDEO], ids=["image", "video"])
def test_lerobot_written_datasets_validate_open_and_info(root, capsys):
    assert fd.validate(root) == []
    ds = fd.open(root)
    assert (len(ds), ds.num_frames, ds.tasks) == (3, 19, ["reach target 0", "reach target 1"])
    ep = ds.episode(1)
    assert ep["action"].shape == (8, 3) and (ep["frame_index"] == np.arange(8)).all()
    if root == LEROBOT_IMAGE:
        assert ep["observation.images.front"].shape == (8, 12, 16, 3)
    else:  # decoded from LeRobot's AV1 mp4 (datasets/video.py); the Arrow-level reader refuses it by name
        assert ep["observation.images.front"].shape == (8, 64, 64, 3)
        with pytest.raises(KeyError, match="video"):
            ds.episode_table(0, ["observation.images.front"])
    assert cli_main(["dataset", "info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "tasks     2" in out and "success   n/a" in out
    assert cli_main(["dataset", "info", "--json", str(root)]) == 0


def test_lerobot_list_vectors_are_read(tmp_path):
    """LeRobot's merge/aggregation writes vectors as list<float> (not fixed_size_list) and many episodes per row
    group: open, validate and the tools read that too."""
    root = tmp_path / "lists"
    shutil.copytree(LEROBOT_IMAGE, root)
    path = root / "data/chunk-000/file-000.parquet"
    t = pq.read_table(path)
    fields = [pa.field(f.name, pa.list_(f.type.value_type)) if pa.types.is_fixed_size_list(f.type) else f for f in t.schema]
    t = t.cast(pa.schema(fields, metadata=t.schema.metadata))
    pq.write_table(t, path, row_group_size=7)  # row groups cut across episodes
    assert fd.validate(root) == []
    got, want = fd.open(root), fd.open(LEROBOT_IMAGE)
    for i in range(3):
        assert same_episode(got.episode(i), want.episode(i), skip=())
    filter_dataset(root, tmp_path / "f", min_length=6)
    assert fd.validate(tmp_path / "f") == [] and len(fd.open(tmp_path / "f")) == 2


def test_train_reads_a_lerobot_written_dataset():
    from flywheel.collectors.learning.train import TrainConfig, load_training_data

    data = load_training_data([LEROBOT_IMAGE], TrainConfig(features="native", inputs=["observation.state"]))
    assert data.x.shape == (19, 3) and data.y.shape == (19, 3)


# ---- the dataset card ------------------------------------------------------------------------------
def hf_datasets():
    """Hugging Face ``datasets``, not this repository's ``datasets/`` folder (which ``python -m pytest`` puts first)."""
    saved, cached = sys.path[:], sys.modules.pop("datasets", None)
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT]
    try:
        import datasets
    except ImportError:
        pytest.skip("Hugging Face datasets is not installed")
    finally:
        sys.path[:] = saved
        if cached is not None and "datasets" not in sys.modules:
            sys.modules["datasets"] = cached
    return datasets


def test_card_lets_hf_datasets_and_parquet_readers_count_rows(src, tmp_path):
    card = (src / "a" / "README.md").read_text()
    assert card.startswith("---\n") and "data_files: data/*/*.parquet" in card and MARKER in card
    assert '- "LeRobot"' in card and "- robotics" in card and "reach the red target" in card
    merge([src / "a", src / "b"], tmp_path / "m")
    assert "pick the cube" in (tmp_path / "m" / "README.md").read_text()
    hf = hf_datasets()
    for root in (src / "a", tmp_path / "m"):
        info = json.loads((root / "meta/info.json").read_text())
        d = hf.load_dataset(str(root), cache_dir=str(tmp_path / "hf-cache"))
        assert d["train"].num_rows == info["total_frames"]
        assert pq.read_table(root / "data").num_rows == info["total_frames"]  # what Ray Data's read_parquet(ROOT/data) reads


def test_finalize_never_overwrites_a_hand_written_readme(tmp_path):
    root = tmp_path / "ds"
    feats = synthetic.robot_features("arm7")
    fd.create_dataset(root, features=feats, fps=10, robot_type="arm7", task="t", flywheel_meta={})
    with fd.StagingWriter(root) as w:
        w.add_episode(0, synthetic.synthetic_episode("arm7", 0, feats), **synthetic.episode_kwargs(0))
    (root / "README.md").write_text("# my notes\n")  # written by someone while the dataset was collected
    fd.finalize(root)
    assert (root / "README.md").read_text() == "# my notes\n"
    assert fd.validate(root) == []


def test_features_metadata_matches_hf_datasets(src):
    """schema.py writes the HF features metadata by hand (importing ``datasets`` would pull pandas, fsspec,
    requests... into every collector); HF ``datasets`` must read it as the features info.json describes."""
    hf = hf_datasets()
    got = hf.Features.from_arrow_schema(pq.read_schema(src / "a/data/chunk-000/file-000.parquet"))
    assert isinstance(got["observation.images.wrist"], hf.Image)
    assert got["action"].length == 7 and got["action"].feature.dtype == "float32"
    assert got["next.done"].dtype == "bool"


# ---- push ------------------------------------------------------------------------------------------
def test_push_up_to_the_upload(src, tmp_path, monkeypatch, capsys):
    hub = pytest.importorskip("huggingface_hub")
    root = tmp_path / "ds"
    shutil.copytree(src / "a", root)
    (root / "README.md").unlink()
    calls = {}
    monkeypatch.setattr(hub.HfApi, "create_repo", lambda self, repo_id, **kw: calls.setdefault("create_repo", (repo_id, kw)))
    monkeypatch.setattr(hub.HfApi, "create_tag", lambda self, repo_id, **kw: calls.setdefault("create_tag", (repo_id, kw)))

    def upload_folder(self, **kw):
        calls["upload_folder"] = kw
        assert (Path(kw["folder_path"]) / ".flywheel.lock").exists()  # held while uploading
        assert (Path(kw["folder_path"]) / "README.md").exists()

    monkeypatch.setattr(hub.HfApi, "upload_folder", upload_folder)
    assert cli_main(["dataset", "push", str(root), "me/arm7-reach"]) == 0
    assert "huggingface.co/datasets/me/arm7-reach" in capsys.readouterr().out
    assert calls["create_repo"] == ("me/arm7-reach", {"repo_type": "dataset", "private": False, "exist_ok": True})
    up = calls["upload_folder"]
    assert (up["repo_id"], up["repo_type"], up["folder_path"]) == ("me/arm7-reach", "dataset", str(root))
    assert ".flywheel.lock" in up["ignore_patterns"] and "staging/**" in up["ignore_patterns"]
    assert calls["create_tag"][1]["tag"] == "v3.0"
    assert not (root / ".flywheel.lock").exists()


def test_push_without_huggingface_hub(src, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    assert cli_main(["dataset", "push", str(src / "a"), "me/ds"]) == 2
    assert "pip install 'flywheel[hub]'" in capsys.readouterr().err


# ---- LeRobot itself, when the tool is here ---------------------------------------------------------
LEROBOT_CHECK = os.environ.get("LEROBOT_CHECK") or str(ROOT.parent / "shared/tools/lerobot-check/lerobot-check")


@pytest.mark.skipif(not os.environ.get("LEROBOT_CHECK"), reason="set LEROBOT_CHECK=/path/to/lerobot-check to run LeRobot itself")
def test_lerobot_reads_merge_split_filter_outputs(src, tmp_path):
    merge([src / "a", src / "b"], tmp_path / "m")
    split(tmp_path / "m", tmp_path / "s", val_fraction=0.3)
    filter_dataset(tmp_path / "m", tmp_path / "f", success=True)
    merge([src / "a", src / "biped"], tmp_path / "c", canonical=True)
    for root in (tmp_path / "m", tmp_path / "s/train", tmp_path / "f", tmp_path / "c"):
        out = subprocess.run([LEROBOT_CHECK, str(root)], capture_output=True, text=True, timeout=600)
        assert "lerobot-check: OK" in out.stdout.strip().splitlines()[-1], out.stdout[-2000:]

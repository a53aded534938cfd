"""Write synthetic episodes of two robots, finalize, and check every file and column of the result."""
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import flywheel.datasets as fd
from flywheel.datasets import schema, synthetic

ROBOTS = {"arm7": {"image": (12, 10), "keys": list(range(7))}, "biped12": {"image": None, "keys": list(range(5))}}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    out = {}
    for robot, cfg in ROBOTS.items():
        root = tmp_path_factory.mktemp(robot) / "ds"
        synthetic.write_synthetic_dataset(root, robot, cfg["keys"], image=cfg["image"], workers=2, episodes_per_file=2)
        out[robot] = root
    return out


def expected_episodes(robot):
    feats = synthetic.robot_features(robot, image=ROBOTS[robot]["image"])
    return feats, {k: synthetic.synthetic_episode(robot, k, feats) for k in ROBOTS[robot]["keys"]}


def files_of(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("robot", list(ROBOTS))
def test_layout_and_info(datasets, robot):
    root = datasets[robot]
    assert files_of(root) == [
        "README.md",  # the dataset card
        "data/chunk-000/file-000.parquet",
        "meta/episodes/chunk-000/file-000.parquet",
        "meta/flywheel.json",
        "meta/info.json",
        "meta/stats.json",
        "meta/tasks.parquet",
    ]  # staging/ removed
    feats, eps = expected_episodes(robot)
    info = json.loads((root / "meta/info.json").read_text())
    total = sum(len(e["next.reward"]) for e in eps.values())
    assert info == {
        "codebase_version": "v3.0",
        "robot_type": robot,
        "total_episodes": len(eps),
        "total_frames": total,
        "total_tasks": 1,
        "chunks_size": 1000,
        "data_files_size_in_mb": 100,
        "video_files_size_in_mb": 200,
        "fps": 10,
        "splits": {"train": f"0:{len(eps)}"},
        "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
        "video_path": None,
        "features": json.loads(json.dumps(schema.full_features(feats))),
    }


def test_canonical_features_identical_across_robots(datasets):
    infos = {r: json.loads((datasets[r] / "meta/info.json").read_text()) for r in ROBOTS}
    for key in schema.CANONICAL_KEYS:
        assert infos["arm7"]["features"][key] == infos["biped12"]["features"][key] == schema.canonical_features()[key]
    assert infos["arm7"]["features"]["observation.state"]["shape"] == [14]
    assert infos["biped12"]["features"]["observation.state"]["shape"] == [24]
    assert infos["biped12"]["features"]["observation.state"]["names"][:2] == ["q.j00", "q.j01"]
    arm = fd.open(datasets["arm7"]).episode(0)
    biped = fd.open(datasets["biped12"]).episode(0)
    np.testing.assert_array_equal(arm["observation.ee_mask"][0], [1, 0])
    np.testing.assert_array_equal(biped["observation.ee_mask"][0], [1, 1])
    assert not arm["observation.ee"][:, 8:].any() and not arm["action.ee"][:, 7:].any()


@pytest.mark.parametrize("robot", list(ROBOTS))
def test_data_files_every_column(datasets, robot):
    root = datasets[robot]
    feats, eps = expected_episodes(robot)
    full = schema.full_features(feats)
    pf = pq.ParquetFile(root / "data/chunk-000/file-000.parquet")
    assert pf.schema_arrow.equals(schema.data_schema(full), check_metadata=True)
    hf = json.loads(pf.schema_arrow.metadata[b"huggingface"])["info"]["features"]
    assert hf["observation.state"]["_type"] == "Sequence" and hf["timestamp"] == {"dtype": "float32", "_type": "Value"}
    assert pf.metadata.num_row_groups == len(eps)  # one row group per episode
    start = 0
    for i, key in enumerate(sorted(eps)):
        want = eps[key]
        t = len(want["next.reward"])
        table = pf.read_row_group(i)
        assert table.num_rows == t
        got = {c: fd._arrow.column_to_numpy(table.column(c), full[c]) for c in full}
        for name, arr in want.items():
            assert got[name].dtype == np.dtype(np.uint8 if full[name]["dtype"] == "image" else full[name]["dtype"]), name
            np.testing.assert_array_equal(got[name], arr, err_msg=name)
        np.testing.assert_array_equal(got["frame_index"], np.arange(t))
        np.testing.assert_array_equal(got["episode_index"], np.full(t, i))
        np.testing.assert_array_equal(got["index"], np.arange(start, start + t))
        np.testing.assert_array_equal(got["task_index"], np.zeros(t))
        np.testing.assert_array_equal(got["timestamp"], (np.arange(t) / 10).astype(np.float32))
        start += t


@pytest.mark.parametrize("robot", list(ROBOTS))
def test_episodes_table(datasets, robot):
    root = datasets[robot]
    feats, eps = expected_episodes(robot)
    t = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet")
    base = ["episode_index", "tasks", "length", "data/chunk_index", "data/file_index", "dataset_from_index",
            "dataset_to_index", "meta/episodes/chunk_index", "meta/episodes/file_index",
            "seed", "success", "uuid", "worker", "policy", "terminated", "truncated"]
    stats_cols = [f"stats/{f}/{s}" for f in schema.full_features(feats) for s in schema.STAT_KEYS]
    assert t.column_names == base + stats_cols
    rows = t.to_pylist()
    lengths = [len(eps[k]["next.reward"]) for k in sorted(eps)]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    for i, (row, key) in enumerate(zip(rows, sorted(eps))):
        kw = synthetic.episode_kwargs(key)
        assert row["episode_index"] == i and row["tasks"] == ["reach the red target"]
        assert row["length"] == lengths[i]
        assert (row["dataset_from_index"], row["dataset_to_index"]) == (bounds[i], bounds[i + 1])
        assert (row["data/chunk_index"], row["data/file_index"]) == (0, 0)
        assert (row["seed"], row["success"], row["policy"]) == (kw["seed"], kw["success"], "scripted")
        assert (row["terminated"], row["truncated"]) == (kw["terminated"], kw["truncated"])
        assert row["worker"] in ("w0", "w1") and len(row["uuid"]) == 36
        assert row["stats/observation.state/count"] == [lengths[i]]
        np.testing.assert_allclose(row["stats/action/mean"], eps[key]["action"].astype(np.float64).mean(axis=0), rtol=1e-9)
    assert len({r["uuid"] for r in rows}) == len(rows)


def test_tasks_parquet_has_the_task_as_pandas_index(datasets):
    t = pq.read_table(datasets["arm7"] / "meta/tasks.parquet")
    assert t.column_names == ["task_index", "task"]
    assert t.to_pylist() == [{"task_index": 0, "task": "reach the red target"}]
    assert json.loads(t.schema.metadata[b"pandas"])["index_columns"] == ["task"]


@pytest.mark.parametrize("robot", list(ROBOTS))
def test_stats_match_the_data(datasets, robot):
    root = datasets[robot]
    feats, eps = expected_episodes(robot)
    full = schema.full_features(feats)
    stats = json.loads((root / "meta/stats.json").read_text())
    assert list(stats) == list(full)
    ordered = [eps[k] for k in sorted(eps)]
    n = sum(len(e["next.reward"]) for e in ordered)
    for name, ft in full.items():
        st = {k: np.asarray(v) for k, v in stats[name].items()}
        assert set(st) == set(schema.STAT_KEYS), name
        assert st["count"].tolist() == [n]
        if ft["dtype"] == "image":
            x = np.concatenate([e[name] for e in ordered]).reshape(-1, ft["shape"][2]).astype(np.float64) / 255
            for key in ("min", "max", "mean", "std"):
                assert st[key].shape == (3, 1, 1)
                np.testing.assert_allclose(st[key].reshape(-1), getattr(x, key)(axis=0), rtol=1e-9, err_msg=f"{name} {key}")
            for key, q in zip(schema.QUANTILE_KEYS, schema.QUANTILES):
                np.testing.assert_allclose(st[key].reshape(-1), np.quantile(x, q, axis=0, method="inverted_cdf"), atol=1e-9)
            continue
        if name in schema.INDEX_FEATURES:
            continue  # checked below
        x = np.concatenate([np.asarray(e[name], np.float64).reshape(len(e["next.reward"]), -1) for e in ordered])
        for key in ("min", "max", "mean", "std"):
            assert st[key].shape == (ft["shape"][0],)
            np.testing.assert_allclose(st[key], getattr(x, key)(axis=0), rtol=1e-9, atol=1e-12, err_msg=f"{name} {key}")
        width = (x.max(axis=0) - x.min(axis=0)) / 5000
        for key, q in zip(schema.QUANTILE_KEYS, schema.QUANTILES):
            exact = np.quantile(x, q, axis=0)
            # histogram quantiles: within a couple of bins, or one sample step for tiny frame counts
            step = np.sort(x, axis=0)
            gap = np.max(np.abs(np.diff(step, axis=0)), axis=0) if len(x) > 1 else 0
            assert np.all(np.abs(st[key] - exact) <= np.maximum(2 * width, gap) + 1e-9), (name, key)
    np.testing.assert_allclose(stats["index"]["max"], [n - 1])
    np.testing.assert_allclose(stats["episode_index"]["max"], [len(eps) - 1])
    np.testing.assert_allclose(stats["frame_index"]["mean"], [np.mean(np.concatenate([np.arange(len(e["next.reward"])) for e in ordered]))])


def test_flywheel_meta(datasets):
    meta = json.loads((datasets["arm7"] / "meta/flywheel.json").read_text())
    want = synthetic.flywheel_meta("arm7")
    for k, v in want.items():
        assert meta[k] == v
    assert meta["flywheel_format"] == schema.FLYWHEEL_FORMAT and "code_version" in meta
    assert meta["dataset"]["episodes"] == 7 and meta["dataset"]["seeds"] == [100, 106]
    assert set(meta["workers"]) == {"w0", "w1"} and sum(w["episodes"] for w in meta["workers"].values()) == 7


def test_reader(datasets):
    ds = fd.open(datasets["arm7"])
    assert len(ds) == 7 and ds.num_frames == json.loads((datasets["arm7"] / "meta/info.json").read_text())["total_frames"]
    assert ds.robot_type == "arm7" and ds.task == "reach the red target" and ds.fps == 10
    ok = ds.filter(success=True)
    assert ok.episode_indices == [0, 2, 3, 5, 6] and all(ok.episodes.column("success").to_pylist())
    assert len(ds.filter(robot="biped12")) == 0 and len(ds.filter(robot="arm7", task="reach the red target")) == 7
    assert len(ds.filter(task="other")) == 0
    assert ds.filter(success=True, episodes=[0, 1, 2]).episode_indices == [0, 2]
    frames = list(ok.iter_frames(["action", "next.success"]))
    assert len(frames) == ok.num_frames and frames[0]["action"].shape == (7,)
    eps = list(ds.iter_episodes(["observation.images.wrist"], decode_images=False))
    assert len(eps) == 7 and eps[0]["observation.images.wrist"][0][:4] == b"\x89PNG"
    with pytest.raises(IndexError):
        ds.episode(7)
    with pytest.raises(KeyError):
        ds.episode(0, ["nope"])
    assert ds.stats["action"]["mean"].shape == (7,)


def test_mix_across_robots(datasets):
    a, b = fd.open(datasets["arm7"]), fd.open(datasets["biped12"])
    sampler = fd.mix([a, b], weights=[0.5, 0.5], seed=1)
    batch = sampler.sample(64)
    assert batch["observation.ee"].shape == (64, 16) and batch["action.ee"].shape == (64, 14)
    assert batch["observation.ee_mask"].shape == (64, 2)
    assert set(batch["dataset"].tolist()) == {0, 1}
    masks = {tuple(m) for m in batch["observation.ee_mask"][batch["dataset"] == 0]}
    assert masks == {(1.0, 0.0)}
    only_b = fd.mix([a, b], weights=[0, 1]).sample(8)
    assert (only_b["dataset"] == 1).all()
    good = fd.mix([a.filter(success=True)]).sample(16)
    assert set(good["episode_index"].tolist()) <= {0, 2, 3, 5, 6}
    with pytest.raises(ValueError, match="observation.state"):
        fd.mix([a, b], features=["observation.state"])
    with pytest.raises(ValueError, match="weights"):
        fd.mix([a, b], weights=[1])


def test_duckdb_counts_frames(datasets):
    duckdb = pytest.importorskip("duckdb")
    root = datasets["arm7"]
    con = duckdb.connect()
    n = con.execute(f"SELECT count(*) FROM read_parquet('{root}/data/*/*.parquet')").fetchall()[0][0]
    assert n == fd.open(root).num_frames
    per_ep = con.execute(
        f"SELECT episode_index, count(*) FROM read_parquet('{root}/data/*/*.parquet') GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert [c for _, c in per_ep] == fd.open(root).episodes.column("length").to_pylist()
    task = con.execute(f"SELECT task FROM read_parquet('{root}/meta/tasks.parquet') WHERE task_index = 0").fetchall()[0][0]
    assert task == "reach the red target"


def test_determinism_independent_of_workers_and_staging_split(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    synthetic.write_synthetic_dataset(a, "arm7", range(6), image=(8, 8), workers=1, episodes_per_file=16)
    synthetic.write_synthetic_dataset(b, "arm7", [5, 3, 1, 0, 2, 4], image=(8, 8), workers=3, episodes_per_file=1)
    assert (a / "data/chunk-000/file-000.parquet").read_bytes() == (b / "data/chunk-000/file-000.parquet").read_bytes()
    for rel in ("meta/stats.json", "meta/info.json", "meta/tasks.parquet"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    ea = pq.read_table(a / "meta/episodes/chunk-000/file-000.parquet").drop(["uuid", "worker"])
    eb = pq.read_table(b / "meta/episodes/chunk-000/file-000.parquet").drop(["uuid", "worker"])
    assert ea.equals(eb)


def test_finalize_twice_is_harmless(tmp_path):
    root = tmp_path / "ds"
    info = synthetic.write_synthetic_dataset(root, "biped12", range(3))
    before = {p: (root / p).read_bytes() for p in files_of(root)}
    assert fd.finalize(root) == info
    assert {p: (root / p).read_bytes() for p in files_of(root)} == before


def test_retried_worker_duplicate_keys_are_kept_once(tmp_path):
    root = tmp_path / "ds"
    feats = synthetic.robot_features("arm7")
    fd.create_dataset(root, features=feats, fps=10, robot_type="arm7", task="t", flywheel_meta=synthetic.flywheel_meta("arm7"))
    for worker, keys in (("w0", [0, 1, 2]), ("w0", [1, 2, 3]), ("w1", [3, 4])):  # w0 died and was replaced
        with fd.StagingWriter(root, worker=worker, episodes_per_file=2) as w:
            for k in keys:
                w.add_episode(k, synthetic.synthetic_episode("arm7", k, feats), **synthetic.episode_kwargs(k))
    assert fd.staged_keys(root) == {0, 1, 2, 3, 4}
    assert len(list((root / "staging").glob("*.parquet"))) == 5  # same worker name never overwrote a file
    info = fd.finalize(root)
    assert info["total_episodes"] == 5
    ds = fd.open(root)
    assert ds.episodes.column("seed").to_pylist() == [100, 101, 102, 103, 104]
    np.testing.assert_array_equal(ds.episode(3)["action"], synthetic.synthetic_episode("arm7", 3, feats)["action"])
    assert fd.validate(root) == []


def test_small_file_limit_gives_several_files_and_chunks(tmp_path):
    root = tmp_path / "ds"
    info = synthetic.write_synthetic_dataset(
        root, "arm7", range(12), image=(16, 16), finalize_kwargs={"data_file_size_mb": 0.02, "chunks_size": 2}
    )
    data = sorted(p.relative_to(root).as_posix() for p in (root / "data").glob("*/*.parquet"))
    assert len(data) >= 4 and {d.split("/")[1] for d in data} >= {"chunk-000", "chunk-001"}
    assert data[:3] == ["data/chunk-000/file-000.parquet", "data/chunk-000/file-001.parquet", "data/chunk-001/file-000.parquet"]
    assert info["data_files_size_in_mb"] == 0.02 and info["chunks_size"] == 2
    ds = fd.open(root)
    ep = ds.episodes.to_pylist()
    assert len({(r["data/chunk_index"], r["data/file_index"]) for r in ep}) == len(data)
    assert sum(pq.ParquetFile(root / d).metadata.num_row_groups for d in data) == 12
    feats = synthetic.robot_features("arm7", image=(16, 16))
    for i in (0, 5, 11):
        np.testing.assert_array_equal(ds.episode(i)["observation.images.wrist"], synthetic.synthetic_episode("arm7", i, feats)["observation.images.wrist"])
    assert fd.validate(root) == []


def test_flat_memory_streaming_finalize(tmp_path):
    """Finalize reads one episode at a time: Arrow memory does not grow with the episodes written."""
    import pyarrow as pa

    root = tmp_path / "ds"
    feats = synthetic.robot_features("arm7", image=(32, 32))
    fd.create_dataset(root, features=feats, fps=10, robot_type="arm7", task="t", flywheel_meta={})
    with fd.StagingWriter(root, episodes_per_file=4) as w:
        for k in range(40):
            w.add_episode(k, synthetic.synthetic_episode("arm7", k, feats, length=40), **synthetic.episode_kwargs(k))
    staged = sum(p.stat().st_size for p in (root / "staging").glob("*.parquet"))
    pool = pa.default_memory_pool()
    pool.release_unused()
    base = pool.bytes_allocated()
    peak = []
    orig = fd.finalize.__globals__["_data_table"]

    def spy(*a, **k):
        out = orig(*a, **k)
        peak.append(pool.bytes_allocated() - base)
        return out

    fd.finalize.__globals__["_data_table"] = spy
    try:
        fd.finalize(root, data_file_size_mb=0.1)
    finally:
        fd.finalize.__globals__["_data_table"] = orig
    assert len(peak) == 40
    early, late = max(peak[:20]), max(peak[20:])
    assert late < 1.5 * early + 256 * 1024, (early, late)  # holding the dataset would grow ~linearly
    assert max(peak) < staged / 2, (max(peak), staged)


def test_create_dataset_refusals_and_resume(tmp_path):
    feats = synthetic.robot_features("arm7")
    kw = dict(features=feats, fps=10, robot_type="arm7", task="t", flywheel_meta=synthetic.flywheel_meta("arm7"))
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match="not empty and is not a flywheel dataset"):
        fd.create_dataset(other, **kw)
    root = tmp_path / "ds"
    assert not fd.staged_keys(root)
    (root / "meta").mkdir(parents=True)  # a meta/flywheel.json that create_dataset did not write is the user's
    (root / "meta/flywheel.json").write_text("{}")
    (root / "staging").mkdir()
    with pytest.raises(ValueError, match="not empty and is not a flywheel dataset"):
        fd.create_dataset(root, **kw)
    assert (root / "meta/flywheel.json").read_text() == "{}"
    meta = {"flywheel_format": fd.schema.FLYWHEEL_FORMAT, "code_version": "0.1.0"}
    (root / "meta/flywheel.json").write_text(json.dumps(meta))  # what a create_dataset killed before its marker leaves
    fd.create_dataset(root, **kw)
    assert (root / "staging/spec.json").exists() and (root / "meta/flywheel.json").exists()
    with pytest.raises(ValueError, match="resume"):
        fd.create_dataset(root, **kw)
    fd.create_dataset(root, **kw, resume=True)  # same run: fine
    with pytest.raises(ValueError, match="fps"):
        fd.create_dataset(root, **{**kw, "fps": 20}, resume=True)
    with pytest.raises(ValueError, match="robot_type"):
        fd.create_dataset(root, **{**kw, "robot_type": "xarm"}, resume=True)
    with pytest.raises(ValueError, match="task"):
        fd.create_dataset(root, **{**kw, "task": "other"}, resume=True)
    with pytest.raises(ValueError, match="config"):
        fd.create_dataset(root, **{**kw, "flywheel_meta": {"config": {"seed": 1}}}, resume=True)
    bigger = {**feats, "action": {**feats["action"], "shape": [8], "names": None}}
    with pytest.raises(ValueError, match="features"):
        fd.create_dataset(root, **{**kw, "features": bigger}, resume=True)
    with fd.StagingWriter(root) as w:
        w.add_episode(4, synthetic.synthetic_episode("arm7", 4, feats), **synthetic.episode_kwargs(4))
    assert fd.staged_keys(root) == {4}
    fd.finalize(root)
    with pytest.raises(ValueError, match="finished"):
        fd.create_dataset(root, **kw, resume=True)
    with pytest.raises(ValueError, match="finished"):
        fd.StagingWriter(root)


def test_writer_rejects_bad_episodes_naming_the_feature(tmp_path):
    root = tmp_path / "ds"
    feats = synthetic.robot_features("arm7", image=(8, 8))
    fd.create_dataset(root, features=feats, fps=10, robot_type="arm7", task="t", flywheel_meta={})
    w = fd.StagingWriter(root)
    good = synthetic.synthetic_episode("arm7", 0, feats)
    kw = synthetic.episode_kwargs(0)
    bad_shape = {**good, "observation.state": good["observation.state"][:, :10]}
    with pytest.raises(ValueError, match=r"observation.state.*expected"):
        w.add_episode(0, bad_shape, **kw)
    with pytest.raises(ValueError, match=r"next.reward.*expected"):
        w.add_episode(0, {**good, "next.reward": good["next.reward"][:-1]}, **kw)
    with pytest.raises(ValueError, match="missing feature"):
        w.add_episode(0, {k: v for k, v in good.items() if k != "action"}, **kw)
    with pytest.raises(ValueError, match="unknown feature"):
        w.add_episode(0, {**good, "extra": good["action"]}, **kw)
    with pytest.raises(ValueError, match="uint8"):
        w.add_episode(0, {**good, "observation.images.wrist": good["observation.images.wrist"].astype(np.float32)}, **kw)
    with pytest.raises(ValueError, match="key"):
        w.add_episode(-1, good, **kw)
    w.add_episode(0, good, **kw)
    with pytest.raises(ValueError, match="already added"):
        w.add_episode(0, good, **kw)
    assert w.buffered == 1 and not fd.staged_keys(root)
    w.close()
    assert fd.staged_keys(root) == {0}
    assert not any(p.name.startswith(".tmp-") for p in (root / "staging").iterdir())
    assert os.listdir(root / "staging") and not (root / "meta/info.json").exists()


def test_finalize_selected_keys(tmp_path):
    """A success-only run keeps the first N successes: finalize(keys=...) drops the other staged episodes."""
    root = tmp_path / "ds"
    feats = synthetic.robot_features("arm7")
    fd.create_dataset(root, features=feats, fps=10, robot_type="arm7", task="t", flywheel_meta={})
    with fd.StagingWriter(root, episodes_per_file=3) as w:
        for k in range(7):
            w.add_episode(k, synthetic.synthetic_episode("arm7", k, feats), **synthetic.episode_kwargs(k))
    with pytest.raises(fd.DatasetError, match=r"not staged: \[9\]"):
        fd.finalize(root, keys=[0, 9])
    info = fd.finalize(root, keys=[5, 0, 2, 3])
    assert info["total_episodes"] == 4
    ds = fd.open(root)
    assert ds.episodes.column("seed").to_pylist() == [100, 102, 103, 105]
    np.testing.assert_array_equal(ds.episode(3)["action"], synthetic.synthetic_episode("arm7", 5, feats)["action"])
    assert fd.validate(root) == []


def _stage(root, keys, *, workers=3, episodes_per_file=4, image=None):
    feats = synthetic.robot_features("arm7", image=image)
    fd.create_dataset(root, features=feats, fps=10, robot_type="arm7", task="reach the red target",
                      flywheel_meta=synthetic.flywheel_meta("arm7"))
    writers = [fd.StagingWriter(root, worker=f"w{i}", episodes_per_file=episodes_per_file) for i in range(workers)]
    for n, k in enumerate(keys):
        writers[n % workers].add_episode(k, synthetic.synthetic_episode("arm7", k, feats), **synthetic.episode_kwargs(k))
    for w in writers:
        w.close()
    return feats


def _chunk_file(path):
    return int(path.parent.name.split("-")[1]), int(path.stem.split("-")[1])


def test_per_file_episode_limits_give_several_data_and_episodes_files(tmp_path):
    """Files close at an episode count too (bounded footers): several data and meta/episodes files, in two
    chunk folders each, each episodes row naming its own file; the reader and the validator accept it, and
    nothing but the file layout differs from the same episodes finalized into one file of each."""
    import shutil

    one, many = tmp_path / "one", tmp_path / "many"
    feats = _stage(one, range(23))
    shutil.copytree(one, many)
    fd.finalize(one)
    info = fd.finalize(many, max_episodes_per_data_file=5, max_episodes_per_meta_file=7, chunks_size=3)
    assert info["total_episodes"] == 23

    data = sorted((many / "data").glob("*/*.parquet"))
    assert [p.relative_to(many).as_posix() for p in data] == [
        "data/chunk-000/file-000.parquet", "data/chunk-000/file-001.parquet", "data/chunk-000/file-002.parquet",
        "data/chunk-001/file-000.parquet", "data/chunk-001/file-001.parquet"]
    assert [pq.ParquetFile(p).metadata.num_row_groups for p in data] == [5, 5, 5, 5, 3]
    metas = sorted((many / "meta/episodes").glob("*/*.parquet"))
    assert [p.relative_to(many).as_posix() for p in metas] == [
        "meta/episodes/chunk-000/file-000.parquet", "meta/episodes/chunk-000/file-001.parquet",
        "meta/episodes/chunk-000/file-002.parquet", "meta/episodes/chunk-001/file-000.parquet"]
    rows = []
    for p in metas:
        t = pq.read_table(p).to_pylist()
        assert {(r["meta/episodes/chunk_index"], r["meta/episodes/file_index"]) for r in t} == {_chunk_file(p)}
        rows += t
    assert [len(pq.read_table(p, columns=["episode_index"])) for p in metas] == [7, 7, 7, 2]
    assert [r["episode_index"] for r in rows] == list(range(23))  # in path order, as LeRobot reads them
    for i, r in enumerate(rows):  # each episode is row group i % 5 of data file i // 5
        f = data[i // 5]
        assert (r["data/chunk_index"], r["data/file_index"]) == _chunk_file(f)
        assert pq.ParquetFile(f).read_row_group(i % 5, columns=["episode_index"]).column(0).to_pylist() == [i] * r["length"]

    # the same episodes, statistics and metadata as the single-file layout
    single = pq.read_table(one / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    layout = ("data/chunk_index", "data/file_index", "meta/episodes/chunk_index", "meta/episodes/file_index")
    assert [{k: v for k, v in r.items() if k not in layout} for r in rows] == [
        {k: v for k, v in r.items() if k not in layout} for r in single]
    assert (many / "meta/stats.json").read_text() == (one / "meta/stats.json").read_text()
    frames = pa.concat_tables([pq.read_table(p) for p in data])  # the frames LeRobot concatenates
    assert frames.equals(pq.read_table(one / "data/chunk-000/file-000.parquet"))

    ds = fd.open(many)
    assert len(ds) == 23 and ds.num_frames == info["total_frames"] and len(ds.data_files()) == 5
    assert not any(c.startswith("stats/") for c in ds.episodes.column_names)  # the reader skips the wide columns
    for i in (0, 4, 5, 14, 15, 22):  # both sides of file boundaries
        want = synthetic.synthetic_episode("arm7", i, feats)
        np.testing.assert_array_equal(ds.episode(i)["observation.state"], want["observation.state"])
    assert [e["episode_index"][0] for e in ds.filter(episodes=[3, 17]).iter_episodes(["episode_index"])] == [3, 17]
    assert len(ds.filter(success=True)) == sum(synthetic.episode_kwargs(k)["success"] for k in range(23))
    assert fd.validate(many) == []


def test_validate_checks_where_episodes_rows_and_data_files_are(tmp_path):
    root = tmp_path / "ds"
    _stage(root, range(6), workers=2)
    fd.finalize(root, max_episodes_per_data_file=2, max_episodes_per_meta_file=3)
    assert fd.validate(root) == []
    victim = root / "meta/episodes/chunk-000/file-001.parquet"
    t = pq.read_table(victim)
    i = t.column_names.index("meta/episodes/file_index")
    pq.write_table(t.set_column(i, "meta/episodes/file_index", pa.array([0] * t.num_rows, pa.int64())), victim)
    found = [str(p) for p in fd.validate(root)]
    assert found == [f"{victim}: meta/episodes/chunk_index / meta/episodes/file_index do not name this file"]

    # episodes pointing to data files out of path order: LeRobot's concatenation would misplace them
    first = root / "meta/episodes/chunk-000/file-000.parquet"
    t = pq.read_table(first)
    i = t.column_names.index("data/file_index")
    pq.write_table(t.set_column(i, "data/file_index", pa.array([1, 1, 0], pa.int64())), first)
    assert any(str(first) in p and "path order" in p for p in map(str, fd.validate(root)))


def test_numeric_accumulator_batches_histogram_updates():
    """Histogram counts are deferred and added in batches; the result equals counting every episode at once."""
    from flywheel.datasets.stats import NumericAccumulator, episode_stats

    rng = np.random.default_rng(0)
    episodes = [rng.normal(size=(int(rng.integers(1, 400)), 3)) for _ in range(400)]
    everything = np.concatenate(episodes)
    acc = NumericAccumulator(everything.min(axis=0), everything.max(axis=0), bins=50)
    for x in episodes:
        acc.add(x, episode_stats(x))
        assert acc._pending_n < max(acc.hist.size // 4, 1 << 16)
    assert acc.hist.sum() < everything.size  # some updates are still pending here...
    out = acc.result()
    assert acc.hist.sum() == everything.size  # ...and counted by result()
    want = np.stack([np.histogram(everything[:, j], bins=50, range=(everything[:, j].min(), everything[:, j].max()))[0] for j in range(3)])
    np.testing.assert_array_equal(acc.hist, want)
    np.testing.assert_allclose(out["mean"], everything.mean(axis=0))
    np.testing.assert_allclose(out["q50"], np.quantile(everything, 0.5, axis=0), atol=(everything.max() - everything.min()) / 50)

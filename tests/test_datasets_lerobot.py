"""LeRobot v3.0 compatibility, pinned structurally (lerobot itself cannot be a test dependency here).

Each test mirrors one thing ``shared/tools/lerobot-check/check.py`` verifies with LeRobot 0.4.4's own
``LeRobotDataset``, following how lerobot 0.4.4 reads a dataset:

- ``load_info``: meta/info.json with ``codebase_version`` v3.0 and the keys it indexes;
- ``load_nested_dataset(root/"data")``: ``Dataset.from_parquet(sorted(data/*/*.parquet))`` cast to the
  HF features derived from info.json (shape (1,) -> Value, (n,) -> fixed-length Sequence, image -> Image);
- ``load_tasks``: ``pd.read_parquet(meta/tasks.parquet)``, then ``tasks.iloc[task_index].name`` as the task;
- ``load_episodes``: meta/episodes/*/*.parquet, rows indexed by episode_index, ``dataset_from_index`` /
  ``dataset_to_index`` bounding the padding of ``delta_timestamps`` windows;
- ``load_stats`` + ``aggregate_stats``: count shape (1,), image stats (3, 1, 1).

Set ``LEROBOT_CHECK=/path/to/lerobot-check`` to also run the real tool on the dataset written here.
"""
import json
import os
import shutil
import subprocess

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from flywheel.datasets import png, schema, synthetic


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("lerobot") / "arm7_reach"
    # several data files and several meta/episodes files, across two chunk folders each
    synthetic.write_synthetic_dataset(root, "arm7", range(9), image=(24, 20), finalize_kwargs={
        "data_file_size_mb": 0.03, "max_episodes_per_meta_file": 4, "chunks_size": 2})
    keep = os.environ.get("FLYWHEEL_KEEP_LEROBOT_DATASET")
    if keep:  # for running lerobot-check by hand on exactly what this test wrote
        shutil.rmtree(keep, ignore_errors=True)
        shutil.copytree(root, keep)
    return root


@pytest.fixture(scope="module")
def info(root):
    return json.loads((root / "meta/info.json").read_text())


def episodes_table(root):
    """What ``load_episodes`` sees: the sorted meta/episodes files, concatenated (row i is episode i)."""
    paths = sorted((root / "meta/episodes").glob("*/*.parquet"))
    assert len(paths) > 1  # several files, so the concatenation order matters
    return pads.dataset([str(p) for p in paths], format="parquet").to_table()


def hf_frames(root):
    """What ``load_nested_dataset`` sees: the sorted data files, concatenated, as one table."""
    paths = sorted((root / "data").glob("*/*.parquet"))
    assert len(paths) > 1  # several files, so the concatenation order matters
    return pads.dataset([str(p) for p in paths], format="parquet").to_table()


def test_info_has_what_lerobot_reads(info):
    for key in ("codebase_version", "robot_type", "fps", "features", "total_episodes", "total_frames", "total_tasks",
                "chunks_size", "data_files_size_in_mb", "video_files_size_in_mb", "data_path", "video_path", "splits"):
        assert key in info, key
    assert info["codebase_version"] == "v3.0"
    for name, ft in schema.INDEX_FEATURES.items():  # LeRobot's DEFAULT_FEATURES
        assert info["features"][name]["dtype"] == ft["dtype"] and info["features"][name]["shape"] == [1]
    for ft in info["features"].values():
        assert "/" not in json.dumps(list(info["features"]))
        assert isinstance(ft["shape"], list) and ft["dtype"] in ("float32", "int64", "bool", "image")


def test_length_and_episode_count(root, info):
    table = hf_frames(root)
    assert table.num_rows == info["total_frames"]
    assert len(set(table.column("episode_index").to_pylist())) == info["total_episodes"]
    # LeRobot indexes hf_dataset by position and reads item["index"] as the absolute index: they must agree.
    np.testing.assert_array_equal(table.column("index").to_numpy(), np.arange(table.num_rows))


def test_data_types_are_the_hf_features_of_info(root, info):
    expected = {}
    for key, ft in info["features"].items():
        if ft["dtype"] == "image":
            expected[key] = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
        elif ft["shape"] == [1]:
            expected[key] = pa.bool_() if ft["dtype"] == "bool" else pa.from_numpy_dtype(ft["dtype"])
        else:
            expected[key] = pa.list_(pa.from_numpy_dtype(ft["dtype"]), ft["shape"][0])
    for path in sorted((root / "data").glob("*/*.parquet")):
        s = pq.read_schema(path)
        assert s.names == list(info["features"])
        for key, t in expected.items():
            assert s.field(key).type == t, (path, key)
        hf = json.loads(s.metadata[b"huggingface"])["info"]["features"]
        assert hf["observation.images.wrist"] == {"_type": "Image"}


def test_items_have_every_feature_with_its_shape_and_the_task_string(root, info):
    table = hf_frames(root)
    tasks = pq.read_table(root / "meta/tasks.parquet")
    pandas_meta = json.loads(tasks.schema.metadata[b"pandas"])
    index_col = pandas_meta["index_columns"][0]
    assert index_col == "task" and index_col in tasks.column_names
    task_by_position = tasks.column(index_col).to_pylist()  # tasks.iloc[i].name
    assert tasks.column("task_index").to_pylist() == list(range(tasks.num_rows))
    n = table.num_rows
    for idx in sorted({0, n // 2, n - 1}):
        row = table.slice(idx, 1).to_pylist()[0]
        for key, ft in info["features"].items():
            assert key in row
            value = row[key]
            if ft["dtype"] == "image":
                h, w, c = ft["shape"]
                assert png.decode(value["bytes"]).shape == (h, w, c)  # LeRobot returns (c, h, w) after ToTensor
            elif ft["shape"] == [1]:
                assert np.ndim(value) == 0
            else:
                assert np.shape(value) == tuple(ft["shape"])
        assert task_by_position[row["task_index"]] == "reach the red target"


def test_episode_boundaries_pad_instead_of_leaking(root, info):
    table = hf_frames(root)
    eps = episodes_table(root)
    for col in ("episode_index", "tasks", "length", "data/chunk_index", "data/file_index", "dataset_from_index",
                "dataset_to_index", "meta/episodes/chunk_index", "meta/episodes/file_index"):
        assert col in eps.column_names
    # meta.episodes[ep_idx] is positional: row i must be episode i
    assert eps.column("episode_index").to_pylist() == list(range(info["total_episodes"]))
    ep_index = table.column("episode_index").to_numpy()
    for row in eps.to_pylist():
        lo, hi = row["dataset_from_index"], row["dataset_to_index"]
        assert (ep_index[lo:hi] == row["episode_index"]).all() and hi - lo == row["length"]
        # delta_timestamps {action: [0, 1/fps, 2/fps]} at the last frame: abs + delta >= hi is padded
        last = hi - 1
        pad = [(last + d < lo) or (last + d >= hi) for d in (0, 1, 2)]
        assert pad == [False, True, True]
        if hi < len(ep_index):
            assert ep_index[hi] == row["episode_index"] + 1
    # each row names the meta/episodes file it is in (LeRobot resumes writing from the last one)
    for path in sorted((root / "meta/episodes").glob("*/*.parquet")):
        where = pq.read_table(path, columns=["meta/episodes/chunk_index", "meta/episodes/file_index"]).to_pylist()
        assert {(r["meta/episodes/chunk_index"], r["meta/episodes/file_index"]) for r in where} == {
            (int(path.parent.name[6:]), int(path.stem[5:]))}
    # the data file each episode names really holds it (LeRobot loads files by data/chunk_index, data/file_index)
    for row in eps.to_pylist():
        path = root / info["data_path"].format(chunk_index=row["data/chunk_index"], file_index=row["data/file_index"])
        got = pq.read_table(path, columns=["episode_index"]).column(0).to_numpy()
        assert (got == row["episode_index"]).sum() == row["length"]


def test_single_episode_selection(root, info):
    last = info["total_episodes"] - 1
    paths = [str(p) for p in sorted((root / "data").glob("*/*.parquet"))]
    sub = pads.dataset(paths, format="parquet").to_table(filter=pads.field("episode_index").isin([last]))
    eps = episodes_table(root).to_pylist()
    assert sub.num_rows == eps[last]["length"] > 0


def test_stats_have_lerobot_shapes(root, info):
    stats = json.loads((root / "meta/stats.json").read_text())
    for key, ft in info["features"].items():
        st = stats[key]
        assert np.asarray(st["count"]).shape == (1,)
        for k in ("min", "max", "mean", "std", "q01", "q10", "q50", "q90", "q99"):
            shape = np.asarray(st[k]).shape
            if "image" in key:  # aggregate_stats' own rule
                assert shape == (3, 1, 1)
            else:
                assert shape == tuple(ft["shape"])
            assert np.isfinite(np.asarray(st[k], dtype=np.float64)).all()
        if ft["dtype"] == "image":
            assert 0.0 <= np.min(st["min"]) and np.max(st["max"]) <= 1.0


def test_timestamps_follow_fps(root, info):
    table = hf_frames(root)
    ts = table.column("timestamp").to_numpy()
    fi = table.column("frame_index").to_numpy()
    assert table.schema.field("timestamp").type == pa.float32()
    np.testing.assert_allclose(ts, fi / info["fps"], atol=1e-6)


@pytest.mark.skipif(not os.environ.get("LEROBOT_CHECK"), reason="set LEROBOT_CHECK=/path/to/lerobot-check to run LeRobot itself")
def test_real_lerobot_check(root):
    out = subprocess.run([os.environ["LEROBOT_CHECK"], str(root)], capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "lerobot-check: OK" in out.stdout

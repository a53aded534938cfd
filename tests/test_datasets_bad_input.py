"""Bad input gives clear errors that name the file: open() raises, validate() lists every problem."""
import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import flywheel.datasets as fd
from flywheel.datasets import synthetic


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    root = tmp_path_factory.mktemp("good") / "ds"
    synthetic.write_synthetic_dataset(root, "arm7", range(8), image=(8, 8), finalize_kwargs={"data_file_size_mb": 0.01})
    assert len(list((root / "data").glob("*/*.parquet"))) >= 3
    return root


@pytest.fixture
def copy(good, tmp_path):
    dst = tmp_path / "ds"
    shutil.copytree(good, dst)
    return dst


def problems(root):
    return [str(p) for p in fd.validate(root)]


def test_good_dataset_validates(good):
    assert fd.validate(good) == []


@pytest.mark.parametrize("content", [None, "notes.txt"])
def test_not_a_dataset(tmp_path, content):
    if content:
        (tmp_path / content).write_text("hello")
    with pytest.raises(fd.DatasetError, match=r"meta/info\.json: missing: not a dataset"):
        fd.open(tmp_path)
    assert any("not a dataset" in p and "meta/info.json" in p for p in problems(tmp_path))
    with pytest.raises(fd.DatasetError, match="not a flywheel dataset"):
        fd.finalize(tmp_path)
    with pytest.raises(fd.DatasetError, match="no such folder"):
        fd.open(tmp_path / "absent")


def test_unfinished_dataset_is_never_read_as_complete(tmp_path):
    root = tmp_path / "ds"
    feats = synthetic.robot_features("arm7")
    fd.create_dataset(root, features=feats, fps=10, robot_type="arm7", task="t", flywheel_meta={})
    with fd.StagingWriter(root) as w:
        w.add_episode(0, synthetic.synthetic_episode("arm7", 0, feats), **synthetic.episode_kwargs(0))
    with pytest.raises(fd.DatasetError, match=r"info\.json: missing: this is an unfinished flywheel dataset \(1 episodes staged\)"):
        fd.open(root)
    assert any("unfinished" in p for p in problems(root))


def test_truncated_data_file(copy):
    victim = sorted((copy / "data").glob("*/*.parquet"))[1]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    with pytest.raises(fd.DatasetError, match="truncated or corrupt Parquet") as err:
        fd.open(copy)
    assert str(victim) in str(err.value)
    found = problems(copy)
    assert any(p.startswith(str(victim)) and "truncated or corrupt" in p for p in found), found


def test_truncated_episodes_file(copy):
    victim = copy / "meta/episodes/chunk-000/file-000.parquet"
    victim.write_bytes(victim.read_bytes()[:100])
    with pytest.raises(fd.DatasetError, match="truncated or corrupt") as err:
        fd.open(copy)
    assert str(victim) in str(err.value)
    assert any(p.startswith(str(victim)) for p in problems(copy))


def test_missing_and_unreferenced_data_files(copy):
    files = sorted((copy / "data").glob("*/*.parquet"))
    files[0].rename(files[0].with_name("file-900.parquet"))
    with pytest.raises(fd.DatasetError, match="data file is missing") as err:
        fd.open(copy)
    assert str(files[0]) in str(err.value)
    found = problems(copy)
    assert any(p.startswith(str(files[0])) and "missing" in p for p in found)
    assert any("file-900.parquet" in p and "not referenced" in p for p in found)


@pytest.mark.parametrize("version", ["v2.1", "v4.0", None])
def test_info_json_wrong_version(copy, version):
    path = copy / "meta/info.json"
    info = json.loads(path.read_text())
    info["codebase_version"] = version
    path.write_text(json.dumps(info))
    with pytest.raises(fd.DatasetError, match=r"info\.json: codebase_version is .*v3\.0") as err:
        fd.open(copy)
    assert err.value.path == path
    assert any(p.startswith(str(path)) and "codebase_version" in p for p in problems(copy))


def test_info_json_not_json(copy):
    path = copy / "meta/info.json"
    path.write_text("{ nope")
    with pytest.raises(fd.DatasetError, match="not valid JSON") as err:
        fd.open(copy)
    assert err.value.path == path


def test_info_json_totals_disagree(copy):
    path = copy / "meta/info.json"
    info = json.loads(path.read_text())
    info["total_episodes"] += 1
    info["total_frames"] += 5
    path.write_text(json.dumps(info))
    with pytest.raises(fd.DatasetError, match="total_episodes"):
        fd.open(copy)
    found = problems(copy)
    assert any("total_episodes" in p for p in found) and any("total_frames" in p for p in found)


def test_mismatched_shapes_in_a_data_file(copy, tmp_path):
    """A data file whose vectors have another shape than info.json (e.g. copied from another robot)."""
    other = tmp_path / "other"
    synthetic.write_synthetic_dataset(other, "biped12", range(2))
    victim = sorted((copy / "data").glob("*/*.parquet"))[0]
    shutil.copy(other / "data/chunk-000/file-000.parquet", victim)
    with pytest.raises(fd.DatasetError, match=r"observation\.state") as err:
        fd.open(copy)
    assert str(victim) in str(err.value)
    assert any(p.startswith(str(victim)) and "observation.state" in p for p in problems(copy))


def test_mismatched_shapes_between_staged_episodes(tmp_path):
    """A staging file written for another shape (a worker with a stale spec) stops finalize, naming it."""
    root, other = tmp_path / "ds", tmp_path / "other"
    for r, robot in ((root, "arm7"), (other, "biped12")):
        feats = synthetic.robot_features(robot)
        fd.create_dataset(r, features=feats, fps=10, robot_type=robot, task="t", flywheel_meta={})
        with fd.StagingWriter(r) as w:
            w.add_episode(0 if r == root else 1, synthetic.synthetic_episode(robot, 0, feats), **synthetic.episode_kwargs(0))
    stray = next((other / "staging").glob("*.parquet"))
    shutil.copy(stray, root / "staging" / stray.name)
    with pytest.raises(fd.DatasetError, match=r"observation\.state.*mismatched shapes") as err:
        fd.finalize(root)
    assert stray.name in str(err.value)
    assert not (root / "meta/info.json").exists()


def test_corrupt_staging_file_is_named(tmp_path):
    root = tmp_path / "ds"
    feats = synthetic.robot_features("arm7")
    fd.create_dataset(root, features=feats, fps=10, robot_type="arm7", task="t", flywheel_meta={})
    with fd.StagingWriter(root) as w:
        w.add_episode(0, synthetic.synthetic_episode("arm7", 0, feats), **synthetic.episode_kwargs(0))
    victim = next((root / "staging").glob("*.parquet"))
    victim.write_bytes(victim.read_bytes()[:-20])
    with pytest.raises(fd.DatasetError, match="truncated or corrupt staging file") as err:
        fd.staged_keys(root)
    assert str(victim) in str(err.value)
    assert any(str(victim) in p for p in problems(root))


def _rewrite_row_groups(path, change):
    """Rewrite a data file row group by row group (one episode each), ``change(i, table) -> table``."""
    pf = pq.ParquetFile(path)
    tables = [change(i, pf.read_row_group(i)) for i in range(pf.metadata.num_row_groups)]
    pf.close()
    with pq.ParquetWriter(path, tables[0].schema) as w:
        for t in tables:
            w.write_table(t, row_group_size=t.num_rows)


def test_nan_values_and_inconsistent_stats_are_reported(tmp_path):
    root = tmp_path / "ds"
    feats = synthetic.robot_features("arm7")
    fd.create_dataset(root, features=feats, fps=10, robot_type="arm7", task="t", flywheel_meta={})
    with fd.StagingWriter(root) as w:
        for k in range(3):
            ep = synthetic.synthetic_episode("arm7", k, feats)
            if k == 1:
                ep["action"][2, 3] = np.nan
            w.add_episode(k, ep, **synthetic.episode_kwargs(k))
    # finalize refuses a NaN episode (stats.json would not be finite), naming the file, key and feature
    with pytest.raises(fd.DatasetError, match=r"staging/.*\.parquet: episode key 1: action has 1 NaN/inf"):
        fd.finalize(root)
    assert not (root / "meta/info.json").exists() and list((root / "staging").glob("*.parquet"))
    fd.finalize(root, keys=[0, 2])
    data = root / "data/chunk-000/file-000.parquet"
    assert problems(root) == []

    def poison(i, t):  # a NaN written into a finished data file behind the finaliser's back
        if i != 1:
            return t
        col = t.column("action").combine_chunks()
        flat = col.flatten().to_numpy().copy()
        flat[2 * col.type.list_size + 3] = np.nan
        return t.set_column(t.schema.get_field_index("action"), "action",
                            pa.FixedSizeListArray.from_arrays(pa.array(flat), col.type.list_size))

    _rewrite_row_groups(data, poison)
    found = problems(root)
    assert any(p.startswith(str(data)) and "episode 1" in p and "action has 1 NaN/inf" in p for p in found), found
    # and stats that lie about the data
    stats_path = root / "meta/stats.json"
    stats = json.loads(stats_path.read_text())
    stats["observation.goal"]["mean"] = [9.0, 9.0, 9.0]
    stats["observation.state"]["count"] = [1]
    stats_path.write_text(json.dumps(stats))
    found = problems(root)
    assert any("observation.goal" in p and "mean" in p for p in found), found
    assert any("observation.state: count" in p for p in found), found


def test_episode_index_gap(copy):
    path = copy / "meta/episodes/chunk-000/file-000.parquet"
    t = pq.read_table(path)
    t = t.set_column(0, "episode_index", pa.array(t.column("episode_index").to_numpy() * 2))
    pq.write_table(t, path)
    with pytest.raises(fd.DatasetError, match="not contiguous"):
        fd.open(copy)
    assert any(str(path) in p and "contiguous" in p for p in problems(copy))


def test_tasks_without_pandas_index_is_reported(copy):
    path = copy / "meta/tasks.parquet"
    t = pq.read_table(path).replace_schema_metadata(None)
    pq.write_table(t, path)
    assert any(str(path) in p and "pandas index" in p for p in problems(copy))


def test_row_group_per_episode_is_checked(copy):
    """LeRobot v3.0 does not require one row group per episode (LeRobot's writer puts many in one): open() reads
    such a file by row ranges; validate still reports it for a flywheel dataset, whose layout promises it."""
    before = fd.open(copy)
    want = [before.episode(i) for i in range(len(before))]
    victim = sorted((copy / "data").glob("*/*.parquet"))[0]
    t = pq.read_table(victim)
    pq.write_table(t, victim)  # one row group for the whole file
    n_eps = sum(1 for r in pq.read_table(copy / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
                if (r["data/chunk_index"], r["data/file_index"]) == (0, 0))
    assert n_eps > 1
    ds = fd.open(copy)
    for i, ep in enumerate(want):
        got = ds.episode(i)
        assert all(np.array_equal(got[k], v) for k, v in ep.items())
    assert any(p.startswith(str(victim)) and "row group" in p for p in problems(copy))
    (copy / "meta/flywheel.json").unlink()  # no longer a flywheel dataset: plain LeRobot v3.0, valid
    assert problems(copy) == []

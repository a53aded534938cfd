"""Issue 11 in datasets/: short runs, paths named by info.json, symlinks, info.json types, non-finite
statistics, environment failures. Bad input through the CLI: exit 2, one line, no traceback, disk unchanged."""
import errno
import hashlib
import json
import os
import shutil

import pytest

import flywheel.datasets as fd
from flywheel.cli import main
from flywheel.datasets import _outputs, synthetic


# ---- helpers (also used by test_datasets_lock.py and test_datasets_checksums.py) ----------------------
def tree_hash(root) -> str:
    """SHA-256 over every path under ``root`` (names, link targets, file bytes): "nothing changed on disk"."""
    h = hashlib.sha256()
    root = str(root)
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            h.update(os.path.relpath(p, root).encode() + b"\0")
            if os.path.islink(p):
                h.update(b"L" + os.readlink(p).encode())
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    h.update(b"F" + f.read())
    return h.hexdigest()


def unfinished(tmp_path, *, staged: int, requested: int | None, name: str = "ds", meta_extra=None):
    """A staged, unfinished dataset whose collector asked for ``requested`` episodes and staged ``staged``."""
    root = tmp_path / name
    feats = synthetic.robot_features("arm7")
    meta = synthetic.flywheel_meta("arm7")
    meta["config"]["episodes"] = requested
    meta.update(meta_extra or {})
    fd.create_dataset(root, features=feats, fps=10, robot_type="arm7", task="t", flywheel_meta=meta)
    with fd.StagingWriter(root, episodes_per_file=2) as w:
        for k in range(staged):
            w.add_episode(k, synthetic.synthetic_episode("arm7", k, feats), **synthetic.episode_kwargs(k))
    return root


def cli(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def refused(argv, capsys, root, *expect):
    """Run a command that must be refused: exit 2, one line naming ``expect``, no traceback, disk unchanged."""
    before = tree_hash(root)
    rc, out, err = cli(argv, capsys)
    assert rc == 2, (rc, out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for text in expect:
        assert text in err, (text, err)
    assert tree_hash(root) == before
    return err


# ---- finding 4: finalize never completes a short run silently ------------------------------------------
def test_finalize_refuses_a_short_run_and_points_to_resume(tmp_path, capsys):
    root = unfinished(tmp_path, staged=3, requested=6)
    before = tree_hash(root)
    with pytest.raises(fd.IncompleteDataset, match=r"only 3 of 6 requested episodes.*--resume.*--allow-partial"):
        fd.finalize(root)
    assert tree_hash(root) == before
    refused(["dataset", "finalize", root], capsys, root, "only 3 of 6", "flywheel collect ... --out", "--resume",
            "--allow-partial")
    rc, out, err = cli(["dataset", "finalize", "--allow-partial", root], capsys)
    assert rc == 0 and "3 episodes" in out and "partial" in out
    meta = json.loads((root / "meta/flywheel.json").read_text())
    assert meta["partial"] is True and meta["requested_episodes"] == 6 and meta["kept_episodes"] == 3
    assert fd.validate(root) == []
    with pytest.raises(ValueError, match=r"finalized short on purpose \(3 of 6 episodes"):
        fd.create_dataset(root, features=synthetic.robot_features("arm7"), fps=10, robot_type="arm7", task="t",
                          flywheel_meta=synthetic.flywheel_meta("arm7"), resume=True)


def test_complete_runs_finalize_unchanged(tmp_path):
    """The collector's own calls: a complete run, one whose last run dropped episodes, success-only keys."""
    root = unfinished(tmp_path, staged=4, requested=4, name="a")
    fd.finalize(root)
    meta = json.loads((root / "meta/flywheel.json").read_text())
    assert meta["partial"] is False and meta["kept_episodes"] == 4
    run = {"interrupted": False, "error": None, "dropped_nonfinite": 1, "dropped_crash": 1, "dropped_error": 0}
    root = unfinished(tmp_path, staged=4, requested=6, name="b", meta_extra={"runs": [run]})
    fd.finalize(root)
    meta = json.loads((root / "meta/flywheel.json").read_text())
    assert meta["partial"] is False and meta["dropped_episodes"] == 2
    # the same drops in an interrupted run are not final (a resume retries them)
    root = unfinished(tmp_path, staged=4, requested=6, name="c", meta_extra={"runs": [dict(run, interrupted=True)]})
    with pytest.raises(fd.IncompleteDataset, match="only 4 of 6"):
        fd.finalize(root)
    root = unfinished(tmp_path, staged=5, requested=2, name="d")
    json_path = root / "meta/flywheel.json"
    meta = json.loads(json_path.read_text())
    meta["config"]["success_only"] = True
    json_path.write_text(json.dumps(meta))
    assert fd.finalize(root, keys=[0, 2])["total_episodes"] == 2


def test_replay_into_counts_the_selected_episodes(tmp_path):
    root = unfinished(tmp_path, staged=3, requested=100, meta_extra={"replayed_from": {"dataset": "/x", "episodes": ["0:2", "5:7"]}})
    with pytest.raises(fd.IncompleteDataset, match=r"only 3 of 4 .*flywheel replay \.\.\. --out"):
        fd.finalize(root)


def test_open_and_validate_recommend_resume_not_finalize(tmp_path):
    root = unfinished(tmp_path, staged=2, requested=6)
    with pytest.raises(fd.DatasetError) as err:
        fd.open(root)
    for text in (str(err.value), str(fd.validate(root)[0])):
        assert "--resume" in text and "--allow-partial" in text and "finalize(path)" not in text


# ---- finding 10: readers check what they read -----------------------------------------------------------
@pytest.fixture(scope="module")
def good(tmp_path_factory):
    root = tmp_path_factory.mktemp("good") / "ds"
    synthetic.write_synthetic_dataset(root, "arm7", range(4))
    return root


@pytest.fixture
def copy(good, tmp_path):
    dst = tmp_path / "ds"
    shutil.copytree(good, dst)
    return dst


def _edit_info(root, **changes):
    path = root / "meta/info.json"
    info = json.loads(path.read_text())
    info.update(changes)
    path.write_text(json.dumps(info))


@pytest.mark.parametrize("template, why", [
    ("../outside/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet", "relative path under data/"),
    ("data/../../outside/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet", "without '..'"),
    ("/etc/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet", "relative path under data/"),
    ("data/chunk-{chunk_index.__class__}/file-{file_index:03d}.parquet", "no attribute or index access"),
    ("data/chunk-{chunk_index[0]}/file-{file_index:03d}.parquet", "no attribute or index access"),
    ("data/chunk-{chunk_index!r}/file-{file_index:03d}.parquet", "only an integer width"),
    ("data/chunk-{chunk_index:{file_index}}/file-{file_index:03d}.parquet", "only an integer width"),
    ("data/chunk-{chunk_index:03d}/file.parquet", "every one of"),
    ("data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet{", "not a LeRobot v3.0 path template"),
    (7, "must be a path template string"),
])
def test_bad_data_path_is_refused(copy, capsys, template, why):
    _edit_info(copy, data_path=template)
    with pytest.raises(fd.DatasetError, match="data_path") as err:
        fd.open(copy)
    assert why in str(err.value)
    assert any("data_path" in str(p) and why in str(p) for p in fd.validate(copy))
    refused(["dataset", "info", copy], capsys, copy, "meta/info.json", "data_path", why)


def test_bad_video_path_is_refused(copy):
    _edit_info(copy, video_path="videos/{video_key.__init__}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4")
    with pytest.raises(fd.DatasetError, match="video_path"):
        fd.open(copy)


def test_a_data_folder_linked_outside_is_not_read(copy, tmp_path, capsys):
    outside = tmp_path / "elsewhere"
    shutil.move(str(copy / "data"), outside)
    os.symlink(outside, copy / "data")
    with pytest.raises(fd.DatasetError, match="outside the dataset folder"):
        fd.open(copy)
    assert any("outside the dataset folder" in str(p) for p in fd.validate(copy))
    refused(["dataset", "info", copy], capsys, copy, "outside the dataset folder")


def test_finalize_never_writes_through_a_symlink(tmp_path, capsys):
    root = unfinished(tmp_path, staged=2, requested=2)
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    os.symlink(outside, root / "data")
    before = tree_hash(outside)
    refused(["dataset", "finalize", root], capsys, root, "data", "is a symbolic link", "finalize writes only")
    with pytest.raises(fd.DatasetError, match="symbolic link"):
        fd.finalize(root)
    assert tree_hash(outside) == before and not (root / "meta/info.json").exists()


@pytest.mark.parametrize("field, value, text", [
    ("total_episodes", "4", "total_episodes must be an integer >= 0, got '4' (str)"),
    ("total_frames", 12.5, "total_frames must be an integer >= 0, got 12.5 (float)"),
    ("fps", True, "fps must be a positive integer, got True (bool)"),
    ("chunks_size", 0, "chunks_size must be a positive integer"),
    ("features", [], "features must be a non-empty object"),
    ("splits", "train", "splits must be an object"),
])
def test_info_field_types(copy, capsys, field, value, text):
    _edit_info(copy, **{field: value})
    with pytest.raises(fd.DatasetError, match="meta/info.json") as err:
        fd.open(copy)
    assert text in str(err.value)
    assert any(text in str(p) for p in fd.validate(copy))
    refused(["dataset", "info", copy], capsys, copy, text)


def test_relative_dataset_path_is_not_doubled(copy, monkeypatch, capsys):
    monkeypatch.chdir(copy.parent)
    victim = copy / "meta/episodes/chunk-000/file-000.parquet"
    victim.write_bytes(victim.read_bytes()[:100])
    found = [str(p) for p in fd.validate("ds")]
    assert found and all(p.startswith("ds/") and not p.startswith("ds/ds/") for p in found), found
    rc, out, _ = cli(["dataset", "validate", "ds"], capsys)
    assert rc == 1 and "ds/meta/episodes/chunk-000/file-000.parquet: truncated" in out and "ds/ds" not in out


# ---- finding 6: non-finite numbers in stats.json --------------------------------------------------------
@pytest.mark.parametrize("value, text", [
    ("NaN", "observation.state.mean[1] is nan"),
    ("Infinity", "observation.state.mean[1] is inf"),
])
def test_nonfinite_stats_are_reported_with_file_and_field(copy, value, text):
    path = copy / "meta/stats.json"
    stats = json.loads(path.read_text())
    stats["observation.state"]["mean"][1] = "PLACEHOLDER"
    path.write_text(json.dumps(stats).replace('"PLACEHOLDER"', value))
    assert any(str(p).startswith(str(path)) and text in str(p) for p in fd.validate(copy)), fd.validate(copy)
    with pytest.raises(fd.DatasetError, match=text.replace("[", r"\[").replace("]", r"\]")):
        fd.open(copy).stats


def test_wrong_type_in_stats_is_reported(copy):
    path = copy / "meta/stats.json"
    stats = json.loads(path.read_text())
    stats["action"]["std"] = "small"
    path.write_text(json.dumps(stats))
    found = [str(p) for p in fd.validate(copy)]
    assert any(p.startswith(str(path)) and "action.std must be a list of numbers" in p for p in found), found
    with pytest.raises(fd.DatasetError, match="action.std must be a number"):
        fd.open(copy).stats


def test_nan_in_metadata_is_refused_at_create(tmp_path):
    meta = synthetic.flywheel_meta("arm7")
    meta["robot"]["kp"] = float("nan")
    with pytest.raises(ValueError, match="flywheel_meta.robot.kp is nan"):
        fd.create_dataset(tmp_path / "ds", features=synthetic.robot_features("arm7"), fps=10, robot_type="arm7",
                          task="t", flywheel_meta=meta)
    assert not (tmp_path / "ds").exists()


# ---- finding 8: environment failures: one line, exit 2, the dataset stays resumable ---------------------
@pytest.mark.parametrize("code, text", [
    (errno.ENOSPC, "no space left on the device; free some space"),
    (errno.EROFS, "read-only; use a folder on a writable file system"),
    (errno.EACCES, "permission denied; fix the folder's permissions"),
    (errno.ENOTDIR, "a part of the path is a file, not a folder"),
    (errno.ELOOP, "symlink loop"),
])
def test_finalize_environment_failure_leaves_a_resumable_dataset(tmp_path, capsys, monkeypatch, code, text):
    root = unfinished(tmp_path, staged=4, requested=4)
    staging = tree_hash(root / "staging")

    def fail(*args, **kwargs):  # after the data and episode files are written, before info.json
        raise OSError(code, os.strerror(code), str(root / "meta/tasks.parquet"))

    monkeypatch.setattr(_outputs.pq, "write_table", fail)
    rc, out, err = cli(["dataset", "finalize", root], capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "meta/tasks.parquet" in err and text in err and "resumable" in err
    assert not (root / "meta/info.json").exists() and not (root / "data").exists()
    assert tree_hash(root / "staging") == staging
    monkeypatch.undo()
    assert cli(["dataset", "finalize", root], capsys)[0] == 0  # space freed: it finishes
    reference = unfinished(tmp_path, staged=4, requested=4, name="ref")
    fd.finalize(reference)
    for rel in ("data/chunk-000/file-000.parquet", "meta/stats.json"):  # bit-identical to an uninterrupted run
        assert (root / rel).read_bytes() == (reference / rel).read_bytes()  # (meta/episodes differs: random uuids)


@pytest.mark.parametrize("command", ["validate", "info", "finalize"])
def test_real_path_failures_are_one_line(tmp_path, capsys, command):
    (tmp_path / "file").write_text("x")
    os.symlink("loop_b", tmp_path / "loop_a")
    os.symlink("loop_a", tmp_path / "loop_b")
    for path in (tmp_path / "file" / "ds", tmp_path / "loop_a", tmp_path / "file"):
        rc, out, err = cli(["dataset", command, path], capsys)
        assert rc in (1, 2) and "Traceback" not in err
        lines = (out + err).strip().splitlines()
        assert 1 <= len(lines) <= 2 and str(path) in lines[0], lines  # validate: the problem, then the count

"""``flywheel dataset validate|info|export|finalize`` through the datasets command module."""
import argparse
import json
import sys

import pytest

from flywheel.datasets import cli, synthetic


def run(argv):
    """Parse with only this package's commands, so other packages' CLIs cannot interfere."""
    parser = argparse.ArgumentParser(prog="flywheel")
    sub = parser.add_subparsers(dest="command")
    cli.add_commands(sub)
    args = parser.parse_args(argv)
    return args.handler(args)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli") / "ds"
    synthetic.write_synthetic_dataset(root, "biped12", range(4), image=(6, 6))
    return root


def test_validate_ok(root, capsys):
    assert run(["dataset", "validate", str(root)]) == 0
    assert capsys.readouterr().out.strip() == f"{root}: OK"


def test_validate_prints_each_problem_with_its_file(root, tmp_path, capsys):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(root, bad)
    (bad / "meta/stats.json").unlink()
    victim = bad / "data/chunk-000/file-000.parquet"
    victim.write_bytes(victim.read_bytes()[:50])
    assert run(["dataset", "validate", str(bad)]) == 1
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    assert any(line.startswith(f"{victim}: truncated or corrupt") for line in lines), lines
    assert any(line.startswith(f"{bad / 'meta/stats.json'}: file is missing") for line in lines), lines
    assert "problem(s)" in out.err


def test_info(root, capsys):
    assert run(["dataset", "info", str(root)]) == 0
    out = capsys.readouterr().out
    for text in ("robot     biped12", "task      reach the red target", "episodes  4", "success", "observation.ee ", "size"):
        assert text in out
    assert run(["dataset", "info", "--json", str(root)]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["robot"] == "biped12" and s["episodes"] == 4 and s["features"]["observation.ee"]["shape"] == [16]
    assert s["success_rate"] == pytest.approx(0.75)  # keys 0, 2, 3 succeed


def test_export_commands(root, tmp_path, monkeypatch, capsys):
    pytest.importorskip("minari")
    pytest.importorskip("h5py")
    assert run(["dataset", "export", str(root), "--format", "robomimic", "--out", str(tmp_path / "rm")]) == 0
    assert (tmp_path / "rm/biped12.hdf5").exists()
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "mn"))
    with pytest.raises(ValueError, match="cannot make its environment flywheel/Reach-v0.*unknown robot 'biped12'.*--no-env"):
        run(["dataset", "export", str(root), "--format", "minari", "--out", str(tmp_path / "mn"), "--no-images"])
    assert not (tmp_path / "mn" / "flywheel").exists()
    assert run(["dataset", "export", str(root), "--format", "minari", "--out", str(tmp_path / "mn"), "--no-images",
                "--no-env"]) == 0
    assert "flywheel/biped12-reach_the_red_target-v0" in capsys.readouterr().out
    import minari

    assert minari.load_dataset("flywheel/biped12-reach_the_red_target-v0").total_episodes == 4


def test_export_missing_dependency_is_a_user_error(root, tmp_path, monkeypatch):
    from flywheel.cli import UserError

    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(UserError, match="h5py"):
        run(["dataset", "export", str(root), "--format", "robomimic", "--out", str(tmp_path)])


def test_finalize_command(tmp_path, capsys):
    import flywheel.datasets as fd

    feats = synthetic.robot_features("arm7")
    root = tmp_path / "ds"
    fd.create_dataset(root, features=feats, fps=10, robot_type="arm7", task="t", flywheel_meta={})
    with fd.StagingWriter(root) as w:
        for k in range(3):
            w.add_episode(k, synthetic.synthetic_episode("arm7", k, feats), **synthetic.episode_kwargs(k))
    assert run(["dataset", "finalize", str(root), "--max-episodes-per-data-file", "2", "--max-episodes-per-meta-file", "2"]) == 0
    assert "3 episodes" in capsys.readouterr().out
    assert fd.open(root).num_episodes == 3
    assert len(list((root / "data").glob("*/*.parquet"))) == 2
    assert len(list((root / "meta/episodes").glob("*/*.parquet"))) == 2


def test_main_entry_point_reports_user_errors(tmp_path, capsys):
    from flywheel.cli import main

    rc = main(["dataset", "info", str(tmp_path / "absent")])
    assert rc == 2
    assert "no such folder" in capsys.readouterr().err

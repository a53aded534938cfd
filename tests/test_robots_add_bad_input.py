"""Bad input to `flywheel robots add`: it never writes over what it did not create (its input URDF, a user's file, an
edited spec), and environment failures are one line, exit 2, with the folder unchanged (hashed before and after).

Issue 11 (reliability): `robots add X.urdf --out <its folder>` wrote over the user's URDF. The spec-field cases are in
test_robots_bad_input.py, whose helpers this file shares.
"""
from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest

from flywheel.cli import main
from flywheel.robots import spec_writer
from flywheel.robots.spec import load_spec
from test_robots_bad_input import FILE_CASES, SPEC_CASES, _one_clear_line, _tree

# ---- robots add: never write over what the tool did not create -------------------------------------------
LINK = ('<link name="{name}"><inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" '
        'iyz="0"/></inertial><collision><geometry>{geometry}</geometry></collision></link>')
JOINT = ('<joint name="{name}" type="revolute"><parent link="{parent}"/><child link="{child}"/><origin xyz="0 0 0.2"/>'
         '<axis xyz="0 1 0"/><limit lower="-1" upper="1" effort="10" velocity="1"/></joint>')
CUBE_OBJ = "\n".join([*(f"v {x} {y} {z}" for x in (-0.05, 0.05) for y in (-0.05, 0.05) for z in (0.0, 0.1)),
                      "f 1 2 4 3", "f 5 7 8 6", "f 1 5 6 2", "f 3 4 8 7", "f 1 3 7 5", "f 2 6 8 4"]) + "\n"


def small_arm(name: str = "small_arm", mesh: str | None = None) -> str:
    """Three links, two joints; `mesh` puts a mesh (e.g. a package:// one) on the base link."""
    box = '<box size="0.1 0.1 0.2"/>'
    base = f'<mesh filename="{mesh}"/>' if mesh else box
    parts = [LINK.format(name="base", geometry=base), LINK.format(name="upper", geometry=box),
             LINK.format(name="lower", geometry=box), JOINT.format(name="j1", parent="base", child="upper"),
             JOINT.format(name="j2", parent="upper", child="lower")]
    return f'<?xml version="1.0"?>\n<!-- the user\'s own comments -->\n<robot name="{name}">\n' + "\n".join(parts) + "\n</robot>\n"


def _package(root: Path) -> Path:
    """A ROS-style package whose URDF names its mesh package://small_description/...: PyBullet needs a copy."""
    (root / "small_description" / "urdf").mkdir(parents=True)
    (root / "small_description" / "meshes").mkdir()
    (root / "small_description" / "meshes" / "base.obj").write_text(CUBE_OBJ)
    urdf = root / "small_description" / "urdf" / "small_arm.urdf"
    urdf.write_text(small_arm(mesh="package://small_description/meshes/base.obj"))
    return urdf


def _add(*args: str) -> int:
    return main(["robots", "add", *map(str, args), "--no-validate"])


def _written_by_add(tmp_path: Path, capsys) -> Path:
    """A spec `robots add` wrote (so --force may replace it) in tmp/out/small_arm.toml."""
    urdf = tmp_path / "small_arm.urdf"
    urdf.write_text(small_arm())
    assert _add(urdf, "--out", tmp_path / "out") == 0
    capsys.readouterr()
    return tmp_path / "out" / "small_arm.toml"


def _case_input_is_the_spec_path(tmp_path, capsys):
    """The URDF itself is called small_arm.toml and --out is its folder: the spec would land on the input."""
    urdf = tmp_path / "small_arm.toml"
    urdf.write_text(small_arm())
    return [urdf, "--out", tmp_path, "--force"], [str(urdf), "is the input URDF"]


def _case_input_is_the_model_copy(tmp_path, capsys):
    """Adding a URDF named like our model copy, into its own folder: the copy would land on the input."""
    urdf = _package(tmp_path)
    named = urdf.with_name("small_arm.resolved.urdf")
    urdf.rename(named)
    return [named, "--out", named.parent, "--force"], [str(named), "is the input URDF"]


def _case_hard_link_to_input(tmp_path, capsys):
    urdf = tmp_path / "src" / "small_arm.urdf"
    urdf.parent.mkdir()
    urdf.write_text(small_arm())
    (tmp_path / "out").mkdir()
    os.link(urdf, tmp_path / "out" / "small_arm.toml")
    return [urdf, "--out", tmp_path / "out", "--force"], ["small_arm.toml", "is the input URDF"]


def _case_existing_file_without_force(tmp_path, capsys):
    spec = _written_by_add(tmp_path, capsys)
    return [tmp_path / "small_arm.urdf", "--out", spec.parent], [str(spec), "already exists", "--force"]


def _case_user_file_with_force(tmp_path, capsys):
    urdf = tmp_path / "small_arm.urdf"
    urdf.write_text(small_arm())
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "small_arm.toml").write_text("# my own notes, not a spec\n")
    return [urdf, "--out", tmp_path / "out", "--force"], ["small_arm.toml", "was not written by"]


def _case_edited_spec_with_force(tmp_path, capsys):
    spec = _written_by_add(tmp_path, capsys)
    spec.write_text(spec.read_text().replace("kp = ", "kp = 0.1 #", 1))
    return [tmp_path / "small_arm.urdf", "--out", spec.parent, "--force"], [str(spec), "was edited after"]


def _case_forged_mark_with_force(tmp_path, capsys):
    """A user file that merely starts with our words but not our hash is still the user's."""
    urdf = tmp_path / "small_arm.urdf"
    urdf.write_text(small_arm())
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "small_arm.toml").write_text("# written by flywheel robots add\nname = 'mine'\n")
    return [urdf, "--out", tmp_path / "out", "--force"], ["small_arm.toml", "was not written by"]


def _case_user_model_copy_with_force(tmp_path, capsys):
    """The spec would be new, but NAME.resolved.urdf is a user's file: refused before the spec is written."""
    urdf = _package(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "small_arm.resolved.urdf").write_text("<robot name='mine'/>\n")
    return [urdf, "--out", tmp_path / "out", "--force"], ["small_arm.resolved.urdf", "was not written by"]


def _case_spec_is_a_symlink(tmp_path, capsys):
    spec = _written_by_add(tmp_path, capsys)
    ours = spec.with_name("elsewhere.toml")
    spec.rename(ours)
    os.symlink(ours, spec)
    return [tmp_path / "small_arm.urdf", "--out", spec.parent, "--force"], [str(spec), "not a regular file"]


def _case_spec_is_a_folder(tmp_path, capsys):
    urdf = tmp_path / "small_arm.urdf"
    urdf.write_text(small_arm())
    (tmp_path / "out" / "small_arm.toml").mkdir(parents=True)
    return [urdf, "--out", tmp_path / "out", "--force"], ["small_arm.toml", "not a regular file"]


def _case_out_is_a_file(tmp_path, capsys):
    urdf = tmp_path / "small_arm.urdf"
    urdf.write_text(small_arm())
    (tmp_path / "out").write_text("a file\n")
    return [urdf, "--out", tmp_path / "out"], [str(tmp_path / "out"), "is a file"]


def _case_out_under_a_file(tmp_path, capsys):
    urdf = tmp_path / "small_arm.urdf"
    urdf.write_text(small_arm())
    (tmp_path / "out").write_text("a file\n")
    return [urdf, "--out", tmp_path / "out" / "deeper" / "specs"], [str(tmp_path / "out"), "under the file"]


def _case_out_symlink_loop(tmp_path, capsys):
    urdf = tmp_path / "small_arm.urdf"
    urdf.write_text(small_arm())
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    return [urdf, "--out", tmp_path / "a"], [str(tmp_path / "a"), "symbolic-link loop"]


def _case_urdf_symlink_loop(tmp_path, capsys):
    os.symlink(tmp_path / "y.urdf", tmp_path / "x.urdf")
    os.symlink(tmp_path / "x.urdf", tmp_path / "y.urdf")
    return [tmp_path / "x.urdf", "--out", tmp_path / "out"], ["x.urdf", "symbolic-link loop"]


def _case_urdf_missing(tmp_path, capsys):
    return [tmp_path / "nope.urdf", "--out", tmp_path / "out"], ["nope.urdf", "no such file"]


def _case_urdf_is_a_folder(tmp_path, capsys):
    (tmp_path / "dir.urdf").mkdir()
    return [tmp_path / "dir.urdf", "--out", tmp_path / "out"], ["dir.urdf", "not a regular file"]


def _case_urdf_is_binary(tmp_path, capsys):
    (tmp_path / "noise.urdf").write_bytes(bytes(range(256)) * 8)
    return [tmp_path / "noise.urdf", "--out", tmp_path / "out"], ["noise.urdf", "not well-formed XML"]


def _case_read_only_out(tmp_path, capsys, monkeypatch):
    """A read-only file system (simulated: the tests may run as root, which ignores permission bits)."""
    urdf = tmp_path / "small_arm.urdf"
    urdf.write_text(small_arm())
    (tmp_path / "out").mkdir()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "out"))
    monkeypatch.setattr(spec_writer.tempfile, "mkstemp", read_only)
    return [urdf, "--out", tmp_path / "out"], [str(tmp_path / "out"), "read-only", "nothing was written"]


def _case_disk_full_after_the_model_copy(tmp_path, capsys, monkeypatch):
    """ENOSPC on the second file (the spec, after the model copy): the copy and the new folders are removed."""
    urdf = _package(tmp_path)
    calls = []

    def fill(fd, data):
        calls.append(len(data))
        if len(calls) == 2:
            os.write(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        os.write(fd, data)
    monkeypatch.setattr(spec_writer, "_write_all", fill)
    return [urdf, "--out", tmp_path / "new" / "specs"], ["small_arm.toml", "free some space"]


def _case_io_error_while_reading_the_urdf(tmp_path, capsys, monkeypatch):
    """An OSError nobody checked for (here EIO from the disk) is still one line, through the command's guard."""
    import flywheel.robots.urdf as urdf_module

    urdf = tmp_path / "small_arm.urdf"
    urdf.write_text(small_arm())

    def failing(path, package_dirs=None, check_meshes=True):
        raise OSError(errno.EIO, "Input/output error", str(path))
    monkeypatch.setattr(urdf_module, "parse_urdf", failing)
    return [urdf, "--out", tmp_path / "out"], [str(urdf), "input/output error"]  # flywheel.oserrors wording


ADD_CASES = [(name[len("_case_"):], fn) for name, fn in sorted(globals().items()) if name.startswith("_case_")]


@pytest.mark.parametrize("case,make", ADD_CASES, ids=[c[0] for c in ADD_CASES])
def test_robots_add_refuses_and_changes_nothing(tmp_path, user_dir, capsys, monkeypatch, case, make):
    args = make(tmp_path, capsys, monkeypatch) if "monkeypatch" in make.__code__.co_varnames else make(tmp_path, capsys)
    argv, needles = args
    capsys.readouterr()
    before = _tree(tmp_path)
    rc = _add(*argv)
    _one_clear_line(capsys, rc, *needles)
    assert _tree(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits")
def test_robots_add_into_a_read_only_folder(tmp_path, user_dir, capsys):
    urdf = tmp_path / "small_arm.urdf"
    urdf.write_text(small_arm())
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        before = _tree(tmp_path)
        _one_clear_line(capsys, _add(urdf, "--out", out), str(out), "not writable")
        assert _tree(tmp_path) == before
    finally:
        out.chmod(0o755)


# ---- what --force may do, and the issue's own case ------------------------------------------------------------
def test_force_replaces_an_unedited_spec_it_wrote(tmp_path, user_dir, capsys):
    spec = _written_by_add(tmp_path, capsys)
    assert spec.read_text().startswith("# written by flywheel robots add")
    assert spec_writer.ownership(spec) == "ours"
    assert _add(tmp_path / "small_arm.urdf", "--out", spec.parent, "--force") == 0
    assert spec_writer.ownership(spec) == "ours" and load_spec(spec).name == "small_arm"
    assert [p.name for p in spec.parent.iterdir()] == ["small_arm.toml"]  # no temporary files left behind


def test_out_is_the_urdf_folder_and_the_name_is_its_stem(tmp_path, user_dir, capsys):
    """Issue 11, finding 2: the model copy used to be written over the input URDF (comments and package:// lost)."""
    urdf = _package(tmp_path)
    original = urdf.read_bytes()
    assert _add(urdf, "--out", urdf.parent) == 0
    assert urdf.read_bytes() == original
    copy = urdf.with_name("small_arm.resolved.urdf")
    assert spec_writer.ownership(copy) == "ours" and "package://" not in copy.read_text()
    spec = load_spec(urdf.with_name("small_arm.toml"))
    assert Path(spec.model) == copy
    capsys.readouterr()
    # again with --force: both files are ours and unedited, so both are replaced; the input is still untouched
    assert _add(urdf, "--out", urdf.parent, "--force") == 0
    assert urdf.read_bytes() == original
    assert sorted(p.name for p in urdf.parent.iterdir()) == ["small_arm.resolved.urdf", "small_arm.toml", "small_arm.urdf"]


def test_environment_failure_in_robots_list_is_one_line(tmp_path, user_dir, capsys, monkeypatch):
    """A spec folder on the path that cannot be listed hides nothing else and gives no traceback."""
    import flywheel.robots.registry as registry

    original = registry.Path.glob

    def broken(self, pattern):
        if self == tmp_path:
            raise OSError(errno.EACCES, "Permission denied", str(self))
        return original(self, pattern)
    monkeypatch.setenv("FLYWHEEL_ROBOTS_PATH", str(tmp_path))
    monkeypatch.setattr(registry.Path, "glob", broken)
    assert main(["robots", "list"]) == 0  # the unreadable folder is skipped
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and re.search(r"^panda\s", captured.out, re.M)


def test_real_command_line_under_a_file(tmp_path, user_dir):
    """The installed entry point, not just `main`: exit 2, one line, no traceback, nothing created."""
    import subprocess
    import sys

    urdf = tmp_path / "small_arm.urdf"
    urdf.write_text(small_arm())
    (tmp_path / "a_file").write_text("x\n")
    before = _tree(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "flywheel", "robots", "add", str(urdf), "--no-validate",
                           "--out", str(tmp_path / "a_file" / "specs")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")})
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "under the file" in proc.stderr and str(tmp_path / "a_file") in proc.stderr
    assert _tree(tmp_path) == before


def test_case_count():
    """Issue 11 asks for a table of bad inputs: the spec and file cases there, the add cases here."""
    assert len(SPEC_CASES) + len(FILE_CASES) + len(ADD_CASES) >= 60

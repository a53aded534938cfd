"""Malformed URDFs through `flywheel robots add`: one clear line naming the file and the element, exit 2.

Every case is generated into a temporary folder and run through the real CLI entry point
(`flywheel.cli.main`), so what is tested is what a user sees: no traceback, no hang, no spec written.
"""
from __future__ import annotations

import os
import time

import pytest

from flywheel.cli import main

LINK = '<link name="{name}"><inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial>' \
       '<collision><geometry><box size="0.1 0.1 0.1"/></geometry></collision></link>'
JOINT = '<joint name="{name}" type="{type}"><parent link="{parent}"/><child link="{child}"/>' \
        '<axis xyz="0 0 1"/><limit lower="-1" upper="1" effort="10" velocity="1"/></joint>'


def robot(*parts: str, name: str = "bot") -> str:
    return f'<?xml version="1.0"?>\n<robot name="{name}">\n' + "\n".join(parts) + "\n</robot>\n"


def link(name: str, body: str | None = None) -> str:
    return LINK.format(name=name) if body is None else f'<link name="{name}">{body}</link>'


def joint(name: str, parent: str, child: str, type: str = "revolute") -> str:
    return JOINT.format(name=name, type=type, parent=parent, child=child)


def mesh_link(name: str, filename: str) -> str:
    return link(name, '<inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial>'
                f'<collision><geometry><mesh filename="{filename}"/></geometry></collision>')


# (case id, file text or None for special cases, words the one-line message must contain)
CASES = [
    ("not_xml", "this is a robot, honest <robot name='x'", ["not well-formed XML", "line 1"]),
    ("empty_file", "", ["not well-formed XML"]),
    ("xml_not_urdf", '<?xml version="1.0"?><sdf version="1.7"><model name="m"/></sdf>', ["<sdf>", "not a URDF"]),
    ("mjcf_not_urdf", '<mujoco model="m"><worldbody/></mujoco>', ["<mujoco>", "MJCF"]),
    ("missing_parent_link", robot(link("base"), link("arm"), joint("j1", "ghost", "arm")),
     ['<joint name="j1">/<parent>', "'ghost' does not exist"]),
    ("missing_child_link", robot(link("base"), joint("j1", "base", "phantom")), ['<joint name="j1">/<child>', "'phantom' does not exist"]),
    ("joint_without_child_tag", robot(link("base"), '<joint name="j1" type="revolute"><parent link="base"/></joint>'),
     ['<joint name="j1">', "missing <child"]),
    ("loop_no_root", robot(link("a"), link("b"), link("c"), joint("j1", "a", "b"), joint("j2", "b", "c"), joint("j3", "c", "a")),
     ["<joint name=", "loop"]),
    ("loop_two_parents", robot(link("a"), link("b"), link("c"), joint("j1", "a", "b"), joint("j2", "b", "c"), joint("j3", "a", "c")),
     ['<joint name="j3">', "loop"]),
    ("no_movable_joints", robot(link("a"), link("b"), joint("weld", "a", "b", "fixed")), ['<robot name="bot">', "no movable joints"]),
    ("missing_mesh", robot(link("base"), mesh_link("arm", "meshes/arm.stl"), joint("j1", "base", "arm")),
     ['<link name="arm">/<collision>/<mesh filename="meshes/arm.stl">', "mesh not found"]),
    ("negative_mass", robot(link("base"), link("arm", '<inertial><mass value="-2"/><inertia ixx="1" iyy="1" izz="1" ixy="0" ixz="0" iyz="0"/></inertial>'),
                            joint("j1", "base", "arm")),
     ['<link name="arm">/<inertial>/<mass>', "negative mass"]),
    ("inertia_not_positive_definite",
     robot(link("base"), link("arm", '<inertial><mass value="1"/><inertia ixx="1" iyy="1" izz="1" ixy="2" ixz="0" iyz="0"/></inertial>'),
           joint("j1", "base", "arm")),
     ['<link name="arm">/<inertial>/<inertia>', "not positive definite"]),
    ("unresolvable_package", robot(link("base"), mesh_link("arm", "package://no_such_pkg/meshes/arm.stl"), joint("j1", "base", "arm")),
     ["no_such_pkg", "--package-dir no_such_pkg=PATH"]),
    ("duplicate_link_names", robot(link("base"), link("arm"), link("arm"), joint("j1", "base", "arm")),
     ['<link name="arm">', "defined twice"]),
    ("duplicate_joint_names", robot(link("base"), link("a"), link("b"), joint("j1", "base", "a"), joint("j1", "a", "b")),
     ['<joint name="j1">', "defined twice"]),
    ("unknown_joint_type", robot(link("base"), link("arm"), joint("j1", "base", "arm", "hinge")),
     ['<joint name="j1">', "unknown joint type 'hinge'"]),
    ("bad_number", robot(link("base"), link("arm"), joint("j1", "base", "arm").replace('lower="-1"', 'lower="minus one"')),
     ['<joint name="j1">/<limit>', "lower='minus one'"]),
    ("xacro_leftover", robot(link("base"), link("arm"), joint("j1", "base", "arm").replace('<axis xyz="0 0 1"/>', '<axis xyz="${axis}"/>')),
     ['<joint name="j1">/<axis>', "xacro"]),
    ("unknown_geometry", robot(link("base"), link("arm", "<collision><geometry><teapot/></geometry></collision>"), joint("j1", "base", "arm")),
     ['<link name="arm">/<collision>/<teapot>', "unknown geometry"]),
    ("disconnected_link", robot(link("base"), link("arm"), link("orphan"), joint("j1", "base", "arm")),
     ['<link name="orphan">', "not connected"]),
    ("too_many_links", robot(*(link(f"l{i}") for i in range(600)), *(joint(f"j{i}", f"l{i - 1}", f"l{i}") for i in range(1, 600))),
     ['<robot name="bot">', "600 links"]),
    ("entity_expansion", '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                         '<robot name="r"><link name="&b;"/></robot>', ["<!DOCTYPE>", "entity"]),
]


def _run_add(path, out_dir, capsys, *extra):
    start = time.perf_counter()
    rc = main(["robots", "add", str(path), "--out", str(out_dir), *extra])
    elapsed = time.perf_counter() - start
    captured = capsys.readouterr()
    return rc, captured.out, captured.err, elapsed


def _assert_one_clear_line(rc, out, err, path, needles):
    assert rc == 2, f"exit {rc}; stderr: {err!r}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got: {err!r}"
    message = lines[0]
    assert message.startswith("flywheel robots: error: ")
    assert "Traceback" not in err and "Traceback" not in out
    assert os.path.basename(str(path)) in message, message  # names the file
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


@pytest.mark.parametrize("case,text,needles", CASES, ids=[c[0] for c in CASES])
def test_malformed_urdf_is_one_clear_line(tmp_path, capsys, case, text, needles):
    path = tmp_path / f"{case}.urdf"
    path.write_text(text)
    out_dir = tmp_path / "specs"
    rc, out, err, elapsed = _run_add(path, out_dir, capsys)
    _assert_one_clear_line(rc, out, err, path, needles)
    assert elapsed < 10
    assert not list(out_dir.glob("*.toml")) if out_dir.exists() else True  # nothing written for a bad URDF


def test_fifty_megabyte_file_is_refused_by_size_quickly(tmp_path, capsys):
    path = tmp_path / "huge.urdf"
    with open(path, "wb") as f:  # a valid start, then 50 MB: refused by its size before any parsing
        f.write(b'<?xml version="1.0"?>\n<robot name="huge">\n')
        f.write(b"<!-- " + b"x" * (50 * 1024 * 1024) + b" -->\n</robot>\n")
    rc, out, err, elapsed = _run_add(path, tmp_path / "specs", capsys)
    _assert_one_clear_line(rc, out, err, path, ["MB", "refused"])
    assert elapsed < 2.0, f"took {elapsed:.2f} s: the size check must come before reading"


def test_missing_file_and_folder(tmp_path, capsys):
    rc, out, err, _ = _run_add(tmp_path / "nope.urdf", tmp_path / "specs", capsys)
    _assert_one_clear_line(rc, out, err, tmp_path / "nope.urdf", ["no such file"])
    folder = tmp_path / "a_folder.urdf"
    folder.mkdir()
    rc, out, err, _ = _run_add(folder, tmp_path / "specs", capsys)
    _assert_one_clear_line(rc, out, err, folder, ["not a regular file"])


def test_package_dir_argument_errors(tmp_path, capsys):
    path = tmp_path / "ok.urdf"
    path.write_text(robot(link("base"), link("arm"), joint("j1", "base", "arm")))
    rc, _, err, _ = _run_add(path, tmp_path / "specs", capsys, "--package-dir", "oops")
    assert rc == 2 and "NAME=PATH" in err and "Traceback" not in err
    rc, _, err, _ = _run_add(path, tmp_path / "specs", capsys, "--package-dir", f"pkg={tmp_path / 'missing'}")
    assert rc == 2 and "is not a folder" in err


def test_corpus_size():
    assert len(CASES) + 3 >= 12  # the issue asks for a corpus of at least 12 malformed inputs

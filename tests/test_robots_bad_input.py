"""Bad robot inputs through `flywheel robots check | add`: one line naming the file and field, exit 2, disk unchanged.

Issue 11 (reliability): a spec with `kp = nan` used to collect 0% success with exit 0, `end_effectors = 5` or a
camera width given as a string gave a traceback, and `robots add X.urdf --out <its folder>` wrote over the user's
URDF. Every case runs through the real entry point (`flywheel.cli.main`) in-process, and the whole temporary
folder is hashed before and after, so "nothing changed on disk" is checked, not assumed.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from flywheel.cli import main
from flywheel.robots.spec import load_spec

# ---- a valid spec touching every section; each case breaks one field ----------------------------------
BASE_SPEC = """\
name = "bad_arm"
description = "a valid spec that each case breaks in one place"
model = "pybullet_data://franka_panda/panda.urdf"
kind = "arm"
fixed_base = true
scale = 1.0
inertia_from_file = true
base_position = [0.0, 0.0, 0.0]
base_orientation = [0.0, 0.0, 0.0, 1.0]
base_height = 0.5
joints = ["panda_joint1", "panda_joint2", "panda_joint3", "panda_joint4", "panda_joint5", "panda_joint6",
          "panda_joint7", "panda_finger_joint1", "panda_finger_joint2"]

[home]
panda_joint4 = -2.2
panda_finger_joint1 = 0.04

[end_effectors.right_hand]
link = "panda_hand"
offset = [0.0, 0.0, 0.105]

[grippers.right_hand]
joints = ["panda_finger_joint1", "panda_finger_joint2"]
open = [0.04, 0.04]
closed = [0.0, 0.0]

[mimic.follower]
joint = "panda_finger_joint1"
multiplier = 1.0
offset = 0.0

[balance]
ankle_gain = 0.3
ankle_damping = 0.05

[[gains]]
joints = ["panda_joint*"]
kp = 0.3
kd = 1.0
max_force = 87.0

[[friction]]
links = ["panda_leftfinger"]
lateral = 1.5
spinning = 0.01
rolling = 0.0

[[cameras]]
name = "wrist"
link = "panda_hand"
position = [0.05, 0.0, 0.0]
target = [0.05, 0.0, 0.3]
up = [1.0, 0.0, 0.0]
fov = 70.0
width = 128
height = 128
near = 0.01
far = 5.0
"""


def _set(section: str | None, key: str, value: str):
    """Replace `key = ...` in `[section]` (None: the top level), or add it there when absent."""
    def edit(text: str) -> str:
        lines = text.splitlines()
        start = 0 if section is None else lines.index(f"[{section}]") + 1
        end = next((i for i in range(start, len(lines)) if lines[i].startswith("[")), len(lines))
        for i in range(start, end):
            if re.match(rf"^{re.escape(key)}\s*=", lines[i]):
                while i + 1 < end and lines[i + 1].startswith(" "):  # a continued array
                    del lines[i + 1]
                lines[i] = f"{key} = {value}"
                return "\n".join(lines) + "\n"
        lines.insert(start, f"{key} = {value}")
        return "\n".join(lines) + "\n"
    return edit


def _drop(*headers: str):
    """Remove whole sections (`[end_effectors.right_hand]` ...), so a key of that name can be set to a value."""
    def edit(text: str) -> str:
        out, skipping = [], False
        for line in text.splitlines():
            if line.startswith("["):
                skipping = line.strip() in headers
            if not skipping:
                out.append(line)
        return "\n".join(out) + "\n"
    return edit


def _then(*edits):
    def edit(text: str) -> str:
        for e in edits:
            text = e(text)
        return text
    return edit


def _set_array(kind: str, key: str, value: str):
    """`_set` for the first `[[kind]]` table."""
    def edit(text: str) -> str:
        return _set(f"[{kind}]", key, value)(text)
    return edit


# (case id, edit of the base spec, the field path the message names, a phrase of what to do)
SPEC_CASES = [
    ("kp_nan", _set_array("gains", "kp", "nan"), "gains[0].kp", "finite"),
    ("kd_minus_inf", _set_array("gains", "kd", "-inf"), "gains[0].kd", "finite"),
    ("kp_negative", _set_array("gains", "kp", "-0.3"), "gains[0].kp", "non-negative"),
    ("kp_boolean", _set_array("gains", "kp", "true"), "gains[0].kp", "got a boolean"),
    ("max_force_string", _set_array("gains", "max_force", '"high"'), "gains[0].max_force", "got a string"),
    ("max_force_huge", _set_array("gains", "max_force", "1e12"), "gains[0].max_force", "out of range"),
    ("gains_joints_number", _set_array("gains", "joints", "3"), "gains[0].joints", "list of names"),
    ("gains_string", _then(_drop("[[gains]]"), _set(None, "gains", '"stiff"')), "gains", "[[gains]]"),
    ("gains_list_of_numbers", _then(_drop("[[gains]]"), _set(None, "gains", "[1, 2]")), "gains[0]", "table"),
    ("gains_unknown_key", _set_array("gains", "kpp", "0.3"), "gains[0].kpp", "unknown field"),
    ("base_height_inf", _set(None, "base_height", "inf"), "base_height", "finite"),
    ("base_height_nan", _set(None, "base_height", "nan"), "base_height", "finite"),
    ("base_height_negative", _set(None, "base_height", "-0.5"), "base_height", "out of range"),
    ("base_height_string", _set(None, "base_height", '"1m"'), "base_height", "height in metres"),
    ("base_position_short", _set(None, "base_position", "[0.0, 0.0]"), "base_position", "list of 3 numbers"),
    ("base_position_nan", _set(None, "base_position", "[0.0, nan, 0.0]"), "base_position[1]", "finite"),
    ("base_position_far", _set(None, "base_position", "[0.0, 0.0, 1e9]"), "base_position[2]", "out of range"),
    ("base_orientation_zero", _set(None, "base_orientation", "[0.0, 0.0, 0.0, 0.0]"), "base_orientation", "unit quaternion"),
    ("base_orientation_string", _set(None, "base_orientation", '"up"'), "base_orientation", "list of 4 numbers"),
    ("fixed_base_string", _set(None, "fixed_base", '"yes"'), "fixed_base", "true or false"),
    ("inertia_from_file_int", _set(None, "inertia_from_file", "1"), "inertia_from_file", "true or false"),
    ("scale_zero", _set(None, "scale", "0"), "scale", "out of range"),
    ("scale_nan", _set(None, "scale", "nan"), "scale", "finite"),
    ("scale_string", _set(None, "scale", '"big"'), "scale", "positive model scale"),
    ("description_number", _set(None, "description", "5"), "description", "expected a string"),
    ("model_body_number", _set(None, "model_body", "5"), "model_body", "non-empty string"),
    ("home_nan", _set("home", "panda_joint4", "nan"), "home.panda_joint4", "finite"),
    ("home_string", _set("home", "panda_joint4", '"bent"'), "home.panda_joint4", "position (radians or metres)"),
    ("home_huge", _set("home", "panda_joint4", "1e9"), "home.panda_joint4", "out of range"),
    ("home_not_a_table", _then(_drop("[home]"), _set(None, "home", "0.0")), "home", "table of joint name"),
    ("end_effectors_number", _then(_drop("[end_effectors.right_hand]", "[grippers.right_hand]"),
                                   _set(None, "end_effectors", "5")), "end_effectors", "tables like"),
    ("end_effector_string", _then(_drop("[end_effectors.right_hand]", "[grippers.right_hand]"),
                                  _set(None, "end_effectors", '{right_hand = "panda_hand"}')),
     "end_effectors.right_hand", "end-effector table"),
    ("tool_offset_inf", _set("end_effectors.right_hand", "offset", "[0.0, 0.0, inf]"),
     "end_effectors.right_hand.offset[2]", "finite"),
    ("tool_offset_short", _set("end_effectors.right_hand", "offset", "[0.0, 0.1]"),
     "end_effectors.right_hand.offset", "list of 3 numbers"),
    ("tool_offset_far", _set("end_effectors.right_hand", "offset", "[0.0, 0.0, 100.0]"),
     "end_effectors.right_hand.offset[2]", "out of range"),
    ("end_effector_link_number", _set("end_effectors.right_hand", "link", "3"),
     "end_effectors.right_hand.link", "non-empty string"),
    ("gripper_open_nan", _set("grippers.right_hand", "open", "[nan, 0.04]"), "grippers.right_hand.open[0]", "finite"),
    ("gripper_closed_wrong_length", _set("grippers.right_hand", "closed", "[0.0]"),
     "grippers.right_hand.closed", "list of 2 numbers"),
    ("gripper_closed_strings", _set("grippers.right_hand", "closed", '["shut", "shut"]'),
     "grippers.right_hand.closed[0]", "got a string"),
    ("grippers_string", _then(_drop("[grippers.right_hand]"), _set(None, "grippers", '"two-finger"')),
     "grippers", "tables like"),
    ("camera_width_string", _set_array("cameras", "width", '"128"'), "cameras[0].width", "integer"),
    ("camera_width_zero", _set_array("cameras", "width", "0"), "cameras[0].width", "out of range"),
    ("camera_width_huge", _set_array("cameras", "width", "100000"), "cameras[0].width", "out of range"),
    ("camera_height_float", _set_array("cameras", "height", "96.5"), "cameras[0].height", "integer"),
    ("camera_fov_zero", _set_array("cameras", "fov", "0"), "cameras[0].fov", "out of range"),
    ("camera_fov_nan", _set_array("cameras", "fov", "nan"), "cameras[0].fov", "finite"),
    ("camera_fov_180", _set_array("cameras", "fov", "180.0"), "cameras[0].fov", "(0, 180)"),
    ("camera_near_zero", _set_array("cameras", "near", "0.0"), "cameras[0].near", "out of range"),
    ("camera_far_before_near", _set_array("cameras", "far", "0.001"), "cameras[0].far", "greater than near"),
    ("camera_far_inf", _set_array("cameras", "far", "inf"), "cameras[0].far", "finite"),
    ("camera_position_string", _set_array("cameras", "position", '[0.0, 0.0, "a"]'), "cameras[0].position[2]",
     "got a string"),
    ("camera_target_is_position", _set_array("cameras", "target", "[0.05, 0.0, 0.0]"), "cameras[0].target",
     "differ from position"),
    ("camera_up_along_view", _set_array("cameras", "up", "[0.0, 0.0, 1.0]"), "cameras[0].up", "view direction"),
    ("camera_name_path", _set_array("cameras", "name", '"../evil"'), "cameras[0].name", "letters, digits"),
    ("camera_without_name", _then(_drop("[[cameras]]"), lambda t: t + "[[cameras]]\nfov = 60.0\n"),
     "cameras[0].name", "missing"),
    ("cameras_plain_table", _then(_drop("[[cameras]]"), lambda t: t + "[cameras]\nname = \"wrist\"\n"),
     "cameras", "[[cameras]]"),
    ("friction_string", _set_array("friction", "lateral", '"high"'), "friction[0].lateral", "friction coefficient"),
    ("friction_nan", _set_array("friction", "spinning", "nan"), "friction[0].spinning", "finite"),
    ("friction_negative", _set_array("friction", "rolling", "-1.0"), "friction[0].rolling", "out of range"),
    ("friction_number", _then(_drop("[[friction]]"), _set(None, "friction", "5")), "friction", "[[friction]]"),
    ("mimic_multiplier_nan", _set("mimic.follower", "multiplier", "nan"), "mimic.follower.multiplier", "finite"),
    ("mimic_multiplier_zero", _set("mimic.follower", "multiplier", "0.0"), "mimic.follower.multiplier", "must not be 0"),
    ("mimic_not_a_table", _then(_drop("[mimic.follower]"), _set(None, "mimic", '{follower = "panda_finger_joint1"}')),
     "mimic.follower", "mimic table"),
    ("balance_gain_nan", _set("balance", "ankle_gain", "nan"), "balance.ankle_gain", "finite"),
    ("balance_gain_string", _set("balance", "ankle_damping", '"soft"'), "balance.ankle_damping",
     "balance gain"),
    ("balance_gain_negative", _set("balance", "ankle_gain", "-1.0"), "balance.ankle_gain",
     "out of range"),
    ("balance_unknown_key", _set("balance", "hip_gain", "0.3"), "balance.hip_gain", "unknown field"),
    ("model_missing", _set(None, "model", '"no_such_model.urdf"'), "model", "does not exist"),
    ("model_number", _set(None, "model", "5"), "model", "path of a URDF"),
]


def _tree(root: Path) -> dict[str, str]:
    """Every entry under `root` (links not followed): its type and content hash, to prove nothing changed."""
    out = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "link:" + os.readlink(path)
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _one_clear_line(capsys, rc: int, *needles: str) -> str:
    captured = capsys.readouterr()
    assert rc == 2, f"exit {rc}; stdout: {captured.out[-400:]!r}; stderr: {captured.err!r}"
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got: {captured.err!r}"
    assert lines[0].startswith("flywheel robots: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def test_the_base_spec_is_valid(tmp_path):
    path = tmp_path / "bad_arm.toml"
    path.write_text(BASE_SPEC)
    spec = load_spec(path)
    assert spec.cameras[0].width == 128 and spec.gains[0].kp == 0.3 and spec.balance.ankle_gain == 0.3


@pytest.mark.parametrize("case,edit,field,advice", SPEC_CASES, ids=[c[0] for c in SPEC_CASES])
def test_bad_spec_field_is_one_line_naming_file_and_field(tmp_path, user_dir, capsys, case, edit, field, advice):
    path = tmp_path / "specs" / f"{case}.toml"
    path.parent.mkdir()
    text = edit(BASE_SPEC)
    assert text != BASE_SPEC, "the case changed nothing"
    path.write_text(text)
    before = _tree(tmp_path)
    rc = main(["robots", "check", str(path)])
    _one_clear_line(capsys, rc, str(path), f"field '{field}'", advice)
    assert _tree(tmp_path) == before


# ---- spec files that are not TOML text ------------------------------------------------------------------
def _binary(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 4)


def _latin1(path: Path) -> None:
    path.write_bytes(BASE_SPEC.replace("a valid spec", "caf\xe9").encode("latin-1"))


def _not_toml(path: Path) -> None:
    path.write_text("name = bad_arm\nthis is not toml [[\n")


def _folder(path: Path) -> None:
    path.mkdir()


def _loop(path: Path) -> None:
    other = path.with_name("other.toml")
    os.symlink(other, path)
    os.symlink(path, other)


FILE_CASES = [
    ("binary", _binary, "UTF-8"),
    ("latin1", _latin1, "UTF-8"),
    ("not_toml", _not_toml, "not valid TOML"),
    ("a_folder", _folder, "not a regular file"),
    ("symlink_loop", _loop, "not a regular file"),
]


@pytest.mark.parametrize("case,make,advice", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_unreadable_spec_file_names_the_file(tmp_path, user_dir, capsys, case, make, advice):
    path = tmp_path / f"{case}.toml"
    make(path)
    before = _tree(tmp_path)
    rc = main(["robots", "check", str(path)])
    _one_clear_line(capsys, rc, str(path), "field '<file>'", advice)
    assert _tree(tmp_path) == before

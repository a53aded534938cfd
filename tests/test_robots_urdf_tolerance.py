"""Real URDFs are messy: `flywheel robots add` repairs and warns instead of refusing (issue 13, item 3).

One test per tolerance case, each on a small URDF generated here: a dummy link with a zero inertia, package://
names that match no folder (and two names for one mesh folder), leg links named hip/knee/ankle the way real
humanoids name them (and legs with no telling names at all), a URDF PyBullet refuses, with the element named.
"""
from __future__ import annotations

import struct

import numpy as np

from flywheel.cli import main
from flywheel.robots.infer import infer_spec
from flywheel.robots.urdf import parse_urdf

INERTIAL = '<inertial><mass value="{m}"/><inertia ixx="{i}" iyy="{i}" izz="{i}" ixy="0" ixz="0" iyz="0"/></inertial>'


def box_link(name: str, size=(0.1, 0.1, 0.1), z=0.0, mass=1.0, inertia=0.01, extra="") -> str:
    sx, sy, sz = size
    return (f'<link name="{name}">{INERTIAL.format(m=mass, i=inertia)}<collision><origin xyz="0 0 {z}"/><geometry>'
            f'<box size="{sx} {sy} {sz}"/></geometry></collision>{extra}</link>')


def joint(name: str, parent: str, child: str, xyz=(0, 0, 0), axis="0 1 0", type="revolute") -> str:
    return (f'<joint name="{name}" type="{type}"><parent link="{parent}"/><child link="{child}"/>'
            f'<origin xyz="{xyz[0]} {xyz[1]} {xyz[2]}"/><axis xyz="{axis}"/>'
            '<limit lower="-1.5" upper="1.5" effort="100" velocity="5"/></joint>')


def robot(*parts: str, name: str = "bot") -> str:
    return f'<?xml version="1.0"?>\n<robot name="{name}">\n' + "\n".join(parts) + "\n</robot>\n"


def humanoid(leg_names, arm_names=None) -> str:
    """A small humanoid: pelvis, two legs of hip (3 joints), knee, ankle (2 joints), a torso with two arms.

    `leg_names(side, part)` and `arm_names(side, part)` name the links and joints."""
    parts = [box_link("pelvis", (0.2, 0.3, 0.1), mass=5.0, inertia=0.05)]
    for side, y in (("l", 0.1), ("r", -0.1)):
        chain = [("hip_yaw", (0, y, -0.05), "0 0 1"), ("hip_roll", (0, 0, 0), "1 0 0"), ("hip_pitch", (0, 0, 0), "0 1 0"),
                 ("knee_pitch", (0, 0, -0.3), "0 1 0"), ("ankle_pitch", (0, 0, -0.3), "0 1 0"),
                 ("ankle_roll", (0, 0, 0), "1 0 0")]
        parent = "pelvis"
        for part, xyz, axis in chain:
            link = leg_names(side, part)
            size = (0.2, 0.1, 0.04) if part == "ankle_roll" else (0.06, 0.06, 0.3)
            parts.append(box_link(link, size, z=-0.05 if part == "ankle_roll" else -0.15, mass=1.0))
            parts.append(joint(f"{link}_joint", parent, link, xyz, axis))
            parent = link
    parts.append(box_link("torso", (0.2, 0.3, 0.4), z=0.2, mass=8.0, inertia=0.1))
    parts.append(joint("waist_yaw", "pelvis", "torso", (0, 0, 0.05), "0 0 1"))
    arm_names = arm_names or (lambda side, part: f"{side}_{part}")
    for side, y in (("l", 0.2), ("r", -0.2)):
        parent = "torso"
        for part, xyz, axis in (("shoulder_pitch", (0, y, 0.35), "0 1 0"), ("shoulder_roll", (0, 0, 0), "1 0 0"),
                                ("elbow", (0, 0, -0.25), "0 1 0"), ("wrist", (0, 0, -0.2), "0 0 1")):
            link = arm_names(side, part)
            parts.append(box_link(link, (0.05, 0.05, 0.2), z=-0.1, mass=0.5, inertia=0.003))
            parts.append(joint(f"{link}_joint", parent, link, xyz, axis))
            parent = link
    return robot(*parts, name="smallhumanoid")


def _infer(tmp_path, text: str, name: str = "r.urdf"):
    path = tmp_path / name
    path.write_text(text)
    return infer_spec(parse_urdf(path), compute_base_height=False).spec


def test_leg_links_named_hip_knee_ankle_make_a_humanoid(tmp_path):
    """Link_hip_l_pitch, Link_knee_l_pitch, Link_ankle_l_roll: two legs, two feet, two hands, a floating base."""
    spec = _infer(tmp_path, humanoid(lambda side, part: f"Link_{part.split('_')[0]}_{side}_{part.split('_')[1]}"))
    assert spec["kind"] == "humanoid" and spec["fixed_base"] is False
    ees = {k: v["link"] for k, v in spec["end_effectors"].items()}
    assert ees["left_foot"] == "Link_ankle_l_roll" and ees["right_foot"] == "Link_ankle_r_roll"
    assert ees["left_hand"] == "l_wrist" and ees["right_hand"] == "r_wrist"


def test_legs_are_found_from_the_tree_when_names_say_nothing(tmp_path):
    """Links named link1..linkN: legs are the chains from the body down to the lowest links; arms stay arms."""
    counter = iter(range(100))
    names = {}

    def anonymous(side, part):
        return names.setdefault((side, part), f"link{next(counter)}")

    spec = _infer(tmp_path, humanoid(anonymous, anonymous))
    assert spec["kind"] == "humanoid"
    ees = {k: v["link"] for k, v in spec["end_effectors"].items()}
    assert {ees["left_foot"], ees["right_foot"]} == {names["l", "ankle_roll"], names["r", "ankle_roll"]}
    assert ees["left_foot"] == names["l", "ankle_roll"]  # side from where the foot is (+y is left)
    assert {ees["left_hand"], ees["right_hand"]} == {names["l", "wrist"], names["r", "wrist"]}


def test_zero_inertia_dummy_link_is_repaired_not_refused(tmp_path, capsys):
    """A sensor frame with mass and an all-zero tensor (iCub's l_ankle_2): warned, repaired in the resolved copy."""
    text = robot(box_link("base"), box_link("arm"), joint("j1", "base", "arm"),
                 f'<link name="imu_frame">{INERTIAL.format(m=0.1, i=0)}</link>',
                 joint("imu_fix", "arm", "imu_frame", (0, 0, 0.1), type="fixed"))
    (tmp_path / "r.urdf").write_text(text)
    rc = main(["robots", "add", str(tmp_path / "r.urdf"), "--out", str(tmp_path / "out"), "--no-validate"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "imu_frame" in out and "zero inertia tensor" in out and "repaired" in out
    copy = tmp_path / "out" / "bot.resolved.urdf"
    assert copy.is_file()
    repaired = parse_urdf(copy)
    assert not repaired.repaired  # the copy needs no repair
    assert np.linalg.eigvalsh(repaired.links["imu_frame"].inertial.inertia).min() > 0
    assert repaired.links["imu_frame"].mass == 0.1  # the mass is the file's


def test_rounding_negative_inertia_is_repaired_but_a_broken_one_is_refused(tmp_path):
    bad = '<inertial><mass value="0.3"/><inertia ixx="0" iyy="0" izz="0" ixy="1.36e-20" ixz="0" iyz="0"/></inertial>'
    model = parse_urdf(_write(tmp_path, robot(box_link("base"), f'<link name="dummy">{bad}</link>',
                                              joint("j1", "base", "dummy"))))
    assert "dummy" in model.repaired
    assert np.linalg.eigvalsh(model.links["dummy"].inertial.inertia).min() > 0


def _write(tmp_path, text, name="r.urdf"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _stl(path):
    """A binary STL tetrahedron."""
    tris = [((0, 0, 0), (0.1, 0, 0), (0, 0.1, 0)), ((0, 0, 0), (0, 0.1, 0), (0, 0, 0.1)),
            ((0, 0, 0), (0, 0, 0.1), (0.1, 0, 0)), ((0.1, 0, 0), (0, 0.1, 0), (0, 0, 0.1))]
    data = b"\0" * 80 + struct.pack("<I", len(tris))
    for tri in tris:
        data += struct.pack("<3f", 0, 0, 0) + b"".join(struct.pack("<3f", *v) for v in tri) + b"\0\0"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _mesh_robot(uri_a: str, uri_b: str) -> str:
    def mesh_link(name, uri):
        return (f'<link name="{name}">{INERTIAL.format(m=1, i=0.01)}<visual><geometry><mesh filename="{uri}"/></geometry>'
                f'</visual><collision><geometry><mesh filename="{uri}"/></geometry></collision></link>')
    return robot(box_link("base"), mesh_link("a", uri_a), mesh_link("b", uri_b),
                 joint("ja", "base", "a"), joint("jb", "a", "b", (0, 0, 0.2)))


def test_package_names_that_match_no_folder_are_found_by_relative_path(tmp_path, capsys):
    """Two package names (neither the folder's name) for one mesh folder: found under the URDF's tree, and the
    spec loads the resolved copy with absolute paths."""
    _stl(tmp_path / "my_robot_v2" / "meshes" / "a.stl")
    _stl(tmp_path / "my_robot_v2" / "meshes" / "b.stl")
    (tmp_path / "my_robot_v2" / "urdf").mkdir()
    urdf = _write(tmp_path / "my_robot_v2" / "urdf",
                  _mesh_robot("package://robot_description/meshes/a.stl", "package://robot/meshes/b.stl"))
    model = parse_urdf(urdf)
    assert {g.path for g in model.meshes()} == {tmp_path / "my_robot_v2" / "meshes" / "a.stl",
                                              tmp_path / "my_robot_v2" / "meshes" / "b.stl"}
    assert any("matches no folder" in n for n in model.notes)
    rc = main(["robots", "add", str(urdf), "--out", str(tmp_path / "out"), "--no-validate"])
    assert rc == 0, capsys.readouterr()
    copy = (tmp_path / "out" / "bot.resolved.urdf").read_text()
    assert str(tmp_path / "my_robot_v2" / "meshes" / "a.stl") in copy and "package://" not in copy


def test_package_dir_works_when_the_name_differs_from_the_folder(tmp_path, capsys):
    """--package-dir NAME=PATH where PATH's folder is called something else and the URDF lives elsewhere."""
    _stl(tmp_path / "checkout" / "meshes" / "a.stl")
    _stl(tmp_path / "checkout" / "meshes" / "b.stl")
    (tmp_path / "elsewhere").mkdir()
    urdf = _write(tmp_path / "elsewhere", _mesh_robot("package://acme_description/meshes/a.stl",
                                                      "package://acme_description/meshes/b.stl"))
    rc = main(["robots", "add", str(urdf), "--out", str(tmp_path / "out"), "--no-validate",
               "--package-dir", f"acme_description={tmp_path / 'checkout'}"])
    assert rc == 0, capsys.readouterr()
    assert str(tmp_path / "checkout" / "meshes" / "b.stl") in (tmp_path / "out" / "bot.resolved.urdf").read_text()


def test_a_urdf_pybullet_refuses_is_narrowed_to_the_element(tmp_path, capsys):
    """PyBullet says only 'Cannot load URDF file'; the check names the collision mesh it cannot read, and the fix."""
    (tmp_path / "scan.ply").write_text("ply\nformat ascii 1.0\nend_header\n")
    text = robot(box_link("base"), box_link("upper"), box_link("lower"),
                 '<link name="tool">' + INERTIAL.format(m=0.5, i=0.001)
                 + '<collision><geometry><mesh filename="scan.ply"/></geometry></collision></link>',
                 joint("j1", "base", "upper", axis="0 0 1"), joint("j2", "upper", "lower", (0, 0, 0.2)),
                 joint("j3", "lower", "tool", (0, 0, 0.2)))
    urdf = _write(tmp_path, text)
    rc = main(["robots", "add", str(urdf), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert rc == 1
    line = next(l for l in out.splitlines() if l.startswith("loads"))
    assert '<link name="tool">/<collision>/<mesh filename="' in line and "scan.ply" in line
    assert "convert the file to .obj or .stl" in line


def _heavy_sphere_stl(path, n: int = 110):
    """A binary STL sphere of 2 (n-1)^2 triangles (over the heavy threshold for n = 110)."""
    th, ph = np.meshgrid(np.linspace(0, np.pi, n), np.linspace(0, 2 * np.pi, n), indexing="ij")
    pts = 0.05 * np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], axis=-1).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(n - 1), np.arange(n - 1), indexing="ij")
    a, b, c, d = (i * n + j).ravel(), (i * n + j + 1).ravel(), ((i + 1) * n + j).ravel(), ((i + 1) * n + j + 1).ravel()
    tris = np.concatenate([np.stack([a, b, c], 1), np.stack([b, d, c], 1)])
    rec = np.zeros(len(tris), dtype=np.dtype([("n", "<3f4"), ("v", "<9f4"), ("a", "<u2")]))
    rec["v"] = pts[tris].reshape(len(tris), 9)
    path.write_bytes(b"\0" * 80 + struct.pack("<I", len(tris)) + rec.tobytes())
    return len(tris)


def test_heavy_collision_mesh_is_replaced_by_light_hull_points(tmp_path, capsys):
    import pybullet as p

    from flywheel.robots.light_meshes import HEAVY_TRIANGLES, read_mesh

    triangles = _heavy_sphere_stl(tmp_path / "ball.stl")
    assert triangles > HEAVY_TRIANGLES
    text = robot(box_link("base"), '<link name="ball">' + INERTIAL.format(m=0.5, i=0.0005)
                 + '<visual><geometry><mesh filename="ball.stl"/></geometry></visual>'
                 + '<collision><geometry><mesh filename="ball.stl"/></geometry></collision></link>',
                 joint("j1", "base", "ball", (0, 0, 0.2)))
    rc = main(["robots", "add", str(_write(tmp_path, text)), "--out", str(tmp_path / "out"), "--no-validate"])
    out = capsys.readouterr().out
    assert rc == 0 and f"{triangles} triangles, replaced by" in out
    light = tmp_path / "out" / "bot.collision-1.obj"
    points, _ = read_mesh(light)
    assert len(points) < triangles / 10
    original, _ = read_mesh(tmp_path / "ball.stl")
    assert np.allclose(points.max(axis=0), original.max(axis=0), atol=0.01)  # the hull keeps its size
    copy = tmp_path / "out" / "bot.resolved.urdf"
    model = parse_urdf(copy)
    assert model.links["ball"].collisions[0].path == light
    assert model.links["ball"].visuals[0].path == tmp_path / "ball.stl"  # the picture keeps the original
    client = p.connect(p.DIRECT)
    try:
        p.loadURDF(str(copy), physicsClientId=client)
    finally:
        p.disconnect(client)

"""The schema module: canonical layout constants, name helpers, feature validation, Arrow types, PNG codec."""
import numpy as np
import pyarrow as pa
import pytest

from flywheel.datasets import png, schema


def test_canonical_layout_constants():
    assert schema.CANONICAL_EE == ("right_hand", "left_hand")
    assert schema.EE_OBS_DIM == 16 and schema.EE_MASK_DIM == 2 and schema.EE_ACTION_DIM == 14
    names = schema.ee_observation_names()
    assert len(names) == 16 and names[:8] == [f"right_hand.{f}" for f in ("x", "y", "z", "qx", "qy", "qz", "qw", "gripper")]
    assert names[8] == "left_hand.x" and names[-1] == "left_hand.gripper"
    assert schema.ee_mask_names() == ["right_hand", "left_hand"]
    actions = schema.ee_action_names()
    assert len(actions) == 14 and actions[:7] == [f"right_hand.{f}" for f in ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper")]
    assert schema.ee_mask(["right_hand"]) == [1.0, 0.0]
    assert schema.ee_mask(["left_hand", "right_hand"]) == [1.0, 1.0]
    with pytest.raises(ValueError, match="right_foot"):
        schema.ee_mask(["right_foot"])
    assert schema.ee_slice("left_hand") == slice(8, 16)
    assert schema.ee_slice("left_hand", action=True) == slice(7, 14)
    feats = schema.canonical_features()
    assert [feats[k]["shape"] for k in schema.CANONICAL_KEYS] == [[16], [2], [14]]
    assert all(feats[k]["dtype"] == "float32" for k in feats)
    assert schema.joint_state_names(["a", "b"]) == ["q.a", "q.b", "qd.a", "qd.b"]


def test_full_features_adds_standard_columns_in_order():
    full = schema.full_features({"action": {"dtype": "float32", "shape": [3], "names": ["a", "b", "c"]}})
    assert list(full) == ["action", "next.reward", "next.done", "next.truncated", "next.success",
                          "timestamp", "frame_index", "episode_index", "index", "task_index"]
    assert full["next.done"] == {"dtype": "bool", "shape": [1], "names": None}
    assert schema.staged_feature_names(full) == ["action", "next.reward", "next.done", "next.truncated", "next.success"]


@pytest.mark.parametrize(
    "features, match",
    [
        ({"a": {"dtype": "float16", "shape": [2]}}, "dtype"),
        ({"a": {"dtype": "float32", "shape": [0]}}, "shape"),
        ({"a": {"dtype": "float32", "shape": [2, 2]}}, "1-D"),
        ({"a": {"dtype": "image", "shape": [8, 8]}}, "height, width, channels"),
        ({"a": {"dtype": "float32", "shape": [2], "names": ["x"]}}, "1 names"),
        ({"timestamp": {"dtype": "float32", "shape": [1]}}, "standard column"),
        ({"a/b": {"dtype": "float32", "shape": [1]}}, "'/'"),
        ({"observation.ee": {"dtype": "float32", "shape": [8]}}, "canonical"),
        ({}, "non-empty"),
    ],
)
def test_bad_features_are_rejected_with_the_feature_named(features, match):
    with pytest.raises(ValueError, match=match):
        schema.full_features(features)


def test_arrow_types_match_hf_datasets():
    assert schema.arrow_type({"dtype": "float32", "shape": [1]}) == pa.float32()
    assert schema.arrow_type({"dtype": "bool", "shape": [1]}) == pa.bool_()
    assert schema.arrow_type({"dtype": "float32", "shape": [7]}) == pa.list_(pa.float32(), 7)
    img = schema.arrow_type(schema.image_feature(4, 5))
    assert img == pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    assert schema.hf_feature({"dtype": "float32", "shape": [7]}) == {
        "feature": {"dtype": "float32", "_type": "Value"}, "length": 7, "_type": "Sequence"}
    assert schema.hf_feature(schema.image_feature(4, 5)) == {"_type": "Image"}
    assert schema.stat_shape(schema.image_feature(4, 5)) == (3, 1, 1)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_png_roundtrip_and_header(channels):
    rng = np.random.default_rng(channels)
    img = rng.integers(0, 256, size=(9, 13, channels), dtype=np.uint8)
    data = png.encode(img)
    assert data[:8] == png.SIGNATURE
    assert png.header(data) == (9, 13, channels)
    np.testing.assert_array_equal(png.decode(data), img)
    assert png.encode(img) == data  # deterministic


def test_png_is_readable_by_pillow_and_decodes_pillow_pngs():
    Image = pytest.importorskip("PIL.Image")
    import io

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(10, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png.encode(img)))), img)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", optimize=True)  # Pillow picks filters 1-4 adaptively
    np.testing.assert_array_equal(png.decode(buf.getvalue()), img)


def test_png_damaged_data_is_an_error_and_palette_pngs_decode():
    """png.py decodes through FFmpeg (PyAV): a damaged chunk must raise, not return a wrong image."""
    img = np.full((8, 8, 3), 7, np.uint8)
    data = png.encode(img)
    with pytest.raises(ValueError, match="corrupt PNG"):
        png.decode(data[:40] + b"\0" * 10 + data[50:])
    with pytest.raises(ValueError, match="not a PNG"):
        png.decode(b"GIF89a" + b"\0" * 40)
    Image = pytest.importorskip("PIL.Image")
    import io

    rgb = np.random.default_rng(0).integers(0, 256, size=(9, 13, 3), dtype=np.uint8)
    pal = Image.fromarray(rgb).convert("P")
    buf = io.BytesIO()
    pal.save(buf, format="PNG")
    np.testing.assert_array_equal(png.decode(buf.getvalue()), np.asarray(pal.convert("RGB")))


def test_datasets_never_imports_the_simulator_or_ray():
    """datasets/ reads and writes data only: no pybullet, ray, or flywheel.sim/robots/collectors imports."""
    import ast
    from pathlib import Path

    import flywheel.datasets

    forbidden = ("pybullet", "ray", "flywheel.sim", "flywheel.robots", "flywheel.collectors")
    folder = Path(flywheel.datasets.__file__).parent
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for name in names:
                assert not any(name == f or name.startswith(f + ".") for f in forbidden), (path.name, name)

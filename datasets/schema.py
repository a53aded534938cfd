"""The trajectory standard in one place: features, dtypes, shapes, names, Arrow types and paths.

A finished flywheel dataset *is* a LeRobotDataset v3.0, so the constants here mirror LeRobot's own
(`lerobot/datasets/utils.py`): path templates, chunk and file sizes, the five index columns. Everything
else in this package (writer, finaliser, reader, validator, exporters) asks this module what a column
is, so there is one answer.

Canonical cross-embodiment layout (see README.md in this folder for the full convention):

- ``observation.ee`` float32 (16,): for each canonical end-effector in ``CANONICAL_EE`` order
  ``[x, y, z, qx, qy, qz, qw, gripper]``: position in metres and orientation as a unit quaternion,
  scalar last (PyBullet's order), both in the robot's base frame; gripper opening 1 = open, 0 = closed.
- ``observation.ee_mask`` float32 (2,): 1 where the robot has that end-effector, 0 where it does not;
  the slots of an absent end-effector are all zeros.
- ``action.ee`` float32 (14,): for each canonical end-effector ``[dx, dy, dz, droll, dpitch, dyaw,
  gripper]``: the commanded change of pose in the base frame plus the absolute gripper target (the
  Open X-Embodiment convention).
"""
from __future__ import annotations

import copy
import json
from typing import Any, Iterable, Mapping

import pyarrow as pa

from flywheel.canonical import (
    CANONICAL_KEYS,
    EE_ACTION_DIM,
    EE_ACTION_FIELDS,
    EE_ACTION_KEY,
    EE_MASK_DIM,
    EE_MASK_KEY,
    EE_OBS_DIM,
    EE_OBS_KEY,
    EE_POSE_FIELDS,
    GRIPPER_CLOSED,
    GRIPPER_OPEN,
    canonical_features,
    ee_action_names,
    ee_mask_names,
    ee_observation_names,
    ee_slice,
)
from flywheel.canonical import HANDS as CANONICAL_EE

# ---- format versions and paths (LeRobot v3.0) ------------------------------------------------------
CODEBASE_VERSION = "v3.0"
# Version of our own files (staging/spec.json, staging parquet metadata, meta/flywheel.json) and of the columns a
# collector writes. 2: object state and goal in LeRobot's ``observation.environment_state`` (1: separate
# ``observation.env_state`` and ``observation.goal``; read as 2 by `flywheel.datasets.legacy`).
FLYWHEEL_FORMAT = 2
READABLE_FLYWHEEL_FORMATS = (1, 2)  # the staging layout is unchanged since 1, so an old interrupted dataset still finalises

DEFAULT_CHUNK_SIZE = 1000  # files per chunk folder, as LeRobot
DEFAULT_DATA_FILE_SIZE_MB = 100  # target size of one data file, as LeRobot
DEFAULT_VIDEO_FILE_SIZE_MB = 200  # target size of one videos/<key>/chunk-XXX/file-YYY.mp4, as LeRobot
# Episodes (= row groups) per data file, and rows per meta/episodes file: a file is closed at the size
# limit OR at this count, whichever comes first. A Parquet footer holds ~1-2 KB of metadata per row group
# (per column chunk: offsets, sizes, statistics), and a writer keeps it in memory until the file is
# closed; reading one episode parses its file's whole footer. 1000 bounds footers at a few MB while a
# million episodes still fit in one chunk folder (1000 files). Long or image episodes hit the size limit first.
DEFAULT_EPISODES_PER_DATA_FILE = 1000
DEFAULT_EPISODES_PER_META_FILE = 1000

INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
FLYWHEEL_META_PATH = "meta/flywheel.json"
EPISODES_DIR = "meta/episodes"
DATA_DIR = "data"
VIDEOS_DIR = "videos"
CHUNK_FILE_PATTERN = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DATA_PATH = DATA_DIR + "/" + CHUNK_FILE_PATTERN + ".parquet"
EPISODES_PATH = EPISODES_DIR + "/" + CHUNK_FILE_PATTERN + ".parquet"
VIDEO_PATH = VIDEOS_DIR + "/{video_key}/" + CHUNK_FILE_PATTERN + ".mp4"

# The staging area: present while a dataset is being written, removed by a successful finalize.
STAGING_DIR = "staging"
SPEC_PATH = STAGING_DIR + "/spec.json"  # the in-progress marker: a folder with it and no info.json is unfinished
STAGING_META_KEY = b"flywheel.episodes"  # parquet key-value metadata of a staging file: one entry per row group

# ---- statistics -------------------------------------------------------------------------------------
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
QUANTILE_KEYS = tuple(f"q{int(round(q * 100)):02d}" for q in QUANTILES)
STAT_KEYS = ("min", "max", "mean", "std", "count") + QUANTILE_KEYS

# ---- features -------------------------------------------------------------------------------------
NUMERIC_DTYPES = ("float32", "float64", "int32", "int64", "bool")
VISUAL_DTYPES = ("image", "video")  # image: PNG bytes in the data Parquet; video: frames in videos/<key>/*.mp4
FEATURE_DTYPES = NUMERIC_DTYPES + VISUAL_DTYPES
IMAGE_NAMES = ["height", "width", "channels"]

# Per-step outcome columns: written by the caller with every episode (T rows each).
STEP_FEATURES: dict[str, dict[str, Any]] = {
    "next.reward": {"dtype": "float32", "shape": [1], "names": None},
    "next.done": {"dtype": "bool", "shape": [1], "names": None},
    "next.truncated": {"dtype": "bool", "shape": [1], "names": None},
    "next.success": {"dtype": "bool", "shape": [1], "names": None},
}
# Index columns: assigned by the finaliser (LeRobot's DEFAULT_FEATURES, same order).
INDEX_FEATURES: dict[str, dict[str, Any]] = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
STANDARD_FEATURES = {**STEP_FEATURES, **INDEX_FEATURES}

# ---- canonical cross-embodiment end-effector space -------------------------------------------------
# Defined once for every layer in `flywheel.canonical` (imported above): CANONICAL_EE (= HANDS), EE_*_FIELDS,
# EE_*_KEY, EE_*_DIM, CANONICAL_KEYS, GRIPPER_OPEN/CLOSED, ee_*_names(), ee_slice(), canonical_features().


def ee_mask(present: Iterable[str]) -> list[float]:
    """The ``observation.ee_mask`` row for a robot whose end-effectors are ``present``."""
    present = set(present)
    unknown = present - set(CANONICAL_EE)
    if unknown:
        raise ValueError(f"unknown canonical end-effector(s) {sorted(unknown)}; expected some of {CANONICAL_EE}")
    return [1.0 if ee in present else 0.0 for ee in CANONICAL_EE]


def joint_state_names(joints: Iterable[str]) -> list[str]:
    """``observation.state`` names for a joint list: positions ``q.<joint>`` then velocities ``qd.<joint>``."""
    joints = list(joints)
    return [f"q.{j}" for j in joints] + [f"qd.{j}" for j in joints]


def image_feature(height: int, width: int, channels: int = 3) -> dict[str, Any]:
    """An ``observation.images.<camera>`` feature: PNG-encoded uint8 frames (T, H, W, C)."""
    return {"dtype": "image", "shape": [int(height), int(width), int(channels)], "names": list(IMAGE_NAMES)}


def video_feature(height: int, width: int, channels: int, fps: int, codec: str,
                  extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An ``observation.images.<camera>`` feature stored as video, with the ``info`` block LeRobot v3.0 writes
    (``video.*`` keys as its ``get_video_info`` reports them: ``codec`` is the stream's codec name, e.g. ``av1``;
    ``extra``: the encoder settings). The depth marker is written both ways: ``video.is_depth_map`` as LeRobot
    0.4 writes it, ``is_depth_map`` as LeRobot 0.6 does (it reads either)."""
    ft = {"dtype": "video", "shape": [int(height), int(width), int(channels)], "names": list(IMAGE_NAMES)}
    ft["info"] = {
        "video.height": int(height),
        "video.width": int(width),
        "video.codec": str(codec),
        "video.pix_fmt": "yuv420p",
        "video.is_depth_map": False,
        "video.fps": int(fps),
        "video.channels": int(channels),
        "has_audio": False,
        **dict(extra or {}),
        "is_depth_map": False,
    }
    return ft


# ---- feature dictionaries ------------------------------------------------------------------------
def check_caller_features(features: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Validate the caller's features (those beyond the standard columns) and return a normalised copy.

    Why strict: a dtype or shape typo found here costs a second; found after a day of collection it
    costs the day.
    """
    if not isinstance(features, Mapping) or not features:
        raise ValueError("features must be a non-empty dict of name -> {dtype, shape, names}")
    out: dict[str, dict[str, Any]] = {}
    for name, ft in features.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"feature name {name!r} must be a non-empty string")
        if name in STANDARD_FEATURES:
            raise ValueError(f"feature {name!r} is a standard column added by flywheel.datasets; do not pass it")
        if "/" in name:
            raise ValueError(f"feature name {name!r} must not contain '/' (LeRobot uses it for nesting)")
        if not isinstance(ft, Mapping):
            raise ValueError(f"feature {name!r} must be a dict with dtype, shape, names")
        out[name] = check_feature(name, ft)
    for key, want in canonical_features().items():
        if key in out and out[key]["shape"] != want["shape"]:
            raise ValueError(f"canonical feature {key!r} must have shape {want['shape']}, not {out[key]['shape']}")
    return out


def check_feature(name: str, ft: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one feature description; returns a normalised copy (shape as a list of ints)."""
    dtype = ft.get("dtype")
    if dtype not in FEATURE_DTYPES:
        raise ValueError(f"feature {name!r}: dtype {dtype!r} is not one of {FEATURE_DTYPES}")
    shape = ft.get("shape")
    if not isinstance(shape, (list, tuple)) or not shape or not all(isinstance(s, int) and s > 0 for s in shape):
        raise ValueError(f"feature {name!r}: shape must be a non-empty list of positive ints, got {shape!r}")
    shape = [int(s) for s in shape]
    if dtype == "image":
        if len(shape) != 3 or shape[2] not in (1, 3, 4):
            raise ValueError(f"feature {name!r}: an image shape is [height, width, channels] with 1, 3 or 4 channels")
    elif dtype == "video":
        if len(shape) != 3 or shape[2] != 3 or shape[0] % 2 or shape[1] % 2:
            raise ValueError(f"feature {name!r}: a video shape is [height, width, 3] with an even height and width "
                             "(yuv420p halves the colour planes)")
    elif len(shape) != 1:
        raise ValueError(f"feature {name!r}: only 1-D vectors are supported, got shape {shape}")
    names = ft.get("names")
    if names is not None:
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"feature {name!r}: names must be a list of strings or null")
        names = list(names)
        expected = 3 if dtype in VISUAL_DTYPES else shape[0]
        if len(names) != expected:
            raise ValueError(f"feature {name!r}: {len(names)} names for shape {shape}")
    out = {"dtype": dtype, "shape": shape, "names": names}
    for k, v in ft.items():  # keep extra LeRobot keys (e.g. "info") untouched
        if k not in out:
            out[k] = copy.deepcopy(v)
    return out


def full_features(caller_features: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """All features of a finished dataset, in column order: the caller's, then the standard columns."""
    out = check_caller_features(caller_features)
    out.update(copy.deepcopy(STANDARD_FEATURES))
    return out


def staged_feature_names(features: Mapping[str, Any]) -> list[str]:
    """Columns a worker writes to staging Parquet: everything except the index columns the finaliser assigns
    and the video features (their frames go to the staging video segments)."""
    return [k for k in features if k not in INDEX_FEATURES and features[k]["dtype"] != "video"]


def is_image(ft: Mapping[str, Any]) -> bool:
    """A PNG ``image`` feature (a column of the data Parquet)."""
    return ft["dtype"] == "image"


def is_video(ft: Mapping[str, Any]) -> bool:
    return ft["dtype"] == "video"


def image_keys(features: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [k for k, ft in features.items() if is_image(ft)]


def video_keys(features: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [k for k, ft in features.items() if is_video(ft)]


def visual_keys(features: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Cameras, whatever their storage: both have per-channel statistics from their pixels."""
    return [k for k, ft in features.items() if ft["dtype"] in VISUAL_DTYPES]


def numeric_keys(features: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [k for k, ft in features.items() if ft["dtype"] not in VISUAL_DTYPES]


def is_column(ft: Mapping[str, Any]) -> bool:
    """Whether a feature is a column of the data files (a ``video`` feature is stored in videos/ instead)."""
    return not is_video(ft)


def column_keys(features: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The features that are columns of ``data/*.parquet``, in order."""
    return [k for k, ft in features.items() if is_column(ft)]


def compatible_type(got: pa.DataType, want: pa.DataType) -> bool:
    """Whether a data file's column type holds what ``info.json`` describes (``want`` as ``arrow_type`` makes it).

    LeRobot v3.0 defines a vector feature through HF ``datasets``; LeRobot's own writer stores it as a
    variable-size ``list<float>`` (and may use ``large_list``), flywheel as ``fixed_size_list<float>[n]``.
    Both are the same feature: the length of each list is checked when it is read.
    """
    if got == want:
        return True
    if pa.types.is_fixed_size_list(want) and (pa.types.is_list(got) or pa.types.is_large_list(got)
                                              or pa.types.is_fixed_size_list(got)):
        return got.value_type == want.value_type and (not pa.types.is_fixed_size_list(got) or got.list_size == want.list_size)
    if pa.types.is_struct(want) and pa.types.is_struct(got):  # an image: bytes (binary or large) and path
        names = {f.name: f.type for f in got}
        return "bytes" in names and (pa.types.is_binary(names["bytes"]) or pa.types.is_large_binary(names["bytes"]))
    return False


# ---- Arrow / Parquet types -----------------------------------------------------------------------
IMAGE_ARROW_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def arrow_type(ft: Mapping[str, Any]) -> pa.DataType:
    """The Arrow type of a feature, as HF ``datasets`` (and so LeRobot) expects it.

    Shape (1,) is a plain scalar column, a vector is ``fixed_size_list<dtype>[n]`` and an image is
    ``struct<bytes: binary, path: string>`` (the HF ``Image`` feature) holding PNG bytes.
    """
    if ft["dtype"] == "image":
        return IMAGE_ARROW_TYPE
    scalar = pa.from_numpy_dtype(ft["dtype"]) if ft["dtype"] != "bool" else pa.bool_()
    if list(ft["shape"]) == [1]:
        return scalar
    return pa.list_(pa.field("element", scalar), int(ft["shape"][0]))  # the child name Parquet round-trips


def hf_feature(ft: Mapping[str, Any]) -> dict[str, Any]:
    """The HF ``datasets`` feature description stored in the Parquet schema metadata.

    ``Sequence`` (not ``List``) because both datasets 3.x and 4.x read it; 4.x maps it to ``List``.
    """
    if ft["dtype"] == "image":
        return {"_type": "Image"}
    value = {"dtype": ft["dtype"], "_type": "Value"}
    if list(ft["shape"]) == [1]:
        return value
    return {"feature": value, "length": int(ft["shape"][0]), "_type": "Sequence"}


def data_schema(features: Mapping[str, Mapping[str, Any]]) -> pa.Schema:
    """Schema of ``data/chunk-*/file-*.parquet``: every feature but the videos (which LeRobot keeps out of the
    Parquet), with HF metadata so images decode."""
    features = {k: ft for k, ft in features.items() if not is_video(ft)}
    fields = [pa.field(k, arrow_type(ft)) for k, ft in features.items()]
    hf = {"info": {"features": {k: hf_feature(ft) for k, ft in features.items()}}}
    return pa.schema(fields, metadata={b"huggingface": json.dumps(hf).encode()})


def staging_schema(features: Mapping[str, Mapping[str, Any]]) -> pa.Schema:
    """Schema of a staging file: the data schema without the index columns."""
    return pa.schema([pa.field(k, arrow_type(features[k])) for k in staged_feature_names(features)])


def video_path(video_key: str, chunk_index: int, file_index: int) -> str:
    return VIDEO_PATH.format(video_key=video_key, chunk_index=chunk_index, file_index=file_index)


def data_path(chunk_index: int, file_index: int) -> str:
    return DATA_PATH.format(chunk_index=chunk_index, file_index=file_index)


def episodes_path(chunk_index: int = 0, file_index: int = 0) -> str:
    return EPISODES_PATH.format(chunk_index=chunk_index, file_index=file_index)


def stat_shape(ft: Mapping[str, Any]) -> tuple[int, ...]:
    """Shape of one statistic (not ``count``) in stats.json: per dimension, or (C, 1, 1) per image channel."""
    if ft["dtype"] in VISUAL_DTYPES:
        return (int(ft["shape"][2]), 1, 1)
    return (int(ft["shape"][0]),)


def timestamp(frame_index: int, fps: int) -> float:
    """The timestamp LeRobot expects for a frame: ``frame_index / fps`` seconds from the episode start."""
    return frame_index / fps

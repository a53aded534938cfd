"""The policy file format, in one place: what `flywheel train` writes and every policy loader reads.

A policy file is an ``.npz`` (numpy's zip of arrays, never pickled objects): MLP weights ``W0, b0, ...``,
normalisation arrays and a JSON ``header`` stored as bytes. Reading checks the header's shape and every array's
finiteness, so a damaged, foreign or NaN-poisoned file is refused with one line naming the file and the field.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

POLICY_FORMAT = "flywheel-policy"
POLICY_FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
REQUIRED_HEADER_KEYS = ("format", "format_version", "features", "robot")


class PolicyFileError(ValueError):
    """A policy file that cannot be used; the message names the file, the field and what to do."""


def save_policy(path: str | os.PathLike, header: dict[str, Any], weights: Sequence[tuple[np.ndarray, np.ndarray]],
                arrays: dict[str, np.ndarray]) -> Path:
    """Write the policy file atomically; refuses non-finite weights (a diverged training run) before writing."""
    path = Path(path)
    content = {"header": np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8)}
    for i, (W, b) in enumerate(weights):
        content[f"W{i}"] = np.asarray(W, np.float32)
        content[f"b{i}"] = np.asarray(b, np.float32)
    content.update({k: np.asarray(v, np.float32) for k, v in arrays.items()})
    for name, value in content.items():
        if name != "header" and not np.isfinite(value).all():
            raise PolicyFileError(f"{path}: array {name!r} holds NaN or inf (training diverged?); "
                                  "nothing was written: lower the learning rate or check the dataset's stats")
    buf = io.BytesIO()
    np.savez(buf, **content)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_policy(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON header and the arrays of a policy file (no pickle involved), checked."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"policy file {path} does not exist")
    not_policy = f"{path} is not a flywheel policy file"
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        reason = "not an .npz archive" if "pickle" in str(err) else str(err).splitlines()[0]
        raise PolicyFileError(f"{not_policy} ({reason}); pass a file written by `flywheel train`") from None
    if "header" not in arrays:
        raise PolicyFileError(f"{not_policy} (no header array); pass a file written by `flywheel train`")
    try:
        header = json.loads(arrays.pop("header").tobytes().decode())
    except (UnicodeDecodeError, ValueError):
        raise PolicyFileError(f"{not_policy} (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise PolicyFileError(f"{not_policy} (its header is a JSON {type(header).__name__}, not an object)")
    if header.get("format") != POLICY_FORMAT:
        raise PolicyFileError(f"{not_policy} (header field 'format' is {header.get('format')!r}, "
                              f"expected {POLICY_FORMAT!r})")
    if header.get("format_version") not in SUPPORTED_VERSIONS:
        raise PolicyFileError(f"{path}: header field 'format_version' is {header.get('format_version')!r}; "
                              f"this flywheel reads versions {list(SUPPORTED_VERSIONS)}: retrain with `flywheel train`")
    missing = [k for k in REQUIRED_HEADER_KEYS if k not in header]
    if missing:
        raise PolicyFileError(f"{path}: header is missing field(s) {', '.join(repr(k) for k in missing)}; "
                              "the file is damaged or not written by `flywheel train`")
    for name, value in arrays.items():
        if value.dtype.kind not in "fiu" or not np.isfinite(value).all():
            raise PolicyFileError(f"{path}: array {name!r} is not finite numbers; the file is damaged: retrain it")
    return header, arrays

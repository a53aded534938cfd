"""Arrow columns <-> numpy arrays for the feature types of the schema (one place, used by every reader)."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from . import png


def column_to_numpy(col: pa.Array | pa.ChunkedArray, ft: Mapping[str, Any], *, decode_images: bool = True) -> np.ndarray:
    """One column as numpy: scalars (T,), vectors (T, D), images uint8 (T, H, W, C) or PNG bytes (T,) object."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    n = len(col)
    if ft["dtype"] == "image":
        data = col.field("bytes").to_pylist()
        if not decode_images:
            return np.array(data, dtype=object)
        h, w, c = ft["shape"]
        out = np.empty((n, h, w, c), dtype=np.uint8)
        for i, b in enumerate(data):
            out[i] = png.decode(b).reshape(h, w, c)
        return out
    dtype = np.dtype(ft["dtype"])
    if list(ft["shape"]) == [1]:
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=dtype)
    d = int(ft["shape"][0])
    if not isinstance(col, pa.FixedSizeListArray):  # LeRobot's writer stores vectors as variable-size lists
        lengths = col.value_lengths().to_numpy(zero_copy_only=False)
        if (lengths != d).any():
            raise ValueError(f"a list holds {int(lengths[lengths != d][0])} values where the feature has {d}")
    flat = col.flatten()
    return np.asarray(flat.to_numpy(zero_copy_only=False), dtype=dtype).reshape(n, d)


def as_matrix(values: np.ndarray) -> np.ndarray:
    """(T,) or (T, D) numeric values as float64 (T, D), for statistics."""
    x = np.asarray(values)
    if x.ndim == 1:
        x = x[:, None]
    return x.astype(np.float64)

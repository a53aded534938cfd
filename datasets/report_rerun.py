"""``flywheel dataset view PATH [--out FILE.rrd]``: episodes as a Rerun recording, for frame-by-frame inspection.

Why Rerun: it is what LeRobot's own ``visualize_dataset`` uses, so people who train on these datasets have its
viewer; one ``.rrd`` file holds every plotted scalar and camera frame on a shared timeline and opens offline
with ``rerun FILE.rrd``. rerun-sdk is an optional extra (``pip install 'flywheel[view]'``).

Layout of the recording: one timeline ``frame_index`` (and ``timestamp`` in seconds) per episode, entities
``episode_<i>/<feature>/<element name>`` for every numeric dimension (sent as columns, one call per dimension,
not one per frame) and ``episode_<i>/<camera>`` for images, decoded from PNG or video.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from . import schema

MIN_RERUN = "0.23"  # rr.set_time(..., sequence=), rr.Scalars, rr.TimeColumn(..., sequence=)


class RerunMissing(ValueError):
    """rerun-sdk is not installed (a one-line error for the command line)."""


def _rerun():
    try:
        import rerun as rr
    except ImportError:
        raise RerunMissing("flywheel dataset view needs rerun-sdk: pip install 'flywheel[view]' "
                           f"(or pip install 'rerun-sdk>={MIN_RERUN}')") from None
    if not hasattr(rr, "Scalars") or not hasattr(rr, "TimeColumn"):
        raise RerunMissing(f"rerun-sdk {getattr(rr, '__version__', '?')} is too old: pip install 'rerun-sdk>={MIN_RERUN}'")
    return rr


def _entity(name: str) -> str:
    """A Rerun entity path part: '/' separates entities, so it and other odd characters become '_'."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", str(name)) or "_"


def _names(ft: dict, width: int) -> list[str]:
    names = ft.get("names")
    if isinstance(names, dict):
        names = next(iter(names.values()), None)
    if isinstance(names, list) and len(names) == width:
        return [str(n) for n in names]
    return [str(i) for i in range(width)]


def write_rrd(path: str | os.PathLike, out: str | os.PathLike, episodes: Sequence[int] | None = None,
              *, images: bool = True) -> Path:
    """Write ``episodes`` (default: the first) of the dataset at ``path`` to the Rerun recording ``out``."""
    from .reader import open as open_dataset

    rr = _rerun()
    out = Path(out)
    if out.suffix != ".rrd":
        raise ValueError(f"--out {out}: a Rerun recording is a .rrd file; give a name ending in .rrd")
    ds = open_dataset(path)
    try:
        picks = [0] if episodes is None else [int(e) for e in episodes]
        bad = [e for e in picks if not 0 <= e < len(ds)]
        if bad:
            raise ValueError(f"episode {bad[0]} is not in {path} (it has episodes 0..{len(ds) - 1})")
        numeric = [k for k in schema.numeric_keys(ds.features) if k not in schema.INDEX_FEATURES]
        cams = schema.visual_keys(ds.features) if images else []
        rec = rr.RecordingStream(application_id="flywheel_dataset", recording_id=str(Path(path).resolve()))
        rec.save(str(out))
        try:
            _log_episodes(rr, rec, ds, picks, numeric, cams)
        except BaseException:
            rec.disconnect()
            out.unlink(missing_ok=True)  # no half-written recording left behind
            raise
        rec.flush()
        rec.disconnect()
    finally:
        ds.close()
    return out


def _log_episodes(rr, rec, ds, picks: list[int], numeric: list[str], cams: list[str]) -> None:
    """Every numeric dimension as a column of scalars, then every camera frame, per episode."""
    for e in picks:
        data = ds.episode(e, numeric + cams)
        t = len(data[numeric[0]]) if numeric else len(data[cams[0]])
        frame = np.arange(t)
        index = [rr.TimeColumn("frame_index", sequence=frame), rr.TimeColumn("timestamp", duration=frame / ds.fps)]
        for key in numeric:
            values = np.asarray(data[key], np.float64).reshape(t, -1)
            for d, name in enumerate(_names(ds.features[key], values.shape[1])):
                rec.send_columns(f"episode_{e}/{_entity(key)}/{_entity(name)}", indexes=index,
                                 columns=rr.Scalars.columns(scalars=values[:, d]))
        for key in cams:
            for i, pixels in enumerate(data[key]):
                rec.set_time("frame_index", sequence=i)
                rec.set_time("timestamp", duration=i / ds.fps)
                rec.log(f"episode_{e}/{_entity(key)}", rr.Image(pixels))

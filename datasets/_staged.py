"""The finaliser's view of the staging area: which episodes exist, and reading them back one at a time.

Split out of ``finalize.py`` (which keeps the order of work): step 1 builds a compact index of every
staged episode from the footers alone (numpy arrays, ~24 bytes per episode) and picks one copy per key;
step 3 reads the chosen row groups back in key order while keeping only the staging files whose keys
interleave open.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import schema
from ._io import DatasetError
from .paths import resolve_inside
from .staging import staging_files, staging_footer

_MAX_OPEN_STAGING = 128  # staging files kept open while streaming (~0.5 MB of parsed footer each)
_THREADED_READ_BYTES = 4 << 20  # row groups smaller than this are read on one thread (faster for tiny episodes)


# ---- step 1: which episodes ------------------------------------------------------------------------
class Column:
    """A growable numpy column (amortised doubling): the index never becomes a list of Python objects."""

    def __init__(self, dtype) -> None:
        self.a = np.empty(1024, dtype=dtype)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.n + len(values)
        if need > len(self.a):
            grown = np.empty(max(need, 2 * len(self.a)), dtype=self.a.dtype)
            grown[: self.n] = self.a[: self.n]
            self.a = grown
        self.a[self.n:need] = values
        self.n = need

    def values(self) -> np.ndarray:
        return self.a[: self.n]


@dataclass
class Scan:
    """Every staged episode (duplicates included) in file then row-group order, and the min/max of the wanted ones."""

    files: list[Path]
    key: np.ndarray
    file: np.ndarray
    rg: np.ndarray
    length: np.ndarray
    lo: dict[str, np.ndarray]  # per numeric staged feature, NaN where no finite value was seen
    hi: dict[str, np.ndarray]


@dataclass
class Index:
    """The chosen episodes in key order: episode_index i is row i."""

    files: list[Path]
    key: np.ndarray
    file: np.ndarray
    rg: np.ndarray
    length: np.ndarray


def scan_staging_index(root: Path, features, wanted: np.ndarray | None) -> Scan:
    """Read each staging footer once: the compact index, schema checks, and min/max folded as we go."""
    want_schema = schema.staging_schema(features)
    names = [n for n in schema.numeric_keys(features) if n in want_schema.names]
    lo = {n: np.full(int(features[n]["shape"][0]), np.nan) for n in names}
    hi = {n: np.full(int(features[n]["shape"][0]), np.nan) for n in names}
    cols = {"key": Column(np.int64), "file": Column(np.int32), "rg": Column(np.int32), "length": Column(np.int64)}
    files: list[Path] = []
    for path in staging_files(root):
        resolve_inside(root, path.relative_to(root))  # a staging file linked from elsewhere is not read
        try:
            md, entries = staging_footer(path)
        except FileNotFoundError:  # removed by a concurrent finalize
            continue
        keys = np.fromiter((int(e["key"]) for e in entries), dtype=np.int64, count=len(entries))
        chosen = np.ones(len(keys), bool) if wanted is None else np.isin(keys, wanted)
        if chosen.any():
            check_staging_schema(path, want_schema)
            picked = [entries[j]["minmax"] for j in np.nonzero(chosen)[0]]
            for n in names:
                mins = np.array([m[n][0] for m in picked], dtype=np.float64)  # None -> NaN
                maxs = np.array([m[n][1] for m in picked], dtype=np.float64)
                lo[n] = np.fmin(lo[n], np.fmin.reduce(mins, axis=0))
                hi[n] = np.fmax(hi[n], np.fmax.reduce(maxs, axis=0))
        cols["key"].extend(keys)
        cols["file"].extend(np.full(len(keys), len(files), dtype=np.int32))
        cols["rg"].extend(np.arange(len(keys), dtype=np.int32))
        cols["length"].extend(np.fromiter((int(e["length"]) for e in entries), dtype=np.int64, count=len(entries)))
        files.append(path)
    return Scan(files, *(cols[c].values() for c in ("key", "file", "rg", "length")), lo, hi)


def choose_episodes(root: Path, scan: Scan, wanted: np.ndarray | None) -> Index:
    """One copy per key, ordered by key. Copies of a key come from retried workers and are identical."""
    if not len(scan.key):
        raise DatasetError(root / schema.STAGING_DIR, "no episodes are staged; nothing to finalize")
    order = np.argsort(scan.key, kind="stable")  # stable: the first copy in file order comes first
    sorted_keys = scan.key[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    lengths = scan.length[order]
    bad = np.nonzero(lengths != lengths[group_start])[0]
    if bad.size:
        here, there = order[bad[0]], order[group_start[bad[0]]]
        raise DatasetError(
            scan.files[scan.file[here]],
            f"episode key {scan.key[here]} is staged twice with different lengths "
            f"({scan.length[here]} here, {scan.length[there]} in {scan.files[scan.file[there]].name})",
        )
    chosen = order[first]
    if wanted is not None:
        missing = np.setdiff1d(wanted, scan.key[chosen])
        if missing.size:
            raise DatasetError(root / schema.STAGING_DIR, f"{missing.size} requested key(s) are not staged: {missing[:10].tolist()}")
        if not wanted.size:
            raise DatasetError(root / schema.STAGING_DIR, "keys is empty; nothing to finalize")
        chosen = chosen[np.isin(scan.key[chosen], wanted)]
    return Index(scan.files, scan.key[chosen], scan.file[chosen], scan.rg[chosen], scan.length[chosen])


def check_staging_schema(path: Path, want: pa.Schema) -> None:
    # pq.read_schema, not FileMetaData.schema: the latter forms a reference cycle with its footer that only
    # the garbage collector frees, so scanning thousands of staging files would pile up their footers.
    got = pq.read_schema(path).remove_metadata()
    if got.equals(want):
        return
    for f in want:
        if f.name not in got.names:
            raise DatasetError(path, f"column {f.name!r} is missing (staging/spec.json has it)")
        if got.field(f.name).type != f.type:
            raise DatasetError(path, f"column {f.name!r} is {got.field(f.name).type}, staging/spec.json says {f.type} (mismatched shapes between episodes)")
    raise DatasetError(path, f"columns {got.names} differ from staging/spec.json {want.names}")



# ---- step 3: streaming -----------------------------------------------------------------------------
def live_files(file: np.ndarray) -> int:
    """The most staging files whose episodes interleave at one point of the key order (about the number of
    workers): keeping that many open means no staging footer is read twice."""
    n_files = int(file.max()) + 1
    pos = np.arange(len(file))
    first = np.full(n_files, len(file))
    last = np.full(n_files, -1)
    np.minimum.at(first, file, pos)
    np.maximum.at(last, file, pos)
    used = last >= 0
    events = np.zeros(len(file) + 1, dtype=np.int64)
    np.add.at(events, first[used], 1)
    np.add.at(events, last[used] + 1, -1)
    return int(np.cumsum(events).max())


class StagingReader:
    """Reads staged row groups, keeping the staging files whose keys interleave open (one per worker, about)."""

    def __init__(self, files: list[Path], live: int) -> None:
        self.files = files
        self.max_open = max(4, min(live, _MAX_OPEN_STAGING))
        self._open: OrderedDict[int, tuple[pq.ParquetFile, list[dict[str, Any]]]] = OrderedDict()

    def read(self, file: int, rg: int, length: int, key: int) -> tuple[pa.Table, dict[str, Any]]:
        """The episode's rows and its footer entry (worker metadata and the image histograms)."""
        path = self.files[file]
        item = self._open.pop(file, None)
        if item is None:
            try:
                pf = pq.ParquetFile(path, page_checksum_verification=True)
                item = (pf, [_compact(entry) for entry in staging_footer(path)[1]])
            except DatasetError:
                raise
            except Exception as err:
                raise DatasetError(path, f"cannot read staging file ({err})") from None
        self._open[file] = item
        while len(self._open) > self.max_open:
            _, (old, _) = self._open.popitem(last=False)
            old.close()
        pf, entries = item
        try:
            threads = pf.metadata.row_group(rg).total_byte_size > _THREADED_READ_BYTES
            table = pf.read_row_group(rg, use_threads=threads)
        except Exception as err:
            raise DatasetError(path, f"row group {rg} (episode key {key}) is unreadable ({err})") from None
        if table.num_rows != length:
            raise DatasetError(path, f"row group {rg} has {table.num_rows} rows, expected {length}")
        return table, entries[rg]

    def close(self) -> None:
        for pf, _ in self._open.values():
            pf.close()
        self._open.clear()


def _compact(entry: dict[str, Any]) -> dict[str, Any]:
    """A footer entry as kept while its file is open: histograms as int64 arrays, min/max dropped."""
    out = {k: v for k, v in entry.items() if k != "minmax"}
    out["image_hist"] = {k: np.asarray(v, dtype=np.int64) for k, v in entry.get("image_hist", {}).items()}
    return out

"""Write a spec as a TOML file a person can read and correct: every guess is a comment next to its value.

The output is plain TOML that `flywheel.robots.spec.load_spec` reads back (tested), written without a
TOML library so the comments can sit exactly where they help.
"""
from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name, ensure_ascii=False)


def _value(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v) + 0.0  # numpy scalars print as np.float64(...); + 0.0 turns -0.0 into 0.0
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        text = repr(v)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def _list_block(key: str, items: list, width: int = 100) -> list[str]:
    one = f"{_key(key)} = {_value(list(items))}"
    if len(one) <= width:
        return [one]
    lines, cur = [f"{_key(key)} = ["], "   "
    for item in items:
        piece = f" {_value(item)},"
        if len(cur) + len(piece) > width:
            lines.append(cur)
            cur = "   "
        cur += piece
    lines.append(cur)
    lines.append("]")
    return lines


def _comments(texts: Iterable[str], width: int = 110) -> list[str]:
    out = []
    for text in texts:
        words, cur = text.split(), "# guess:"
        for w in words:
            if len(cur) + 1 + len(w) > width:
                out.append(cur)
                cur = "#  "
            cur += " " + w
        out.append(cur)
    return out


def render_spec(spec: dict[str, Any], notes: dict[str, list[str]] | None = None,
                limits: dict[str, tuple[float, float]] | None = None, header: list[str] | None = None) -> str:
    """TOML text for a spec dict; `notes` maps spec fields to the guesses made for them."""
    notes = notes or {}
    limits = limits or {}
    lines: list[str] = [f"# {h}" if h else "#" for h in (header or [])]

    def block(field: str) -> None:
        lines.extend(_comments(notes.get(field, [])))

    if notes.get("model"):
        lines.append("")
        block("model")
    for key in ("name", "description", "model", "kind", "fixed_base", "scale", "inertia_from_file", "base_position",
                "base_orientation", "base_height", "joints"):
        if key not in spec:
            continue
        if key in _WRITTEN_FIELDS:
            block(key)
        if key == "joints":
            lines.extend(_list_block(key, spec[key]))
        else:
            lines.append(f"{key} = {_value(spec[key])}")

    lines.append("")
    block("home")
    lines.append("[home]  # joint = position (rad or m); joints not listed start at 0")
    for joint, value in spec.get("home", {}).items():
        lim = limits.get(joint)
        comment = f"  # limits [{lim[0]:.4g}, {lim[1]:.4g}]" if lim else ""
        lines.append(f"{_key(joint)} = {_value(float(value))}{comment}")

    if not spec.get("end_effectors"):
        lines.append("")
        block("end_effectors")
    else:
        pending = notes.get("end_effectors", [])
        if pending:
            lines.append("")
            block("end_effectors")
    for slot, ee in spec.get("end_effectors", {}).items():
        lines.append("")
        block(f"end_effectors.{slot}")
        lines.append(f"[end_effectors.{slot}]")
        for k in ("link", "joint", "offset"):
            if k in ee:
                lines.append(f"{k} = {_value(ee[k])}")
        if "ik_joints" in ee:
            lines.extend(_list_block("ik_joints", ee["ik_joints"]))

    for slot, g in spec.get("grippers", {}).items():
        lines.append("")
        block(f"grippers.{slot}")
        lines.append(f"[grippers.{slot}]")
        for k in ("joints", "open", "closed"):
            lines.extend(_list_block(k, g[k]))

    if spec.get("mimic"):
        lines.append("")
        block("mimic")
    for follower, m in spec.get("mimic", {}).items():
        lines.append(f"[mimic.{_key(follower)}]")
        lines.append(f"joint = {_value(m['joint'])}")
        lines.append(f"multiplier = {_value(float(m.get('multiplier', 1.0)))}")
        lines.append(f"offset = {_value(float(m.get('offset', 0.0)))}")

    if spec.get("gains"):
        lines.append("")
        block("gains")
    for group in spec.get("gains", []):
        lines.append("[[gains]]")
        lines.extend(_list_block("joints", group["joints"]))
        for k in ("kp", "kd", "max_force"):
            lines.append(f"{k} = {_value(float(group[k]))}")

    if spec.get("friction"):
        lines.append("")
        block("friction")
    for fr in spec.get("friction", []):
        lines.append("[[friction]]")
        lines.extend(_list_block("links", fr["links"]))
        for k in ("lateral", "spinning", "rolling"):
            if k in fr:
                lines.append(f"{k} = {_value(float(fr[k]))}")

    for table in ("balance", "whole_body"):  # humanoids: standing settings tuned in simulation by 'robots add'
        if spec.get(table):
            lines.append("")
            block(table)
            lines.append(f"[{table}]")
            for k, v in spec[table].items():
                lines.append(f"{k} = {_value(v)}")

    for cam in spec.get("cameras", []):
        lines.append("")
        lines.append("[[cameras]]")
        for k, v in cam.items():
            lines.append(f"{k} = {_value(v)}")

    rest = [f for f in notes if f not in _WRITTEN_FIELDS | {"model"} and not f.startswith(("end_effectors.", "grippers."))]
    for f in rest:
        lines.append("")
        block(f)
    lines.append("# cameras: add [[cameras]] tables (name, link, position, target, fov) to record images")
    return "\n".join(lines).rstrip() + "\n"


_WRITTEN_FIELDS = {"kind", "fixed_base", "scale", "inertia_from_file", "base_position", "base_orientation", "base_height",
                   "joints", "home", "end_effectors", "mimic", "gains", "friction", "balance", "whole_body"}


MARK = "written by flywheel robots add"
_MARK_TAIL = "; sha256 of the rest of this file: "


def mark_text(text: str, comment: tuple[str, str] = ("# ", "")) -> str:
    """`text` behind a first line that says flywheel wrote it, with the hash of what follows.

    `robots add --force` replaces only files that carry this line *and* still match the hash: a file the user
    wrote, or edited after we wrote it, is theirs and is never overwritten.
    """
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return f"{comment[0]}{MARK}{_MARK_TAIL}{digest}{comment[1]}\n{text}"


def ownership(path: str | os.PathLike) -> str:
    """'ours' (written by `robots add`, unedited), 'edited' (ours, changed since) or 'foreign' (anything else)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_OWNED_BYTES + 1)
    except OSError:
        return "foreign"
    first, sep, rest = data.partition(b"\n")
    match = _MARK_LINE.match(first.decode("utf-8", "replace"))
    if not sep or not match or len(data) > MAX_OWNED_BYTES:
        return "foreign"
    return "ours" if hashlib.sha256(rest).hexdigest() == match.group(1) else "edited"


MAX_OWNED_BYTES = 64 * 2**20  # specs and URDF copies are kilobytes; anything bigger is not one of ours
_MARK_LINE = re.compile(r"^(?:# |<!-- )" + re.escape(MARK + _MARK_TAIL) + r"([0-9a-f]{64})(?: -->)?\r?$")


def _write_all(fd: int, data: bytes) -> None:
    """os.write until done (a separate function so tests can make the disk fill up here)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_file(path: str | os.PathLike, data: str | bytes, replace: bool = False) -> Path:
    """Atomic write of a new file: a half-written file never appears under `path`, and, unless `replace`, an
    existing file (or one created meanwhile by someone else) is never overwritten (hard link, not rename)."""
    path = Path(path)
    data = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails with FileExistsError instead of replacing
            except FileExistsError:
                raise
            except OSError:  # a file system without hard links: check, then rename (a small race, never a torn file)
                if os.path.lexists(path):
                    raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
                os.replace(tmp, path)
            else:
                os.unlink(tmp)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def write_spec_file(path: str | os.PathLike, text: str) -> Path:
    """Atomic write: a half-written spec never shadows a good one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_file(path, text, replace=True)

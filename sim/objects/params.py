"""Typed parameters of catalogue entries, checked without PyBullet.

Each kind in the catalogue declares its parameters as `Param` values (type, default, range). `check` turns what a
task file gave into a complete, typed dict, or raises `ObjectSpecError` naming the field and what to do in one line.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from flywheel.sim.objects.colors import ColorError, parse_color


class ObjectSpecError(ValueError):
    """Bad object or fixture parameters: ``str(err)`` is ``FIELD: what is wrong; what to do`` (one line).

    The task loader prefixes the file: ``tasks/x.toml: scene.objects[0].params.size: ...``."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True)
class Param:
    """One parameter: ``kind`` is float | int | vec | color | bool | str; ``n`` the length of a vec (a single number
    is accepted for a vec and repeated: ``size = 0.05`` is a cube); ``lo``/``hi`` bound numbers (inclusive)."""
    kind: str
    default: object
    lo: float | None = None
    hi: float | None = None
    n: int = 0
    doc: str = ""
    choices: tuple = field(default=())
    excluded: tuple = field(default=())  # values in range that are still refused ...
    excluded_why: str = ""  # ... and why

    def check(self, value, where: str):
        if self.kind == "color":
            if value is None:
                return None
            try:
                parse_color(value)
            except ColorError as err:
                raise ObjectSpecError(where, str(err)) from None
            return value if isinstance(value, str) else [float(c) for c in value]
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ObjectSpecError(where, f"{value!r} is not true or false")
            return value
        if self.kind == "str":
            if value not in self.choices:
                raise ObjectSpecError(where, f"{value!r} is not one of: {', '.join(map(str, self.choices))}")
            return value
        if self.kind == "vec":
            if _is_number(value):
                value = [value] * self.n
            if not (isinstance(value, Sequence) and not isinstance(value, str) and len(value) == self.n
                    and all(_is_number(v) for v in value)):
                raise ObjectSpecError(where, f"{value!r} is not a list of {self.n} numbers{self._range()}")
            return [self._bounded(float(v), where) for v in value]
        if self.kind == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                raise ObjectSpecError(where, f"{value!r} is not a whole number{self._range()}")
            return int(self._bounded(value, where))
        if not _is_number(value):
            raise ObjectSpecError(where, f"{value!r} is not a number{self._range()}")
        return self._bounded(float(value), where)

    def _bounded(self, v, where: str):
        if (self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi):
            raise ObjectSpecError(where, f"{v!r} is out of range{self._range()}")
        if v in self.excluded:
            raise ObjectSpecError(where, f"{v!r} cannot be used: {self.excluded_why}")
        return v

    def _range(self) -> str:
        if self.lo is None and self.hi is None:
            return ""
        return f" (allowed: {'' if self.lo is None else self.lo} .. {'' if self.hi is None else self.hi})"


def check_params(declared: Mapping[str, Param], given: Mapping | None, where: str) -> dict:
    """Defaults filled in, values typed and bounded; unknown names are an error listing the known ones."""
    given = {} if given is None else given
    if not isinstance(given, Mapping):
        raise ObjectSpecError(where, f"parameters must be a table (got {type(given).__name__})")
    for name in given:
        if name not in declared:
            raise ObjectSpecError(f"{where}.{name}", f"unknown parameter; known: {', '.join(declared)}")
    out = {}
    for name, param in declared.items():
        value = given.get(name, param.default)
        out[name] = param.check(value, f"{where}.{name}") if name in given else _copy(param.default)
    return out


def _copy(v):
    return list(v) if isinstance(v, list) else v

"""Reference figures from the source material, as data: what the benchmark measures itself against.

``reference()`` reads ``reference.toml`` (shipped as package data) and returns a `Reference` whose
primary figures are plain attributes (``per_robot_low`` = 300, ``per_robot_high`` = 500 episodes per
robot per day, ``per_field`` = about 30,000 per day, ``per_year`` = 100 million) and whose every
figure, alternatives included, keeps its label, unit and source::

    >>> from flywheel.seeds import reference
    >>> ref = reference()
    >>> ref.per_robot_low, ref.per_robot_high
    (300, 500)
    >>> [f.label for f in ref.alternatives()][0]
    'alternative figure: over 500 episodes per robot per day'
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

KINDS = ("primary", "alternative")
_PRIMARY_KEYS = {
    "per_robot_low": "episodes_per_robot_per_day_low",
    "per_robot_high": "episodes_per_robot_per_day_high",
    "per_field": "episodes_per_field_per_day",
    "per_year": "episodes_per_year_goal",
}


class SeedError(ValueError):
    """The reference file is malformed: names the file and the figure."""


@dataclass(frozen=True)
class Figure:
    key: str
    value: Any  # a number, or [low, high] for a range
    unit: str
    label: str
    kind: str  # "primary" | "alternative"
    source: str
    approximate: bool = False
    bound: str | None = None  # "lower" where the source says "over N"

    @property
    def low(self) -> float:
        return float(self.value[0] if isinstance(self.value, list) else self.value)

    @property
    def high(self) -> float:
        return float(self.value[-1] if isinstance(self.value, list) else self.value)


@dataclass(frozen=True)
class Reference:
    figures: dict[str, Figure]
    source: str
    path: str
    extra: dict = field(default_factory=dict)

    def _value(self, attr: str) -> int:
        return int(self.figures[_PRIMARY_KEYS[attr]].value)

    @property
    def per_robot_low(self) -> int:
        """Episodes per robot per day, lower end (300)."""
        return self._value("per_robot_low")

    @property
    def per_robot_high(self) -> int:
        """Episodes per robot per day, upper end (500)."""
        return self._value("per_robot_high")

    @property
    def per_field(self) -> int:
        """Episodes per day across the whole data field (about 30,000)."""
        return self._value("per_field")

    @property
    def per_year(self) -> int:
        """Episodes in one year, the goal (100 million)."""
        return self._value("per_year")

    def primary(self) -> list[Figure]:
        return [f for f in self.figures.values() if f.kind == "primary"]

    def alternatives(self) -> list[Figure]:
        return [f for f in self.figures.values() if f.kind == "alternative"]

    def as_dict(self) -> dict:
        """Plain data for the benchmark's JSON."""
        return {
            "source": self.source,
            "per_robot_per_day": [self.per_robot_low, self.per_robot_high],
            "per_field_per_day": self.per_field,
            "per_year": self.per_year,
            "figures": {k: {"value": f.value, "unit": f.unit, "label": f.label, "kind": f.kind, "source": f.source,
                            **({"approximate": True} if f.approximate else {}),
                            **({"bound": f.bound} if f.bound else {})}
                        for k, f in self.figures.items()},
        }


def _default_path() -> Path:
    return Path(str(resources.files(__name__).joinpath("reference.toml")))


def load(path: str | Path) -> Reference:
    """Read and check a reference file; every figure needs a value, unit, label, kind and source."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise SeedError(f"{path}: not valid TOML: {err}") from None
    raw = data.get("figures")
    if not isinstance(raw, dict) or not raw:
        raise SeedError(f"{path}: no [figures.*] tables")
    figures = {}
    for key, fig in raw.items():
        missing = [k for k in ("value", "unit", "label", "kind", "source") if k not in fig]
        if missing:
            raise SeedError(f"{path}: figure {key!r} lacks {', '.join(missing)}")
        if fig["kind"] not in KINDS:
            raise SeedError(f"{path}: figure {key!r} has kind {fig['kind']!r}; use one of {', '.join(KINDS)}")
        value = fig["value"]
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values):
            raise SeedError(f"{path}: figure {key!r} value must be a positive number or a [low, high] list")
        if not str(fig["source"]).strip():
            raise SeedError(f"{path}: figure {key!r} has an empty source")
        figures[key] = Figure(key=key, value=value, unit=str(fig["unit"]), label=str(fig["label"]), kind=fig["kind"],
                              source=str(fig["source"]), approximate=bool(fig.get("approximate", False)),
                              bound=fig.get("bound"))
    for attr, key in _PRIMARY_KEYS.items():
        if key not in figures or figures[key].kind != "primary":
            raise SeedError(f"{path}: primary figure {key!r} ({attr}) is missing")
    meta = data.get("meta", {})
    return Reference(figures=figures, source=str(meta.get("source", "")), path=str(path), extra=meta)


@lru_cache(maxsize=None)
def _cached(path: str) -> Reference:
    return load(path)


def reference(path: str | Path | None = None) -> Reference:
    """The reference figures (the packaged ``reference.toml`` unless ``path`` names another file)."""
    return _cached(str(Path(path) if path is not None else _default_path()))


__all__ = ["Figure", "Reference", "SeedError", "load", "reference"]

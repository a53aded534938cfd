"""Named colours for objects and instruction slots ("the red cube").

A colour in a task file is a name from `COLORS` or an RGBA list of four numbers in [0, 1] (RGB of three is accepted,
alpha 1). Objects given an RGBA still get a name for the instruction: the nearest named colour. Pure Python: no
PyBullet, so task files can be checked without a simulator.
"""
from __future__ import annotations

from collections.abc import Sequence

COLORS: dict[str, tuple[float, float, float, float]] = {
    "red": (0.85, 0.12, 0.10, 1.0),
    "green": (0.15, 0.70, 0.20, 1.0),
    "blue": (0.12, 0.30, 0.85, 1.0),
    "yellow": (0.95, 0.85, 0.15, 1.0),
    "orange": (0.95, 0.50, 0.10, 1.0),
    "purple": (0.55, 0.20, 0.70, 1.0),
    "pink": (0.95, 0.50, 0.70, 1.0),
    "cyan": (0.15, 0.80, 0.85, 1.0),
    "white": (0.95, 0.95, 0.95, 1.0),
    "black": (0.08, 0.08, 0.08, 1.0),
    "gray": (0.50, 0.50, 0.50, 1.0),
    "brown": (0.55, 0.35, 0.20, 1.0),
    "wood": (0.55, 0.40, 0.30, 1.0),  # tables and shelves; the name is what an instruction would say
}
ALIASES = {"grey": "gray"}


class ColorError(ValueError):
    """A colour that is neither a known name nor an RGBA list (message is one line)."""


def parse_color(value) -> tuple[tuple[float, float, float, float], str]:
    """(rgba, name) for a colour name or an RGB/RGBA sequence; the name of an RGBA is the nearest named colour."""
    if isinstance(value, str):
        key = ALIASES.get(value.lower(), value.lower())
        if key not in COLORS:
            raise ColorError(f"unknown colour {value!r}; known: {', '.join(COLORS)} "
                             "(or an RGBA list like [1, 0, 0, 1])")
        return COLORS[key], key
    if isinstance(value, Sequence) and len(value) in (3, 4) and all(
            isinstance(c, (int, float)) and not isinstance(c, bool) and 0.0 <= c <= 1.0 for c in value):
        rgba = tuple(float(c) for c in value) + ((1.0,) if len(value) == 3 else ())
        return rgba, nearest_color_name(rgba)
    raise ColorError(f"{value!r} is not a colour; give a name ({', '.join(COLORS)}) "
                     "or an RGBA list of 4 numbers in [0, 1]")


def nearest_color_name(rgba: Sequence[float]) -> str:
    """The named colour closest in RGB (alpha ignored); "wood" is a fixture colour and never a nearest name."""
    def dist(name: str) -> float:
        return sum((a - b) ** 2 for a, b in zip(COLORS[name][:3], rgba[:3]))
    return min((n for n in COLORS if n != "wood"), key=dist)

"""Small inline SVG charts for the dataset report: bars, histograms and per-dimension quantile strips.

Why hand-written SVG and not matplotlib: the report needs a few bar charts and one kind of box plot, and an SVG
string is a few lines per chart, has no dependency, is crisp at any zoom, carries its exact values as hover
titles and embeds in the HTML as text. Every function returns one ``<svg>`` element as a string; all text is
escaped here, so callers may pass names read from the dataset.
"""
from __future__ import annotations

import math
from html import escape
from typing import Sequence

import numpy as np

WIDTH = 460
HEIGHT = 180
_PAD_L, _PAD_R, _PAD_T, _PAD_B = 44, 10, 10, 34
GOOD, BAD, NEUTRAL = "#2e8b57", "#c0504d", "#4f81bd"


def _num(x: float) -> str:
    """A short label for an axis or a tooltip (3 significant figures, no exponent below 1e5)."""
    if x != x:
        return "n/a"
    if x == 0:
        return "0"
    if abs(x) >= 1e5 or abs(x) < 1e-3:
        return f"{x:.2e}"
    return f"{x:.3g}"


def _int(v: float) -> str:
    return str(int(round(v)))


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="{escape(label)}" class="chart">' + "".join(body) + "</svg>")


def _y_axis(body: list[str], ymax: float, plot_h: int, fmt) -> None:
    for k in range(5):
        v = ymax * k / 4
        y = _PAD_T + plot_h - plot_h * k / 4
        body.append(f'<line x1="{_PAD_L}" x2="{WIDTH - _PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        body.append(f'<text x="{_PAD_L - 4}" y="{y + 3:.1f}" text-anchor="end" class="tick">{escape(fmt(v))}</text>')


def stacked_bars(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float], str]], *, title: str,
                 ymax: float | None = None, fmt=_num) -> str:
    """Vertical bars, one per label, each stacking the ``series`` (name, values, colour) from the bottom."""
    n = max(len(labels), 1)
    plot_w, plot_h = WIDTH - _PAD_L - _PAD_R, HEIGHT - _PAD_T - _PAD_B
    totals = np.sum([np.asarray(v, float) for _, v, _ in series], axis=0) if series else np.zeros(n)
    top = float(ymax if ymax is not None else max(float(np.max(totals)) if len(totals) else 0.0, 1e-9))
    if fmt is _int:  # counts: a top that is a multiple of the 4 grid steps, so every tick is a whole number
        top = float(4 * math.ceil(top / 4))
    body: list[str] = []
    _y_axis(body, top, plot_h, fmt)
    slot = plot_w / n
    bar = max(slot * 0.8, 1.0)
    every = max(1, math.ceil(n / 12))  # at most ~12 x labels
    for i, label in enumerate(labels):
        x = _PAD_L + i * slot + (slot - bar) / 2
        base = 0.0
        for name, values, colour in series:
            v = float(values[i])
            if v > 0:
                h = plot_h * v / top
                y = _PAD_T + plot_h - plot_h * (base + v) / top
                body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                            f'<title>{escape(str(label))}: {escape(name)} {escape(fmt(v))}</title></rect>')
            base += v
        if i % every == 0:
            cx = _PAD_L + (i + 0.5) * slot
            body.append(f'<text x="{cx:.1f}" y="{HEIGHT - _PAD_B + 13}" text-anchor="middle" class="tick">'
                        f'{escape(str(label))}</text>')
    legend_x = _PAD_L
    for name, _, colour in series if len(series) > 1 else ():
        body.append(f'<rect x="{legend_x}" y="{HEIGHT - 12}" width="9" height="9" fill="{colour}"/>'
                    f'<text x="{legend_x + 12}" y="{HEIGHT - 4}" class="tick">{escape(name)}</text>')
        legend_x += 12 + 7 * len(name) + 14
    body.append(f'<text x="{WIDTH - _PAD_R}" y="{HEIGHT - 4}" text-anchor="end" class="axis">{escape(title)}</text>')
    return _svg(WIDTH, HEIGHT, body, title)


def length_histogram(lengths: np.ndarray, success: np.ndarray | None, *, bins: int = 20) -> str:
    """Episode lengths in frames, bars split into successful and failed episodes where success is known."""
    lengths = np.asarray(lengths, np.int64)
    lo, hi = (int(lengths.min()), int(lengths.max())) if len(lengths) else (0, 0)
    width = max(1, math.ceil((hi - lo + 1) / bins))
    edges = np.arange(lo, hi + width + 1, width)
    labels = [str(int(e)) for e in edges[:-1]]
    if success is None:
        counts = np.histogram(lengths, edges)[0]
        return stacked_bars(labels, [("episodes", counts, NEUTRAL)], title="episode length (frames)", fmt=_int)
    ok = np.histogram(lengths[success], edges)[0]
    bad = np.histogram(lengths[~success], edges)[0]
    return stacked_bars(labels, [("success", ok, GOOD), ("failure", bad, BAD)], title="episode length (frames)", fmt=_int)


def success_over_seeds(seeds: np.ndarray, success: np.ndarray, *, bins: int = 20) -> str:
    """Success rate of the episodes in consecutive seed ranges: drift or a bad seed range shows as a dip."""
    seeds = np.asarray(seeds, np.int64)
    order = np.argsort(seeds, kind="stable")
    groups = np.array_split(order, min(bins, len(order))) if len(order) else []
    labels = [f"{seeds[g[0]]}" for g in groups]
    rates = [float(np.mean(success[g])) for g in groups]
    return stacked_bars(labels, [("success rate", rates, GOOD)], title="success rate by seed (range start)", ymax=1.0,
                        fmt=lambda v: f"{v:.0%}")


def quantile_strips(names: Sequence[str], stats: dict[str, np.ndarray], *, title: str) -> str:
    """One row per dimension on a shared scale: min..max line, q10..q90 box, q50 tick, mean dot.

    A shared scale shows which dimensions move and which barely do; the exact numbers are in each row's title.
    """
    get = {k: np.asarray(v, np.float64).reshape(-1) for k, v in stats.items()}
    n = len(get["min"])
    names = list(names) if names is not None and len(names) == n else [str(i) for i in range(n)]
    lo, hi = float(np.min(get["min"])), float(np.max(get["max"]))
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    row, label_w, right = 14, 150, 10
    width, height = WIDTH + 120, _PAD_T + n * row + 26
    plot_w = width - label_w - right

    def x(v: float) -> float:
        return label_w + plot_w * (v - lo) / (hi - lo)

    body: list[str] = []
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        body.append(f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{_PAD_T}" y2="{_PAD_T + n * row}" class="grid"/>'
                    f'<text x="{x(v):.1f}" y="{_PAD_T + n * row + 12}" text-anchor="middle" class="tick">{escape(_num(v))}</text>')
    for i in range(n):
        y = _PAD_T + i * row + row / 2
        q = {k: float(get[k][i]) for k in get if len(get[k]) == n}
        tip = ", ".join(f"{k} {_num(v)}" for k, v in q.items() if k != "count")
        body.append(f'<g><title>{escape(names[i])}: {escape(tip)}</title>'
                    f'<text x="{label_w - 4}" y="{y + 3:.1f}" text-anchor="end" class="tick">{escape(names[i][:24])}</text>'
                    f'<line x1="{x(q["min"]):.1f}" x2="{x(q["max"]):.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#888"/>')
        if "q10" in q and "q90" in q:
            body.append(f'<rect x="{x(q["q10"]):.1f}" y="{y - 4:.1f}" width="{max(x(q["q90"]) - x(q["q10"]), 1):.1f}" '
                        f'height="8" fill="{NEUTRAL}" fill-opacity="0.55"/>')
        if "q50" in q:
            body.append(f'<line x1="{x(q["q50"]):.1f}" x2="{x(q["q50"]):.1f}" y1="{y - 5:.1f}" y2="{y + 5:.1f}" stroke="#000"/>')
        if "mean" in q:
            body.append(f'<circle cx="{x(q["mean"]):.1f}" cy="{y:.1f}" r="2" fill="{BAD}"/>')
        body.append("</g>")
    body.append(f'<text x="{width - right}" y="{height - 2}" text-anchor="end" class="axis">{escape(title)}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="{escape(title)}" class="chart">' + "".join(body) + "</svg>")

"""``flywheel dataset report PATH --out FILE.html``: one self-contained HTML page that shows a dataset.

The page holds everything inline (CSS, a few lines of JS, SVG charts, sample episodes as ``data:video/mp4``
URIs) and references nothing outside itself, so it can be mailed, attached to a pull request or opened offline.
Sections: summary and how the dataset was made (``meta/flywheel.json``), success per task, per instruction and
per robot, histograms of episode length and of success over seeds, per-feature distributions from
``stats.json``, and a strip of sample episodes as playable video.

This module is pure (a `ReportData` in, HTML out; `report_data.gather` reads the dataset). Re-rendering the
sample episodes of a state-only dataset needs the simulator, which ``datasets`` must not import; the layer that
can (collectors) registers it with `use_renderer`, as ``flywheel.cli.compose_layers`` does.

The page's script records, in ``<body data-videos=...>``, how many of its videos reached ``loadeddata``
(``readyState >= 2``) and how many have played (``currentTime > 0``), and any error, so a headless browser test
can read the result from the DOM.
"""
from __future__ import annotations

import base64
import os
from collections import defaultdict
from html import escape
from pathlib import Path
from typing import Sequence

import numpy as np

from . import report_svg as svg
from . import schema
from ._io import write_bytes_atomic
from .report_data import ReportData, Renderer, gather

_RENDERER: Renderer | None = None
MAX_TABLE_ROWS = 60
MAX_EPISODE_ROWS = 500  # the per-episode table: enough to scan, bounded for datasets of millions of episodes

CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f3b57;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:2px 0 0;opacity:.8;font-size:12px;word-break:break-all}
main{padding:8px 24px 40px;max-width:1280px}section{margin:18px 0}h2{font-size:16px;border-bottom:1px solid #ddd;padding-bottom:3px}
table{border-collapse:collapse;font-size:13px;background:#fff}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.grid-2{display:flex;flex-wrap:wrap;gap:18px}.chart{background:#fff;border:1px solid #e3e3e3}
.chart .grid{stroke:#eee}.chart .tick{font-size:10px;fill:#555}.chart .axis{font-size:11px;fill:#222}
.bar{display:inline-block;height:9px;background:#2e8b57;vertical-align:middle}.bar.bad{background:#c0504d}
.clips{display:flex;flex-wrap:wrap;gap:14px}.clip{background:#fff;border:1px solid #e3e3e3;padding:6px;width:260px}
.clip video{width:256px;height:256px;background:#000;object-fit:contain}.clip p{margin:4px 0 0;font-size:12px}
.clip .src{color:#777}.note{background:#fff7e0;border:1px solid #f0d890;padding:6px 10px}
details{margin:6px 0}summary{cursor:pointer}
"""

SCRIPT = """
(function(){
  var vids=document.querySelectorAll('video'), state={total:vids.length,ready:0,playing:0,errors:[]};
  function show(){document.body.setAttribute('data-videos',JSON.stringify(state));}
  window.addEventListener('error',function(e){state.errors.push(String(e.message));show();});
  vids.forEach(function(v){
    function ok(){if(!v.dataset.ready&&v.readyState>=2){v.dataset.ready='1';state.ready++;show();}}
    v.addEventListener('loadeddata',ok);
    v.addEventListener('timeupdate',function(){if(!v.dataset.played&&v.currentTime>0){v.dataset.played='1';state.playing++;show();}});
    v.addEventListener('error',function(){state.errors.push('video '+v.id+': '+(v.error&&v.error.code));show();});
    ok();
  });
  show();
})();
"""


def use_renderer(renderer: Renderer | None) -> None:
    """Register how state-only datasets get their sample videos (the collectors' replay renderer)."""
    global _RENDERER
    _RENDERER = renderer


def write_report(path: str | os.PathLike, out: str | os.PathLike, *, samples: int = 4, render: bool = True) -> Path:
    """Read the dataset at ``path`` and write its report to ``out`` (atomically); returns ``out``."""
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"--out {out}: the report is an HTML file; give a name ending in .html")
    data = gather(path, samples=samples, renderer=_RENDERER if render else None)
    write_bytes_atomic(out, build_html(data).encode("utf-8"))
    return out


# ---- HTML -------------------------------------------------------------------------------------------
def _table(header: Sequence[str], rows: Sequence[Sequence[object]], numeric: Sequence[int] = (),
           most: int = MAX_TABLE_ROWS, total: int | None = None) -> str:
    """An HTML table of the first ``most`` rows; a last row counts the rest (of ``total``, default len(rows))."""
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    head = f"<thead><tr>{head}</tr></thead>" if any(header) else ""
    body = []
    for r in rows[:most]:
        cells = []
        for j, v in enumerate(r):
            text = v if isinstance(v, _Raw) else escape(str(v))
            cells.append(f'<td class="num">{text}</td>' if j in numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    total = len(rows) if total is None else total
    more = f'<tr><td colspan="{len(header)}">... {total - most} more rows</td></tr>' if total > most else ""
    return f"<table>{head}<tbody>{''.join(body)}{more}</tbody></table>"


class _Raw(str):
    """Table cell HTML built here (not escaped again)."""


def _rate_bar(rate: float) -> _Raw:
    if rate != rate:
        return _Raw("n/a")
    ok, bad = round(100 * rate), 100 - round(100 * rate)
    return _Raw(f'<span class="bar" style="width:{ok}px"></span><span class="bar bad" style="width:{bad}px"></span> '
                f"{rate:.1%}")


def success_rows(groups: Sequence[str], length: np.ndarray, success: np.ndarray | None) -> list[list[object]]:
    """One row per group: name, episodes, successes, success rate, mean length (the order groups first appear)."""
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    rows = []
    for g, idx in members.items():
        ok = int(success[idx].sum()) if success is not None else None
        rate = ok / len(idx) if ok is not None else float("nan")
        rows.append([g, len(idx), "n/a" if ok is None else ok, _rate_bar(rate), f"{float(np.mean(length[idx])):.1f}"])
    return rows


def _success_section(data: ReportData) -> str:
    header = ("", "episodes", "successes", "success rate", "mean length")
    parts = ["<h2>Success</h2>"]
    for title, groups in (("per task", data.task), ("per robot", data.robot), ("per instruction", data.instruction)):
        parts.append(f"<h3>{escape(title)}</h3>" + _table((title.split()[1],) + header[1:],
                                                          success_rows(groups, data.length, data.success), (1, 2, 4)))
    return "<section id='success'>" + "".join(parts) + "</section>"


def _episodes_table(data: ReportData) -> str:
    rows = []
    for i in range(min(len(data.length), MAX_EPISODE_ROWS)):
        ok = "n/a" if data.success is None else ("✓" if data.success[i] else "✗")
        seed = "" if data.seed is None else int(data.seed[i])
        rows.append([int(data.episode_index[i]), data.task[i], data.robot[i], seed, int(data.length[i]), ok,
                     data.instruction[i]])
    table = _table(("episode", "task", "robot", "seed", "frames", "success", "instruction"), rows, (0, 3, 4),
                   most=MAX_EPISODE_ROWS, total=len(data.length))
    return f"<details><summary>every episode ({len(data.length)})</summary>{table}</details>"


def _charts_section(data: ReportData) -> str:
    charts = [svg.length_histogram(data.length, data.success)]
    if data.seed is not None and data.success is not None and len(data.seed):
        charts.append(svg.success_over_seeds(data.seed, data.success))
    return ("<section id='histograms'><h2>Episodes</h2><div class='grid-2'>" + "".join(charts) + "</div>"
            + _episodes_table(data) + "</section>")


def _stats_section(data: ReportData) -> str:
    parts = ["<section id='features'><h2>Feature distributions (meta/stats.json)</h2>",
             "<p>Per dimension on a shared scale: line min..max, box q10..q90, black tick median, red dot mean. "
             "Hover a row for its numbers.</p>"]
    skip = set(schema.STANDARD_FEATURES) - {"next.reward"}
    for name, ft in data.features.items():
        st = data.stats.get(name)
        if name in skip or not st or "min" not in st or "max" not in st:
            continue
        shape = ft.get("shape") or [1]
        if schema.is_image(ft) or schema.is_video(ft) or ft.get("dtype") in ("image", "video"):
            names = ["red", "green", "blue"][: int(np.asarray(st["min"]).size)]
        else:
            names = ft.get("names")
            if isinstance(names, dict):  # LeRobot writes {"motors": [...]} sometimes
                names = next(iter(names.values()), None)
        dims = int(np.asarray(st["min"]).size)
        chart = svg.quantile_strips(names or [], st, title=f"{name} ({ft.get('dtype')}, shape {shape})")
        open_attr = " open" if dims <= 16 else ""
        parts.append(f"<details{open_attr}><summary>{escape(name)}: {dims} dimension(s)</summary>{chart}</details>")
    return "".join(parts) + "</section>"


def _clips_section(data: ReportData) -> str:
    parts = ["<section id='samples'><h2>Sample episodes</h2>"]
    if data.clips:
        parts.append("<div class='clips'>")
        for c in data.clips:
            uri = "data:video/mp4;base64," + base64.b64encode(c.mp4).decode("ascii")
            parts.append(f"<div class='clip'><video id='episode-{c.episode}' src='{uri}' muted autoplay loop playsinline "
                         f"controls preload='auto'></video><p>{escape(c.caption)}</p><p class='src'>{escape(c.source)}</p></div>")
        parts.append("</div>")
    else:
        parts.append("<p>No sample videos.</p>")
    return "".join(parts) + "</section>"


def build_html(data: ReportData) -> str:
    """The report page for ``data``: one HTML document with nothing outside it."""
    notes = "".join(f"<p class='note'>{escape(n)}</p>" for n in data.notes)
    collection = (_table(("", ""), data.collection) if data.collection
                  else "<p>No meta/flywheel.json: not collected by flywheel.</p>")
    body = [
        f"<header><h1>Dataset report: {escape(data.title)}</h1><p>{escape(data.path)}</p></header><main>",
        notes,
        "<div class='grid-2'><section id='summary'><h2>Summary</h2>" + _table(("", ""), data.summary) + "</section>",
        "<section id='collection'><h2>How it was made</h2>" + collection + "</section></div>",
        _clips_section(data),
        _success_section(data),
        _charts_section(data),
        _stats_section(data),
        "</main>",
    ]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{escape(data.title)}: flywheel dataset report</title><style>{CSS}</style></head><body>"
            + "".join(body) + f"<script>{SCRIPT}</script></body></html>")

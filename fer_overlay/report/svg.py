"""Inline SVG charts built as strings: no plotting library, no network, every text escaped."""

from __future__ import annotations

from html import escape

import numpy as np

from ..types import LABELS
from .data import ABSENT, CAMERA_OFF, UNKNOWN, ReportData, balance_of, dominant_states
from .moments import Kind, Moment

# One palette for the timeline, the heat map and the legends: positive warm, negative cool/red.
COLORS: dict[str, str] = {
    "happy": "#f2b33d", "surprise": "#f57f4f", "neutral": "#bfcad6", "sad": "#4f7fb0",
    "fear": "#8e6ccf", "disgust": "#6f8f3a", "angry": "#d1495b",
}
STATE_COLORS: tuple[str, ...] = (*(COLORS[n] for n in LABELS), "#e7e1d6", "#5b6470", "#f2f3f5")
STATE_NAMES: tuple[str, ...] = (*LABELS, "unknown", "camera off", "away")
STACK_ORDER: tuple[str, ...] = ("happy", "surprise", "neutral", "sad", "fear", "disgust", "angry")

WIDTH = 1100
LEFT, RIGHT = 56, 16


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _f(x: float) -> str:
    return f"{x:.1f}"


def _ticks(data: ReportData) -> list[int]:
    span = max(data.seconds, 1)
    step = next((s for s in (30, 60, 120, 300, 600, 900, 1800, 3600) if span / s <= 12), 7200)
    start = data.info.started_at
    first = -(start.hour * 3600 + start.minute * 60 + start.second) % step  # round clock times: 10:05, 10:10
    return list(range(first, data.seconds + 1, step))


def _tick_label(data: ReportData, t: int) -> str:
    fmt = "%H:%M:%S" if data.seconds < 600 else "%H:%M"
    return data.info.clock(t).strftime(fmt)


def _x(data: ReportData, t: float, left: float, width: float) -> float:
    return left + width * t / max(data.seconds, 1)


def timeline_svg(data: ReportData, turn_list: list[Moment]) -> str:
    """Stacked emotion shares per bin on top, positive/negative balance below, bookmarks across."""
    pw = WIDTH - LEFT - RIGHT
    top, h1, gap, h2 = 34, 190, 18, 90
    y2 = top + h1 + gap
    height = y2 + h2 + 30
    binned = data.per_bin(data.counts).astype(float)
    classified = binned.sum(axis=1)
    shares = binned / np.maximum(classified, 1)[:, None]
    edges = data.bin_edges()
    centers = (edges[:-1] + edges[1:]) / 2
    xs = [LEFT, *(_x(data, c, LEFT, pw) for c in centers), LEFT + pw]

    out = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
           f'aria-label="Class mood over time" xmlns="http://www.w3.org/2000/svg">',
           f'<rect x="{LEFT}" y="{top}" width="{pw}" height="{h1}" fill="#f2f3f5"/>']
    lower = np.zeros(len(centers))
    for name in STACK_ORDER:
        upper = lower + shares[:, LABELS.index(name)]
        ups = [upper[0], *upper, upper[-1]] if len(upper) else []
        los = [lower[0], *lower, lower[-1]] if len(lower) else []
        pts = [f"{_f(x)},{_f(top + h1 * (1 - v))}" for x, v in zip(xs, ups, strict=True)]
        pts += [f"{_f(x)},{_f(top + h1 * (1 - v))}" for x, v in zip(reversed(xs), reversed(los), strict=True)]
        if pts:
            out.append(f'<polygon points="{" ".join(pts)}" fill="{COLORS[name]}"><title>{name}</title></polygon>')
        lower = upper
    for frac in (0.0, 0.5, 1.0):
        y = top + h1 * (1 - frac)
        out.append(f'<text x="{LEFT - 6}" y="{_f(y + 4)}" class="axis" text-anchor="end">{frac:.0%}</text>')

    # Balance: area around zero, green above and red below (two clips of one path).
    mid = y2 + h2 / 2
    bal = np.nan_to_num(balance_of(binned), nan=0.0)
    bals = [bal[0], *bal, bal[-1]] if len(bal) else []
    line = " ".join(f"{_f(x)},{_f(mid - v * h2 / 2)}" for x, v in zip(xs, bals, strict=True))
    out += [
        f'<rect x="{LEFT}" y="{y2}" width="{pw}" height="{h2}" fill="#f7f8fa"/>',
        f'<clipPath id="pos"><rect x="{LEFT}" y="{y2}" width="{pw}" height="{h2 / 2}"/></clipPath>',
        f'<clipPath id="neg"><rect x="{LEFT}" y="{mid}" width="{pw}" height="{h2 / 2}"/></clipPath>',
    ]
    if line:
        area = f"{LEFT},{_f(mid)} {line} {LEFT + pw},{_f(mid)}"
        out += [f'<polygon points="{area}" fill="#5fb37a" clip-path="url(#pos)"/>',
                f'<polygon points="{area}" fill="#e07a7a" clip-path="url(#neg)"/>',
                f'<polyline points="{line}" fill="none" stroke="#39424e" stroke-width="1"/>']
    out.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{_f(mid)}" y2="{_f(mid)}" stroke="#8a939e"/>')
    for v, label in ((1, "+1"), (0, "0"), (-1, "−1")):
        out.append(f'<text x="{LEFT - 6}" y="{_f(mid - v * h2 / 2 + 4)}" class="axis" text-anchor="end">{label}</text>')
    out.append(f'<text x="{LEFT + 4}" y="{y2 + 12}" class="axis">balance (positive − negative)</text>')

    for m in turn_list:
        x = _x(data, m.start, LEFT, pw)
        up = m.kind is Kind.BRIGHTENED
        y = mid - (10 if up else -10)
        tip = f"{m.kind.value} at {_tick_label(data, m.start)}: {m.detail}"
        shape = f"{_f(x - 5)},{_f(y + 4)} {_f(x + 5)},{_f(y + 4)} {_f(x)},{_f(y - 5)}" if up else \
            f"{_f(x - 5)},{_f(y - 4)} {_f(x + 5)},{_f(y - 4)} {_f(x)},{_f(y + 5)}"
        out.append(f'<polygon points="{shape}" fill="#1f2933"><title>{_e(tip)}</title></polygon>')

    for i, mark in enumerate(data.bookmarks):
        x = _x(data, mark.t, LEFT, pw)
        label = mark.label if len(mark.label) <= 28 else mark.label[:27] + "…"
        ly = 12 + (i % 2) * 12
        anchor = "end" if x > LEFT + pw * 0.85 else "start"
        out += [f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{ly + 2}" y2="{y2 + h2}" class="mark"/>',
                f'<text x="{_f(x + (-3 if anchor == "end" else 3))}" y="{ly}" class="marklabel" '
                f'text-anchor="{anchor}">{_e(label)}<title>{_e(mark.label)}</title></text>']
    for t in _ticks(data):
        x = _x(data, t, LEFT, pw)
        out += [f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{y2 + h2}" y2="{y2 + h2 + 4}" stroke="#8a939e"/>',
                f'<text x="{_f(x)}" y="{y2 + h2 + 18}" class="axis" text-anchor="middle">'
                f"{_e(_tick_label(data, t))}</text>"]
    out.append("</svg>")
    return "\n".join(out)


def heatmap_svg(data: ReportData) -> str:
    """Rows = students, columns = bins, colour = the state shown most (see dominant_states)."""
    n, bins = len(data.names), data.n_bins
    label_w = 170
    pw = WIDTH - label_w - RIGHT
    row = 16 if n <= 60 else 10
    top = 6
    height = top + n * row + 28
    cell = pw / max(bins, 1)
    states = dominant_states(data)
    out = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
           f'aria-label="Emotion per student over time" xmlns="http://www.w3.org/2000/svg">']
    for r, name in enumerate(data.names):
        y = top + r * row
        shown = name if len(name) <= 24 else name[:23] + "…"
        out.append(f'<text x="{label_w - 8}" y="{y + row - 4}" class="name" text-anchor="end">{_e(shown)}'
                   f"<title>{_e(name)}</title></text>")
        line = states[r]
        start = 0
        for b in range(1, bins + 1):  # one rect per run of equal cells keeps the DOM small
            if b < bins and line[b] == line[start]:
                continue
            s = int(line[start])
            t0, t1 = start * data.bin_s, min(b * data.bin_s, data.seconds)
            tip = f"{name} · {_tick_label(data, t0)}–{_tick_label(data, t1)} · {STATE_NAMES[s]}"
            out.append(f'<rect x="{_f(label_w + start * cell)}" y="{y}" width="{_f((b - start) * cell + 0.3)}" '
                       f'height="{row - 2}" fill="{STATE_COLORS[s]}"><title>{_e(tip)}</title></rect>')
            start = b
    for t in _ticks(data):
        x = label_w + pw * t / max(data.seconds, 1)
        out.append(f'<text x="{_f(x)}" y="{top + n * row + 16}" class="axis" text-anchor="middle">'
                   f"{_e(_tick_label(data, t))}</text>")
    out.append("</svg>")
    return "\n".join(out)


def legend_html(states: bool) -> str:
    """Colour keys as HTML (wraps nicely); ``states`` adds unknown / camera off / away."""
    idx = [LABELS.index(n) for n in STACK_ORDER] + ([UNKNOWN, CAMERA_OFF, ABSENT] if states else [])
    items = "".join(f'<span class="key"><i style="background:{STATE_COLORS[i]}"></i>{_e(STATE_NAMES[i])}</span>'
                    for i in idx)
    return f'<div class="legend">{items}</div>'


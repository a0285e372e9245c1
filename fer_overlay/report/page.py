"""The report page: one self-contained HTML file (inline CSS and SVG; no scripts, fonts or network)."""

from __future__ import annotations

from html import escape

import numpy as np

from ..store import SessionState
from ..types import LABELS
from .data import VALENCE, ReportData, balance_of
from .moments import Kind, Moment, clock, stretches, summary, turns
from .svg import heatmap_svg, legend_html, timeline_svg

CSS = """
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif;
       color: #1f2933; background: #fff; margin: 0; }
main { max-width: 1140px; margin: 0 auto; padding: 28px 24px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 34px 0 8px; padding-bottom: 4px; border-bottom: 1px solid #e4e7eb; }
.sub { color: #52606d; margin: 0; }
.badge { display: inline-block; font-size: 12px; padding: 1px 8px; border-radius: 10px; background: #e8eef5;
         color: #334e68; margin-left: 6px; vertical-align: middle; }
.summary { background: #f5f8fb; border-left: 4px solid #4f7fb0; padding: 12px 16px; margin: 18px 0 0;
           font-size: 16px; }
.summary p { margin: 0; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin-top: 16px; }
.card { border: 1px solid #e4e7eb; border-radius: 8px; padding: 8px 14px; min-width: 120px; }
.card b { display: block; font-size: 20px; }
.card span { color: #616e7c; font-size: 13px; }
.chart { width: 100%; height: auto; display: block; }
.chart text { font-size: 12px; fill: #3e4c59; }
.chart .axis { fill: #7b8794; font-size: 11px; }
.chart .name { font-size: 11.5px; fill: #323f4b; }
.chart .mark { stroke: #1f2933; stroke-dasharray: 4 3; stroke-width: 1; }
.chart .marklabel { font-size: 11.5px; font-weight: 600; fill: #1f2933; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 13px; color: #3e4c59; margin: 6px 0 0 56px; }
.key i { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 5px;
         vertical-align: -1px; border: 1px solid rgba(0,0,0,.08); }
.note { color: #616e7c; font-size: 13px; margin: 4px 0; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 5px 10px; border-bottom: 1px solid #eef0f2; }
th { color: #52606d; font-weight: 600; background: #f9fafb; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.meter { font-variant-numeric: tabular-nums; white-space: nowrap; }
.bar { display: inline-block; width: 70px; height: 8px; background: #eef0f2; border-radius: 4px;
       margin-right: 8px; vertical-align: 1px; overflow: hidden; }
.bar b { display: block; height: 100%; background: #4f7fb0; }
.up { color: #2f8a4e; font-weight: 600; } .down { color: #c0392b; font-weight: 600; }
footer { margin-top: 40px; color: #7b8794; font-size: 12.5px; }
@media print { main { padding: 0; } h2 { break-after: avoid; } }
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def duration_text(seconds: int) -> str:
    h, rem = divmod(int(seconds), 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h} h {m:02d} min"
    return f"{m} min {s:02d} s" if m < 10 and s else f"{m} min"


def _pct(part: float, whole: float) -> str:
    return f"{part / whole:.0%}" if whole else "–"


def _bar(frac: float) -> str:
    return f'<span class="bar"><b style="width:{max(0.0, min(1.0, frac)) * 100:.0f}%"></b></span>'


def _header(data: ReportData) -> str:
    info = data.info
    start = info.started_at
    end = info.clock(data.seconds)
    badges = ["anonymous"] if info.anonymous else []
    if info.state is SessionState.RECORDING:
        badges.append("still being recorded")  # a report made during the class: the end is not in yet
    elif info.ended_at is None:
        badges.append("recording ended unexpectedly")
    if info.settings.get("analysed_from"):
        # `analyze --record`: the clock times are the file's time less its length, an estimate.
        badges.append("analysed from a recording; times estimated")
    tags = "".join(f'<span class="badge">{_e(b)}</span>' for b in badges)
    return (f"<header><h1>Class report — {_e(start.strftime('%A %d %B %Y'))}{tags}</h1>"
            f'<p class="sub">{_e(start.strftime("%H:%M"))}–{_e(end.strftime("%H:%M"))} · '
            f"{_e(duration_text(data.seconds))} · {len(data.names)} students · source: {_e(info.source)} · "
            f"session {info.id} ({_e(info.label)})</p></header>")


def _cards(data: ReportData) -> str:
    total = data.counts.sum(axis=0)
    bal = balance_of(total[None, :])[0]
    seen = data.present + data.away
    avg = float(data.present[seen > 0].mean()) if (seen > 0).any() else 0.0
    cards = [(duration_text(data.seconds), "recorded"), (str(len(data.names)), "students"),
             (f"{avg:.0f}", "visible on average"),
             ("–" if np.isnan(bal) else f"{bal:+.2f}", "mood balance (−1…+1)"),
             (str(len(data.bookmarks)), "bookmarks")]
    return '<div class="cards">' + "".join(f"<div class=card><b>{_e(v)}</b><span>{_e(k)}</span></div>"
                                           for v, k in cards) + "</div>"


def _moments_table(data: ReportData, items: list[Moment]) -> str:
    if not items:
        return '<p class="note">No turning points or long stretches stood out in this session.</p>'
    rows = []
    for m in sorted(items, key=lambda m: m.start):
        when = clock(data, m.start) + (f"–{clock(data, m.end)}" if m.end > m.start else "")
        css = "up" if m.kind is Kind.BRIGHTENED else "down" if m.kind in (Kind.DARKENED, Kind.NEGATIVE) else ""
        what = m.kind.value + (" (flagged live)" if m.flagged else "")
        mark = _e(m.bookmark.label) if m.bookmark else ""
        rows.append(f'<tr><td class="num">{_e(when)}</td><td class="{css}">{_e(what)}</td>'
                    f"<td>{_e(m.detail)}</td><td>{mark}</td></tr>")
    return ("<table><thead><tr><th>Time</th><th>What</th><th>Details</th><th>Bookmark</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _attendance_table(data: ReportData) -> str:
    if not data.names:
        return '<p class="note">No students were recorded.</p>'
    present, camera, emo = data.present_s, data.camera_s, data.emotion_s
    rows = []
    for i, name in enumerate(data.names):
        classified = emo[i].sum()
        mostly = LABELS[int(emo[i].argmax())] if classified else "–"
        pos = emo[i][VALENCE > 0].sum()
        neg = emo[i][VALENCE < 0].sum()
        rows.append(
            f"<tr><td>{_e(name)}</td>"
            f'<td class="meter">{_bar(present[i] / max(data.seconds, 1))}{_e(duration_text(present[i]))} '
            f"({_pct(present[i], data.seconds)})</td>"
            f'<td class="meter">{_bar(camera[i] / max(present[i], 1))}{_pct(camera[i], present[i])}</td>'
            f"<td>{_e(mostly)}</td>"
            f'<td class="num">{_pct(pos, classified)}</td><td class="num">{_pct(neg, classified)}</td></tr>')
    return ("<table><thead><tr><th>Student</th><th>In the meeting</th><th>Camera on</th><th>Mostly</th>"
            "<th>Positive</th><th>Negative</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def render_page(data: ReportData) -> str:
    turn_list = turns(data)
    stretch_list = stretches(data)
    sentences = summary(data, turn_list, stretch_list)
    bin_text = f"{data.bin_s // 60} minute" if data.bin_s % 60 == 0 else f"{data.bin_s} seconds"
    bin_text = "minute" if data.bin_s == 60 else bin_text
    body = [
        _header(data),
        f'<section class="summary" id="summary"><p>{_e(" ".join(sentences))}</p></section>',
        _cards(data),
        '<section id="timeline"><h2>Class mood over time</h2>',
        f'<p class="note">Share of each emotion among classified faces per {_e(bin_text)}; below, the balance '
        f"of positive (happy, surprise) minus negative (angry, disgust, fear, sad) faces. Dashed lines are "
        f"bookmarks, triangles turning points.</p>",
        timeline_svg(data, turn_list) if data.seconds else '<p class="note">Nothing was recorded.</p>',
        legend_html(states=False), "</section>",
        '<section id="students"><h2>Students</h2>',
        f'<p class="note">One row per student, one column per {_e(bin_text)}. A colour shows an emotion seen for '
        f"at least a third of that time; otherwise neutral.</p>",
        heatmap_svg(data) if data.names and data.seconds else '<p class="note">No students were recorded.</p>',
        legend_html(states=True), "</section>",
        '<section id="moments"><h2>Moments</h2>', _moments_table(data, turn_list + stretch_list), "</section>",
        '<section id="attendance"><h2>Attendance and camera</h2>', _attendance_table(data), "</section>",
        f"<footer>Generated by fer_overlay {_e(data.info.app_version)} from the session record. Emotion "
        f"estimates are automatic and often wrong for individuals: use them as a hint about the class, never "
        f"to grade a student.</footer>",
    ]
    title = f"Class report {data.info.started_at.strftime('%Y-%m-%d %H:%M')}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            # No network at all: blocks any accidental remote resource, even from an injected name.
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head>\n<body><main>\n"
            + "\n".join(body) + "\n</main></body></html>\n")


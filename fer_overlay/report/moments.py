"""Finding the moments worth a teacher's attention, and saying it in a few sentences."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from ..store import Bookmark
from ..types import LABELS, NUM_CLASSES
from .data import CAMERA_OFF, VALENCE, ReportData, balance_of, rolling_sum

WINDOW = 60  # seconds compared before/after a turn, and smoothing for stretches
TURN_MIN_SHIFT = 0.2  # balance change (on -1..1) that counts as a turn when not flagged live
NEGATIVE_LEVEL = -0.15  # smoothed balance below this is a "negative" second
NEGATIVE_MIN_S = 60
AWAY_LEVEL = 0.35  # share of the class away or camera off
AWAY_MIN_S = 120
BOOKMARK_NEAR_S = 120
MAX_TURNS = 8


class Kind(str, Enum):
    BRIGHTENED = "brightened"
    DARKENED = "darkened"
    SHIFTED = "shifted"
    NEGATIVE = "negative stretch"
    AWAY = "disengaged"


@dataclass(frozen=True)
class Moment:
    kind: Kind
    start: int
    end: int  # == start for turns
    shift: float  # balance after - before for turns; mean balance / away share for stretches
    detail: str  # plain text (escaped by the page)
    bookmark: Bookmark | None = None
    flagged: bool = False  # the live analysis marked this turn


def _shift_at(counts: np.ndarray, t: int) -> float:
    """Balance in the minute after t minus the minute before (NaN-safe: 0 when unknown)."""
    before = counts[max(0, t - WINDOW): t].sum(axis=0)
    after = counts[t: t + WINDOW].sum(axis=0)
    b, a = balance_of(np.stack([before, after]))
    return 0.0 if np.isnan(a) or np.isnan(b) else float(a - b)


def _near_bookmark(marks: tuple[Bookmark, ...], t: int) -> Bookmark | None:
    near = [m for m in marks if abs(m.t - t) <= BOOKMARK_NEAR_S]
    return min(near, key=lambda m: abs(m.t - t)) if near else None


def turns(data: ReportData) -> list[Moment]:
    """Live-flagged turns (clustered) plus the biggest balance shifts the analysis did not flag."""
    counts = data.counts
    picks: list[tuple[int, bool]] = []
    for t in data.turns.tolist():
        if not picks or t - picks[-1][0] > 30:
            picks.append((int(t), True))
    if len(counts) > 2 * WINDOW:
        c = np.concatenate([np.zeros((1, NUM_CLASSES)), np.cumsum(counts, axis=0)])
        ts = np.arange(WINDOW, len(counts) - WINDOW + 1)
        d = balance_of(c[ts + WINDOW] - c[ts]) - balance_of(c[ts] - c[ts - WINDOW])
        d = np.nan_to_num(d)
        order = np.argsort(-np.abs(d))
        chosen: list[int] = []
        for i in order[: 20 * MAX_TURNS]:
            if abs(d[i]) < TURN_MIN_SHIFT:
                break
            t = int(ts[i])
            if all(abs(t - p) > 3 * WINDOW for p in chosen) and all(abs(t - p) > 90 for p, _ in picks):
                chosen.append(t)
        picks += [(t, False) for t in chosen]
    out = []
    for t, flagged in picks:
        shift = _shift_at(counts, t)
        kind = Kind.BRIGHTENED if shift > 0.1 else Kind.DARKENED if shift < -0.1 else Kind.SHIFTED
        detail = _what_changed(counts, t, shift)
        out.append(Moment(kind, t, t, shift, detail, _near_bookmark(data.bookmarks, t), flagged))
    out.sort(key=lambda m: -abs(m.shift))
    return sorted(out[:MAX_TURNS], key=lambda m: m.start)


def _what_changed(counts: np.ndarray, t: int, shift: float) -> str:
    """The emotion whose share moved most in the direction of the turn, e.g. 'sad 5% → 31%'."""
    before = counts[max(0, t - WINDOW): t].sum(axis=0)
    after = counts[t: t + WINDOW].sum(axis=0)
    if not before.sum() or not after.sum():
        return f"balance {shift:+.2f}"
    delta = after / after.sum() - before / before.sum()
    sign = 1 if shift >= 0 else -1
    # The biggest move that explains the turn: an emotion of its sign growing, or of the other sign shrinking.
    aligned = VALENCE * sign
    explains = ((aligned > 0) & (delta > 0)) | ((aligned < 0) & (delta < 0))
    i = int(np.argmax(np.where(explains, np.abs(delta), -1.0))) if explains.any() else int(np.argmax(np.abs(delta)))
    b, a = before[i] / before.sum(), after[i] / after.sum()
    return f"{LABELS[i]} {b:.0%} → {a:.0%} of faces; balance {shift:+.2f} over a minute"


def _runs(mask: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    """[start, end) of True runs at least min_len long."""
    if not len(mask):
        return []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= min_len]


def stretches(data: ReportData) -> list[Moment]:
    """Sustained negative mood, and stretches with many students away or camera off."""
    out: list[Moment] = []
    smooth = balance_of(rolling_sum(data.counts, WINDOW))
    for a, b in _runs(np.nan_to_num(smooth, nan=0.0) < NEGATIVE_LEVEL, NEGATIVE_MIN_S):
        seg = data.counts[a:b].sum(axis=0)
        neg = [i for i in np.argsort(-seg) if LABELS[i] in ("angry", "disgust", "fear", "sad") and seg[i]]
        what = ", ".join(LABELS[i] for i in neg[:2]) or "negative"
        mean = float(np.nanmean(smooth[a:b]))
        out.append(Moment(Kind.NEGATIVE, a, b, mean, f"mostly {what}; balance {mean:+.2f}",
                          _near_bookmark(data.bookmarks, a)))
    everyone = data.present + data.away
    share = rolling_sum(data.away.astype(float), WINDOW) / np.maximum(rolling_sum(everyone.astype(float), WINDOW), 1)
    for a, b in _runs(share >= AWAY_LEVEL, AWAY_MIN_S):
        peak = float(share[a:b].max())
        out.append(Moment(Kind.AWAY, a, b, peak, f"up to {peak:.0%} of the class away or camera off",
                          _near_bookmark(data.bookmarks, a)))
    return sorted(out, key=lambda m: m.start)


def clock(data: ReportData, t: float) -> str:
    return data.info.clock(t).strftime("%H:%M")


def _where(data: ReportData, m: Moment) -> str:
    mark = f" (bookmark “{m.bookmark.label}”)" if m.bookmark else ""
    return f"around {clock(data, m.start)}{mark}"


def summary(data: ReportData, turn_list: list[Moment], stretch_list: list[Moment]) -> list[str]:
    """A few plain sentences from the numbers (plain text; the page escapes it)."""
    total = data.counts.sum(axis=0)
    if total.sum() == 0:
        return ["No emotions were recorded in this session (no faces were visible or classified)."]
    share = total / total.sum()
    order = np.argsort(-share)
    first, second = int(order[0]), int(order[1])
    text = [f"Mood was mostly {LABELS[first]} ({share[first]:.0%} of classified faces)"
            + (f", then {LABELS[second]} ({share[second]:.0%})." if share[second] >= 0.05 else ".")]
    bal = float(balance_of(total[None, :])[0])
    tone = "more positive than negative" if bal > 0.05 else "more negative than positive" if bal < -0.05 \
        else "balanced between positive and negative"
    text.append(f"Overall the class was {tone} (balance {bal:+.2f} on a −1 to +1 scale).")
    up = max((m for m in turn_list if m.kind is Kind.BRIGHTENED), key=lambda m: m.shift, default=None)
    down = min((m for m in turn_list if m.kind is Kind.DARKENED), key=lambda m: m.shift, default=None)
    shown = sorted((m for m in (up, down) if m is not None), key=lambda m: m.start)
    if shown:
        text.append("The class " + " and ".join(f"{m.kind.value} {_where(data, m)}" for m in shown) + ".")
    neg = [m for m in stretch_list if m.kind is Kind.NEGATIVE]
    if neg:
        spans = ", ".join(f"{clock(data, m.start)}–{clock(data, m.end)}" for m in neg[:3])
        mark = f"; bookmark “{neg[0].bookmark.label}”" if neg[0].bookmark else ""
        text.append(f"Sustained negative mood: {spans} ({neg[0].detail.split(';')[0]}{mark}).")
    else:
        text.append("There was no sustained stretch of negative mood.")
    n = len(data.names)
    if n:
        in_view = (data.present + data.away)
        avg_present = float(data.present[in_view > 0].mean()) if (in_view > 0).any() else 0.0
        present = data.present_s
        off_most = int(np.count_nonzero((present > 0) & (data.states[:, :, CAMERA_OFF].sum(axis=1) * 2 > present)))
        cam = f"; {off_most} had their camera off most of the time" if off_most else ""
        text.append(f"On average {avg_present:.0f} of {n} students were visible{cam}.")
    return text

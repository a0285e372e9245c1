"""Everything the report shows, as numpy arrays: the class per second and per bin, students per bin.

Student rows are aggregated in SQL (GROUP BY student, bin, state) so a one-hour, 49-student
session moves a few thousand tuples into Python instead of 176k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..store import Bookmark, SessionInfo, SessionRef, SessionStore, anonymous_names
from ..types import CLASSES, LABELS, NUM_CLASSES

# Student states per second: 0..6 emotions (LABELS order), then these.
UNKNOWN, CAMERA_OFF, ABSENT = NUM_CLASSES, NUM_CLASSES + 1, NUM_CLASSES + 2
N_STATES = NUM_CLASSES + 3
VALENCE = np.array([e.valence for e in CLASSES])
NEUTRAL = LABELS.index("neutral")


@dataclass(frozen=True)
class ReportData:
    info: SessionInfo
    bookmarks: tuple[Bookmark, ...]
    seconds: int  # session length covered by the arrays (last recorded t + 1)
    bin_s: int
    # Per second (index = t); seconds with no class row have all-zero counts.
    counts: np.ndarray  # (seconds, 7) faces per emotion
    present: np.ndarray  # (seconds,) visible faces
    away: np.ndarray  # (seconds,) camera off + not visible
    turns: np.ndarray  # (k,) t of seconds flagged as a turn
    # Per student, in display order.
    names: tuple[str, ...]
    states: np.ndarray  # (students, bins, N_STATES) seconds per state and bin

    @property
    def n_bins(self) -> int:
        return int(self.states.shape[1])

    def bin_edges(self) -> np.ndarray:
        """Start second of each bin, plus the end."""
        return np.minimum(np.arange(self.n_bins + 1) * self.bin_s, self.seconds)

    def per_bin(self, per_second: np.ndarray) -> np.ndarray:
        """Sum a per-second array (first axis) into bins."""
        edges = self.bin_edges()[:-1]
        return np.add.reduceat(per_second, edges, axis=0) if self.seconds else per_second[:0]

    @property
    def present_s(self) -> np.ndarray:
        """Seconds each student was in the meeting (camera on or off)."""
        return self.states[:, :, :ABSENT].sum(axis=(1, 2))

    @property
    def camera_s(self) -> np.ndarray:
        return self.states[:, :, :CAMERA_OFF].sum(axis=(1, 2))

    @property
    def emotion_s(self) -> np.ndarray:
        """(students, 7) seconds per emotion."""
        return self.states[:, :, :NUM_CLASSES].sum(axis=1)


def choose_bin(seconds: int) -> int:
    """A minute per column, finer for short sessions, coarser past three hours."""
    if seconds < 20 * 60:
        return 10
    return 60 * max(1, -(-seconds // (180 * 60)))


def _n_bins(seconds: int, bin_s: int) -> int:
    return max(0, -(-seconds // bin_s))


def load(store: SessionStore, session_id: SessionRef, bin_s: int | None = None) -> ReportData:
    with store.snapshot():  # a session still being recorded must not grow between queries
        return _load(store, session_id, bin_s)


def _load(store: SessionStore, session_id: SessionRef, bin_s: int | None) -> ReportData:
    info = store.get(session_id)
    sid = info.id
    seconds = info.duration_s
    bin_s = bin_s or choose_bin(seconds)
    n_bins = _n_bins(seconds, bin_s)

    cols = ["t", "present", "camera_off + not_visible", *LABELS, "turn"]
    rows = store.query(f"SELECT {', '.join(cols)} FROM class_seconds WHERE session_id = ?", (sid,),
                       "read the class timeline")
    arr = np.array(rows, dtype=np.int64).reshape(-1, len(cols))
    t = arr[:, 0]
    counts = np.zeros((seconds, NUM_CLASSES), np.int64)
    present = np.zeros(seconds, np.int64)
    away = np.zeros(seconds, np.int64)
    counts[t] = arr[:, 3:3 + NUM_CLASSES]
    present[t] = arr[:, 1]
    away[t] = arr[:, 2]
    turns = np.sort(t[arr[:, -1] != 0])

    keys = store.students(sid)
    index = {k: i for i, k in enumerate(keys)}
    states = np.zeros((len(keys), n_bins, N_STATES), np.int64)
    grouped = store.query(
        f"""SELECT student, t / {int(bin_s)} AS b,
                   CASE WHEN present = 0 THEN {ABSENT} WHEN camera_on = 0 THEN {CAMERA_OFF}
                        WHEN emotion < 0 OR emotion >= {NUM_CLASSES} THEN {UNKNOWN} ELSE emotion END AS state,
                   count(*)
            FROM student_seconds WHERE session_id = ? GROUP BY student, b, state""",
        (sid,), "read the student rows")
    if grouped:
        g = np.array([(index.get(k, -1), b, s, n) for k, b, s, n in grouped], dtype=np.int64)
        g = g[(g[:, 0] >= 0) & (g[:, 1] < n_bins)]
        np.add.at(states, (g[:, 0], g[:, 1], g[:, 2]), g[:, 3])
    # Seconds with no row at all (left the meeting, not on the roster yet) count as absent.
    bin_len = np.diff(np.minimum(np.arange(n_bins + 1) * bin_s, seconds))
    states[:, :, ABSENT] += np.maximum(0, bin_len[None, :] - states.sum(axis=2))

    if info.anonymous:
        display = anonymous_names(store, sid)
        names = tuple(display[k] for k in keys)
        order = list(range(len(keys)))  # first appearance, like the numbering
    else:
        shown = store.names(sid)  # "maria lopez" -> "Maria López"; the key where no name was read
        names = tuple(shown.get(k, k) for k in keys)
        order = sorted(range(len(keys)), key=lambda i: names[i].casefold())
    return ReportData(
        info=info, bookmarks=tuple(store.read_bookmarks(sid)), seconds=seconds, bin_s=bin_s,
        counts=counts, present=present, away=away, turns=turns,
        names=tuple(names[i] for i in order), states=states[order],
    )


def dominant_states(data: ReportData) -> np.ndarray:
    """(students, bins) state shown in the heat map.

    Absent if away for half the bin or more; camera off if off for most of the time present;
    otherwise the most frequent non-neutral emotion when it covers a third of the classified
    seconds (so brief smiles and frowns show up), else neutral, else unknown.
    """
    s = data.states
    total = s.sum(axis=2)
    absent = s[:, :, ABSENT] * 2 >= np.maximum(total, 1)
    here = total - s[:, :, ABSENT]
    cam_off = s[:, :, CAMERA_OFF] * 2 > here
    emo = s[:, :, :NUM_CLASSES]
    classified = emo.sum(axis=2)
    non_neutral = emo.copy()
    non_neutral[:, :, NEUTRAL] = -1
    best = non_neutral.argmax(axis=2)
    best_n = np.take_along_axis(emo, best[:, :, None], axis=2)[:, :, 0]
    out = np.where(best_n * 3 >= np.maximum(classified, 1), best, NEUTRAL)
    out = np.where(classified == 0, UNKNOWN, out)
    out = np.where(cam_off, CAMERA_OFF, out)
    return np.where(absent, ABSENT, out)


def rolling_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Sum over [t - window//2, t + window//2) along axis 0, same length, edges truncated."""
    if len(x) == 0:
        return x.astype(np.float64)
    c = np.concatenate([np.zeros((1, *x.shape[1:])), np.cumsum(x, axis=0, dtype=np.float64)])
    idx = np.arange(len(x))
    lo = np.clip(idx - window // 2, 0, len(x))
    hi = np.clip(idx + (window - window // 2), 0, len(x))
    return c[hi] - c[lo]


def balance_of(counts: np.ndarray) -> np.ndarray:
    """(positive - negative) / classified per row; NaN where nobody was classified."""
    classified = counts.sum(axis=-1).astype(np.float64)
    diff = (counts * VALENCE).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(classified > 0, diff / np.maximum(classified, 1), np.nan)

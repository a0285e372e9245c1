"""From analysis frames to what a teacher acts on: per-second records, class turns and
students who need attention.

One record per second of session time holds the state at the end of that second (the
newest analysis), which is what the teacher saw. A *turn* is a second in which many
students' valence differs from what it was a few seconds earlier (a joke lands, a
hard question confuses). A student *needs attention* after being negative, or gone
from view, for longer than `attention_after_s`.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .. import defaults
from ..store import ClassSecond, StudentSecond
from ..types import CLASSES, Analysis, ClassMood, Emotion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InsightOptions:
    attention_after_s: float = defaults.ATTENTION_AFTER_S
    turn_window_s: float = 5.0
    turn_fraction: float = 0.3  # of readable students changing valence within the window
    min_turn_students: int = 3

    def __post_init__(self) -> None:
        if self.attention_after_s <= 0 or self.turn_window_s <= 0:
            raise ValueError("attention_after_s and turn_window_s must be > 0")
        if not 0 < self.turn_fraction <= 1:
            raise ValueError(f"turn_fraction must be in (0, 1], got {self.turn_fraction}")


@dataclass(frozen=True)
class Attention:
    student: str  # the student key
    reason: str  # "negative" or "not visible"
    since_s: float
    name: str = ""  # as the teacher reads it: the display name, else the key


@dataclass
class _Student:
    name: str | None  # the display name, None for a track-N student
    last_seen: float
    last_ok: float  # last time seen with a non-negative emotion
    valence: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=64))  # (second, valence)


def _emotion(index: int) -> Emotion:
    return CLASSES[index] if index >= 0 else Emotion.UNKNOWN


def student_rows(t: int, analysis: Analysis) -> list[StudentSecond]:
    """One row per decided student (``Faces.student``, set by fer_overlay.people.identity); a face
    whose student is not decided yet is left out, and a key seen twice keeps its first face
    (identity never repeats one: this only guards the record)."""
    faces = analysis.faces
    rows = []
    raw_known = np.isfinite(faces.raw_probs).all(axis=1)
    ages = analysis.refresh_age_s if len(analysis.refresh_age_s) == len(faces) else np.full(len(faces), np.nan)
    seen: set[str] = set()
    for i in range(len(faces)):
        key = faces.student[i]
        if key is None:
            continue
        if key in seen:
            log.warning("second %d: student %r is on two faces; the second is not recorded", t, key)
            continue
        seen.add(key)
        reported = int(faces.emotion[i])
        if raw_known[i] and reported >= 0:
            raw, relative = int(np.argmax(faces.raw_probs[i])), _emotion(reported)
            conf = float(faces.raw_probs[i, raw])
        else:
            raw, relative = reported, None
            conf = float(faces.probs[i, raw]) if raw >= 0 else 0.0
        age = float(ages[i]) if np.isfinite(ages[i]) and raw >= 0 else None
        rows.append(StudentSecond(t, key, _emotion(raw), min(max(conf, 0.0), 1.0), relative, name=faces.name[i],
                                  age_s=age))
    return rows


@dataclass
class ClassInsight:
    """Feed it every analysis; it hands back finished seconds to record."""

    options: InsightOptions = field(default_factory=InsightOptions)
    start: float | None = None
    _pending: tuple[int, Analysis, ClassMood] | None = field(default=None, init=False)
    _students: dict[str, _Student] = field(default_factory=dict, init=False)
    _last_turn: float = field(default=-1e9, init=False)
    _renamed: list[tuple[str, str | None]] = field(default_factory=list, init=False)  # for the next second
    turns: list[int] = field(default_factory=list, init=False)

    def add(self, analysis: Analysis, mood: ClassMood) -> list[tuple[ClassSecond, list[StudentSecond]]]:
        if self.start is None:
            self.start = analysis.timestamp
        second = int(analysis.timestamp - self.start)
        done = []
        if self._pending is not None and second > self._pending[0]:
            done.append(self._finish(*self._pending))
        # A second finished above was seen before these renames (its rows carry the old keys);
        # the next one goes out with them, and the store moves what it holds first.
        for old, new in analysis.renamed:
            self._renamed.append((old, new))
            st = self._students.pop(old, None)
            if st is not None and new is not None and new not in self._students:
                self._students[new] = st
        self._pending = (second, analysis, mood)
        return done

    def flush(self) -> list[tuple[ClassSecond, list[StudentSecond]]]:
        done = [self._finish(*self._pending)] if self._pending is not None else []
        self._pending = None
        return done

    def _finish(self, t: int, analysis: Analysis, mood: ClassMood) -> tuple[ClassSecond, list[StudentSecond]]:
        now = analysis.timestamp
        rows = student_rows(t, analysis)
        for row in rows:
            st = self._students.setdefault(row.student, _Student(row.name, now, now))
            st.last_seen = now
            st.name = row.name or st.name
            effective = row.relative or row.emotion
            if effective is not Emotion.UNKNOWN:
                st.valence.append((t, effective.valence))
                if effective.valence >= 0:
                    st.last_ok = now
        seen = {r.student for r in rows}
        gone = [StudentSecond(t, key, present=False, camera_on=False, name=st.name)
                for key, st in self._students.items() if key not in seen]
        turn = self._turn(t, now)
        record = ClassSecond(
            t=t, present=mood.present, camera_off=mood.camera_off, not_visible=len(gone), unknown=mood.unknown,
            counts=mood.counts, balance=float(np.clip(mood.balance, -1, 1)), turn=turn,
            renamed=tuple(self._renamed),
        )
        self._renamed = []
        return record, rows + gone

    def _turn(self, t: int, now: float) -> bool:
        window = self.options.turn_window_s
        changed = readable = 0
        for st in self._students.values():
            if not st.valence or st.valence[-1][0] != t:
                continue
            readable += 1
            before = [v for s, v in st.valence if t - window - 2 <= s <= t - window]
            if before and before[-1] != st.valence[-1][1]:
                changed += 1
        need = max(self.options.min_turn_students, self.options.turn_fraction * readable)
        if readable and changed >= need and now - self._last_turn >= window:
            self._last_turn = now
            self.turns.append(t)
            return True
        return False

    def attention(self, now: float) -> list[Attention]:
        """Students to look at now, longest first."""
        limit = self.options.attention_after_s
        out = []
        for key, st in self._students.items():
            if now - st.last_seen >= limit:
                out.append(Attention(key, "not visible", now - st.last_seen, st.name or key))
            elif now - st.last_ok >= limit:
                out.append(Attention(key, "negative", now - st.last_ok, st.name or key))
        return sorted(out, key=lambda a: -a.since_s)

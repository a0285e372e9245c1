"""What one recorded second looks like: frozen records shared by the writer, the reader and the report.

Emotions are stored as small integer codes (index in :data:`fer_overlay.types.LABELS`,
-1 for unknown) so a one-hour, 49-student session stays a few megabytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from ..types import CLASSES, LABELS, NUM_CLASSES, Emotion

UNKNOWN_CODE = -1

# The live recorder stamps its session's heartbeat at least every few seconds (AsyncWriter);
# with none for this long its process is taken to be gone (crash, kill, full disk). Long
# enough for a busy machine, short enough that a crash blocks `forget` only briefly.
RECORDER_STALE_S = 30.0


class SessionState(str, Enum):
    """What a session's row says about its recording, read at query time."""

    ENDED = "ended"  # ended_at written: stopped normally
    RECORDING = "recording"  # no end, heartbeat fresh: a recorder is writing it now
    INTERRUPTED = "interrupted"  # no end, heartbeat stale: the recorder is gone (crash, full disk)
    UNFINISHED = "unfinished"  # no end and no heartbeat: written without the live recorder

    @classmethod
    def of(cls, ended: bool, heartbeat: float | None, now: float) -> SessionState:
        if ended:
            return cls.ENDED
        if heartbeat is None:
            return cls.UNFINISHED
        # abs(): a heartbeat "in the future" after the clock was set back still counts as
        # fresh only within the window, so a crash is never taken for a live recorder for long.
        return cls.RECORDING if abs(now - heartbeat) <= RECORDER_STALE_S else cls.INTERRUPTED


def emotion_code(emotion: Emotion) -> int:
    """Index in LABELS order; -1 for UNKNOWN."""
    return UNKNOWN_CODE if emotion is Emotion.UNKNOWN else CLASSES.index(emotion)


def emotion_from_code(code: int) -> Emotion:
    return CLASSES[code] if 0 <= code < NUM_CLASSES else Emotion.UNKNOWN


def _check_t(t: int) -> None:
    if isinstance(t, bool) or not isinstance(t, int) or t < 0:
        raise ValueError(f"t must be a non-negative int (seconds since the session started), got {t!r}")


@dataclass(frozen=True)
class SessionInfo:
    """One recorded class. ``id`` is what commands take; ``label`` is the start time as text."""

    id: int
    label: str  # e.g. '2026-11-24T10-15-03', unique; also accepted wherever an id is
    started_at: datetime  # timezone-aware, the recording machine's local offset
    ended_at: datetime | None  # None: still recording, or the recorder crashed
    source: str
    anonymous: bool
    settings: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    app_version: str = ""
    duration_s: int = 0  # seconds recorded (last t + 1), also right for crashed sessions
    n_students: int = 0  # distinct student keys seen
    # Observations at read time, not part of the record's identity:
    state: SessionState = field(default=SessionState.ENDED, compare=False)
    heartbeat_at: datetime | None = field(default=None, compare=False)  # the live recorder's last write

    @property
    def recording(self) -> bool:
        """A live recorder is writing this session now (so it must not be deleted)."""
        return self.state is SessionState.RECORDING

    def clock(self, t: float) -> datetime:
        """Wall-clock time of second ``t`` of this session."""
        return self.started_at + timedelta(seconds=t)


@dataclass(frozen=True)
class StudentSecond:
    """One student during one second.

    ``student`` is the student key (``Faces.student``: the normalised name, "iphone #2" for
    a repeated label, or ``"track-<id>"`` when no name was read); ``name`` is how the teacher
    reads it ("Maria López"), kept once per session in the roster, not per second.
    ``present``: in the meeting (tile or face seen); ``camera_on``: their face was visible,
    so ``emotion`` means something. ``age_s``: how long before the end of the second the emotion
    was read from the face (``Analysis.refresh_age_s``, to the millisecond); None where it was
    not read, or not known (rows written before schema 4).
    """

    t: int
    student: str
    emotion: Emotion = Emotion.UNKNOWN
    confidence: float = 0.0
    relative: Emotion | None = None  # emotion relative to this student's own baseline, if calibrated
    present: bool = True
    camera_on: bool = True
    name: str | None = field(default=None, compare=False)  # display name; None: show the key
    age_s: float | None = None

    def __post_init__(self) -> None:
        _check_t(self.t)
        if self.age_s is not None:
            age = float(self.age_s)
            if not (math.isfinite(age) and age >= 0):
                raise ValueError(f"age_s must be a finite number of seconds >= 0 or None, got {self.age_s!r}")
            object.__setattr__(self, "age_s", round(age, 3))  # stored in whole milliseconds
        if not isinstance(self.student, str) or not self.student.strip():
            raise ValueError(f"student key must be a non-empty string, got {self.student!r}")
        if self.name is not None and not isinstance(self.name, str):
            raise ValueError(f"student name must be a string or None, got {self.name!r}")
        object.__setattr__(self, "emotion", Emotion(self.emotion))
        if self.relative is not None:
            object.__setattr__(self, "relative", Emotion(self.relative))
        conf = float(self.confidence)
        if not (0.0 <= conf <= 1.0) or math.isnan(conf):
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence!r}")
        object.__setattr__(self, "confidence", conf)

    @property
    def valence(self) -> int:
        return self.emotion.valence if self.present and self.camera_on else 0


@dataclass(frozen=True)
class ClassSecond:
    """The whole class during one second.

    Invariant: ``sum(counts) + unknown == present``, where ``present`` counts visible faces,
    ``camera_off`` tiles without video and ``not_visible`` known students not seen at all.
    ``balance`` is (positive - negative) / classified faces, in [-1, 1]; ``turn`` marks a
    second where the analysis saw the class mood change. ``renamed`` lists the students whose
    key moved to a better read of their name since the previous second, (old key, new key) in
    order (:mod:`fer_overlay.people.identity`): the store files the rows already written under the
    old key under the new one before it writes this second's; a new key of None (the better read
    named an opted-out student) removes them instead. It is no column of its own.
    """

    t: int
    present: int = 0
    camera_off: int = 0
    not_visible: int = 0
    unknown: int = 0
    counts: tuple[int, ...] = (0,) * NUM_CLASSES  # per emotion, LABELS order
    balance: float = 0.0
    turn: bool = False
    renamed: tuple[tuple[str, str | None], ...] = ()

    def __post_init__(self) -> None:
        _check_t(self.t)
        renamed = tuple((str(old), None if new is None else str(new)) for old, new in self.renamed)
        if any(not old or new == "" or old == new for old, new in renamed):
            raise ValueError(f"renamed needs (old key, new key or None) pairs of two different keys, "
                             f"got {self.renamed!r}")
        object.__setattr__(self, "renamed", renamed)
        counts = tuple(int(c) for c in self.counts)
        object.__setattr__(self, "counts", counts)
        if len(counts) != NUM_CLASSES:
            raise ValueError(f"counts needs {NUM_CLASSES} entries ({', '.join(LABELS)}), got {len(counts)}")
        numbers = (self.present, self.camera_off, self.not_visible, self.unknown, *counts)
        if any(int(n) < 0 for n in numbers):
            raise ValueError(f"class counts must be >= 0, got {numbers}")
        if sum(counts) + self.unknown != self.present:
            raise ValueError(
                f"sum(counts) + unknown ({sum(counts)} + {self.unknown}) must equal present ({self.present})"
            )
        bal = float(self.balance)
        if not (-1.0 <= bal <= 1.0):
            raise ValueError(f"balance must be in [-1, 1], got {self.balance!r}")
        object.__setattr__(self, "balance", bal)

    def count(self, emotion: Emotion) -> int:
        return 0 if emotion is Emotion.UNKNOWN else self.counts[emotion_code(emotion)]

    @classmethod
    def from_students(
        cls, t: int, students: Sequence[StudentSecond], *, not_visible: int = 0, turn: bool = False
    ) -> ClassSecond:
        """Summarise one second of student rows; ``not_visible`` adds roster students with no row."""
        counts = [0] * NUM_CLASSES
        present = camera_off = unknown = 0
        absent = not_visible
        for s in students:
            if not s.present:
                absent += 1
            elif not s.camera_on:
                camera_off += 1
            else:
                present += 1
                code = emotion_code(s.emotion)
                if code < 0:
                    unknown += 1
                else:
                    counts[code] += 1
        classified = present - unknown
        valence = sum(c * e.valence for c, e in zip(counts, CLASSES, strict=True))
        balance = valence / classified if classified else 0.0
        return cls(t, present, camera_off, absent, unknown, tuple(counts), balance, turn)


@dataclass(frozen=True)
class Bookmark:
    t: int
    label: str

    def __post_init__(self) -> None:
        _check_t(self.t)

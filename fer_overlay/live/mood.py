"""Class-level mood: pure aggregation of one frame's faces, and a per-second history.

Counts distinguish why a student has no emotion: camera off (a tile with no face),
face not readable (too small/blurred/unsure = "unknown"). Balance is the share of
positive minus negative among students whose emotion is known, in [-1, 1].
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..types import CLASSES, NUM_CLASSES, ClassMood, Faces, Layout, LayoutKind

_VALENCE = np.array([e.valence for e in CLASSES], np.int8)


def class_mood(faces: Faces, layout: Layout | None, timestamp: float) -> ClassMood:
    known = faces.emotion[faces.emotion >= 0].astype(np.int64)
    counts = np.bincount(known, minlength=NUM_CLASSES)
    camera_off = 0
    if layout is not None and layout.kind is not LayoutKind.NONE:
        with_face = {int(t) for t in faces.tile if t >= 0}
        camera_off = sum(1 for t in layout.tiles if t.index not in with_face)
    val = _VALENCE[known] if len(known) else np.zeros(0, np.int8)
    return ClassMood(
        timestamp=timestamp,
        counts=tuple(int(c) for c in counts),
        present=len(faces),
        unknown=int((faces.emotion < 0).sum()),
        camera_off=camera_off,
        positive=int((val > 0).sum()),
        negative=int((val < 0).sum()),
    )


@dataclass
class MoodHistory:
    """Per-second balance over the last `minutes`, for the trend line of the summary card."""

    minutes: float = 5.0
    _points: deque[tuple[float, float, int]] = field(default_factory=deque, init=False)  # (t, balance, present)
    # The output thread asks for the series 30 times a second; it changes only when an
    # analysis arrives. So add() (the analysis thread) builds it, once per change, and swaps
    # it in with one assignment: the output thread never iterates the deque while it changes.
    _series: np.ndarray = field(default_factory=lambda: _frozen_series(()), init=False)

    def add(self, mood: ClassMood) -> None:
        second = float(np.floor(mood.timestamp))
        if self._points and self._points[-1][0] == second:
            self._points[-1] = (second, mood.balance, mood.present)
        else:
            self._points.append((second, mood.balance, mood.present))
        horizon = second - self.minutes * 60
        while self._points and self._points[0][0] < horizon:
            self._points.popleft()
        self._series = _frozen_series(self._points)

    def series(self) -> np.ndarray:
        """(N, 3) array of (t, balance, present); read-only, shared by every caller."""
        return self._series


def _frozen_series(points: deque[tuple[float, float, int]] | tuple[()]) -> np.ndarray:
    series = np.array(points, np.float64).reshape(-1, 3)
    series.flags.writeable = False
    return series

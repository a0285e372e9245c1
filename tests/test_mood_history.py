"""The trend series is built by the analysis thread and only read by the output thread."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from fer_overlay.live.mood import MoodHistory
from fer_overlay.types import ClassMood


def mood(t: float, positive: int) -> ClassMood:
    return ClassMood(t, (0, 0, 0, positive, 0, 0, 4 - positive), 4, 0, 0, positive, 0)


def test_series_is_shared_read_only_and_changes_only_with_an_analysis() -> None:
    h = MoodHistory(minutes=1)
    assert h.series().shape == (0, 3)
    h.add(mood(10.2, 1))
    s = h.series()
    assert h.series() is s  # 30 reads a second cost nothing
    with pytest.raises(ValueError):
        s[0, 1] = 5.0
    h.add(mood(10.8, 2))  # the same second: its value is replaced
    assert h.series() is not s and h.series().tolist() == [[10.0, 0.5, 4.0]]
    h.add(mood(75.0, 4))  # a minute later: the first point is past the horizon
    assert h.series().tolist() == [[75.0, 1.0, 4.0]]


def test_reading_while_the_analysis_adds_never_fails() -> None:
    h = MoodHistory(minutes=0.5)
    stop, errors = threading.Event(), []

    def read() -> None:
        while not stop.is_set():
            try:
                s = h.series()
                assert s.ndim == 2 and s.shape[1] == 3 and np.all(np.diff(s[:, 0]) > 0)
            except Exception as exc:
                errors.append(exc)
                return

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(20000):
        h.add(mood(i * 0.37, i % 5))
    stop.set()
    reader.join()
    assert not errors

from __future__ import annotations

import numpy as np
import pytest

from fer_overlay.analysis.smoothing import EmotionSmoother, SmoothingOptions, decide
from fer_overlay.types import LABELS, Faces

HAPPY, SAD, NEUTRAL = LABELS.index("happy"), LABELS.index("sad"), LABELS.index("neutral")


def onehot(i: int, p: float = 0.9) -> np.ndarray:
    v = np.full(7, (1 - p) / 6, np.float32)
    v[i] = p
    return v


def one_face(track: int = 1) -> Faces:
    return Faces(xyxy=np.array([[0, 0, 50, 50]], np.float32), track_id=np.array([track]))


def test_single_frame_flicker_is_smoothed_away():
    sm = EmotionSmoother(SmoothingOptions(time_constant_s=1.0))
    f = one_face()
    good = np.array([True])
    t = 0.0
    for _ in range(30):  # 3 s of neutral at 10 Hz
        out = sm.update(f, onehot(NEUTRAL)[None], good, t)
        t += 0.1
    out = sm.update(f, onehot(SAD)[None], good, t)  # one sad frame
    assert out.labels == ("neutral",)
    for _ in range(20):  # two seconds of sad
        t += 0.1
        out = sm.update(f, onehot(SAD)[None], good, t)
    assert out.labels == ("sad",)


def test_smoothing_depends_on_time_not_frame_rate():
    results = []
    for hz in (5, 20):
        sm = EmotionSmoother(SmoothingOptions(time_constant_s=1.0))
        f, good = one_face(), np.array([True])
        sm.update(f, onehot(NEUTRAL)[None], good, 0.0)
        steps = hz  # one second of happy
        for k in range(1, steps + 1):
            out = sm.update(f, onehot(HAPPY)[None], good, k / hz)
        results.append(out.probs[0, HAPPY])
    # exp(-1) of the old value remains either way
    assert results[0] == pytest.approx(results[1], abs=1e-5)
    assert results[0] == pytest.approx(0.9 - (0.9 - 0.1 / 6) * np.exp(-1), abs=1e-4)


def test_unknown_for_unsure_unreadable_and_stale():
    opts = SmoothingOptions(min_confidence=0.4, stale_after_s=2.0)
    sm = EmotionSmoother(opts)
    f = one_face()
    flat = np.full((1, 7), 1 / 7, np.float32)
    assert sm.update(f, flat, np.array([True]), 0.0).labels == ("unknown",)
    assert sm.update(f, onehot(HAPPY, 0.99)[None], np.array([True]), 10.0).labels == ("happy",)
    # Unreadable (too small/blurred) frames keep the last good value for a while, then go unknown.
    assert sm.update(f, onehot(SAD)[None], np.array([False]), 11.0).labels == ("happy",)
    assert sm.update(f, onehot(SAD)[None], np.array([False]), 13.0).labels == ("unknown",)


def test_untracked_faces_are_judged_per_frame():
    faces = Faces(xyxy=np.zeros((2, 4), np.float32))
    out = EmotionSmoother().update(faces, np.stack([onehot(HAPPY), onehot(SAD)]), np.array([True, False]), 0.0)
    assert out.labels == ("happy", "unknown")


def test_decide_handles_nan_rows():
    probs = np.stack([onehot(HAPPY), np.full(7, np.nan)])
    assert decide(probs, np.array([True, True]), SmoothingOptions()).tolist() == [HAPPY, -1]

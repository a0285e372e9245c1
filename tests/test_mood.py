"""Class aggregates, per-second records, turns and attention against hand-computed values."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fer_overlay.live.insight import ClassInsight, InsightOptions
from fer_overlay.live.mood import MoodHistory, class_mood
from fer_overlay.types import LABELS, Analysis, Emotion, Faces, Layout, LayoutKind, Tile

I = {label: i for i, label in enumerate(LABELS)}  # noqa: E741


def grid(n: int) -> Layout:
    tiles = tuple(Tile(i, 100 * i, 0, 90, 60) for i in range(n))
    return Layout(LayoutKind.GRID, tiles, (100 * n, 60))


def faces(emotions: list[str], tiles: list[int] | None = None, names: list[str | None] | None = None) -> Faces:
    n = len(emotions)
    tiles = tiles if tiles is not None else list(range(n))
    probs = np.full((n, 7), 0.02, np.float32)
    codes = []
    for i, e in enumerate(emotions):
        code = I.get(e, -1)
        codes.append(code)
        if code >= 0:
            probs[i, code] = 0.88
    return Faces(
        xyxy=np.array([[100 * t + 10, 10, 100 * t + 50, 50] for t in tiles], np.float32),
        track_id=np.arange(1, n + 1), tile=np.array(tiles), probs=probs, emotion=np.array(codes),
        name=tuple(names) if names else (),
        # as identity.py sets it: the student key, the track's where no name was read
        student=tuple(x or f"track-{i + 1}" for i, x in enumerate(names or [None] * n)),
    )


def test_class_mood_counts_and_balance():
    f = faces(["happy", "happy", "sad", "neutral", "unknown", "surprise"], tiles=[0, 1, 2, 3, 4, 5])
    m = class_mood(f, grid(8), 10.0)
    assert m.counts == (0, 0, 0, 2, 1, 1, 1)
    assert (m.present, m.unknown, m.camera_off, m.known) == (6, 1, 2, 5)
    assert (m.positive, m.negative) == (3, 1)
    assert m.balance == pytest.approx((3 - 1) / 5)
    assert m.shares["happy"] == pytest.approx(2 / 5)
    assert m.dominant == "happy"


def test_empty_class():
    m = class_mood(Faces.empty(), grid(3), 0.0)
    assert (m.present, m.camera_off, m.balance, m.dominant) == (0, 3, 0.0, None)


def test_history_keeps_one_point_per_second_and_forgets_old_ones():
    h = MoodHistory(minutes=1)
    for t in np.arange(0, 130, 0.25):
        h.add(class_mood(faces(["happy"]), None, float(t)))
    s = h.series()
    assert len(s) == 61 and s[0, 0] == 69 and s[-1, 0] == 129


def analysis(t: float, f: Faces, layout: Layout) -> Analysis:
    return Analysis(int(t * 10), t, f, layout, True, {})


def test_insight_writes_one_record_per_second_with_the_last_state():
    ins = ClassInsight()
    lay = grid(3)
    out = []
    for t, ems in [(0.0, ["sad", "happy"]), (0.5, ["happy", "happy"]), (1.2, ["neutral", "happy"])]:
        f = faces(ems, names=["Ana", "Ben"])
        out += ins.add(analysis(100 + t, f, lay), class_mood(f, lay, 100 + t))
    assert len(out) == 1
    record, rows = out[0]
    assert record.t == 0 and record.counts[I["happy"]] == 2 and record.camera_off == 1
    assert [(r.student, r.emotion) for r in rows] == [("Ana", Emotion.HAPPY), ("Ben", Emotion.HAPPY)]
    record, rows = ins.flush()[0]
    assert record.t == 1 and rows[0].emotion is Emotion.NEUTRAL


def test_each_row_carries_how_long_ago_its_emotion_was_read():
    lay = grid(3)
    f = faces(["happy", "unknown", "sad"], names=["Ana", "Ben", "Cy"])
    ages = np.array([0.0, np.nan, 0.75], np.float32)  # Ben never read: no age, and no emotion
    record = ClassInsight()
    record.add(replace(analysis(100.0, f, lay), refresh_age_s=ages), class_mood(f, lay, 100.0))
    _, rows = record.flush()[0]
    assert [(r.student, r.emotion, r.age_s) for r in rows] == [
        ("Ana", Emotion.HAPPY, 0.0), ("Ben", Emotion.UNKNOWN, None), ("Cy", Emotion.SAD, 0.75)]
    # An analysis without refresh ages (IMAGE mode, a test) records none rather than guessing.
    record.add(analysis(101.0, f, lay), class_mood(f, lay, 101.0))
    assert {r.age_s for r in record.flush()[0][1]} == {None}


def test_students_gone_from_view_are_recorded_as_not_visible_and_need_attention():
    ins = ClassInsight(InsightOptions(attention_after_s=30))
    lay = grid(2)
    both, one = faces(["happy", "sad"], names=["Ana", "Ben"]), faces(["happy"], names=["Ana"])
    ins.add(analysis(0, both, lay), class_mood(both, lay, 0))
    done = []
    for t in range(1, 40):
        done += ins.add(analysis(t, one, lay), class_mood(one, lay, t))
    record, rows = done[-1]
    assert record.not_visible == 1
    assert [r.student for r in rows if not r.present] == ["Ben"]
    attention = ins.attention(39.0)
    assert [(a.student, a.reason) for a in attention] == [("Ben", "not visible")]


def test_negative_for_too_long_needs_attention():
    ins = ClassInsight(InsightOptions(attention_after_s=20))
    lay = grid(2)
    for t in range(0, 30):
        f = faces(["happy", "sad" if t > 2 else "neutral"], names=["Ana", "Ben"])
        ins.add(analysis(t, f, lay), class_mood(f, lay, t))
    assert [(a.student, a.reason) for a in ins.attention(29.0)] == [("Ben", "negative")]


def test_a_class_turn_is_detected_once():
    ins = ClassInsight(InsightOptions(turn_window_s=3, min_turn_students=3, turn_fraction=0.5))
    lay = grid(6)
    turns = []
    for t in range(20):
        ems = ["neutral"] * 6 if t < 10 else ["happy"] * 5 + ["neutral"]
        f = faces(ems, names=[f"S{i}" for i in range(6)])
        for record, _ in ins.add(analysis(t, f, lay), class_mood(f, lay, t)):
            if record.turn:
                turns.append(record.t)
    assert len(turns) == 1 and 10 <= turns[0] <= 14


def test_a_renamed_student_is_one_student_and_the_rename_goes_with_the_next_second():
    """A key moved to a better read of the name (identity's `renamed`): the second finished before
    it keeps the old key, the next second carries the rename, and insight has one student."""
    ins = ClassInsight(InsightOptions(attention_after_s=30))
    lay = grid(2)
    old = faces(["happy", "sad"], names=["e dubois", "Ben"])
    new = faces(["happy", "sad"], names=["camille dubois", "Ben"])
    out = ins.add(analysis(0.0, old, lay), class_mood(old, lay, 0.0))
    out += ins.add(analysis(0.5, old, lay), class_mood(old, lay, 0.5))
    renamed = replace(analysis(1.2, new, lay), renamed=(("e dubois", "camille dubois"),))
    out += ins.add(renamed, class_mood(new, lay, 1.2))
    out += ins.add(analysis(2.1, new, lay), class_mood(new, lay, 2.1))
    assert [(c.t, c.renamed) for c, _ in out] == [(0, ()), (1, (("e dubois", "camille dubois"),))]
    assert [r.student for r in out[0][1]] == ["e dubois", "Ben"]
    assert sorted(r.student for r in out[1][1]) == ["Ben", "camille dubois"]  # no "e dubois" gone from view
    for t in range(3, 40):
        ins.add(analysis(float(t), new, lay), class_mood(new, lay, float(t)))
    assert {a.student for a in ins.attention(39.0)} == {"Ben"}  # Ben is negative; nobody is "not visible"


def test_a_withdrawn_student_is_forgotten_not_gone_from_view():
    """(old, None): the better read named an opted-out student; insight drops the old key, so the
    record gets no "not visible" rows for it."""
    ins = ClassInsight(InsightOptions(attention_after_s=30))
    lay = grid(2)
    both, one = faces(["happy", "sad"], names=["e campbel", "Ben"]), faces(["sad"], names=["Ben"])
    out = ins.add(analysis(0.0, both, lay), class_mood(both, lay, 0.0))
    out += ins.add(replace(analysis(1.2, one, lay), renamed=(("e campbel", None),)), class_mood(one, lay, 1.2))
    out += ins.add(analysis(2.1, one, lay), class_mood(one, lay, 2.1))
    assert [(c.t, c.renamed, c.not_visible) for c, _ in out] == [(0, (), 0), (1, (("e campbel", None),), 0)]
    assert [r.student for r in out[1][1]] == ["Ben"]

"""LiveEngine: steady output while a slow analysis runs, newest results only, view controls,
per-sink feed policies, a lost source, clean shutdown. Sources, sinks and the analysis are
fakes here; tests/test_faults.py injects faults into real ones, tests/test_app_e2e.py drives
the whole app."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from xvfb import wait_until

from fer_overlay.capture import Backoff
from fer_overlay.errors import SourceError
from fer_overlay.live.engine import EngineOptions, LiveEngine, Slot
from fer_overlay.live.feeds import Feed, FeedPolicy
from fer_overlay.types import Analysis, Faces, Frame, StatusKind, View

SIZE = (320, 180)


class CountingSource:
    """A 320x180 frame whose brightness encodes its index; `fail` makes reads raise."""

    name = "counting source"

    def __init__(self, limit: int | None = None) -> None:
        self.index, self.limit, self.fail = 0, limit, False

    def read(self) -> Frame | None:
        if self.fail:
            raise SourceError("monitor 1 is gone")
        if self.limit is not None and self.index >= self.limit:
            return None
        self.index += 1
        image = np.full((SIZE[1], SIZE[0], 3), self.index % 200 + 20, np.uint8)
        image[:, : SIZE[0] // 4] = (0, 0, 255)  # red on the left: shows whether output is mirrored
        return Frame(image, self.index, time.monotonic())

    def close(self) -> None:
        pass


class RecordingSink:
    name = "recording sink"

    def __init__(self) -> None:
        self.images: list[np.ndarray] = []
        self.times: list[float] = []

    def send(self, image: np.ndarray) -> None:
        self.images.append(image)
        self.times.append(time.monotonic())

    def close(self) -> None:
        pass


def one_face(frame: Frame) -> Faces:
    return Faces(xyxy=np.array([[100, 40, 180, 140]], np.float32), score=np.ones(1, np.float32),
                 track_id=np.array([1], np.int64), probs=np.eye(7, dtype=np.float32)[[3]],
                 emotion=np.array([3], np.int8))


def slow_analysis(seconds: float, seen: list[int]):
    def analyze(frame: Frame) -> Analysis:
        seen.append(frame.index)
        time.sleep(seconds)
        return Analysis(frame.index, frame.timestamp, one_face(frame), None, True, {}, Faces.empty())
    return analyze


def next_image(sink: RecordingSink) -> np.ndarray:
    """An image sent after this call (so after any view change made before it)."""
    n = len(sink.images)
    assert wait_until(lambda: len(sink.images) >= n + 2), "no output"
    return sink.images[-1]


def test_slot_keeps_only_the_newest_value() -> None:
    slot: Slot[int] = Slot()
    for v in range(5):
        slot.put(v)
    assert slot.get() == (5, 4)
    assert slot.wait_newer(5, timeout=0.01) == (5, 4)  # nothing newer: returns after the timeout


def test_slow_analysis_never_stalls_the_output_and_skips_stale_frames() -> None:
    source, sink, seen = CountingSource(), RecordingSink(), []
    engine = LiveEngine(source, [sink], slow_analysis(0.4, seen), EngineOptions(fps=30, size=SIZE))
    engine.run(duration=2.0)
    gaps = np.diff(sink.times)
    assert len(sink.images) >= 45, "output fell well below 30 fps"
    assert gaps.max() < 0.2, f"an output gap of {gaps.max() * 1000:.0f} ms while analysis took 400 ms"
    assert 3 <= engine.stats.frames_analysed <= 6
    assert len(seen) == engine.stats.frames_analysed
    assert np.diff(seen).min() > 1, "late frames must be dropped, not queued"
    assert not any(t.name.startswith("fer-") for t in threading.enumerate()), "threads left running"


def test_views_switch_and_the_feed_is_not_mirrored() -> None:
    source, sink = CountingSource(), RecordingSink()
    engine = LiveEngine(source, [sink], slow_analysis(0.0, []), EngineOptions(fps=30, size=SIZE))
    with engine:
        assert wait_until(lambda: engine.stats.frames_analysed > 0)
        assert engine.toggle_overlay() is View.OFF
        plain = next_image(sink)
        assert engine.toggle_overlay() is View.GALLERY
        annotated = next_image(sink)
        engine.set_view(View.SUMMARY)
        card = next_image(sink)
    assert plain[90, 10].tolist() == [0, 0, 255] and plain[90, -10, 2] != 255  # red stays on the left
    assert (np.abs(annotated.astype(int) - plain.astype(int)).max(axis=2) > 40).mean() > 0.01  # boxes drawn
    assert not np.array_equal(card[:, : SIZE[0] // 4], plain[:, : SIZE[0] // 4])  # a card, not the capture


def test_aggregate_only_policy_gets_class_aggregates_only() -> None:
    source, teacher, students = CountingSource(), RecordingSink(), RecordingSink()
    options = EngineOptions(fps=30, size=SIZE)
    feeds = [Feed(teacher), Feed(students, FeedPolicy(names=False, aggregate_only=True))]
    engine = LiveEngine(source, feeds, slow_analysis(0.0, []), options)
    with engine:
        assert wait_until(lambda: engine.stats.frames_analysed > 0)
        next_image(students)
    assert not np.array_equal(teacher.images[-1], students.images[-1])
    assert teacher.images[-1][90, 10].tolist() == [0, 0, 255]  # the teacher sees the gallery
    assert students.images[-1][90, 10].tolist() != [0, 0, 255]  # the students see the summary card


def test_lost_source_keeps_the_last_frame_and_recovers() -> None:
    source, sink = CountingSource(), RecordingSink()
    options = EngineOptions(fps=30, size=SIZE, source_retry=Backoff(0.05, 0.1))
    engine = LiveEngine(source, [sink], slow_analysis(0.0, []), options)
    with engine:
        next_image(sink)
        source.fail = True
        assert wait_until(lambda: StatusKind.SOURCE_LOST in engine.status.kinds())
        assert "monitor 1 is gone" in engine.status.text
        next_image(sink)  # the output goes on while the source is lost
        source.fail = False
        assert wait_until(lambda: not engine.status.snapshot())


def test_file_source_end_stops_the_engine() -> None:
    engine = LiveEngine(CountingSource(limit=5), [RecordingSink()], slow_analysis(0.0, []),
                        EngineOptions(fps=60, size=SIZE))
    engine.run(duration=5.0)
    assert not engine.running and engine.stats.frames_out == 5


@pytest.mark.parametrize(("field", "kwargs"), [("fps", {"fps": 0}), ("size", {"size": (63, 64)}),
                                               ("size", {"size": (641, 480)})])
def test_options_name_bad_values(field: str, kwargs: dict) -> None:
    with pytest.raises(ValueError, match=field):
        EngineOptions(**kwargs)

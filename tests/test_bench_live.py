"""The helpers behind scripts/bench_live.py's figures: a benchmark that counts wrong reports wrong."""

from __future__ import annotations

import numpy as np
from script_loader import load_script

from fer_overlay.types import Analysis, Faces, Frame, Layout

bench = load_script("bench_live")


def result(t: float, ages: list[float], tracks: list[int]) -> Analysis:
    faces = Faces(xyxy=np.zeros((len(tracks), 4)), track_id=np.array(tracks))
    return Analysis(int(t * 10), t, faces, Layout.whole_frame(10, 10), False, {},
                    refresh_age_s=np.array(ages, np.float32))


def test_refresh_is_counted_per_face_from_refresh_ages_after_start_up() -> None:
    reads = bench.ReadCounter()
    reads.add(result(0.0, [0, 0], [1, 2]), None)  # start-up: not counted
    for k in range(1, 41):  # 4 s at 10 Hz after start-up; face 1 read every frame, face 2 every other
        t = 2.0 + k / 10
        reads.add(result(t, [0.0, 0.0 if k % 2 == 0 else 0.1], [1, 2]), None)
    assert reads.reads == {1: 40, 2: 20}
    assert reads.slowest_hz() == 5.0 and reads.rate_hz() == 7.5
    assert reads.age_p95_ms() == 100.0


def test_nothing_read_is_zero_not_an_error() -> None:
    reads = bench.ReadCounter()
    assert reads.rate_hz() == 0.0 and reads.slowest_hz() == 0.0
    reads.add(result(3.0, [], []), None)
    assert reads.rate_hz() == 0.0


def test_output_only_analyses_the_first_frame_and_restamps_it() -> None:
    calls: list[int] = []

    def process(frame: Frame) -> Analysis:
        calls.append(frame.index)
        return result(frame.timestamp, [0.0], [4])

    analyze = bench.first_result_only(process)
    image = np.zeros((8, 8, 3), np.uint8)
    first = analyze(Frame(image, 0, 0.5))
    later = analyze(Frame(image, 7, 1.5))
    assert calls == [0] and first.timestamp == 0.5
    assert later.timestamp == 1.5 and later.frame_index == 7 and later.faces is first.faces
    assert np.isnan(later.refresh_age_s).all()  # nothing was read on that frame

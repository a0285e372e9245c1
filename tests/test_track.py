from __future__ import annotations

import numpy as np
import pytest

from fer_overlay.analysis.track import Tracker, TrackerOptions, iou_matrix
from fer_overlay.types import Faces


def boxes(*xy: tuple[float, float], size: float = 40, tiles: list[int] | None = None) -> Faces:
    xyxy = np.array([[x, y, x + size, y + size] for x, y in xy], np.float32)
    return Faces(xyxy=xyxy, tile=np.array(tiles if tiles else [-1] * len(xy)))


def test_iou_matrix():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0]], atol=1e-6)


def test_ids_are_stable_for_jittering_faces():
    tr = Tracker()
    rng = np.random.default_rng(0)
    base = [(100, 100), (300, 100), (500, 100)]
    first = tr.update(boxes(*base), period=1)
    ids = dict(zip(first.xyxy[:, 0].round(), first.track_id))
    for _ in range(300):
        jittered = [(x + rng.normal(0, 2), y + rng.normal(0, 2)) for x, y in base]
        order = rng.permutation(3)  # detector output order is arbitrary
        out = tr.update(boxes(*[jittered[i] for i in order]))
        assert sorted(out.track_id.tolist()) == sorted(ids.values())
        for x, tid in zip(out.xyxy[:, 0], out.track_id):
            nearest = min(ids, key=lambda k: abs(k - x))
            assert ids[nearest] == tid


def test_detect_every_k_frames_and_track_in_between():
    tr = Tracker(TrackerOptions(max_missed_frames=6))
    a = tr.update(boxes((0, 0), (100, 0)), period=1)
    for _ in range(2):  # frames without detection keep the faces where they were
        between = tr.update(None)
        assert between.track_id.tolist() == a.track_id.tolist()
        np.testing.assert_allclose(between.xyxy, a.xyxy)
    # Face 2 leaves; it survives 6 frames of misses = two detection periods of 3.
    tr.update(boxes((1, 0)), period=3)
    assert len(tr.update(boxes((1, 0)), period=3)) == 2
    out = tr.update(boxes((1, 0)), period=3)
    assert out.track_id.tolist() == [a.track_id[0]], "a face gone for 9 frames ends its track"


def test_new_face_gets_new_id_and_ids_are_not_reused():
    tr = Tracker(TrackerOptions(max_missed_frames=0))
    first = tr.update(boxes((0, 0)))
    tr.update(boxes((500, 500)))  # first face gone, a new one arrives
    out = tr.update(boxes((500, 500), (0, 0)))
    assert first.track_id[0] not in out.track_id[1:]
    assert len(set(out.track_id.tolist())) == 2


def test_a_face_keeps_its_track_when_its_tile_is_renumbered():
    # Tile indices change when a gallery scrolls or its grid is re-read; the face has not
    # moved, so it is the same track (with the new tile index). Reorders are the names' job.
    tr = Tracker()
    a = tr.update(boxes((0, 0), tiles=[0]))
    b = tr.update(boxes((2, 0), tiles=[1]))
    assert b.track_id.tolist() == [a.track_id[0]] and b.tile.tolist() == [1]


def test_constructor_rejects_bad_values_by_name():
    with pytest.raises(ValueError, match="iou_threshold"):
        TrackerOptions(iou_threshold=1.5)
    with pytest.raises(ValueError, match="period"):
        Tracker().update(None, period=0)


def test_a_face_that_moved_too_far_for_iou_within_its_tile_keeps_its_track():
    tr = Tracker()
    a = tr.update(boxes((0, 0), tiles=[0]))
    # Moved by 60% of its size: IoU is below the threshold, but it is the only face of its tile.
    b = tr.update(boxes((0, 24), tiles=[0]))
    assert b.track_id.tolist() == [a.track_id[0]]
    # Farther than one face size, or in another tile, it is someone else.
    c = tr.update(boxes((0, 80), tiles=[0]))
    assert c.track_id[-1] != a.track_id[0]
    other = Tracker()
    e = other.update(boxes((0, 0), tiles=[0]))
    f = other.update(boxes((0, 24), tiles=[1]))
    assert f.track_id[-1] != e.track_id[0]


def test_tracks_nobody_looked_for_keep_their_age():
    # The detector looked at the left half only (some tiles): the right face was not missed.
    tr = Tracker(TrackerOptions(max_missed_frames=2))
    first = tr.update(boxes((0, 0), (500, 0)))
    left_only = lambda tracks: (tracks.centers[:, 0] < 250).astype(int)  # noqa: E731
    for _ in range(5):
        out = tr.update(boxes((1, 0)), period=1, looked=left_only)
    assert sorted(out.track_id.tolist()) == sorted(first.track_id.tolist())
    assert len(tr.coasting) == 0
    # Looked for and not found: it coasts, then ends after max_missed_frames looks.
    everywhere = lambda tracks: np.ones(len(tracks), int)  # noqa: E731
    tr.update(boxes((1, 0)), period=1, looked=everywhere)
    assert tr.coasting.track_id.tolist() == [first.track_id[1]]
    tr.update(boxes((1, 0)), period=1, looked=everywhere)
    out = tr.update(boxes((1, 0)), period=1, looked=everywhere)
    assert out.track_id.tolist() == [first.track_id[0]]
    with pytest.raises(ValueError, match="ages"):
        tr.update(boxes((1, 0)), looked=lambda tracks: np.ones(len(tracks) + 1, int))


def test_a_track_nobody_looked_for_still_takes_its_moved_face_in_its_tile():
    # A whole-frame pass sees a face in a tile the tile pass skipped, moved too far for IoU:
    # it is that tile's track, not a second face beside it.
    tr = Tracker()
    a = tr.update(boxes((0, 0), tiles=[0]))
    nowhere = lambda tracks: np.zeros(len(tracks), int)  # noqa: E731
    b = tr.update(boxes((0, 24), tiles=[0]), looked=nowhere)
    assert b.track_id.tolist() == [a.track_id[0]]
    assert tr.last_matched == {a.track_id[0]}


def test_tracks_move_with_a_scrolled_gallery():
    """The layout says the gallery moved 90 px (more than a face is wide): the tracks move with
    it, so each face keeps its id instead of starting a new track."""
    tracker = Tracker()
    boxes = np.array([[100, 100, 160, 170], [400, 100, 460, 170]], np.float32)
    first = tracker.update(Faces(xyxy=boxes))
    tracker.shift(90, 0)
    moved = tracker.update(Faces(xyxy=boxes + np.array([90, 0, 90, 0], np.float32)))
    assert moved.track_id.tolist() == first.track_id.tolist() and tracker.last_matched == {1, 2}
    # Without the shift the same detections are new faces (the old tracks coast, unmatched).
    other = Tracker()
    other.update(Faces(xyxy=boxes))
    other.update(Faces(xyxy=boxes + np.array([90, 0, 90, 0], np.float32)))
    assert other.last_matched == frozenset()

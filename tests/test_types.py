from __future__ import annotations

import numpy as np
import pytest

from fer_overlay.types import CLASSES, LABELS, Emotion, Faces, Frame, Layout, LayoutKind, Tile


def make(n: int) -> Faces:
    xyxy = np.array([[10 * i, 0, 10 * i + 8, 8] for i in range(n)], np.float32)
    return Faces(xyxy=xyxy, score=np.linspace(0.5, 0.9, n), track_id=np.arange(n))


def test_label_order_matches_model_contract():
    assert LABELS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert Emotion.UNKNOWN not in CLASSES
    assert Emotion.HAPPY.valence == 1 and Emotion.SAD.valence == -1 and Emotion.NEUTRAL.valence == 0


def test_defaults_mean_not_filled_in():
    f = make(3)
    assert f.tile.tolist() == [-1, -1, -1]
    assert np.isnan(f.probs).all() and np.isnan(f.landmarks).all()
    assert f.labels == ("unknown",) * 3
    assert f.name == (None, None, None)
    assert f.student == (None, None, None)


def test_columns_are_read_only_and_with_returns_a_new_value():
    f = make(2)
    with pytest.raises(ValueError):
        f.xyxy[0, 0] = 99
    g = f.with_(emotion=np.array([3, -1]))
    assert g.labels == ("happy", "unknown") and f.labels == ("unknown", "unknown")


def test_indexing_and_concat_keep_columns_together():
    f = make(4).with_(name=("a", "b", None, "d"))
    sub = f[np.array([False, True, False, True])]
    assert sub.track_id.tolist() == [1, 3] and sub.name == ("b", "d")
    both = Faces.concat([sub, Faces.empty(), f[[0]]])
    assert both.track_id.tolist() == [1, 3, 0] and both.name == ("b", "d", "a")
    keyed = f.with_(student=("a", "b", "track-2", None))
    assert keyed[[3, 1]].student == (None, "b") and Faces.concat([keyed[[2]], keyed[[0]]]).student == ("track-2", "a")
    assert keyed.with_(emotion=np.array([1, 2, 3, 4])).student == keyed.student  # kept beside the name
    assert len(Faces.concat([])) == 0


def test_concat_replaces_whole_columns_in_one_build():
    f = make(3).with_(name=("a", "b", "c"))
    joined = Faces.concat([f[[2]], f[[0]]], track_id=np.array([7, 8]), name=("x", None))
    assert joined.track_id.tolist() == [7, 8] and joined.name == ("x", None)
    assert joined.score.tolist() == pytest.approx([0.9, 0.5])  # the other columns come from the parts
    with pytest.raises(ValueError, match="track_id"):
        Faces.concat([f[[0]]], track_id=np.array([1, 2]))
    assert len(Faces.concat([], track_id=np.zeros(0, np.int64))) == 0


def test_bad_shapes_name_the_column():
    with pytest.raises(ValueError, match="score"):
        Faces(xyxy=np.zeros((2, 4)), score=np.zeros(3))
    with pytest.raises(ValueError, match="name"):
        Faces(xyxy=np.zeros((2, 4)), name=("x",))
    with pytest.raises(ValueError, match="student"):
        Faces(xyxy=np.zeros((2, 4)), student=("x", "y", "z"))


@pytest.mark.parametrize("image", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8),
                                   np.zeros((4, 4, 3), np.float32), np.zeros((0, 4, 3), np.uint8)])
def test_frame_rejects_non_bgr(image):
    with pytest.raises(ValueError, match="Frame.image"):
        Frame(image)


def test_tile_of_is_the_last_tile_holding_each_point():
    # Overlapping tiles (a speaker tile under a strip): the later one wins, as the layout lists them.
    tiles = (Tile(0, 0, 0, 100, 100), Tile(1, 50, 50, 100, 100), Tile(5, 200, 0, 10, 10))
    layout = Layout(LayoutKind.SPEAKER, tiles, (300, 200))
    points = np.array([[10, 10], [60, 60], [149.9, 149.9], [150, 150], [205, 5], [210, 5], [-1, 0]])
    assert layout.tile_of(points).tolist() == [0, 1, 1, -1, 5, -1, -1]
    assert layout.tile_of(np.zeros((0, 2))).tolist() == []
    assert Layout(LayoutKind.GRID, (), (10, 10)).tile_of(points).tolist() == [-1] * len(points)

from __future__ import annotations

import numpy as np
import pytest

from fer_overlay.types import CLASSES, LABELS, Emotion, Faces, Frame


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

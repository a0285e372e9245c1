from __future__ import annotations

import numpy as np
import pytest

from fer_overlay.analysis.pipeline import GalleryPipeline, PipelineOptions, RunningMode
from fer_overlay.analysis.refresh import DetectionPolicy
from fer_overlay.errors import InputError
from fer_overlay.synth import GallerySpec, gallery_frames, make_gallery
from fer_overlay.synth.evaluate import IdSwitches, score_frame
from fer_overlay.types import LABELS, Frame, LayoutKind


@pytest.fixture(scope="module")
def video_pipeline() -> GalleryPipeline:
    return GalleryPipeline.create(PipelineOptions(mode=RunningMode.VIDEO), threads=2)


@pytest.fixture(scope="module")
def every_third_frame() -> GalleryPipeline:
    """The old cadence: every tile on every third frame."""
    options = PipelineOptions(mode=RunningMode.VIDEO, detection=DetectionPolicy.EVERY_K, detect_every=3)
    return GalleryPipeline.create(options, threads=2)


@pytest.fixture(scope="module")
def image_pipeline() -> GalleryPipeline:
    return GalleryPipeline.create(PipelineOptions(mode=RunningMode.IMAGE), threads=2)


@pytest.mark.parametrize("participants", [9, 25, 49])
def test_recall_and_false_faces_on_1080p_galleries(image_pipeline, participants):
    found = total = false = tiles = 0
    for seed in range(2):
        image, truth = make_gallery(GallerySpec(participants=participants, size=(1920, 1080), seed=seed))
        result = image_pipeline.process(Frame(image))
        assert result.layout.kind is LayoutKind.GRID
        score = score_frame(truth, result.faces)
        found, total, false, tiles = found + score.found, total + score.faces, false + score.false, tiles + score.tiles
        # Each face is reported in its own tile.
        for participant, i in score.matches.items():
            tile = next(t for t in truth.tiles if t.participant == participant)
            assert result.faces.tile[i] == tile.index
    assert found / total >= 0.97
    assert false <= tiles / 100


def test_camera_off_tiles_and_labels_produce_no_faces(image_pipeline):
    image, truth = make_gallery(GallerySpec(participants=16, size=(1280, 720), camera_off=0.5, seed=4))
    result = image_pipeline.process(Frame(image))
    face_tiles = {t.index for t in truth.tiles if t.kind.value == "face"}
    assert set(result.faces.tile.tolist()) <= face_tiles


@pytest.mark.slow
def test_no_id_switches_over_300_frames(every_third_frame):
    every_third_frame.reset()
    spec = GallerySpec(participants=9, size=(1280, 720), seed=7, camera_off=0.0)
    switches = IdSwitches()
    ids: set[int] = set()
    for i, (image, truth) in enumerate(gallery_frames(spec, 300, seed=3)):
        result = every_third_frame.process(Frame(image, i, i / 10))
        score = score_frame(truth, result.faces)
        switches.add(score, result.faces)
        ids.update(result.faces.track_id.tolist())
        assert result.detected == (i % 3 == 0)
    assert switches.switches == 0
    assert len(ids) == 9


@pytest.mark.slow
def test_no_id_switches_over_300_frames_detecting_only_where_needed(video_pipeline):
    video_pipeline.reset()
    spec = GallerySpec(participants=9, size=(1280, 720), seed=7, camera_off=0.0)
    switches = IdSwitches()
    ids: set[int] = set()
    found = total = 0
    for i, (image, truth) in enumerate(gallery_frames(spec, 300, seed=3, jitter_px=2)):
        result = video_pipeline.process(Frame(image, i, i / 10))
        score = score_frame(truth, result.faces)
        switches.add(score, result.faces)
        found, total = found + score.found, total + score.faces
        ids.update(result.faces.track_id.tolist())
    assert switches.switches == 0
    assert len(ids) == 9
    assert found == total
    # Far less detection than the old cadence's one tile in three.
    assert video_pipeline.detection_stats.detected_share < 0.2


def test_emotions_are_smoothed_labels_or_unknown(video_pipeline):
    video_pipeline.reset()
    spec = GallerySpec(participants=4, size=(1280, 720), seed=1, camera_off=0.0)
    results = [video_pipeline.process(Frame(img, i, i / 10)) for i, (img, _) in enumerate(gallery_frames(spec, 12))]
    last = results[-1].faces
    assert len(last) == 4
    assert set(last.labels) <= {*LABELS, "unknown"}
    probs = last.probs[np.isfinite(last.probs).all(axis=1)]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert {"layout", "detect", "track", "crop", "classify", "total"} <= set(results[0].timings_ms)


def test_video_mode_rejects_time_going_backwards(video_pipeline):
    video_pipeline.reset()
    image, _ = make_gallery(GallerySpec(participants=4, size=(640, 360), seed=0))
    video_pipeline.process(Frame(image, 0, 5.0))
    with pytest.raises(InputError, match="increasing timestamps"):
        video_pipeline.process(Frame(image, 1, 4.0))


def test_options_reject_bad_values_by_name():
    with pytest.raises(ValueError, match="detect_every"):
        PipelineOptions(detect_every=0)
    with pytest.raises(ValueError, match="detection"):
        PipelineOptions(detection="every_k")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode"):
        PipelineOptions(mode="video")  # type: ignore[arg-type]


def test_tiny_and_blank_frames_give_empty_results(image_pipeline):
    with pytest.raises(InputError, match="too small"):
        image_pipeline.process(Frame(np.zeros((1, 1, 3), np.uint8)))
    result = image_pipeline.process(Frame(np.zeros((360, 640, 3), np.uint8)))
    assert len(result.faces) == 0

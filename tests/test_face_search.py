"""The layout may choose where and at what scale to look, never whether a face is found."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fer_overlay.analysis.face_search import FaceSearchOptions, detect_full_frame, search_faces, union
from fer_overlay.analysis.layout import find_layout
from fer_overlay.analysis.pipeline import GalleryPipeline, PipelineOptions, RunningMode
from fer_overlay.analysis.stable_layout import StableLayout, StableLayoutOptions
from fer_overlay.analysis.track import iou_matrix
from fer_overlay.synth import GallerySpec, make_gallery
from fer_overlay.types import Faces, Frame, Layout, LayoutKind, Tile


@pytest.fixture(scope="module")
def image_pipeline() -> GalleryPipeline:
    return GalleryPipeline.create(PipelineOptions(mode=RunningMode.IMAGE), threads=2)


def covered(subset: Faces, superset: Faces, iou: float = 0.3) -> np.ndarray:
    """For each face of `subset`, whether `superset` has a face overlapping it."""
    if not len(subset):
        return np.zeros(0, bool)
    if not len(superset):
        return np.zeros(len(subset), bool)
    return iou_matrix(subset.xyxy, superset.xyxy).max(axis=1) >= iou


@pytest.mark.parametrize(("participants", "size", "quality"), [(6, (1280, 720), 0), (16, (1920, 1080), 95),
                                                                  (25, (1920, 1080), 80)])
def test_every_face_a_full_frame_pass_finds_is_found_by_the_pipeline(
        pipeline_detector, image_pipeline, participants, size, quality):
    image, _ = make_gallery(GallerySpec(participants=participants, size=size, seed=participants))
    if quality:  # JPEG noise is what used to turn a grid into a partial "speaker" layout
        image = cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)
    plain = detect_full_frame(pipeline_detector, image, FaceSearchOptions())
    result = image_pipeline.process(Frame(image))
    assert len(plain) > 0
    assert covered(plain, result.faces).all()


def test_a_wrong_layout_cannot_hide_faces(pipeline_detector):
    image, truth = make_gallery(GallerySpec(participants=9, size=(1280, 720), seed=3, camera_off=0.0))
    # A "speaker" layout that found one tile of nine, as a highlighted tile used to cause.
    first = truth.tiles[0]
    partial = Layout(LayoutKind.SPEAKER, (Tile(0, *first.xyxy[:2], first.xyxy[2] - first.xyxy[0],
                                               first.xyxy[3] - first.xyxy[1]),), (1280, 720))
    found = search_faces(pipeline_detector, image, partial, FaceSearchOptions())
    truth_faces = Faces(xyxy=truth.face_boxes())
    assert covered(truth_faces, found).all()
    # Faces outside the one known tile are kept, with no tile.
    assert (found.tile == 0).sum() == 1 and (found.tile == -1).sum() == 8
    # Without the whole-frame pass only the tile's face is left: the pass is what keeps them.
    assert len(search_faces(pipeline_detector, image, partial, FaceSearchOptions(), full_frame=False)) == 1


def test_union_prefers_tile_boxes_and_adds_only_new_faces():
    tile = Faces(xyxy=np.array([[10, 10, 50, 50]], np.float32), tile=np.array([0], np.int32))
    frame = Faces(xyxy=np.array([[12, 11, 49, 52], [200, 200, 240, 240]], np.float32))
    merged = union(tile, frame, 0.3)
    assert merged.xyxy.tolist() == [[10, 10, 50, 50], [200, 200, 240, 240]]
    assert len(union(Faces.empty(), frame, 0.3)) == 2 and len(union(tile, Faces.empty(), 0.3)) == 1


def grid(n: int, offset: int = 0, kind: LayoutKind = LayoutKind.GRID) -> Layout:
    return Layout(kind, tuple(Tile(i, 10 + offset + 200 * i, 10, 190, 150) for i in range(n)), (1280, 720))


def test_stable_layout_needs_a_new_layout_twice_in_a_row():
    stable = StableLayout(StableLayoutOptions(confirmations=2))
    assert stable.update(grid(4)) is True  # the first layout is adopted at once
    assert stable.update(grid(3, kind=LayoutKind.SPEAKER)) is False  # one odd search
    assert stable.update(grid(4, offset=3)) is False  # a few pixels of wobble is the same grid
    assert stable.current == grid(4)
    assert stable.update(grid(5)) is False and stable.update(grid(5)) is True
    assert len(stable.current.tiles) == 5
    # A different frame size is a different source: adopted at once.
    other = Layout(LayoutKind.GRID, grid(2).tiles, (1920, 1080))
    assert stable.update(other) is True and stable.current == other
    with pytest.raises(ValueError, match="confirmations"):
        StableLayoutOptions(confirmations=0)


@pytest.mark.slow
def test_a_shifting_gallery_keeps_one_track_per_student():
    """A gallery scrolled by 10 px a frame must not show every student twice."""
    pipeline = GalleryPipeline.create(PipelineOptions(mode=RunningMode.VIDEO, detect_every=3, layout_every=5),
                                      threads=2, identity=None)
    base, _ = make_gallery(GallerySpec(participants=9, size=(1280, 720), seed=5, camera_off=0.0))
    bg = tuple(int(c) for c in base[2, 2])
    ids: set[int] = set()
    for i in range(30):
        dy = 10 * (i % 6)
        frame = cv2.copyMakeBorder(base, dy, 0, 0, 0, cv2.BORDER_CONSTANT, value=bg)[:720]
        result = pipeline.process(Frame(frame, i, i / 10))
        if i >= 3:
            assert len(result.faces) <= 9  # never a ghost box beside a live one
        ids.update(result.faces.track_id.tolist())
    assert len(find_layout(base).tiles) == 9
    assert len(ids) <= 9 + 2  # a track may restart at the wrap-around jump, not for every student


def test_a_tile_subset_looks_only_there_and_the_whole_frame_pass_still_finds_the_rest(pipeline_detector):
    image, truth = make_gallery(GallerySpec(participants=9, size=(1280, 720), seed=3, camera_off=0.0))
    layout = find_layout(image)
    assert len(layout.tiles) == 9
    some = (layout.tiles[1].index, layout.tiles[4].index)
    only = search_faces(pipeline_detector, image, layout, FaceSearchOptions(), full_frame=False, tiles=some)
    assert sorted(only.tile.tolist()) == sorted(some)
    assert len(search_faces(pipeline_detector, image, layout, FaceSearchOptions(), full_frame=False, tiles=())) == 0
    # The layout (and which tiles are due) never decides whether a face is found.
    both = search_faces(pipeline_detector, image, layout, FaceSearchOptions(), full_frame=True, tiles=some)
    assert covered(Faces(xyxy=truth.face_boxes()), both).all()

"""The self-view floating flush in a corner of a camera-off tile is set aside, live faces are not."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_overlay.analysis.face_search import FaceSearchOptions, detect_full_frame
from fer_overlay.analysis.pipeline import GalleryPipeline, PipelineOptions, RunningMode
from fer_overlay.analysis.self_view import CornerInsetOptions, corner_insets
from fer_overlay.analysis.track import iou_matrix
from fer_overlay.types import Frame, Layout, LayoutKind, Tile

REAL = Path(__file__).parent / "data" / "real_screens"
TILE_W, TILE_H, GAP = 420, 480, 6


def phone_gallery(webcam: np.ndarray, tile_colour: int, inset_at: str) -> tuple[np.ndarray, Layout, tuple]:
    """Two tiles side by side on a white canvas: a live video, and a camera-off tile of
    `tile_colour` with a "+2" badge, the user's own camera floating in it (`inset_at`: "corner",
    flush with its bottom-right corner, or "middle"). Returns the image, its layout and the inset's box."""
    image = np.full((TILE_H + 2 * GAP, 2 * TILE_W + 3 * GAP, 3), 250, np.uint8)
    live = cv2.resize(webcam, (TILE_W, round(TILE_W * webcam.shape[0] / webcam.shape[1])))
    left = np.full((TILE_H, TILE_W, 3), 40, np.uint8)
    left[(TILE_H - live.shape[0]) // 2 : (TILE_H - live.shape[0]) // 2 + live.shape[0]] = live
    image[GAP : GAP + TILE_H, GAP : GAP + TILE_W] = left
    off = np.full((TILE_H, TILE_W, 3), tile_colour, np.uint8)
    iw, ih = 160, 240  # a phone's portrait self-view
    inset = cv2.resize(webcam[:, (webcam.shape[1] - webcam.shape[0] * 2 // 3) // 2 :][:, : webcam.shape[0] * 2 // 3],
                       (iw, ih), interpolation=cv2.INTER_AREA)
    x, y = (TILE_W - iw, TILE_H - ih) if inset_at == "corner" else ((TILE_W - iw) // 2, (TILE_H - ih) // 2)
    off[y : y + ih, x : x + iw] = inset
    badge = (x - 10, y + 10) if inset_at == "corner" else (60, 60)
    cv2.circle(off, badge, 28, (128, 128, 128), -1, cv2.LINE_AA)  # "+2", touching the inset
    cv2.putText(off, "+2", (badge[0] - 17, badge[1] + 9), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    ox = 2 * GAP + TILE_W
    image[GAP : GAP + TILE_H, ox : ox + TILE_W] = off
    tiles = (Tile(0, GAP, GAP, TILE_W, TILE_H), Tile(1, ox, GAP, TILE_W, TILE_H))
    layout = Layout(LayoutKind.GRID, tiles, (image.shape[1], image.shape[0]), (250, 250, 250))
    return image, layout, (ox + x, GAP + y, ox + x + iw, GAP + y + ih)


@pytest.mark.parametrize("tile_colour", [225, 36])  # a light theme's camera-off grey, and a dark one's
def test_a_self_view_in_a_corner_of_a_camera_off_tile_is_set_aside(pipeline_detector, webcam_tile, tile_colour):
    image, layout, (x1, y1, x2, y2) = phone_gallery(webcam_tile, tile_colour, "corner")
    faces = detect_full_frame(pipeline_detector, image, FaceSearchOptions())
    c = faces.centers
    in_inset = (c[:, 0] > x1) & (c[:, 0] < x2) & (c[:, 1] > y1) & (c[:, 1] < y2)
    assert in_inset.sum() == 1 and (~in_inset).sum() == 1
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert corner_insets(grey, faces, layout).tolist() == in_inset.tolist()


def test_the_same_video_in_the_middle_of_the_tile_is_not_an_inset(pipeline_detector, webcam_tile):
    """A picture in the middle of a flat tile is camera_off's business (a profile photo), not a self-view."""
    image, layout, _ = phone_gallery(webcam_tile, 225, "middle")
    faces = detect_full_frame(pipeline_detector, image, FaceSearchOptions())
    assert len(faces) == 2
    assert not corner_insets(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), faces, layout).any()


def test_the_floating_self_view_of_a_real_phone_gallery_is_not_a_student():
    """Azure Communication Services' mobile UI: the self-view flush with the corner of the "+2" tile."""
    name = "acs_ui_android_calling.jpg"
    entry = json.loads((REAL / "truth.json").read_text())["images"][name]
    pipeline = GalleryPipeline.create(PipelineOptions(mode=RunningMode.IMAGE), threads=2, identity=None)
    result = pipeline.process(Frame(cv2.imread(str(REAL / name))))
    inset = np.array([f["box"] for f in entry["faces"] if f["kind"] == "selfview"][1:], np.float32)  # [0]: pre-join
    live = np.array([f["box"] for f in entry["faces"] if f["kind"] == "live"], np.float32)
    assert iou_matrix(inset, result.self_view.xyxy).max() > 0.5
    assert iou_matrix(inset, result.faces.xyxy).max() < 0.3
    assert (iou_matrix(live, result.faces.xyxy).max(axis=1) > 0.3).all()  # every live face stays


def test_options_are_checked_by_name():
    with pytest.raises(ValueError, match="min_fill"):
        CornerInsetOptions(min_fill=0.0)
    with pytest.raises(ValueError, match="corner_slack"):
        CornerInsetOptions(corner_slack=0.5)

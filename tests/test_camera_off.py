"""Profile photos on camera-off tiles are told apart from live webcam faces."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_overlay.analysis.camera_off import CameraOffOptions, profile_photos, side_margins
from fer_overlay.analysis.face_search import FaceSearchOptions, detect_full_frame
from fer_overlay.analysis.pipeline import GalleryPipeline, PipelineOptions, RunningMode
from fer_overlay.analysis.track import iou_matrix
from fer_overlay.types import Frame

REAL = Path(__file__).parent / "data" / "real_screens"


def canvas(tile: np.ndarray, picture: np.ndarray | None, colour: int | tuple[int, int, int],
           bars: int = 0) -> np.ndarray:
    """A 2x1 gallery on a black canvas: `tile` as a live video, and a camera-off tile of `colour`
    (a grey level or a BGR colour)."""
    h, w = tile.shape[:2]
    out = np.zeros((h + 20, 2 * w + 30, 3), np.uint8)
    live = tile.copy()
    if bars:  # a pillarboxed (phone) video: black bars beside the picture
        live[:, :bars] = 0
        live[:, -bars:] = 0
    out[10 : 10 + h, 10 : 10 + w] = live
    off = np.full((h, w, 3), colour, np.uint8)
    if picture is not None:
        side = int(h * 0.55)
        pic = cv2.resize(picture, (side, side), interpolation=cv2.INTER_AREA)
        y, x = (h - side) // 2, (w - side) // 2
        off[y : y + side, x : x + side] = pic
    out[10 : 10 + h, 20 + w : 20 + 2 * w] = off
    return out


def test_a_picture_on_a_camera_off_tile_is_a_profile_photo_and_the_video_is_not(pipeline_detector, webcam_tile):
    h, w = webcam_tile.shape[:2]
    face_crop = webcam_tile[:, (w - h) // 2 : (w + h) // 2]  # a square "profile picture" of a face
    # Zoom, Teams and Meet tile greys, and a grid extension's navy (luma 3: it was taken for black)
    for colour in (36, 41, 64, (28, 0, 0)):
        image = canvas(webcam_tile, face_crop, colour)
        faces = detect_full_frame(pipeline_detector, image, FaceSearchOptions())
        assert len(faces) == 2, colour
        photo = profile_photos(image, faces)
        on_right = faces.centers[:, 0] > image.shape[1] / 2
        assert photo.tolist() == on_right.tolist(), colour


def test_pillarboxed_live_video_is_not_a_profile_photo(pipeline_detector, webcam_tile):
    w = webcam_tile.shape[1]
    image = canvas(webcam_tile, None, 36, bars=w // 6)
    faces = detect_full_frame(pipeline_detector, image, FaceSearchOptions())
    assert len(faces) == 1 and not profile_photos(image, faces).any()
    # Black bars stay black by the brightest channel too, with the noise of a compressed stream.
    noisy = cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1], cv2.IMREAD_COLOR)
    faces = detect_full_frame(pipeline_detector, noisy, FaceSearchOptions())
    assert len(faces) == 1 and not profile_photos(noisy, faces).any()


def zoom_tile(content: np.ndarray, width_over_height: float, colour: int = 36) -> np.ndarray:
    """A 16:9 tile of Zoom's grey with `content` resized to the tile's full height, centred."""
    h, w = 270, 480
    tile = np.full((h, w, 3), colour, np.uint8)
    cw = round(h * width_over_height)
    x = (w - cw) // 2
    tile[:, x : x + cw] = cv2.resize(content, (cw, h), interpolation=cv2.INTER_AREA)
    out = np.zeros((h + 20, w + 20, 3), np.uint8)  # the black canvas around the tile
    out[10 : 10 + h, 10 : 10 + w] = tile
    return out


def test_a_zoom_picture_as_tall_as_its_tile_is_a_profile_photo_and_pillarboxed_video_is_not(pipeline_detector,
                                                                                              webcam_tile):
    """Zoom draws a square profile picture the full height of its tile; a phone (9:16) or 4:3 video
    sits in the same grey, full height too. Only the square is a picture."""
    h, w = webcam_tile.shape[:2]
    head = webcam_tile[:, (w - h) // 2 : (w + h) // 2]
    verdicts = {}
    for shape in (1.0, 0.9, 9 / 16, 4 / 3):
        image = zoom_tile(head, shape)
        faces = detect_full_frame(pipeline_detector, image, FaceSearchOptions())
        assert len(faces) == 1, shape
        verdicts[shape] = bool(profile_photos(image, faces)[0])
    assert verdicts == {1.0: True, 0.9: True, 9 / 16: False, 4 / 3: False}


def meet_grid(webcam_tile: np.ndarray, quality: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Two rows of edge-to-edge navy Meet-extension tiles: live videos on top, and below them a round
    photo placed high in its tile (the live tile a few pixels above it), sharpened and saved as a
    JPEG so that the circle's rim rings. Returns the image and the circle's box."""
    th, tw, navy = 168, 284, (28, 0, 0)
    image = np.zeros((2 * th, 3 * tw, 3), np.uint8)
    image[:] = navy
    live = cv2.resize(webcam_tile, (tw, th), interpolation=cv2.INTER_AREA)
    for col in range(3):
        image[:th, col * tw : (col + 1) * tw] = live
    h, w = webcam_tile.shape[:2]
    d = 86  # the circle, its top 10 px below the tile's, as Meet draws it in a short tile
    face = cv2.resize(webcam_tile[:, (w - h) // 2 : (w + h) // 2], (d, d), interpolation=cv2.INTER_AREA)
    x, y = tw + (tw - d) // 2, th + 10
    disc = np.zeros((d, d), np.uint8)
    cv2.circle(disc, (d // 2, d // 2), d // 2, 255, -1, cv2.LINE_AA)
    alpha = (disc.astype(np.float32) / 255)[:, :, None]
    region = image[y : y + d, x : x + d].astype(np.float32)
    image[y : y + d, x : x + d] = (alpha * face + (1 - alpha) * region).astype(np.uint8)
    # A browser's resampling sharpens: a dark halo round the rim, as on the real screenshot.
    image = cv2.addWeighted(image, 1.8, cv2.GaussianBlur(image, (0, 0), 1.0), -0.8, 0)
    jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR), (x, y, x + d, y + d)


@pytest.mark.parametrize("quality", [95, 70])
def test_a_round_photo_high_in_a_short_compressed_meet_tile_is_a_profile_photo(pipeline_detector, webcam_tile, quality):
    """The once-JPEG rim of a round photo rings for a pixel or two (which cut the tile margin
    into 1-px runs), and the live tile above leaves a thin strip of tile there."""
    image, (x1, y1, x2, y2) = meet_grid(webcam_tile, quality)
    faces = detect_full_frame(pipeline_detector, image, FaceSearchOptions())
    centers = faces.centers
    in_circle = (centers[:, 0] > x1) & (centers[:, 0] < x2) & (centers[:, 1] > y1) & (centers[:, 1] < y2)
    assert in_circle.sum() == 1 and (~in_circle).sum() == 3
    assert profile_photos(image, faces).tolist() == in_circle.tolist()


def test_a_ringing_rim_does_not_cut_the_tile_margin_short():
    """Beside a sharpened picture's rim, the first flat line is followed by a ringing one (a line
    spanning 12 grey levels) before the tile's colour settles; the margin runs past it."""
    grey = np.full((200, 200), 28, np.uint8)
    grey[67:134, 67:134] = 40  # a light halo: a line through it spans 12 levels, not flat
    grey[68:133, 68:133] = 20  # inside it a dark one: 8 levels, still flat
    grey[69:132, 69:132] = 200  # the picture
    box = np.array([88, 86, 112, 114], np.float32)  # the face inside it
    for run, colour, start in side_margins(grey, box, CameraOffOptions()):
        assert run >= 45 and abs(colour - 28) <= 10, (run, colour, start)


def test_options_are_checked_by_name():
    with pytest.raises(ValueError, match="min_margin"):
        CameraOffOptions(min_margin=0.0)
    with pytest.raises(ValueError, match="flat_tolerance"):
        CameraOffOptions(flat_tolerance=-1)
    with pytest.raises(ValueError, match="short_top"):
        CameraOffOptions(short_top=0.5)


def test_on_real_screens_no_live_face_is_taken_for_a_photo_and_round_pictures_are_found():
    truth = json.loads((REAL / "truth.json").read_text())["images"]
    pipeline = GalleryPipeline.create(PipelineOptions(mode=RunningMode.IMAGE), threads=2, identity=None)
    found_avatars = 0
    for name, entry in truth.items():
        result = pipeline.process(Frame(cv2.imread(str(REAL / name))))
        live = np.array([f["box"] for f in entry["faces"] if f["kind"] == "live"], np.float32).reshape(-1, 4)
        if len(result.avatars) and len(live):
            assert iou_matrix(result.avatars.xyxy, live).max() < 0.3, f"{name}: a live face taken for a photo"
        pictures = [f["box"] for f in entry["faces"] if f["kind"] == "avatar"]
        for x1, y1, x2, y2 in pictures:
            c = result.avatars.centers
            found_avatars += int(((c[:, 0] >= x1) & (c[:, 0] <= x2) & (c[:, 1] >= y1) & (c[:, 1] <= y2)).any())
    # The two round pictures of the Zoom 2024 gallery (ropensci_rse_latam_zoom_dark_13.jpg).
    assert found_avatars >= 2


def test_a_floating_self_view_inset_is_not_a_student(webcam_tile):
    """A small tile floating over the speaker's tile (the local user's self-view) is set aside."""
    h, w = webcam_tile.shape[:2]
    big = cv2.resize(webcam_tile, (w * 3, h * 3), interpolation=cv2.INTER_LINEAR)
    image = np.zeros((big.shape[0] + 40, big.shape[1] + 40, 3), np.uint8)
    image[20:-20, 20:-20] = big
    small = cv2.resize(webcam_tile, (w * 2 // 3, h * 2 // 3), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    y, x = image.shape[0] - 20 - sh - 16, image.shape[1] - 20 - sw - 16
    image[y - 3 : y + sh + 3, x - 3 : x + sw + 3] = 0  # the inset's own border on the canvas colour
    image[y : y + sh, x : x + sw] = small
    pipeline = GalleryPipeline.create(PipelineOptions(mode=RunningMode.IMAGE), threads=2, identity=None)
    result = pipeline.process(Frame(image))
    assert len(result.layout.insets) == 1
    assert len(result.self_view) == 1 and len(result.faces) == 1
    assert result.self_view.centers[0, 0] > x and result.faces.centers[0, 0] < x

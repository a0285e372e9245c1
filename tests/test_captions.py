"""Captions fit the tile: inside it, off the app's name label, off the eyes and mouth, and
legible when the feed is shown at 720p, on generated 9/25/49-tile galleries."""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np
import pytest

from fer_overlay.synth import GallerySpec, GalleryTruth, Style, make_gallery
from fer_overlay.types import Faces, Layout, LayoutKind, Tile, View
from fer_overlay.views.captions import (
    LEGIBLE_CAP_PX,
    Caption,
    CaptionText,
    expression_box,
    face_region,
    label_band,
    place_caption,
)
from fer_overlay.views.compose import ViewState, render
from fer_overlay.views.render import FONT, RenderStyle, annotate_faces, captions_for

Box = tuple[int, int, int, int]
# Where CenterFace puts the 5 landmarks in its box (eyes, nose, mouth corners), as fractions.
LANDMARKS = np.array([[0.32, 0.38], [0.68, 0.38], [0.5, 0.56], [0.37, 0.75], [0.63, 0.75]], np.float32)
LONG_NAME = "Christopher Alexander Montgomery-Villanueva (he/him)"


@cache
def gallery(participants: int, style: Style = Style.ZOOM) -> tuple[np.ndarray, GalleryTruth]:
    return make_gallery(GallerySpec(participants=participants, size=(1920, 1080), style=style, seed=participants))


def faces_of(truth: GalleryTruth, long_names: bool = False) -> tuple[Faces, tuple[Tile, ...]]:
    """Faces as the pipeline would give them (box, landmarks, tile, emotion, name) from the truth."""
    tiles = tuple(Tile(t.index, *t.rect) for t in truth.tiles)
    xyxy = truth.face_boxes()
    wh = xyxy[:, 2:] - xyxy[:, :2]
    landmarks = xyxy[:, None, :2] + LANDMARKS[None] * wh[:, None]
    n = len(xyxy)
    emotion = (np.arange(n) % 7).astype(np.int8)  # every class, "surprise" (the longest) included
    probs = np.full((n, 7), 0.05, np.float32)
    probs[np.arange(n), emotion] = 0.7
    names = tuple(LONG_NAME if long_names else t.display_name for t in truth.faces)
    return Faces(xyxy=xyxy, landmarks=landmarks, tile=[t.index for t in truth.faces], probs=probs,
                 emotion=emotion, name=names), tiles


def inside(box: Box, outer: Box) -> bool:
    return outer[0] <= box[0] and outer[1] <= box[1] and box[2] <= outer[2] and box[3] <= outer[3]


def overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def rendered_cap_height(caption: Caption) -> int:
    """The height of a capital drawn as this caption draws its text, in pixels."""
    img = np.zeros((4 * caption.cap_px + 20, 4 * caption.cap_px + 20), np.uint8)
    cv2.putText(img, "H", (5, 2 * caption.cap_px + 10), FONT, caption.scale, 255, caption.thickness, cv2.LINE_AA)
    rows = np.flatnonzero(img.max(axis=1) >= 128)
    return int(rows[-1] - rows[0] + 1)


def check(captions: tuple[Caption | None, ...], faces: Faces, tiles: tuple[Tile, ...], size: tuple[int, int],
          min_cap: float) -> None:
    by_index = {t.index: t.xyxy for t in tiles}
    for i, caption in enumerate(captions):
        assert caption is not None, f"face {i} has no caption"
        tile = by_index[int(faces.tile[i])]
        assert inside(caption.box, tile), f"face {i}: caption {caption.box} leaves its tile {tile}"
        band = label_band(tile, size)
        assert not overlaps(caption.box, band), f"face {i}: caption {caption.box} over the name label {band}"
        core = expression_box(faces.xyxy[i], faces.landmarks[i])
        assert not overlaps(caption.box, core), f"face {i}: caption {caption.box} over the eyes/mouth {core}"
        assert rendered_cap_height(caption) >= min_cap, f"face {i}: {caption.cap_px} px capitals"
        for line in caption.lines:
            (w, _), _ = cv2.getTextSize(line, FONT, caption.scale, caption.thickness)
            assert w <= caption.box[2] - caption.box[0]


@pytest.mark.parametrize("participants", [9, 25, 49])
def test_captions_stay_in_the_tile_off_the_label_and_the_face_and_legible_at_720p(participants: int) -> None:
    _, truth = gallery(participants)
    faces, tiles = faces_of(truth)
    captions = captions_for(faces, (1920, 1080), RenderStyle(), tiles)
    # Drawn at 1080p, shown by the meeting app at 720p: capitals must still be LEGIBLE_CAP_PX there.
    check(captions, faces, tiles, (1920, 1080), LEGIBLE_CAP_PX * 1080 / 720)


@pytest.mark.parametrize("participants", [9, 49])
def test_the_720p_gallery_view_keeps_captions_in_the_tiles(participants: int) -> None:
    image, truth = gallery(participants)
    faces, tiles = faces_of(truth)
    state = ViewState(faces, layout=Layout(LayoutKind.GRID, tiles, (1920, 1080)))
    out = render(View.GALLERY, image, state, (1280, 720))
    plain = render(View.OFF, image, state, (1280, 720))
    k = 720 / 1080
    small = faces.with_(xyxy=faces.xyxy * k, landmarks=faces.landmarks * k)
    small_tiles = tuple(Tile(t.index, round(t.x * k), round(t.y * k), round((t.x + t.w) * k) - round(t.x * k),
                             round((t.y + t.h) * k) - round(t.y * k)) for t in tiles)
    check(captions_for(small, (1280, 720), RenderStyle(), small_tiles), small, small_tiles, (1280, 720),
          LEGIBLE_CAP_PX)
    # And in pixels: nothing drawn over any tile's label band or any face's eyes and mouth.
    changed = np.abs(out.astype(np.int16) - plain.astype(np.int16)).max(axis=2) > 0
    assert changed.any()
    for t in small_tiles:
        x1, y1, x2, y2 = label_band(t.xyxy, (1280, 720))
        assert not changed[y1:y2, x1:x2].any(), f"tile {t.index}: its name label was drawn over"
    for i in range(len(small)):
        x1, y1, x2, y2 = expression_box(small.xyxy[i], small.landmarks[i])
        assert not changed[y1:y2, x1:x2].any(), f"face {i}: its eyes or mouth were drawn over"


@pytest.mark.parametrize("style", [Style.TEAMS, Style.MEET])
def test_captions_avoid_the_label_in_each_app_style(style: Style) -> None:
    image, truth = gallery(49, style)
    faces, tiles = faces_of(truth)
    out = annotate_faces(image, faces, RenderStyle(), tiles)
    changed = np.abs(out.astype(np.int16) - image.astype(np.int16)).max(axis=2) > 0
    for t in tiles:
        x1, y1, x2, y2 = label_band(t.xyxy, (1920, 1080))
        assert not changed[y1:y2, x1:x2].any(), f"tile {t.index}: label band drawn over"
    tiles_mask = np.zeros(changed.shape, bool)
    for t in tiles:
        tiles_mask[t.y : t.y + t.h, t.x : t.x + t.w] = True
    assert not (changed & ~tiles_mask).any(), "something was drawn outside the tiles"


def test_the_label_band_covers_the_apps_own_label() -> None:
    image, truth = gallery(49, Style.TEAMS)  # Teams: the tallest label chip with the most margin
    off = [t for t in truth.tiles if t.kind.value == "camera_off"]
    assert off
    for t in off:  # camera-off tiles are flat but for the avatar and the label: find the label's pixels
        x, y, w, h = t.rect
        tile = image[y : y + h, x : x + w].astype(np.int16)
        flat = np.median(tile[h // 2 - 2 : h // 2 + 2, 2:8].reshape(-1, 3), axis=0)
        differs = np.abs(tile - flat).max(axis=2) > 12
        differs[: int(h * 0.75)] = False  # the avatar sits in the middle; the label lies below it
        rows = np.flatnonzero(differs[:, 3 : w // 2].any(axis=1))
        assert len(rows)
        band = label_band((x, y, x + w, y + h), (1920, 1080))
        assert y + rows[0] >= band[1], f"tile {t.index}: label starts at row {rows[0]}, band at {band[1] - y}"


def test_long_names_are_dropped_not_overflowed() -> None:
    _, truth = gallery(49)
    faces, tiles = faces_of(truth, long_names=True)
    captions = captions_for(faces, (1920, 1080), RenderStyle(), tiles)
    check(captions, faces, tiles, (1920, 1080), LEGIBLE_CAP_PX * 1.5)
    assert all(c is not None and LONG_NAME not in c.lines for c in captions)
    # In a big tile the same name fits and is kept.
    big = place_caption(CaptionText("happy", "Maria Lopez", 82), (800, 300, 1000, 550), None, (0, 0, 1920, 1080),
                        (1920, 1080))
    assert big is not None and big.lines == ("Maria Lopez", "happy 82%")


def test_the_emotion_is_abbreviated_in_a_narrow_tile() -> None:
    text = CaptionText("surprise", "Maria Lopez", 82)
    tile = (0, 0, 120, 68)  # 49-tile gallery on a small screen, drawn at 720p
    caption = place_caption(text, (45, 12, 75, 46), None, tile, (1280, 720))
    assert caption is not None and inside(caption.box, tile)
    assert caption.lines in (("surprise",), ("sur",), ("surprise 82%",))
    narrower = place_caption(text, (18, 12, 42, 46), None, (0, 0, 60, 68), (1280, 720))
    assert narrower is not None and narrower.lines == ("sur",) and narrower.box[2] <= 60


def test_a_given_label_box_is_avoided_instead_of_the_band() -> None:
    tile = (0, 0, 400, 225)
    face = (150, 20, 250, 200)  # a big face: the only free room is low beside it, in the default band
    label = (0, 195, 160, 225)  # the real label is short, on the left
    default = place_caption(CaptionText("happy", None, 90), face, None, tile, (1280, 720))
    given = place_caption(CaptionText("happy", None, 90), face, None, tile, (1280, 720), label=label)
    assert default is not None and given is not None
    assert not overlaps(given.box, label) and not overlaps(default.box, label_band(tile, (1280, 720)))


def test_a_face_without_a_tile_gets_a_caption_inside_the_frame() -> None:
    size = (640, 360)
    for box in [(560, 280, 630, 355), (0, 0, 60, 70), (290, 150, 350, 220)]:
        faces = Faces(xyxy=np.array([box], np.float32), emotion=np.array([3], np.int8),
                      probs=np.eye(7, dtype=np.float32)[[3]], name=("Maria Lopez",))
        (caption,) = captions_for(faces, size)
        assert caption is not None and inside(caption.box, (0, 0, *size)), f"{box}: {caption}"
        assert not overlaps(caption.box, expression_box(box, None))
        out = annotate_faces(np.zeros((360, 640, 3), np.uint8), faces)
        assert out.shape == (360, 640, 3)


def test_faces_without_tiles_do_not_share_caption_space() -> None:
    _, truth = gallery(25)
    faces, _ = faces_of(truth)
    captions = captions_for(faces, (1920, 1080))  # no tiles: stand-in regions around each face
    boxes = [c.box for c in captions if c is not None]
    assert len(boxes) == len(faces)
    for i, a in enumerate(boxes):
        assert inside(a, (0, 0, 1920, 1080))
        assert not overlaps(a, expression_box(faces.xyxy[i], faces.landmarks[i]))
        assert not any(overlaps(a, b) for b in boxes[i + 1 :]), f"caption {i} overlaps another"
        region = face_region(i, faces.xyxy, (1920, 1080))
        assert inside(a, region)


def test_placement_and_drawing_are_pure() -> None:
    image, truth = gallery(9)
    faces, tiles = faces_of(truth)
    landmarks = np.array(faces.landmarks[0])
    before_image, before_lm = image.copy(), landmarks.copy()
    tile = next(t for t in tiles if t.index == faces.tile[0])
    args = (CaptionText("happy", "Maria Lopez", 82), [float(v) for v in faces.xyxy[0]], landmarks, tile.xyxy,
            (1920, 1080))
    assert place_caption(*args) == place_caption(*args)
    a = annotate_faces(image, faces, RenderStyle(), tiles)
    b = annotate_faces(image, faces, RenderStyle(), tiles)
    assert np.array_equal(image, before_image) and np.array_equal(landmarks, before_lm)
    assert np.array_equal(a, b) and a is not image and a.dtype == np.uint8

"""The output thread's drawing is pinned to a golden set: making it faster must not change it.

tests/data/render_golden/ holds a fixed scene, faces and what each view drew from them
(written by scripts/make_render_golden.py when a drawing change is meant). Anti-aliased
text and area resampling may differ by a level between OpenCV builds and CPUs, so a pixel
may be off by a little; a moved caption, a missing box or a changed colour is not. OpenCV
releases do change the drawing (5.1 spaces Hershey text differently from 5.0, the set's
release), so pyproject.toml pins the minor release, and this test is what says when to move.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from script_loader import load_script

golden = load_script("make_render_golden")


@pytest.mark.parametrize("name", list(golden.CASES))
def test_views_draw_the_golden_pixels(name: str) -> None:
    from fer_overlay.types import View
    from fer_overlay.views.compose import render

    image = cv2.imread(str(golden.FOLDER / "scene.png"))
    spec = json.loads((golden.FOLDER / "faces.json").read_text())
    view, size, anonymous = golden.CASES[name]
    state = golden.state_for(spec, anonymous, size)
    before = (image.copy(), state.faces.xyxy.copy())
    out = render(View(view), image, state, size)
    ref = cv2.imread(str(golden.FOLDER / f"{name}.png"))
    assert out.shape == ref.shape and out.dtype == np.uint8
    diff = np.abs(out.astype(np.int16) - ref.astype(np.int16)).max(axis=2)
    assert (diff > 8).mean() < 0.002, f"{name}: {(diff > 8).mean():.2%} of pixels differ from the golden image"
    assert diff.max() <= 64 or (diff > 8).sum() < 50
    assert np.array_equal(image, before[0]) and np.array_equal(state.faces.xyxy, before[1])  # inputs untouched


def test_kept_caption_placement_follows_every_new_analysis() -> None:
    # The gallery keeps the last frame's caption placement; a new Faces (a new analysis)
    # or another output size must be placed afresh, never drawn with the old captions.
    from dataclasses import replace

    from fer_overlay.types import View
    from fer_overlay.views.compose import render

    image = cv2.imread(str(golden.FOLDER / "scene.png"))
    spec = json.loads((golden.FOLDER / "faces.json").read_text())
    first = golden.state_for(spec, False, (640, 360))
    moved = replace(first, faces=first.faces.with_(xyxy=first.faces.xyxy + np.float32(40),
                                                   landmarks=first.faces.landmarks + np.float32(40)))
    a = render(View.GALLERY, image, first, (640, 360))
    b = render(View.GALLERY, image, moved, (640, 360))
    fresh = golden.state_for(spec, False, (640, 360))  # equal values, new objects
    moved_again = replace(fresh, faces=fresh.faces.with_(xyxy=fresh.faces.xyxy + np.float32(40),
                                                         landmarks=fresh.faces.landmarks + np.float32(40)))
    assert not np.array_equal(a, b)
    assert np.array_equal(render(View.GALLERY, image, moved_again, (640, 360)), b)
    assert np.array_equal(render(View.GALLERY, image, first, (640, 360)), a)
    big = render(View.GALLERY, image, first, (1024, 576))
    ref = cv2.imread(str(golden.FOLDER / "gallery_up.png"))  # the same faces at another size: placed again
    assert (np.abs(big.astype(np.int16) - ref.astype(np.int16)).max(axis=2) > 8).mean() < 0.002


def _detail(region: np.ndarray) -> float:
    """Share of side-by-side pixel pairs that differ: a pixelated region changes only at its
    cell edges (1 pair in 12 for 12 px cells), text and pictures far more often."""
    d = np.abs(np.diff(region.astype(np.int16), axis=1)).max(axis=2)
    return float((d > 2).mean())


def test_anonymous_feed_hides_the_apps_own_name_labels_and_camera_off_names() -> None:
    from dataclasses import replace

    from fer_overlay.types import View
    from fer_overlay.views.compose import label_areas, render, transform_tiles

    image = cv2.imread(str(golden.FOLDER / "scene.png"))
    spec = json.loads((golden.FOLDER / "faces.json").read_text())
    state = golden.state_for(spec, True, (640, 360))
    named = render(View.GALLERY, image, replace(state, anonymous=False), (640, 360))
    anon = render(View.GALLERY, image, state, (640, 360))
    scale = 640 / 960
    areas = label_areas(state.faces.with_(xyxy=state.faces.xyxy * scale), transform_tiles(state.layout, scale, (0, 0)),
                        (640, 360))
    empty = [t for t in spec["tiles"] if spec["tiles"].index(t) not in set(spec["face_tiles"])]
    assert len(areas) == 2 * (len(spec["tiles"]) - len(empty)) + len(empty)
    x1, y1, x2, y2 = areas[0]  # the first tile's bottom band, where "Uma Krishnan" is printed
    # Cells are aligned to the area's own corner; text drawn by us (captions) is never in a band.
    assert _detail(anon[y1:y2, x1:x2]) <= 0.1 < _detail(named[y1:y2, x1:x2])


def test_without_a_tile_grid_the_anonymous_areas_cover_labels_above_and_below_a_face() -> None:
    """OpenVidu prints names at the tile's top-left, several face widths left of a small face and
    a couple of face heights above it (openvidu_call_grid_4.jpg: "Lewis"); Zoom below-left."""
    from fer_overlay.types import Faces
    from fer_overlay.views.compose import label_areas

    face = Faces(xyxy=np.array([[1246, 146, 1308, 220]], np.float32))
    areas = label_areas(face, (), (1680, 1050))

    def covered(x: float, y: float) -> bool:
        return any(x1 <= x <= x2 and y1 <= y <= y2 for x1, y1, x2, y2 in areas)

    assert covered(860, 105) and covered(1180, 104)  # "Lewis" at the tile's top-left corner
    assert covered(1200, 240) and covered(1300, 330)  # a label below-left, as Zoom prints it
    assert not covered(1277, 183)  # the face itself is blurred, not counted as a label


def test_anonymous_feed_pixelates_everything_until_it_knows_where_the_faces_are() -> None:
    from dataclasses import replace

    from fer_overlay.types import Faces, View
    from fer_overlay.views.compose import render

    image = cv2.imread(str(golden.FOLDER / "scene.png"))
    spec = json.loads((golden.FOLDER / "faces.json").read_text())
    state = replace(golden.state_for(spec, True, (640, 360)), faces=Faces.empty(), faces_current=False, age_s=None)
    out = render(View.GALLERY, image, state, (640, 360))
    assert _detail(out) <= 0.06 < _detail(image)  # the whole picture, in 24 px cells

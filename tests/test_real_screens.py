"""The real-screenshot dev set (tests/data/real_screens) and the helpers of scripts/bench_real_galleries.py.

No accuracy is asserted here: the pipeline is measured by the bench script, not gated by this test.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from script_loader import load_script

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "real_screens"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
MAX_BYTES = 600 * 1024


bench = load_script("bench_real_galleries")


@pytest.fixture(scope="module")
def truth() -> dict:
    doc = json.loads((DATA / "truth.json").read_text(encoding="utf-8"))
    assert doc["version"] == 1
    return doc["images"]


def test_every_image_has_truth_and_every_truth_has_an_image(truth):
    files = {p.name for p in DATA.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    assert files, "no images in the dev set"
    assert set(truth) == files


def test_images_are_small_enough_to_commit():
    for p in DATA.iterdir():
        if p.suffix.lower() in IMAGE_SUFFIXES:
            assert p.stat().st_size <= MAX_BYTES, f"{p.name} is {p.stat().st_size} bytes"


def test_sources_lists_every_image(truth):
    sources = (DATA / "SOURCES.md").read_text(encoding="utf-8")
    for name in truth:
        assert name in sources, f"{name} has no provenance in SOURCES.md"


def _check_box(box, size, where):
    w, h = size
    assert isinstance(box, list) and len(box) == 4, where
    assert all(isinstance(v, (int, float)) for v in box), where
    x1, y1, x2, y2 = box
    assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h, f"{where}: {box} outside {w}x{h}"


def test_truth_schema_and_boxes_inside_the_image(truth):
    for name, entry in truth.items():
        with Image.open(DATA / name) as im:
            size = im.size
        assert entry["app"] in {"zoom", "meet", "teams", "other"}, name
        assert entry["view"] in {"grid", "speaker", "share", "other"}, name
        tiles = entry["tiles"]
        assert tiles is None or (isinstance(tiles, int) and tiles >= 1), name
        assert isinstance(entry.get("notes", ""), str)
        assert set(entry) <= {"app", "view", "tiles", "faces", "camera_off", "notes"}, name
        for i, face in enumerate(entry["faces"]):
            where = f"{name} face {i}"
            assert set(face) == {"box", "kind", "name"}, where
            assert face["kind"] in bench.KINDS, where
            assert face["name"] is None or (isinstance(face["name"], str) and face["name"].strip()), where
            _check_box(face["box"], size, where)
        for i, off in enumerate(entry.get("camera_off", [])):
            where = f"{name} camera_off {i}"
            assert set(off) == {"box", "name"}, where
            _check_box(off["box"], size, where)
        assert any(f["kind"] == "live" for f in entry["faces"]), f"{name} has no live face"


def test_iou_matrix_on_hand_made_boxes():
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [100, 100, 110, 110]])
    iou = bench.iou_matrix(a, b)
    assert iou.shape == (2, 3)
    assert iou[0, 0] == pytest.approx(1.0)
    assert iou[0, 1] == pytest.approx(50 / 150)
    assert iou[1].max() == 0.0
    assert bench.iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)


def test_matching_is_one_to_one_and_thresholded():
    truth = np.array([[0, 0, 10, 10], [12, 0, 22, 10], [50, 50, 60, 60]])
    # The first prediction overlaps both truth boxes; the optimum gives each truth its own.
    pred = np.array([[3, 0, 13, 10], [12, 0, 22, 10], [0, 0, 10, 10], [55, 55, 70, 70]])
    pairs = bench.match_boxes(truth, pred)
    assert pairs == [(0, 2), (1, 1)]  # (50..60) vs (55..70): IoU 25/300 < 0.3, no match
    assert len({p for _, p in pairs}) == len(pairs)
    assert bench.match_boxes(truth, np.zeros((0, 4))) == []


def test_score_image_counts_faces_false_faces_avatars_and_names():
    truth = {
        "app": "zoom", "view": "grid", "tiles": 4,
        "faces": [
            {"box": [10, 10, 50, 60], "kind": "live", "name": "Ana López"},
            {"box": [110, 10, 150, 60], "kind": "live", "name": "Christopher Vill..."},
            {"box": [210, 10, 250, 60], "kind": "live", "name": None},
            {"box": [300, 0, 400, 100], "kind": "avatar", "name": "Bo"},
            {"box": [420, 80, 440, 100], "kind": "selfview", "name": None},
            {"box": [500, 0, 510, 10], "kind": "optional", "name": None},
        ],
        "camera_off": [{"box": [600, 0, 700, 100], "name": "Cy"}],
    }
    pred = np.array([
        [12, 12, 50, 58],  # Ana, name right
        [112, 10, 150, 62],  # Christopher, read with the unicode ellipsis
        [330, 30, 370, 70],  # on the avatar
        [420, 80, 440, 100],  # the self-view
        [500, 0, 510, 10],  # optional: neither found nor false
        [620, 20, 660, 60],  # on a camera-off tile: false
        [800, 0, 820, 20],  # nowhere: false
    ])
    names = ["Ana López", "Christopher Vill…", None, None, None, None, None]
    s, matched = bench.score_image("x.png", truth, pred, names)
    assert (s.live, s.live_found) == (3, 2)
    assert s.misses == ["[210, 10, 250, 60]"]
    assert (s.false_faces, s.false_on_camera_off) == (2, 1)
    assert (s.avatars, s.avatars_as_face) == (1, 1)
    assert (s.selfviews, s.selfviews_as_face) == (1, 1)
    assert (s.names_legible, s.names_exact) == (2, 2)
    assert matched[0] == 0 and matched[1] == 1
    # A pipeline that labels the avatar and self-view as such is credited for it.
    kinds = ["live", "live", "avatar", "selfview", "live", "live", "live"]
    s2, _ = bench.score_image("x.png", truth, pred, names, kinds)
    assert (s2.avatars_as_face, s2.avatars_recognised) == (0, 1)
    assert (s2.selfviews_as_face, s2.selfviews_recognised) == (0, 1)


def test_a_wrong_or_missing_name_is_not_exact():
    truth = {"faces": [{"box": [0, 0, 10, 10], "kind": "live", "name": "Maria"}]}
    s, _ = bench.score_image("x.png", truth, np.array([[0, 0, 10, 10]]), ["Mario"])
    assert (s.names_legible, s.names_exact) == (1, 0)
    s, _ = bench.score_image("x.png", truth, np.zeros((0, 4)), [])
    assert (s.live_found, s.names_exact, s.wrong_names) == (0, 0, ["Maria -> (face missed)"])


def test_name_matching_ignores_whitespace_and_the_ellipsis_glyph():
    assert bench.name_matches("  Jane  Koh ", "Jane Koh")[0]
    assert bench.name_matches("Charlie", "Charlie #2")[0]  # identity's suffix for a repeated label
    assert bench.name_matches("iPhone #2", "iPhone #2")[0] and not bench.name_matches("Charlie", "Charles #2")[0]
    assert bench.name_matches("Bernease R Herma...", "Bernease R Herma…")[0]
    assert not bench.name_matches("Jane Koh", None)[0]
    assert not bench.name_matches(None, "Jane Koh")[0]


# --- names on real screenshots: the text pass alone, on the truth's face boxes -----------------------

# Screens whose labels the text pass reads and attaches right, given where the faces are and no tile
# grid (the layout finder sees none on OpenVidu's letterboxed videos): labels at the tiles' top left
# (OpenVidu, the same name on two faces included) and at the bottom left (ACS, on phone tiles).
NAMED_WITHOUT_A_GRID = ["openvidu_call_grid_4.jpg", "openvidu_session_main_plus_4.jpg", "acs_ui_android_calling.jpg"]


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMED_WITHOUT_A_GRID)
def test_labels_are_read_and_attached_on_real_screens(truth, name):
    import cv2

    from fer_overlay.people.identity import IdentityOptions, IdentityTracker
    from fer_overlay.people.names import label_of, normalise
    from fer_overlay.types import Faces, Layout

    image = cv2.imread(str(DATA / name))
    live = [f for f in truth[name]["faces"] if f["kind"] == "live"]
    faces = Faces(xyxy=np.array([f["box"] for f in live], np.float32), track_id=np.arange(len(live)),
                  tile=np.full(len(live), -1))
    layout = Layout.whole_frame(image.shape[1], image.shape[0])
    named, _ = IdentityTracker(options=IdentityOptions()).update(image, layout, faces, 0.0, "image")
    # A second face with the same label is "Charlie #2" by identity's rule: the label is still Charlie's.
    got = [normalise(label_of(n)).key if n else None for n in named.name]
    assert got == [normalise(f["name"]).key for f in live]

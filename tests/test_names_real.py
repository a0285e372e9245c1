"""Name labels the text pass misread on real screenshots (tests/data/real_screens), run through the
real models: rapidocr's detector and recogniser, on the truth's face boxes (no face detector); and
the cleaning of what the recogniser made of them."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_overlay.people.identity import IdentityOptions, IdentityTracker
from fer_overlay.people.label_reads import text_lines
from fer_overlay.people.names import normalise
from fer_overlay.people.ocr import TextDetector, _faded
from fer_overlay.types import Faces, Layout

DATA = Path(__file__).resolve().parent / "data" / "real_screens"


def _truth(name: str) -> dict:
    return json.loads((DATA / "truth.json").read_text(encoding="utf-8"))["images"][name]


def _names_on_truth_faces(name: str) -> tuple[list[str | None], list[str | None]]:
    """(read, truth) keys of each live face's label, with no tile grid."""
    image = cv2.imread(str(DATA / name))
    live = [f for f in _truth(name)["faces"] if f["kind"] == "live"]
    faces = Faces(xyxy=np.array([f["box"] for f in live], np.float32), track_id=np.arange(len(live)),
                  tile=np.full(len(live), -1))
    layout = Layout.whole_frame(image.shape[1], image.shape[0])
    named, _ = IdentityTracker(options=IdentityOptions()).update(image, layout, faces, 0.0, "image")
    got = [normalise(n).key if n else None for n in named.name]
    return got, [normalise(f["name"]).key if f["name"] else None for f in live]


@pytest.mark.slow
def test_labels_side_by_side_in_a_strip_are_three_names_not_one() -> None:
    """A Zoom thumbnail strip puts each tile's label a word space after the previous tile's: the
    detector's three boxes are three labels (a face sits between each one's start and the next's),
    not one line given to one face."""
    got, want = _names_on_truth_faces("ropensci_rladies_ba_tweet_zoom_share.jpg")
    assert got == want


@pytest.mark.slow
def test_small_labels_are_read_at_a_closer_look() -> None:
    """Zoom shrinks long names (9 px on this 1117-line screen, 6.5 px at the detector's scale): the
    faces left unnamed get their regions looked at twice as large."""
    got, want = _names_on_truth_faces("ropensci_rse_latam_zoom_dark_13.jpg")
    assert sum(g == w for g, w in zip(got, want)) == len(want), (got, want)


# LiveKit Meet's 4x3 grid (758 lines): each tile's label band as the text pass cuts it (the tiles the
# layout finds, 24 px of 1080 wider each side), and where the label in it is (the "mdo" chip, ...).
_LIVEKIT_BANDS = [
    ((94, 237, 373, 284), (115, 262)), ((342, 234, 616, 280), (362, 268)), ((585, 234, 863, 280), (625, 268)),
    ((832, 234, 1106, 280), (855, 268)), ((95, 420, 371, 465), (130, 454)), ((342, 419, 617, 465), (375, 454)),
    ((585, 420, 862, 465), (620, 454)), ((832, 420, 1106, 465), (865, 454)), ((95, 605, 371, 650), (135, 638)),
    ((342, 605, 617, 650), (375, 638)), ((585, 608, 863, 654), (612, 640)), ((832, 605, 1106, 650), (855, 638)),
]


@pytest.mark.slow
def test_thin_label_bands_are_not_taken_for_one_huge_word() -> None:
    """On flat grey around it, a 46 px band of a small tile was a bright bar the detector boxed whole
    (or found nothing in), and the 7 px label inside went unseen; with its edges faded into the grey
    the detector finds the label chips themselves."""
    image = cv2.imread(str(DATA / "livekit_meet_grid_12.jpg"))
    crops = [image[y1:y2, x1:x2] for (x1, y1, x2, y2), _ in _LIVEKIT_BANDS]
    detector = TextDetector()
    found = detector.detect(crops, detector.scale_for(image.shape[0]))
    hits = 0
    for ((x1, y1, _, y2), (lx, ly)), boxes, crop in zip(_LIVEKIT_BANDS, found, crops):
        lines = text_lines(boxes, crop, (True, True))
        assert all(b[3] - b[1] <= 0.6 * (y2 - y1) for b in lines), "a band boxed as one word"
        hits += any(b[0] <= lx - x1 <= b[2] and b[1] <= ly - y1 <= b[3] for b in lines)
    assert hits >= 10, f"{hits} of 12 labels found"


def test_a_bracket_never_closed_ends_no_name() -> None:
    """BigBlueButton's 5 px "Fred Dixon (you)" came out as "Fred Dixon (roul": the ")" of a suffix is
    lost or cut off as often as the app cuts the suffix itself; a name does not end in an open bracket.
    Closed brackets of no known role stay words of the name, as before."""
    assert normalise("Fred Dixon (roul").display == "Fred Dixon"
    assert normalise("Ann Lee [Room").display == "Ann Lee"
    assert normalise("Jane Koh (Tech Hel...").display == "Jane Koh"
    assert normalise("Anthony (Helper)").display == "Anthony Helper"
    assert normalise("(you") is None


def test_packed_regions_fade_into_the_grey() -> None:
    """The detector's mosaic: a region's edge pixels run into the gap and fade to mid-grey, the region
    itself untouched, so no sharp bar edge and no two regions run into one another."""
    crop = np.full((4, 6, 3), 255, np.uint8)
    out = _faded(crop, 8)
    assert out.shape == (20, 22, 3)
    assert (out[8:12, 8:14] == 255).all()
    ring = [int(out[8 - k, 10, 0]) for k in range(1, 9)]
    assert ring == sorted(ring, reverse=True) and ring[-1] - 128 < 16 and ring[0] >= 240


def test_an_icon_read_as_an_ideograph_is_dropped_even_without_a_space() -> None:
    """Zoom's mic icon before a name comes out as one CJK character, with or without a space after
    it ("灵jamie" on a real gallery); a name in that script keeps its characters."""
    assert normalise("灵jamie").display == "Jamie"
    assert normalise("灵Toby Jones").display == "Toby Jones"
    assert normalise("退 Herzog").display == "Herzog"
    assert normalise("李伟").display == "李伟"

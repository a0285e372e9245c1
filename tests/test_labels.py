"""Whose label is whose (fer_overlay.people.labels, label_places, label_reads): the side of the faces
a screen's labels are on, tiles that hold several labels, text that is nobody's label, and labels
never taken across a nearer face. Texts are placed by hand, so no model runs: this is the geometry alone."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fer_overlay.people.label_places import ABOVE, BELOW, near_face, tile_band
from fer_overlay.people.label_reads import _ZOOM_MAX_SCALE, _ZOOM_PIXELS, NO_THUMB, FoundText, _zoom_scale, text_lines
from fer_overlay.people.labels import IMAGE, LIVE, LabelScanner, _Region
from fer_overlay.people.names import normalise
from fer_overlay.people.ocr import NameReader, OcrOptions, TextDetector
from fer_overlay.people.options import IdentityOptions
from fer_overlay.types import Faces, Tile


def _scanner(texts: list[tuple[tuple[int, int, int, int], str]]) -> LabelScanner:
    """A scanner that has read these (rect, text) pairs; the models never load."""
    scanner = LabelScanner(NameReader(OcrOptions()), TextDetector(), IdentityOptions())
    scanner._texts = [FoundText(rect, NO_THUMB, normalise(text), 1.0) for rect, text in texts]
    return scanner


def _names(scanner: LabelScanner, boxes: list[tuple[int, int, int, int]],
           tiles: list[Tile | None] | None = None) -> list[str | None]:
    faces = Faces(xyxy=np.array(boxes, np.float32), track_id=np.arange(len(boxes)),
                  tile=np.array([t.index if t else -1 for t in tiles or [None] * len(boxes)]))
    names, _ = scanner.assign(faces, tiles or [None] * len(boxes), [None] * len(boxes), [0.0] * len(boxes))
    return [n.display if n else None for n in names]


# A 2x2 gallery of 800x450 tiles at (0, 0): faces 100 px high, a label 20 px high in each corner the
# side's apps print it in; the face of tile k sits at the same place in each tile.
_TILES = [Tile(k, 800 * (k % 2), 450 * (k // 2), 800, 450) for k in range(4)]
_FACES = [(t.x + 380, t.y + 150, t.x + 460, t.y + 250) for t in _TILES]
_PEOPLE = ["Martina Rossi", "Lewis Hamid", "Michael Brandt", "Nick Olsen"]


def _top_left(t: Tile) -> tuple[int, int, int, int]:
    return (t.x + 8, t.y + 8, t.x + 160, t.y + 28)


def _bottom_left(t: Tile) -> tuple[int, int, int, int]:
    return (t.x + 8, t.y + t.h - 28, t.x + 160, t.y + t.h - 8)


def test_labels_above_the_faces_are_found_without_a_grid() -> None:
    """OpenVidu prints the name at the tile's top left: each face takes the label over it, not the
    label of the tile under it (which is just as near below its chin)."""
    scanner = _scanner([(_top_left(t), name) for t, name in zip(_TILES, _PEOPLE)])
    assert _names(scanner, _FACES) == _PEOPLE
    assert scanner.side == ABOVE


def test_labels_below_the_faces_stay_below() -> None:
    """Zoom, Meet and Teams print it bottom left: the top row names no one from above; a bottom row
    that takes the top row's labels from above would name fewer faces."""
    scanner = _scanner([(_bottom_left(t), name) for t, name in zip(_TILES, _PEOPLE)])
    assert _names(scanner, _FACES) == _PEOPLE
    assert _names(scanner, _FACES, _TILES) == _PEOPLE
    assert scanner.side == BELOW
    # One label unread: still below (above would explain as many faces at best), and no face
    # takes its neighbour's label instead.
    scanner = _scanner([(_bottom_left(t), name) for t, name in list(zip(_TILES, _PEOPLE))[1:]])
    assert _names(scanner, _FACES) == [None, *_PEOPLE[1:]]
    assert scanner.side == BELOW


def test_labels_above_the_faces_in_a_grid() -> None:
    scanner = _scanner([(_top_left(t), name) for t, name in zip(_TILES, _PEOPLE)])
    assert _names(scanner, _FACES, _TILES) == _PEOPLE


def test_a_tile_holding_two_labels_gives_each_face_its_own() -> None:
    """The layout took two tiles side by side for one (a banner bridged their gap): the faces in it
    fit its corner equally well, so each takes the label it sits over."""
    wide = Tile(0, 0, 0, 840, 250)
    faces = [(70, 40, 135, 120), (300, 50, 345, 115)]
    scanner = _scanner([((2, 210, 110, 245), "Mona Kane"), ((215, 210, 355, 245), "Elliot Woodward")])
    assert _names(scanner, faces, [wide, wide]) == ["Mona Kane", "Elliot Woodward"]
    assert _names(scanner, faces[::-1], [wide, wide]) == ["Elliot Woodward", "Mona Kane"]


def test_text_in_the_middle_of_a_big_tile_is_nobodys_label() -> None:
    """A strip of small videos inside one big "tile" (a shared screen): slide text low in the tile is
    no face's label; the labels under the faces are."""
    screen = Tile(0, 0, 0, 880, 700)
    faces = [(237, 173, 266, 208), (391, 150, 427, 198)]
    slide = [((279, 587, 396, 605), "How to contribute to base R"), ((355, 621, 588, 642), "Esta charla está en")]
    assert _names(_scanner(slide), faces, [screen, screen]) == [None, None]
    labels = [((206, 203, 300, 221), "Karina Bartolomé"), ((351, 201, 470, 222), "Virginia García")]
    assert _names(_scanner(slide + labels), faces, [screen, screen]) == ["Karina Bartolomé", "Virginia García"]


def test_a_label_is_never_taken_across_a_clearly_nearer_face() -> None:
    """A word just under one face (a shirt print) is not the label of the face in the next tile, whose
    own label is unreadable, though it is where that face's label could be without the grid."""
    left, right = Tile(0, 0, 0, 240, 180), Tile(1, 240, 0, 240, 180)
    faces = [(110, 60, 150, 110), (350, 20, 400, 90)]
    scanner = _scanner([((8, 160, 60, 175), "Shishir"), ((60, 112, 180, 140), "Ana Lima")])
    assert _names(scanner, faces, [left, right]) == ["Shishir", None]


def test_a_profile_photos_label_stays_its_own() -> None:
    """A Meet grid without gaps, no tiles found: a camera-off tile's round photo (no student) and a
    live face in the tile to its right. The photo's label is the nearer to where the live face's
    would be; the photo takes part in the matching, so the live face keeps its own label."""
    photo, live = (60, 40, 100, 80), (165, 35, 200, 75)  # 142 px tiles, labels at their bottom left
    scanner = _scanner([((30, 95, 90, 108), "Tim Dorn"), ((172, 95, 235, 108), "Van Dang")])
    assert _names(scanner, [live]) == ["Tim Dorn"]  # without the photo: its neighbour's label
    faces = Faces(xyxy=np.array([live], np.float32), track_id=np.arange(1))
    others = (Faces(xyxy=np.array([photo], np.float32)), [None])
    names, _ = scanner.assign(faces, [None], [None], [0.0], others)
    assert [n.display if n else None for n in names] == ["Van Dang"]


def test_a_face_whose_label_says_you_is_marked_as_the_local_users_own() -> None:
    scanner = _scanner([(_bottom_left(_TILES[0]), "Martina Rossi")])
    scanner._texts.append(FoundText(_bottom_left(_TILES[1]), NO_THUMB, None, 0.9, own=True))  # "You"
    assert _names(scanner, _FACES[:2], _TILES[:2]) == ["Martina Rossi", None]
    assert scanner.own == [False, True]


def test_a_face_low_in_a_cropped_tile_keeps_the_label_at_its_chin() -> None:
    """A Meet grid crops each video to its tile: Carlos's chin is at the label, whose top is a
    fraction of a pixel above his face's centre line. The label's middle is below it: his."""
    tile = Tile(1, 0, 531, 144, 86)
    scanner = _scanner([((33, 589, 119, 608), "Carlos Galvez")])
    assert _names(scanner, [(65.6, 568.3, 97.5, 610.0)], [tile]) == ["Carlos Galvez"]


def test_label_regions_on_either_side() -> None:
    tile = Tile(0, 100, 100, 400, 200)
    assert tile_band(tile, 1000, 1000, BELOW)[3] == 300 and tile_band(tile, 1000, 1000, ABOVE)[1] == 100
    box = np.array([300, 300, 340, 350], np.float32)
    below, above = near_face(box, 1000, 1000, BELOW), near_face(box, 1000, 1000, ABOVE)
    assert below[1] < 350 < below[3] and above[1] < 300 < above[3]
    assert above[3] < below[3] and above[1] < below[1]


def test_a_label_out_of_its_rows_line_or_font_is_nobodys() -> None:
    """Four faces in a row of tiles, the last one's label unread: it takes neither the label of the
    tile under its own (a camera-off tile: no face there to claim it), which is off the line its row
    mates' labels are on, nor a camera-off tile's big name, far taller than every label."""
    faces = [(x, 100, x + 80, 200) for x in (100, 500, 900, 1300)]
    row = [((x - 60, 330, x + 60, 350), name) for x, name in zip((100, 500, 900), ("Luis", "Erick", "Felipe"))]
    assert _names(_scanner([*row, ((1150, 480, 1300, 500), "Mayra")]), faces) == ["Luis", "Erick", "Felipe", None]
    assert _names(_scanner([*row, ((1200, 380, 1290, 430), "Vlad")]), faces) == ["Luis", "Erick", "Felipe", None]


def test_text_on_a_face_is_no_other_faces_label() -> None:
    """A cap's print over one face ("BOSTON" read as "Tor") is not the label of the face in the next
    tile of a strip without labels, though it is where that face's label could be above it."""
    faces = [(940, 89, 1163, 376), (1645, 177, 1831, 439)]
    assert _names(_scanner([((1062, 15, 1150, 78), "Tor")]), faces) == [None, None]
    # Under the "below" side, a label just over a face is the label of the tile above it, not on it.
    above = Tile(0, 0, 0, 400, 300)
    below = Tile(1, 0, 300, 400, 300)
    faces = [(170, 100, 230, 180), (170, 310, 230, 390)]
    scanner = _scanner([((10, 270, 150, 290), "Ada Lovelace"), ((10, 570, 150, 590), "Alan Turing")])
    assert _names(scanner, faces, [above, below]) == ["Ada Lovelace", "Alan Turing"]


def test_labels_of_tiles_side_by_side_are_not_joined_across_a_face() -> None:
    """The detector's boxes of three labels a word space apart (a strip of small tiles) stay three
    lines when a face sits between each one's start and the next one's; the parts of one label
    (no face between) are joined."""
    crop = np.zeros((60, 400, 3), np.uint8)
    for x, word in ((12, "Virginia"), (149, "Yanina"), (289, "Pao")):
        cv2.putText(crop, word, (x, 46), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (200, 200, 200), 1)
    parts = [(10, 30, 140, 50), (147, 30, 280, 50), (287, 30, 360, 50)]
    assert text_lines(parts, crop, (False, False)) == [(10, 30, 360, 50)]
    faces = np.array([(60, -20, 95, 25), (200, -22, 225, 25)], np.float64)
    assert text_lines(parts, crop, (False, False), faces) == parts
    far = faces + np.array([0, -300, 0, -300])  # a face of another row is no reason
    assert text_lines(parts, crop, (False, False), far) == [(10, 30, 360, 50)]


def test_text_printed_unlike_the_label_beside_it_is_no_part_of_it() -> None:
    """A label's parts share one ink; a shirt's print next to the chip (dark on a light patch, or
    dim) is a box of its own, not the label's trailing word ("Martin Thwaites E")."""
    crop = np.full((40, 300, 3), 90, np.uint8)
    cv2.rectangle(crop, (5, 8), (200, 34), (40, 40, 40), -1)  # the dark chip
    cv2.putText(crop, "Ann Lee", (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (230, 230, 230), 2)
    label, tail = (8, 10, 100, 32), (104, 10, 160, 32)
    same = crop.copy()
    cv2.putText(same, "Kim", (110, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (230, 230, 230), 2)
    assert text_lines([label, tail], same, (False, False)) == [(8, 10, 160, 32)]
    shirt = crop.copy()
    cv2.rectangle(shirt, (104, 6), (170, 36), (235, 235, 235), -1)
    cv2.putText(shirt, "ME", (110, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (60, 30, 20), 2)
    assert text_lines([label, tail], shirt, (False, False)) == [label, tail]
    dim = crop.copy()
    cv2.putText(dim, "ET", (110, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (120, 125, 125), 2)
    assert text_lines([label, tail], dim, (False, False)) == [label, tail]


def _read_once(mode: str) -> tuple[LabelScanner, tuple]:
    """A scanner whose one face's own region below was read once at the screen's scale, no name in it."""
    scanner = _scanner([])
    key = ("track", 0, BELOW)
    scanner._regions[key] = _Region((0, 0, 100, 50), np.zeros((12, 48), np.float32), 0.0, 0.0)
    return scanner, key


def test_a_face_left_unnamed_gets_a_closer_look() -> None:
    """IMAGE mode looks at once, twice as large; a live stream on its back-off schedule, alternately
    closer and at the screen's scale; a named face's region is not looked at again for it."""
    scanner, key = _read_once(IMAGE)
    region = scanner._regions[key]
    assert scanner._urgency(region, key, 0.0, True, 0.0, IMAGE) == (0.0, 1, True)
    assert scanner._urgency(region, key, 0.0, False, 0.0, IMAGE) is None
    region.zoomed = True
    assert scanner._urgency(region, key, 0.0, True, 0.0, IMAGE) is None
    scanner, key = _read_once(LIVE)
    region = scanner._regions[key]
    assert scanner._urgency(region, key, 0.0, True, 0.5, LIVE) is None  # too soon after the last read
    assert scanner._urgency(region, key, 0.0, True, 3.0, LIVE)[2] is True
    region.zoomed = True
    assert scanner._urgency(region, key, 0.0, True, 3.0, LIVE)[2] is False


def test_a_closer_look_stays_within_its_pixel_budget() -> None:
    """Twice the scale for label-sized areas, at most _ZOOM_MAX_SCALE; a big area is looked at no
    closer than _ZOOM_PIXELS allow (a screen-wide strip at twice its scale was 11 MP, ten seconds),
    and never less close than the screen's scale."""
    small = [np.zeros((200, 500, 3), np.uint8)]
    assert _zoom_scale(small, 0.75) == 1.5
    assert _zoom_scale(small, 1.6) == _ZOOM_MAX_SCALE
    big = [np.zeros((600, 1200, 3), np.uint8)]
    assert 1.0 < _zoom_scale(big, 1.0) < 2.0
    assert _zoom_scale(big, 1.0) ** 2 * 600 * 1200 == pytest.approx(_ZOOM_PIXELS)
    strip = [np.zeros((416, 3333, 3), np.uint8)]
    assert _zoom_scale(strip, 1.45) == 1.45


def test_every_face_of_a_big_gallery_is_read_while_its_tiles_are_refound(monkeypatch: pytest.MonkeyPatch) -> None:
    """49 tiles, 4 regions read per check, and the layout re-found a few pixels off on every check
    (compression, a gallery sliding): every tile's region is new each time. Named faces' regions
    are then read at the change rate, not first: all 49 are named within the reads that takes.
    (Read first, the named ones took every check and faces 5-49 were never read.)"""
    import fer_overlay.people.labels as labels_mod

    cols, tw, th = 7, 270, 150
    reads: list[int] = []

    def fake_pass(job, detector, reader, background):  # the label at the band's left, "Person k"
        job.found = []
        for x1, _, _, y2 in job.rects:
            k = (x1 + 30) // tw + cols * ((y2 - 40) // th)
            reads.append(k)
            label = (x1 + 34, y2 - 44, x1 + 134, y2 - 28)
            job.found.append([FoundText(label, NO_THUMB, normalise(f"Person {k}"), 1.0)])
        job.done.set()

    monkeypatch.setattr(labels_mod, "run_job", fake_pass)
    scanner = LabelScanner(NameReader(OcrOptions()), TextDetector(), IdentityOptions(tiles_per_frame=4))
    image = np.zeros((cols * th, cols * tw, 3), np.uint8)
    ids = list(range(cols * cols))
    named: list = []
    for step in range(20):
        jitter = 3 * (step % 2)
        tiles = [Tile(k, (k % cols) * tw + jitter, (k // cols) * th, tw - 2, th - 2) for k in ids]
        faces = Faces(xyxy=np.array([(t.x + 115, t.y + 40, t.x + 155, t.y + 90) for t in tiles], np.float32),
                      track_id=np.array(ids), tile=np.array(ids))
        known = [n.key if n else None for n in named] or [None] * len(ids)
        named, _ = scanner.labels(image, faces, tiles, ids, known, [0.0] * len(ids), 0.2 * step, "video")
    assert [n.display if n else None for n in named] == [f"Person {k}" for k in ids]
    assert len(reads) <= 49 + 4 * 3, len(reads)  # the named ones were not read again and again

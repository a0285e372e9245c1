"""Whose label is whose (fer_overlay.people.labels): the side of the faces a screen's labels are on,
tiles that hold several labels, text that is nobody's label, and labels never taken across a nearer
face. Texts are placed by hand, so no model runs: this is the geometry alone."""

from __future__ import annotations

import numpy as np

from fer_overlay.people.labels import ABOVE, BELOW, LabelScanner, _band, _near, _Text
from fer_overlay.people.names import normalise
from fer_overlay.people.ocr import NameReader, OcrOptions, TextDetector
from fer_overlay.people.options import IdentityOptions
from fer_overlay.types import Faces, Tile

_NO_THUMB = np.zeros((0, 0), np.float32)


def _scanner(texts: list[tuple[tuple[int, int, int, int], str]]) -> LabelScanner:
    """A scanner that has read these (rect, text) pairs; the models never load."""
    scanner = LabelScanner(NameReader(OcrOptions()), TextDetector(), IdentityOptions())
    scanner._texts = [_Text(rect, _NO_THUMB, normalise(text), 1.0) for rect, text in texts]
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


def test_label_regions_on_either_side() -> None:
    tile = Tile(0, 100, 100, 400, 200)
    assert _band(tile, 1000, 1000, BELOW)[3] == 300 and _band(tile, 1000, 1000, ABOVE)[1] == 100
    box = np.array([300, 300, 340, 350], np.float32)
    below, above = _near(box, 1000, 1000, BELOW), _near(box, 1000, 1000, ABOVE)
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

"""Where a face's name label can be on screen, and whose label a text is: pure geometry.

Zoom, Meet and Teams print names bottom-left in the tile, under the person; others (OpenVidu,
BigBlueButton) top-left, over the person, so every rule here takes the screen's side. A label
is looked for in its tile's band when the layout found tiles, else next to the face; it goes
to the face whose tile holds it, or to the nearest face on the screen's side of it, never
across a clearly nearer face (:func:`label_costs`). The text pass (labels.py) decides when to
read, label_reads.py reads.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..types import Faces, Tile
from .ocr import Rect

# Which side of the faces a screen's labels are on. Zoom, Meet and Teams print the name bottom
# left in the tile, under the person; others (OpenVidu, BigBlueButton's dock, Jitsi's old UI)
# top left, over the person. The side is a property of the app, so it is chosen per screen:
# the side whose labels explain more faces (see LabelScanner.assign); below unless above
# explains strictly more.
Side = Literal["below", "above"]
BELOW: Side = "below"
ABOVE: Side = "above"

# Where a label can be without a tile grid, in face widths and heights around the face: apps
# print it at the bottom left of the tile, below the chin. A webcam frames a face at 15-45%
# of a 16:9 tile's height, so the tile's left edge can be 6 face widths left of the face.
_LEFT, _RIGHT, _BELOW, _ABOVE = 6.5, 5.0, 3.0, 0.5
# ... or at the top left of the tile: its bottom up to _UP face heights above the face's top
# (a face low in its tile: OpenVidu's main video, 2.1), its start up to _UP_LEFT face sizes
# (the longer side: a turned face is narrow) left of the face's centre (a small face in the
# right half of a wide tile: 6.2 on OpenVidu). Its top may reach into the forehead a little.
_UP, _UP_LEFT, _INTO = 3.0, 7.0, 0.25
_OUTSIDE = 10.0  # cost added to a label found outside the face's tile: any label inside a tile goes first
# A text counts as its tile's label when it starts within this many line heights of the tile's
# side and ends within as many of its bottom (top, labels above): a slide, a poster or a shirt
# print in the middle of a tile is nobody's label, unless it sits where the face's own would
# (a tile the layout made of two, or a strip of small videos inside one big "tile").
_CORNER_LINES = 6.0
_BAND_PX = 48  # label band height at least this many pixels of a 1080p screen, whatever the tile
# ... and this much wider than the tile on each side: more than the detector's box reaches past
# the glyphs (about half a line height), so the tile's own label never touches the band's side.
_BAND_OUT_PX = 24


def clip(rect: tuple[float, float, float, float], w: int, h: int) -> Rect:
    x1, y1, x2, y2 = rect
    return max(0, int(x1)), max(0, int(y1)), min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))


def tile_band(tile: Tile, w: int, h: int, side: Side = BELOW) -> Rect:
    """The bottom of a tile (the top, when the screen's labels are above the faces), where the
    app prints the name, a little wider than the tile: a label never touches its tile's side,
    so text that touches the band's side is cut, and belongs to another tile (or the layout is
    a frame behind the screen)."""
    band = min(tile.h, max(round(0.25 * tile.h), round(_BAND_PX * h / 1080)))
    out = max(2, round(_BAND_OUT_PX * h / 1080))
    y1 = tile.y if side == ABOVE else tile.y + tile.h - band
    return clip((tile.x - out, y1, tile.x + tile.w + out, y1 + band), w, h)


def near_face(box: np.ndarray, w: int, h: int, side: Side = BELOW) -> Rect:
    """Where a face's label can be without a tile (or when its tile's band held none): below it,
    or above it."""
    x1, y1, x2, y2 = (float(v) for v in box)
    fw, fh, cx = x2 - x1, y2 - y1, (x1 + x2) / 2
    if side == ABOVE:  # the label's bottom may be _UP face heights up: its top half a face height more
        s = max(fw, fh)
        return clip((cx - _UP_LEFT * s, y1 - (_UP + 0.5) * fh, cx + _RIGHT * fw, y1 + (_INTO + 0.5) * fh), w, h)
    return clip((cx - _LEFT * fw, y2 - _ABOVE * fh, cx + _RIGHT * fw, y2 + _BELOW * fh), w, h)


def label_costs(boxes: np.ndarray, tiles: list[Tile | None], texts: np.ndarray, side: Side = BELOW) -> np.ndarray:
    """(faces, texts) fit of each text as each face's label on `side`, lower is better; inf where it cannot be.

    Without a tile: text that starts left of the face (labels sit at the tile's left; a shirt
    print or poster sits under the face itself) within the face's likely tile below its chin
    (above its forehead), nearest first. In a tile: the text nearest the tile's bottom-left
    (top-left) corner on the face's side of its centre, if it sits at that corner or where the
    face's own label would be without a tile. Faces in one tile fit its one label equally well
    (the caller breaks the tie); where a tile holds several labels (two tiles the layout took
    for one, a strip of videos inside a big one) each face fits best the one it sits over.
    A tiled face may still take a label outside its tile by the untiled rule, after every label
    inside a tile: the layout can be a few frames behind a gallery that re-laid itself out, or
    simply wrong."""
    x1, y1, x2, y2 = (boxes[:, k, None].astype(np.float64) for k in range(4))
    fw, fh, cx, cy = x2 - x1, y2 - y1, (x1 + x2) / 2, (y1 + y2) / 2
    tx1, ty1, tx2, ty2 = (texts[None, :, k].astype(np.float64) for k in range(4))
    mx, my, lh = (tx1 + tx2) / 2, (ty1 + ty2) / 2, ty2 - ty1
    if side == ABOVE:
        s = np.maximum(fw, fh)
        near = ((ty2 <= y1 + _INTO * fh) & (ty2 >= y1 - _UP * fh)
                & (tx1 >= cx - _UP_LEFT * s) & (tx1 <= x1 + 0.25 * fw))
        geometry = np.abs(y1 - ty2) / fh + 0.3 * np.abs(tx1 - (cx - 2.5 * s)) / s
        reach_of = np.hypot(tx1 - x1, y1 - ty2) / s  # from the face's top-left corner to the label's start
    else:
        near = ((ty1 >= y2 - _ABOVE * fh) & (ty1 <= y2 + _BELOW * fh)
                & (tx1 >= cx - _LEFT * fw) & (tx1 <= x1 + 0.25 * fw))
        geometry = np.abs(ty1 - y2) / fh + 0.3 * np.abs(tx1 - (cx - 2.5 * fw)) / fw
        reach_of = np.hypot(tx1 - x1, ty1 - y2) / np.maximum(fw, fh)  # from the face's bottom-left corner
    cost = np.where(near, geometry, np.inf)
    rows = [i for i, t in enumerate(tiles) if t is not None]
    if rows:
        tx, ty, tw, th = (np.array([getattr(tiles[i], k) for i in rows], np.float64)[:, None] for k in "xywh")
        index = np.array([tiles[i].index for i in rows])  # type: ignore[union-attr]
        inside = (mx >= tx) & (mx < tx + tw) & (my >= ty) & (my < ty + th)
        reach = _CORNER_LINES * lh
        # At the tile's corner and on the face's side of its centre: the label's middle, not its
        # edge, so a face low in a cropped tile (its chin at the label) keeps its label.
        if side == ABOVE:
            corner = (ty1 - ty <= reach) & (my <= cy[rows])
            fit = (ty1 - ty) / th + (tx1 - tx) / tw
        else:
            corner = (ty + th - ty2 <= reach) & (my >= cy[rows])
            fit = (ty + th - ty2) / th + (tx1 - tx) / tw
        ok = inside & ((corner & (tx1 - tx <= reach)) | near[rows])
        for t in set(index.tolist()):
            members = index == t
            if _several(texts[ok[members].any(axis=0)]):
                # Several labels in one tile: each face's is the one where its own would be.
                fit[members] = fit[members] + geometry[rows][members]
        cost[rows] = np.where(ok, fit, np.where(inside, np.inf, cost[rows] + _OUTSIDE))
    # A label is never taken across a clearly nearer face of another tile (untiled faces: any
    # other face): it is that face's, read or not, or a word under it; never its neighbour's.
    # Nor is text on a face, or just past it on the side's end of it (a cap's print, the face's own
    # label), another face's label. (Just past its other end is where the label of the tile
    # before it in the column is.)
    distance = np.where(near, reach_of, np.inf)
    top, bottom = (y1 - 0.5 * fh, y2) if side == ABOVE else (y1, y2 + 0.5 * fh)
    on = (mx >= x1) & (mx <= x2) & (ty2 >= top) & (ty1 <= bottom)
    group = np.array([t.index if t is not None else -1 - i for i, t in enumerate(tiles)])
    for i in range(len(boxes)):
        others = group != group[i]
        if others.any():
            cost[i, (distance[others].min(axis=0) < 0.5 * reach_of[i]) | on[others].any(axis=0)] = np.inf
    return cost


def _several(texts: np.ndarray) -> bool:
    """Two labels among these texts: two lines apart from each other (side by side or one over the
    other) of about one height, as one app prints its labels; not a label and a blob of texture
    read as a word, nor the halves of one line."""
    for a in range(len(texts)):
        for b in range(a + 1, len(texts)):
            (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = texts[a], texts[b]
            ha, hb = ay2 - ay1, by2 - by1
            apart = ax2 + 0.5 * ha <= bx1 or bx2 + 0.5 * hb <= ax1 or ay2 <= by1 or by2 <= ay1
            if apart and max(ha, hb) <= 1.5 * min(ha, hb):
                return True
    return False


def reading_order(faces: Faces, tiles: list[Tile | None]) -> list[int]:
    """Tile order where there are tiles, else rows top to bottom and left to right."""
    if not len(faces):
        return []
    row = float(np.median(faces.sizes)) or 1.0
    centres = faces.centers

    def key(i: int) -> tuple[int, int, float]:
        t = tiles[i]
        return (t.index if t is not None else 1 << 30, int(centres[i, 1] // row), float(centres[i, 0]))

    return sorted(range(len(faces)), key=key)


def off_the_row(boxes: np.ndarray, texts: np.ndarray, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The (face, text) pairs whose text is off the line its row's labels are on: faces side by side
    (much the same height on screen, and size) sit in one row of tiles, whose labels share a line;
    a face whose own label went unread takes no label of the next row's (a camera-off tile's, whose
    face there is none to claim it)."""
    off = []
    for i, j in taken:
        a = boxes[i]
        h = float(texts[j][3] - texts[j][1])
        mates = []
        for k, m in taken:
            b = boxes[k]
            overlap = min(a[3], b[3]) - max(a[1], b[1])
            ha, hb = a[3] - a[1], b[3] - b[1]
            if k != i and overlap >= 0.5 * min(ha, hb) and max(ha, hb) <= 1.5 * min(ha, hb):
                mates.append(float(texts[m][1]))
        if len(mates) >= 2:
            line = float(np.median(mates))
            if sum(abs(y - line) <= h for y in mates) >= 2 and abs(float(texts[j][1]) - line) > 2 * h:
                off.append((i, j))
    return off


def moved(r: Rect, dx: int, dy: int) -> Rect:
    """`r` moved, kept at x, y >= 0 (a slice from a negative index would wrap round the frame)."""
    return (max(0, r[0] + dx), max(0, r[1] + dy), max(0, r[2] + dx), max(0, r[3] + dy))


def same_place(a: Rect, b: Rect) -> bool:
    """Two text boxes of one label: much overlap, or one mostly inside the other (a part of
    the line found on its own)."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area_a, area_b = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    union = area_a + area_b - inter
    smaller = min(area_a, area_b)
    return (union > 0 and inter > 0.3 * union) or (smaller > 0 and inter >= 0.6 * smaller)

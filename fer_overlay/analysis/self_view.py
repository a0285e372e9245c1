"""The local user's self-view floating in a corner of a camera-off tile: not a student.

Phone apps (Teams and Azure Communication Services mobile among them) float the user's own
camera over the gallery's last tile, flush with its corner. Over a video tile the layout
finds such an inset by the canvas line round it (`Layout.insets`); over a camera-off tile (a
flat colour with initials or "+2") nothing separates the two, and the layout sees one tile.
What gives the inset away there is its shape: a rectangle of video in one corner of a tile
that is otherwise one flat colour. A student sitting in a corner of a plain wall is not one:
a lit wall is not one grey level across a whole tile, and a head and shoulders do not fill a
rectangle that ends at the tile's edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..types import Faces, Layout


@dataclass(frozen=True)
class CornerInsetOptions:
    flat_tolerance: int = 8  # grey levels from the tile's commonest level
    min_flat: float = 0.85  # share of the tile outside the inset in that flat colour
    max_area: float = 0.35  # the inset's share of its tile
    min_fill: float = 0.85  # share of the inset's box that is video: a rectangle, not a silhouette
    corner_slack: float = 0.05  # how near the tile's edges the inset ends, as a fraction of the tile's side

    def __post_init__(self) -> None:
        if not 0 <= self.flat_tolerance <= 64:
            raise ValueError(f"flat_tolerance must be in [0, 64], got {self.flat_tolerance}")
        for name in ("min_flat", "max_area", "min_fill"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.corner_slack <= 0.25:
            raise ValueError(f"corner_slack must be in [0, 0.25], got {self.corner_slack}")


def corner_insets(grey: np.ndarray, faces: Faces, layout: Layout,
                  options: CornerInsetOptions | None = None) -> np.ndarray:
    """(N,) bool: which faces are on a video rectangle in a corner of an otherwise flat tile."""
    options = options or CornerInsetOptions()
    out = np.zeros(len(faces), bool)
    if not len(faces) or not layout.tiles:
        return out
    tiles = layout.tile_of(faces.centers)
    for i in np.flatnonzero(tiles >= 0):
        tile = layout.tiles[int(tiles[i])]
        crop = grey[max(0, tile.y) : tile.y + tile.h, max(0, tile.x) : tile.x + tile.w]
        if crop.shape[0] < 8 or crop.shape[1] < 8:
            continue
        out[i] = _in_corner_inset(crop, faces.xyxy[i] - np.array([tile.x, tile.y] * 2, np.float32), options)
    return out


def _in_corner_inset(tile: np.ndarray, box: np.ndarray, options: CornerInsetOptions) -> bool:
    h, w = tile.shape
    coarse = tile[::4, ::4]  # every 16th pixel settles it for the live tiles, which are most
    level = int(np.argmax(np.bincount(coarse.ravel(), minlength=256)))
    least = options.min_flat * (1 - options.max_area)
    if (np.abs(coarse.astype(np.int16) - level) <= options.flat_tolerance).mean() < least - 0.05:
        return False  # most of the tile is video: a live tile, however its content is placed
    flat = np.abs(tile.astype(np.int16) - level) <= options.flat_tolerance
    if flat.mean() < least:
        return False
    x1, y1 = int(np.clip(box[0], 0, w - 1)), int(np.clip(box[1], 0, h - 1))
    x2, y2 = int(np.clip(box[2], x1 + 1, w)), int(np.clip(box[3], y1 + 1, h))
    # The inset's edges: the nearest flat column on each side of the face (over the face's rows),
    # and the nearest flat row above and below it (over its columns). Projections, so that an
    # icon touching the inset ("+2", a mic) does not join it as a connected region would.
    left, right = _edges(flat[y1:y2].mean(axis=0) >= EDGE_FLAT, x1, x2)
    top, bottom = _edges(flat[:, x1:x2].mean(axis=1) >= EDGE_FLAT, y1, y2)
    bw, bh = right - left, bottom - top
    if bw * bh > options.max_area * w * h or bw * bh == 0:
        return False
    inside = flat[top:bottom, left:right]
    if 1.0 - float(inside.mean()) < options.min_fill:
        return False  # not a rectangle of video (a head and shoulders before a wall)
    slack = options.corner_slack
    at_left, at_right = left <= slack * w, right >= (1 - slack) * w
    at_top, at_bottom = top <= slack * h, bottom >= (1 - slack) * h
    if not ((at_left ^ at_right) and (at_top ^ at_bottom)):
        return False  # flush with exactly one corner, as an inset is; not a band across the tile
    rest = w * h - bw * bh
    return rest > 0 and int(flat.sum()) - int(inside.sum()) >= options.min_flat * rest


EDGE_FLAT = 0.9  # a line this flat is past the inset's edge


def _edges(flat_lines: np.ndarray, lo: int, hi: int) -> tuple[int, int]:
    """(first, end) of the non-flat stretch holding [lo, hi): bounded by the nearest flat line on
    each side, or the tile's edge."""
    before = np.flatnonzero(flat_lines[:lo])
    after = np.flatnonzero(flat_lines[hi:])
    return (int(before[-1]) + 1 if len(before) else 0), (hi + int(after[0]) if len(after) else len(flat_lines))

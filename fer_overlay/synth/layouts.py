"""Where the apps put the tiles: a gallery grid, a speaker or shared screen with a strip of
thumbnails, a shared screen beside a gallery, and the floating self-view."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from .styles import LOOKS, Look, Style

Rect = tuple[int, int, int, int]  # x, y, w, h

TILE_ASPECT = 16 / 9
SHARE_ASPECT = 16 / 10  # a shared laptop screen
STRIP_TILES = 0.15  # strip thumbnails: fraction of the screen width (right) ...
STRIP_TOP_TILES = 0.115  # ... or of the screen height (top), as Zoom's and Teams' filmstrips
SIDE_BY_SIDE_SHARE = 0.66  # share's share of the width in side-by-side mode
MAX_STRIP = 8  # thumbnails in a strip before the app pages them


class View(str, Enum):
    GRID = "grid"  # gallery
    SPEAKER = "speaker"  # one large tile (the speaker) and a strip of thumbnails
    SHARE = "share"  # a shared screen and a strip of thumbnails
    SIDE_BY_SIDE = "side_by_side"  # a shared screen beside a gallery grid


class Strip(str, Enum):
    RIGHT = "right"
    TOP = "top"


@dataclass(frozen=True)
class Grid:
    rows: int
    cols: int
    tile_size: tuple[int, int]  # (w, h)
    gap: int
    rects: tuple[Rect, ...]  # reading order; an incomplete last row is centred


@dataclass(frozen=True)
class Plan:
    """One screen's geometry. ``rects`` are the video tiles in the order they are filled
    (for SPEAKER the large tile first); ``tile_size`` is the size of the grid or strip tiles."""

    view: View
    rects: tuple[Rect, ...]
    tile_size: tuple[int, int]
    grid: tuple[int, int]  # (rows, cols) of the grid or strip
    gap: int
    share: Rect | None = None


def _grid_in(tiles: int, area: Rect, gap: int) -> Grid:
    """The grid of ``tiles`` uniform 16:9 tiles that makes them largest inside ``area``."""
    ax, ay, aw, ah = area
    best: tuple[tuple[int, int, int], int, int] | None = None
    for cols in range(1, tiles + 1):
        rows = math.ceil(tiles / cols)
        tw = math.floor(min((aw - (cols - 1) * gap) / cols, (ah - (rows - 1) * gap) / rows * TILE_ASPECT))
        # Largest tiles first; on a tie fewer empty cells, then wider grids (screens are wide).
        key = (tw, -(rows * cols - tiles), cols)
        if best is None or key > best[0]:
            best = (key, rows, cols)
    assert best is not None
    (tw, _, _), rows, cols = best
    th = math.floor(tw / TILE_ASPECT)
    y0 = ay + (ah - (rows * th + (rows - 1) * gap)) // 2
    rects = []
    for r in range(rows):
        in_row = min(cols, tiles - r * cols)
        x0 = ax + (aw - (in_row * tw + (in_row - 1) * gap)) // 2
        rects.extend((x0 + c * (tw + gap), y0 + r * (th + gap), tw, th) for c in range(in_row))
    return Grid(rows, cols, (tw, th), gap, tuple(rects))


def _frame(size: tuple[int, int], look: Look, chrome: bool, reserve: int = 0) -> tuple[Rect, int]:
    """The area tiles may use (inside the toolbars) and the gap, in pixels."""
    w, h = size
    scale = h / 1080
    gap = max(2, round(look.gap * scale))
    top = max(gap, round(look.top_bar * scale)) if chrome else gap
    bottom = max(gap, round(look.bottom_bar * scale)) if chrome else gap
    side = gap + reserve + round(look.side_bar * scale)
    return (side, top, w - 2 * side, h - top - bottom), gap


def plan_grid(tiles: int, size: tuple[int, int], style: Style = Style.ZOOM, chrome: bool = True, *,
              look: Look | None = None, reserve: int = 0) -> Grid:
    """Place ``tiles`` uniform 16:9 tiles as the apps do: the grid that makes them largest.
    ``reserve`` keeps that many pixels free left and right (room for a gallery to shift)."""
    area, gap = _frame(size, look or LOOKS[style], chrome, reserve)
    return _grid_in(tiles, area, gap)


def _fit(area: Rect, aspect: float) -> Rect:
    """The largest ``aspect`` rectangle centred in ``area``."""
    x, y, w, h = area
    fw = min(w, math.floor(h * aspect))
    fh = min(h, math.floor(fw / aspect))
    return x + (w - fw) // 2, y + (h - fh) // 2, fw, fh


def _strip(tiles: int, area: Rect, gap: int, side: Strip, screen: tuple[int, int]) -> tuple[list[Rect], Rect]:
    """Thumbnails along one side of ``area``; returns them and the area left for the stage."""
    ax, ay, aw, ah = area
    if side is Strip.RIGHT:
        tw = round(screen[0] * STRIP_TILES)
        th = math.floor(tw / TILE_ASPECT)
        n = max(1, min(tiles, MAX_STRIP, (ah + gap) // (th + gap)))
        y0 = ay + (ah - (n * th + (n - 1) * gap)) // 2
        x = ax + aw - tw
        return [(x, y0 + i * (th + gap), tw, th) for i in range(n)], (ax, ay, aw - tw - gap, ah)
    th = round(screen[1] * STRIP_TOP_TILES)
    tw = math.floor(th * TILE_ASPECT)
    n = max(1, min(tiles, MAX_STRIP, (aw + gap) // (tw + gap)))
    x0 = ax + (aw - (n * tw + (n - 1) * gap)) // 2
    return [(x0 + i * (tw + gap), ay, tw, th) for i in range(n)], (ax, ay + th + gap, aw, ah - th - gap)


def plan(view: View, tiles: int, size: tuple[int, int], look: Look, chrome: bool = True, strip: Strip = Strip.RIGHT,
         reserve: int = 0) -> Plan:
    """Where ``tiles`` video tiles go in ``view``; strips show at most what fits (apps page the rest)."""
    area, gap = _frame(size, look, chrome, reserve)
    if view is View.GRID:
        g = _grid_in(tiles, area, gap)
        return Plan(view, g.rects, g.tile_size, (g.rows, g.cols), gap)
    if view is View.SIDE_BY_SIDE:
        ax, ay, aw, ah = area
        sw = round(aw * SIDE_BY_SIDE_SHARE)
        share = _fit((ax, ay, sw, ah), SHARE_ASPECT)
        # The divider between the two halves is a bar of background, wider than a tile gap.
        g = _grid_in(tiles, (ax + sw + 3 * gap, ay, aw - sw - 3 * gap, ah), gap)
        return Plan(view, g.rects, g.tile_size, (g.rows, g.cols), gap, share)
    thumbs = tiles - 1 if view is View.SPEAKER else tiles
    if thumbs < 1:  # a speaker alone: just the stage
        return Plan(view, (_fit(area, TILE_ASPECT),), _fit(area, TILE_ASPECT)[2:], (1, 1), gap)
    rects, stage = _strip(thumbs, area, gap, strip, size)
    tile = rects[0][2:]
    grid = (len(rects), 1) if strip is Strip.RIGHT else (1, len(rects))
    if view is View.SPEAKER:
        return Plan(view, (_fit(stage, TILE_ASPECT), *rects), tile, grid, gap)  # type: ignore[arg-type]
    return Plan(view, tuple(rects), tile, grid, gap, _fit(stage, SHARE_ASPECT))  # type: ignore[arg-type]


def selfview_rect(size: tuple[int, int], look: Look, chrome: bool, corner: str = "br") -> Rect:
    """The floating self-view: a small 16:9 tile over the gallery, in a corner above the toolbar."""
    w, h = size
    scale = h / 1080
    sw = max(48, round(w * look.selfview_width))
    sh = round(sw / TILE_ASPECT)
    margin = max(4, round(16 * scale))
    bottom = round(look.bottom_bar * scale) if chrome else 0
    top = round(look.top_bar * scale) if chrome else 0
    x = w - margin - sw if "r" in corner else margin
    y = h - bottom - margin - sh if "b" in corner else top + margin
    return x, max(0, y), sw, sh

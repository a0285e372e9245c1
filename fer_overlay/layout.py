"""Find the tiles of a meeting gallery (Zoom, Meet, Teams) in a screenshot.

Meeting apps draw participant tiles as rectangles on a flat background with gaps of a
few pixels. We estimate the background colour from the frame border, take the pixels
that differ from it, and keep the connected regions that fill their bounding rectangle
(tile content is arbitrary, tile *shape* is not). Uniform sizes make a GRID; one large
tile with small ones is SPEAKER view; anything else falls back to the whole frame.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import Enum

import cv2
import numpy as np


class LayoutKind(str, Enum):
    GRID = "grid"
    SPEAKER = "speaker"
    NONE = "none"  # no tiles found: analyse the whole frame


@dataclass(frozen=True)
class Tile:
    index: int
    x: int
    y: int
    w: int
    h: int

    @property
    def xyxy(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.x + self.w, self.y + self.h

    def crop(self, image: np.ndarray) -> np.ndarray:
        return image[self.y : self.y + self.h, self.x : self.x + self.w]


@dataclass(frozen=True)
class Layout:
    kind: LayoutKind
    tiles: tuple[Tile, ...]
    frame_size: tuple[int, int]  # (w, h)
    background: tuple[int, int, int] | None = None

    @classmethod
    def whole_frame(cls, width: int, height: int) -> Layout:
        return cls(LayoutKind.NONE, (Tile(0, 0, 0, width, height),), (width, height))

    def tile_of(self, points: np.ndarray) -> np.ndarray:
        """Tile index for each (x, y) point; -1 outside every tile or without a grid."""
        out = np.full(len(points), -1, np.int32)
        if self.kind is LayoutKind.NONE:
            return out
        for t in self.tiles:
            inside = (points[:, 0] >= t.x) & (points[:, 0] < t.x + t.w) & (points[:, 1] >= t.y) & (
                points[:, 1] < t.y + t.h
            )
            out[inside] = t.index
        return out


@dataclass(frozen=True)
class LayoutOptions:
    colour_tolerance: int = 6  # gaps are drawn flat; video content rarely matches within this
    min_tile_fraction: float = 0.004  # of the frame area: 49 tiles at 1080p are ~2% each
    min_fill: float = 0.93  # region area / bounding-box area
    size_tolerance: float = 0.04  # relative spread of tile sizes within a grid
    analysis_width: int = 960  # work on a downscaled copy; gaps of >=2 px survive 2x


def _background_colour(small: np.ndarray) -> np.ndarray:
    border = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
    quant = (border // 4).astype(np.int32)
    keys = quant[:, 0] * 4096 + quant[:, 1] * 64 + quant[:, 2]
    mode = Counter(keys.tolist()).most_common(1)[0][0]
    return border[keys == mode].mean(axis=0)


def _rects(small: np.ndarray, bg: np.ndarray, opts: LayoutOptions) -> list[tuple[int, int, int, int]]:
    diff = np.abs(small.astype(np.int16) - bg.astype(np.int16)).max(axis=2)
    # No morphology here: at analysis scale real gaps can be 2 px wide, and closing
    # would bridge them. Holes inside tiles are handled per region below.
    content = (diff > opts.colour_tolerance).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(content, connectivity=4)
    area_min = opts.min_tile_fraction * small.shape[0] * small.shape[1]
    rects = []
    for i in range(1, n):
        x, y, w, h, _area = stats[i]
        if w * h < area_min:
            continue
        # Fill holes (tile content that matches the background) before measuring fill.
        region = (labels[y : y + h, x : x + w] == i).astype(np.uint8)
        filled = cv2.morphologyEx(region, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
        rows_full = filled.any(axis=1).mean()
        cols_full = filled.any(axis=0).mean()
        fill = filled.mean()
        if fill >= opts.min_fill or (rows_full > 0.99 and cols_full > 0.99 and _edges_full(region)):
            rects.append((int(x), int(y), int(w), int(h)))
    return rects


def _edges_full(region: np.ndarray) -> bool:
    """A tile's four borders are (almost) all content, whatever is inside."""
    edges = [region[0], region[-1], region[:, 0], region[:, -1]]
    return all(e.mean() > 0.9 for e in edges)


def _order(rects: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Row-major reading order, rows grouped by overlapping vertical extent."""
    rects = sorted(rects, key=lambda r: (r[1], r[0]))
    rows: list[list[tuple[int, int, int, int]]] = []
    for r in rects:
        if rows and abs(r[1] - rows[-1][0][1]) < rows[-1][0][3] * 0.5:
            rows[-1].append(r)
        else:
            rows.append([r])
    return [r for row in rows for r in sorted(row, key=lambda r: r[0])]


def find_layout(image: np.ndarray, options: LayoutOptions = LayoutOptions()) -> Layout:
    """Tiles of a gallery screenshot (BGR), in reading order, in input pixels."""
    h, w = image.shape[:2]
    if h < 16 or w < 16:
        return Layout.whole_frame(w, h)
    factor = min(1.0, options.analysis_width / w)
    small = image
    if factor < 1.0:
        small = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
    bg = _background_colour(small)
    rects = _order(_rects(small, bg, options))
    if not rects:
        return Layout.whole_frame(w, h)
    areas = np.array([rw * rh for _, _, rw, rh in rects], np.float64)
    median = np.median(areas)
    uniform = np.abs(areas / median - 1) <= options.size_tolerance * 2
    kind = LayoutKind.NONE
    if len(rects) >= 2 and uniform.mean() >= 0.99:
        kind = LayoutKind.GRID
    else:
        frame_area = small.shape[0] * small.shape[1]
        one_big_tile = len(rects) >= 2 and areas.max() > 4 * median
        one_inset_tile = len(rects) == 1 and areas[0] < 0.9 * frame_area
        if one_big_tile or one_inset_tile:
            kind = LayoutKind.SPEAKER
    if kind is LayoutKind.NONE:
        return Layout.whole_frame(w, h)
    inv = 1.0 / factor
    tiles = tuple(
        Tile(i, round(x * inv), round(y * inv), min(w, round((x + rw) * inv)) - round(x * inv),
             min(h, round((y + rh) * inv)) - round(y * inv))
        for i, (x, y, rw, rh) in enumerate(rects)
    )
    return Layout(kind, tiles, (w, h), tuple(int(c) for c in bg))  # type: ignore[arg-type]


def same_tiles(old: Layout, new: Layout, tolerance: float = 0.02) -> bool:
    """The same tile grid, allowing the few-pixel wobble of a rescaled or recompressed frame.

    Tolerance is a fraction of the frame's long side, so it means the same at 720p and 4K.
    """
    if old.kind != new.kind or len(old.tiles) != len(new.tiles) or old.frame_size != new.frame_size:
        return False
    if not old.tiles:
        return True
    a = np.array([t.xyxy for t in old.tiles])
    b = np.array([t.xyxy for t in new.tiles])
    return bool(np.abs(a - b).max() <= tolerance * max(old.frame_size))


@dataclass(frozen=True)
class StableLayoutOptions:
    confirmations: int = 2  # consecutive searches a new layout must win before it is adopted
    tolerance: float = 0.02  # see same_tiles

    def __post_init__(self) -> None:
        if self.confirmations < 1:
            raise ValueError(f"confirmations must be >= 1, got {self.confirmations}")
        if not 0.0 <= self.tolerance < 0.5:
            raise ValueError(f"tolerance must be in [0, 0.5), got {self.tolerance}")


class StableLayout:
    """The gallery layout over time, with hysteresis.

    One odd search (a JPEG-noisy frame, a speaker border flashing on, a frame captured
    mid-animation) must not flip the layout: tracks, names and captions all hang off it.
    A different layout is adopted only after it has been found `confirmations` times in a
    row; a change of frame size is adopted at once (the source itself changed).
    """

    def __init__(self, options: StableLayoutOptions | None = None) -> None:
        self.options = options or StableLayoutOptions()
        self.current: Layout | None = None
        self._pending: Layout | None = None
        self._pending_count = 0

    def reset(self) -> None:
        self.current, self._pending, self._pending_count = None, None, 0

    def update(self, found: Layout) -> bool:
        """Feed one search's result; True when the adopted layout changed."""
        tol = self.options.tolerance
        if self.current is None or self.current.frame_size != found.frame_size:
            self.current, self._pending, self._pending_count = found, None, 0
            return True
        if same_tiles(self.current, found, tol):
            self._pending, self._pending_count = None, 0
            return False
        if self._pending is not None and same_tiles(self._pending, found, tol):
            self._pending_count += 1
        else:
            self._pending, self._pending_count = found, 1
        if self._pending_count >= self.options.confirmations:
            self.current, self._pending, self._pending_count = found, None, 0
            return True
        return False

"""Find the tiles of a meeting gallery (Zoom, Meet, Teams) in a screenshot.

Meeting apps draw participant tiles as rectangles on a flat background with gaps of a
few pixels. We estimate the background colour from the frame border, take the pixels
that differ from it, and keep the connected regions that fill their bounding rectangle
(tile content is arbitrary, tile *shape* is not). Uniform sizes make a GRID; one large
tile with small ones is SPEAKER view; anything else falls back to the whole frame.

Recorded classes and shared screenshots are JPEG or H.264, which smear a 3 px gap until a
few pixels of it join two tiles into one region. So each canvas colour also cuts the frame
along straight lines that are canvas-bright almost all the way across (an XY-cut): a gap
line stays 90% canvas however it is smeared. Those cells are trusted as a grid only.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass

import cv2
import numpy as np

from ..types import Faces, Layout, LayoutKind, Tile

Rect = tuple[int, int, int, int]  # x, y, w, h


@dataclass(frozen=True)
class LayoutOptions:
    # How far a gap pixel may be from the canvas colour. Gaps are drawn flat, but JPEG and
    # video coding smear them; a loose tolerance in turn eats dark video at tile edges. So
    # each canvas colour is tried at both, and the better tiling wins.
    colour_tolerances: tuple[int, ...] = (6, 12)
    min_tile_fraction: float = 0.004  # of the frame area: 49 tiles at 1080p are ~2% each
    min_fill: float = 0.93  # region area / bounding-box area
    size_tolerance: float = 0.04  # relative spread of tile sizes within a grid
    analysis_width: int = 960  # work on a downscaled copy; gaps of >=2 px survive 2x
    canvas_candidates: int = 3  # flat colours tried as the canvas besides the frame border's


def _background_colour(small: np.ndarray) -> np.ndarray:
    border = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
    quant = (border // 4).astype(np.int32)
    keys = quant[:, 0] * 4096 + quant[:, 1] * 64 + quant[:, 2]
    mode = Counter(keys.tolist()).most_common(1)[0][0]
    return border[keys == mode].mean(axis=0)


def _gap_lines(small: np.ndarray, bg: np.ndarray, tol: int, reach: int = 3) -> np.ndarray:
    """Pixels on a thin, long, straight line (up to 2 * reach - 1 px wide) nearer `bg` than both sides.

    Long and straight: a gap runs the length of a tile, while thin dark lines inside a video
    (a hair, a cable, a door frame's shadow) are short or bent, and must not cut a tile.
    """
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.int16)
    target = round(float(np.dot(bg[::-1], (0.299, 0.587, 0.114))))  # the canvas's grey (bg is BGR)
    dist = np.abs(grey - target)
    near = dist <= 4 * tol
    length = max(9, round(0.04 * max(grey.shape)))
    out = np.zeros(grey.shape, bool)
    for axis, kernel in ((0, np.ones((1, length), np.uint8)), (1, np.ones((length, 1), np.uint8))):
        before = np.roll(dist, reach, axis=axis)
        after = np.roll(dist, -reach, axis=axis)
        line = (near & (before > dist + tol) & (after > dist + tol)).astype(np.uint8)
        out |= cv2.morphologyEx(line, cv2.MORPH_OPEN, kernel).astype(bool)
    return out


def _content(image: np.ndarray, bg: np.ndarray, tol: int, small_size: tuple[int, int]) -> np.ndarray:
    """Pixels that are not canvas, at analysis scale (bool).

    Tested at full resolution, then shrunk by area: an analysis pixel is content when most frame
    pixels under it are. A 3 px gap that JPEG smeared keeps a canvas-coloured middle at full
    size, which a nearest-neighbour shrink skips half the time."""
    lo = np.clip(bg - tol, 0, 255).astype(np.uint8).tolist()
    hi = np.clip(bg + tol, 0, 255).astype(np.uint8).tolist()
    content = 255 - cv2.inRange(image, np.array(lo), np.array(hi))
    if content.shape[1::-1] != small_size:
        content = cv2.resize(content, small_size, interpolation=cv2.INTER_AREA)
    return content > 140


def _rects(small: np.ndarray, full: np.ndarray, bg: np.ndarray, tol: int, opts: LayoutOptions) -> list[Rect]:
    # No morphology here: at analysis scale real gaps can be 2 px wide, and closing
    # would bridge them. Holes inside tiles are handled per region below.
    content = _content(full, bg, tol, (small.shape[1], small.shape[0]))
    # JPEG and video coding smear a 2-3 px gap into its neighbours, so its pixels drift out
    # of the tolerance. The gap is still a thin line nearer the canvas colour than the
    # tiles on both sides of it: such pixels count as canvas too.
    content &= ~_gap_lines(small, bg, tol)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(content.astype(np.uint8), connectivity=4)
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


def _canvas_share(grey: np.ndarray, bg: np.ndarray, tol: int, small_size: tuple[int, int]) -> np.ndarray:
    """How much of each analysis pixel is canvas by brightness (float32, 0..1); `grey` is the frame's.

    Brightness only: codecs keep a quarter of the chroma samples, so a grey gap beside a red
    tile turns pinkish in JPEG or H.264 while its luma stays the canvas's."""
    target = float(np.dot(bg[::-1], (0.299, 0.587, 0.114)))  # bg is BGR
    near = (np.abs(grey.astype(np.int16) - round(target)) <= tol).astype(np.float32)
    return cv2.resize(near, small_size, interpolation=cv2.INTER_AREA) if near.shape[1::-1] != small_size else near


def _runs(mask: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    """[start, end) of the runs of True at least `min_len` long."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a >= min_len]


def _xy_cut(share: np.ndarray, min_len: int, x0: int = 0, y0: int = 0, depth: int = 0) -> list[Rect]:
    """Tiles as the cells between straight gap lines (recursive XY-cut).

    A gap row or column is canvas almost all the way across the region it cuts. Unlike the
    connected regions of `_rects`, a few codec-smeared pixels in a gap do not join two tiles:
    the line is still 90% canvas. Rows are cut first (a gallery is rows of tiles, a speaker
    view a column beside a strip), then columns within each band, and so on."""
    rows = _runs(share.mean(axis=1) < 0.9, min_len)
    cols = _runs(share.mean(axis=0) < 0.9, min_len)
    if not rows or not cols:
        return []
    top, bottom, left, right = rows[0][0], rows[-1][1], cols[0][0], cols[-1][1]
    if depth >= 8:
        return [(x0 + left, y0 + top, right - left, bottom - top)]
    if len(rows) > 1:
        return [r for a, b in rows for r in _xy_cut(share[a:b], min_len, x0, y0 + a, depth + 1)]
    if len(cols) > 1:
        return [r for a, b in cols for r in _xy_cut(share[:, a:b], min_len, x0 + a, y0, depth + 1)]
    if (top, bottom, left, right) != (0, share.shape[0], 0, share.shape[1]):
        return _xy_cut(share[top:bottom, left:right], min_len, x0 + left, y0 + top, depth + 1)
    return [(x0, y0, share.shape[1], share.shape[0])]


def _rejoin(cells: list[Rect], tolerance: float) -> list[Rect]:
    """Cells that are pieces of one grid tile, joined again.

    A video with a canvas-dark band across it (a dark wall, a black bar) is cut by `_xy_cut`
    like a gap; its pieces are smaller than the gallery's tile size and together fill one tile."""
    if len(cells) < 3:
        return cells
    size = np.median(np.array([(w, h) for _, _, w, h in cells], np.float64), axis=0)

    def fits(r: Rect) -> bool:
        return bool((np.abs(np.array(r[2:], np.float64) / size - 1) <= tolerance).all())

    out = [r for r in cells if fits(r)]
    pieces = sorted((r for r in cells if not fits(r)), key=lambda r: -r[2] * r[3])
    while pieces:
        first = pieces.pop(0)
        x1, y1, x2, y2 = first[0], first[1], first[0] + first[2], first[1] + first[3]
        group = []
        for p in pieces:
            u = (min(x1, p[0]), min(y1, p[1]), max(x2, p[0] + p[2]), max(y2, p[1] + p[3]))
            if u[2] - u[0] <= size[0] * (1 + tolerance) and u[3] - u[1] <= size[1] * (1 + tolerance):
                x1, y1, x2, y2 = u
                group.append(p)
        joined = (x1, y1, x2 - x1, y2 - y1)
        if group and fits(joined):
            out.append(joined)
            pieces = [p for p in pieces if p not in group]
        else:
            out.append(first)  # a tile of another size (the speaker's), or a piece left alone
    return out


def _regular(rects: list[Rect], tolerance: float) -> list[Rect]:
    """Grid tiles squared up: one size, each edge on its row's or column's line.

    A tile whose video is canvas-dark along one edge (a dark room, a rounded corner, JPEG
    smear) is found a little small, on that side only: its other edges still line up with its
    neighbours', so it takes the gallery's tile size from the edges that agree."""
    if len(rects) < 3:
        return rects
    wh = np.array([(w, h) for _, _, w, h in rects], np.float64)
    tw, th = (round(v) for v in np.median(wh, axis=0))
    slack = max(2, round(tolerance * min(tw, th)))

    def line(v: int, values: list[int]) -> bool:
        return sum(abs(v - o) <= slack for o in values) >= 2  # itself and at least one other

    x1s, y1s = [r[0] for r in rects], [r[1] for r in rects]
    x2s, y2s = [r[0] + r[2] for r in rects], [r[1] + r[3] for r in rects]
    out = []
    for x, y, w, h in rects:
        if not (0.5 * tw <= w <= tw + slack and 0.5 * th <= h <= th + slack):
            out.append((x, y, w, h))  # not a grid tile (the speaker's, a slide): leave it
            continue
        if w != tw:
            x = x if line(x, x1s) or not line(x + w, x2s) else x + w - tw
            w = tw
        if h != th:
            y = y if line(y, y1s) or not line(y + h, y2s) else y + h - th
            h = th
        out.append((x, y, w, h))
    return out


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


def _split_nested(rects: list[Rect]) -> tuple[list[Rect], list[Rect]]:
    """(tiles, insets). Tiles never hold tiles: a rectangle around two or more others is the
    app window or a panel, and is dropped. A rectangle inside exactly one other is a
    floating inset over a tile (the self-view), and the tile under it stays a tile.
    """
    def inside(a: Rect, b: Rect) -> bool:
        return a != b and a[0] >= b[0] and a[1] >= b[1] and a[0] + a[2] <= b[0] + b[2] and a[1] + a[3] <= b[1] + b[3]

    holds = {r: [o for o in rects if inside(o, r)] for r in rects}
    kept = [r for r in rects if len(holds[r]) <= 1]
    insets = [r for r in kept if any(r in holds[o] and len(holds[o]) == 1 for o in kept)]
    return [r for r in kept if r not in insets], insets


def _flat_colours(small: np.ndarray, count: int) -> list[np.ndarray]:
    """The most common colours of flat pixels: gallery canvases and tile gaps are among them."""
    sample = small[::2, ::2]  # every other pixel is plenty to rank colours, at a quarter of the cost
    grey = cv2.cvtColor(sample, cv2.COLOR_BGR2GRAY)
    edges = cv2.add(cv2.absdiff(grey[1:-1, 2:], grey[1:-1, :-2]), cv2.absdiff(grey[2:, 1:-1], grey[:-2, 1:-1]))
    pixels = sample[1:-1, 1:-1][edges <= 2]
    if not len(pixels):
        return []
    quant = (pixels >> 3).astype(np.int32)
    keys = quant[:, 0] * 1024 + quant[:, 1] * 32 + quant[:, 2]
    counts = np.bincount(keys, minlength=32 * 32 * 32)
    top = np.argsort(-counts)[:count]
    return [pixels[keys == k].mean(axis=0) for k in top if counts[k]]


def _tile_shaped(rects: list[tuple[int, int, int, int]], frame_h: int) -> list[tuple[int, int, int, int]]:
    """Drop bars that are no tiles: an app's title bar, toolbar or a label strip."""
    return [r for r in rects if 0.25 <= r[2] / max(r[3], 1) <= 4.0 and r[3] >= 0.03 * frame_h]


def _classify(rects: list[Rect], frame_area: int, options: LayoutOptions, insets: int = 0) -> LayoutKind:
    """GRID when most tiles share one size, SPEAKER for one big tile with small ones.

    "Most", not all: a tile with the active-speaker border is a few pixels larger, and a
    pillarboxed 4:3 or phone video loses its bars to the canvas and looks narrower.
    """
    if not rects:
        return LayoutKind.NONE
    wh = np.array([(rw, rh) for _, _, rw, rh in rects], np.float64)
    areas = wh.prod(axis=1)
    median = np.median(areas)
    tol = options.size_tolerance * 2.5
    same = (np.abs(wh / np.median(wh, axis=0) - 1) <= tol).all(axis=1)
    if len(rects) >= 2 and same.mean() >= 0.75 and areas.max() <= 2 * median:
        return LayoutKind.GRID
    one_big_tile = len(rects) >= 2 and areas.max() > 4 * median
    # One tile: a speaker view if it leaves room around it, or carries a floating self-view.
    one_inset_tile = len(rects) == 1 and (areas[0] < 0.9 * frame_area or insets > 0)
    return LayoutKind.SPEAKER if one_big_tile or one_inset_tile else LayoutKind.NONE


def _score(kind: LayoutKind, rects: list[tuple[int, int, int, int]], centres: np.ndarray | None) -> float:
    """How well a candidate tiling explains the frame: its tiles, and the faces inside them.

    A face outside every tile, or two faces in one tile (two tiles merged into one), counts
    against it; without faces the tile count decides.
    """
    if kind is LayoutKind.NONE:
        return 0.0
    score = float(len(rects)) + (0.5 if kind is LayoutKind.GRID else 0.0)
    if centres is None or not len(centres):
        return score
    x, y = centres[:, 0:1], centres[:, 1:2]
    r = np.array(rects, np.float64).reshape(-1, 4)
    inside = (x >= r[:, 0]) & (x < r[:, 0] + r[:, 2]) & (y >= r[:, 1]) & (y < r[:, 1] + r[:, 3])
    explained = int(inside.any(axis=1).sum())
    crowded = int((inside.sum(axis=0) > 1).sum())
    return score + 3.0 * explained - 3.0 * (len(centres) - explained) - 3.0 * crowded


def explains_every_face(layout: Layout, faces: Faces | None) -> bool:
    """Every face inside a tile and no two in one: tiles that can be trusted without a search.
    (Two faces in one tile are two tiles the search merged where a compressed gap vanished.)"""
    if faces is None or not len(faces) or layout.kind is LayoutKind.NONE:
        return True
    rects = [(t.x, t.y, t.w, t.h) for t in layout.tiles]
    n = len(faces)
    best = float(len(rects)) + (0.5 if layout.kind is LayoutKind.GRID else 0.0) + 3.0 * n
    return _score(layout.kind, rects, faces.centers) >= best


def explains(layout: Layout, faces: Faces | None) -> float:
    """How well `layout` explains `faces` (higher is better): the faces terms of _score only.

    Not the tile count: a gallery that switched to speaker view has fewer tiles than the grid
    before it, and is no worse for that."""
    if faces is None or not len(faces):
        return 0.0
    rects = [(t.x, t.y, t.w, t.h) for t in layout.tiles]
    base = _score(layout.kind, rects, None)
    return _score(layout.kind, rects, faces.centers) - base


def find_layout(image: np.ndarray, options: LayoutOptions = LayoutOptions(), faces: Faces | None = None) -> Layout:
    """Tiles of a gallery screenshot (BGR), in reading order, in input pixels.

    Tiles are drawn on a flat canvas whose colour shows in the gaps between them. Which
    colour that is cannot be read off the frame border when the capture includes the app
    window's chrome, a desktop or a panel, so the border's colour and the most common flat
    colours are each tried as the canvas, and the tiling that best explains the frame (and
    `faces`, when given: every face in one tile, one face per tile) is kept.
    """
    h, w = image.shape[:2]
    if h < 16 or w < 16:
        return Layout.whole_frame(w, h)
    factor = min(1.0, options.analysis_width / w)
    small = image
    if factor < 1.0:
        small = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
    if small.ndim == 2:
        small = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
    full = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    full_grey = cv2.cvtColor(full, cv2.COLOR_BGR2GRAY)  # once: every canvas colour is tried on it
    centres = faces.centers * factor if faces is not None and len(faces) else None
    candidates = [_background_colour(small), *_flat_colours(small, options.canvas_candidates)]
    best: tuple[float, LayoutKind, list[Rect], list[Rect], np.ndarray] | None = None
    tried: list[tuple[np.ndarray, int]] = []
    tries = [(bg, tol) for bg in candidates for tol in options.colour_tolerances]
    for bg, tol in tries:
        if any(np.abs(bg - t).max() <= min(options.colour_tolerances) and tol == t_tol for t, t_tol in tried):
            continue
        tried.append((bg, tol))
        regions = _split_nested(_rects(small, full, bg, tol, options))
        share = _canvas_share(full_grey, bg, tol, (small.shape[1], small.shape[0]))
        cells = _rejoin(_xy_cut(share, max(2, round(0.03 * small.shape[0]))), 2.5 * options.size_tolerance)
        cells = [r for r in cells if r[2] * r[3] >= options.min_tile_fraction * small.shape[0] * small.shape[1]]
        for from_cells, (rects, insets) in ((False, regions), (True, (cells, []))):
            rects = _order(_tile_shaped(rects, small.shape[0]))
            kind = _classify(rects, small.shape[0] * small.shape[1], options, len(insets))
            if kind is LayoutKind.GRID:
                rects = _regular(rects, options.size_tolerance)
            elif from_cells:
                continue  # the cells are trusted as a grid only: a chat panel's lines cut into cells too
            score = _score(kind, rects, centres)
            if kind is not LayoutKind.NONE and (best is None or score > best[0]):
                best = (score, kind, rects, insets, bg)
    if best is None:
        return Layout.whole_frame(w, h)
    _, kind, rects, insets, bg = best
    inv = 1.0 / factor

    def full_size(i: int, x: int, y: int, rw: int, rh: int) -> Tile:
        x0, y0 = round(x * inv), round(y * inv)
        return Tile(i, x0, y0, min(w, round((x + rw) * inv)) - x0, min(h, round((y + rh) * inv)) - y0)

    tiles = tuple(full_size(i, *r) for i, r in enumerate(rects))
    floating = tuple(full_size(i, *r) for i, r in enumerate(insets))
    return Layout(kind, tiles, (w, h), tuple(int(c) for c in bg), floating)  # type: ignore[arg-type]


def layout_holds(image: np.ndarray, layout: Layout, tolerance: int = 12, min_share: float = 0.85) -> bool:
    """Whether the canvas still shows just outside every tile: the cheap check before a new search.

    A full search tries several canvas colours over the whole frame; in a live gallery the
    tiles stay put for minutes, so the search runs only when the gaps around the known tiles
    no longer have the canvas colour (tiles moved, a participant joined, the view changed).
    """
    if layout.kind is LayoutKind.NONE or layout.background is None or image.ndim != 3:
        return False
    h, w = image.shape[:2]
    if (w, h) != layout.frame_size:
        return False
    ys, xs = _rings(tuple(t.xyxy for t in layout.tiles), w, h)
    if not len(ys):
        return False
    bg = np.array(layout.background, np.int16)
    near = np.abs(image[ys, xs].astype(np.int16) - bg).max(axis=1) <= tolerance
    return int(near.sum()) >= min_share * len(near)


@functools.lru_cache(maxsize=8)
def _rings(tiles: tuple[tuple[int, int, int, int], ...], w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """(ys, xs) of the pixels layout_holds compares: the line 2 px above each tile, the one just
    below it, 2 px left of it and just right of it (each where it lies in the frame). Built once
    per layout: the check runs every few frames, and 196 slices a time cost 3 ms at 49 tiles."""
    ys: list[np.ndarray] = []
    xs: list[np.ndarray] = []
    for x1, y1, x2, y2 in tiles:
        cols = np.arange(max(0, x1), min(x2, w))
        rows = np.arange(max(0, y1), min(y2, h))
        for y, inside in ((y1 - 2, y1 >= 2), (y2 + 1, y2 + 1 < h)):
            if inside:
                ys.append(np.full(len(cols), y))
                xs.append(cols)
        for x, inside in ((x1 - 2, x1 >= 2), (x2 + 1, x2 + 1 < w)):
            if inside:
                ys.append(rows)
                xs.append(np.full(len(rows), x))
    if not ys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(ys).astype(np.int64), np.concatenate(xs).astype(np.int64)

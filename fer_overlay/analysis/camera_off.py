"""Profile photos: faces on a camera-off tile, which have no mood and are not students' live faces.

Zoom shows a camera-off participant's profile picture as a square in the middle of a
flat tile, Teams and Meet as a circle. A detector finds the face in it like any other.
What gives it away is the frame around it: a live webcam face has video content out to
its tile's edge, a gap of a few pixels, then the next tile, while a profile photo's
picture ends well inside a flat tile. So, beside each face (left, right, above, each line
reaching past the face), we look for the first flat line (one colour within JPEG noise)
in a camera-off tile's dark grey and measure how far it runs: a few pixels is a tile
gap; a third of the face or more, on all three sides and in one colour, is the tile a
picture sits on.

Meet's round picture sits high in a short tile, the tile above a few pixels over it: where the
flat runs left and right are a face side or more, a thin strip above is enough. A picture's rim
on a sharpened or once-JPEG screenshot rings for a pixel or two; a run skips such lines.

Zoom's square picture can be as tall as its tile (no margin above it): then the flat tile
shows left and right only, as it does beside a pillarboxed phone or 4:3 video, and what
tells them apart is the shape between: a picture about as wide as the tile is tall (0.8-1.0),
where a phone video is 0.56 of it and a 4:3 one 1.33.

Known limit, leaving a photo counted as a live face rather than losing a live one: a flat
dark virtual background looks like a tile. Telling those apart needs time (a picture never
moves), which a later stage can add.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..types import Faces

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraOffOptions:
    flat_tolerance: int = 10  # grey levels between a line's 5th and 95th percentile
    min_margin: float = 0.35  # flat run beside the picture, as a fraction of the face side
    short_top: float = 0.2  # enough above it where the runs beside it are a face side or more
    search: float = 1.5  # how far out to look for the picture's edge, in face sides
    extend: float = 0.4  # lines reach this far past the face box, in face sides
    # Levels (of the brightest channel) a camera-off tile is painted in: the apps use dark
    # neutral greys (Zoom ~36, Teams ~41, Meet ~64) in both themes, or a dark tint (a Meet
    # grid extension's navy, 28 in blue). Not black (letterbox bars round a live phone video
    # are black) and not light (a bright studio wall or an overexposed room).
    tile_colours: tuple[int, int] = (12, 90)

    def __post_init__(self) -> None:
        if not 0 <= self.flat_tolerance <= 64:
            raise ValueError(f"flat_tolerance must be in [0, 64], got {self.flat_tolerance}")
        if not 0.05 <= self.min_margin <= 3.0:
            raise ValueError(f"min_margin must be in [0.05, 3], got {self.min_margin}")
        if not 0.0 <= self.short_top <= self.min_margin:
            raise ValueError(f"short_top must be in [0, min_margin={self.min_margin}], got {self.short_top}")
        if not 0.2 <= self.search <= 5.0:
            raise ValueError(f"search must be in [0.2, 5], got {self.search}")
        if not 0.0 <= self.extend <= 2.0:
            raise ValueError(f"extend must be in [0, 2], got {self.extend}")


def _margin(lines: np.ndarray, tol: int, colours: tuple[int, int]) -> tuple[int, float, int]:
    """Lines ordered outward from the face: (length, colour, start) of the first flat run of a tile colour.

    A line is flat when its pixels span at most `tol` grey levels (on the median-filtered
    frame, so JPEG speckle does not count). The run is one colour as a whole, not only line
    by line: it ends where the line colour drifts from its first line's by more than the
    tolerance, as a lit wall in a webcam image does within a few pixels, and as a tile's
    background does where the gap starts.
    """
    if lines.shape[0] == 0 or lines.shape[1] == 0:
        return 0, float("nan"), 0
    lo, hi = lines.min(axis=1).astype(np.int16), lines.max(axis=1).astype(np.int16)
    mid = (lo + hi) // 2
    flat = (hi - lo <= tol) & (mid >= colours[0]) & (mid <= colours[1])
    if not flat.any():
        return 0, float("nan"), 0
    start = int(np.argmax(flat))
    same = _bridged(flat[start:] & (np.abs(mid[start:] - mid[start]) <= tol), RINGING)
    run = len(same) if same.all() else int(np.argmin(same))
    return run, float(mid[start]), start


# Lines a flat run may skip: compression rings for a pixel or two beside a sharp edge (a round
# photo's rim on a once-JPEG screenshot), which would otherwise cut a tile margin into 1-px runs.
RINGING = 2


def _bridged(ok: np.ndarray, gap: int) -> np.ndarray:
    """`ok` with each break of at most `gap` False values between two True values filled in."""
    out = ok.copy()
    n = len(ok)
    for left in range(1, gap + 1):  # a True `left` lines back and a True within `gap + 1 - left` ahead
        for right in range(1, gap + 2 - left):
            if left + right > n:
                continue
            fill = ok[: n - left - right]  # True at i - left ...
            ahead = ok[left + right:]  # ... and at i + right, for i in [left, n - right)
            out[left: n - right] |= fill & ahead
    return out


def side_margins(grey: np.ndarray, box: np.ndarray, options: CameraOffOptions) -> list[tuple[int, float, int]]:
    """(run, colour, start) of the flat area beyond the picture's edge on the left, right and top of
    one face; `start` is how far past the face box the picture's edge is.

    Stops at the first side whose run is too short for a picture's margin.
    """
    h, w = grey.shape
    x1, y1, x2, y2 = (round(float(v)) for v in box)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    side = max(x2 - x1, y2 - y1, 1)
    reach = int(side * options.search) + side  # to the picture's edge and past its margin
    tol = options.flat_tolerance
    # Lines span past the face: a picture's edge is straight (or a circle's tangent) well
    # beyond the face, while beside a live head the shoulders come out below it, so a
    # bright wall that is flat right next to the face does not make a flat column here.
    ext = int(side * options.extend)
    ya, yb = max(0, y1 - ext), min(h, y2 + ext)
    xa, xb = max(0, x1 - ext), min(w, x2 + ext)
    sides = (
        lambda: grey[ya:yb, max(0, x1 - reach) : x1].T[::-1],  # columns, nearest first
        lambda: grey[ya:yb, x2 : min(w, x2 + reach)].T,
        lambda: grey[max(0, y1 - reach) : y1, xa:xb][::-1],  # rows, nearest first
    )
    need = options.min_margin * side
    margins: list[tuple[int, float, int]] = []
    for lines in sides:
        margins.append(_margin(lines(), tol, options.tile_colours))
        if len(margins) < 3 and margins[-1][0] < need:  # no tile margin left or right: most faces are live
            break
    return margins


def profile_photos(image: np.ndarray, faces: Faces, options: CameraOffOptions | None = None) -> np.ndarray:
    """(N,) bool: which faces sit in a picture on a flat tile (camera off), not in live video."""
    options = options or CameraOffOptions()
    out = np.zeros(len(faces), bool)
    if not len(faces):
        return out
    h, w = image.shape[:2]
    for i, box in enumerate(faces.xyxy):
        side = float(max(box[2] - box[0], box[3] - box[1]))
        need = options.min_margin * side
        # Only the area the lines can reach is converted and filtered: this runs on most
        # frames now, and a whole 1080p frame costs ~2 ms where 49 small areas cost less.
        reach = side * (options.search + 1) + 2
        ax, ay = max(0, int(box[0] - reach)), max(0, int(box[1] - reach))
        bx, by = min(w, int(box[2] + reach) + 1), min(h, int(box[3] + reach) + 1)
        area = image[ay:by, ax:bx]
        if area.size == 0:
            continue
        # Brightness as the largest channel, not luma: a dark tinted tile (navy, 28/0/0 in BGR,
        # luma 3) is then as bright as the grey tiles (luma = max channel for a grey), while a
        # letterbox bar stays black and a saturated bright wall stays bright.
        # (np.maximum per channel pair: 25x faster than .max(axis=2) on a strided slice of the frame.)
        grey = area if area.ndim == 2 else np.maximum(np.maximum(area[:, :, 0], area[:, :, 1]), area[:, :, 2])
        grey = cv2.medianBlur(grey, 3)
        local = box - np.array([ax, ay, ax, ay], box.dtype)
        margins = side_margins(grey, local, options)
        colours = [c for _, c, _ in margins]
        # One tile background on three sides, wide enough to be no tile gap. Both sides
        # alone are not enough: Zoom pillarboxes a 4:3 or phone video with its tile colour,
        # and that face is live; unless the picture between them is a square as tall as the
        # flat tile beside it, which is what Zoom draws for a profile picture.
        one_colour = max(colours) - min(colours) <= options.flat_tolerance
        if len(margins) == 3 and one_colour and min(margins[0][0], margins[1][0]) >= need:
            # Meet puts its round photo high in a short tile, the next tile a few pixels above
            # it: wide flat tile on both sides lets a thin strip above do.
            wide = min(margins[0][0], margins[1][0]) >= side
            if margins[2][0] >= (options.short_top if wide else options.min_margin) * side:
                out[i] = True
                continue
        # Lines reaching past the face would leave a picture as tall as its tile: look beside the face only.
        beside = side_margins(grey, local, replace(options, extend=0.0))[:2]
        if (len(beside) == 2 and min(r for r, _, _ in beside) >= need
                and abs(beside[0][1] - beside[1][1]) <= options.flat_tolerance):
            out[i] = _square_as_tall_as_its_tile(grey, local, beside, options)
    return out


def _square_as_tall_as_its_tile(grey: np.ndarray, box: np.ndarray, margins: list[tuple[int, float, int]],
                                options: CameraOffOptions) -> bool:
    """Flat tile colour left and right of a picture about as wide as that flat strip is tall.

    A phone video pillarboxed in a 16:9 tile is 0.56 of its height wide, a 4:3 one 1.33; Zoom's
    profile picture is a square that fills the tile's height, or nearly (0.8-1.0). The strip's
    height is measured on the middle column of each margin, from the face's row up and down
    while it keeps the tile colour; the taller of the two counts, because the app's name chip
    covers the bottom of one of them."""
    x1, y1, x2, y2 = (float(v) for v in box)
    left, right = x1 - margins[0][2], x2 + margins[1][2]
    width = right - left
    cy = min(grey.shape[0] - 1, max(0, int((y1 + y2) / 2)))
    height = 0
    columns = (round(left - 1 - margins[0][0] / 2), round(right + margins[1][0] / 2))
    for (_, colour, _), column in zip(margins, columns):
        if not 0 <= column < grey.shape[1]:
            continue
        near = np.abs(grey[:, column].astype(np.int16) - round(colour)) <= options.flat_tolerance
        if not near[cy]:
            continue
        up, down = near[cy::-1], near[cy:]
        if up.all() or down.all():
            continue  # the strip ran out of the area looked at: no tile edge seen
        height = max(height, int(np.argmin(up)) + int(np.argmin(down)))
    log.debug("picture %.0f px wide, tile strip %d px tall", width, height)
    return height >= 1.25 * (y2 - y1) and 0.78 <= width / height <= 1.05

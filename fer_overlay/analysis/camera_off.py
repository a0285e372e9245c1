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

Known limits, both leaving a photo counted as a live face rather than losing a live one:
Zoom's square picture can be as tall as its tile (no margin above it), and a flat dark
virtual background looks like a tile. Telling those apart needs time (a picture never
moves), which a later stage can add.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..types import Faces


@dataclass(frozen=True)
class CameraOffOptions:
    flat_tolerance: int = 10  # grey levels between a line's 5th and 95th percentile
    min_margin: float = 0.35  # flat run beside the picture, as a fraction of the face side
    search: float = 1.5  # how far out to look for the picture's edge, in face sides
    extend: float = 0.4  # lines reach this far past the face box, in face sides
    # Grey levels a camera-off tile is painted in: the apps use dark neutral greys (Zoom
    # ~36, Teams ~41, Meet ~64) in both themes. Not black (letterbox bars round a live
    # phone video are black) and not light (a bright studio wall or an overexposed room).
    tile_colours: tuple[int, int] = (12, 90)

    def __post_init__(self) -> None:
        if not 0 <= self.flat_tolerance <= 64:
            raise ValueError(f"flat_tolerance must be in [0, 64], got {self.flat_tolerance}")
        if not 0.05 <= self.min_margin <= 3.0:
            raise ValueError(f"min_margin must be in [0.05, 3], got {self.min_margin}")
        if not 0.2 <= self.search <= 5.0:
            raise ValueError(f"search must be in [0.2, 5], got {self.search}")
        if not 0.0 <= self.extend <= 2.0:
            raise ValueError(f"extend must be in [0, 2], got {self.extend}")


def _margin(lines: np.ndarray, tol: int, colours: tuple[int, int]) -> tuple[int, float]:
    """Lines ordered outward from the face: (length, colour) of the first flat run of a tile colour.

    A line is flat when its pixels span at most `tol` grey levels (on the median-filtered
    frame, so JPEG speckle does not count). The run is one colour as a whole, not only line
    by line: it ends where the line colour drifts from its first line's by more than the
    tolerance, as a lit wall in a webcam image does within a few pixels, and as a tile's
    background does where the gap starts.
    """
    if lines.shape[0] == 0 or lines.shape[1] == 0:
        return 0, float("nan")
    lo, hi = lines.min(axis=1).astype(np.int16), lines.max(axis=1).astype(np.int16)
    mid = (lo + hi) // 2
    flat = (hi - lo <= tol) & (mid >= colours[0]) & (mid <= colours[1])
    if not flat.any():
        return 0, float("nan")
    start = int(np.argmax(flat))
    same = flat[start:] & (np.abs(mid[start:] - mid[start]) <= tol)
    run = len(same) if same.all() else int(np.argmin(same))
    return run, float(mid[start])


def side_margins(grey: np.ndarray, box: np.ndarray, options: CameraOffOptions) -> list[tuple[int, float]]:
    """(run, colour) of the flat area beyond the picture's edge on the left, right and top of one face.

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
    margins: list[tuple[int, float]] = []
    for lines in sides:
        margins.append(_margin(lines(), tol, options.tile_colours))
        if margins[-1][0] < need:  # one side without a tile margin settles it: most faces are live
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
        ext = side * options.extend + 2
        ax, ay = max(0, int(box[0] - reach)), max(0, int(box[1] - reach))
        bx, by = min(w, int(box[2] + reach) + 1), min(h, int(box[3] + ext) + 1)
        area = image[ay:by, ax:bx]
        if area.size == 0:
            continue
        grey = area if area.ndim == 2 else cv2.cvtColor(area, cv2.COLOR_BGR2GRAY)
        grey = cv2.medianBlur(grey, 3)
        margins = side_margins(grey, box - np.array([ax, ay, ax, ay], box.dtype), options)
        if len(margins) < 3:
            continue
        colours = [c for _, c in margins]
        # One tile background on three sides, wide enough to be no tile gap. Both sides
        # alone are not enough: Zoom pillarboxes a 4:3 or phone video with its tile colour,
        # and that face is live. A Zoom picture as tall as its tile is missed (see above).
        out[i] = (min(r for r, _ in margins) >= need
                  and max(colours) - min(colours) <= options.flat_tolerance)
    return out

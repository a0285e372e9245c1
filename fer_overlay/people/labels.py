"""The text pass: where a face's name label can be on screen, when to read it, and whose it is.

rapidocr's text detector (:class:`~fer_overlay.people.ocr.TextDetector`) looks where a
face's label can be: the band of its tile when the layout found one, else (or when that band
held no label for it) the area next to the face. Zoom, Meet and Teams print names bottom-left
in the tile, under the person; others (OpenVidu, BigBlueButton) top-left, over the person. So
each screen has a side, below or above the faces: the side whose labels name more faces
(below unless above names strictly more). A face whose side held no label for it looks on the
other side too. Each label goes to the face whose tile holds it (where a tile holds several,
to the one it sits by), else to the nearest face on the screen's side of it, one label per
face; never across a clearly nearer face, and never a line far taller than the screen's
labels or off the line its row's labels are on. A read label is believed while its pixels
stay the same. Pixels are compared every ``check_every_s`` (and when a face appears); a
region is read when it first appears, when its pixels changed (at most every
``min_interval_s``), after a read that found no name (backing off), and every ``reread_s``.
IMAGE mode reads every region at once, then where faces are still unnamed, for a few passes;
VIDEO reads ``tiles_per_frame`` regions per check, in step; LIVE_STREAM reads in a
low-priority thread, so a frame never waits for the text pass.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import cv2
import numpy as np

from .. import defaults
from ..types import Faces, Tile
from .names import StudentName, same_name
from .ocr import NameReader, Rect, TextDetector, ink_contrast, split_at_gaps
from .options import IdentityOptions

log = logging.getLogger(__name__)

IMAGE, LIVE = "image", "live_stream"  # the values of pipeline.RunningMode that change how labels are read


# --- geometry ----------------------------------------------------------------------------

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
_TALLER = 1.75  # a line this much taller than the median label on the screen is no label
_RECHECKS = 3  # matches redone without labels found out of place (too tall, off their row's line)
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


@dataclass(frozen=True)
class _Grey:
    """The frame in grey at half size (full size below 720 lines): every thumbnail of a frame is cut
    from it, so change checks cost one resize per frame plus a few microseconds per region."""

    image: np.ndarray
    scale: float

    @classmethod
    def of(cls, frame: np.ndarray) -> _Grey:
        h, w = frame.shape[:2]
        scale = 0.5 if h >= 720 else 1.0
        small = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) \
            if scale != 1.0 else frame
        return cls(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), scale)

    def thumb(self, rect: Rect, size: tuple[int, int]) -> np.ndarray:
        x1, y1, x2, y2 = (round(v * self.scale) for v in rect)
        crop = self.image[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)]
        if crop.size == 0:
            return np.zeros(size[::-1], np.float32)
        # Bilinear, not area: the half-size frame is already averaged, and this is 3x cheaper.
        return cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR).astype(np.float32)


def _changed(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def _clip(rect: tuple[float, float, float, float], w: int, h: int) -> Rect:
    x1, y1, x2, y2 = rect
    return max(0, int(x1)), max(0, int(y1)), min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))


def _band(tile: Tile, w: int, h: int, side: Side = BELOW) -> Rect:
    """The bottom of a tile (the top, when the screen's labels are above the faces), where the
    app prints the name, a little wider than the tile: a label never touches its tile's side,
    so text that touches the band's side is cut, and belongs to another tile (or the layout is
    a frame behind the screen)."""
    band = min(tile.h, max(round(0.25 * tile.h), round(_BAND_PX * h / 1080)))
    out = max(2, round(_BAND_OUT_PX * h / 1080))
    y1 = tile.y if side == ABOVE else tile.y + tile.h - band
    return _clip((tile.x - out, y1, tile.x + tile.w + out, y1 + band), w, h)


def _near(box: np.ndarray, w: int, h: int, side: Side = BELOW) -> Rect:
    """Where a face's label can be without a tile (or when its tile's band held none): below it,
    or above it."""
    x1, y1, x2, y2 = (float(v) for v in box)
    fw, fh, cx = x2 - x1, y2 - y1, (x1 + x2) / 2
    if side == ABOVE:  # the label's bottom may be _UP face heights up: its top half a face height more
        s = max(fw, fh)
        return _clip((cx - _UP_LEFT * s, y1 - (_UP + 0.5) * fh, cx + _RIGHT * fw, y1 + (_INTO + 0.5) * fh), w, h)
    return _clip((cx - _LEFT * fw, y2 - _ABOVE * fh, cx + _RIGHT * fw, y2 + _BELOW * fh), w, h)


def _label_costs(boxes: np.ndarray, tiles: list[Tile | None], texts: np.ndarray, side: Side = BELOW) -> np.ndarray:
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
        if side == ABOVE:
            corner = (ty1 - ty <= reach) & (ty2 <= cy[rows])
            fit = (ty1 - ty) / th + (tx1 - tx) / tw
        else:
            corner = (ty + th - ty2 <= reach) & (ty1 >= cy[rows])
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


# --- the text pass -----------------------------------------------------------------------

@dataclass
class _Region:
    rect: Rect
    thumb: np.ndarray  # at the last read
    read_at: float  # when the last read started
    done_at: float = float("-inf")  # when its result was applied
    misses: int = 0  # reads in a row that left its face without a name: the next waits twice as long
    zoomed: bool = False  # its last read was a closer look (_ZOOM): the next one after a miss is not


@dataclass(frozen=True)
class _Text:
    rect: Rect  # image pixels
    thumb: np.ndarray  # of its pixels when read: the text is believed while they stay the same
    name: StudentName | None  # None: a word read, but no name ("Mute", "Microphone"): it still takes its place
    score: float = 0.0  # the recogniser's confidence


@dataclass
class _Job:
    """One text pass over some screen areas; in LIVE_STREAM mode it runs in a thread."""

    keys: list[list[tuple]]  # per area, the regions it covers
    rects: list[Rect]
    thumbs: list[np.ndarray]  # per area, when the pass started: a result is dropped if the area changed since
    crops: list[np.ndarray]
    open_sides: list[tuple[bool, bool]]  # per area: (left, right) may cut through text (not the image's edge)
    scale: float  # the detector's input scale for this screen
    zoomed: list[bool] = field(default_factory=list)  # per area: read at _ZOOM times `scale` (empty: none is)
    faces: np.ndarray | None = None  # every face on the screen (xyxy): labels of tiles side by side stay apart
    first_read: bool = False  # some region was never read: faces are waiting for their keys
    offset: tuple[int, int] = (0, 0)  # how far the gallery moved while the pass ran (LabelScanner.shift)
    found: list[list[_Text]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


_NO_THUMB = np.zeros((0, 0), np.float32)
_MAX_SCALE = 2.0  # detector input scale at most (a second look at small labels)
# A face still unnamed after its region was read gets a look at this many times the screen's
# scale: Zoom shrinks long names to 9 px at 1080p, BigBlueButton's dock prints 6 px titles, and
# the detector only finds text of about 12 input pixels and up (it missed every such label at
# the screen's scale and found them at twice it). At most _ZOOM_MAX_SCALE, and no more than
# _ZOOM_PIXELS of detector input (about 2 s of one core): a closer look at a screen-wide strip
# is not worth ten.
_ZOOM, _ZOOM_MAX_SCALE, _ZOOM_PIXELS = 2.0, 3.0, 2_000_000
_REGION_THUMB = (48, 12)
_INK_RATIO = 0.6  # two parts of one line are one label when the fainter has this much of the other's contrast
_IMAGE_PASSES = 4  # IMAGE mode: text passes after the first, for faces still without a label


def _text_size(rect: Rect) -> tuple[int, int]:
    return (32, 8) if rect[2] - rect[0] >= 2 * (rect[3] - rect[1]) else (16, 8)


def _lines(found: list[Rect], crop: np.ndarray, open_sides: tuple[bool, bool],
           faces: np.ndarray | None = None) -> list[Rect]:
    """Horizontal text lines a few pixels tall (labels, not icons or speckle) in an area's pixels,
    minus lines cut by an open side of the area: a neighbouring area holds them whole. `faces`
    (xyxy, area pixels) keep apart labels side by side."""
    left, right = open_sides
    width = crop.shape[1]
    joined: list[Rect] = []
    for b in sorted(found):
        # The detector splits a line at a wide word gap ("Zoe | Campbell (Co-host)"): rejoin the parts.
        for j, a in enumerate(joined):
            h = min(a[3] - a[1], b[3] - b[1])
            if min(a[3], b[3]) - max(a[1], b[1]) >= 0.6 * h and b[0] - a[2] <= 0.6 * h \
                    and not _face_between(a, b, faces) and _same_ink(crop, a, b):
                joined[j] = (a[0], min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                break
        else:
            joined.append(b)
    cut = [(left and b[0] <= 1) or (right and b[2] >= width - 1) for b in joined]
    grew = True
    while grew:  # the rest of a cut line goes too ("Yusuf D|emir" leaves no "emir" behind)
        grew = False
        for i, a in enumerate(joined):
            for j, b in enumerate(joined):
                h = min(a[3] - a[1], b[3] - b[1])
                if cut[i] and not cut[j] and min(a[3], b[3]) - max(a[1], b[1]) >= 0.6 * h \
                        and max(b[0] - a[2], a[0] - b[2]) <= 1.5 * h:
                    cut[j] = grew = True
    return [b for b, c in zip(joined, cut) if not c and b[3] - b[1] >= 5 and b[2] - b[0] >= 1.2 * (b[3] - b[1])]


def _same_ink(crop: np.ndarray, a: Rect, b: Rect) -> bool:
    """The part of `b` past `a` is printed like `a`: of the same polarity and a like contrast
    (within _INK_RATIO). Where the detector put text beside a label into a box of its own (a
    shirt's print: "Martin Thwaites" + "EXPECTING"), that box is no part of the label. A part too
    narrow or too flat to measure counts as the same."""
    x = max(b[0], a[2])
    if b[2] - x < 0.5 * (b[3] - b[1]):
        return True
    ca, cb = ink_contrast(crop, a), ink_contrast(crop, (x, b[1], b[2], b[3]))
    if min(abs(ca), abs(cb)) < 1:  # a flat part: nothing printed to compare
        return True
    return ca * cb > 0 and min(abs(ca), abs(cb)) >= _INK_RATIO * max(abs(ca), abs(cb))


def _face_between(a: Rect, b: Rect, faces: np.ndarray | None) -> bool:
    """A face near line `a` lies wholly between the starts of `a` and `b`, the part after it: they
    are the labels of two tiles side by side (a strip of small videos puts them a word space
    apart), each starting left of its own face; one label's parts never have a face between."""
    if faces is None or not len(faces):
        return False
    fx1, fy1, fx2, fy2 = faces.T
    fh, cy = fy2 - fy1, (a[1] + a[3]) / 2
    return bool(np.any((fx1 > a[0]) & (fx2 <= b[0]) & (cy >= fy1 - 3 * fh) & (cy <= fy2 + 3 * fh)))


def _run_job(job: _Job, detector: TextDetector, reader: NameReader, background: bool) -> None:
    if background and sys.platform.startswith("linux"):
        # Linux nice is per thread: the output comes first. Re-reads also yield to the emotion
        # pipeline; a first read does not (at nice 19 beside an analysis thread that never
        # sleeps it got a tenth of a core, and new faces waited 18 s for their names).
        nice = defaults.ANALYSIS_NICE if job.first_read else defaults.TEXT_PASS_NICE
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except OSError as exc:
            log.debug("could not lower the text pass's priority: %s", exc)
    try:
        zoomed = job.zoomed or [False] * len(job.crops)
        job.found = [[] for _ in job.crops]
        for zoom in (False, True):
            areas = [i for i, z in enumerate(zoomed) if z == zoom]
            scale = _zoom_scale([job.crops[i] for i in areas], job.scale) if zoom else job.scale
            for i, texts in zip(areas, _read(job, areas, scale, detector, reader) if areas else ()):
                job.found[i] = texts
        # Labels of downscaled screenshots and dense galleries can be 7 px tall, too small for the
        # detector: areas where no name came out are looked at again, half as large again.
        again = [i for i, texts in enumerate(job.found) if not any(x.name for x in texts) and not zoomed[i]]
        if again and job.scale < _MAX_SCALE:
            for i, texts in zip(again, _read(job, again, min(_MAX_SCALE, 1.5 * job.scale), detector, reader)):
                job.found[i] = job.found[i] + texts
    # Handed to the analysis thread, which logs it and carries on. Exception, not BaseException:
    # in VIDEO/IMAGE mode the pass runs on the main thread, and Ctrl+C must stop the command
    # (it was swallowed here as a failed read, and `analyze` ran on to the end).
    except Exception as exc:
        job.error = exc
    finally:
        job.done.set()


def _zoom_scale(crops: Sequence[np.ndarray], scale: float) -> float:
    """The detector scale of a closer look at these crops, read at `scale` otherwise."""
    pixels = sum(c.shape[0] * c.shape[1] for c in crops)
    return max(scale, min(_ZOOM * scale, _ZOOM_MAX_SCALE, float(np.sqrt(_ZOOM_PIXELS / max(pixels, 1)))))


def _read(job: _Job, areas: Sequence[int], scale: float, detector: TextDetector,
          reader: NameReader) -> list[list[_Text]]:
    out = []
    crops = [job.crops[i] for i in areas]
    for i, crop, found in zip(areas, crops, detector.detect(crops, scale)):
        rx, ry = job.rects[i][:2]
        faces = job.faces - np.array([rx, ry, rx, ry], np.float64) if job.faces is not None else None
        found = _lines(found, crop, job.open_sides[i], faces)
        lines = [part for b in found for part in split_at_gaps(crop, b)]
        texts = []
        for b, reading in zip(lines, reader.read_boxes(crop, lines)):
            # Words that are no name still take their place (a label that says "Microphone" is not
            # a neighbour's); specks read as a letter or two do not.
            if reading.name is None and (reading.score < reader.options.min_score
                                         or sum(c.isalpha() for c in reading.raw) < 4):
                continue
            rect = (rx + b[0], ry + b[1], rx + b[2], ry + b[3])
            texts.append(_Text(rect, _NO_THUMB, reading.name, reading.score))
            log.debug("text %r (%.2f) at %s, scale %.2f", reading.raw, reading.score, rect, scale)
        out.append(texts)
    return out


def _better(a: _Text, b: _Text) -> bool:
    """Of two reads of one place, `a` is the one to keep: a name; then the one that holds the
    other (the detector sometimes finds only part of a line: "nard Campbell", "d Al-" of
    "Mohammed Al-Sayed"); then the surer (a wider box that read junk beside the label is no
    better for being wide)."""
    if (a.name is None) != (b.name is None):
        return b.name is None
    if a.name is not None and b.name is not None and a.name.key != b.name.key:
        ka, kb = a.name.key.replace(" ", ""), b.name.key.replace(" ", "")
        if ka in kb or kb in ka:
            return len(ka) > len(kb)
    return a.score > b.score


def _merge(rects: list[Rect], keys: list[tuple]) -> list[tuple[Rect, list[tuple]]]:
    """Overlapping areas joined into their bounding rectangle: neighbours' label regions overlap a lot
    without a tile grid, and text inside one area is never cut by another's edge."""
    groups = [(r, [k]) for r, k in zip(rects, keys)]
    merged = True
    while merged:
        merged = False
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                (ra, ka), (rb, kb) = groups[a], groups[b]
                if ra[0] < rb[2] and rb[0] < ra[2] and ra[1] < rb[3] and rb[1] < ra[3]:
                    rect = (min(ra[0], rb[0]), min(ra[1], rb[1]), max(ra[2], rb[2]), max(ra[3], rb[3]))
                    groups[a] = (rect, ka + kb)
                    del groups[b]
                    merged = True
                    break
            if merged:
                break
    return groups


@dataclass
class LabelScanner:
    """The text pass: which label regions to read when, the labels found, and which label
    belongs to which face. Knows nothing of student keys (identity.py gives those)."""

    reader: NameReader
    detector: TextDetector
    options: IdentityOptions
    _regions: dict[tuple, _Region] = field(default_factory=dict, init=False)
    _texts: list[_Text] = field(default_factory=list, init=False)
    _job: _Job | None = field(default=None, init=False)
    _checked_at: float = field(default=float("-inf"), init=False)
    _keys: dict[int, tuple] = field(default_factory=dict, init=False)  # track -> its label region, last check
    _labelled: set[int] = field(default_factory=set, init=False)  # tracks whose label is on screen now
    _asked: dict[int, float] = field(default_factory=dict, init=False)  # track -> when its region was last read
    _side: Side = field(default=BELOW, init=False)  # where this screen's labels are, from the labels read

    @property
    def reading(self) -> bool:
        """A background text pass (LIVE_STREAM) is running; its labels arrive on a later frame."""
        return self._job is not None and not self._job.done.is_set()

    @property
    def side(self) -> Side:
        """Which side of the faces this screen's labels are on, from the labels read so far."""
        return self._side

    def close(self, timeout: float = 5.0) -> None:
        """Wait for a text pass still running in the background (LIVE_STREAM)."""
        job = self._job
        if job is not None and not job.done.wait(timeout):
            log.warning("a text pass did not finish within %.0f s", timeout)

    def shift(self, dx: int, dy: int) -> None:
        """The gallery moved by (dx, dy) (scrolled, its window dragged): the labels read, the
        regions and a pass in flight move with it, instead of sitting where no label is now
        (read again, or worse, given to the face that moved under them)."""
        if not (dx or dy):
            return
        self._texts = [replace(x, rect=_moved(x.rect, dx, dy)) for x in self._texts]
        self._regions = {_moved_key(k, dx, dy): replace(r, rect=_moved(r.rect, dx, dy))
                         for k, r in self._regions.items()}
        self._keys = {tid: _moved_key(k, dx, dy) for tid, k in self._keys.items()}
        if self._job is not None:
            self._job.offset = (self._job.offset[0] + dx, self._job.offset[1] + dy)

    def reset(self) -> None:
        self._regions.clear()
        self._texts.clear()
        self._job = None  # a pass still running is forgotten: its result would describe another stream
        self._checked_at = float("-inf")
        self._keys.clear()
        self._labelled.clear()
        self._asked.clear()
        self._side = BELOW

    def due(self, ids: Sequence[int], t: float) -> bool:
        """Pixels are compared now: a pass finished, a face is new, or ``check_every_s`` passed."""
        finished = self._job is not None and self._job.done.is_set()
        return (finished or any(tid not in self._keys for tid in ids)
                or t - self._checked_at >= self.options.check_every_s or t < self._checked_at)

    def labels(self, image: np.ndarray, faces: Faces, tiles: list[Tile | None], ids: list[int],
               known: Sequence[str | None], first_seen: Sequence[float], t: float,
               mode: str) -> tuple[list[StudentName | None], list[bool]]:
        """Each face's label now (None: none readable), and which faces share a tile whose label
        went to another face. ``known`` is each face's normalised name so far, which wins ties."""
        if self.due(ids, t):
            self.check(image, faces, tiles, ids, t, mode)
        current, shadowed = self.assign(faces, tiles, known, first_seen)
        self._labelled = {tid for tid, name in zip(ids, current) if name is not None}
        # One screenshot, one chance: where a face has no label yet, read where it can still be
        # (around the face when its tile's band held none, the other side of it, the other band
        # once the screen's side is known) until nothing new is read; a few passes at most.
        for _ in range(_IMAGE_PASSES if mode == IMAGE else 0):
            if all(c is not None for c in current) or not self.check(image, faces, tiles, ids, t, mode):
                break
            current, shadowed = self.assign(faces, tiles, known, first_seen)
            self._labelled = {tid for tid, name in zip(ids, current) if name is not None}
        return current, shadowed

    def read_since(self, ids: Sequence[int]) -> list[float]:
        """When each face's label region was last read to the end (-inf: never)."""
        return [self._regions[self._keys[tid]].done_at if self._keys.get(tid) in self._regions else float("-inf")
                for tid in ids]

    def check(self, image: np.ndarray, faces: Faces, tiles: list[Tile | None], ids: list[int], t: float,
              mode: str) -> bool:
        """Drop texts whose pixels changed, take a finished pass, start the next one if due;
        whether a pass started."""
        self._checked_at = t
        grey = _Grey.of(image)
        self._collect(grey, t)
        limit = self.options.change_threshold
        self._texts = [x for x in self._texts if _changed(grey.thumb(x.rect, x.thumb.shape[::-1]), x.thumb) < limit]
        keys, started = self._scan(image, grey, faces, tiles, ids, t, mode)
        self._keys = dict(zip(ids, keys))
        return started

    def _scan(self, image: np.ndarray, grey: _Grey, faces: Faces, tiles: list[Tile | None], ids: list[int],
              t: float, mode: str) -> tuple[list[tuple], bool]:
        """Start reading the regions that need it; returns each face's region key, and whether a
        pass started."""
        h, w = image.shape[:2]
        opts = self.options
        keys: list[tuple] = []
        stale: dict[tuple, tuple[float, Rect, np.ndarray, int]] = {}
        waited: dict[tuple, float] = {}  # new regions of unnamed faces: since their face was last read
        sizes = faces.sizes
        unnamed = {key for key, tid in zip(self._keys.values(), self._keys) if tid not in self._labelled}
        for i, tile in enumerate(tiles):
            band = ("tile", *tile.xyxy) if tile is not None else None
            read = band in self._regions and self._regions[band].done_at > float("-inf")
            if band is not None and (ids[i] in self._labelled or not read):
                key: tuple = band
                rect = _band(tile, w, h, self._side)  # type: ignore[arg-type]
            else:  # no grid, or its tile's band held no label for it: look next to the face itself
                key = self._own_key(ids[i])
                rect = _near(faces.xyxy[i], w, h, key[2])
            keys.append(key)
            if key in stale:
                continue
            thumb = grey.thumb(rect, _REGION_THUMB)
            entry = self._regions.get(key)
            if entry is None or max(abs(a - b) for a, b in zip(entry.rect, rect)) > 0.25 * float(sizes[i]):
                # A new region. Of a face without a label it is read first, the face that waited
                # longest first. Of a named face (its region moved with it, or its tile was
                # re-found) it takes over the old region's reads and is read as a changed one is,
                # the name meanwhile kept: in a gallery that moves, every named face's region is
                # new every few frames, and read first they left the last faces of a 49-tile
                # gallery unnamed for good.
                prev = entry or self._regions.get(self._keys.get(ids[i], ()))
                if ids[i] not in self._labelled or prev is None:
                    stale[key] = (float("inf"), rect, thumb, 0, False)
                    waited[key] = t - self._asked.get(ids[i], float("-inf"))
                    continue
                self._regions[key] = entry = replace(prev, rect=rect)
            unread = key in unnamed or (key[0] == "track" and ids[i] not in self._labelled)
            due = self._urgency(entry, key, _changed(thumb, entry.thumb), unread, t, mode)
            if due is not None:
                stale[key] = (due[0], rect, thumb, *due[1:])
        # Every region a face may come back to is kept (its tile's band, both of its own), so one
        # already read is not read again at once when the face turns to another.
        wanted_ids = set(ids)
        wanted = set(keys) | {("track", tid, side) for tid in ids for side in (BELOW, ABOVE)}
        wanted |= {("tile", *tile.xyxy) for tile in tiles if tile is not None}
        for key in [k for k in self._regions if k not in wanted]:
            del self._regions[key]  # the tile or the track is gone
        self._asked = {tid: at for tid, at in self._asked.items() if tid in wanted_ids}
        background = mode == LIVE
        if not stale or (background and self._job is not None):
            return keys, False
        picked = sorted(stale.items(), key=lambda kv: (-kv[1][0], -waited.get(kv[0], 0.0)))
        first = sum(urgency == float("inf") for urgency, *_ in stale.values())
        if mode == LIVE:
            # A background pass takes every region not read yet at once (a class joining: one
            # pass for all its names, not one per tiles_per_frame), then tiles_per_frame at a time.
            picked = picked[: max(opts.tiles_per_frame, first)]
        elif mode != IMAGE:
            picked = picked[: opts.tiles_per_frame]
        picked_keys = {key for key, _ in picked}
        self._asked.update({tid: t for tid, key in zip(ids, keys) if key in picked_keys})
        for key, (_, rect, thumb, misses, zoom) in picked:
            old = self._regions.get(key)
            done = old.done_at if old and old.rect == rect else float("-inf")
            self._regions[key] = _Region(rect, thumb, t, done, misses, zoom)
        areas = [(rect, [key], zoom) for key, (_, rect, _, _, zoom) in picked if key[0] == "tile"]
        for zoom in (False, True):  # a closer look is a mosaic of its own: areas of one scale merge
            own = [(key, rect) for key, (_, rect, _, _, z) in picked if key[0] != "tile" and z == zoom]
            areas += [(r, k, zoom) for r, k in _merge([r for _, r in own], [k for k, _ in own])]
        sides = [(r[0] > 0, r[2] < w) for r, _, _ in areas]
        crops = [image[y1:y2, x1:x2].copy() for (x1, y1, x2, y2), _, _ in areas]
        thumbs = [grey.thumb(r, _REGION_THUMB) for r, _, _ in areas]
        job = _Job([k for _, k, _ in areas], [r for r, _, _ in areas], thumbs, crops, sides,
                   self.detector.scale_for(h), [z for _, _, z in areas], faces.xyxy.astype(np.float64),
                   first_read=first > 0)
        log.debug("t=%.2f: reading %d label regions in %d areas", t, len(picked), len(areas))
        if background:
            self._job = job
            # Not a daemon: the interpreter waits for a pass in flight (a second at most) at exit,
            # instead of tearing its onnxruntime session down mid-run, which aborts the process.
            threading.Thread(target=_run_job, args=(job, self.detector, self.reader, True),
                             name="fer-overlay-text", daemon=False).start()
        else:
            _run_job(job, self.detector, self.reader, False)
            self._apply(job, grey, t)
        return keys, True

    def _urgency(self, entry: _Region, key: tuple, changed: float, unnamed: bool, t: float,
                 mode: str) -> tuple[float, int, bool] | None:
        """Whether a region read before is due again: (urgency, misses, closer look), or None.

        A region whose face it left unnamed is looked at again, less often each time, alternately
        closer (small labels) and at the screen's scale; in IMAGE mode the closer look comes at once."""
        opts = self.options
        age = t - entry.read_at
        if age >= opts.reread_s:
            return age, 0, False
        if changed >= opts.change_threshold and age >= opts.min_interval_s:
            return changed + age, 0, False
        if not unnamed:
            return None
        if (mode == IMAGE and not entry.zoomed) \
                or self._since(key, t) >= min(opts.reread_s, opts.min_interval_s * 2 ** entry.misses):
            return age, entry.misses + 1, not entry.zoomed  # read, but no name came out: look again, less often
        return None

    def _own_key(self, tid: int) -> tuple:
        """A face's own label region, below it or above it: the screen's side while its label is
        there or that side is not read yet, else the other side; both read and no label, the one
        read longer ago (so a face that shows none costs one region per look, not two)."""
        mine, other = ("track", tid, self._side), ("track", tid, ABOVE if self._side == BELOW else BELOW)
        if tid in self._labelled:
            return mine
        a, b = self._regions.get(mine), self._regions.get(other)
        if a is None or a.done_at == float("-inf"):
            return mine
        if b is None or b.done_at == float("-inf"):
            return other
        return mine if a.read_at <= b.read_at else other

    def _since(self, key: tuple, t: float) -> float:
        """How long ago a region was last read; for a face's own region, either side of it: a face
        without a readable label looks on one side at a time, as often as it looked on one before."""
        if key[0] != "track":
            return t - self._regions[key].read_at
        return t - max(r.read_at for side in (BELOW, ABOVE) if (r := self._regions.get(("track", key[1], side))))

    def _collect(self, grey: _Grey, t: float) -> None:
        job = self._job
        if job is not None and job.done.is_set():
            self._job = None
            self._apply(job, grey, t)

    def _apply(self, job: _Job, grey: _Grey, t: float) -> None:
        """Take a finished pass's texts, with thumbnails of the frame now: an area that changed
        while it was being read (a reorder mid-pass) is dropped, and read again later.

        Texts already known stay while their pixels do (a text goes when they change): a new
        read of the same place replaces one only when it is better, so a second look that
        finds less of a label, or none of it, loses nothing."""
        if job.error is not None:
            log.warning("reading name labels failed: %s", job.error)
            return
        dx, dy = job.offset
        same = [_changed(grey.thumb(_moved(r, dx, dy), _REGION_THUMB), th) < self.options.change_threshold
                for r, th in zip(job.rects, job.thumbs)]
        texts = list(self._texts)
        for found, ok in zip(job.found, same):
            for x in found if ok else ():
                rect = _moved(x.rect, dx, dy)
                x = _Text(rect, grey.thumb(rect, _text_size(rect)), x.name, x.score)
                # A label seen by two overlapping areas, at two scales, or split by one, is kept once.
                twin = next((j for j, y in enumerate(texts) if _same_place(x.rect, y.rect)), None)
                if twin is None:
                    texts.append(x)
                elif _better(x, texts[twin]):
                    texts[twin] = x
        self._texts = texts
        for keys, ok in zip(job.keys, same):
            for key in keys:
                region = self._regions.get(_moved_key(key, dx, dy))
                if region is not None and ok:
                    region.done_at = t

    def assign(self, faces: Faces, tiles: list[Tile | None], known: Sequence[str | None],
               first_seen: Sequence[float]) -> tuple[list[StudentName | None], list[bool]]:
        """Each face's label (best fitting pairs first, one label per face, one face per label), and
        which faces share a tile whose label went to another face.

        Labels are looked for below the faces and above them: the side whose labels name more
        faces is this screen's (the other side then holds the neighbouring tiles' labels: under
        "below" a face with its label above takes the label of the tile under it); below
        unless above names strictly more, and the side found keeps until the other names more.

        Faces in one tile fit its label equally well: the one already known by that name keeps it,
        else the newest track, which after a reorder is the person who just arrived (the old track
        lingers where its face was for a few frames)."""
        out: list[StudentName | None] = [None] * len(faces)
        if self._texts:
            rects = np.array([x.rect for x in self._texts], np.float64)
            other = ABOVE if self._side == BELOW else BELOW
            sides = {side: _label_costs(faces.xyxy, tiles, rects, side) for side in (BELOW, ABOVE)}
            mine = self._match(sides[self._side], known, first_seen)
            theirs = self._match(sides[other], known, first_seen)
            if sum(x is not None for x in theirs[0]) > sum(x is not None for x in mine[0]):
                log.debug("labels are %s the faces on this screen", other)
                self._side, mine = other, theirs
            out, taken = mine
            costs, heights = sides[self._side], rects[:, 3] - rects[:, 1]
            for _ in range(_RECHECKS):
                # One app prints every label in one font: a line far taller than the labels found (a
                # camera-off tile's big name, a blob of texture read as a word) is no face's label.
                named = [heights[j] for _, j in taken if self._texts[j].name is not None]
                tall = _TALLER * float(np.median(named)) if len(named) >= 3 else float("inf")
                off = _off_the_row(faces.xyxy, rects, taken)
                if not off and all(heights[j] <= tall for _, j in taken):
                    break
                costs[:, heights > tall] = np.inf
                for i, j in off:
                    costs[i, j] = np.inf
                out, taken = self._match(costs, known, first_seen)
        named_tiles = {tiles[i].index for i in range(len(faces)) if out[i] is not None and tiles[i] is not None}
        shadowed = [out[i] is None and tiles[i] is not None and tiles[i].index in named_tiles  # type: ignore[union-attr]
                    for i in range(len(faces))]
        return out, shadowed

    def _match(self, costs: np.ndarray, known: Sequence[str | None],
               first_seen: Sequence[float]) -> tuple[list[StudentName | None], list[tuple[int, int]]]:
        """Best fitting pairs first, one label per face and one face per label: each face's label,
        and the (face, text) pairs taken."""
        pairs = []
        for i, j in zip(*np.nonzero(np.isfinite(costs))):
            base, name = known[i], self._texts[j].name
            same = base is not None and name is not None and same_name(base, name.key)
            pairs.append((float(costs[i, j]), not same, -first_seen[i], int(i), int(j)))
        out: list[StudentName | None] = [None] * costs.shape[0]
        taken: list[tuple[int, int]] = []
        labelled: set[int] = set()
        used: set[int] = set()
        for *_, i, j in sorted(pairs):
            if i not in labelled and j not in used:
                out[i] = self._texts[j].name
                taken.append((i, j))
                labelled.add(i)
                used.add(j)
        return out, taken


def _off_the_row(boxes: np.ndarray, texts: np.ndarray, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
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


def _moved(r: Rect, dx: int, dy: int) -> Rect:
    """`r` moved, kept at x, y >= 0 (a slice from a negative index would wrap round the frame)."""
    return (max(0, r[0] + dx), max(0, r[1] + dy), max(0, r[2] + dx), max(0, r[3] + dy))


def _moved_key(key: tuple, dx: int, dy: int) -> tuple:
    """A region key after the gallery moved: a tile's band is keyed by the tile's place."""
    return ("tile", *_moved(key[1:], dx, dy)) if key[0] == "tile" else key


def _same_place(a: Rect, b: Rect) -> bool:
    """Two text boxes of one label: much overlap, or one mostly inside the other (a part of
    the line found on its own)."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area_a, area_b = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    union = area_a + area_b - inter
    smaller = min(area_a, area_b)
    return (union > 0 and inter > 0.3 * union) or (smaller > 0 and inter >= 0.6 * smaller)


def _iou(a: Rect, b: Rect) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0

"""One text pass over some screen areas: find the text lines, read the names in them.

A pass (:class:`TextJob`) holds the areas' pixels as they were when it started; :func:`run_job`
runs rapidocr's detector over them (again closer where nothing was found, or where a face is
still unnamed), joins the parts of a line and drops lines cut by an area's open side
(:func:`text_lines`), and reads each line (:class:`~fer_overlay.people.ocr.NameReader`). In
LIVE_STREAM mode it runs in a low-priority thread; labels.py applies what it found.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import defaults
from .names import StudentName, is_self_label
from .ocr import NameReader, Rect, TextDetector, ink_contrast, split_at_gaps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoundText:
    rect: Rect  # image pixels
    thumb: np.ndarray  # of its pixels when read: the text is believed while they stay the same
    name: StudentName | None  # None: a word read, but no name ("Mute", "Microphone"): it still takes its place
    score: float = 0.0  # the recogniser's confidence
    own: bool = False  # the label of the local user's own video ("You"): whose face it is, is no student


@dataclass
class TextJob:
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
    found: list[list[FoundText]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


NO_THUMB = np.zeros((0, 0), np.float32)
_MAX_SCALE = 2.0  # detector input scale at most (a second look at small labels)
# A face still unnamed after its region was read gets a look at this many times the screen's
# scale: Zoom shrinks long names to 9 px at 1080p, BigBlueButton's dock prints 6 px titles, and
# the detector only finds text of about 12 input pixels and up (it missed every such label at
# the screen's scale and found them at twice it). At most _ZOOM_MAX_SCALE, and no more than
# _ZOOM_PIXELS of detector input (about 2 s of one core): a closer look at a screen-wide strip
# is not worth ten.
_ZOOM, _ZOOM_MAX_SCALE, _ZOOM_PIXELS = 2.0, 3.0, 2_000_000
_INK_RATIO = 0.6  # two parts of one line are one label when the fainter has this much of the other's contrast


def text_size(rect: Rect) -> tuple[int, int]:
    return (32, 8) if rect[2] - rect[0] >= 2 * (rect[3] - rect[1]) else (16, 8)


def text_lines(found: list[Rect], crop: np.ndarray, open_sides: tuple[bool, bool],
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


def run_job(job: TextJob, detector: TextDetector, reader: NameReader, background: bool) -> None:
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


def _read(job: TextJob, areas: Sequence[int], scale: float, detector: TextDetector,
          reader: NameReader) -> list[list[FoundText]]:
    out = []
    crops = [job.crops[i] for i in areas]
    for i, crop, found in zip(areas, crops, detector.detect(crops, scale)):
        rx, ry = job.rects[i][:2]
        faces = job.faces - np.array([rx, ry, rx, ry], np.float64) if job.faces is not None else None
        found = text_lines(found, crop, job.open_sides[i], faces)
        lines = [part for b in found for part in split_at_gaps(crop, b)]
        texts = []
        for b, reading in zip(lines, reader.read_boxes(crop, lines)):
            # Words that are no name still take their place (a label that says "Microphone" is not
            # a neighbour's); specks read as a letter or two do not, but a confident "You" does.
            own = reading.name is None and is_self_label(reading.raw)
            if reading.name is None and (reading.score < reader.options.min_score
                                         or (sum(c.isalpha() for c in reading.raw) < 4 and not own)):
                continue
            rect = (rx + b[0], ry + b[1], rx + b[2], ry + b[3])
            texts.append(FoundText(rect, NO_THUMB, reading.name, reading.score, own))
            log.debug("text %r (%.2f) at %s, scale %.2f", reading.raw, reading.score, rect, scale)
        out.append(texts)
    return out


def better_read(a: FoundText, b: FoundText) -> bool:
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


def merge_areas(rects: list[Rect], keys: list[tuple]) -> list[tuple[Rect, list[tuple]]]:
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

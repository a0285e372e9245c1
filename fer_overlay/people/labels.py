"""The text pass: where a face's name label can be on screen, when to read it, and whose it is.

rapidocr's text detector (:class:`~fer_overlay.people.ocr.TextDetector`) looks where a
face's label can be: the bottom band of its tile when the layout found one, else (or when
that band held no label for it) the area below the face; apps print names bottom-left in
the tile, under the person. Each label goes to the face whose tile holds it, else to the
nearest face it lies below, one label per face. A read label is believed while its pixels
stay the same. Pixels are compared every ``check_every_s`` (and when a face appears); a
region is read when it first appears, when its pixels changed (at most every
``min_interval_s``), after a read that found no name (backing off), and every ``reread_s``.
IMAGE mode reads every region at once; VIDEO reads ``tiles_per_frame`` regions per check, in
step; LIVE_STREAM reads in a low-priority thread, so a frame never waits for the text pass.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..types import Faces, Tile
from .names import StudentName, same_name
from .ocr import NameReader, Rect, TextDetector, split_at_gaps
from .options import IdentityOptions

log = logging.getLogger(__name__)

IMAGE, LIVE = "image", "live_stream"  # the values of pipeline.RunningMode that change how labels are read


# --- geometry ----------------------------------------------------------------------------

# Where a label can be without a tile grid, in face widths and heights around the face: apps
# print it at the bottom left of the tile, below the chin. A webcam frames a face at 15-45%
# of a 16:9 tile's height, so the tile's left edge can be 6 face widths left of the face.
_LEFT, _RIGHT, _BELOW, _ABOVE = 6.5, 5.0, 3.0, 0.5
_OUTSIDE = 10.0  # cost added to a label found outside the face's tile: any label inside a tile goes first
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


def _band(tile: Tile, w: int, h: int) -> Rect:
    """The bottom of a tile, where all three apps print the name, a little wider than the tile:
    a label never touches its tile's side, so text that touches the band's side is cut, and
    belongs to another tile (or the layout is a frame behind the screen)."""
    band = min(tile.h, max(round(0.25 * tile.h), round(_BAND_PX * h / 1080)))
    out = max(2, round(_BAND_OUT_PX * h / 1080))
    return _clip((tile.x - out, tile.y + tile.h - band, tile.x + tile.w + out, tile.y + tile.h), w, h)


def _below(box: np.ndarray, w: int, h: int) -> Rect:
    x1, y1, x2, y2 = (float(v) for v in box)
    fw, fh, cx = x2 - x1, y2 - y1, (x1 + x2) / 2
    return _clip((cx - _LEFT * fw, y2 - _ABOVE * fh, cx + _RIGHT * fw, y2 + _BELOW * fh), w, h)


def _label_costs(boxes: np.ndarray, tiles: list[Tile | None], texts: np.ndarray) -> np.ndarray:
    """(faces, texts) fit of each text as each face's label, lower is better; inf where it cannot be.

    In a tile: the lowest, leftmost text below the face's centre. Without one: text that
    starts left of the face (labels sit bottom-left; a shirt print or poster sits under the
    face itself) within the face's likely tile below its chin, nearest first. A tiled face may
    still take a label outside its tile by that rule, after every label inside a tile: the
    layout can be a few frames behind a gallery that re-laid itself out, or simply wrong."""
    x1, y1, x2, y2 = (boxes[:, k, None].astype(np.float64) for k in range(4))
    fw, fh, cx, cy = x2 - x1, y2 - y1, (x1 + x2) / 2, (y1 + y2) / 2
    tx1, ty1, tx2, ty2 = (texts[None, :, k].astype(np.float64) for k in range(4))
    mx, my = (tx1 + tx2) / 2, (ty1 + ty2) / 2
    below = (ty1 >= y2 - _ABOVE * fh) & (ty1 <= y2 + _BELOW * fh) & (tx1 >= cx - _LEFT * fw) & (tx1 <= x1 + 0.25 * fw)
    cost = np.where(below, (ty1 - y2) / fh + 0.3 * np.abs(tx1 - (cx - 2.5 * fw)) / fw, np.inf)
    rows = [i for i, t in enumerate(tiles) if t is not None]
    if rows:
        tx, ty, tw, th = (np.array([getattr(tiles[i], k) for i in rows], np.float64)[:, None] for k in "xywh")
        inside = (mx >= tx) & (mx < tx + tw) & (my >= ty) & (my < ty + th) & (ty1 >= cy[rows])
        cost[rows] = np.where(inside, (ty + th - ty2) / th + (tx1 - tx) / tw, cost[rows] + _OUTSIDE)
    return cost


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
    scale: float
    found: list[list[_Text]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


_NO_THUMB = np.zeros((0, 0), np.float32)
_MAX_SCALE = 2.0  # detector input scale at most (a second look at small labels)
_REGION_THUMB = (48, 12)


def _text_size(rect: Rect) -> tuple[int, int]:
    return (32, 8) if rect[2] - rect[0] >= 2 * (rect[3] - rect[1]) else (16, 8)


def _lines(found: list[Rect], width: int, open_sides: tuple[bool, bool]) -> list[Rect]:
    """Horizontal text lines a few pixels tall (labels, not icons or speckle), minus lines cut by
    an open side of the area: a neighbouring area holds them whole."""
    left, right = open_sides
    joined: list[Rect] = []
    for b in sorted(found):
        # The detector splits a line at a wide word gap ("Zoe | Campbell (Co-host)"): rejoin the parts.
        for j, a in enumerate(joined):
            h = min(a[3] - a[1], b[3] - b[1])
            if min(a[3], b[3]) - max(a[1], b[1]) >= 0.6 * h and b[0] - a[2] <= 0.6 * h:
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


def _run_job(job: _Job, detector: TextDetector, reader: NameReader, background: bool) -> None:
    if background and sys.platform.startswith("linux"):
        try:  # Linux nice is per thread: the emotion pipeline and the output come first
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except OSError as exc:
            log.debug("could not lower the text pass's priority: %s", exc)
    try:
        job.found = _read(job, range(len(job.crops)), job.scale, detector, reader)
        # Labels of downscaled screenshots and dense galleries can be 7 px tall, too small for the
        # detector: areas where no name came out are looked at again, half as large again.
        again = [i for i, texts in enumerate(job.found) if not any(x.name for x in texts)]
        if again and job.scale < _MAX_SCALE:
            for i, texts in zip(again, _read(job, again, min(_MAX_SCALE, 1.5 * job.scale), detector, reader)):
                job.found[i] = job.found[i] + texts
    except BaseException as exc:  # handed to the analysis thread, which logs it and carries on
        job.error = exc
    finally:
        job.done.set()


def _read(job: _Job, areas: Sequence[int], scale: float, detector: TextDetector,
          reader: NameReader) -> list[list[_Text]]:
    out = []
    crops = [job.crops[i] for i in areas]
    for i, crop, found in zip(areas, crops, detector.detect(crops, scale)):
        rx, ry = job.rects[i][:2]
        lines = [part for b in _lines(found, crop.shape[1], job.open_sides[i]) for part in split_at_gaps(crop, b)]
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

    @property
    def reading(self) -> bool:
        """A background text pass (LIVE_STREAM) is running; its labels arrive on a later frame."""
        return self._job is not None and not self._job.done.is_set()

    def close(self, timeout: float = 5.0) -> None:
        """Wait for a text pass still running in the background (LIVE_STREAM)."""
        job = self._job
        if job is not None and not job.done.wait(timeout):
            log.warning("a text pass did not finish within %.0f s", timeout)

    def reset(self) -> None:
        self._regions.clear()
        self._texts.clear()
        self._job = None  # a pass still running is forgotten: its result would describe another stream
        self._checked_at = float("-inf")
        self._keys.clear()
        self._labelled.clear()

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
        if mode == IMAGE and any(c is None and tile is not None for c, tile in zip(current, tiles)):
            # One screenshot, one chance: where a tile's band held no label, look below the face.
            self.check(image, faces, tiles, ids, t, mode)
            current, shadowed = self.assign(faces, tiles, known, first_seen)
            self._labelled = {tid for tid, name in zip(ids, current) if name is not None}
        return current, shadowed

    def read_since(self, ids: Sequence[int]) -> list[float]:
        """When each face's label region was last read to the end (-inf: never)."""
        return [self._regions[self._keys[tid]].done_at if self._keys.get(tid) in self._regions else float("-inf")
                for tid in ids]

    def check(self, image: np.ndarray, faces: Faces, tiles: list[Tile | None], ids: list[int], t: float,
               mode: str) -> None:
        """Drop texts whose pixels changed, take a finished pass, start the next one if due."""
        self._checked_at = t
        grey = _Grey.of(image)
        self._collect(grey, t)
        limit = self.options.change_threshold
        self._texts = [x for x in self._texts if _changed(grey.thumb(x.rect, x.thumb.shape[::-1]), x.thumb) < limit]
        self._keys = dict(zip(ids, self._scan(image, grey, faces, tiles, ids, t, mode)))

    def _scan(self, image: np.ndarray, grey: _Grey, faces: Faces, tiles: list[Tile | None], ids: list[int],
              t: float, mode: str) -> list[tuple]:
        """Start reading the regions that need it; returns each face's region key."""
        h, w = image.shape[:2]
        opts = self.options
        keys: list[tuple] = []
        stale: dict[tuple, tuple[float, Rect, np.ndarray, int]] = {}
        sizes = faces.sizes
        unnamed = {key for key, tid in zip(self._keys.values(), self._keys) if tid not in self._labelled}
        for i, tile in enumerate(tiles):
            band = ("tile", *tile.xyxy) if tile is not None else None
            read = band in self._regions and self._regions[band].done_at > float("-inf")
            if band is not None and (ids[i] in self._labelled or not read):
                key: tuple = band
                rect = _band(tile, w, h)  # type: ignore[arg-type]
            else:  # no grid, or its tile's band held no label for it: look below the face itself
                key, rect = ("track", ids[i]), _below(faces.xyxy[i], w, h)
            keys.append(key)
            if key in stale:
                continue
            thumb = grey.thumb(rect, _REGION_THUMB)
            entry = self._regions.get(key)
            misses = 0
            if entry is None or max(abs(a - b) for a, b in zip(entry.rect, rect)) > 0.25 * float(sizes[i]):
                urgency = float("inf")
            else:
                age = t - entry.read_at
                changed = _changed(thumb, entry.thumb)
                if age >= opts.reread_s:
                    urgency = age
                elif changed >= opts.change_threshold and age >= opts.min_interval_s:
                    urgency = changed + age
                elif key in unnamed and age >= min(opts.reread_s, opts.min_interval_s * 2 ** entry.misses):
                    urgency, misses = age, entry.misses + 1  # read, but no name came out: look again, less often
                else:
                    continue
            stale[key] = (urgency, rect, thumb, misses)
        wanted = set(keys)
        for key in [k for k in self._regions if k not in wanted]:
            del self._regions[key]  # the tile or the track is gone
        background = mode == LIVE
        if not stale or (background and self._job is not None):
            return keys
        picked = sorted(stale.items(), key=lambda kv: -kv[1][0])
        if mode != IMAGE:
            picked = picked[: opts.tiles_per_frame]
        for key, (_, rect, thumb, misses) in picked:
            old = self._regions.get(key)
            done = old.done_at if old and old.rect == rect else float("-inf")
            self._regions[key] = _Region(rect, thumb, t, done, misses)
        bands = [(rect, [key]) for key, (_, rect, _, _) in picked if key[0] == "tile"]
        below = _merge([rect for key, (_, rect, _, _) in picked if key[0] != "tile"],
                       [key for key, _ in picked if key[0] != "tile"])
        areas = bands + below
        sides = [(r[0] > 0, r[2] < w) for r, _ in areas]
        crops = [image[y1:y2, x1:x2].copy() for (x1, y1, x2, y2), _ in areas]
        thumbs = [grey.thumb(r, _REGION_THUMB) for r, _ in areas]
        job = _Job([k for _, k in areas], [r for r, _ in areas], thumbs, crops, sides, self.detector.scale_for(h))
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
        return keys

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
        same = [_changed(grey.thumb(r, _REGION_THUMB), th) < self.options.change_threshold
                for r, th in zip(job.rects, job.thumbs)]
        texts = list(self._texts)
        for found, ok in zip(job.found, same):
            for x in found if ok else ():
                x = _Text(x.rect, grey.thumb(x.rect, _text_size(x.rect)), x.name, x.score)
                # A label seen by two overlapping areas, at two scales, or split by one, is kept once.
                twin = next((j for j, y in enumerate(texts) if _same_place(x.rect, y.rect)), None)
                if twin is None:
                    texts.append(x)
                elif _better(x, texts[twin]):
                    texts[twin] = x
        self._texts = texts
        for keys, ok in zip(job.keys, same):
            for key in keys:
                region = self._regions.get(key)
                if region is not None and ok:
                    region.done_at = t

    def assign(self, faces: Faces, tiles: list[Tile | None], known: Sequence[str | None],
               first_seen: Sequence[float]) -> tuple[list[StudentName | None], list[bool]]:
        """Each face's label (best fitting pairs first, one label per face, one face per label), and
        which faces share a tile whose label went to another face.

        Faces in one tile fit its label equally well: the one already known by that name keeps it,
        else the newest track, which after a reorder is the person who just arrived (the old track
        lingers where its face was for a few frames)."""
        pairs = []
        if self._texts:
            costs = _label_costs(faces.xyxy, tiles, np.array([x.rect for x in self._texts], np.float64))
            for i, j in zip(*np.nonzero(np.isfinite(costs))):
                base, name = known[i], self._texts[j].name
                same = base is not None and name is not None and same_name(base, name.key)
                pairs.append((float(costs[i, j]), not same, -first_seen[i], int(i), int(j)))
        out: list[StudentName | None] = [None] * len(faces)
        labelled: set[int] = set()
        used: set[int] = set()
        for *_, i, j in sorted(pairs):
            if i not in labelled and j not in used:
                out[i] = self._texts[j].name
                labelled.add(i)
                used.add(j)
        named_tiles = {tiles[i].index for i in range(len(faces)) if out[i] is not None and tiles[i] is not None}
        shadowed = [out[i] is None and tiles[i] is not None and tiles[i].index in named_tiles  # type: ignore[union-attr]
                    for i in range(len(faces))]
        return out, shadowed


def _same_place(a: Rect, b: Rect) -> bool:
    """Two text boxes of one label: much overlap, or one mostly inside the other (a part of
    the line found on its own)."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return _iou(a, b) > 0.3 or (smaller > 0 and ix * iy >= 0.6 * smaller)


def _iou(a: Rect, b: Rect) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0

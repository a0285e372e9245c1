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

The geometry (label bands, costs, rows) is label_places.py; one pass's reading, label_reads.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from ..types import Faces, Tile
from .label_places import ABOVE, BELOW, Side, label_costs, moved, near_face, off_the_row, same_place, tile_band
from .label_reads import FoundText, TextJob, better_read, merge_areas, run_job, text_size
from .names import StudentName, same_name
from .ocr import NameReader, Rect, TextDetector
from .options import IdentityOptions

log = logging.getLogger(__name__)

IMAGE, LIVE = "image", "live_stream"  # the values of pipeline.RunningMode that change how labels are read

_TALLER = 1.75  # a line this much taller than the median label on the screen is no label
_RECHECKS = 3  # matches redone without labels found out of place (too tall, off their row's line)
_REGION_THUMB = (48, 12)
_IMAGE_PASSES = 4  # IMAGE mode: text passes after the first, for faces still without a label


@dataclass(frozen=True)
class _Grey:
    """The frame in grey at half size (full size below 720 lines): every thumbnail of a frame is cut
    from it, so change checks cost one resize per frame plus a few microseconds per region."""

    image: np.ndarray
    scale: float

    @classmethod
    def of(cls, frame: np.ndarray) -> _Grey:
        """From the BGR frame, or the frame already in grey (a quarter of the resize's work)."""
        h, w = frame.shape[:2]
        scale = 0.5 if h >= 720 else 1.0
        small = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) \
            if scale != 1.0 else frame
        return cls(small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), scale)

    def thumb(self, rect: Rect, size: tuple[int, int]) -> np.ndarray:
        x1, y1, x2, y2 = (round(v * self.scale) for v in rect)
        crop = self.image[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)]
        if crop.size == 0:
            return np.zeros(size[::-1], np.float32)
        # Bilinear, not area: the half-size frame is already averaged, and this is 3x cheaper.
        return cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR).astype(np.float32)


def _changed(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


@dataclass
class _Region:
    rect: Rect
    thumb: np.ndarray  # at the last read
    read_at: float  # when the last read started
    done_at: float = float("-inf")  # when its result was applied
    misses: int = 0  # reads in a row that left its face without a name: the next waits twice as long
    zoomed: bool = False  # its last read was a closer look (label_reads._ZOOM): the next one after a miss is not


@dataclass
class LabelScanner:
    """The text pass: which label regions to read when, the labels found, and which label
    belongs to which face. Knows nothing of student keys (identity.py gives those)."""

    reader: NameReader
    detector: TextDetector
    options: IdentityOptions
    _regions: dict[tuple, _Region] = field(default_factory=dict, init=False)
    _texts: list[FoundText] = field(default_factory=list, init=False)
    _job: TextJob | None = field(default=None, init=False)
    _checked_at: float = field(default=float("-inf"), init=False)
    _keys: dict[int, tuple] = field(default_factory=dict, init=False)  # track -> its label region, last check
    _labelled: set[int] = field(default_factory=set, init=False)  # tracks whose label is on screen now
    _asked: dict[int, float] = field(default_factory=dict, init=False)  # track -> when its region was last read
    _side: Side = field(default=BELOW, init=False)  # where this screen's labels are, from the labels read
    _own: list[bool] = field(default_factory=list, init=False)  # per face of the last assign: labelled "You"

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
        self._texts = [replace(x, rect=moved(x.rect, dx, dy)) for x in self._texts]
        self._regions = {_moved_key(k, dx, dy): replace(r, rect=moved(r.rect, dx, dy))
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
               mode: str, grey: np.ndarray | None = None,
               others: tuple[Faces, list[Tile | None]] | None = None) -> tuple[list[StudentName | None], list[bool]]:
        """Each face's label now (None: none readable), and which faces share a tile whose label
        went to another face. ``known`` is each face's normalised name so far, which wins ties.
        ``grey`` is the frame in grey, where the caller has it. ``others`` (faces, their tiles)
        are no students but have labels of their own (see :meth:`assign`)."""
        if self.due(ids, t):
            self.check(image, faces, tiles, ids, t, mode, grey)
        current, shadowed = self.assign(faces, tiles, known, first_seen, others)
        self._labelled = {tid for tid, name in zip(ids, current) if name is not None}
        # One screenshot, one chance: where a face has no label yet, read where it can still be
        # (around the face when its tile's band held none, the other side of it, the other band
        # once the screen's side is known) until nothing new is read; a few passes at most.
        for _ in range(_IMAGE_PASSES if mode == IMAGE else 0):
            if all(c is not None for c in current) or not self.check(image, faces, tiles, ids, t, mode, grey):
                break
            current, shadowed = self.assign(faces, tiles, known, first_seen, others)
            self._labelled = {tid for tid, name in zip(ids, current) if name is not None}
        return current, shadowed

    @property
    def own(self) -> list[bool]:
        """Per face of the last :meth:`labels` call: its label marks the local user's own video
        ("You", "Me"), so it is the self-view, no student."""
        return list(self._own)

    def read_since(self, ids: Sequence[int]) -> list[float]:
        """When each face's label region was last read to the end (-inf: never)."""
        return [self._regions[self._keys[tid]].done_at if self._keys.get(tid) in self._regions else float("-inf")
                for tid in ids]

    def check(self, image: np.ndarray, faces: Faces, tiles: list[Tile | None], ids: list[int], t: float,
              mode: str, grey_frame: np.ndarray | None = None) -> bool:
        """Drop texts whose pixels changed, take a finished pass, start the next one if due;
        whether a pass started."""
        self._checked_at = t
        grey = _Grey.of(image if grey_frame is None else grey_frame)
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
                rect = tile_band(tile, w, h, self._side)  # type: ignore[arg-type]
            else:  # no grid, or its tile's band held no label for it: look next to the face itself
                key = self._own_key(ids[i])
                rect = near_face(faces.xyxy[i], w, h, key[2])
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
            areas += [(r, k, zoom) for r, k in merge_areas([r for _, r in own], [k for k, _ in own])]
        sides = [(r[0] > 0, r[2] < w) for r, _, _ in areas]
        crops = [image[y1:y2, x1:x2].copy() for (x1, y1, x2, y2), _, _ in areas]
        thumbs = [grey.thumb(r, _REGION_THUMB) for r, _, _ in areas]
        job = TextJob([k for _, k, _ in areas], [r for r, _, _ in areas], thumbs, crops, sides,
                   self.detector.scale_for(h), [z for _, _, z in areas], faces.xyxy.astype(np.float64),
                   first_read=first > 0)
        log.debug("t=%.2f: reading %d label regions in %d areas", t, len(picked), len(areas))
        if background:
            self._job = job
            # Not a daemon: the interpreter waits for a pass in flight (a second at most) at exit,
            # instead of tearing its onnxruntime session down mid-run, which aborts the process.
            threading.Thread(target=run_job, args=(job, self.detector, self.reader, True),
                             name="fer-overlay-text", daemon=False).start()
        else:
            run_job(job, self.detector, self.reader, False)
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

    def _apply(self, job: TextJob, grey: _Grey, t: float) -> None:
        """Take a finished pass's texts, with thumbnails of the frame now: an area that changed
        while it was being read (a reorder mid-pass) is dropped, and read again later.

        Texts already known stay while their pixels do (a text goes when they change): a new
        read of the same place replaces one only when it is better, so a second look that
        finds less of a label, or none of it, loses nothing."""
        if job.error is not None:
            log.warning("reading name labels failed: %s", job.error)
            return
        dx, dy = job.offset
        same = [_changed(grey.thumb(moved(r, dx, dy), _REGION_THUMB), th) < self.options.change_threshold
                for r, th in zip(job.rects, job.thumbs)]
        texts = list(self._texts)
        for found, ok in zip(job.found, same):
            for x in found if ok else ():
                rect = moved(x.rect, dx, dy)
                x = replace(x, rect=rect, thumb=grey.thumb(rect, text_size(rect)))
                # A label seen by two overlapping areas, at two scales, or split by one, is kept once.
                twin = next((j for j, y in enumerate(texts) if same_place(x.rect, y.rect)), None)
                if twin is None:
                    texts.append(x)
                elif better_read(x, texts[twin]):
                    texts[twin] = x
        self._texts = texts
        for keys, ok in zip(job.keys, same):
            for key in keys:
                region = self._regions.get(_moved_key(key, dx, dy))
                if region is not None and ok:
                    region.done_at = t

    def assign(self, faces: Faces, tiles: list[Tile | None], known: Sequence[str | None],
               first_seen: Sequence[float],
               others: tuple[Faces, list[Tile | None]] | None = None) -> tuple[list[StudentName | None], list[bool]]:
        """Each face's label (best fitting pairs first, one label per face, one face per label), and
        which faces share a tile whose label went to another face.

        Labels are looked for below the faces and above them: the side whose labels name more
        faces is this screen's (the other side then holds the neighbouring tiles' labels: under
        "below" a face with its label above takes the label of the tile under it); below
        unless above names strictly more, and the side found keeps until the other names more.

        Faces in one tile fit its label equally well: the one already known by that name keeps it,
        else the newest track, which after a reorder is the person who just arrived (the old track
        lingers where its face was for a few frames).

        ``others`` are faces that are no students but sit by labels of their own: the profile
        photos of camera-off tiles and the self-view. They take part in the matching, so their
        labels stay theirs (a live face beside a photo's tile took the photo's name), and what
        they are given is dropped."""
        n = len(faces)
        if others is not None and len(others[0]):
            faces = Faces.concat([faces, others[0]])
            tiles = [*tiles, *others[1]]
            known = [*known, *[None] * len(others[0])]
            first_seen = [*first_seen, *[float("-inf")] * len(others[0])]  # a student wins a tie
        out: list[StudentName | None] = [None] * len(faces)
        taken: list[tuple[int, int]] = []
        if self._texts:
            rects = np.array([x.rect for x in self._texts], np.float64)
            other = ABOVE if self._side == BELOW else BELOW
            sides = {side: label_costs(faces.xyxy, tiles, rects, side) for side in (BELOW, ABOVE)}
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
                off = off_the_row(faces.xyxy, rects, taken)
                if not off and all(heights[j] <= tall for _, j in taken):
                    break
                costs[:, heights > tall] = np.inf
                for i, j in off:
                    costs[i, j] = np.inf
                out, taken = self._match(costs, known, first_seen)
        self._own = [False] * n
        for i, j in taken:
            if i < n and self._texts[j].own:
                self._own[i] = True
        named_tiles = {tiles[i].index for i in range(n) if out[i] is not None and tiles[i] is not None}
        shadowed = [out[i] is None and tiles[i] is not None and tiles[i].index in named_tiles  # type: ignore[union-attr]
                    for i in range(n)]
        return out[:n], shadowed

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


def _moved_key(key: tuple, dx: int, dy: int) -> tuple:
    """A region key after the gallery moved: a tile's band is keyed by the tile's place."""
    return ("tile", *moved(key[1:], dx, dy)) if key[0] == "tile" else key

"""Who is who: name labels found on the screen, attached to faces, and one student key per face.

This module is the one place that sets ``Faces.student``, the key that the store, the
baselines, insight, the opt-out list and ``forget --student`` all use: the normalised name
(:func:`fer_overlay.people.names.match_key`), "iphone #2" for the second face on screen carrying
the same label (in tile order, kept while the face stays), or "track-N" when no name is
readable. ``Faces.name`` carries the display form ("iPhone #2").

The text pass (which label on screen belongs to which face) is :mod:`fer_overlay.people.labels`.

Identity. A key sticks to its track until another name is read there. A face lost for up
to ``keep_lost_s`` gets its key back when it reappears with its name, or without one in the
same place and tile. A face with no key yet is not recorded: until its label is read, at
most ``settle_s`` after it was looked for in vain (``unread_wait_s`` while the text pass has not
reached it yet). When a face reads a name another face
holds but no longer shows (a swap, a track left behind by a re-layout), it takes it over.

Reads are imperfect: a compressed or small label is often read in part ("y evans", "naom
williams"), and a label read while the gallery moves can land on a neighbour's face. So a read is
weighed against the session's roster (every name key given so far): a read like a roster name
that nobody on screen holds is that student back, under the roster's key (after a layout switch
the smaller labels read worse than the grid's did); a read that is a piece of a name another face
on screen holds is most likely that neighbour's label (a named face ignores it, a new face waits
``settle_s`` for a whole read); and a named face does not take a label another face reads at the
same moment (two stale copies of one moving label).

A first read can be wrong in part and later reads right ("e Dubois" while the gallery slid,
"Camille Dubois" on every read after). A student's key follows the reads of its own label: it
moves at once to a read that adds the start of the name (its key the end of the new one), and to
any other spelling once that was read more often than the key's own (a key this session knew
before, such as the roster's name for a partial read, only to a longer one read clearly more
often); never to a piece of it, never to a key of another student of this session. Each move is
reported (:attr:`IdentityTracker.renamed`) so that everything keyed by student follows it: the
baselines, insight, and the record, which files the rows already written under the new key (one
student, under the name on the screen).
"""

from __future__ import annotations

import difflib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..types import Faces, Layout, LayoutKind, Tile
from .label_places import reading_order
from .labels import IMAGE, LabelScanner
from .names import StudentName, dedupe, normalise, same_name
from .ocr import NameReader, OcrOptions, Rect, TextDetector
from .options import IdentityOptions

__all__ = ["IdentityOptions", "IdentityTracker", "student_key"]

log = logging.getLogger(__name__)


def student_key(name: str | None, track_id: int) -> str:
    """The key of a face labelled `name` (display or raw label) on track `track_id`, before de-duplication."""
    n = normalise(name) if name else None
    return n.key if n else f"track-{track_id}"


# --- who is who --------------------------------------------------------------------------

@dataclass
class _Who:
    """What is known about one track."""

    box: np.ndarray
    first_seen: float
    pending_since: float  # waiting for a label read from then on
    key: str | None = None
    base: str | None = None  # normalised name before de-duplication
    display: str | None = None  # the label as read
    shown: str | None = None  # the display form of `key` ("iPhone #2")
    tile: Rect | None = None  # where its tile was (None: no grid)
    before: tuple[str, str | None, str | None, str | None] | None = None  # key, base, display, shown before a new read
    other: tuple[str, float] | None = None  # another name a named face reads, and since when
    reads: Counter[str] = field(default_factory=Counter)  # how often each spelling of its name was read
    read_at: float = float("-inf")  # when its label region was last read, as counted in `reads`
    confirmed: bool = False  # its key is a name read before (roster, lost): see _better_read


@dataclass(frozen=True)
class _Lost:
    key: str
    base: str | None
    shown: str | None
    display: str | None
    box: np.ndarray
    tile: Rect | None
    at: float


def _near(a: np.ndarray, b: np.ndarray) -> bool:
    """The same place and size on screen: a reappearing face, not a neighbour."""
    sa, sb = float(min(a[2] - a[0], a[3] - a[1])), float(min(b[2] - b[0], b[3] - b[1]))
    if sa <= 0 or sb <= 0 or not 0.67 <= sa / sb <= 1.5:
        return False
    ca, cb = (a[:2] + a[2:]) / 2, (b[:2] + b[2:]) / 2
    return float(np.hypot(*(ca - cb))) <= 0.5 * max(sa, sb)


@dataclass
class IdentityTracker:
    """Sets the `name` and `student` columns of tracked faces; splits off opted-out students."""

    reader: NameReader = field(default_factory=lambda: NameReader(OcrOptions()))
    options: IdentityOptions = field(default_factory=IdentityOptions)
    detector: TextDetector = field(default_factory=TextDetector)
    _labels: LabelScanner = field(init=False)
    _who: dict[int, _Who] = field(default_factory=dict, init=False)
    _lost: list[_Lost] = field(default_factory=list, init=False)
    _roster: dict[str, tuple[str, str | None]] = field(default_factory=dict, init=False)  # key -> (base, shown)
    _size: tuple[int, int] | None = field(default=None, init=False)
    _layout: Layout | None = field(default=None, init=False)  # the previous frame's
    _renamed: list[tuple[str, str | None]] = field(default_factory=list, init=False)
    _self_view: Faces = field(default_factory=Faces.empty, init=False)

    @property
    def self_view(self) -> Faces:
        """The faces of the last update whose label marks the local user's own video ("You",
        "Me"): left out of the faces returned, as the self-view inset is (no student, no mood)."""
        return self._self_view

    @property
    def renamed(self) -> tuple[tuple[str, str | None], ...]:
        """(old key, new key) of the students whose key the last update moved to a better read of
        their name, in order; whatever is keyed by student follows (see the module docstring).
        New key None: the better read named an opted-out student, and what is keyed by the old
        one is to be removed, not moved."""
        return tuple(self._renamed)

    def __post_init__(self) -> None:
        self._labels = LabelScanner(self.reader, self.detector, self.options)

    @property
    def reading(self) -> bool:
        """A background text pass (LIVE_STREAM) is running; its labels arrive on a later frame."""
        return self._labels.reading

    @classmethod
    def create(cls, options: IdentityOptions, providers: Sequence[str] | None = None) -> IdentityTracker:
        """The text detector on the execution providers the rest of the pipeline was given."""
        return cls(options=options, detector=TextDetector(providers=providers))

    @classmethod
    def anonymous(cls) -> IdentityTracker:
        """Keys from track ids only; no text is ever read."""
        return cls(options=IdentityOptions(read_names=False))

    def close(self, timeout: float = 5.0) -> None:
        """Wait for a text pass still running in the background (LIVE_STREAM), so nothing reads
        the screen or holds the models once the caller has stopped."""
        self._labels.close(timeout)

    def reset(self) -> None:
        self._labels.reset()
        self._who.clear()
        self._lost.clear()
        self._roster.clear()
        self._size = None
        self._layout = None
        self._renamed.clear()

    def update(self, image: np.ndarray, layout: Layout, faces: Faces, t: float,
               mode: str = "video", grey: np.ndarray | None = None, others: Faces | None = None) -> tuple[Faces, Faces]:
        """(faces with name and student set, opted-out faces to hide, with neither).

        `mode` is the pipeline's RunningMode value: "image" reads every label now and keeps
        nothing for the next call, "live_stream" reads in the background, "video" in step.
        `grey`: the frame in grey when the caller has it (the text pass's change checks use it).
        `others`: faces on screen that are no students (profile photos, the self-view): their
        labels are theirs, never a neighbour's."""
        if mode == IMAGE or self._size != image.shape[:2]:
            self.reset()  # IMAGE calls are independent; a new screen size is a new screen
        self._size = image.shape[:2]
        self._renamed.clear()
        offset = layout.offset_from(self._layout, 0.005 * max(layout.frame_size)) if self._layout else None
        if offset not in (None, (0, 0)):
            self._labels.shift(*offset)  # type: ignore[misc]  # a scrolled gallery: what was read there moves with it
        self._layout = layout
        ids = [int(v) if v >= 0 else -(i + 1) for i, v in enumerate(faces.track_id.tolist())]
        self._lose(set(ids), t)
        who = [self._who_for(tid, faces, i, t) for i, tid in enumerate(ids)]
        tiles = _tiles_of(layout, faces)
        n = len(faces)
        current: list[StudentName | None] = [None] * n
        scanned, shadowed = [True] * n, [False] * n
        if self.options.read_names and n:
            claim = None if others is None or not len(others) else (others, _tiles_of(layout, others))
            current, shadowed = self._labels.labels(image, faces, tiles, ids, [w.base for w in who],
                                                    [w.first_seen for w in who], t, mode, grey, claim)
            done = self._labels.read_since(ids)
            scanned = [d >= w.pending_since for w, d in zip(who, done)]
            fresh = [d > w.read_at for w, d in zip(who, done)]  # read again since the last update
            for w, d in zip(who, done):
                w.read_at = max(w.read_at, d)
        else:
            fresh = [False] * n
        own = np.array(self._labels.own if self.options.read_names and n else [False] * n, bool)
        students, shown = self._resolve(faces, tiles, ids, who, current, scanned, shadowed, fresh, t, mode)
        named = faces.with_(name=tuple(shown), student=tuple(students))
        # A face labelled "You" is the local user's own video: the self-view, no student.
        self._self_view = named[np.flatnonzero(own)].with_(name=(None,) * int(own.sum()),
                                                            student=(None,) * int(own.sum()))
        named = named[np.flatnonzero(~own)]
        ids = [tid for tid, o in zip(ids, own) if not o]
        blocked = self.options.opt_out_keys if self.options.read_names else frozenset()
        if not blocked:
            return named, Faces.empty()
        hidden = np.array([_opted_out(self._who[i], blocked) for i in ids], bool)
        out = named[np.flatnonzero(hidden)]
        n_hidden = int(hidden.sum())
        return named[np.flatnonzero(~hidden)], out.with_(name=(None,) * n_hidden, student=(None,) * n_hidden)

    # -- identity ---------------------------------------------------------------------------

    def _who_for(self, tid: int, faces: Faces, i: int, t: float) -> _Who:
        who = self._who.get(tid)
        if who is None:
            who = self._who[tid] = _Who(faces.xyxy[i].copy(), t, t)
        return who

    def _lose(self, present: set[int], t: float) -> None:
        for tid in [k for k in self._who if k not in present]:
            who = self._who.pop(tid)
            if who.key is not None:
                self._lost.append(_Lost(who.key, who.base, who.shown, who.display, who.box, who.tile, t))
        self._lost = [x for x in self._lost if t - x.at <= self.options.keep_lost_s]

    def _resolve(self, faces: Faces, tiles: list[Tile | None], ids: list[int], who: list[_Who],
                 current: list[StudentName | None], scanned: list[bool], shadowed: list[bool],
                 fresh: list[bool], t: float, mode: str) -> tuple[list[str | None], list[str | None]]:
        strong = [False] * len(faces)
        for i, w in enumerate(who):
            w.box = faces.xyxy[i].copy()
            w.tile = tiles[i].xyxy if tiles[i] is not None else None  # type: ignore[union-attr]
            if shadowed[i]:  # a lingering track, or a second person on one camera: not a student of its own
                w.key = w.base = w.display = w.shown = None
                w.pending_since = t
        order = [i for i in reading_order(faces, tiles) if not shadowed[i]]
        held = {who[j].base for j in order if who[j].key is not None and who[j].base is not None}
        for i in order:  # what the screen says now
            w, cur = who[i], current[i]
            if cur is None:
                continue
            if w.key is not None and not same_name(w.base or "", cur.key) and (
                    any(_piece_of(cur.key, b) for b in held if b != w.base)
                    or any(j != i and (c := current[j]) is not None and c.key == cur.key for j in order)):
                continue  # a named face keeps its name: that is a piece or a copy of a neighbour's label
            if w.base is not None and same_name(w.base, cur.key):
                strong[i], w.other = True, None
                w.reads[cur.key] += fresh[i]
                if fresh[i] and cur.key != w.base and w.key == w.base and self._better_read(w, cur.key, held):
                    self._rename(ids[i], w, cur)
                elif len(cur.display) > len(w.display or "") and w.key == w.base:
                    w.display = w.shown = cur.display  # the fuller read shows; the key stays
                continue
            since = t
            known = any(b == cur.key for b, _ in self._roster.values())
            if w.key is not None and not known:
                # A named face reads a name nobody here has: a misread ("Yusuf Den") lasts until the
                # next read, a rename stays. Keep the name until the other has held settle_s. (A
                # name of this session is a reorder: taken at once, as the tiles moved.)
                if w.other is None or w.other[0] != cur.key:
                    w.other = (cur.key, t)
                if t - w.other[1] < self.options.settle_s:
                    continue
                since = w.other[1]
            strong[i] = True
            if w.base is not None:
                log.info("track %d: %s -> %s", ids[i], w.display, cur.display)
            if w.key is not None:
                w.before = (w.key, w.base, w.display, w.shown)
            w.base, w.display, w.key, w.shown, w.pending_since, w.other = cur.key, cur.display, None, None, since, None
            w.reads = Counter({cur.key: 1})
        holders: dict[str, int] = {}
        for i in sorted(order, key=lambda i: not strong[i]):  # one face per key, one that reads it first
            k = who[i].key
            if k is not None and k in holders:
                who[i].key = who[i].shown = None
                who[i].pending_since = t
            elif k is not None:
                holders[k] = i
        for i in order:
            w = who[i]
            if w.key is None and w.base is not None:
                self._name_key(i, w, who, strong, holders, t)
            if w.key is None:
                self._fallback_key(i, ids[i], w, holders, scanned[i], t, mode)
        return [w.key for w in who], [w.shown for w in who]

    def _better_read(self, w: _Who, key: str, held: set[str]) -> bool:
        """`key`, a read of the label of named face `w`, is its name better than its key is."""
        old = w.base or ""
        if _piece_of(key, old) or key in self._roster or key in held:
            return False  # a cut read, or another student's name: the key stays
        if key.endswith(old):
            return True  # its start was cut off ("e dubois", "haddad"): the label starts with the name
        # Anything else waits for more reads: text read after a name is as often a suffix read
        # wrong ("Ryan Murphy I Rom 38", "Wen Li thny them") as the rest of a cut name. A name this
        # session knew before (the roster's, for a read like it) moves only to a longer spelling
        # read clearly more often: the roster's "Quin Foster" (a letter lost in its first read) to
        # "Quinn Foster", never "Naomi Williams" to the "Naom Williams" of a smaller label.
        if w.confirmed:
            return len(key) > len(old) and w.reads[key] > w.reads[old] + 1
        return w.reads[key] > w.reads[old]

    def _rename(self, tid: int, w: _Who, cur: StudentName) -> None:
        old = w.key
        assert old is not None
        log.info("track %d: %s is %s (read %d times)", tid, w.shown or old, cur.display, w.reads[cur.key])
        self._roster.pop(old, None)
        w.key = w.base = cur.key
        w.display = w.shown = cur.display
        self._roster[w.key] = (w.key, w.shown)
        # A better read that names an opted-out student withdraws what was recorded of the old
        # key instead of filing it under the name (see `renamed`); the face is hidden from now on.
        self._renamed.append((old, None if _opted_out(w, self.options.opt_out_keys) else w.key))
        w.confirmed = False

    def _take(self, i: int, w: _Who, key: str, shown: str | None, holders: dict[str, int], *,
              known: bool = False) -> None:
        """Give face `i` the key; `known`: a name of this session read before (on another face, or
        on this one before it was lost), which better reads move less easily (see _better_read)."""
        w.key, w.shown, w.before, w.confirmed = key, shown, None, known
        if w.base is not None:
            w.reads[w.base] = max(w.reads[w.base], 1)
        holders[key] = i
        self._lost = [x for x in self._lost if x.key != key]
        if w.base is not None:
            self._roster[key] = (w.base, shown)

    def _name_key(self, i: int, w: _Who, who: list[_Who], strong: list[bool], holders: dict[str, int],
                  t: float) -> None:
        """A key for a face whose label was read: its own name, or the next "#n" when another
        face on screen carries the same label. A lost face's key with that name goes to the
        nearest newcomer with it."""
        base = w.base
        assert base is not None
        lost = [x for x in self._lost if x.base == base and x.key not in holders]
        if lost:
            x = min(lost, key=lambda x: float(np.abs(x.box - w.box).sum()))
            self._take(i, w, x.key, x.shown, holders, known=True)
            return
        if t - w.pending_since < self.options.settle_s and any(
                _piece_of(base, who[j].base or "") for j in holders.values()):
            return  # a piece of a neighbour's label, most likely: wait for a whole read
        known = [(k, b, shown) for k, (b, shown) in self._roster.items()
                 if k not in holders and b != base and same_name(b, base)]
        if known:  # read unlike before (in part, or slipped): a student of this session is back
            k, b, shown = max(known, key=lambda x: difflib.SequenceMatcher(None, x[1], base).ratio())
            log.info("read %r as %s, a student of this session", w.display, shown)
            w.base = b
            self._take(i, w, k, shown, holders, known=True)
            return
        rival = [j for j in holders.values() if who[j].base == base and not strong[j]]
        if rival and t - w.pending_since < self.options.settle_s:
            return  # its holder's label changed and is being read again: wait, it may be a reorder
        if rival:
            # Its holder has shown no such label for a while (a track left behind by a re-layout,
            # or the other half of a swap): the face that reads the name now is that student.
            j = min(rival, key=lambda j: who[j].key or "")
            o = who[j]
            key, shown = o.key, o.shown
            del holders[key]  # type: ignore[arg-type]
            o.key = o.base = o.display = o.shown = None
            o.pending_since = t
            self._take(i, w, key, shown, holders, known=True)  # type: ignore[arg-type]
            return
        if dedupe(base, 1) in holders and w.before is not None and w.before[0] not in holders:
            # Its own student a moment ago, and the face that holds this name reads it too: the
            # read was a copy of that neighbour's label (a moving gallery), not a second "iPhone".
            read = w.display
            key, w.base, w.display, shown = w.before
            log.info("%s is another face's label; this face keeps %s", read, shown or key)
            self._take(i, w, key, shown, holders, known=True)
            return
        n = 1
        while dedupe(base, n) in holders:
            n += 1
        self._take(i, w, dedupe(base, n), dedupe(w.display or base, n), holders)

    def _fallback_key(self, i: int, tid: int, w: _Who, holders: dict[str, int], scanned: bool, t: float,
                      mode: str) -> None:
        """No readable label: the key of a face lost just here, else track-N once the label was looked for.

        "Just here" includes the same tile: after a re-layout someone else's face may sit where a
        lost one was, and only a label says who it is."""
        lost = [x for x in self._lost if x.key not in holders and x.tile == w.tile and _near(x.box, w.box)]
        if lost:
            x = min(lost, key=lambda x: t - x.at)
            w.base, w.display = x.base, x.display
            self._take(i, w, x.key, x.shown, holders, known=True)
            return
        # Waiting for a label costs a moment unrecorded; a track-N key given too soon costs a second
        # student in the record once the label is read (or when the tile was still the old layout's).
        # IMAGE mode has no later frame: a label looked for and not found is final.
        # A label not read yet (the text pass is behind: a busy laptop, many new faces) is waited
        # for much longer than one read in vain: its name will come, and a key given now would
        # leave the student twice in the record.
        waited = t - w.pending_since
        opts = self.options
        settled = (not opts.read_names or (scanned and (mode == IMAGE or waited >= opts.settle_s))
                   or waited >= opts.unread_wait_s)
        if settled:
            self._take(i, w, f"track-{tid}" if tid >= 0 else f"face-{i + 1}", None, holders)


def _opted_out(w: _Who, blocked: frozenset[str]) -> bool:
    """The face is an opted-out student's: its key or name is one, or its name read so far is the
    end of one (its start cut off: "e campbell" of "zoe campbell" is hidden from the first read,
    not once the whole name is read)."""
    if w.base in blocked or w.key in blocked:
        return True
    base = w.base or ""
    return len(base.replace(" ", "")) >= 4 and any(k.endswith(base) for k in blocked)


def _piece_of(a: str, b: str) -> bool:
    """Key `a` is a part of key `b` ("evans" of "lucy evans"): what a text box cut short reads."""
    return len(a) < len(b) and a in b


def _tiles_of(layout: Layout, faces: Faces) -> list[Tile | None]:
    if layout.kind is LayoutKind.NONE:
        return [None] * len(faces)
    by_index = {t.index: t for t in layout.tiles}
    return [by_index.get(int(i)) for i in faces.tile.tolist()]

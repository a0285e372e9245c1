"""Which gallery tiles to look at again for faces on a frame (VIDEO / LIVE_STREAM).

In a gallery faces stay inside their tiles and move little, so running the detector over
every tile every few frames mostly finds the same boxes again. A tile is detected again
only when

- its track was lost: the tracker coasts a face there that its last look did not find;
- its content changed since its last detection: the mean absolute difference of its part
  of a small grey thumbnail of the frame (one downscale per frame) against the thumbnail
  at that detection;
- or its round-robin turn came (`round_robin_s` since its last detection), the safety
  net for what the thumbnail cannot see;

A tile's reference thumbnail moves on only with a detection that found every face
tracked there: a miss on a picture that has not changed since is the detector's miss
(a face it sees only now and then), not a student leaving, so it ages no track (the
pipeline's `steady` tiles); a student who leaves changes the picture.

The tiles due share a per-frame time budget (the measured cost of a tile; a token
bucket, see schedule.Budget), the most urgent first: lost, then changed (most first), then
the longest unchecked. The first frame and a new layout detect every tile at once,
outside the budget. The whole-frame pass beside the tiles keeps its own period
(pipeline.py), so the layout still never decides whether a face is found.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import Enum, IntEnum

import cv2
import numpy as np

from .. import defaults
from ..types import Layout
from .schedule import Budget


class DetectionPolicy(str, Enum):
    """How VIDEO / LIVE_STREAM frames choose where to run the detector."""

    CHANGED = "changed"  # per tile: lost, changed or round-robin, within refresh.budget_ms
    EVERY_K = "every_k"  # every tile every `detect_every` frames (the old cadence)


class Reason(IntEnum):
    """Why a tile is detected; lower values go first."""

    ALL = 0  # first frame, new layout
    LOST = 1
    CHANGED = 2
    ROUND_ROBIN = 3


@dataclass(frozen=True)
class RefreshOptions:
    # Tile detection time per frame, on average (unspent time carries over a little).
    # At 49 tiles, 1080p, one tile costs ~5 ms on a 2-core AVX2 laptop, ~1.5 ms on a Xeon.
    budget_ms: float = defaults.DETECT_BUDGET_MS
    max_tiles: int = 0  # tiles detected per frame at most, 0 = only the budget limits
    round_robin_s: float = defaults.ROUND_ROBIN_S  # every tile is looked at again at least this often
    # Mean grey-level difference over a tile that counts as changed. Sensor noise and a
    # 1-px head drift stay under ~1 at the thumbnail's scale; a head moved by 5 px of a
    # 1080p gallery's ~60 px face gives ~4.
    change_threshold: float = 3.0
    thumb_width: int = 240  # the thumbnail's width: 1/8 of 1080p, tiles of 49 are 34 x 19 px

    def __post_init__(self) -> None:
        if not (math.isfinite(self.budget_ms) and 0.0 < self.budget_ms <= 10_000.0):
            raise ValueError(f"refresh budget_ms must be in (0, 10000], got {self.budget_ms}")
        if self.max_tiles < 0:
            raise ValueError(f"refresh max_tiles must be >= 0 (0 = no cap), got {self.max_tiles}")
        if not (math.isfinite(self.round_robin_s) and 0.0 < self.round_robin_s <= 3600.0):
            raise ValueError(f"refresh round_robin_s must be in (0, 3600], got {self.round_robin_s}")
        if not (math.isfinite(self.change_threshold) and 0.0 < self.change_threshold <= 255.0):
            raise ValueError(f"refresh change_threshold must be in (0, 255], got {self.change_threshold}")
        if not 32 <= self.thumb_width <= 1920:
            raise ValueError(f"refresh thumb_width must be in [32, 1920], got {self.thumb_width}")


@dataclass(frozen=True)
class TilePlan:
    """The tiles to detect on one frame (`Tile.index` values, most urgent first)."""

    tiles: tuple[int, ...]
    reasons: tuple[Reason, ...]
    waiting: int = 0  # tiles that were due but left to later frames by the budget
    # Of `tiles`, those whose picture has not changed since every face there was last found.
    steady: tuple[int, ...] = ()

    @property
    def everything(self) -> bool:
        return bool(self.reasons) and self.reasons[0] is Reason.ALL


@dataclass(frozen=True)
class RefreshStats:
    """Counters since the last reset, to see how much detection work is saved."""

    frames: int = 0
    tiles_seen: int = 0  # sum over frames of the layout's tile count
    tiles_detected: int = 0  # sum over frames of the tiles detected
    by_reason: tuple[int, ...] = (0, 0, 0, 0)  # tiles detected per Reason
    waiting: int = 0  # sum over frames of tiles due but put off
    full_frame: int = 0  # whole-frame passes beside the tiles

    @property
    def detected_share(self) -> float:
        """Detected tiles / tiles shown: 1.0 is detecting every tile on every frame."""
        return self.tiles_detected / self.tiles_seen if self.tiles_seen else 0.0


def thumbnail(image: np.ndarray, width: int) -> np.ndarray:
    """A small grey copy of a BGR frame; area averaging keeps sensor noise out of it."""
    h, w = image.shape[:2]
    tw = min(width, w)
    th = max(1, round(h * tw / w))
    small = cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA) if tw < w else image
    return small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)


class TileRefresh:
    """Per-tile re-detection schedule; feed it every frame: observe, plan, detected."""

    def __init__(self, options: RefreshOptions | None = None) -> None:
        self.options = options or RefreshOptions()
        self.budget = Budget(self.options.budget_ms, self.options.max_tiles)
        self.reset()

    def reset(self) -> None:
        self.budget.reset()
        self._layout: Layout | None = None
        self._thumb: np.ndarray | None = None
        self._ref: np.ndarray | None = None  # each tile's part: the thumbnail at its last detection
        self._index = np.zeros(0, np.int64)  # Tile.index per tile
        self._rects = np.zeros((0, 4), np.int64)  # per tile, x0 y0 x1 y1 in thumbnail pixels
        self._last_t = np.zeros(0)
        self._change = np.zeros(0)  # this frame's changes(), kept for the plan's steady tiles
        self._frames = self._seen = self._detected = self._waiting = self._full_frame = 0
        self._by_reason = [0] * len(Reason)

    @property
    def stats(self) -> RefreshStats:
        return RefreshStats(self._frames, self._seen, self._detected, tuple(self._by_reason), self._waiting,
                            self._full_frame)

    def observe(self, image: np.ndarray) -> None:
        """This frame's thumbnail (the only full-frame work the schedule does)."""
        self._thumb = thumbnail(image, self.options.thumb_width)

    def changes(self) -> np.ndarray:
        """Per tile (layout order), the mean grey difference from its last detection; inf before one."""
        if self._thumb is None or self._ref is None or self._thumb.shape != self._ref.shape:
            return np.full(len(self._index), np.inf)
        diff = cv2.absdiff(self._thumb, self._ref)
        sums = cv2.integral(diff, sdepth=cv2.CV_64F)
        x0, y0, x1, y1 = self._rects.T
        total = sums[y1, x1] - sums[y0, x1] - sums[y1, x0] + sums[y0, x0]
        return total / np.maximum((x1 - x0) * (y1 - y0), 1)

    def plan(self, layout: Layout, t: float, lost: Iterable[int] = (), everything: bool = False) -> TilePlan:
        """The tiles to detect on this frame (call `observe` first). `lost`: tile indices
        where a track is coasting; `everything`: detect all tiles (a new layout)."""
        if self._thumb is None:
            raise RuntimeError("TileRefresh.plan before observe: give it the frame first")
        capacity = self.budget.tick()
        self._frames += 1
        self._seen += len(layout.tiles)
        if everything or layout is not self._layout:
            self._adopt(layout)
            return TilePlan(tuple(self._index.tolist()), (Reason.ALL,) * len(self._index))
        reason, urgency = self._due(t, set(lost))
        due = np.flatnonzero(reason >= 0)
        # Most urgent first: by reason, then by how much it changed / how long unchecked.
        order = due[np.lexsort((-urgency[due], reason[due]))]
        chosen = order[:capacity]
        self._waiting += len(order) - len(chosen)
        steady = chosen[self._change[chosen] < self.options.change_threshold]
        return TilePlan(tuple(self._index[chosen].tolist()), tuple(Reason(int(r)) for r in reason[chosen]),
                        len(order) - len(chosen), tuple(self._index[steady].tolist()))

    def detected(self, plan: TilePlan, t: float, ms: float | None = None, full_frame: bool = False,
                 missed: Collection[int] = ()) -> None:
        """The plan's tiles were detected at time t, in `ms` (None: not measured alone).
        `full_frame`: the whole-frame pass ran beside them (counted only); `missed`: tiles
        where the detection did not find every tracked face (their reference stays)."""
        self._full_frame += int(full_frame)
        if not plan.tiles or self._thumb is None:
            return
        where = np.flatnonzero(np.isin(self._index, plan.tiles))
        self._last_t[where] = t
        if self._ref is None or self._ref.shape != self._thumb.shape:
            self._ref = self._thumb.copy()
        if missed and not plan.everything:
            where = where[~np.isin(self._index[where], list(missed))]
        for x0, y0, x1, y1 in self._rects[where].tolist():
            self._ref[y0:y1, x0:x1] = self._thumb[y0:y1, x0:x1]
        self._detected += len(plan.tiles)
        for r in plan.reasons:
            self._by_reason[r] += 1
        # A whole layout's detection has to run: it teaches the cost, it does not spend credit.
        self.budget.spend(len(plan.tiles), ms, charge=not plan.everything)

    def _adopt(self, layout: Layout) -> None:
        self._layout = layout
        self._index = np.array([tile.index for tile in layout.tiles], np.int64)
        self._last_t = np.full(len(layout.tiles), -np.inf)
        self._ref = None
        assert self._thumb is not None
        th, tw = self._thumb.shape[:2]
        w, h = layout.frame_size
        sx, sy = tw / max(w, 1), th / max(h, 1)
        rects = np.array([tile.xyxy for tile in layout.tiles], np.float64).reshape(-1, 4) * (sx, sy, sx, sy)
        rects = np.round(rects).astype(np.int64)
        rects[:, [0, 2]] = rects[:, [0, 2]].clip(0, tw)
        rects[:, [1, 3]] = rects[:, [1, 3]].clip(0, th)
        # A tile too small to show on the thumbnail still gets one pixel to compare.
        rects[:, 2] = np.maximum(rects[:, 2], np.minimum(rects[:, 0] + 1, tw))
        rects[:, 3] = np.maximum(rects[:, 3], np.minimum(rects[:, 1] + 1, th))
        rects[:, 0] = np.minimum(rects[:, 0], rects[:, 2] - 1)
        rects[:, 1] = np.minimum(rects[:, 1], rects[:, 3] - 1)
        self._rects = rects

    def _due(self, t: float, lost: set[int]) -> tuple[np.ndarray, np.ndarray]:
        """Per tile: its Reason (-1: not due) and its urgency within that reason."""
        n = len(self._index)
        age = t - self._last_t
        change = self._change = self.changes()
        reason = np.full(n, -1, np.int64)
        urgency = np.zeros(n)
        rr = age >= self.options.round_robin_s
        reason[rr], urgency[rr] = Reason.ROUND_ROBIN, age[rr]
        changed = change >= self.options.change_threshold
        reason[changed], urgency[changed] = Reason.CHANGED, change[changed]
        gone = np.isin(self._index, list(lost))
        reason[gone], urgency[gone] = Reason.LOST, age[gone]
        return reason, np.nan_to_num(urgency, posinf=1e9)

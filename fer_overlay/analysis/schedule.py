"""Work scheduled by value within a per-frame time budget: which faces to classify first.

When a frame's classification budget cannot cover every face, the faces worth reading
most go first: those never read, those read longest ago, and those whose crop changed
most since their last read (an expression that is changing). Every face's refresh age
(seconds since its emotion was last updated from a readable crop) is kept, so the view
and the record can say how fresh each value is.

`Budget` is the token bucket shared with the tile re-detection scheduler (refresh.py):
work is counted in units (faces, tiles) whose cost is measured as it runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import defaults

# Weight of a new cost sample in the running per-unit cost: a few frames to follow a
# slower machine, not one stall.
_COST_EMA = 0.2


@dataclass
class Budget:
    """A per-frame time budget for work done in units, as a token bucket.

    Each frame adds `per_frame_ms` of credit; a unit of work costs the running mean of its
    measured cost, and what it really took is drawn from the credit. Unspent credit carries
    over up to two frames' worth (or one unit's cost, if that is more, so a unit dearer than
    a frame's budget still gets its turn), so the average stays within the budget while a
    quiet frame lets the next one do more.
    `per_frame_ms` 0 means no budget; `max_units` 0 means no cap.
    """

    per_frame_ms: float = 0.0
    max_units: int = 0
    cost_ms: float | None = None  # measured per unit; None until the first measurement
    credit_ms: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.per_frame_ms) and self.per_frame_ms >= 0):
            raise ValueError(f"budget per_frame_ms must be >= 0, got {self.per_frame_ms}")
        if self.max_units < 0:
            raise ValueError(f"budget max_units must be >= 0, got {self.max_units}")

    def reset(self) -> None:
        self.cost_ms, self.credit_ms = None, 0.0

    def tick(self) -> int:
        """Start a frame; the number of units it can afford (a large number when unbounded)."""
        cap = self.max_units or 1 << 30
        if self.per_frame_ms == 0 or self.cost_ms is None:
            return cap
        limit = max(2 * self.per_frame_ms, self.cost_ms)
        self.credit_ms = min(self.credit_ms + self.per_frame_ms, limit)
        return max(0, min(cap, int(self.credit_ms // max(self.cost_ms, 1e-6))))

    def spend(self, units: int, ms: float | None, charge: bool = True) -> None:
        """Record `units` done in `ms` (None: not measured). charge=False learns the cost
        without drawing on the credit (work that had to run whatever the budget)."""
        if units <= 0 or ms is None or not math.isfinite(ms) or ms < 0:
            return
        per = ms / units
        self.cost_ms = per if self.cost_ms is None else (1 - _COST_EMA) * self.cost_ms + _COST_EMA * per
        if charge and self.per_frame_ms > 0:
            # Debt is bounded too: a stall (another process took the cores) must not
            # starve the work for many frames after it.
            self.credit_ms = max(self.credit_ms - ms, -2 * self.per_frame_ms)


def by_value(age_s: np.ndarray, change: np.ndarray, change_weight_s: float) -> np.ndarray:
    """Indices, most valuable first: never read (age inf or NaN) first, then by
    `age + change_weight_s * change` (change in [0, 1]), ties in input order."""
    age = np.asarray(age_s, np.float64)
    change = np.asarray(change, np.float64)
    if age.shape != change.shape:
        raise ValueError(f"age_s and change differ in shape: {age.shape} vs {change.shape}")
    urgency = np.where(np.isfinite(age), age, np.inf) + change_weight_s * np.clip(change, 0.0, 1.0)
    return np.argsort(-urgency, kind="stable")


@dataclass(frozen=True)
class ClassifyOptions:
    # Classification time per frame (VIDEO / LIVE_STREAM); 0 classifies every readable face
    # on every frame. Within a budget faces take turns by value (see by_value).
    budget_ms: float = defaults.CLASSIFY_BUDGET_MS
    max_faces: int = 0  # faces classified per frame at most; 0 = no cap
    # A crop that changed completely since its last read counts as this many seconds older.
    change_weight_s: float = 1.0
    # Mean grey-level difference between a face's 48x48 crop now and at its last read that
    # counts as "completely changed" (change 1.0); talking or a new expression is 5-15.
    change_full: float = 24.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.budget_ms) and 0.0 <= self.budget_ms <= 10_000.0):
            raise ValueError(f"classify budget_ms must be in [0, 10000] (0 = no budget), got {self.budget_ms}")
        if self.max_faces < 0:
            raise ValueError(f"classify max_faces must be >= 0 (0 = no cap), got {self.max_faces}")
        if not (math.isfinite(self.change_weight_s) and self.change_weight_s >= 0):
            raise ValueError(f"classify change_weight_s must be >= 0, got {self.change_weight_s}")
        if not (math.isfinite(self.change_full) and self.change_full > 0):
            raise ValueError(f"classify change_full must be > 0, got {self.change_full}")


@dataclass
class _Read:
    t_tried: float  # last classification (readable crops only reach the classifier)
    crop: np.ndarray  # the crop it classified


class ClassifySchedule:
    """Which faces to classify on a frame, and how long ago each one was read.

    Times are the frames' timestamps, so a test drives it with a fake clock. Faces with
    no track id (IMAGE mode) are always classified: there is no later frame to wait for.
    """

    def __init__(self, options: ClassifyOptions | None = None) -> None:
        self.options = options or ClassifyOptions()
        self.budget = Budget(self.options.budget_ms, self.options.max_faces)
        self._reads: dict[int, _Read] = {}

    def reset(self) -> None:
        self._reads.clear()
        self.budget.reset()

    def plan(self, track_ids: np.ndarray, crops: np.ndarray, readable: np.ndarray, t: float) -> np.ndarray:
        """Indices of the faces to classify now, most valuable first (readable faces only)."""
        ids = np.asarray(track_ids, np.int64)
        # Memory stays bounded: a track that is gone is read afresh if it ever comes back.
        present = set(ids.tolist())
        for tid in [k for k in self._reads if k not in present]:
            del self._reads[tid]
        candidates = np.flatnonzero(np.asarray(readable, bool))
        capacity = self.budget.tick()
        untracked = candidates[ids[candidates] < 0]
        tracked = candidates[ids[candidates] >= 0]
        if len(tracked) <= capacity:
            return np.concatenate([untracked, tracked])
        age, change = self._age_and_change(ids[tracked], crops[tracked], t)
        chosen = tracked[by_value(age, change, self.options.change_weight_s)[:capacity]]
        return np.concatenate([untracked, chosen])

    def done(self, track_ids: np.ndarray, crops: np.ndarray, t: float, ms: float | None) -> None:
        """The faces just classified (the rows `plan` chose), and how long that took."""
        ids = np.asarray(track_ids, np.int64)
        for tid, crop in zip(ids.tolist(), crops):
            if tid >= 0:
                self._reads[tid] = _Read(t, np.array(crop, np.uint8))
        self.budget.spend(len(ids), ms)

    def ages(self, track_ids: np.ndarray, t: float) -> np.ndarray:
        """(N,) float32 seconds since each face's emotion was last read; NaN = never (or no track)."""
        out = np.full(len(track_ids), np.nan, np.float32)
        for i, tid in enumerate(np.asarray(track_ids, np.int64).tolist()):
            read = self._reads.get(tid)
            if read is not None:
                out[i] = max(0.0, t - read.t_tried)
        return out

    def _age_and_change(self, ids: np.ndarray, crops: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        age = np.full(len(ids), np.inf)
        change = np.zeros(len(ids))
        for i, tid in enumerate(ids.tolist()):
            read = self._reads.get(tid)
            if read is None or read.crop.shape != crops[i].shape:
                continue
            age[i] = t - read.t_tried
            diff = np.abs(crops[i].astype(np.int16) - read.crop.astype(np.int16)).mean()
            change[i] = min(1.0, float(diff) / self.options.change_full)
        return age, change

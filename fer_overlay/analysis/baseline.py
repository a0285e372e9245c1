"""Per-student resting expression (few-shot calibration) and emotions relative to it.

Some faces read as sad or angry at rest. During the first minutes of a session (or
after the calibrate hotkey) we average each student's smoothed probabilities; later
outputs are re-weighted by prior / baseline, a Bayesian change of prior: what the model
sees in this face at rest stops counting as evidence. The student's own baseline is
shrunk towards the population's resting output so a short calibration cannot erase a
class entirely. Raw outputs are kept alongside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import defaults
from ..types import LABELS, NUM_CLASSES, Faces

# The bundled model's mean output on FER2013 PublicTest faces labelled neutral; the
# exporter records the model's own figure in its metadata, this is the fallback.
DEFAULT_REST_PRIOR = np.array([0.06, 0.005, 0.06, 0.05, 0.14, 0.025, 0.66], np.float64)


@dataclass(frozen=True)
class BaselineOptions:
    calibration_s: float = defaults.CALIBRATION_S
    min_samples: int = 15  # readable observations before a baseline is used
    # Weight of the student's own baseline against the population prior. 0.7 is the
    # largest value that keeps >= 85% of real negative faces with the bundled model (v2:
    # 99% kept, false alarms on neutral faces 17.9% -> 2.4%; scripts/eval_baseline.py
    # --shrink 0.7 0.5 0.3); re-run that sweep with a new model.
    shrink: float = 0.7
    rest_prior: tuple[float, ...] = tuple(DEFAULT_REST_PRIOR.tolist())

    def __post_init__(self) -> None:
        if len(self.rest_prior) != NUM_CLASSES or min(self.rest_prior) <= 0:
            raise ValueError(f"rest_prior needs {NUM_CLASSES} positive values in {LABELS} order")
        if not 0.0 <= self.shrink <= 1.0:
            raise ValueError(f"shrink must be in [0, 1], got {self.shrink}")
        if self.min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {self.min_samples}")
        if self.calibration_s <= 0:
            raise ValueError(f"calibration_s must be > 0, got {self.calibration_s}")


def relative(probs: np.ndarray, baseline: np.ndarray, prior: np.ndarray, shrink: float) -> np.ndarray:
    """Re-weight rows of `probs` by prior / (shrunk baseline); rows stay distributions."""
    base = shrink * baseline + (1 - shrink) * prior
    w = probs * (prior / np.maximum(base, 1e-6))
    return w / np.maximum(w.sum(axis=-1, keepdims=True), 1e-12)


@dataclass
class _Acc:
    total: np.ndarray = field(default_factory=lambda: np.zeros(NUM_CLASSES))
    n: int = 0


@dataclass
class Baselines:
    """Learns baselines per student key during calibration windows."""

    options: BaselineOptions = field(default_factory=BaselineOptions)
    _acc: dict[str, _Acc] = field(default_factory=dict, init=False)
    _window: tuple[float, float] | None = field(default=None, init=False)

    def calibrate(self, t: float) -> None:
        """Start (or restart) learning everyone's resting expression from now."""
        self._acc.clear()
        self._window = (t, t + self.options.calibration_s)

    def calibrating(self, t: float) -> bool:
        return self._window is not None and self._window[0] <= t < self._window[1]

    def rename(self, renamed: Sequence[tuple[str, str | None]]) -> None:
        """Students whose key moved to a better read of their name keep what was learned of them
        (:attr:`fer_overlay.people.identity.IdentityTracker.renamed`); new None: an opted-out
        student, forgotten."""
        for old, new in renamed:
            acc = self._acc.pop(old, None)
            if acc is not None and new is not None and new not in self._acc:
                self._acc[new] = acc

    def baseline(self, key: str) -> np.ndarray | None:
        acc = self._acc.get(key)
        if acc is None or acc.n < self.options.min_samples:
            return None
        return acc.total / acc.n

    def update(self, faces: Faces, keys: Sequence[str | None], t: float) -> Faces:
        """Faces whose probs/emotion are relative to each student's baseline where one exists;
        the smoothed raw distribution moves to `raw_probs`.

        `keys` are the students' keys, ``faces.student`` in the pipeline (one key from names,
        opt-out, store and here alike); a face whose student is not decided yet (None) is
        neither learned from nor calibrated."""
        if self._window is None:
            self.calibrate(t)
        raw = faces.probs
        out = raw.copy()
        known = np.isfinite(raw).all(axis=1)
        prior = np.asarray(self.options.rest_prior, np.float64)
        prior = prior / prior.sum()
        for i, key in enumerate(keys):
            if not known[i] or key is None:
                continue
            if self.calibrating(t):
                acc = self._acc.setdefault(key, _Acc())
                acc.total += raw[i]
                acc.n += 1
            base = self.baseline(key)
            if base is not None:
                out[i] = relative(raw[i][None].astype(np.float64), base, prior, self.options.shrink)[0]
        # The smoother's verdict stands, its confidence floor included: that floor is set on the
        # model's own (calibrated, ECE 3%) probabilities, which the re-weighting here is not, so
        # calibration re-ranks a face it read but never turns it into "unknown".
        fresh = faces.emotion >= 0
        emotion = np.where(fresh, np.nan_to_num(out, nan=-1.0).argmax(axis=1), -1).astype(np.int8)
        return faces.with_(probs=out, emotion=emotion, raw_probs=raw)

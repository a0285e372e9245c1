"""scripts/eval_emotion.py's calibration figures: the ECE and the reliability diagram on the card."""

from __future__ import annotations

import numpy as np
from script_loader import load_script

evaluate = load_script("eval_emotion")


def faces_with_confidence(conf: float, right: float, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n faces whose top class has probability `conf`, a `right` share of them correctly."""
    probs = np.full((n, 7), (1 - conf) / 6, np.float64)
    probs[:, 0] = conf
    labels = np.where(rng.random(n) < right, 0, 1)
    return probs, labels


def test_a_calibrated_model_has_no_calibration_error_and_an_overconfident_one_does():
    rng = np.random.default_rng(0)
    parts = [faces_with_confidence(c, c, 4000, rng) for c in (0.35, 0.55, 0.9)]
    probs, labels = np.concatenate([p for p, _ in parts]), np.concatenate([y for _, y in parts])
    ece, rows = evaluate.calibration_error(probs, labels)
    assert ece < 0.02 and sum(r["faces"] for r in rows) == len(labels) and len(rows) == 3
    over, _ = evaluate.calibration_error(*faces_with_confidence(0.9, 0.6, 4000, rng))
    assert abs(over - 0.3) < 0.03  # 90% sure, 60% right


def test_the_reliability_diagram_draws_each_bin_as_tall_as_its_accuracy():
    rows = [{"from": 0.4, "to": 0.5, "faces": 10, "accuracy": 0.25, "confidence": 0.45},
            {"from": 0.8, "to": 0.9, "faces": 30, "accuracy": 0.75, "confidence": 0.85}]
    img = evaluate.draw_reliability(rows, 0.2, "test")
    bar = (np.abs(img.astype(int) - (200, 140, 60)).sum(axis=2) < 30)  # the bars' colour
    heights = [bar[:, c].sum() for c in (60 + round(0.45 * 420), 60 + round(0.85 * 420))]
    assert abs(heights[0] - 0.25 * 420) <= 3 and abs(heights[1] - 0.75 * 420) <= 3
    assert not bar[:, 60 + round(0.15 * 420)].any()  # an empty bin draws nothing

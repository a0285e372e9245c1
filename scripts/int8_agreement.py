#!/usr/bin/env python3
"""PublicTest accuracy of emotion model files and how often each agrees with the first, on this CPU.

    python scripts/int8_agreement.py models/emotion.onnx models/emotion_int8.onnx [--limit N]

The int8 question is a CPU question: onnxruntime's int8 kernels differ by instruction set
(VNNI/AMX add exact int32 dot products; AVX2 and AVX-512 without VNNI add pairs of products
into a saturating int16). To measure the AVX2 kernels on a machine that has VNNI, run this
under user-mode emulation of an AVX2-only CPU; onnxruntime then dispatches on the emulated
CPUID, and the first line printed says which extensions it sees:

    qemu-x86_64 -cpu EPYC-Rome "$(python3 -c 'import sys; print(sys.executable)')" \\
        scripts/int8_agreement.py models/emotion.onnx models/emotion_int8.onnx

(Debian's qemu-user; about 30x slower than native, so --limit helps for a first look.)
The extensions are numpy's CPUID probe, not /proc/cpuinfo, which shows the host's under emulation.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fer_overlay.analysis.classify import SPEC  # noqa: E402

log = logging.getLogger("int8_agreement")


def cpuid_extensions() -> str:
    """The SIMD extensions this process's CPUID reports (numpy's dispatch probe)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as features
    wanted = ("AVX2", "AVX512F", "AVX512_VNNI", "AVX512VNNI", "AVXVNNI", "AMX_INT8")
    return ", ".join(k for k in wanted if features.get(k)) or "none of AVX2/AVX-512/VNNI/AMX"


def publictest(data_dir: Path, limit: int) -> tuple[np.ndarray, np.ndarray]:
    with np.load(data_dir / "fer2013_PublicTest.npz") as data:
        images, labels = data["images"], data["labels"].astype(np.int64)
    if limit:
        images, labels = images[:limit], labels[:limit]
    x = ((images.astype(np.float32) / 255.0 - SPEC.mean) / SPEC.std)[:, None]
    return x, labels


def predict(path: Path, x: np.ndarray, batch: int = 256) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[i : i + batch]})[0].argmax(1) for i in range(0, len(x), batch)])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", type=Path, nargs="+", help="ONNX files; the first is the reference")
    p.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "fer2013")
    p.add_argument("--limit", type=int, default=0, help="only the first N PublicTest faces")
    p.add_argument("--save", type=Path, help="write each model's top classes here (npz, keyed by file name)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not (args.data_dir / "fer2013_PublicTest.npz").is_file():
        log.error("%s has no fer2013_PublicTest.npz", args.data_dir)
        return 2
    log.info("CPUID: %s", cpuid_extensions())
    x, labels = publictest(args.data_dir, args.limit)
    reference: np.ndarray | None = None
    tops: dict[str, np.ndarray] = {}
    for path in args.models:
        t0 = time.perf_counter()
        top = tops[path.name] = predict(path, x)
        line = f"{path.name}: {np.mean(top == labels):.2%} of {len(labels)} faces ({time.perf_counter() - t0:.0f} s)"
        if reference is None:
            reference = top
        else:
            line += f", same class as {args.models[0].name} on {np.mean(top == reference):.2%}"
        log.info("%s", line)
    if args.save:
        np.savez(args.save, **tops)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Latency of EmotionClassifier.predict for batches of 1, 25 and 49 face crops.

    python scripts/bench_classifier.py [--precision auto|fp32|int8] [--provider CPUExecutionProvider]
    python scripts/bench_classifier.py --model path/to/other.onnx
    python scripts/bench_classifier.py --model models/emotion.onnx --model models/emotion_int8.onnx

Prints the CPU (model name and its int8 extensions: which kernels onnxruntime runs), which
file the automatic precision choice takes here and why, then median and p95 per batch size,
with and without flip TTA. Several --model files are timed in interleaved rounds, so a busy
machine slows them alike and their ratio still holds.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_overlay import EmotionClassifier
from fer_overlay.inference.cpu import probe
from fer_overlay.inference.models import Precision


def crops(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    # Realistic sizes for 1080p galleries (faces of 40-160 px), colour.
    return [rng.integers(0, 255, (s, s, 3), np.uint8) for s in rng.integers(40, 160, n)]


def measure(clfs: list[EmotionClassifier], batch: list[np.ndarray], repeats: int) -> list[tuple[float, float]]:
    for clf in clfs:
        for _ in range(5):
            clf.predict(batch)
    times: list[list[float]] = [[] for _ in clfs]
    for _ in range(repeats):
        for clf, own in zip(clfs, times):
            t0 = time.perf_counter()
            clf.predict(batch)
            own.append((time.perf_counter() - t0) * 1000)
    return [(float(np.median(t)), float(np.percentile(t, 95))) for t in times]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, action="append", dest="models",
                   help="an ONNX file instead of the bundled model (repeat to compare files)")
    p.add_argument("--precision", choices=[v.value for v in Precision], default="auto",
                   help="which bundled file: auto = int8 on the CPU where it matches fp32, fp32 elsewhere")
    p.add_argument("--provider", action="append", dest="providers")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--repeats", type=int, default=50)
    args = p.parse_args()
    if args.models and args.precision != "auto":
        p.error("--precision picks a bundled file; leave it out with --model")
    rng = np.random.default_rng(0)
    print(f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, "
          f"{platform.system()} {platform.release()}")
    print(f"CPU: {probe().describe()}")
    auto = EmotionClassifier(providers=args.providers, threads=1, precision=args.precision).precision_choice
    if auto is not None:
        print(f"precision {args.precision}: {auto.describe()}")
    for tta in (False, True):
        clfs = [EmotionClassifier(m, providers=args.providers, threads=args.threads, flip_tta=tta,
                                  precision=args.precision) for m in (args.models or [None])]
        for n in (1, 25, 49):
            batch = crops(n, rng)
            for clf, (med, p95) in zip(clfs, measure(clfs, batch, args.repeats)):
                print(f"model {clf.info.path.name}, provider {clf.provider}, flip TTA {'on' if tta else 'off'}, "
                      f"batch {n:>2}: median {med:6.2f} ms  p95 {p95:6.2f} ms  ({med / n:.2f} ms/face)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

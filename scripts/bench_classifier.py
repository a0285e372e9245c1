#!/usr/bin/env python3
"""Latency of EmotionClassifier.predict for batches of 1, 25 and 49 face crops.

    python scripts/bench_classifier.py [--precision auto|fp32|int8] [--provider CPUExecutionProvider]
    python scripts/bench_classifier.py --model path/to/other.onnx

Prints median and p95 per batch size, with and without flip TTA, on this machine.
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
from fer_overlay.models import Precision


def crops(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    # Realistic sizes for 1080p galleries (faces of 40-160 px), colour.
    return [rng.integers(0, 255, (s, s, 3), np.uint8) for s in rng.integers(40, 160, n)]


def measure(clf: EmotionClassifier, batch: list[np.ndarray], repeats: int) -> tuple[float, float]:
    for _ in range(5):
        clf.predict(batch)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        clf.predict(batch)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times)), float(np.percentile(times, 95))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=None, help="an ONNX file instead of the bundled model")
    p.add_argument("--precision", choices=[v.value for v in Precision], default="auto",
                   help="which bundled file: auto = int8 on the CPU, fp32 on a GPU")
    p.add_argument("--provider", action="append", dest="providers")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--repeats", type=int, default=50)
    args = p.parse_args()
    if args.model and args.precision != "auto":
        p.error("--precision picks a bundled file; leave it out with --model")
    rng = np.random.default_rng(0)
    print(f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, "
          f"{platform.system()} {platform.release()}")
    for tta in (False, True):
        clf = EmotionClassifier(args.model, providers=args.providers, threads=args.threads, flip_tta=tta,
                                precision=args.precision)
        print(f"model {clf.info.path.name}, provider {clf.provider}, flip TTA {'on' if tta else 'off'}")
        for n in (1, 25, 49):
            med, p95 = measure(clf, crops(n, rng), args.repeats)
            print(f"  batch {n:>2}: median {med:6.2f} ms  p95 {p95:6.2f} ms  ({med / n:.2f} ms/face)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""What the 30 fps output thread spends per frame drawing each view.

    python scripts/bench_render.py [--participants 25 49] [--frames 300]

A generated 1080p gallery with every face classified and named, drawn at 1280x720 as the
engine draws it (views.compose.render). Prints median and p95 ms per view and the share of
a 33 ms frame it takes, with the CPU named. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_overlay.live.mood import class_mood
from fer_overlay.synth import GallerySpec, make_gallery
from fer_overlay.testing.load import cpu_model
from fer_overlay.types import Faces, Layout, LayoutKind, Tile, View
from fer_overlay.views.compose import ViewState, render


def state_for(participants: int, anonymous: bool = False) -> tuple[np.ndarray, ViewState]:
    image, truth = make_gallery(GallerySpec(participants=participants, size=(1920, 1080), seed=11))
    xyxy = truth.face_boxes()
    n = len(xyxy)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(7), n).astype(np.float32)
    tiles = [t for t in truth.tiles]
    layout = Layout(LayoutKind.GRID, tuple(Tile(i, *t.rect) for i, t in enumerate(tiles)), (1920, 1080))
    centres = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    faces = Faces(xyxy=xyxy, score=np.ones(n, np.float32), track_id=np.arange(n, dtype=np.int64),
                  tile=layout.tile_of(centres), probs=probs, emotion=probs.argmax(1).astype(np.int8),
                  name=tuple(f"Student Number {i}" for i in range(n)))
    trend = np.column_stack([np.arange(600.0), np.sin(np.arange(600) / 30), np.full(600, n)])
    return image, ViewState(faces, class_mood(faces, layout, 0.0), trend, 0.2, anonymous, layout=layout)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--participants", type=int, nargs="+", default=[25, 49])
    p.add_argument("--frames", type=int, default=300)
    args = p.parse_args()
    print(f"CPU: {cpu_model()}")
    for n in args.participants:
        for view, anonymous in ((View.GALLERY, False), (View.GALLERY, True), (View.SIDEBAR, False),
                                (View.SUMMARY, False), (View.OFF, False)):
            image, state = state_for(n, anonymous)
            for _ in range(10):
                render(view, image, state, (1280, 720))
            times = []
            for _ in range(args.frames):
                t0 = time.perf_counter()
                render(view, image, state, (1280, 720))
                times.append(time.perf_counter() - t0)
            ms = np.array(times) * 1000
            name = f"{view.value}{' (anonymous)' if anonymous else ''}"
            print(f"{n} faces, {name:<20} median {np.median(ms):5.2f} ms, p95 {np.percentile(ms, 95):5.2f} ms "
                  f"({np.median(ms) / (1000 / 30) * 100:4.1f}% of a 30 fps frame)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

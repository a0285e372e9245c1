#!/usr/bin/env python3
"""Write the render golden set (tests/data/render_golden/): a fixed scene and faces, and what
each view draws from them. Run it only when a drawing change is meant; the test
(tests/test_render_golden.py) then checks that faster rendering draws the same pixels.

    python scripts/make_render_golden.py [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_overlay.live.mood import class_mood
from fer_overlay.synth import GallerySpec, make_gallery
from fer_overlay.synth.faces import FaceBank
from fer_overlay.types import Faces, Layout, LayoutKind, Tile
from fer_overlay.views.compose import Alerts, ViewState

FOLDER = Path(__file__).resolve().parents[1] / "tests" / "data" / "render_golden"
CASES = {  # name: (view, output size, anonymous)
    "gallery_360p": ("gallery", (640, 360), False),
    "gallery_up": ("gallery", (1024, 576), False),  # upscaled: the INTER_LINEAR path
    "sidebar_360p": ("sidebar", (640, 360), False),
    "summary_720p": ("summary", (1280, 720), False),
    "anonymous_360p": ("gallery", (640, 360), True),
    "letterbox_4x3": ("gallery", (480, 360), False),
}


def make_inputs() -> tuple[np.ndarray, dict]:
    # insightface's sample photos (from its PyPI wheel): never ../shared's, which stay out of git.
    image, truth = make_gallery(GallerySpec(participants=9, size=(960, 540), seed=3), FaceBank.from_insightface())
    image = (image // 24) * 24 + 12  # posterised: the drawing is what is checked, and flat areas keep the PNGs small
    boxes = [list(map(float, b)) for b in truth.face_boxes()]
    rng = np.random.default_rng(5)
    n = len(boxes)
    probs = rng.dirichlet(np.ones(7) * 0.6, n).astype(np.float32)
    emotion = probs.argmax(1).astype(int).tolist()
    emotion[1] = -1  # one unknown
    names = [f"Student {chr(65 + i)} Name" if i != 2 else None for i in range(n)]
    tiles = [[int(v) for v in t.rect] for t in truth.tiles]
    spec = {"boxes": boxes, "probs": probs.tolist(), "emotion": emotion, "names": names, "tiles": tiles,
            "face_tiles": [_tile_of(b, tiles) for b in boxes]}
    return image, spec


def _tile_of(box: list[float], tiles: list[list[int]]) -> int:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    for i, (x, y, w, h) in enumerate(tiles):
        if x <= cx < x + w and y <= cy < y + h:
            return i
    return -1


def state_for(spec: dict, anonymous: bool, size: tuple[int, int]) -> ViewState:
    n = len(spec["boxes"])
    xyxy = np.array(spec["boxes"], np.float32)
    cx, cy, s = (xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2, (xyxy[:, 2] - xyxy[:, 0])
    # Five landmarks where a frontal face has them: eyes, nose, mouth corners.
    offsets = np.array([[-0.2, -0.1], [0.2, -0.1], [0, 0.08], [-0.15, 0.25], [0.15, 0.25]], np.float32)
    landmarks = np.stack([cx, cy], 1)[:, None, :] + offsets[None] * s[:, None, None]
    faces = Faces(xyxy=xyxy, score=np.ones(n, np.float32), landmarks=landmarks.astype(np.float32),
                  track_id=np.arange(n, dtype=np.int64), tile=np.array(spec["face_tiles"], np.int32),
                  probs=np.array(spec["probs"], np.float32), emotion=np.array(spec["emotion"], np.int8),
                  name=tuple(spec["names"]))
    layout = Layout(LayoutKind.GRID, tuple(Tile(i, *t) for i, t in enumerate(spec["tiles"])), (960, 540))
    trend = np.column_stack([np.arange(60.0), np.sin(np.arange(60) / 9.0) * 0.6, np.full(60, n)])
    return ViewState(faces, class_mood(faces, layout, 60.0), trend, age_s=0.3, anonymous=anonymous,
                     alerts=Alerts(("class mood turned 8 s ago",), ("Student A Name: negative for 75 s",)),
                     layout=layout)


def main() -> int:
    from fer_overlay.types import View
    from fer_overlay.views.compose import render

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="compare with the stored set instead of writing it")
    args = p.parse_args()
    if args.check:
        image = cv2.imread(str(FOLDER / "scene.png"))
        spec = json.loads((FOLDER / "faces.json").read_text())
    else:
        FOLDER.mkdir(parents=True, exist_ok=True)
        image, spec = make_inputs()
        cv2.imwrite(str(FOLDER / "scene.png"), image)
        (FOLDER / "faces.json").write_text(json.dumps(spec, indent=1))
    for name, (view, size, anonymous) in CASES.items():
        out = render(View(view), image, state_for(spec, anonymous, size), size)
        path = FOLDER / f"{name}.png"
        if args.check:
            ref = cv2.imread(str(path))
            diff = np.abs(out.astype(int) - ref.astype(int))
            print(f"{name}: max diff {diff.max()}, pixels off by > 8: {(diff.max(2) > 8).mean() * 100:.3f}%")
        else:
            cv2.imwrite(str(path), out)
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Name-label reading accuracy and cost on synthetic 1080p galleries (Zoom, Meet, Teams).

    python scripts/bench_names.py [--participants 25 49] [--seeds 0 1 2] [--styles zoom meet teams]
                                  [--layout] [--dump DIR]

A tile counts as right when the normalised key of what was read equals the normalised
key of the participant's clean name (camera-off tiles included). Tiles are cut at their
true rectangles unless --layout is given (then find_layout finds them, as the app does).
--dump writes the label crop of every wrong tile as a PNG for a look.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_overlay.analysis.layout import find_layout
from fer_overlay.people.names import normalise
from fer_overlay.people.ocr import NameReader, OcrOptions, locate_label
from fer_overlay.synth import GallerySpec, Style, TileKind, make_gallery


def best_match(tiles, rect):
    """The found tile that overlaps the true rectangle most (IoU > 0.5), else None."""
    x, y, w, h = rect

    def iou(t) -> float:
        ix = max(0, min(x + w, t.x + t.w) - max(x, t.x))
        iy = max(0, min(y + h, t.y + t.h) - max(y, t.y))
        inter = ix * iy
        return inter / (w * h + t.w * t.h - inter)

    best = max(tiles, key=iou, default=None)
    return best if best is not None and iou(best) > 0.5 else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--participants", type=int, nargs="+", default=[25, 49])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--styles", nargs="+", default=[s.value for s in Style])
    ap.add_argument("--size", type=int, nargs=2, default=[1920, 1080])
    ap.add_argument("--camera-off", type=float, default=0.2)
    ap.add_argument("--layout", action="store_true", help="find tiles with find_layout instead of the truth")
    ap.add_argument("--dump", type=Path, help="write the label crops of wrong tiles here")
    args = ap.parse_args()

    reader = NameReader(OcrOptions())
    reader.load()  # outside the timing: a session loads the model once
    if args.dump:
        args.dump.mkdir(parents=True, exist_ok=True)
    total_right = total_tiles = 0
    total_ms = 0.0
    print(f"{'style':<6} {'tiles':>5}  exact   face  cam-off  ms/tile")
    for style in args.styles:
        for n in args.participants:
            right = tiles = off_right = off_tiles = 0
            ms = 0.0
            for seed in args.seeds:
                spec = GallerySpec(participants=n, size=tuple(args.size), style=Style(style), seed=seed,
                                   camera_off=args.camera_off)
                image, truth = make_gallery(spec)
                if args.layout:
                    layout = find_layout(image)
                    rects = [best_match(layout.tiles, tt.rect) for tt in truth.tiles]
                    crops = [image[r.y : r.y + r.h, r.x : r.x + r.w] if r else image[:1, :1] for r in rects]
                else:
                    crops = [image[y : y + h, x : x + w] for x, y, w, h in (tt.rect for tt in truth.tiles)]
                has_face = [tt.kind is TileKind.FACE for tt in truth.tiles]
                t1 = time.perf_counter()
                readings = reader.read_tiles(crops, has_face)
                ms += (time.perf_counter() - t1) * 1000
                for tt, crop, face, reading in zip(truth.tiles, crops, has_face, readings):
                    want = normalise(tt.name)
                    ok = bool(reading and reading.name and want and reading.name.key == want.key)
                    tiles += 1
                    right += ok
                    if not face:
                        off_tiles += 1
                        off_right += ok
                    if not ok and args.dump:
                        box = locate_label(crop, face, reader.options.label_band)
                        stem = f"{style}-{n}-s{seed}-t{tt.index:02d}"
                        cv2.imwrite(str(args.dump / f"{stem}-tile.png"), crop)
                        if box:
                            x, y, w, h = box
                            cv2.imwrite(str(args.dump / f"{stem}-label.png"), crop[y : y + h, x : x + w])
                    if not ok:
                        got = f"{reading.raw!r} ({reading.score:.2f})" if reading else "no label"
                        print(f"  miss {style} {n} seed {seed} tile {tt.index} {tt.kind.value}: "
                              f"want {tt.display_name!r}, read {got}")
            face_tiles = tiles - off_tiles
            face_acc = (right - off_right) / max(face_tiles, 1)
            off_acc = off_right / off_tiles if off_tiles else float("nan")
            print(f"{style:<6} {tiles:>5}  {right / tiles:.3f}  {face_acc:.3f}  {off_acc:.3f}  {ms / tiles:8.2f}")
            total_right, total_tiles, total_ms = total_right + right, total_tiles + tiles, total_ms + ms
    print(f"all    {total_tiles:>5}  {total_right / max(total_tiles, 1):.3f}  "
          f"{'':>13} {total_ms / max(total_tiles, 1):8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

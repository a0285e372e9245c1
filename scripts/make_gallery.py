#!/usr/bin/env python3
"""Write a synthetic meeting-gallery screenshot (or video) and its ground truth as JSON.

    python scripts/make_gallery.py /tmp/gallery.png --participants 16 --size 1920x1080 --style zoom
    python scripts/make_gallery.py /tmp/gallery.png --video /tmp/meeting.mp4 --frames 90 --reorder-every 30

The JSON sits next to the PNG (same name, .json): the gallery and one entry per tile
(rect, kind, face box, emotion, names); for a video, one such entry per frame.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fer_overlay.synth import FaceBank, GallerySpec, Style, gallery_frames, make_gallery  # noqa: E402

log = logging.getLogger("make_gallery")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1920x1080, got {text!r}") from None
    return w, h


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="PNG to write; the ground truth goes to the same name with .json")
    p.add_argument("--participants", type=int, default=16)
    p.add_argument("--size", type=_size, default=(1920, 1080), help="WIDTHxHEIGHT (default 1920x1080)")
    p.add_argument("--style", choices=[s.value for s in Style], default=Style.ZOOM.value)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--camera-off", type=float, default=0.1, help="fraction of participants without video")
    p.add_argument("--slides", type=int, default=0, help="shared-slide tiles besides the participants")
    p.add_argument("--no-chrome", action="store_true", help="leave out the app's toolbars")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--faces", type=Path, help="folder with labels.csv and images/ (default: shared data)")
    source.add_argument("--insightface", action="store_true", help="use insightface's sample faces")
    p.add_argument("--video", type=Path, help="also write an mp4 of --frames frames")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--fps", type=float, default=15.0)
    p.add_argument("--reorder-every", type=int, default=None, help="swap two tiles every N frames")
    p.add_argument("--jitter", type=int, default=1, help="head motion in pixels")
    p.add_argument("--noise", type=float, default=2.0, help="sensor noise (grey levels, std)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    try:
        spec = GallerySpec(args.participants, args.size, Style(args.style), args.camera_off, args.slides, args.seed,
                           chrome=not args.no_chrome)
        bank = (FaceBank.from_insightface() if args.insightface else FaceBank.from_dir(args.faces) if args.faces
                else FaceBank.default())
    except (ValueError, FileNotFoundError) as exc:
        log.error("%s", exc)
        return 2
    log.info("faces: %r", bank)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image, truth = make_gallery(spec, bank)
    if not cv2.imwrite(str(args.out), image):
        log.error("cannot write %s", args.out)
        return 1
    record: dict[str, object] = {"spec": _spec_dict(spec), "gallery": truth.to_dict()}
    if args.video:
        frames = _write_video(args, spec, bank)
        if frames is None:
            return 1
        record["video"] = {"path": str(args.video), "fps": args.fps, "frames": frames}
    truth_path = args.out.with_suffix(".json")
    truth_path.write_text(json.dumps(record, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"{args.out}: {len(truth.tiles)} tiles ({len(truth.faces)} faces), grid {truth.grid}; truth in {truth_path}")
    return 0


def _spec_dict(spec: GallerySpec) -> dict[str, object]:
    return {"participants": spec.participants, "size": list(spec.size), "style": spec.style.value,
            "camera_off": spec.camera_off, "slides": spec.slides, "seed": spec.seed, "chrome": spec.chrome}


def _write_video(args: argparse.Namespace, spec: GallerySpec, bank: FaceBank) -> list[dict[str, object]] | None:
    args.video.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(args.video), cv2.VideoWriter.fourcc(*"mp4v"), args.fps, spec.size)
    if not writer.isOpened():
        log.error("cannot open a video writer for %s (mp4v)", args.video)
        return None
    truths = []
    try:
        for image, truth in gallery_frames(spec, args.frames, reorder_every=args.reorder_every, jitter_px=args.jitter,
                                           noise=args.noise, seed=args.seed, faces=bank):
            writer.write(image)
            truths.append(truth.to_dict())
    finally:
        writer.release()
    log.info("wrote %d frames to %s", len(truths), args.video)
    return truths


if __name__ == "__main__":
    raise SystemExit(main())

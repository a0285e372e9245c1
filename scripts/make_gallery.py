#!/usr/bin/env python3
"""Write a synthetic meeting-gallery screenshot (or video) and its ground truth as JSON.

    python scripts/make_gallery.py /tmp/gallery.png --participants 16 --size 1920x1080 --style zoom
    python scripts/make_gallery.py /tmp/gallery.png --video /tmp/meeting.mp4 --frames 90 --reorder-every 30
    python scripts/make_gallery.py /tmp/teams.png --realistic --style teams --view share --theme light \
        --compression jpeg:75

``--realistic`` draws what the current apps show (label chips with mic icons, profile photos,
the active speaker's outline, the self-view, rooms, headphones, glasses); ``--real`` only
switches the drawing and leaves the other options to you.

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

from fer_overlay.synth import (  # noqa: E402
    Compression,
    FaceBank,
    Fidelity,
    GallerySpec,
    Strip,
    Style,
    Theme,
    View,
    gallery_frames,
    make_gallery,
)

log = logging.getLogger("make_gallery")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1920x1080, got {text!r}") from None
    return w, h


def _compression(text: str) -> Compression:
    try:
        return Compression.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected none, jpeg:Q, h264:CRF or blocky:Q ({exc})") from None


def _switch(text: str) -> tuple[int, View]:
    frame, _, view = text.partition(":")
    try:
        return int(frame), View(view)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FRAME:VIEW such as 150:speaker, got {text!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="PNG to write; the ground truth goes to the same name with .json")
    p.add_argument("--participants", type=int, default=16)
    p.add_argument("--size", type=_size, default=(1920, 1080), help="WIDTHxHEIGHT (default 1920x1080)")
    p.add_argument("--style", choices=[s.value for s in Style], default=Style.ZOOM.value)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--camera-off", type=float, default=None,
                   help="fraction of participants without video (default 0.1; 0.2 with --realistic)")
    p.add_argument("--slides", type=int, default=0, help="shared-slide tiles besides the participants")
    p.add_argument("--no-chrome", action="store_true", help="leave out the app's toolbars")
    p.add_argument("--view", choices=[v.value for v in View], default=View.GRID.value)
    p.add_argument("--strip", choices=[v.value for v in Strip], default=Strip.RIGHT.value,
                   help="where speaker and share views put their thumbnails")
    p.add_argument("--theme", choices=[v.value for v in Theme], default=Theme.DARK.value)
    looks = p.add_mutually_exclusive_group()
    looks.add_argument("--real", action="store_true", help="draw as the current apps do (fidelity real)")
    looks.add_argument("--realistic", action="store_true",
                       help="a realistic class: --real, 20%% cameras off (half with photos), speaker, self-view")
    p.add_argument("--avatar-photos", type=float, help="fraction of camera-off tiles showing a profile photo")
    p.add_argument("--empty", type=float, help="fraction of participants whose video is black")
    p.add_argument("--speaker", action="store_true", help="outline an active speaker")
    p.add_argument("--selfview", action="store_true", help="float your own video over a corner")
    p.add_argument("--duplicate-labels", type=int, default=0, help="that many participants labelled 'iPhone'")
    p.add_argument("--compression", type=_compression, default=Compression(),
                   help="none, jpeg:Q (60-95), h264:CRF (18-35) or blocky:Q")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--faces", type=Path, help="folder with labels.csv and images/ (default: shared data)")
    source.add_argument("--insightface", action="store_true", help="use insightface's sample faces")
    p.add_argument("--video", type=Path, help="also write an mp4 of --frames frames")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--fps", type=float, default=15.0)
    p.add_argument("--reorder-every", type=int, default=None, help="swap two tiles every N frames")
    p.add_argument("--jitter", type=int, default=1, help="head motion in pixels")
    p.add_argument("--noise", type=float, default=2.0, help="sensor noise (grey levels, std)")
    p.add_argument("--speaker-every", type=int, default=None, help="a new active speaker every N frames")
    p.add_argument("--scroll-every", type=int, default=None, help="scroll the gallery by a row every N frames")
    p.add_argument("--shift", type=int, default=0, help="slide the tiles sideways by this many px a frame")
    p.add_argument("--switch-view", type=_switch, action="append", default=[],
                   help="FRAME:VIEW, switch the layout from that frame on (repeatable)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    try:
        spec = _spec(args)
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


def _spec(args: argparse.Namespace) -> GallerySpec:
    fields: dict[str, object] = {
        "slides": args.slides, "seed": args.seed, "chrome": not args.no_chrome,
        "view": View(args.view), "strip": Strip(args.strip), "theme": Theme(args.theme),
        "duplicate_labels": args.duplicate_labels, "compression": args.compression,
    }
    for name in ("camera_off", "avatar_photos", "empty"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if args.speaker:
        fields["active_speaker"] = True
    if args.selfview:
        fields["selfview"] = True
    if args.realistic:
        return GallerySpec.realistic(args.participants, args.size, Style(args.style), **fields)
    if args.real:
        fields["fidelity"] = Fidelity.REAL
    return GallerySpec(args.participants, args.size, Style(args.style), **fields)  # type: ignore[arg-type]


def _spec_dict(spec: GallerySpec) -> dict[str, object]:
    return spec.to_dict()


def _write_video(args: argparse.Namespace, spec: GallerySpec, bank: FaceBank) -> list[dict[str, object]] | None:
    try:
        frames = gallery_frames(spec, args.frames, reorder_every=args.reorder_every, jitter_px=args.jitter,
                                noise=args.noise, seed=args.seed, faces=bank, speaker_every=args.speaker_every,
                                scroll_every=args.scroll_every, shift_px=args.shift, views=dict(args.switch_view))
    except ValueError as exc:
        log.error("%s", exc)
        return None
    args.video.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(args.video), cv2.VideoWriter.fourcc(*"mp4v"), args.fps, spec.size)
    if not writer.isOpened():
        log.error("cannot open a video writer for %s (mp4v)", args.video)
        return None
    truths = []
    try:
        for image, truth in frames:
            writer.write(image)
            truths.append(truth.to_dict())
    finally:
        writer.release()
    log.info("wrote %d frames to %s", len(truths), args.video)
    return truths


if __name__ == "__main__":
    raise SystemExit(main())

"""`fer-overlay analyze INPUT [--out ANNOTATED] [--json RESULTS]` for an image or a video."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import TextIO

from ..analysis.pipeline import GalleryPipeline, PipelineOptions, RunningMode
from ..capture import ImageSource, VideoSource
from ..errors import InputError
from ..people.identity import IdentityOptions
from ..results import document
from ..sinks import FileSink
from ..types import Analysis
from ..views.render import RenderStyle, annotate_faces

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyse an image or video file of a meeting gallery")
    p.add_argument("input", type=Path, help="image (png/jpg/...) or video file")
    p.add_argument("--out", type=Path, help="write the annotated image or video here")
    p.add_argument("--json", type=Path, dest="json_out", help="write per-frame results as JSON here")
    p.add_argument("--detect-every", type=int, default=3, help="video: run the face detector every N frames")
    p.add_argument("--max-frames", type=int, default=0, help="video: stop after N frames (0 = all)")
    p.add_argument("--detector", default="centerface", help="centerface | scrfd:PATH (an insightface det_*.onnx)")
    p.add_argument("--flip-tta", action="store_true", help="average each face with its mirror image (slower)")
    p.add_argument("--provider", action="append", dest="providers", help="onnxruntime execution provider")
    p.add_argument("--threads", type=int, default=None, help="inference threads (default: all cores, max 8)")
    p.add_argument("--anonymous", action="store_true", help="do not read the tiles' name labels")
    p.set_defaults(func=run)


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    path: Path = args.input
    if not path.exists():
        raise InputError(f"{path} does not exist")
    image_input = is_image(path)
    options = PipelineOptions(
        mode=RunningMode.IMAGE if image_input else RunningMode.VIDEO, detect_every=args.detect_every
    )
    identity = None if args.anonymous else IdentityOptions()
    pipeline = GalleryPipeline.create(
        options, providers=args.providers, threads=args.threads, flip_tta=args.flip_tta, identity=identity,
        detector=args.detector
    )
    analyses = analyze_file(pipeline, path, args.out, args.max_frames)
    if not analyses:
        raise InputError(f"{path} has no frames")
    size = analyses[0].layout.frame_size
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(document(str(path), size, analyses), indent=1))
    print(summarise(analyses), file=out)
    return 0


def analyze_file(pipeline: GalleryPipeline, path: Path, annotated: Path | None, max_frames: int = 0) -> list[Analysis]:
    source = ImageSource(path, repeat=False) if is_image(path) else VideoSource(path)
    analyses: list[Analysis] = []
    sink = None
    style = RenderStyle()
    with source:
        try:
            while max_frames <= 0 or len(analyses) < max_frames:
                frame = source.read()
                if frame is None:
                    break
                result = pipeline.process(frame)
                analyses.append(result)
                if annotated is None:
                    continue
                drawn = annotate_faces(frame.image, result.faces, style, result.layout.tiles)
                if is_image(path):
                    _write_image(annotated, drawn)
                else:
                    if sink is None:
                        w, h = frame.size
                        sink = FileSink(annotated, w, h, getattr(source, "fps", 25.0) or 25.0)
                    sink.send(drawn)
        finally:
            if sink is not None:
                sink.close()
    return analyses


def _write_image(path: Path, image) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise InputError(f"cannot write {path}: unsupported extension or unwritable folder")


def summarise(analyses: list[Analysis]) -> str:
    last = analyses[-1]
    counts = Counter(label for a in analyses[-1:] for label in a.faces.labels)
    ids = {int(t) for a in analyses for t in a.faces.track_id if t >= 0}
    ms = sorted(a.timings_ms["total"] for a in analyses)
    parts = [
        f"{len(analyses)} frame(s), layout {last.layout.kind.value} with "
        f"{len(last.layout.tiles) if last.layout.kind.value != 'none' else 0} tiles",
        f"{len(last.faces)} face(s) in the last frame" + (f", {len(ids)} tracks" if ids else ""),
        "emotions: " + (", ".join(f"{k} {v}" for k, v in counts.most_common()) or "none"),
        f"median {ms[len(ms) // 2]:.0f} ms per frame",
    ]
    return "\n".join(parts)

"""`fer-overlay analyze INPUT [--out ANNOTATED] [--json RESULTS]` for an image or a video."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import TextIO

import numpy as np

from .. import config, specs
from ..analysis.pipeline import GalleryPipeline, RunningMode
from ..capture import ImageSource, VideoSource
from ..config import Settings
from ..errors import InputError
from ..outputs import OutputError, check_output, write_output
from ..results import document
from ..sinks import FileSink
from ..types import Analysis
from ..views.render import RenderStyle, annotate_faces

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")  # what cv2 encodes
VIDEO_SUFFIXES = (".mp4",)  # FileSink's MPEG-4


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyse an image or video file of a meeting gallery",
                       description="Analyse an image or video file of a meeting gallery. The [analysis] and "
                                   "[privacy] settings apply; the options below override them.")
    p.add_argument("input", type=Path, help="image (png/jpg/...) or video file")
    p.add_argument("--out", type=Path, help="write the annotated image (same types as the input) or video (.mp4)")
    p.add_argument("--json", type=Path, dest="json_out", help="write per-frame results as JSON here")
    p.add_argument("--force", action="store_true", help="replace a symbolic link at --out or --json")
    p.add_argument("--detect-every", type=config.cli_value("analysis.detect_every"),
                   help="video: run the face detector on every tile every N frames (the every_k schedule) "
                        "instead of where the picture changed")
    p.add_argument("--max-frames", type=_frames, default=0, help="video: stop after N frames (0 = all)")
    p.add_argument("--detector", type=config.cli_value("analysis.detector"), help=specs.DETECTOR_FORMS)
    p.add_argument("--flip-tta", action="store_true", default=None,
                   help="average each face with its mirror image (slower)")
    p.add_argument("--provider", action="append", dest="providers", type=specs.argument(specs.parse_provider),
                   help="onnxruntime execution provider (repeatable, best first)")
    p.add_argument("--threads", type=config.cli_value("analysis.threads"),
                   help="inference threads (default: all cores, max 8)")
    p.add_argument("--anonymous", action="store_true", default=None, help="do not read the tiles' name labels")
    p.set_defaults(func=run)


def _frames(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number of frames, 0 or more, got {text!r}")
    return int(text)


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def overrides(args: argparse.Namespace) -> dict[str, object]:
    pairs = {
        "analysis.detect_every": args.detect_every, "analysis.detector": args.detector,
        "analysis.providers": args.providers, "analysis.flip_tta": args.flip_tta,
        "analysis.threads": args.threads, "privacy.anonymous": args.anonymous,
    }
    if args.detect_every is not None:
        pairs["analysis.detection"] = "every_k"  # asking for a cadence asks for the every-k schedule
    return {k: v for k, v in pairs.items() if v is not None}


def check_target(path: Path | None, suffixes: tuple[str, ...] | None, force: bool) -> Path | None:
    """An output path checked before the work: type, folder, what is in the way, a full disk."""
    if path is None:
        return None
    return check_output(path, force=force, suffixes=suffixes)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    path: Path = args.input
    if not path.exists():
        raise InputError(f"{path} does not exist")
    image_input = is_image(path)
    settings = Settings.load(getattr(args, "config", None), overrides(args))
    options = config.options(settings, RunningMode.IMAGE if image_input else RunningMode.VIDEO)
    # Every output is checked now: a bad path must not cost the analysis.
    annotated = check_target(args.out, IMAGE_SUFFIXES if image_input else VIDEO_SUFFIXES, args.force)
    json_out = check_target(args.json_out, None, args.force)
    models = options.models
    pipeline = GalleryPipeline.create(
        options.pipeline, providers=models.provider_names, threads=models.threads, flip_tta=models.flip_tta,
        identity=options.identity, detector=str(models.detector), precision=models.precision, model=models.model,
    )
    try:
        analyses, drawn = analyze_file(pipeline, path, annotated if not image_input else None, args.max_frames,
                                       draw=annotated is not None)
    finally:
        pipeline.close()
    if not analyses:
        raise InputError(f"{path} has no frames")
    if annotated is not None and image_input and drawn is not None:
        write_output(annotated, _encode(annotated, drawn), force=args.force)
    if json_out is not None:
        size = analyses[0].layout.frame_size
        write_output(json_out, json.dumps(document(str(path), size, analyses), indent=1), force=args.force)
    print(summarise(analyses), file=out)
    return 0


def analyze_file(
    pipeline: GalleryPipeline, path: Path, video_out: Path | None, max_frames: int = 0, *, draw: bool = False
) -> tuple[list[Analysis], np.ndarray | None]:
    """The analyses of every frame, and the last frame annotated when ``draw``; a video's
    annotated frames go to ``video_out`` as they are made."""
    source = ImageSource(path, repeat=False) if is_image(path) else VideoSource(path)
    analyses: list[Analysis] = []
    drawn = None
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
                if not draw:
                    continue
                drawn = annotate_faces(frame.image, result.faces, style, result.layout.tiles)
                if video_out is not None:
                    if sink is None:
                        w, h = frame.size
                        sink = FileSink(video_out, w, h, getattr(source, "fps", 25.0) or 25.0)
                    sink.send(drawn)
        finally:
            if sink is not None:
                sink.close()
    return analyses, drawn


def _encode(path: Path, image: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(path.suffix.lower(), image)
    if not ok:
        raise OutputError(f"cannot encode {path} as {path.suffix}")
    return buf.tobytes()


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

"""`fer-overlay demo`: the whole analysis on a generated class, no screen needed.

Builds a synthetic gallery from face photos the install already has (the insightface
package's sample images, or ../shared/data/faces in a development checkout), runs the
video pipeline over a few seconds of it, and writes the annotated gallery, the summary
card, an MP4 and the per-frame JSON. This is the main job on a headless machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TextIO

import numpy as np

from .. import config, specs
from ..analysis.pipeline import GalleryPipeline, RunningMode
from ..config import Settings
from ..errors import InputError
from ..live.mood import MoodHistory, class_mood
from ..outputs import OutputError, check_output, write_output
from ..results import document
from ..sinks import FileSink
from ..synth import GallerySpec, Style, gallery_frames
from ..synth.evaluate import IdSwitches, score_frame
from ..synth.spec import MAX_TILES
from ..types import Frame, View
from ..views.compose import ViewState, render

MAX_FRAMES = 3000  # five minutes at 10 per second; more is a typo, not a demo
OUTPUT_SIZE = (1280, 720)
FILES = ("input.png", "annotated.png", "summary.png", "demo.mp4", "results.json", "summary.txt")


def _whole(lo: int, hi: int, what: str):
    def parse(text: str) -> int:
        value = int(text) if text.strip().lstrip("-").isdigit() else None
        if value is None or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be a whole number of {what} from {lo} to {hi}, got {text!r}")
        return value

    parse.__name__ = what
    return parse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the analysis on a generated gallery and write the results (headless)")
    p.add_argument("--out", type=Path, default=Path("fer_overlay_demo"), help="output folder")
    p.add_argument("--participants", type=_whole(1, MAX_TILES, "participants"), default=16,
                   help=f"students in the gallery, 1 to {MAX_TILES} (one gallery page)")
    p.add_argument("--frames", type=_whole(1, MAX_FRAMES, "frames"), default=30, help="frames at 10 per second")
    p.add_argument("--style", choices=[s.value for s in Style], default=Style.ZOOM.value)
    p.add_argument("--size", type=specs.argument(specs.parse_size), default="1920x1080", help="gallery size WxH")
    p.add_argument("--seed", type=_whole(0, 2**31 - 1, "seed"), default=0)
    p.add_argument("--threads", type=config.cli_value("analysis.threads"), default=None)
    p.set_defaults(func=run)


def prepare_folder(folder: Path) -> dict[str, Path]:
    """The output paths, checked before the work: a folder that can be made and written, and
    nothing but regular files where the results go."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot write the demo to {folder}: it is a file, not a folder") from None
    except OSError as exc:
        raise OutputError(f"cannot create the folder {folder}: {exc.strerror or exc}") from None
    return {name: check_output(folder / name) for name in FILES}


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    w, h = specs.parse_size(args.size)
    try:
        spec = GallerySpec(participants=args.participants, size=(w, h), style=Style(args.style), seed=args.seed)
    except ValueError as exc:
        raise InputError(f"demo: {exc}; use a larger --size or fewer --participants") from None
    overrides = {"analysis.threads": args.threads} if args.threads is not None else {}
    options = config.options(Settings.load(getattr(args, "config", None), overrides), RunningMode.VIDEO)
    paths = prepare_folder(args.out)
    models = options.models
    pipeline = GalleryPipeline.create(
        options.pipeline, providers=models.provider_names, threads=models.threads, flip_tta=models.flip_tta,
        identity=options.identity, detector=str(models.detector), precision=models.precision, model=models.model,
    )
    history = MoodHistory()
    analyses = []
    switches = IdSwitches()
    recall = []
    started = time.perf_counter()
    with FileSink(paths["demo.mp4"], *OUTPUT_SIZE, fps=10) as video:
        for i, (image, truth) in enumerate(gallery_frames(spec, args.frames, seed=args.seed)):
            frame = Frame(image, i, i / 10)
            result = pipeline.process(frame)
            analyses.append(result)
            mood = class_mood(result.faces, result.layout, frame.timestamp)
            history.add(mood)
            score = score_frame(truth, result.faces)
            switches.add(score, result.faces)
            recall.append(score.recall)
            state = ViewState(result.faces, mood, history.series(), 0.0)
            video.send(render(View.SIDEBAR, image, state, OUTPUT_SIZE))
    pipeline.close()
    elapsed = time.perf_counter() - started
    write_output(paths["input.png"], _png(image))
    write_output(paths["annotated.png"], _png(render(View.GALLERY, image, state, (w, h))))
    write_output(paths["summary.png"], _png(render(View.SUMMARY, image, state, OUTPUT_SIZE)))
    write_output(paths["results.json"], json.dumps(document("demo", (w, h), analyses), indent=1))
    counts = Counter(result.faces.labels)
    lines = [
        f"demo: {args.participants} participants ({spec.camera_off_count} camera off), {args.style} style, "
        f"{w}x{h}, {args.frames} frames",
        f"faces found {len(result.faces)} / {spec.participants - spec.camera_off_count}, mean recall "
        f"{sum(recall) / len(recall):.3f}, track-id switches {switches.switches}",
        f"class mood: balance {mood.balance:+.2f}; " + ", ".join(f"{k} {v}" for k, v in counts.most_common()),
        f"speed: {args.frames / elapsed:.1f} frames/s on {pipeline.classifier.provider}",
        f"wrote {args.out}/annotated.png, summary.png, demo.mp4, results.json",
    ]
    text = "\n".join(lines)
    write_output(paths["summary.txt"], text + "\n")
    print(text, file=out)
    return 0


def _png(image: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise OutputError("cannot encode a PNG image")
    return buf.tobytes()

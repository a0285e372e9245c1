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

import cv2

from ..analysis.pipeline import GalleryPipeline, PipelineOptions, RunningMode
from ..live.mood import MoodHistory, class_mood
from ..people.identity import IdentityOptions
from ..results import document
from ..sinks import FileSink
from ..synth import GallerySpec, Style, gallery_frames
from ..synth.evaluate import IdSwitches, score_frame
from ..types import Frame, View
from ..views.compose import ViewState, render


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the analysis on a generated gallery and write the results (headless)")
    p.add_argument("--out", type=Path, default=Path("fer_overlay_demo"), help="output folder")
    p.add_argument("--participants", type=int, default=16)
    p.add_argument("--frames", type=int, default=30, help="frames at 10 per second")
    p.add_argument("--style", choices=[s.value for s in Style], default=Style.ZOOM.value)
    p.add_argument("--size", default="1920x1080", help="gallery size WxH")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    w, h = (int(v) for v in args.size.lower().split("x"))
    spec = GallerySpec(participants=args.participants, size=(w, h), style=Style(args.style), seed=args.seed)
    pipeline = GalleryPipeline.create(
        PipelineOptions(mode=RunningMode.VIDEO), threads=args.threads, identity=IdentityOptions()
    )
    args.out.mkdir(parents=True, exist_ok=True)
    output_size = (1280, 720)
    history = MoodHistory()
    analyses = []
    switches = IdSwitches()
    recall = []
    started = time.perf_counter()
    with FileSink(args.out / "demo.mp4", *output_size, fps=10) as video:
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
            video.send(render(View.SIDEBAR, image, state, output_size))
    elapsed = time.perf_counter() - started
    cv2.imwrite(str(args.out / "input.png"), image)
    cv2.imwrite(str(args.out / "annotated.png"), render(View.GALLERY, image, state, (w, h)))
    cv2.imwrite(str(args.out / "summary.png"), render(View.SUMMARY, image, state, output_size))
    (args.out / "results.json").write_text(json.dumps(document("demo", (w, h), analyses), indent=1))
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
    (args.out / "summary.txt").write_text(text + "\n")
    print(text, file=out)
    return 0

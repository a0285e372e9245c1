"""`fer-overlay analyze INPUT [--out ANNOTATED] [--json RESULTS] [--record]` for an image or a video.

``--record`` makes a recorded class a session (the same record, `report` and `export` as a
live one) as fast as the machine allows; a long video shows its progress on stderr, and
Ctrl+C stops it keeping what was done.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

import numpy as np

from .. import config, defaults, specs
from ..analysis.pipeline import GalleryPipeline, RunningMode
from ..capture import ImageSource, VideoSource
from ..config import Settings
from ..errors import InputError
from ..live.recorder import SessionRecorder
from ..outputs import OutputError, check_output, write_output
from ..results import document
from ..sinks import FileSink
from ..store import locate_db
from ..types import Analysis
from ..views.render import RenderStyle, annotate_faces
from .progress import Progress, clock_text

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
    p.add_argument("--record", action="store_true",
                   help="video: record the analysis as a session (see `sessions`, `report`), as a live run does")
    p.add_argument("--db", type=Path, default=None, metavar="PATH",
                   help="with --record: the session database (default: where `run` records)")
    p.add_argument("--analysis-fps", type=_rate, default=None, metavar="F",
                   help=f"video: analyse F frames per second of video (default: every frame; with --record "
                        f"{defaults.RECORD_ANALYSIS_FPS:g}, about what a live run manages)")
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr")
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


def _rate(text: str) -> float:
    low, high = specs.FPS_RANGE
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be frames per second from {low:g} to {high:g}, got {text!r}")
    return value


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
    if image_input and (args.record or args.analysis_fps is not None):
        raise InputError("--record and --analysis-fps are for a video; an image is one moment, not a class")
    settings = Settings.load(getattr(args, "config", None), overrides(args))
    options = config.options(settings, RunningMode.IMAGE if image_input else RunningMode.VIDEO)
    # Every output is checked now: a bad path must not cost the analysis.
    annotated = check_target(args.out, IMAGE_SUFFIXES if image_input else VIDEO_SUFFIXES, args.force)
    json_out = check_target(args.json_out, None, args.force)
    db = locate_db(args.db, settings.session.data_dir).path if args.record else None
    rate = args.analysis_fps if args.analysis_fps is not None else (defaults.RECORD_ANALYSIS_FPS if db else None)
    models = options.models
    pipeline = GalleryPipeline.create(
        options.pipeline, providers=models.provider_names, threads=models.threads, flip_tta=models.flip_tta,
        identity=options.identity, detector=str(models.detector), precision=models.precision, model=models.model,
        # A recorded class gets what a live one records: emotions relative to each student's baseline.
        baselines=options.baseline if db else None,
    )
    recorder = None
    try:
        if db is not None:
            recorder = _recorder(db, path, options, rate)
        done = analyze_file(pipeline, path, annotated if not image_input else None, args.max_frames,
                            draw=annotated is not None, analysis_fps=rate,
                            on_analysis=recorder.add if recorder else None,
                            progress=not image_input and not args.quiet)
    finally:
        pipeline.close()
        if recorder is not None:
            recorder.close()  # also after Ctrl+C or an error: what was analysed stays recorded
    if not done.analyses:
        raise InputError(f"{path} has no frames")
    if annotated is not None and image_input and done.drawn is not None:
        write_output(annotated, _encode(annotated, done.drawn), force=args.force)
    if json_out is not None:
        size = done.analyses[0].layout.frame_size
        write_output(json_out, json.dumps(document(str(path), size, done.analyses), indent=1), force=args.force)
    print(summarise(done.analyses, done.frames_read), file=out)
    if recorder is not None:
        info = recorder.info
        print(f"recorded session {info.label}: {clock_text(info.duration_s)} of class, "
              f"{info.n_students} student(s), in {recorder.path}; `fer-overlay report {info.label}` "
              "makes its report", file=out)
    if done.interrupted:
        log.warning("stopped by Ctrl+C after %d frame(s); what was analysed is kept", done.frames_read)
        return 130
    return 0


def _recorder(db: Path, path: Path, options: config.Options, rate: float | None) -> SessionRecorder:
    """The session a recording's analysis goes into. Its start is estimated as the file's
    time less its length (a meeting app writes the file when the class ends)."""
    length_s = 0.0
    with contextlib.suppress(InputError), VideoSource(path) as probe:
        length_s = probe.frame_count / probe.fps
    started = datetime.fromtimestamp(path.stat().st_mtime - length_s)
    settings = {"analysed_from": str(path.resolve()), "analysis_fps": rate, "anonymous": options.anonymous,
                "detection": options.pipeline.detection.value, "detect_every": options.pipeline.detect_every,
                "model": options.models.model.value}
    return SessionRecorder(db, f"video:{path}", anonymous=options.anonymous, settings=settings,
                           insight=options.insight, started_at=started)


@dataclass(frozen=True)
class FileAnalysis:
    """What :func:`analyze_file` did: the analyses made, the last frame drawn (``draw``), the
    frames read from the file (analysed or not), and whether Ctrl+C stopped it."""

    analyses: list[Analysis]
    drawn: np.ndarray | None
    frames_read: int
    interrupted: bool = False


def analyze_file(
    pipeline: GalleryPipeline, path: Path, video_out: Path | None, max_frames: int = 0, *, draw: bool = False,
    analysis_fps: float | None = None, on_analysis: Callable[[Analysis], None] | None = None,
    progress: bool = False,
) -> FileAnalysis:
    """Analyse every frame of ``path``, or ``analysis_fps`` frames per second of video time.

    A video's annotated frames go to ``video_out`` as they are made: every frame, drawn with
    the newest analysis, as the live overlay does. Without drawing, frames between analyses
    are passed over undecoded to colour. Ctrl+C ends the loop and keeps what was done.
    """
    source = ImageSource(path, repeat=False) if is_image(path) else VideoSource(path)
    fps = getattr(source, "fps", 0.0) or 25.0
    period = 1.0 / analysis_fps if analysis_fps else 0.0
    total = getattr(source, "frame_count", 0)
    if max_frames > 0:
        total = min(total, max_frames) if total else max_frames
    analyses: list[Analysis] = []
    drawn = None
    sink = None
    read = 0
    due = 0.0  # video time of the next frame to analyse
    interrupted = False
    style = RenderStyle()
    bar = Progress(total or None) if progress else None
    result: Analysis | None = None
    with source:
        try:
            while max_frames <= 0 or read < max_frames:
                if period and not draw and isinstance(source, VideoSource):
                    wanted = math.ceil(due * fps - 1e-6) - read  # frames before the next one due
                    if max_frames > 0:
                        wanted = min(wanted, max_frames - read)
                    read += source.skip(wanted) if wanted > 0 else 0
                    if max_frames > 0 and read >= max_frames:
                        break
                frame = source.read()
                if frame is None:
                    break
                read += 1
                if frame.timestamp + 1e-6 >= due or result is None or not period:
                    result = pipeline.process(frame)
                    analyses.append(result)
                    if on_analysis is not None:
                        on_analysis(result)
                    due = max(due + period, frame.timestamp) if period else 0.0
                if bar is not None:
                    bar.update(read)
                if not draw:
                    continue
                drawn = annotate_faces(frame.image, result.faces, style, result.layout.tiles)
                if video_out is not None:
                    if sink is None:
                        w, h = frame.size
                        sink = FileSink(video_out, w, h, fps)
                    sink.send(drawn)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if bar is not None:
                bar.close()
            if sink is not None:
                sink.close()
    return FileAnalysis(analyses, drawn, read, interrupted)


def _encode(path: Path, image: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(path.suffix.lower(), image)
    if not ok:
        raise OutputError(f"cannot encode {path} as {path.suffix}")
    return buf.tobytes()


def summarise(analyses: list[Analysis], frames_read: int | None = None) -> str:
    last = analyses[-1]
    counts = Counter(label for a in analyses[-1:] for label in a.faces.labels)
    ids = {int(t) for a in analyses for t in a.faces.track_id if t >= 0}
    ms = sorted(a.timings_ms["total"] for a in analyses)
    read = "" if frames_read in (None, len(analyses)) else f" analysed of {frames_read} read"
    parts = [
        f"{len(analyses)} frame(s){read}, layout {last.layout.kind.value} with "
        f"{len(last.layout.tiles) if last.layout.kind.value != 'none' else 0} tiles",
        f"{len(last.faces)} face(s) in the last frame" + (f", {len(ids)} tracks" if ids else ""),
        "emotions: " + (", ".join(f"{k} {v}" for k, v in counts.most_common()) or "none"),
        f"median {ms[len(ms) // 2]:.0f} ms per frame",
    ]
    return "\n".join(parts)

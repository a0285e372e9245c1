"""Track faces across frames so each student keeps one id.

`update(faces, period=k)` on frames where the detector ran (every k-th frame);
`update(None)` in between returns the tracks where they were last seen, which suits
gallery tiles: heads move a few pixels, tiles do not move until the app reorders them.
When the detector looked at part of the frame only (some tiles), `looked` says which
tracks it looked for: the others keep their age, since nobody checked whether they are
still there. Association is IoU with optimal assignment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..types import Faces


@dataclass(frozen=True)
class TrackerOptions:
    iou_threshold: float = 0.3
    max_missed_frames: int = 15  # a face gone this long (in frames) ends its track
    min_hits: int = 1  # detections before a track is reported
    smoothing: float = 0.5  # weight of the new box; damps detector jitter

    def __post_init__(self) -> None:
        if not 0.0 < self.iou_threshold < 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1), got {self.iou_threshold}")
        if self.max_missed_frames < 0:
            raise ValueError(f"max_missed_frames must be >= 0, got {self.max_missed_frames}")
        if self.min_hits < 1:
            raise ValueError(f"min_hits must be >= 1, got {self.min_hits}")
        if not 0.0 < self.smoothing <= 1.0:
            raise ValueError(f"smoothing must be in (0, 1], got {self.smoothing}")


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-6)


@dataclass
class _Track:
    id: int
    faces: Faces  # the last matched detection (one row), box smoothed
    hits: int = 1
    missed: int = 0  # frames since last matched


@dataclass
class Tracker:
    """IoU tracker with stable ids; new ids are never reused within a Tracker."""

    options: TrackerOptions = field(default_factory=TrackerOptions)
    _tracks: list[_Track] = field(default_factory=list, init=False)
    _next_id: int = field(default=1, init=False)
    _matched: set[int] = field(default_factory=set, init=False)

    def reset(self) -> None:
        self._tracks.clear()
        self._matched = set()

    def update(self, faces: Faces | None = None, period: int = 1,
               looked: Callable[[Faces], np.ndarray] | None = None) -> Faces:
        """Tracks after this frame, with `track_id` filled in.

        faces=None: no detection this frame; tracks keep their last box. `period` is
        the number of frames since the previous detection, so track ageing is counted
        in frames whatever the detection cadence. `looked`, for a detection over part of
        the frame: maps the tracks (their last boxes and ids) to the frames each one was
        looked for (0: not looked for; it keeps its age). Any track may still match a
        detection. `last_matched` then says which tracks this detection found.
        """
        if period < 1:
            raise ValueError(f"period must be >= 1, got {period}")
        if faces is None:
            return self._report()
        for t, age in zip(self._tracks, self._ages(period, looked)):
            t.missed += age
        self._associate(faces)
        self._tracks = [t for t in self._tracks if t.missed <= self.options.max_missed_frames]
        return self._report()

    def shift(self, dx: float, dy: float) -> None:
        """Move every track by (dx, dy): the gallery scrolled by that much (its layout says so),
        and the faces in it with it. Without this a face that moved further than its box is
        wide between two detections starts a new track, or takes its neighbour's."""
        if not (dx or dy):
            return
        offset = np.array([dx, dy, dx, dy], np.float32)
        for t in self._tracks:
            f = t.faces
            t.faces = f.with_(xyxy=f.xyxy + offset, landmarks=f.landmarks + np.array([dx, dy], np.float32))

    def _ages(self, period: int, looked: Callable[[Faces], np.ndarray] | None) -> list[int]:
        if looked is None or not self._tracks:
            return [period] * len(self._tracks)
        ages = np.asarray(looked(self._all())).reshape(-1)
        if ages.shape != (len(self._tracks),):
            raise ValueError(f"looked gave {ages.shape[0]} ages for {len(self._tracks)} tracks")
        return np.clip(ages, 0, None).astype(np.int64).tolist()

    def _associate(self, faces: Faces) -> None:
        tracks = self._tracks
        matched_dets: set[int] = set()
        matched_tracks: set[int] = set()
        self._matched = matched_tracks  # filled in below, read through last_matched
        if tracks and len(faces):
            boxes = np.concatenate([t.faces.xyxy for t in tracks])
            # Overlap alone decides, not the tile index: indices change when a gallery scrolls
            # or its layout is re-read, while the face stays where it was. Who a face *is*
            # after a reorder is the name's job (identity.py), not the tracker's.
            iou = iou_matrix(boxes, faces.xyxy)
            rows, cols = linear_sum_assignment(-iou)
            for r, c in zip(rows, cols):
                if iou[r, c] < self.options.iou_threshold:
                    continue
                t = tracks[r]
                self._match(t, faces, int(c))
                matched_dets.add(int(c))
                matched_tracks.add(t.id)
        self._match_within_tiles(faces, matched_dets, matched_tracks)
        for c in range(len(faces)):
            if c not in matched_dets:
                tracks.append(_Track(self._next_id, faces[[c]]))
                self._next_id += 1

    def _match(self, t: _Track, faces: Faces, c: int) -> None:
        a = self.options.smoothing
        box = a * faces.xyxy[c] + (1 - a) * t.faces.xyxy[0]
        t.faces = faces[[c]].with_(xyxy=box[None])
        t.hits += 1
        t.missed = 0

    def _match_within_tiles(self, faces: Faces, matched: set[int], taken: set[int]) -> None:
        """Second chance for a face that moved too far for IoU but stayed in its tile.

        A gallery that scrolls, or a tile read at its old place for a frame, moves a face
        by a third of its size between detections. A track left unmatched in this round
        takes the nearest unmatched face of the same tile within one face size, which
        keeps one id instead of a ghost beside a new one. `taken`: ids matched already
        (not "missed == 0": a track nobody looked for this frame is still free to match).
        """
        for c in range(len(faces)):
            if c in matched or faces.tile[c] < 0:
                continue
            centre = faces.centers[c]
            best, best_d = None, np.inf
            for t in self._tracks:
                if t.id in taken or t.faces.tile[0] != faces.tile[c]:
                    continue
                size = float(t.faces.sizes[0])
                d = float(np.hypot(*(t.faces.centers[0] - centre)))
                if d <= size and d < best_d:
                    best, best_d = t, d
            if best is not None:
                self._match(best, faces, c)
                taken.add(best.id)
                matched.add(c)

    def _report(self) -> Faces:
        live = [t for t in self._tracks if t.hits >= self.options.min_hits]
        if not live:
            return Faces.empty()
        return Faces.concat([t.faces for t in live], track_id=np.array([t.id for t in live], np.int64))

    @property
    def faces(self) -> Faces:
        """The reported tracks as they stand, without advancing a frame."""
        return self._report()

    def _all(self) -> Faces:
        """Every track (reported or not yet), with its id."""
        return Faces.concat([t.faces for t in self._tracks],
                            track_id=np.array([t.id for t in self._tracks], np.int64))

    @property
    def last_matched(self) -> frozenset[int]:
        """Ids of the tracks the last detection (update with faces) found."""
        return frozenset(self._matched)

    @property
    def coasting(self) -> Faces:
        """Tracks their last look did not find (kept until max_missed_frames), with ids."""
        lost = [t for t in self._tracks if t.missed > 0]
        if not lost:  # the usual case: nothing to build
            return Faces.empty()
        return Faces.concat([t.faces for t in lost], track_id=np.array([t.id for t in lost], np.int64))

    @property
    def active_ids(self) -> tuple[int, ...]:
        return tuple(t.id for t in self._tracks)

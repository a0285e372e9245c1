"""Scoring analysis results against synthetic-gallery ground truth (tests and benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..analysis.track import iou_matrix
from ..types import Faces
from . import GalleryTruth, TileKind

MATCH_IOU = 0.3


@dataclass(frozen=True)
class FrameScore:
    faces: int  # ground-truth faces
    found: int  # of them, matched by a detection
    false: int  # detections matching no ground-truth face
    tiles: int
    matches: dict[int, int]  # participant -> index into Faces

    @property
    def recall(self) -> float:
        return self.found / self.faces if self.faces else 1.0


def score_frame(truth: GalleryTruth, faces: Faces) -> FrameScore:
    face_tiles = [t for t in truth.tiles if t.kind is TileKind.FACE and t.face_xyxy is not None]
    gt = np.array([t.face_xyxy for t in face_tiles], np.float32).reshape(-1, 4)
    iou = iou_matrix(gt, faces.xyxy)
    matches: dict[int, int] = {}
    if iou.size:
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols):
            if iou[r, c] >= MATCH_IOU:
                matches[face_tiles[r].participant] = int(c)
    return FrameScore(len(gt), len(matches), len(faces) - len(matches), len(truth.tiles), matches)


@dataclass
class IdSwitches:
    """Counts how often a participant's track id changes (the MOT 'IDSW' figure)."""

    switches: int = 0
    _last: dict[int, int] = field(default_factory=dict)

    def add(self, score: FrameScore, faces: Faces) -> None:
        for participant, i in score.matches.items():
            tid = int(faces.track_id[i])
            if tid < 0:
                continue
            prev = self._last.get(participant)
            if prev is not None and prev != tid:
                self.switches += 1
            self._last[participant] = tid

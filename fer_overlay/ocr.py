"""Read the name label of a gallery tile with rapidocr's recogniser (ONNX models in its wheel).

Full text detection costs seconds per tile on a laptop CPU, so we find the label line
ourselves: all three apps print names as light text on a darker patch near the bottom
left of the tile (centred, and larger, for camera-off tiles). A white top-hat picks
thin bright strokes whatever the background; strokes merged horizontally form lines;
the best line is cropped and only the recogniser runs, batched over tiles.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .errors import ModelError
from .names import StudentName, normalise

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NameReading:
    raw: str
    name: StudentName | None
    score: float


@dataclass(frozen=True)
class OcrOptions:
    min_score: float = 0.75  # recogniser confidence below this counts as unreadable
    label_band: float = 0.32  # bottom fraction of a tile searched for the label
    threads: int = 1  # names are read rarely; leave the cores to the emotion pipeline


def _text_lines(grey: np.ndarray, min_h: int, max_h: int) -> list[tuple[int, int, int, int]]:
    """Candidate text-line boxes (x, y, w, h) of light text in a grey image."""
    k = max(3, (max_h // 2) | 1)
    tophat = cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    mask = ((tophat > 45) & (grey > 150)).astype(np.uint8)
    gap = max(3, min_h // 2 + 2)
    merged = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (gap * 2 + 1, 3)))
    n, _, stats, _ = cv2.connectedComponentsWithStats(merged, connectivity=8)
    lines = []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if min_h <= h <= max_h and w >= 1.5 * h and area >= 0.15 * w * h:
            lines.append((int(x), int(y), int(w), int(h)))
    return lines


def locate_label(tile: np.ndarray, has_face: bool, band: float = 0.32) -> tuple[int, int, int, int] | None:
    """Box (x, y, w, h) of the name label in a BGR tile, or None."""
    th, tw = tile.shape[:2]
    if th < 16 or tw < 32:
        return None
    grey = cv2.cvtColor(tile, cv2.COLOR_BGR2GRAY) if tile.ndim == 3 else tile
    y0 = int(th * (1 - band)) if has_face else 0
    region = grey[y0:]
    lines = _text_lines(region, max(5, th // 40), max(8, th // 5 if has_face else th // 3))
    if not lines:
        return None
    if has_face:
        # Bottom-left wins: that is where Zoom, Meet and Teams put the name.
        best = min(lines, key=lambda b: (b[0] / tw) - (b[1] + b[3]) / region.shape[0])
    else:
        cx, cy = tw / 2, region.shape[0] / 2
        best = max(lines, key=lambda b: b[2] * b[3] / (1 + abs(b[0] + b[2] / 2 - cx) + abs(b[1] + b[3] / 2 - cy)))
    x, y, w, h = best
    pad = max(2, h // 3)
    x1, y1 = max(0, x - pad), max(0, y + y0 - pad)
    x2, y2 = min(tw, x + w + pad), min(th, y + y0 + h + pad)
    return x1, y1, x2 - x1, y2 - y1


class NameReader:
    """Reads tile labels; the recogniser is loaded on first use."""

    def __init__(self, options: OcrOptions = OcrOptions()) -> None:
        self.options = options
        self._engine = None

    def _rec(self):
        if self._engine is None:
            try:
                from rapidocr import RapidOCR
            except ImportError as exc:
                raise ModelError("name reading needs rapidocr: python scripts/install.py installs it") from exc
            params = {
                "Global.log_level": "error", "Global.use_det": False, "Global.use_cls": False,
                "EngineConfig.onnxruntime.intra_op_num_threads": self.options.threads,
            }
            self._engine = RapidOCR(params=params)
            probe = np.full((32, 96, 3), 255, np.uint8)
            self._engine(probe)  # loads the recogniser model now, not mid-session
        return self._engine.text_rec

    def read_lines(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        if not crops:
            return []
        from rapidocr.ch_ppocr_rec.typings import TextRecInput

        out = self._rec()(TextRecInput(img=list(crops)))
        return [(str(t), float(s)) for t, s in zip(out.txts, out.scores)]

    def read_tiles(self, tiles: Sequence[np.ndarray], has_face: Sequence[bool]) -> list[NameReading | None]:
        """One reading per tile; None where no label was found."""
        boxes = [locate_label(t, f, self.options.label_band) for t, f in zip(tiles, has_face)]
        crops = [t[y : y + h, x : x + w] for t, b in zip(tiles, boxes) if b is not None for x, y, w, h in [b]]
        texts = iter(self.read_lines(crops))
        readings: list[NameReading | None] = []
        for b in boxes:
            if b is None:
                readings.append(None)
                continue
            raw, score = next(texts)
            name = normalise(raw) if score >= self.options.min_score else None
            readings.append(NameReading(raw, name, score))
        return readings

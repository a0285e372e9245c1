"""Read the name label of a gallery tile with rapidocr's recogniser (ONNX models in its wheel).

Full text detection costs seconds per tile on a laptop CPU, so we find the label line
ourselves: all three apps print names as light text, on a darker patch or with a
shadow, at the bottom left of the tile (Zoom's camera-off tiles also show the name
large in the middle). A white top-hat picks thin bright strokes whatever the
background; strokes merged horizontally form words, words on one baseline form lines;
the bottom-left line is cropped and only the recogniser runs, batched over tiles.
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

Box = tuple[int, int, int, int]  # x, y, w, h


@dataclass(frozen=True)
class NameReading:
    raw: str
    name: StudentName | None
    score: float


@dataclass(frozen=True)
class OcrOptions:
    min_score: float = 0.75  # recogniser confidence below this counts as unreadable
    label_band: float = 0.32  # bottom fraction of a tile searched for the label
    rec_height: int = 48  # the recogniser's input height; crops are scaled to it here, with a sharper filter
    threads: int = 1  # names are read rarely; leave the cores to the emotion pipeline

    def __post_init__(self) -> None:
        if not 0.05 <= self.label_band <= 1.0:
            raise ValueError(f"label_band must be in [0.05, 1], got {self.label_band}")
        if not 16 <= self.rec_height <= 128:
            raise ValueError(f"rec_height must be in [16, 128], got {self.rec_height}")


# Tunables for experiments (module level so the bench can vary them).
TOPHAT_K = 7
TOPHAT_T = 40
MIN_GREY = 150
PREP = "cubic"
XSCALE = 1.0
BORDER = 0
CORNER = 0.0


def _glyphs(grey: np.ndarray, max_h: int) -> list[Box]:
    """Boxes of light, thin-stroked blobs (letters, or a few letters touching) in a grey image."""
    # The opening removes strokes thinner than the kernel, so the top-hat keeps text and drops
    # bright areas (shirts, windows, walls) wider than a stroke.
    k = TOPHAT_K
    tophat = cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    mask = ((tophat > TOPHAT_T) & (grey > MIN_GREY)).astype(np.uint8)
    if BORDER:
        b = BORDER
        mask[:, :b] = 0
        mask[:, -b:] = 0
        mask[-b:] = 0
    if CORNER:
        c = max(3, round(CORNER * H_TILE))
        mask[-c:, :c] = 0
        mask[-c:, -c:] = 0
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    return [(int(x), int(y), int(w), int(h)) for x, y, w, h, area in stats[1:] if 2 <= h <= max_h and area >= 3]


def _lines(glyphs: list[Box], min_h: int, max_h: int) -> list[tuple[Box, int]]:
    """Glyphs chained left to right into lines: (box, glyph count) per line.

    A glyph joins a line when it shares most of its rows and follows within about a line
    height, so a book spine or shelf edge that touches the text's rows only at one end stays out."""
    lines: list[list[int]] = []  # x1, y1, x2, y2, count
    for x, y, w, h in sorted(glyphs):
        best = None
        for ln in lines:
            x1, y1, x2, y2, _ = ln
            overlap = min(y + h, y2) - max(y, y1)
            if overlap >= 0.5 * min(h, y2 - y1) and -2 <= x - x2 <= 1.2 * max(y2 - y1, min_h) + 1:
                best = ln
                break
        if best is None:
            lines.append([x, y, x + w, y + h, 1])
        else:
            best[0], best[1] = min(best[0], x), min(best[1], y)
            best[2], best[3] = max(best[2], x + w), max(best[3], y + h)
            best[4] += 1
    out = []
    for x1, y1, x2, y2, count in lines:
        w, h = x2 - x1, y2 - y1
        if count >= 2 and min_h <= h <= max_h and w >= 1.5 * h:
            out.append(((x1, y1, w, h), count))
    return out


def locate_label(tile: np.ndarray, has_face: bool, band: float = 0.32) -> Box | None:
    """Box (x, y, w, h) of the name label in a BGR tile, or None.

    The small bottom-left label comes first on every tile: it is where all three apps print
    the name, in the same font everywhere; only a camera-off tile without one falls back to
    the line nearest its centre (Zoom's large name)."""
    th, tw = tile.shape[:2]
    if th < 16 or tw < 32:
        return None
    grey = cv2.cvtColor(tile, cv2.COLOR_BGR2GRAY) if tile.ndim == 3 else tile
    global H_TILE
    H_TILE = th
    y0 = int(th * (1 - band))
    min_h, max_h = max(5, th // 30), max(10, th // 6)
    lines = _lines(_glyphs(grey[y0:], max_h), min_h, max_h)
    left = [b for b, _ in lines if b[0] <= 0.2 * tw]
    if left:
        x, y, w, h = max(left, key=lambda b: b[1] + b[3])
        y += y0
    elif has_face:
        return None
    else:
        big = max(max_h, th // 3)
        every = [b for b, _ in _lines(_glyphs(grey, big), min_h, big)]
        if not every:
            return None
        cx, cy = tw / 2, th / 2
        x, y, w, h = min(every, key=lambda b: abs(b[0] + b[2] / 2 - cx) + abs(b[1] + b[3] / 2 - cy))
    pad = max(2, h // 4)
    x1, y1 = max(0, x - pad), max(0, y - pad)
    x2, y2 = min(tw, x + w + pad), min(th, y + h + pad)
    return x1, y1, x2 - x1, y2 - y1


def prepare_crop(crop: np.ndarray, height: int) -> np.ndarray:
    """A label crop as the recogniser reads best: `height` px tall, dark text on light."""
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    scale = height / grey.shape[0]
    if XSCALE != 1.0:
        crop = cv2.resize(crop, None, fx=XSCALE, fy=1.0, interpolation=cv2.INTER_CUBIC)
        grey = cv2.resize(grey, None, fx=XSCALE, fy=1.0, interpolation=cv2.INTER_CUBIC)
    if PREP == "raw":
        return crop
    if PREP == "cubic":
        return cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), height), interpolation=cv2.INTER_CUBIC)
    big = cv2.resize(grey, (max(1, round(grey.shape[1] * scale)), height), interpolation=cv2.INTER_CUBIC)
    if PREP == "inv":
        big = 255 - big
    elif PREP == "stretch":
        lo = float(np.percentile(big, 50))
        big = np.clip((big.astype(np.float32) - lo) * (255.0 / max(255.0 - lo, 1.0)), 0, 255).astype(np.uint8)
        big = 255 - big
    return cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)


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

    def load(self) -> None:
        """Load the recogniser now (it otherwise loads on the first read)."""
        self._rec()

    def read_lines(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        if not crops:
            return []
        from rapidocr.ch_ppocr_rec.typings import TextRecInput

        out = self._rec()(TextRecInput(img=list(crops)))
        return [(str(t), float(s)) for t, s in zip(out.txts, out.scores)]

    def read_tiles(self, tiles: Sequence[np.ndarray], has_face: Sequence[bool]) -> list[NameReading | None]:
        """One reading per tile; None where no label was found."""
        boxes = [locate_label(t, f, self.options.label_band) for t, f in zip(tiles, has_face)]
        crops = [prepare_crop(t[y : y + h, x : x + w], self.options.rec_height)
                 for t, b in zip(tiles, boxes) if b is not None for x, y, w, h in [b]]
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

"""Read the name label of a gallery tile with rapidocr's recogniser (ONNX models in its wheel).

Full text detection costs seconds per tile on a laptop CPU, so we find the label line
ourselves: all three apps print names as light text, on a darker patch or with a
shadow, at the bottom left of the tile (Zoom's camera-off tiles also show the name
large in the middle). A white top-hat picks thin bright strokes whatever the
background; strokes chained left to right along shared rows form lines; the
bottom-left line is cropped and only the recogniser runs, batched over tiles.
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


@dataclass(frozen=True)
class Label:
    """Where a tile's name line is, in tile pixels."""

    box: Box  # padded for the recogniser
    line_height: int  # of the text itself, ascenders to descenders


# A square top-hat this wide keeps strokes of UI fonts up to ~18 px (1-3 px thick) and
# drops bright things wider than that (shirts, windows, most book spines).
_TOPHAT_K = 7
_TOPHAT_MIN = 40  # grey levels above the local background
_TEXT_MIN = 150  # labels are white or near-white in all three apps
_PAD = 0.4  # of the line height around the text: the recogniser wants some margin


def _glyphs(grey: np.ndarray, max_h: int) -> list[Box]:
    """Boxes of light, thin-stroked blobs (letters, or a few letters touching) in a grey image."""
    # The opening removes strokes thinner than the kernel, so the top-hat keeps text and drops
    # bright areas (shirts, windows, walls) wider than a stroke.
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (_TOPHAT_K, _TOPHAT_K))
    tophat = cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, kernel)
    mask = ((tophat > _TOPHAT_MIN) & (grey > _TEXT_MIN)).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    gh, gw = grey.shape
    out = []
    for x, y, w, h, area in stats[1:]:
        # Blobs on the tile's edge are rounded-corner rims or cut-off background, never text:
        # every app keeps its label a few pixels inside the tile.
        if x <= 1 or x + w >= gw - 1 or y + h >= gh - 1:
            continue
        if 2 <= h <= max_h and area >= 3:
            out.append((int(x), int(y), int(w), int(h)))
    return out


def _lines(glyphs: list[Box], min_h: int, max_h: int) -> list[list[Box]]:
    """Glyphs chained left to right into lines (lists of glyph boxes).

    A glyph joins a line when it shares most of its rows and follows within about a line
    height, so a book spine or shelf edge that touches the text's rows only at one end stays out."""
    lines: list[tuple[list[int], list[Box]]] = []  # ([x1, y1, x2, y2], glyphs)
    for g in sorted(glyphs):
        x, y, w, h = g
        for ext, members in lines:
            x1, y1, x2, y2 = ext
            overlap = min(y + h, y2) - max(y, y1)
            if overlap >= 0.5 * min(h, y2 - y1) and -2 <= x - x2 <= 1.2 * max(y2 - y1, min_h) + 1:
                ext[:] = [min(x1, x), min(y1, y), max(x2, x + w), max(y2, y + h)]
                members.append(g)
                break
        else:
            lines.append(([x, y, x + w, y + h], [g]))
    out = []
    for (x1, y1, x2, y2), members in lines:
        w, h = x2 - x1, y2 - y1
        if len(members) >= 2 and min_h <= h <= max_h and w >= 1.5 * h:
            out.append(members)
    return out


def _extent(members: list[Box]) -> Box:
    x1 = min(g[0] for g in members)
    y1 = min(g[1] for g in members)
    x2 = max(g[0] + g[2] for g in members)
    y2 = max(g[1] + g[3] for g in members)
    return x1, y1, x2 - x1, y2 - y1


def find_label(tile: np.ndarray, has_face: bool, band: float = 0.32) -> Label | None:
    """The name line of a BGR tile, or None.

    The small bottom-left label comes first on every tile: it is where all three apps print
    the name, in the same font everywhere; only a camera-off tile without one falls back to
    the line nearest its centre (Zoom's large name)."""
    th, tw = tile.shape[:2]
    if th < 16 or tw < 32:
        return None
    grey = cv2.cvtColor(tile, cv2.COLOR_BGR2GRAY) if tile.ndim == 3 else tile
    y0 = int(th * (1 - band))
    min_h, max_h = max(5, th // 30), max(10, th // 6)
    lines = [m for m in _lines(_glyphs(grey[y0:], max_h), min_h, max_h) if _extent(m)[0] <= 0.2 * tw]
    if lines:
        members = max(lines, key=lambda m: sum(_extent(m)[1::2]))
        members = [(x, y + y0, w, h) for x, y, w, h in members]
    elif has_face:
        return None
    else:
        big = max(max_h, th // 3)
        every = _lines(_glyphs(grey, big), min_h, big)
        if not every:
            return None
        cx, cy = tw / 2, th / 2

        def off_centre(m: list[Box]) -> float:
            x, y, w, h = _extent(m)
            return abs(x + w / 2 - cx) + abs(y + h / 2 - cy)

        members = min(every, key=off_centre)
    x, y, w, h = _extent(members)
    pad = max(2, round(_PAD * h))
    x1, y1 = max(0, x - pad), max(0, y - pad)
    x2, y2 = min(tw, x + w + pad), min(th, y + h + pad)
    return Label((x1, y1, x2 - x1, y2 - y1), h)


def locate_label(tile: np.ndarray, has_face: bool, band: float = 0.32) -> Box | None:
    """Box (x, y, w, h) of the name label in a BGR tile, or None."""
    label = find_label(tile, has_face, band)
    return label.box if label else None


def prepare_crop(tile: np.ndarray, label: Label, height: int = 48) -> np.ndarray:
    """The label cut from `tile` as the recogniser reads it best: `height` px tall, dark text on light.

    Scaling here with a cubic filter (the recogniser would scale bilinearly) keeps small UI
    text crisp; grey, inverted text matches the printed pages the model mostly learned on,
    and drops the colours of whatever is behind a bare (Meet) label."""
    x, y, w, h = label.box
    crop = tile[y : y + h, x : x + w]
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    size = (max(1, round(grey.shape[1] * height / grey.shape[0])), height)
    big = cv2.resize(grey, size, interpolation=cv2.INTER_CUBIC)
    return cv2.cvtColor(255 - big, cv2.COLOR_GRAY2BGR)


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
        labels = [find_label(t, f, self.options.label_band) for t, f in zip(tiles, has_face)]
        crops = [prepare_crop(t, lb, self.options.rec_height) for t, lb in zip(tiles, labels) if lb is not None]
        texts = iter(self.read_lines(crops))
        readings: list[NameReading | None] = []
        for lb in labels:
            if lb is None:
                readings.append(None)
                continue
            raw, score = next(texts)
            name = normalise(raw) if score >= self.options.min_score else None
            readings.append(NameReading(raw, name, score))
        return readings

"""Find and read text on the screen with rapidocr's models (both ONNX files ship in its wheel).

Two ways to find a name line:

* :class:`TextDetector`, rapidocr's own DB text detector, run through
  :func:`fer_overlay.inference.runtime.create_session` (one place picks execution providers). It
  finds text whatever the app, theme or layout. A whole 1080p frame costs seconds on a
  laptop CPU, so callers hand it only the regions where labels can be (below faces, the
  bottom of tiles), packed into one mosaic per call and scaled to the screen's size.
* :func:`find_label`, a cheap white top-hat for one tile: the three apps print names as
  light text, on a darker patch or with a shadow, at the bottom left of the tile. Kept
  for :meth:`NameReader.read_tiles` and scripts/bench_names.py.

Only the recogniser reads what either one found, batched.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import ModelError
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

    def read_boxes(self, image: np.ndarray, boxes: Sequence[Box]) -> list[NameReading]:
        """One reading per text box (x1, y1, x2, y2 in `image` pixels), e.g. from :class:`TextDetector`."""
        crops = [text_crop(image, b, self.options.rec_height) for b in boxes]
        readings = []
        for raw, score in self.read_lines(crops):
            name = normalise(raw) if score >= self.options.min_score else None
            readings.append(NameReading(raw, name, score))
        return readings


def text_crop(image: np.ndarray, box: Box, height: int = 48) -> np.ndarray:
    """A detected text box as the recogniser reads it best: `height` px tall, dark text on light.

    The detector finds text of either polarity (white labels on video, dark text in a light
    theme); the rarer of the two Otsu classes is the ink, and it is made dark."""
    x1, y1, x2, y2 = box
    pad = round(0.25 * (y2 - y1))  # the detector's box can clip the first letter's serif or stem
    crop = image[max(0, y1) : y2, max(0, x1 - pad) : x2 + pad]
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    if grey.size == 0:
        return np.full((height, height, 3), 255, np.uint8)
    thresh, _ = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    if np.count_nonzero(grey > thresh) < grey.size / 2:
        grey = 255 - grey
    size = (max(1, round(grey.shape[1] * height / grey.shape[0])), height)
    big = cv2.resize(grey, size, interpolation=cv2.INTER_CUBIC)
    return cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)


def ink_contrast(image: np.ndarray, box: Box) -> float:
    """How far the ink of a text box (x1, y1, x2, y2) stands out from its background, in grey
    levels: positive for light text, negative for dark; 0 for an empty box.

    The ink is the rarer of the two Otsu classes, as in :func:`text_crop`. One app prints a label
    in one colour on one backdrop, so its parts agree; a shirt's print or a poster beside it
    (dark on light, or dim on a busy video) does not."""
    x1, y1, x2, y2 = box
    crop = image[max(0, y1) : y2, max(0, x1) : x2]
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    if grey.size < 4:
        return 0.0
    thresh, _ = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    light = grey > thresh
    if not light.any() or light.all():
        return 0.0
    contrast = float(grey[light].mean()) - float(grey[~light].mean())
    return contrast if np.count_nonzero(light) <= light.size / 2 else -contrast


def split_at_gaps(image: np.ndarray, box: Box, gap: float = 0.9) -> list[Box]:
    """A detected line (x1, y1, x2, y2) cut where no ink runs for `gap` line heights.

    The detector joins neighbouring tiles' labels into one line when a strip of small tiles
    puts them close together ("Virginia García Alonso   Yanina Bellini Saibene"); a word
    space is about a third of the line height, the space between two labels much more."""
    x1, y1, x2, y2 = box
    crop = image[y1:y2, x1:x2]
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    h = y2 - y1
    if grey.size == 0 or x2 - x1 < 4 * h:
        return [box]
    thresh, _ = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    ink = grey > thresh
    if np.count_nonzero(ink) > ink.size / 2:
        ink = ~ink
    inked = np.flatnonzero(ink.sum(axis=0) > 0)
    if len(inked) < 2:
        return [box]
    breaks = np.flatnonzero(np.diff(inked) > max(4.0, gap * h))
    if not len(breaks):
        return [box]
    starts = [inked[0], *inked[breaks + 1]]
    ends = [*inked[breaks], inked[-1]]
    pad = max(1, h // 6)
    return [(max(x1, x1 + int(a) - pad), y1, min(x2, x1 + int(b) + 1 + pad), y2) for a, b in zip(starts, ends)]


# --- text detection ---------------------------------------------------------------------

Rect = tuple[int, int, int, int]  # x1, y1, x2, y2


@dataclass(frozen=True)
class DetectorOptions:
    """rapidocr's own post-processing defaults, and how regions are packed for one call."""

    threshold: float = 0.3  # text probability that marks a pixel as text
    box_threshold: float = 0.5  # mean probability inside a region for it to count
    unclip: float = 1.6  # DB shrinks text regions when it learns them; grow them back this much
    mosaic_width: int = 1280  # regions are packed into rows this wide (input pixels)
    mosaic_height: int = 1024  # a taller mosaic is split into several calls
    reference_height: int = 810  # screens taller than this are scaled down to it for the detector
    threads: int = 1  # names are read rarely; leave the cores to the emotion pipeline

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0 or not 0.0 < self.box_threshold < 1.0:
            raise ValueError("threshold and box_threshold must be in (0, 1)")
        if min(self.mosaic_width, self.mosaic_height, self.reference_height) < 64:
            raise ValueError("mosaic_width, mosaic_height and reference_height must be >= 64")


def detector_model_path() -> Path:
    """The text detector ONNX file inside the rapidocr wheel (never downloaded)."""
    try:
        import rapidocr
    except ImportError as exc:
        raise ModelError("text detection needs rapidocr: python scripts/install.py installs it") from exc
    folder = Path(rapidocr.__file__).parent / "models"
    found = sorted(folder.glob("*_det_*.onnx"))
    if not found:
        raise ModelError(f"rapidocr's text detector model is missing from {folder}; reinstall rapidocr")
    return found[0]


_GAP = 16  # input pixels between packed regions: more than the detector's smear across an edge
# Each region's edge pixels run this far into the gap around it, fading into the grey. Cut
# sharp from flat grey, a thin band (a small tile's bottom 46 px, its label 7 px tall) is a bar
# the detector boxes whole as one huge word, or finds nothing in, and the label inside goes
# unseen (9 of LiveKit's 12); bands whose edges run on unfaded merge into one picture, where
# small labels fade out (3 of 12). Faded, it found all 12, at every scale tried.
_BLEED = _GAP // 2
_ALIGN = 32  # the network downsamples by 32


@dataclass(frozen=True)
class _Placed:
    region: int  # index into the caller's regions
    x: int
    y: int
    w: int
    h: int


def _pack(sizes: Sequence[tuple[int, int]], max_w: int, max_h: int) -> list[list[_Placed]]:
    """Shelf-pack (w, h) boxes into mosaics at most max_w wide (wider boxes get their own row)
    and about max_h high; returns the placements of each mosaic."""
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i][1])
    mosaics: list[list[_Placed]] = []
    current: list[_Placed] = []
    x = y = shelf_h = 0
    for i in order:
        w, h = sizes[i]
        if x and x + w + _GAP > max_w:
            x, y, shelf_h = 0, y + shelf_h + _GAP, 0
        if current and y + h + _GAP > max_h:
            mosaics.append(current)
            current, x, y, shelf_h = [], 0, 0, 0
        current.append(_Placed(i, x + _GAP, y + _GAP, w, h))
        x += w + _GAP
        shelf_h = max(shelf_h, h)
    if current:
        mosaics.append(current)
    return mosaics


class TextDetector:
    """Text boxes in image regions, from rapidocr's DB detector; the model loads on first use."""

    def __init__(self, options: DetectorOptions = DetectorOptions(), providers: Sequence[str] | None = None) -> None:
        self.options = options
        self.providers = providers
        self._session = None
        self._input = ""

    def load(self) -> None:
        if self._session is None:
            from ..inference.runtime import create_session

            self._session, _ = create_session(detector_model_path(), self.providers, self.options.threads,
                                              name="text detector")
            self._input = self._session.get_inputs()[0].name

    def scale_for(self, image_height: int) -> float:
        """Input scale for a screen this high: UI labels (12-18 px at 1080p) stay >= ~9 px,
        where the detector still finds every one of them; below that it merges and misses lines.
        Small screenshots are enlarged up to 1.5x (a 720p capture is read at 1.125x)."""
        return min(1.5, self.options.reference_height / max(1, image_height))

    def detect(self, crops: Sequence[np.ndarray], scale: float) -> list[list[Rect]]:
        """Text boxes (x1, y1, x2, y2 in each crop's pixels) found in each BGR crop.

        Crops are scaled by `scale` and packed side by side, so many small regions cost
        one inference."""
        self.load()
        scaled, sizes = [], []
        for crop in crops:
            w, h = max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            blank = np.zeros((h, w, 3), np.uint8)
            scaled.append(cv2.resize(crop, (w, h), interpolation=interp) if crop.size else blank)
            sizes.append((w, h))
        found: list[list[Rect]] = [[] for _ in crops]
        for mosaic in _pack(sizes, self.options.mosaic_width, self.options.mosaic_height):
            for p, (x1, y1, x2, y2) in self._run(mosaic, scaled):
                ch, cw = crops[p.region].shape[:2]
                found[p.region].append((int(x1 / scale), int(y1 / scale),
                                        min(cw, int(np.ceil(x2 / scale))), min(ch, int(np.ceil(y2 / scale)))))
        return found

    def _run(self, placed: list[_Placed], crops: list[np.ndarray]) -> list[tuple[_Placed, Rect]]:
        w = _aligned(max(p.x + p.w for p in placed) + _GAP)
        h = _aligned(max(p.y + p.h for p in placed) + _GAP)
        canvas = np.full((h, w, 3), 128, np.uint8)  # mid-grey is 0 after normalisation: no edges, no text
        b = _BLEED
        for p in placed:
            canvas[p.y - b : p.y + p.h + b, p.x - b : p.x + p.w + b] = _faded(crops[p.region], b)
        x = canvas.astype(np.float32) * (2 / 255.0) - 1.0  # rapidocr's mean 0.5, std 0.5
        assert self._session is not None
        prob = self._session.run(None, {self._input: x.transpose(2, 0, 1)[None]})[0][0, 0]
        out = []
        for x1, y1, x2, y2 in self._boxes(prob):
            for p in placed:
                if _inside((x1, y1, x2, y2), p):
                    local = (max(0, x1 - p.x), max(0, y1 - p.y), min(p.w, x2 - p.x), min(p.h, y2 - p.y))
                    out.append((p, local))
        return out

    def _boxes(self, prob: np.ndarray) -> list[Rect]:
        """DB post-processing for horizontal UI text: components of the thresholded map, kept when
        their mean probability is high, grown back by the unclip distance (area * ratio / perimeter).

        A weak component on a kept one's line, a word gap or less from it, is part of that text:
        the detector is often unsure of a label's first letters beside an icon ("Zoe Campbell" in
        a mosaic of four: "Zo" at 0.3-0.7, "Campbell" at 0.9, a space at 0.25 between them), and
        the box without it read "e Campbell", a different student."""
        opts = self.options
        mask = cv2.dilate((prob > opts.threshold).astype(np.uint8), np.ones((2, 2), np.uint8))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
        if n <= 1:
            return []
        mean = np.bincount(labels.ravel(), weights=prob.ravel(), minlength=n) / np.maximum(stats[:, 4], 1)
        comps = stats[1:, :4].astype(np.int64)
        comps[:, 2:] += comps[:, :2]  # x1, y1, x2, y2 (exclusive)
        strong = (np.minimum(stats[1:, 2], stats[1:, 3]) >= 3) & (mean[1:] >= opts.box_threshold)
        weak = [c for c, s in zip(comps.tolist(), strong.tolist()) if not s]
        out = []
        for x1, y1, x2, y2 in comps[strong].tolist():
            x1, x2 = _joined(x1, y1, x2, y2, weak)
            w, h = x2 - x1, y2 - y1
            d = w * h * opts.unclip / (2 * (w + h))
            out.append((int(x1 - d), int(y1 - d), int(np.ceil(x2 + d)), int(np.ceil(y2 + d))))
        return out


def _joined(x1: int, y1: int, x2: int, y2: int, weak: list[list[int]]) -> tuple[int, int]:
    """The x extent of text (x1, y1, x2, y2) with the weak parts on its line joined to it: each
    overlapping its rows by half its own height or more, at most half a line height away."""
    h = y2 - y1
    grown = True
    while grown:
        grown = False
        for wx1, wy1, wx2, wy2 in weak:
            if min(y2, wy2) - max(y1, wy1) < 0.5 * (wy2 - wy1) or wy2 - wy1 > 1.5 * h:
                continue
            if x1 - 0.5 * h <= wx2 <= x1 and wx1 < x1:
                x1, grown = wx1, True
            elif x2 <= wx1 <= x2 + 0.5 * h and wx2 > x2:
                x2, grown = wx2, True
    return x1, x2


def _faded(crop: np.ndarray, b: int) -> np.ndarray:
    """`crop` with a border `b` pixels wide: its edge pixels, fading into mid-grey outwards."""
    out = cv2.copyMakeBorder(crop, b, b, b, b, cv2.BORDER_REPLICATE)
    h, w = out.shape[:2]
    ys = np.maximum(b - np.arange(h), np.arange(h) - (h - 1 - b)).clip(0)  # pixels out from the crop
    xs = np.maximum(b - np.arange(w), np.arange(w) - (w - 1 - b)).clip(0)
    fade = (np.maximum(ys[:, None], xs[None, :]) / (b + 1)).astype(np.float32)[..., None]
    return (out + fade * (128.0 - out)).astype(np.uint8)


def _aligned(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def _inside(box: Rect, p: _Placed) -> bool:
    """Clip-free test: the box's centre lies in the placed region (gaps keep neighbours apart)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return p.x <= cx < p.x + p.w and p.y <= cy < p.y + p.h

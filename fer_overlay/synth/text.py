"""Crisp anti-aliased text and rounded boxes on BGR images.

Meeting apps draw names in a sans-serif UI font, which OCR and people read far better
than OpenCV's Hershey strokes; so we use a TrueType font through Pillow when the system
has one, and fall back to ``cv2.putText`` (ASCII only) when it has none.
"""

from __future__ import annotations

import logging
import unicodedata
from functools import cache, lru_cache
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)

BGR = tuple[int, int, int]

# Names Pillow resolves in the usual font folders of Linux, Windows and macOS.
_REGULAR = ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "Arial.ttf", "arial.ttf", "segoeui.ttf",
            "Helvetica.ttc", "NotoSans-Regular.ttf")
_BOLD = ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf", "Arial Bold.ttf", "arialbd.ttf", "segoeuib.ttf",
         "NotoSans-Bold.ttf")
_ELLIPSIS = "..."
# The apps' own UI fonts where a system has them, then look-alikes: Zoom and Teams draw
# with the system's sans (Helvetica / SF on macOS, Segoe UI on Windows), Meet with Google
# Sans / Roboto. Any missing family falls back to the default list above.
FAMILIES: dict[str, tuple[str, ...]] = {
    "helvetica": ("Helvetica.ttc", "NimbusSans-Regular.otf", "NimbusSans-Regular", "Arial.ttf", "arial.ttf"),
    "segoe": ("segoeui.ttf", "SegoeUI.ttf", "selawk.ttf", "NimbusSans-Regular.otf", "NimbusSans-Regular"),
    "roboto": ("GoogleSans-Regular.ttf", "Roboto-Regular.ttf", "NotoSans-Regular.ttf"),
}


@cache
def _font_name(bold: bool) -> str | None:
    try:
        from PIL import ImageFont
    except ImportError:
        return None
    for name in _BOLD + _REGULAR if bold else _REGULAR:
        try:
            ImageFont.truetype(name, 12)
        except OSError:
            continue
        return name
    log.info("no TrueType UI font found; names are drawn with OpenCV's Hershey font")
    return None


@cache
def _family_name(family: str) -> str | None:
    from PIL import ImageFont

    for name in FAMILIES.get(family, ()):
        try:
            ImageFont.truetype(name, 12)
        except OSError:
            continue
        return name
    return None


@cache
def _font(px: int, bold: bool, family: str | None = None) -> Any:
    from PIL import ImageFont

    name = _family_name(family) if family and not bold else None
    return ImageFont.truetype(name or _font_name(bold), px)


def truetype_available() -> bool:
    return _font_name(False) is not None


def drawable(text: str) -> str:
    """``text`` as it will appear: Hershey fonts have no accents, so those are dropped there."""
    if truetype_available():
        return text
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _cv2_params(px: int, bold: bool) -> tuple[int, float, int]:
    face = cv2.FONT_HERSHEY_DUPLEX if bold else cv2.FONT_HERSHEY_SIMPLEX
    (_, h), base = cv2.getTextSize("Hg", face, 1.0, 1)
    scale = px / (h + base)
    return face, scale, max(1, round(scale * (2.0 if bold else 1.4)))


def text_size(text: str, px: int, bold: bool = False, family: str | None = None) -> tuple[int, int]:
    """(width, line height) of ``text`` drawn ``px`` pixels tall (ascender to descender);
    ``family`` picks one of ``FAMILIES`` where the system has it."""
    text = drawable(text)
    if truetype_available():
        font = _font(px, bold, family)
        ascent, descent = font.getmetrics()
        return int(np.ceil(font.getlength(text))), ascent + descent
    face, scale, thick = _cv2_params(px, bold)
    (w, h), base = cv2.getTextSize(text, face, scale, thick)
    return w, h + base


def fit_text(text: str, px: int, max_width: int, bold: bool = False, family: str | None = None) -> str:
    """``text``, cut and ended with "..." where it is wider than ``max_width`` (as apps do)."""
    text = drawable(text)
    if text_size(text, px, bold, family)[0] <= max_width:
        return text
    for n in range(len(text) - 1, 0, -1):
        cut = text[:n].rstrip() + _ELLIPSIS
        if text_size(cut, px, bold, family)[0] <= max_width:
            return cut
    return _ELLIPSIS


def _mask(text: str, px: int, bold: bool, family: str | None = None) -> np.ndarray:
    w, h = text_size(text, px, bold, family)
    if truetype_available():
        from PIL import Image, ImageDraw

        im = Image.new("L", (w + 2, h))
        ImageDraw.Draw(im).text((0, 0), text, fill=255, font=_font(px, bold, family))
        return np.asarray(im, np.float32) / 255.0
    face, scale, thick = _cv2_params(px, bold)
    (_, th), _ = cv2.getTextSize(text, face, scale, thick)
    m = np.zeros((h, w + 2), np.uint8)
    cv2.putText(m, text, (0, th), face, scale, 255, thick, cv2.LINE_AA)
    return m.astype(np.float32) / 255.0


def blend(image: np.ndarray, mask: np.ndarray, x: int, y: int, colour: BGR, alpha: float = 1.0) -> None:
    """Paint ``colour`` through ``mask`` (0..1) with its top-left at (x, y), clipped to ``image``."""
    ih, iw = image.shape[:2]
    mh, mw = mask.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + mw, iw), min(y + mh, ih)
    if x0 >= x1 or y0 >= y1:
        return
    m = mask[y0 - y : y1 - y, x0 - x : x1 - x, None] * alpha
    roi = image[y0:y1, x0:x1]
    roi[:] = np.clip(roi * (1.0 - m) + np.array(colour, np.float32) * m + 0.5, 0, 255).astype(np.uint8)


def draw_text(image: np.ndarray, text: str, x: int, y: int, px: int, colour: BGR, *, bold: bool = False,
              alpha: float = 1.0, family: str | None = None) -> None:
    """Draw ``text`` with the top of its line box at (x, y)."""
    text = drawable(text)
    if text:
        blend(image, _mask(text, px, bold, family), x, y, colour, alpha)


def fill_rounded(image: np.ndarray, rect: tuple[int, int, int, int], radius: int, colour: BGR,
                 alpha: float = 1.0) -> None:
    """A filled (x, y, w, h) rectangle with anti-aliased rounded corners, optionally see-through."""
    x, y, w, h = rect
    if w <= 0 or h <= 0:
        return
    m = rounded_mask(w, h, radius)
    blend(image, m, x, y, colour, alpha)


@lru_cache(maxsize=64)
def rounded_mask(w: int, h: int, radius: int) -> np.ndarray:
    """0..1 coverage of a ``w`` x ``h`` rounded rectangle (read-only; cached, tiles share sizes)."""
    r = max(0, min(radius, w // 2, h // 2))
    # Drawn 4x larger and shrunk: cv2's anti-aliasing alone leaves small arcs lumpy.
    k = 4
    big = np.zeros((h * k, w * k), np.uint8)
    rk = r * k
    cv2.rectangle(big, (rk, 0), (w * k - 1 - rk, h * k - 1), 255, -1)
    cv2.rectangle(big, (0, rk), (w * k - 1, h * k - 1 - rk), 255, -1)
    if r:
        for cx, cy in ((rk, rk), (w * k - 1 - rk, rk), (rk, h * k - 1 - rk), (w * k - 1 - rk, h * k - 1 - rk)):
            cv2.circle(big, (cx, cy), rk, 255, -1)
    mask = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    mask.flags.writeable = False
    return mask


def circle_mask(d: int) -> np.ndarray:
    return rounded_mask(d, d, d // 2)

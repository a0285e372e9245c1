"""What a shared screen shows: slides, a document, a code editor; and the app's banner
saying whose screen it is (text that names a participant but is not a tile label)."""

from __future__ import annotations

import numpy as np

from .content import slide
from .styles import Style
from .text import BGR, draw_text, fill_rounded, fit_text, text_size

Rng = np.random.Generator

_DOC = ("Lab report: enzyme kinetics", "Reading list for week 6", "Essay plan: causes of the 1848 revolutions")
_CODE = ("def mean(values):", "    total = sum(values)", "    return total / len(values)", "",
         "for row in table:", "    print(row.name, mean(row.scores))", "", "# TODO: handle empty rows")


def screen(w: int, h: int, rng: Rng) -> np.ndarray:
    """A shared screen's pixels (BGR uint8, ``w`` x ``h``); it shows text but no face."""
    roll = rng.random()
    if roll < 0.55:
        return slide(w, h, rng)
    if roll < 0.8:
        return _document(w, h, rng)
    return _code(w, h, rng)


def _document(w: int, h: int, rng: Rng) -> np.ndarray:
    img = np.empty((h, w, 3), np.uint8)
    img[:] = (236, 234, 232)
    pw = round(w * 0.6)
    px0 = (w - pw) // 2
    img[:, px0 : px0 + pw] = (255, 255, 255)
    px = max(8, round(h * 0.04))
    title = _DOC[int(rng.integers(len(_DOC)))]
    draw_text(img, fit_text(title, px, pw - 2 * px, bold=True), px0 + px, round(h * 0.08), px, (30, 30, 30), bold=True)
    small = max(6, round(px * 0.55))
    y = round(h * 0.08) + 2 * px
    while y < h - 2 * small:
        length = pw - 2 * px if rng.random() > 0.2 else round((pw - 2 * px) * rng.uniform(0.3, 0.8))
        img[y : y + max(1, small // 2), px0 + px : px0 + px + length] = (150, 150, 150)
        y += round(small * (1.6 if rng.random() > 0.15 else 3.0))
    return img


def _code(w: int, h: int, rng: Rng) -> np.ndarray:
    img = np.empty((h, w, 3), np.uint8)
    img[:] = (46, 36, 30)
    px = max(7, round(h * 0.035))
    palette: tuple[BGR, ...] = ((220, 220, 220), (120, 200, 250), (180, 140, 240), (130, 200, 130))
    y = round(h * 0.05)
    start = int(rng.integers(len(_CODE)))
    i = 0
    while y < h - px:
        line = _CODE[(start + i) % len(_CODE)]
        draw_text(img, f"{i + 1:>3}", round(w * 0.01), y, px, (110, 110, 110))
        if line:
            draw_text(img, fit_text(line, px, round(w * 0.85)), round(w * 0.06), y, px,
                      palette[int(rng.integers(len(palette)))])
        y += round(px * 1.5)
        i += 1
    return img


def banner(image: np.ndarray, share: tuple[int, int, int, int], style: Style, who: str, scale: float) -> None:
    """The app's note on a shared screen ("You are viewing Maria's screen")."""
    x, y, w, _ = share
    px = max(9, round(13 * max(scale, 0.67)))
    if style is Style.ZOOM:
        text = f"You are viewing {who}'s screen"
        tw, th = text_size(text, px)
        bw, bh = tw + 2 * px, th + px // 2
        bx, by = x + (w - bw) // 2, y + 2  # over the screen's top edge, as Zoom does
        fill_rounded(image, (bx, by, bw, bh), max(2, bh // 4), (80, 170, 30))
        draw_text(image, text, bx + px, by + px // 4, px, (255, 255, 255))
        return
    text = f"{who} is presenting" if style is Style.MEET else f"{who} is sharing"
    tw, th = text_size(text, px)
    fill_rounded(image, (x + px, y + px, tw + px, th + px // 2), max(2, th // 3), (40, 40, 40), alpha=0.75)
    draw_text(image, text, x + px + px // 2, y + px + px // 4, px, (255, 255, 255))

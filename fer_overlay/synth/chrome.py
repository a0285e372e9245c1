"""The app's toolbars in the real looks: text and buttons around the tiles, never over one.

Their words ("Participants", "Leave", a meeting code) are what a screen-wide text finder
meets besides the names, so they are drawn as text, not as blank bars.
"""

from __future__ import annotations

import numpy as np

from .labels import mic_mask
from .styles import Look, Style, Theme
from .text import BGR, blend, circle_mask, draw_text, fill_rounded, text_size

RED: BGR = (60, 56, 226)
GREEN: BGR = (80, 190, 40)


def _bar(image: np.ndarray, y0: int, y1: int, colour: BGR) -> None:
    image[max(0, y0) : max(0, y1)] = colour


def _icon_button(image: np.ndarray, cx: int, top: int, label: str, px: int, ink: BGR, s: float,
                 fill: BGR | None = None) -> None:
    """A toolbar button: an icon square (a microphone for audio) above its label."""
    d = max(8, round(22 * s))
    if label == "Audio":
        blend(image, mic_mask(d, True), cx - d // 2, top, ink)
    elif fill is not None:
        fill_rounded(image, (cx - d // 2, top, d, d), max(2, d // 5), fill)
    else:
        fill_rounded(image, (cx - d // 2, top + d // 5, d, d - 2 * (d // 5)), max(2, d // 6), ink, alpha=0.85)
    tw, _ = text_size(label, px)
    draw_text(image, label, cx - tw // 2, top + d + max(2, round(5 * s)), px, ink)


def draw(image: np.ndarray, style: Style, look: Look, theme: Theme, scale: float) -> None:
    """Toolbars on the background strips above and below the tiles (``look``'s bars)."""
    h, w = image.shape[:2]
    s = max(scale, 0.67)
    px = max(9, round(12 * s))
    ink = look.ui_text
    top, bottom = round(look.top_bar * scale), round(look.bottom_bar * scale)
    if style is Style.ZOOM:
        _bar(image, h - bottom, h, look.toolbar)
        _bar(image, 0, top, look.toolbar)
        y = h - bottom + max(2, round(12 * s))
        items = ("Audio", "Video", "", "Participants", "Chat", "React", "Share", "Record", "Apps", "More")
        step = max(40, round(82 * s))
        x0 = max(step // 2, w // 2 - step * 4)
        for i, item in enumerate(items):
            if not item:
                continue
            cx = round(30 * s) + i * step if i < 2 else x0 + (i - 3) * step
            _icon_button(image, cx, y, item, px, ink, s, GREEN if item == "Share" else None)
        end = "End"
        _icon_button(image, w - round(36 * s), y, end, px, ink, s, RED)
        view = "View"
        vw, vh = text_size(view, px)
        draw_text(image, view, w - vw - round(16 * s), (top - vh) // 2, px, ink)
        blend(image, circle_mask(max(6, round(12 * s))), round(16 * s), (top - round(12 * s)) // 2, GREEN)
        return
    if style is Style.MEET:
        mid = h - bottom // 2
        _, lh = text_size("1", round(15 * s))
        draw_text(image, "10:32 | abc-defg-hij", round(24 * s), mid - lh // 2, round(15 * s), ink)
        d, step = round(40 * s), round(52 * s)
        button: BGR = (67, 64, 60) if theme is Theme.DARK else (232, 234, 237)
        x = w // 2 - 3 * step
        for i in range(5):
            blend(image, circle_mask(d), x, mid - d // 2, button)
            if i == 0:
                m = max(6, round(d * 0.5))
                blend(image, mic_mask(m, True), x + (d - m) // 2, mid - m // 2, ink)
            x += step
        fill_rounded(image, (x, mid - d // 2, round(56 * s), d), d // 2, (53, 67, 234))
        for i in range(3):
            blend(image, circle_mask(round(24 * s)), w - round((40 + 40 * i) * s), mid - round(12 * s), button)
        return
    _bar(image, 0, top, look.toolbar)
    mid = top // 2
    _, lh = text_size("Leave", px + 2)
    draw_text(image, "29:41", round(20 * s), mid - lh // 2, px + 2, ink)
    lw, _ = text_size("Leave", px + 2)
    x = w - round(20 * s) - lw - round(24 * s)
    fill_rounded(image, (x, mid - lh // 2 - 4, lw + round(24 * s), lh + 8), 4, (75, 49, 196))
    draw_text(image, "Leave", x + round(12 * s), mid - lh // 2, px + 2, (255, 255, 255))
    for item in ("Share", "Mic", "Camera", "More", "View", "React", "People", "Chat"):
        x -= text_size(item, px)[0] + round(26 * s)
        draw_text(image, item, x, mid - lh // 2 + 1, px, ink)

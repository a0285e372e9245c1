"""The app's own drawing: name labels, camera-off tiles, toolbars."""

from __future__ import annotations

import zlib

import cv2
import numpy as np

from .styles import LOOKS, Style
from .text import BGR, blend, circle_mask, draw_text, fill_rounded, fit_text, rounded_mask, text_size

WHITE: BGR = (255, 255, 255)


def label_px(tile_h: int) -> int:
    # Apps keep a fixed UI font size and shrink it only in the smallest tiles.
    return int(np.clip(round(tile_h * 0.07), 12, 18))


def _label_box(w: int, h: int, style: Style) -> tuple[int, int, int, int]:
    """Font size, margin to the tile edge, and horizontal and vertical padding of the label."""
    px = label_px(h)
    if style is Style.ZOOM:
        return px, 2, max(4, px // 3), max(2, px // 6)
    if style is Style.MEET:
        return px, max(6, px // 2), 0, 0
    return px, max(5, px // 2), max(6, px // 2), max(3, px // 4)


def label_text(name: str, w: int, h: int, style: Style) -> str:
    """The name as a ``w`` x ``h`` tile shows it: cut to fit, accents dropped without a TrueType font."""
    px, margin, pad_x, _ = _label_box(w, h, style)
    return fit_text(name, px, w - 2 * margin - 2 * pad_x)


def name_label(tile: np.ndarray, name: str, style: Style) -> str:
    """Draw the participant's name bottom-left as ``style`` does; returns the text as drawn."""
    return name_label_box(tile, name, style)[0]


def name_label_box(tile: np.ndarray, name: str, style: Style) -> tuple[str, tuple[int, int, int, int]]:
    """As ``name_label``, and the drawn text's box (x, y, w, h) in tile pixels."""
    h, w = tile.shape[:2]
    px, margin, pad_x, pad_y = _label_box(w, h, style)
    text = label_text(name, w, h, style)
    tw, th = text_size(text, px)
    bw, bh = tw + 2 * pad_x, th + 2 * pad_y
    bx, by = margin, h - margin - bh
    if style is Style.ZOOM:
        fill_rounded(tile, (bx, by, bw, bh), 0, (0, 0, 0), alpha=0.55)
    elif style is Style.TEAMS:
        fill_rounded(tile, (bx, by, bw, bh), bh // 2, (31, 31, 31), alpha=0.7)
    else:
        # Meet puts bare text on the video and keeps it readable with a soft shadow.
        glyphs = np.zeros((bh + 6, bw + 6, 3), np.uint8)
        draw_text(glyphs, text, 3, 3, px, WHITE)
        glyphs = cv2.dilate(glyphs[..., 0], np.ones((3, 3), np.uint8))
        shadow = cv2.GaussianBlur(glyphs.astype(np.float32) / 255.0, (0, 0), 1.2)
        blend(tile, np.clip(shadow * 2.0, 0, 1), bx - 3, by - 2, (0, 0, 0), alpha=0.75)
    draw_text(tile, text, bx + pad_x, by + pad_y, px, WHITE)
    return text, (bx + pad_x, by + pad_y, tw, th)


def initials(name: str, letters: int) -> str:
    words = [w for w in name.split() if w[:1].isalpha()]
    picked = words[:1] + words[-1:] if len(words) > 1 else words
    return "".join(w[0].upper() for w in picked)[:letters]


def camera_off(w: int, h: int, name: str, style: Style) -> np.ndarray:
    """A tile whose camera is off: Zoom shows the name large, Meet and Teams an initials avatar."""
    look = LOOKS[style]
    tile = np.empty((h, w, 3), np.uint8)
    tile[:] = look.camera_off_tile
    if not look.avatar_initials:
        px = max(10, round(h * 0.13))
        while px > 10 and text_size(name, px)[0] > 0.85 * w:
            px -= 1
        text = fit_text(name, px, round(0.9 * w))
        tw, th = text_size(text, px)
        draw_text(tile, text, (w - tw) // 2, (h - th) // 2, px, WHITE)
        return tile
    d = max(8, round(h * (0.38 if style is Style.MEET else 0.34)))
    # Colour by a stable hash of the name, so a person keeps their colour between runs.
    colour = look.avatar_colours[zlib.crc32(name.encode("utf-8")) % len(look.avatar_colours)]
    x, y = (w - d) // 2, (h - d) // 2 - round(h * 0.04)
    blend(tile, circle_mask(d), x, y, colour)
    text = initials(name, look.avatar_initials)
    px = max(8, round(d * (0.5 if look.avatar_initials == 1 else 0.38)))
    tw, th = text_size(text, px)
    draw_text(tile, text, x + (d - tw) // 2, y + (d - th) // 2, px, look.avatar_text)
    return tile


def chrome(image: np.ndarray, style: Style, scale: float) -> None:
    """Toolbar items on the background strip above or below the tiles (never over a tile)."""
    h, w = image.shape[:2]
    look = LOOKS[style]
    s = max(scale, 0.67)
    px = max(11, round(15 * s))
    if style is Style.MEET:
        bar = round(look.bottom_bar * scale)
        mid = h - bar // 2
        draw_text(image, "10:32 | abc-defg-hij", round(24 * s), mid - text_size("1", px)[1] // 2, px, WHITE)
        d, step = round(40 * s), round(52 * s)
        x = w // 2 - 3 * step
        for _ in range(5):
            blend(image, circle_mask(d), x, mid - d // 2, (67, 64, 60))
            x += step
        fill_rounded(image, (x, mid - d // 2, round(56 * s), d), d // 2, (53, 67, 234))
        for i in range(3):
            blend(image, circle_mask(round(24 * s)), w - round((40 + 40 * i) * s), mid - round(12 * s), (67, 64, 60))
    elif style is Style.TEAMS:
        bar = round(look.top_bar * scale)
        mid = bar // 2
        draw_text(image, "29:41", round(20 * s), mid - text_size("1", px)[1] // 2, px, WHITE)
        x = w - round(110 * s)
        lw, lh = text_size("Leave", px)
        fill_rounded(image, (x, mid - lh // 2 - 4, lw + round(24 * s), lh + 8), 4, (75, 49, 196))
        draw_text(image, "Leave", x + round(12 * s), mid - lh // 2, px, WHITE)
        for item in ("More", "View", "React", "People", "Chat"):
            x -= text_size(item, px)[0] + round(24 * s)
            draw_text(image, item, x, mid - lh // 2, px, (214, 214, 214))


def round_corners(tile: np.ndarray, radius: int, background: BGR) -> None:
    """Round the tile's corners into the background, as Meet and Teams draw them."""
    if radius <= 0:
        return
    h, w = tile.shape[:2]
    outside = 1.0 - rounded_mask(w, h, radius)
    # Only the corner squares have anything outside the rounded rectangle; blending just
    # those gives the same pixels at a fraction of the cost.
    r = min(radius, w // 2, h // 2)
    for y0, x0 in ((0, 0), (0, w - r), (h - r, 0), (h - r, w - r)):
        blend(tile, outside[y0 : y0 + r, x0 : x0 + r], x0, y0, background)

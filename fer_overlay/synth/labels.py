"""Name labels as the current apps draw them, with their microphone icons.

Zoom: a dark translucent chip flush with the tile's bottom-left corner, a red slashed
microphone first when muted. Meet: bare white text with a soft shadow, bottom-left, and a
round mute badge top-right. Teams: a dark translucent rounded box inset from the corner,
the slashed microphone after the name. Each returns the drawn text and its box, which is
the ground truth a name reader is scored against.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .styles import LabelKind, Look
from .text import BGR, blend, circle_mask, draw_text, fill_rounded, fit_text, text_size

WHITE: BGR = (255, 255, 255)
MUTED_RED: BGR = (60, 60, 224)  # Zoom's muted microphone
_K = 4

Rect = tuple[int, int, int, int]


@dataclass(frozen=True)
class Label:
    text: str
    rect: Rect  # the text's line box (x, y, w, h) in tile pixels


def ui_scale(screen_h: int) -> float:
    """How big the app's UI is drawn: desktop scaling follows the screen (2x on 4K), but a
    small screen still gets 80% of the 1080p size, as UI fonts do not shrink below that."""
    return max(screen_h / 1080, 0.8)


def font_px(look: Look, tile_h: int, scale: float) -> int:
    # Apps keep a fixed UI font size and shrink it only in the smallest tiles.
    return int(max(9, min(round(look.label_px * scale), round(tile_h * 0.1))))


@lru_cache(maxsize=32)
def mic_mask(size: int, muted: bool) -> np.ndarray:
    """0..1 coverage of a microphone glyph ``size`` px high; slashed when ``muted``."""
    s = size * _K
    big = np.zeros((s, s), np.uint8)
    t = max(_K, round(0.1 * s))
    cw, top, bottom = 0.34 * s, 0.06 * s, 0.6 * s
    cv2.rectangle(big, (round(s / 2 - cw / 2), round(top + cw / 2)), (round(s / 2 + cw / 2), round(bottom - cw / 2)),
                  255, -1)
    for cy in (top + cw / 2, bottom - cw / 2):
        cv2.circle(big, (round(s / 2), round(cy)), round(cw / 2), 255, -1, cv2.LINE_AA)
    cv2.ellipse(big, (round(s / 2), round(0.42 * s)), (round(0.3 * s), round(0.3 * s)), 0, 0, 180, 255, t, cv2.LINE_AA)
    cv2.line(big, (round(s / 2), round(0.72 * s)), (round(s / 2), round(0.9 * s)), 255, t, cv2.LINE_AA)
    cv2.line(big, (round(0.3 * s), round(0.92 * s)), (round(0.7 * s), round(0.92 * s)), 255, t, cv2.LINE_AA)
    if muted:
        # The slash, with a thin gap cut either side so it reads apart from the microphone.
        a, b = (round(0.15 * s), round(0.92 * s)), (round(0.88 * s), round(0.08 * s))
        cv2.line(big, a, b, 0, round(1.9 * t), cv2.LINE_AA)
        cv2.line(big, a, b, 255, max(_K, round(0.8 * t)), cv2.LINE_AA)
    m = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    m.flags.writeable = False
    return m


def _shadowed_text(tile: np.ndarray, text: str, x: int, y: int, px: int, font: str | None) -> None:
    """Meet's bare label: white glyphs over a soft dark halo, readable on any video."""
    tw, th = text_size(text, px, family=font)
    glyphs = np.zeros((th + 8, tw + 8, 3), np.uint8)
    draw_text(glyphs, text, 4, 4, px, WHITE, family=font)
    halo = cv2.dilate(glyphs[..., 0], np.ones((3, 3), np.uint8))
    shadow = cv2.GaussianBlur(halo.astype(np.float32) / 255.0, (0, 0), max(1.0, px / 10))
    blend(tile, np.clip(shadow * 1.8, 0, 1), x - 4, y - 3, (0, 0, 0), alpha=0.7)
    draw_text(tile, text, x, y, px, WHITE, family=font)


def draw_label(tile: np.ndarray, name: str, look: Look, scale: float, muted: bool, on_video: bool = True) -> Label:
    """Draw ``name`` on ``tile`` as ``look`` does; returns the text as drawn and its box.
    ``on_video`` False: the tile is the app's own flat colour (camera off), where Meet's bare
    text needs no shadow and takes the theme's text colour."""
    h, w = tile.shape[:2]
    px = font_px(look, h, scale)
    font = look.font
    icon = max(6, round(px * 0.8))
    if look.label is LabelKind.CHIP:
        margin, pad_x, pad_y = max(1, round(look.label_margin * scale)), max(3, round(px * 0.3)), max(2, round(px / 4))
        icon = max(6, px)
        lead = icon + max(2, px // 4) if muted else 0
        text = fit_text(name, px, w - 2 * margin - 2 * pad_x - lead, family=font)
        tw, th = text_size(text, px, family=font)
        bw, bh = tw + 2 * pad_x + lead, th + 2 * pad_y
        bx, by = margin, h - bh
        r = round(look.chip_radius * scale)
        # Rounded at the top only: the chip runs into the tile's bottom edge.
        fill_rounded(tile, (bx, by, bw, bh + r), r, look.chip, alpha=look.chip_alpha)
        if muted:
            blend(tile, mic_mask(icon, True), bx + pad_x, by + (bh - icon) // 2, MUTED_RED)
        x, y = bx + pad_x + lead, by + pad_y
        draw_text(tile, text, x, y, px, WHITE, family=font)
        return Label(text, (x, y, tw, th))
    margin = max(2, round(look.label_margin * scale))
    if look.label is LabelKind.BARE:
        if muted:
            d = max(10, round(px * 1.7))
            blend(tile, circle_mask(d), w - margin - d, margin, (40, 35, 32), alpha=0.75)
            inner = max(6, round(d * 0.6))
            off = (d - inner) // 2
            blend(tile, mic_mask(inner, True), w - margin - d + off, margin + off, WHITE)
        text = fit_text(name, px, w - 2 * margin, family=font)
        tw, th = text_size(text, px, family=font)
        x, y = margin, h - margin - th
        if on_video:
            _shadowed_text(tile, text, x, y, px, font)
        else:
            draw_text(tile, text, x, y, px, look.ui_text, family=font)
        return Label(text, (x, y, tw, th))
    # Teams' pill (PILL); the name first, then the muted microphone.
    pad_x, pad_y = max(4, round(px * 0.45)), max(2, round(px * 0.25))
    tail = icon + max(3, px // 3) if muted else 0
    text = fit_text(name, px, w - 2 * margin - 2 * pad_x - tail, family=font)
    tw, th = text_size(text, px, family=font)
    bw, bh = tw + 2 * pad_x + tail, th + 2 * pad_y
    bx, by = margin, h - margin - bh
    fill_rounded(tile, (bx, by, bw, bh), round(look.chip_radius * scale), look.chip, alpha=look.chip_alpha)
    x, y = bx + pad_x, by + pad_y
    draw_text(tile, text, x, y, px, WHITE, family=font)
    if muted:
        blend(tile, mic_mask(icon, True), x + tw + max(3, px // 3), by + (bh - icon) // 2, WHITE)
    return Label(text, (x, y, tw, th))

"""Tiles without a live camera, and what the apps draw around tiles, in the real looks.

Camera off: Zoom writes the name large (or shows the profile photo as a rounded square);
Meet and Teams show a circle with initials or the profile photo. A profile photo is a
face but not a live person, so its face box is reported and the tile is marked AVATAR.
"""

from __future__ import annotations

import zlib

import cv2
import numpy as np

from .faces import Box
from .styles import AvatarShape, Look
from .text import BGR, blend, circle_mask, draw_text, fit_text, rounded_mask, text_size
from .ui import initials


def flat(w: int, h: int, colour: BGR) -> np.ndarray:
    tile = np.empty((h, w, 3), np.uint8)
    tile[:] = colour
    return tile


def _avatar_colour(look: Look, name: str) -> BGR:
    # A stable hash of the name, so a person keeps their colour between runs.
    return look.avatar_colours[zlib.crc32(name.encode("utf-8")) % len(look.avatar_colours)]


def _avatar_box(look: Look, w: int, h: int) -> tuple[int, int, int]:
    """Side and top-left of the avatar: centred, a little above the middle (the label is below)."""
    d = max(8, min(round(h * look.avatar_size), round(w * 0.6)))
    return d, (w - d) // 2, (h - d) // 2 - round(h * 0.03)


def camera_off(w: int, h: int, name: str, look: Look, scale: float) -> np.ndarray:
    """Camera off without a photo: the name (Zoom) or an initials circle (Meet, Teams)."""
    tile = flat(w, h, look.camera_off_tile)
    if look.avatar_shape is AvatarShape.SQUARE or not look.avatar_initials:
        # Zoom writes the name in a large light font, kept to the tile's middle.
        px = max(10, min(round(32 * scale), round(h * 0.14)))
        text = fit_text(name, px, round(0.85 * w), family=look.font)
        tw, th = text_size(text, px, family=look.font)
        draw_text(tile, text, (w - tw) // 2, (h - th) // 2 - round(h * 0.03), px, look.ui_text, family=look.font)
        return tile
    d, x, y = _avatar_box(look, w, h)
    colour = _avatar_colour(look, name)
    blend(tile, circle_mask(d), x, y, colour)
    text = initials(name, look.avatar_initials)
    px = max(8, round(d * (0.45 if look.avatar_initials == 1 else 0.36)))
    tw, th = text_size(text, px)
    ink = tuple(int(c * 0.35) for c in colour) if look.avatar_text_dark else look.avatar_text
    draw_text(tile, text, x + (d - tw) // 2, y + (d - th) // 2, px, ink)  # type: ignore[arg-type]
    return tile


def photo_avatar(w: int, h: int, picture: np.ndarray, face: Box, look: Look) -> tuple[np.ndarray, Box]:
    """Camera off with a profile photo (``picture``, square, its face box ``face``): a circle
    (Meet, Teams) or a rounded square (Zoom) on the flat tile; returns the tile and the face box."""
    tile = flat(w, h, look.camera_off_tile)
    d, x, y = _avatar_box(look, w, h)
    k = d / picture.shape[0]
    small = cv2.resize(picture, (d, d), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC)
    radius = d // 2 if look.avatar_shape is AvatarShape.ROUND else max(2, round(d * 0.12))
    mask = rounded_mask(d, d, radius)
    roi = tile[y : y + d, x : x + d].astype(np.float32)
    tile[y : y + d, x : x + d] = np.clip(roi * (1 - mask[..., None]) + small * mask[..., None] + 0.5, 0, 255)
    fx1, fy1, fx2, fy2 = (v * k for v in face)
    # The face box is the visible face: a round crop cuts it to the circle.
    lo, hi = (0.0, float(d)) if look.avatar_shape is not AvatarShape.ROUND else (d * 0.06, d * 0.94)
    box = (x + max(fx1, lo), y + max(fy1, lo), x + min(fx2, hi), y + min(fy2, hi))
    return tile, tuple(round(v, 2) for v in box)  # type: ignore[return-value]


def empty(w: int, h: int) -> np.ndarray:
    """Video on but nothing to see (connecting, a covered lens): near-black with a little noise."""
    rng = np.random.default_rng(w * 7919 + h)
    return np.clip(8 + rng.normal(0, 1.5, (h, w, 3)), 0, 255).astype(np.uint8)


def outline(tile: np.ndarray, radius: int, width: int, colour: BGR) -> None:
    """The active-speaker outline, drawn inside the tile and following its rounded corners."""
    h, w = tile.shape[:2]
    if width <= 0 or w <= 2 * width or h <= 2 * width:
        return
    ring = rounded_mask(w, h, radius).copy()
    ring[width : h - width, width : w - width] -= rounded_mask(w - 2 * width, h - 2 * width, max(0, radius - width))
    blend(tile, np.clip(ring, 0, 1), 0, 0, colour)


def shadow(image: np.ndarray, rect: tuple[int, int, int, int], radius: int, spread: int) -> None:
    """A soft drop shadow under a floating tile (the self-view), so it reads as on top."""
    x, y, w, h = rect
    if spread <= 0:
        return
    pad = 2 * spread
    m = np.zeros((h + 2 * pad, w + 2 * pad), np.float32)
    m[pad : pad + h, pad : pad + w] = rounded_mask(w, h, radius)
    m = cv2.GaussianBlur(m, (0, 0), spread / 2)
    blend(image, m, x - pad + spread // 3, y - pad + spread // 2, (0, 0, 0), alpha=0.5)

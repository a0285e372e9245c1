"""Headphones and glasses drawn onto a person layer, placed from the face box.

Half of the people in real class screenshots wear a headset, and many wear glasses: both
put hard dark edges around and across the face, which detectors and crops must survive.
The face box runs from the hairline to the chin (CenterFace's convention), so the eyes
sit a little above its middle.
"""

from __future__ import annotations

import cv2
import numpy as np

from .faces import Box

Rng = np.random.Generator

_K = 4  # supersampling for smooth thin lines
EYE_LINE = 0.44  # of the face box height, from its top


def _over(colour: np.ndarray, alpha: np.ndarray, mask: np.ndarray, paint: np.ndarray, strength: float = 1.0) -> None:
    a = mask.astype(np.float32) * (strength / 255.0)
    colour[:] = paint * a[..., None] + colour * (1.0 - a[..., None])
    alpha[:] = a + alpha * (1.0 - a)


def _canvas(shape: tuple[int, ...]) -> np.ndarray:
    return np.zeros((shape[0] * _K, shape[1] * _K), np.uint8)


def _down(big: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return cv2.resize(big, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def _pt(x: float, y: float) -> tuple[int, int]:
    return round(x * _K), round(y * _K)


def headphones(colour: np.ndarray, alpha: np.ndarray, face: Box, rng: Rng) -> None:
    """A headband over the hair and an ear cup each side; sometimes a boom microphone."""
    x1, y1, x2, y2 = face
    fw, fh = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    paint = np.array((28, 28, 30) if rng.random() < 0.75 else (215, 215, 220), np.float32) * rng.uniform(0.9, 1.1)
    big = _canvas(alpha.shape)
    thick = max(_K, round(0.07 * fw * _K))
    axes = _pt(0.64 * fw, 0.8 * fh)
    cv2.ellipse(big, _pt(cx, cy - 0.05 * fh), axes, 0, 180, 360, 255, thick, cv2.LINE_AA)
    for side in (-1, 1):
        cv2.ellipse(big, _pt(cx + side * 0.6 * fw, cy + 0.02 * fh), _pt(0.13 * fw, 0.21 * fh), 0, 0, 360, 255, -1,
                    cv2.LINE_AA)
    if rng.random() < 0.3:
        side = 1 if rng.random() < 0.5 else -1
        cv2.line(big, _pt(cx + side * 0.58 * fw, cy + 0.15 * fh), _pt(cx + side * 0.18 * fw, cy + 0.36 * fh), 255,
                 max(_K, round(0.03 * fw * _K)), cv2.LINE_AA)
    _over(colour, alpha, _down(big, alpha.shape), paint)


def glasses(colour: np.ndarray, alpha: np.ndarray, face: Box, rng: Rng) -> None:
    """Two framed lenses on the eye line, a bridge and the temples; lenses catch a little light."""
    x1, y1, x2, y2 = face
    fw, fh = x2 - x1, y2 - y1
    cx, ey = (x1 + x2) / 2, y1 + EYE_LINE * fh
    frame = np.array(((20, 20, 22), (30, 55, 85), (150, 150, 155), (25, 25, 90))[rng.integers(4)], np.float32)
    lw, lh = rng.uniform(0.22, 0.27) * fw, rng.uniform(0.12, 0.16) * fh
    thick = max(_K, round(rng.uniform(0.012, 0.025) * fw * _K))
    big, lens = _canvas(alpha.shape), _canvas(alpha.shape)
    for side in (-1, 1):
        lx = cx + side * 0.2 * fw
        p0, p1 = _pt(lx - lw / 2, ey - lh / 2), _pt(lx + lw / 2, ey + lh / 2)
        cv2.rectangle(lens, p0, p1, 255, -1, cv2.LINE_AA)
        cv2.rectangle(big, p0, p1, 255, thick, cv2.LINE_AA)
        cv2.line(big, _pt(lx + side * lw / 2, ey - lh / 3), _pt(cx + side * 0.5 * fw, ey - lh / 3), 255, thick,
                 cv2.LINE_AA)
    cv2.line(big, _pt(cx - 0.2 * fw + lw / 2, ey - lh / 4), _pt(cx + 0.2 * fw - lw / 2, ey - lh / 4), 255, thick,
             cv2.LINE_AA)
    _over(colour, alpha, _down(lens, alpha.shape), np.full(3, 235, np.float32), rng.uniform(0.06, 0.14))
    _over(colour, alpha, _down(big, alpha.shape), frame)

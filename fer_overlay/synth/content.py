"""What a participant's camera shows: a room behind a head-and-shoulders built from a face photo.

The person is kept as a separate premultiplied layer (colour, alpha) so a video can move
the head a pixel or two between frames without redrawing the room.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import cv2
import numpy as np

from .faces import Box, FacePhoto
from .text import BGR, draw_text, fit_text

Rng = np.random.Generator

FACE_HEIGHT = (0.25, 0.45)  # of the tile height, as webcams at a desk frame people
_WALLS: tuple[BGR, ...] = (
    (200, 215, 225), (180, 190, 200), (215, 220, 220), (160, 175, 150), (150, 160, 185), (205, 195, 180),
    (120, 140, 160), (225, 230, 235), (170, 150, 140), (140, 160, 170), (95, 115, 130), (190, 205, 215),
)
_SHIRTS: tuple[BGR, ...] = (
    (90, 50, 30), (70, 70, 70), (45, 45, 45), (40, 40, 110), (230, 230, 230), (60, 100, 60), (140, 110, 80),
    (50, 120, 170), (120, 80, 120), (180, 160, 150), (50, 60, 140), (100, 130, 150),
)
_CONTRAST = 16
_HAIR: tuple[BGR, ...] = ((25, 25, 30), (30, 40, 55), (40, 60, 90), (90, 140, 180), (140, 140, 145), (30, 45, 75))


class Backdrop(str, Enum):
    FLAT = "flat"
    GRADIENT = "gradient"
    ROOM = "room"
    BOOKSHELF = "bookshelf"


@dataclass(frozen=True)
class Person:
    colour: np.ndarray  # (h, w, 3) float32, premultiplied by alpha
    alpha: np.ndarray  # (h, w) float32, 0..1
    face: Box  # xyxy in tile pixels


def _jitter(colour: BGR, rng: Rng, amount: int = 12) -> np.ndarray:
    return np.clip(np.array(colour, np.float32) + rng.integers(-amount, amount + 1, 3), 0, 255)


def backdrop(kind: Backdrop, w: int, h: int, rng: Rng) -> np.ndarray:
    """A BGR uint8 ``w`` x ``h`` room behind a participant, slightly out of focus like a webcam's."""
    wall = _jitter(_WALLS[rng.integers(len(_WALLS))], rng)
    if kind is Backdrop.FLAT:
        img = np.broadcast_to(wall, (h, w, 3)).astype(np.float32)
        # Lamps light walls unevenly; a perfectly flat tile would also look like app chrome.
        img = img * np.linspace(rng.uniform(0.85, 1.0), rng.uniform(0.95, 1.1), w, dtype=np.float32)[None, :, None]
    elif kind is Backdrop.GRADIENT:
        other = _jitter(_WALLS[rng.integers(len(_WALLS))], rng, 30)
        t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
        img = np.broadcast_to(wall * (1 - t) + other * t, (h, w, 3)).astype(np.float32)
    elif kind is Backdrop.ROOM:
        img = _room(wall, w, h, rng)
    else:
        img = _bookshelf(w, h, rng)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def _room(wall: np.ndarray, w: int, h: int, rng: Rng) -> np.ndarray:
    gy, gx = int(rng.integers(3, 6)), int(rng.integers(4, 8))
    # Mostly light and shade, a little colour: rooms are not rainbows.
    cells = rng.normal(0.0, 22.0, (gy, gx, 1)) + rng.normal(0.0, 6.0, (gy, gx, 3))
    cells = cells.astype(np.float32)
    img = wall + cv2.resize(cells, (w, h), interpolation=cv2.INTER_CUBIC)
    # A window (bright) and a piece of furniture (dark) give the blur something to blur.
    ww, wh = int(w * rng.uniform(0.15, 0.3)), int(h * rng.uniform(0.3, 0.5))
    wx, wy = int(rng.uniform(0, w - ww)), int(h * rng.uniform(0.05, 0.2))
    img[wy : wy + wh, wx : wx + ww] = _jitter((235, 240, 240), rng)
    fw, fh = int(w * rng.uniform(0.2, 0.4)), int(h * rng.uniform(0.2, 0.4))
    fx = int(rng.uniform(0, w - fw))
    img[h - fh :, fx : fx + fw] = _jitter((60, 75, 95), rng, 20)
    return cv2.GaussianBlur(img, (0, 0), max(1.5, w / 90))


def _bookshelf(w: int, h: int, rng: Rng) -> np.ndarray:
    wood = _jitter((70, 105, 140), rng, 20)
    img = np.empty((h, w, 3), np.float32)
    img[:] = wood * 0.8
    shelves = int(rng.integers(3, 5))
    pitch = h / shelves
    for s in range(shelves):
        top, bottom = int(s * pitch), int((s + 1) * pitch - max(2, pitch * 0.08))
        img[bottom : int((s + 1) * pitch)] = wood
        x = int(rng.integers(0, max(1, w // 20)))
        while x < w:
            bw = max(2, int(w * rng.uniform(0.015, 0.045)))
            bh = int((bottom - top) * rng.uniform(0.55, 0.92))
            if rng.random() > 0.12:  # leave the odd gap on the shelf
                spine = rng.integers(30, 200, 3).astype(np.float32)
                img[bottom - bh : bottom, x : x + bw] = 0.55 * spine + 0.45 * spine.mean()
            x += bw + int(rng.integers(0, 2))
    return cv2.GaussianBlur(img, (0, 0), max(0.8, w / 250))


def vary(photo: FacePhoto, rng: Rng) -> tuple[np.ndarray, Box]:
    """A flipped / relit copy of the photo, so repeated faces are never pixel-identical."""
    image = photo.image.astype(np.float32)
    x1, y1, x2, y2 = photo.face
    if rng.random() < 0.5:
        image = image[:, ::-1]
        x1, x2 = 1.0 - x2, 1.0 - x1
    gain = rng.uniform(0.85, 1.15) * rng.uniform(0.96, 1.04, 3).astype(np.float32)
    image = image * gain + rng.uniform(-15, 15)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8), (x1, y1, x2, y2)


def person(photo: FacePhoto, w: int, h: int, rng: Rng, avoid: BGR | None = None, *,
           face_height: tuple[float, float] = FACE_HEIGHT, centre: tuple[float, float] | None = None,
           oval: bool = False) -> Person:
    """Head (the photo) on a neck and shoulders, placed as a webcam at a desk would frame it.

    ``face_height`` is the range of the face's height as a fraction of ``h``; ``centre``
    (fractions of the tile) fixes where the face goes instead of drawing it at random;
    ``oval`` cuts the head out as an oval around the face, so a loose crop's own background
    (another room, another person's shoulder) does not come along.

    The shirt reaches the tile's bottom edge, so it is kept at least ``_CONTRAST`` levels
    away from ``avoid`` (the app background): a shirt drawn exactly in the gap colour would
    erase the tile edge, which real, noisy video does not do over a whole edge.
    """
    image, (fx1, fy1, fx2, fy2) = vary(photo, rng)
    ph, pw = image.shape[:2]
    face_h = rng.uniform(*face_height) * h
    k = face_h / ((fy2 - fy1) * ph)
    sw, sh = max(2, round(pw * k)), max(2, round(ph * k))
    image = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC)
    face_w = (fx2 - fx1) * sw
    margin = 0.03 * h
    fx, fy = centre if centre is not None else (0.5 + rng.uniform(-0.12, 0.12), rng.uniform(0.36, 0.47))
    cx = np.clip(w * fx, face_w / 2 + margin, w - face_w / 2 - margin)
    cy = np.clip(h * fy, face_h / 2 + margin, h - face_h / 2 - margin)
    ox, oy = round(cx - (fx1 + fx2) / 2 * sw), round(cy - (fy1 + fy2) / 2 * sh)
    face = (ox + fx1 * sw, oy + fy1 * sh, ox + fx2 * sw, oy + fy2 * sh)

    colour = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    chin = face[3]
    fcx, fcy = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2

    # Back to front: hair, neck, shirt, then the photo. The photos are cut at the hairline;
    # hair behind them makes a head rather than a mask.
    hair = np.zeros((h, w), np.uint8)
    cut = rng.random()
    hx, hy = face_w * rng.uniform(0.56, 0.66), face_h * rng.uniform(0.6, 0.68)
    if cut > 0.1:  # the rest are bald
        cv2.ellipse(hair, (round(fcx), round(fcy - 0.1 * face_h)), (round(hx), round(hy)), 0, 0, 360, 255, -1,
                    cv2.LINE_AA)
    if cut > 0.7:  # long hair, falling behind the shoulders
        cv2.ellipse(hair, (round(fcx), round(chin)), (round(hx * 0.95), round(0.6 * face_h)), 0, 0, 360, 255, -1,
                    cv2.LINE_AA)
    tone = _HAIR[rng.integers(len(_HAIR))]
    if _is_grey(image):
        tone = (int(np.mean(tone)),) * 3
    _over(colour, alpha, cv2.GaussianBlur(hair, (0, 0), max(0.6, face_w / 60)), _jitter(tone, rng, 8))

    neck = np.zeros((h, w), np.uint8)
    nw = 0.22 * face_w
    cv2.rectangle(neck, (round(fcx - nw), round(chin - 0.35 * face_h)), (round(fcx + nw), h), 255, -1)
    _over(colour, alpha, neck, _skin(image) * 0.82)  # necks sit in the chin's shadow

    shoulders = np.zeros((h, w), np.uint8)
    top = chin + 0.2 * face_h
    rx, ry = face_w * rng.uniform(1.05, 1.35), face_h * rng.uniform(0.45, 0.7)
    body = (round(fcx + rng.uniform(-0.05, 0.05) * face_w), round(top + ry))
    cv2.ellipse(shoulders, body, (round(rx), round(ry)), 0, 0, 360, 255, -1, cv2.LINE_AA)
    cv2.rectangle(shoulders, (round(body[0] - rx), body[1]), (round(body[0] + rx), h), 255, -1)
    # A V-neck collar lets the neck show through the shirt.
    vee = np.array([[fcx - nw, top - 1], [fcx + nw, top - 1], [fcx, top + 0.35 * face_h]], np.int32)
    cv2.fillConvexPoly(shoulders, vee, 0, cv2.LINE_AA)
    shirt = _jitter(_SHIRTS[rng.integers(len(_SHIRTS))], rng, 10)
    if avoid is not None and np.abs(shirt - np.array(avoid, np.float32)).max() < _CONTRAST:
        shirt = np.clip(np.array(avoid, np.float32) + _CONTRAST, 0, 255)
    _over(colour, alpha, shoulders, shirt)

    head = np.zeros((h, w), np.float32)
    head_colour = np.zeros((h, w, 3), np.float32)
    x0, y0, x1, y1 = max(ox, 0), max(oy, 0), min(ox + sw, w), min(oy + sh, h)
    if x0 < x1 and y0 < y1:
        mask = _head_mask(sw, sh)
        if oval:
            mask = mask * _oval_mask(sw, sh, (fx1, fy1, fx2, fy2))
        head[y0:y1, x0:x1] = mask[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
        head_colour[y0:y1, x0:x1] = image[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
    colour[:] = head_colour * head[..., None] + colour * (1.0 - head[..., None])
    alpha[:] = head + alpha * (1.0 - head)
    return Person(colour, alpha, tuple(float(v) for v in face))  # type: ignore[arg-type]


def _is_grey(image: np.ndarray) -> bool:
    small = image[:: max(1, image.shape[0] // 32), :: max(1, image.shape[1] // 32)].astype(np.int16)
    return float(np.abs(small - small.mean(axis=2, keepdims=True)).mean()) < 3.0


def _skin(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    cheeks = np.concatenate([
        image[int(h * 0.5) : int(h * 0.7), int(w * 0.2) : int(w * 0.35)].reshape(-1, 3),
        image[int(h * 0.5) : int(h * 0.7), int(w * 0.65) : int(w * 0.8)].reshape(-1, 3),
    ])
    return np.median(cheeks, axis=0).astype(np.float32) if len(cheeks) else np.full(3, 150, np.float32)


def _head_mask(w: int, h: int) -> np.ndarray:
    """A feathered squircle: keeps the face and hair, drops the photo's square corners."""
    u = np.abs(np.linspace(-1.0, 1.0, w, dtype=np.float32))[None, :]
    v = np.abs(np.linspace(-1.0, 1.0, h, dtype=np.float32))[:, None]
    r = (u**3 + v**3) ** (1 / 3)
    return np.clip((1.0 - r) / 0.12, 0.0, 1.0)


def _oval_mask(w: int, h: int, face: Box) -> np.ndarray:
    """A feathered oval around ``face`` (fractions of the photo): forehead and chin kept."""
    x1, y1, x2, y2 = face
    # Wide and tall enough for the hair above the face box (it runs hairline to chin).
    cx, cy = (x1 + x2) / 2 * w, ((y1 + y2) / 2 - 0.1 * (y2 - y1)) * h
    ax, ay = 0.68 * (x2 - x1) * w, 0.78 * (y2 - y1) * h
    u = (np.arange(w, dtype=np.float32)[None, :] - cx) / max(ax, 1.0)
    v = (np.arange(h, dtype=np.float32)[:, None] - cy) / max(ay, 1.0)
    return np.clip((1.0 - np.sqrt(u * u + v * v)) / 0.12, 0.0, 1.0)


def _over(colour: np.ndarray, alpha: np.ndarray, mask: np.ndarray, paint: np.ndarray) -> None:
    a = mask.astype(np.float32) / 255.0
    colour[:] = paint * a[..., None] + colour * (1.0 - a[..., None])
    alpha[:] = a + alpha * (1.0 - a)


def composite(room: np.ndarray, who: Person, dx: int = 0, dy: int = 0) -> np.ndarray:
    """The tile: ``who`` shifted by (dx, dy) pixels in front of ``room``."""
    colour, alpha = who.colour, who.alpha
    if dx or dy:
        h, w = alpha.shape
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        # Replicating the border keeps the shirt reaching the tile's bottom edge.
        colour = cv2.warpAffine(colour, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.warpAffine(alpha, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    out = colour + room.astype(np.float32) * (1.0 - alpha[..., None])
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


_SLIDES = (
    ("Week 5: Photosynthesis", ("Light reactions", "Calvin cycle", "Quiz on Friday")),
    ("Quarterly results", ("Revenue up 12%", "Churn down to 3%", "Hiring on track")),
    ("Agenda", ("Recap of last session", "Group work (20 min)", "Questions")),
    ("Lab safety", ("Goggles on at all times", "No food in the lab", "Report spills")),
    ("Project timeline", ("Proposal due 3 March", "Draft due 7 April", "Final due 2 May")),
)


def slide(w: int, h: int, rng: Rng) -> np.ndarray:
    """A shared slide: title, bullets and a bar chart on white; it must yield no faces."""
    img = np.empty((h, w, 3), np.uint8)
    img[:] = (250, 249, 248)
    title, bullets = _SLIDES[rng.integers(len(_SLIDES))]
    px = max(8, round(h * 0.08))
    pad = round(w * 0.06)
    draw_text(img, fit_text(title, px, w - 2 * pad, bold=True), pad, round(h * 0.08), px, (60, 40, 30), bold=True)
    small = max(7, round(px * 0.6))
    for i, line in enumerate(bullets):
        y = round(h * 0.3) + i * round(small * 1.8)
        cv2.circle(img, (pad + small // 3, y + small // 2), max(1, small // 6), (80, 80, 80), -1, cv2.LINE_AA)
        draw_text(img, fit_text(line, small, w // 2 - pad), pad + small, y, small, (70, 70, 70))
    # The chart fills the right half, bars in the usual office palette.
    x0, y0, x1, y1 = w // 2 + pad // 2, round(h * 0.3), w - pad, round(h * 0.88)
    cv2.line(img, (x0, y1), (x1, y1), (120, 120, 120), 1, cv2.LINE_AA)
    cv2.line(img, (x0, y0), (x0, y1), (120, 120, 120), 1, cv2.LINE_AA)
    bars = int(rng.integers(3, 6))
    slot = (x1 - x0) / bars
    palette = ((196, 114, 68), (49, 125, 237), (165, 165, 165), (0, 192, 255), (71, 173, 112))
    for b in range(bars):
        top = round(y1 - (y1 - y0) * rng.uniform(0.2, 0.95))
        left = round(x0 + slot * (b + 0.2))
        cv2.rectangle(img, (left, top), (round(left + slot * 0.6), y1 - 1), palette[b % len(palette)], -1)
    return img

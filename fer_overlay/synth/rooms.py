"""Rooms behind a webcam: walls lit by a lamp, a corner, windows, doors, shelves, pictures,
plants, an office chair; or the virtual and blurred backgrounds the apps offer.

Real webcam frames are never flat: detectors and tile finders must cope with edges,
bright windows and dark furniture right next to a face, and with the tile edge itself.
"""

from __future__ import annotations

from enum import Enum

import cv2
import numpy as np

from .text import BGR

Rng = np.random.Generator

_WALLS: tuple[BGR, ...] = (
    (205, 218, 228), (182, 192, 202), (218, 222, 222), (165, 180, 160), (150, 165, 190), (210, 200, 186),
    (125, 145, 165), (228, 232, 236), (175, 160, 150), (145, 162, 172), (98, 118, 135), (60, 70, 85),
    (196, 208, 214), (120, 110, 170),
)
_WOOD: tuple[BGR, ...] = ((70, 105, 140), (45, 70, 100), (120, 160, 200), (30, 40, 55), (200, 205, 210))


class Scenery(str, Enum):
    ROOM = "room"  # a lived-in room
    OFFICE = "office"  # plain wall, door or cabinet, a chair
    SHELVES = "shelves"  # a wall of books
    VIRTUAL = "virtual"  # an app's virtual background (a landscape), sharp
    BLURRED = "blurred"  # the app's "blur my background"


def _colour(c: BGR, rng: Rng, amount: int = 12) -> np.ndarray:
    return np.clip(np.array(c, np.float32) + rng.integers(-amount, amount + 1, 3), 0, 255)


def _rect(img: np.ndarray, x: float, y: float, w: float, h: float, colour: np.ndarray) -> None:
    ih, iw = img.shape[:2]
    x0, y0, x1, y1 = (int(np.clip(v, 0, m)) for v, m in ((x, iw), (y, ih), (x + w, iw), (y + h, ih)))
    if x0 < x1 and y0 < y1:
        img[y0:y1, x0:x1] = colour


def _window(img: np.ndarray, x: float, y: float, w: float, h: float, rng: Rng, bright: float = 1.0) -> None:
    sky = _colour((245, 238, 225), rng, 10) * bright
    ih = img.shape[0]
    _rect(img, x, y, w, h, np.clip(sky, 0, 255))
    # Outside: a lighter sky over a darker band of trees or buildings, washed out by exposure.
    if rng.random() < 0.6:
        _rect(img, x, y + h * rng.uniform(0.55, 0.8), w, h, np.clip(_colour((150, 175, 160), rng, 30) * bright, 0, 255))
    frame = _colour((235, 235, 235) if rng.random() < 0.6 else _WOOD[rng.integers(len(_WOOD))], rng, 8)
    t = max(2.0, w * 0.04)
    for fx in (x, x + w - t, x + w / 2 - t / 2):
        _rect(img, fx, y, t, h, frame)
    for fy in (y, y + h - t):
        _rect(img, x, fy, w, t, frame)
    if rng.random() < 0.35:  # blinds
        step = max(3, int(h / rng.uniform(10, 22)))
        for by in range(int(y), int(min(y + h * rng.uniform(0.3, 1.0), ih)), step):
            _rect(img, x, by, w, max(1, step // 3), frame * 0.9)


def _shelf(img: np.ndarray, x: float, y: float, w: float, h: float, rng: Rng) -> None:
    wood = _colour(_WOOD[rng.integers(len(_WOOD))], rng, 15)
    _rect(img, x, y, w, h, wood * 0.75)
    shelves = int(rng.integers(2, 5))
    pitch = h / shelves
    for s in range(shelves):
        bottom = y + (s + 1) * pitch - max(2, pitch * 0.1)
        _rect(img, x, bottom, w, max(2, pitch * 0.1), wood)
        bx = x + w * 0.03
        while bx < x + w * 0.95:
            bw = max(2.0, w * rng.uniform(0.03, 0.08))
            bh = pitch * rng.uniform(0.45, 0.85)
            if rng.random() > 0.15:
                spine = rng.integers(30, 210, 3).astype(np.float32)
                _rect(img, bx, bottom - bh, min(bw, x + w * 0.97 - bx), bh, 0.6 * spine + 0.4 * spine.mean())
            bx += bw + rng.uniform(0, 2)


def _picture(img: np.ndarray, x: float, y: float, w: float, h: float, rng: Rng) -> None:
    _rect(img, x, y, w, h, _colour((40, 40, 40) if rng.random() < 0.5 else (235, 235, 235), rng, 10))
    m = max(2.0, w * 0.08)
    _rect(img, x + m, y + m, w - 2 * m, h - 2 * m, rng.integers(40, 230, 3).astype(np.float32))
    _rect(img, x + m, y + h * 0.55, w - 2 * m, h * 0.45 - m, rng.integers(30, 200, 3).astype(np.float32))


def _plant(img: np.ndarray, x: float, y: float, w: float, h: float, rng: Rng) -> None:
    pot = _colour((60, 80, 150) if rng.random() < 0.5 else (220, 220, 220), rng, 15)
    _rect(img, x + w * 0.3, y + h * 0.7, w * 0.4, h * 0.3, pot)
    green = _colour((60, 130, 70), rng, 25)
    for _ in range(int(rng.integers(5, 10))):
        cx, cy = x + w * rng.uniform(0.15, 0.85), y + h * rng.uniform(0.05, 0.7)
        ax, ay = w * rng.uniform(0.08, 0.2), h * rng.uniform(0.04, 0.12)
        cv2.ellipse(img, (round(cx), round(cy)), (max(1, round(ax)), max(1, round(ay))), float(rng.uniform(0, 180)),
                    0, 360, (green * rng.uniform(0.7, 1.2)).tolist(), -1, cv2.LINE_AA)


def _door(img: np.ndarray, x: float, y: float, w: float, h: float, rng: Rng) -> None:
    leaf = _colour((235, 235, 232) if rng.random() < 0.6 else _WOOD[rng.integers(len(_WOOD))], rng, 8)
    _rect(img, x - w * 0.06, y - w * 0.06, w * 1.12, h + w * 0.06, leaf * 0.92)
    _rect(img, x, y, w, h, leaf)
    for py in (0.08, 0.55):
        _rect(img, x + w * 0.15, y + h * py, w * 0.7, h * 0.35, leaf * 0.95)
    cv2.circle(img, (round(x + w * 0.85), round(y + h * 0.5)), max(1, round(w * 0.04)), (120, 140, 160), -1,
               cv2.LINE_AA)


def _chair(img: np.ndarray, cx: float, w: int, h: int, rng: Rng) -> None:
    cw, ch = w * rng.uniform(0.3, 0.45), h * rng.uniform(0.45, 0.65)
    colour = _colour((35, 35, 38) if rng.random() < 0.7 else (90, 80, 120), rng, 8)
    x, y = cx - cw / 2, h - ch
    r = max(2, round(cw * 0.25))
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.rectangle(mask, (round(x + r), round(y)), (round(x + cw - r), h), 255, -1)
    cv2.rectangle(mask, (round(x), round(y + r)), (round(x + cw), h), 255, -1)
    for px in (x + r, x + cw - r):
        cv2.circle(mask, (round(px), round(y + r)), r, 255, -1, cv2.LINE_AA)
    a = mask.astype(np.float32)[..., None] / 255.0
    img[:] = img * (1 - a) + colour * a


def _landscape(w: int, h: int, rng: Rng) -> np.ndarray:
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    top, low = _colour((200, 140, 70), rng, 25), _colour((245, 225, 200), rng, 10)
    img = np.broadcast_to(top * (1 - t) + low * t, (h, w, 3)).astype(np.float32).copy()
    xs = np.arange(w, dtype=np.float32)
    for layer in range(int(rng.integers(1, 3)) + 1):
        base = h * rng.uniform(0.55, 0.8) + layer * h * 0.08
        ridge = base + h * 0.06 * np.sin(xs / w * rng.uniform(3, 9) + rng.uniform(0, 6))
        colour = _colour((70, 140, 90) if rng.random() < 0.7 else (160, 120, 40), rng, 25) * (1 - 0.15 * layer)
        below = np.arange(h, dtype=np.float32)[:, None] > ridge[None, :]
        img[below] = colour
    return img


def scenery(kind: Scenery, w: int, h: int, rng: Rng, *, person_x: float = 0.5, backlit: bool = False) -> np.ndarray:
    """A BGR uint8 ``w`` x ``h`` background; ``person_x`` (fraction) is where the person will sit,
    so a chair goes behind them and a backlit window behind their head."""
    if kind is Scenery.VIRTUAL:
        return np.clip(_landscape(w, h, rng) + 0.5, 0, 255).astype(np.uint8)
    wall = _colour(_WALLS[rng.integers(len(_WALLS))], rng)
    # A lamp lights the wall unevenly; the far side falls into shade.
    lx, ly = rng.uniform(-0.2, 1.2) * w, rng.uniform(-0.3, 0.4) * h
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dist = np.sqrt((xx - lx) ** 2 + (yy - ly) ** 2) / max(w, h)
    light = (1.12 - rng.uniform(0.25, 0.5) * dist)[..., None]
    img = np.broadcast_to(wall, (h, w, 3)).astype(np.float32) * light
    if rng.random() < 0.5:  # a corner where two walls meet
        cx = rng.uniform(0.1, 0.9) * w
        side = xx[..., None] > cx if rng.random() < 0.5 else xx[..., None] <= cx
        img = np.where(side, img * rng.uniform(0.78, 0.9), img)
    img = np.ascontiguousarray(img, np.float32)  # cv2 draws only into C-ordered arrays
    if rng.random() < 0.3:  # ceiling
        _rect(img, 0, 0, w, h * rng.uniform(0.04, 0.14), np.clip(wall * 1.1 + 10, 0, 255))
    if backlit:
        # A window right behind the head, blown out to white: the camera exposes for it,
        # so the room and the face go dark.
        img *= rng.uniform(0.5, 0.7)
        ww, wh = w * rng.uniform(0.5, 0.75), h * rng.uniform(0.65, 0.9)
        wx, wy = person_x * w - ww / 2, h * rng.uniform(0.0, 0.08)
        _window(img, wx, wy, ww, wh, rng, bright=0.8)
        t = max(2.0, ww * 0.04)
        _rect(img, wx + t, wy + t, ww / 2 - 1.5 * t, wh - 2 * t, np.full(3, 252, np.float32))
        _rect(img, wx + ww / 2 + t / 2, wy + t, ww / 2 - 1.5 * t, wh - 2 * t, np.full(3, 252, np.float32))
    elif kind is Scenery.SHELVES:
        _shelf(img, -w * 0.05, -h * 0.05, w * 1.1, h * 1.1, rng)
    else:
        items = ["window", "door", "shelf", "picture", "plant", "picture"]
        if kind is Scenery.OFFICE:
            items = ["door", "cabinet", "picture", "window"]
        for item in rng.permutation(items)[: int(rng.integers(2, 4))]:
            x = rng.uniform(-0.1, 0.85) * w
            if item == "window":
                _window(img, x, h * rng.uniform(0.05, 0.2), w * rng.uniform(0.18, 0.35), h * rng.uniform(0.3, 0.55),
                        rng)
            elif item == "door":
                _door(img, x, h * rng.uniform(0.05, 0.15), w * rng.uniform(0.14, 0.2), h, rng)
            elif item == "shelf":
                _shelf(img, x, h * rng.uniform(0.0, 0.3), w * rng.uniform(0.2, 0.35), h * rng.uniform(0.4, 0.8), rng)
            elif item == "picture":
                pw = w * rng.uniform(0.08, 0.18)
                _picture(img, x, h * rng.uniform(0.05, 0.3), pw, pw * rng.uniform(0.7, 1.3), rng)
            elif item == "plant":
                pw = w * rng.uniform(0.12, 0.22)
                _plant(img, x, h - pw * 1.6, pw, pw * 1.6, rng)
            else:  # cabinet
                _rect(img, x, h * rng.uniform(0.6, 0.75), w * rng.uniform(0.25, 0.4), h,
                      _colour(_WOOD[rng.integers(len(_WOOD))], rng, 15))
    if rng.random() < 0.55:
        _chair(img, person_x * w + rng.uniform(-0.03, 0.03) * w, w, h, rng)
    # Webcams focus on the face: the room behind is soft, "blur my background" very soft.
    sigma = max(0.8, w / rng.uniform(160, 320)) if kind is not Scenery.BLURRED else max(3.0, w / 28)
    img = cv2.GaussianBlur(img, (0, 0), sigma)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)

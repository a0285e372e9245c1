"""A participant's webcam as the real apps show it: a room, a person at some distance,
headphones, glasses, a backlit window, a 4:3 camera pillarboxed into a 16:9 tile, and the
camera's own colour cast and vignette.

One ``Camera`` per participant decides all of this once (``Traits``) and can then film at
any tile size, so the same person looks the same in a gallery tile, a strip thumbnail and
the speaker's stage.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import content, wearables
from .faces import Box, FacePhoto
from .rooms import Scenery, scenery
from .text import BGR

Rng = np.random.Generator

FACE_HEIGHT_REAL = (0.2, 0.6)  # of the tile height: leaning in to sitting back from a laptop
_SCENERIES = (Scenery.ROOM, Scenery.ROOM, Scenery.OFFICE, Scenery.SHELVES, Scenery.VIRTUAL, Scenery.BLURRED)


@dataclass(frozen=True)
class Traits:
    scenery: Scenery
    face_height: float  # of the tile height
    centre: tuple[float, float]  # the face centre, fractions of the tile
    headphones: bool
    glasses: bool
    backlit: bool
    pillarbox: bool  # a 4:3 camera shown with black bars (Zoom does this)
    gain: tuple[float, float, float]  # white balance, BGR
    vignette: float  # 0: none; 0.3: corners 30% darker
    seed: int


def traits(rng: Rng, *, pillarbox: bool = False, face_height: tuple[float, float] = FACE_HEIGHT_REAL) -> Traits:
    """Draw one participant's webcam; ``pillarbox`` allows a 4:3 camera (Zoom only)."""
    size = float(rng.uniform(*face_height))
    backlit = bool(rng.random() < 0.12)
    warm = rng.uniform(-0.08, 0.08)
    return Traits(
        scenery=Scenery.ROOM if backlit else _SCENERIES[int(rng.integers(len(_SCENERIES)))],
        face_height=size,
        # Close faces sit high in the frame (the top of the head is cut), far ones lower.
        centre=(float(0.5 + rng.uniform(-0.14, 0.14)), float(rng.uniform(0.36, 0.5) - 0.1 * (size - 0.35))),
        headphones=bool(rng.random() < 0.35),
        glasses=bool(rng.random() < 0.3),
        backlit=backlit,
        pillarbox=bool(pillarbox and rng.random() < 0.15),
        gain=(float(1.0 - warm), float(1.0 + rng.uniform(-0.03, 0.03)), float(1.0 + warm)),
        vignette=float(rng.uniform(0.0, 0.3)),
        seed=int(rng.integers(0, 2**31)),
    )


@dataclass(frozen=True)
class Shot:
    """What the camera gives at one size: the room, the person layer, and the camera's grading."""

    room: np.ndarray  # (h, w, 3) uint8
    who: content.Person
    grade: np.ndarray | None  # (h, w, 3) float32 gain, None: none

    def frame(self, dx: int = 0, dy: int = 0) -> np.ndarray:
        tile = content.composite(self.room, self.who, dx, dy)
        if self.grade is None:
            return tile
        return np.clip(tile * self.grade + 0.5, 0, 255).astype(np.uint8)

    @property
    def face(self) -> Box:
        return self.who.face


def _grade(t: Traits, w: int, h: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx / max(w - 1, 1) - 0.5) ** 2 + (yy / max(h - 1, 1) - 0.5) ** 2) * 2.0
    fall = 1.0 - t.vignette * r2
    return (fall[..., None] * np.array(t.gain, np.float32)).astype(np.float32)


def shoot(photo: FacePhoto, t: Traits, w: int, h: int, avoid: BGR | None = None) -> Shot:
    """The webcam frame of ``photo``'s person with traits ``t``, filling a ``w`` x ``h`` tile."""
    rng = np.random.default_rng(t.seed)
    if t.pillarbox:
        cw = min(w, max(8, round(h * 4 / 3)))
        inner = shoot(photo, _no_box(t), cw, h, avoid)
        pad = (w - cw) // 2
        room = np.zeros((h, w, 3), np.uint8)
        room[:, pad : pad + cw] = inner.room
        colour = np.zeros((h, w, 3), np.float32)
        alpha = np.zeros((h, w), np.float32)
        colour[:, pad : pad + cw] = inner.who.colour
        alpha[:, pad : pad + cw] = inner.who.alpha
        fx1, fy1, fx2, fy2 = inner.face
        return Shot(room, content.Person(colour, alpha, (fx1 + pad, fy1, fx2 + pad, fy2)), None)
    room = scenery(t.scenery, w, h, rng, person_x=t.centre[0], backlit=t.backlit)
    who = content.person(photo, w, h, rng, avoid, face_height=(t.face_height, t.face_height), centre=t.centre,
                         oval=True)
    colour, alpha = who.colour.copy(), who.alpha.copy()
    if t.headphones:
        wearables.headphones(colour, alpha, who.face, rng)
    if t.glasses:
        wearables.glasses(colour, alpha, who.face, rng)
    if t.backlit:
        # Exposed for the window: the person is a dim, low-contrast silhouette with a face.
        k = float(rng.uniform(0.3, 0.45))
        colour = colour * k + alpha[..., None] * (18.0 * (1 - k))
    # The camera's colour cast and vignette, baked into both layers once: compositing is
    # linear, so this equals grading every frame, short of the 1-2 px a head drifts.
    grade = _grade(t, w, h)
    room = np.clip(room * grade + 0.5, 0, 255).astype(np.uint8)
    return Shot(room, content.Person(colour * grade, alpha, who.face), None)


def _no_box(t: Traits) -> Traits:
    return replace(t, pillarbox=False)


def portrait(photo: FacePhoto, d: int, rng: Rng) -> tuple[np.ndarray, Box]:
    """A square profile picture (``d`` px): head and shoulders filling most of it."""
    t = traits(rng, face_height=(0.45, 0.6))
    shot = shoot(photo, Traits(t.scenery if t.scenery is not Scenery.BLURRED else Scenery.ROOM, t.face_height,
                               (0.5 + rng.uniform(-0.05, 0.05), 0.45), t.headphones and rng.random() < 0.3,
                               t.glasses, False, False, t.gain, 0.0, t.seed), d, d)
    return shot.frame(), shot.face

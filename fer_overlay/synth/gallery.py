"""Gallery screenshots (and short videos of them) with ground truth for every tile."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from enum import Enum
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from ..types import Emotion
from . import content, ui
from .faces import Box, FaceBank
from .styles import LOOKS, Style
from .text import BGR, drawable

log = logging.getLogger(__name__)

MAX_TILES = 49  # one gallery page in Zoom, Meet and Teams
TILE_ASPECT = 16 / 9
MIN_TILE_HEIGHT = 24
_SUFFIXES = ("(she/her)", "(he/him)", "(they/them)", "| Room {room}", "(Guest)", "(Co-host)")


class TileKind(str, Enum):
    FACE = "face"
    CAMERA_OFF = "camera_off"
    SLIDE = "slide"


Rect = tuple[int, int, int, int]  # x, y, w, h


@dataclass(frozen=True)
class Grid:
    rows: int
    cols: int
    tile_size: tuple[int, int]  # (w, h)
    gap: int
    rects: tuple[Rect, ...]  # reading order; an incomplete last row is centred


def plan_grid(tiles: int, size: tuple[int, int], style: Style = Style.ZOOM, chrome: bool = True) -> Grid:
    """Place ``tiles`` uniform 16:9 tiles as the apps do: the grid that makes them largest."""
    w, h = size
    look = LOOKS[style]
    scale = h / 1080
    gap = max(2, round(look.gap * scale))
    top = max(gap, round(look.top_bar * scale)) if chrome else gap
    bottom = max(gap, round(look.bottom_bar * scale)) if chrome else gap
    aw, ah = w - 2 * gap, h - top - bottom
    best: tuple[tuple[int, int, int], int, int] | None = None
    for cols in range(1, tiles + 1):
        rows = math.ceil(tiles / cols)
        tw = math.floor(min((aw - (cols - 1) * gap) / cols, (ah - (rows - 1) * gap) / rows * TILE_ASPECT))
        # Largest tiles first; on a tie fewer empty cells, then wider grids (screens are wide).
        key = (tw, -(rows * cols - tiles), cols)
        if best is None or key > best[0]:
            best = (key, rows, cols)
    assert best is not None
    (tw, _, _), rows, cols = best
    th = math.floor(tw / TILE_ASPECT)
    y0 = top + (ah - (rows * th + (rows - 1) * gap)) // 2
    rects = []
    for r in range(rows):
        in_row = min(cols, tiles - r * cols)
        x0 = gap + (aw - (in_row * tw + (in_row - 1) * gap)) // 2
        rects.extend((x0 + c * (tw + gap), y0 + r * (th + gap), tw, th) for c in range(in_row))
    return Grid(rows, cols, (tw, th), gap, tuple(rects))


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


@dataclass(frozen=True)
class GallerySpec:
    """What to draw. ``camera_off`` is the fraction of participants without video (rounded);
    ``slides`` shared-screen tiles come on top of the participants; ``chrome`` draws toolbars."""

    participants: int
    size: tuple[int, int] = (1920, 1080)
    style: Style = Style.ZOOM
    camera_off: float = 0.1
    slides: int = 0
    seed: int = 0
    chrome: bool = True

    def __post_init__(self) -> None:
        if not _is_int(self.participants) or not 1 <= self.participants <= MAX_TILES:
            raise ValueError(f"participants must be an int in 1..{MAX_TILES}, got {self.participants!r}")
        try:
            size = tuple(int(v) for v in self.size) if all(_is_int(v) for v in self.size) else ()
        except TypeError:
            size = ()
        if len(size) != 2 or min(size) < 64:
            raise ValueError(f"size must be (width, height) in ints of at least 64, got {self.size!r}")
        object.__setattr__(self, "size", size)
        try:
            object.__setattr__(self, "style", Style(self.style))
        except ValueError:
            raise ValueError(f"style must be one of {[s.value for s in Style]}, got {self.style!r}") from None
        if isinstance(self.camera_off, bool) or not isinstance(self.camera_off, (int, float)) or not (
            0.0 <= self.camera_off <= 1.0
        ):
            raise ValueError(f"camera_off must be a fraction in [0, 1], got {self.camera_off!r}")
        if not _is_int(self.slides) or self.slides < 0 or self.participants + self.slides > MAX_TILES:
            raise ValueError(f"slides must be an int >= 0 with participants + slides <= {MAX_TILES}, "
                             f"got {self.slides!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {self.seed!r}")
        tile_h = plan_grid(self.tiles, size, self.style, self.chrome).tile_size[1]  # type: ignore[arg-type]
        if tile_h < MIN_TILE_HEIGHT:
            raise ValueError(f"size {size} is too small for {self.tiles} tiles ({tile_h} px high)")

    @property
    def tiles(self) -> int:
        return self.participants + self.slides

    @property
    def camera_off_count(self) -> int:
        return round(self.camera_off * self.participants)


@dataclass(frozen=True)
class TileTruth:
    """One tile. ``participant`` is stable across a video's reorders (slides count after people);
    ``display_name`` is the label exactly as drawn (suffixes, "..." cuts), ``name`` the clean name."""

    index: int
    rect: Rect
    kind: TileKind
    participant: int
    face_xyxy: Box | None = None  # FACE tiles only; see fer_overlay.synth.faces for its definition
    emotion: Emotion | None = None
    display_name: str | None = None
    name: str | None = None
    source: str | None = None  # face photo id

    @property
    def xyxy(self) -> Rect:
        x, y, w, h = self.rect
        return x, y, x + w, y + h


@dataclass(frozen=True)
class GalleryTruth:
    size: tuple[int, int]  # (w, h)
    style: Style
    grid: tuple[int, int]  # (rows, cols)
    tile_size: tuple[int, int]  # (w, h)
    gap: int
    background: BGR
    tiles: tuple[TileTruth, ...] = field(default=())
    frame: int = 0

    @property
    def faces(self) -> tuple[TileTruth, ...]:
        return tuple(t for t in self.tiles if t.kind is TileKind.FACE)

    def face_boxes(self) -> np.ndarray:
        """(N, 4) float32 xyxy of the FACE tiles, in tile order."""
        return np.array([t.face_xyxy for t in self.faces], np.float32).reshape(-1, 4)

    def participant(self, pid: int) -> TileTruth:
        """The tile showing participant ``pid`` in this frame."""
        for t in self.tiles:
            if t.participant == pid:
                return t
        raise KeyError(f"no participant {pid} in this gallery")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["style"] = self.style.value
        for t in d["tiles"]:
            t["kind"] = t["kind"].value
            t["emotion"] = t["emotion"].value if t["emotion"] else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GalleryTruth:
        def tile(t: dict[str, Any]) -> TileTruth:
            face = t.get("face_xyxy")
            return TileTruth(
                t["index"], tuple(t["rect"]), TileKind(t["kind"]), t["participant"],  # type: ignore[arg-type]
                tuple(face) if face else None, Emotion(t["emotion"]) if t.get("emotion") else None,  # type: ignore[arg-type]
                t.get("display_name"), t.get("name"), t.get("source"),
            )

        return cls(
            tuple(d["size"]), Style(d["style"]), tuple(d["grid"]), tuple(d["tile_size"]),  # type: ignore[arg-type]
            d["gap"], tuple(d["background"]), tuple(tile(t) for t in d["tiles"]), d.get("frame", 0),  # type: ignore[arg-type]
        )


@cache
def names() -> tuple[str, ...]:
    """The bundled "First Last" names (fer_overlay/assets/names.txt)."""
    text = resources.files("fer_overlay").joinpath("assets/names.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


@dataclass(frozen=True)
class _Participant:
    pid: int
    kind: TileKind
    name: str | None = None
    shown: str | None = None  # name plus suffix, before fitting to the tile
    room: np.ndarray | None = None
    who: content.Person | None = None
    still: np.ndarray | None = None  # camera-off and slide tiles never change
    emotion: Emotion | None = None
    source: str | None = None


class _Scene:
    """Everything that stays the same from frame to frame: people, rooms, names, the grid."""

    def __init__(self, spec: GallerySpec, bank: FaceBank) -> None:
        self.spec = spec
        self.look = LOOKS[spec.style]
        self.grid = plan_grid(spec.tiles, spec.size, spec.style, spec.chrome)
        tw, th = self.grid.tile_size
        r_names, r_kinds, r_photos, r_content = (np.random.default_rng(s) for s in np.random.SeedSequence(
            spec.seed).spawn(4))
        pool = names()
        picked = [pool[i] for i in r_names.permutation(len(pool))[: spec.participants]]
        shown = [self._suffixed(i, n, r_names) for i, n in enumerate(picked)]
        off = set(r_kinds.choice(spec.participants, spec.camera_off_count, replace=False).tolist())
        order = r_photos.permutation(len(bank))
        people: list[_Participant] = []
        n_faces = 0
        for pid in range(spec.participants):
            if pid in off:
                still = ui.camera_off(tw, th, drawable(shown[pid]), spec.style)
                people.append(_Participant(pid, TileKind.CAMERA_OFF, picked[pid], shown[pid], still=still))
                continue
            photo = bank[int(order[n_faces % len(order)])]
            n_faces += 1
            kind = content.Backdrop(r_content.choice([b.value for b in content.Backdrop]))
            room = content.backdrop(kind, tw, th, r_content)
            who = content.person(photo, tw, th, r_content, avoid=self.look.background)
            people.append(_Participant(pid, TileKind.FACE, picked[pid], shown[pid], room, who, None, photo.emotion,
                                       photo.image_id))
        for k in range(spec.slides):
            people.append(_Participant(spec.participants + k, TileKind.SLIDE, still=content.slide(tw, th, r_content)))
        self.people = tuple(people)
        log.debug("scene: %d tiles in %dx%d, %d faces from %s", spec.tiles, self.grid.rows, self.grid.cols, n_faces,
                  bank.source)

    @staticmethod
    def _suffixed(pid: int, name: str, rng: np.random.Generator) -> str:
        # Drawn whatever the outcome, so every participant consumes the same random numbers.
        roll, pick, room = rng.random(), rng.integers(len(_SUFFIXES)), rng.integers(1, 40)
        if pid == 0 and roll < 0.5:
            return f"{name} (Host)"
        if pid > 0 and roll < 0.2:
            return f"{name} {_SUFFIXES[pick].format(room=room)}"
        return name

    def render(self, order: list[int], offsets: np.ndarray, noise: float, rng: np.random.Generator | None,
               frame: int = 0) -> tuple[np.ndarray, GalleryTruth]:
        """Tile i shows participant ``order[i]``, heads moved by ``offsets[pid]`` (dx, dy)."""
        spec, look, grid = self.spec, self.look, self.grid
        w, h = spec.size
        image = np.empty((h, w, 3), np.uint8)
        image[:] = look.background
        if spec.chrome:
            ui.chrome(image, spec.style, h / 1080)
        radius = round(look.corner_radius * h / 1080)
        truths = []
        for index, (pid, rect) in enumerate(zip(order, grid.rects, strict=True)):
            p = self.people[pid]
            x, y, tw, th = rect
            face = display = None
            if p.kind is TileKind.FACE:
                assert p.room is not None and p.who is not None and p.shown is not None
                dx, dy = (int(v) for v in offsets[pid])
                tile = content.composite(p.room, p.who, dx, dy)
                if noise > 0 and rng is not None:
                    # Sensor noise is in the video only; the app's own drawing stays flat.
                    tile = np.clip(tile + rng.normal(0.0, noise, tile.shape), 0, 255).astype(np.uint8)
                fx1, fy1, fx2, fy2 = p.who.face
                face = tuple(round(v, 2) for v in (x + fx1 + dx, y + fy1 + dy, x + fx2 + dx, y + fy2 + dy))
            else:
                assert p.still is not None
                tile = p.still.copy()
            if p.shown is not None:
                display = ui.name_label(tile, p.shown, spec.style)
            ui.round_corners(tile, radius, look.background)
            image[y : y + th, x : x + tw] = tile
            truths.append(TileTruth(index, rect, p.kind, pid, face, p.emotion, display, p.name, p.source))
        truth = GalleryTruth((w, h), spec.style, (grid.rows, grid.cols), grid.tile_size, grid.gap, look.background,
                             tuple(truths), frame)
        return image, truth


def make_gallery(spec: GallerySpec, faces: FaceBank | None = None) -> tuple[np.ndarray, GalleryTruth]:
    """A BGR uint8 gallery screenshot and its ground truth; the same spec gives the same image."""
    scene = _Scene(spec, faces or FaceBank.default())
    return scene.render(list(range(spec.tiles)), np.zeros((spec.tiles, 2), np.int64), 0.0, None)


def gallery_frames(
    spec: GallerySpec,
    n_frames: int,
    *,
    reorder_every: int | None = None,
    jitter_px: int = 1,
    noise: float = 2.0,
    seed: int = 0,
    faces: FaceBank | None = None,
) -> Iterator[tuple[np.ndarray, GalleryTruth]]:
    """A video of one meeting: same people throughout, sensor noise, heads drifting by up to
    ``jitter_px``, and every ``reorder_every`` frames two tiles swapping places (as Zoom
    reshuffles when someone joins or speaks). ``TileTruth.participant`` follows each person."""
    if not _is_int(n_frames) or n_frames < 0:
        raise ValueError(f"n_frames must be an int >= 0, got {n_frames!r}")
    if reorder_every is not None and (not _is_int(reorder_every) or reorder_every < 1):
        raise ValueError(f"reorder_every must be None or an int >= 1, got {reorder_every!r}")
    if not _is_int(jitter_px) or jitter_px < 0:
        raise ValueError(f"jitter_px must be an int >= 0, got {jitter_px!r}")
    if not isinstance(noise, (int, float)) or noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    return _frames(spec, n_frames, reorder_every, jitter_px, float(noise), seed, faces)


def _frames(spec: GallerySpec, n_frames: int, reorder_every: int | None, jitter_px: int, noise: float, seed: int,
            faces: FaceBank | None) -> Iterator[tuple[np.ndarray, GalleryTruth]]:
    scene = _Scene(spec, faces or FaceBank.default())
    rng = np.random.default_rng(seed)
    order = list(range(spec.tiles))
    offsets = np.zeros((spec.tiles, 2), np.int64)
    for f in range(n_frames):
        if f and reorder_every and f % reorder_every == 0 and len(order) > 1:
            i, j = rng.choice(len(order), 2, replace=False)
            order[i], order[j] = order[j], order[i]
        if f and jitter_px:
            # A bounded random walk: heads drift, they do not teleport.
            offsets = np.clip(offsets + rng.integers(-1, 2, offsets.shape), -jitter_px, jitter_px)
        yield scene.render(order, offsets, noise, rng, f)

"""One meeting drawn frame by frame: each camera filmed at its tile's size, labels, the
speaker's outline, a shared screen, the self-view on top, and the truth of it all.

The class is drawn once (:mod:`.cast`), so a video's frames, a layout switch or a
reorder show the same people. The original drawing (``Fidelity.BASIC`` in a grid)
consumes its random numbers exactly as before, so earlier seeds still give the same pixels.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from . import chrome, content, labels, share, tiles, ui, webcam
from .cast import Participant, cast
from .faces import Box, FaceBank
from .layouts import Plan, Rect, View, plan, selfview_rect
from .spec import Fidelity, GallerySpec
from .styles import Look, Style
from .text import drawable, rounded_mask
from .truth import GalleryTruth, TileKind, TileTruth

log = logging.getLogger(__name__)

_CACHE_BYTES = 768 * 2**20  # camera layers are float32: a 4K stage is ~80 MB


class _Lru:
    """Rendered layers by key, dropped oldest first past a byte budget."""

    def __init__(self, budget: int) -> None:
        self._d: OrderedDict[object, tuple[object, int]] = OrderedDict()
        self._bytes, self._budget = 0, budget

    def get(self, key: object, make: Callable[[], object], nbytes: Callable[[object], int]) -> object:
        hit = self._d.get(key)
        if hit is not None:
            self._d.move_to_end(key)
            return hit[0]
        value = make()
        n = nbytes(value)
        self._d[key] = (value, n)
        self._bytes += n
        while self._bytes > self._budget and len(self._d) > 1:
            _, (_, m) = self._d.popitem(last=False)
            self._bytes -= m
        return value


def _shot_bytes(s: object) -> int:
    assert isinstance(s, webcam.Shot)
    return s.room.nbytes + s.who.colour.nbytes + s.who.alpha.nbytes + (s.grade.nbytes if s.grade is not None else 0)


def _overlap(a: Box | Rect, b: Rect, xyxy: bool) -> float:
    """Fraction of ``a`` covered by the (x, y, w, h) rectangle ``b``."""
    ax1, ay1, ax2, ay2 = a if xyxy else (a[0], a[1], a[0] + a[2], a[1] + a[3])
    bx1, by1, bx2, by2 = b[0], b[1], b[0] + b[2], b[1] + b[3]
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    area = max(1e-9, (ax2 - ax1) * (ay2 - ay1))
    return float(inter / area)


def _grow(box: Box, k: float) -> Box:
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * k / 2, (y2 - y1) * k / 2
    return x1 - dx, y1 - dy, x2 + dx, y2 + dy


class Scene:
    """Everything that stays the same from frame to frame: people, rooms, names, layouts."""

    def __init__(self, spec: GallerySpec, bank: FaceBank, reserve: int = 0) -> None:
        self.spec, self.bank, self.reserve = spec, bank, reserve
        self.look: Look = spec.look
        self.real = spec.fidelity is Fidelity.REAL
        h = spec.size[1]
        self.scale, self.ui_scale = h / 1080, labels.ui_scale(h)
        self._plans: dict[View, Plan] = {}
        self._shots = _Lru(_CACHE_BYTES)
        self._stills = _Lru(_CACHE_BYTES // 4)
        # The original grid's layers come from one shared stream and cannot be redrawn
        # alone, so they are kept apart from the caches and never dropped.
        self._pinned: dict[tuple[int, int, int], object] = {}
        self._corners: dict[View, Rect] = {}
        crew, r_content = cast(spec, bank)
        self.people, self.selfview = crew.people, crew.selfview
        self.speaker, self.sharer, self.screen_seed = crew.speaker, crew.sharer, crew.screen_seed
        self._legacy(r_content)
        log.debug("scene: %d tiles, %s view, %s, from %s", spec.tiles, spec.view.value, spec.fidelity.value,
                  bank.source)

    def _legacy(self, r_content: np.random.Generator) -> None:
        """The original grid's cameras and slides, drawn in the original order from ``r_content``."""
        spec = self.spec
        if self.real or spec.view is not View.GRID:
            return
        tw, th = self.plan(View.GRID).tile_size
        for p in self.people:
            if p.kind is TileKind.FACE:
                assert p.photo is not None
                kind = content.Backdrop(r_content.choice([b.value for b in content.Backdrop]))
                room = content.backdrop(kind, tw, th, r_content)
                who = content.person(p.photo, tw, th, r_content, avoid=self.look.background)
                self._pinned[(p.pid, tw, th)] = webcam.Shot(room, who, None)
        for p in self.people:
            if p.kind is TileKind.SLIDE:
                self._pinned[(p.pid, tw, th)] = (content.slide(tw, th, r_content), None)

    def plan(self, view: View) -> Plan:
        if view not in self._plans:
            s = self.spec
            self._plans[view] = plan(view, s.tiles, s.size, self.look, s.chrome, s.strip, self.reserve)
        return self._plans[view]

    # -- one tile -------------------------------------------------------------------------

    def shot(self, p: Participant, w: int, h: int) -> webcam.Shot:
        def make() -> webcam.Shot:
            assert p.photo is not None
            if p.traits is not None:
                return webcam.shoot(p.photo, p.traits, w, h, self.look.background)
            rng = np.random.default_rng(p.seed)
            kind = content.Backdrop(rng.choice([b.value for b in content.Backdrop]))
            room = content.backdrop(kind, w, h, rng)
            return webcam.Shot(room, content.person(p.photo, w, h, rng, avoid=self.look.background), None)

        pinned = self._pinned.get((p.pid, w, h))
        if isinstance(pinned, webcam.Shot):
            return pinned
        return self._shots.get((p.pid, w, h), make, _shot_bytes)  # type: ignore[return-value]

    def _still(self, p: Participant, w: int, h: int) -> tuple[np.ndarray, Box | None]:
        def make() -> tuple[np.ndarray, Box | None]:
            rng = np.random.default_rng(p.seed)
            if p.kind is TileKind.SLIDE:
                return content.slide(w, h, rng), None
            if p.kind is TileKind.EMPTY:
                return tiles.empty(w, h), None
            assert p.shown is not None
            if p.kind is TileKind.AVATAR:
                assert p.photo is not None
                d = max(16, round(h * self.look.avatar_size * 2))
                picture, face = webcam.portrait(p.photo, d, rng)
                return tiles.photo_avatar(w, h, picture, face, self.look)
            if not self.real:
                return ui.camera_off(w, h, drawable(p.shown), self.spec.style), None
            return tiles.camera_off(w, h, drawable(p.shown), self.look, self.ui_scale), None

        def nbytes(v: object) -> int:
            return v[0].nbytes  # type: ignore[index]

        pinned = self._pinned.get((p.pid, w, h))
        if isinstance(pinned, tuple):
            return pinned  # type: ignore[return-value]
        return self._stills.get((p.pid, w, h), make, nbytes)  # type: ignore[return-value]

    def tile(self, p: Participant, w: int, h: int, offset: tuple[int, int], noise: float,
             rng: np.random.Generator | None) -> tuple[np.ndarray, Box | None]:
        """``p``'s tile pixels at ``w`` x ``h`` and its face box (tile pixels, before the head
        moved by ``offset``), before labels."""
        if p.kind in (TileKind.FACE, TileKind.SELFVIEW):
            shot = self.shot(p, w, h)
            pixels = shot.frame(*offset)
            if noise > 0 and rng is not None:
                # Sensor noise is in the video only; the app's own drawing stays flat. The
                # original drawing keeps its float64 draws (and so its seeds' pixels).
                grain = (rng.standard_normal(pixels.shape, np.float32) * np.float32(noise) if self.real
                         else rng.normal(0.0, noise, pixels.shape))
                pixels = np.clip(pixels + grain, 0, 255).astype(np.uint8)
            return pixels, shot.face
        pixels, face = self._still(p, w, h)
        return pixels.copy(), face

    def label(self, pixels: np.ndarray, p: Participant) -> tuple[str | None, Rect | None]:
        if p.shown is None:
            return None, None
        if not self.real:
            return ui.name_label_box(pixels, p.shown, self.spec.style)
        flat = p.kind in (TileKind.CAMERA_OFF, TileKind.AVATAR)
        drawn = labels.draw_label(pixels, p.shown, self.look, self.ui_scale, p.muted, on_video=not flat)
        return drawn.text, drawn.rect

    # -- one frame ------------------------------------------------------------------------

    def render(self, order: Sequence[int], offsets: np.ndarray, noise: float, rng: np.random.Generator | None,
               frame: int = 0, *, view: View | None = None, speaker: int | None = None,
               shift: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, GalleryTruth]:
        """Tile i shows participant ``order[i]``, heads moved by ``offsets[pid]`` (dx, dy);
        ``speaker`` is outlined (and on the stage in speaker view); ``shift`` moves the tiles."""
        spec, look = self.spec, self.look
        view = spec.view if view is None else view
        p = self.plan(view)
        w, h = spec.size
        image = np.empty((h, w, 3), np.uint8)
        image[:] = look.background
        if spec.chrome:
            if self.real:
                chrome.draw(image, spec.style, look, spec.theme, self.scale)
            else:
                ui.chrome(image, spec.style, self.scale)
        sx, sy = shift
        order = list(order)
        if view is View.SPEAKER and speaker is not None and speaker in order:
            order.remove(speaker)
            order.insert(0, speaker)
        share_rect = None
        if p.share is not None:
            x, y, sw, sh = p.share
            share_rect = (x + sx, y + sy, sw, sh)
            screen = self._screen(sw, sh)
            image[y + sy : y + sy + sh, x + sx : x + sx + sw] = screen
            if self.real:
                share.banner(image, share_rect, spec.style, self.people[self.sharer].name or "", self.ui_scale)
        radius = round(look.corner_radius * h / 1080)
        truths: list[TileTruth] = []
        for index, (pid, rect) in enumerate(zip(order, p.rects)):
            person = self.people[pid]
            x, y, tw, th = rect
            x, y = x + sx, y + sy
            dx, dy = (int(v) for v in offsets[pid])
            pixels, face = self.tile(person, tw, th, (dx, dy), noise, rng)
            display, box = self.label(pixels, person)
            speaking = pid == speaker
            stage = view is View.SPEAKER and index == 0
            if speaking and not stage and self.real:
                tiles.outline(pixels, radius, max(2, round(look.speaker_width * self.ui_scale)), look.speaker)
            ui.round_corners(pixels, radius, look.background)
            image[y : y + th, x : x + tw] = pixels
            moved = (dx, dy) if person.kind is TileKind.FACE else (0, 0)
            truths.append(self._truth(index, (x, y, tw, th), person, face, moved, display, box, speaking))
        if spec.selfview:
            truths = self._draw_selfview(image, truths, noise, rng, view)
        truth = GalleryTruth((w, h), spec.style, p.grid, p.tile_size, p.gap, look.background, tuple(truths), frame,
                             view, spec.theme, share_rect)
        return image, truth

    def _screen(self, w: int, h: int) -> np.ndarray:
        key = ("screen", w, h)
        return self._stills.get(key, lambda: share.screen(w, h, np.random.default_rng(self.screen_seed)),
                                lambda s: s.nbytes)  # type: ignore[attr-defined,return-value]

    @staticmethod
    def _truth(index: int, rect: Rect, p: Participant, face: Box | None, moved: tuple[int, int],
               display: str | None, box: Rect | None, speaking: bool) -> TileTruth:
        x, y = rect[:2]
        dx, dy = moved
        # Summed in the original order ((x + fx) + dx), so earlier seeds give identical truth.
        gface = None if face is None else tuple(round(v, 2) for v in (x + face[0] + dx, y + face[1] + dy,
                                                                       x + face[2] + dx, y + face[3] + dy))
        glabel = None if box is None else (x + box[0], y + box[1], box[2], box[3])
        live = p.kind in (TileKind.FACE, TileKind.SELFVIEW)
        return TileTruth(index, rect, p.kind, p.pid, gface, p.emotion if live else None, display, p.name,  # type: ignore[arg-type]
                         p.photo.image_id if p.photo is not None else None, glabel, speaking)

    def _selfview_rect(self, truths: list[TileTruth], view: View) -> Rect:
        """The corner covering the fewest heads and labels, chosen on the view's first frame
        and kept (the apps do not move your video around as people reorder)."""
        if view in self._corners:
            return self._corners[view]
        spec = self.spec
        prefer = ("tr", "br", "tl", "bl") if spec.style is Style.ZOOM and view is not View.GRID else (
            "br", "tr", "bl", "tl")

        def cost(r: Rect) -> float:
            # Heads (a face box and its hair, ears, headphones) and labels matter; a tile's
            # room much less; a shared screen not at all.
            heads = sum(_overlap(_grow(t.face_xyxy, 0.4), r, True) for t in truths if t.face_xyxy is not None)
            names = sum(_overlap(t.label_rect, r, False) for t in truths if t.label_rect is not None)
            return heads + names + 0.1 * sum(_overlap(t.rect, r, False) for t in truths)

        rects = [selfview_rect(spec.size, self.look, spec.chrome, c) for c in prefer]
        self._corners[view] = min(rects, key=cost)  # min keeps the first (preferred) corner on a tie
        return self._corners[view]

    def _draw_selfview(self, image: np.ndarray, truths: list[TileTruth], noise: float,
                       rng: np.random.Generator | None, view: View) -> list[TileTruth]:
        """The teacher's own video over a corner; the tiles beneath learn what it covers."""
        spec, look = self.spec, self.look
        rect = self._selfview_rect(truths, view)
        x, y, w, h = rect
        p = self.selfview
        pixels, face = self.tile(p, w, h, (0, 0), noise, rng)
        display = box = None
        if spec.style is Style.ZOOM:  # Meet and Teams show no name on your own video
            display, box = self.label(pixels, p)
        radius = max(round(look.corner_radius * spec.size[1] / 1080), round(4 * self.scale))
        tiles.shadow(image, rect, radius, max(2, round(10 * self.scale)))
        ui.round_corners(pixels, radius, (0, 0, 0))
        mask = rounded_mask(w, h, radius)[..., None]
        roi = image[y : y + h, x : x + w].astype(np.float32)
        image[y : y + h, x : x + w] = np.clip(roi * (1 - mask) + pixels * mask + 0.5, 0, 255).astype(np.uint8)
        covered = [replace(t, hidden=round(_overlap(t.face_xyxy, rect, True), 3) if t.face_xyxy else 0.0,
                           label_hidden=t.label_rect is not None and _overlap(t.label_rect, rect, False) > 0)
                   for t in truths]
        covered.append(self._truth(len(truths), rect, p, face, (0, 0), display, box, False))
        return covered

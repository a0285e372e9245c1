"""Who is who: tile name labels bound to tracked faces, kept through gallery reorders.

Labels are read only when a tile's label area changes (someone joined, left, or the
app reordered tiles) or every `reread_s`, a few tiles per frame so a 49-tile gallery
never stalls one analysis step. A student's history is keyed by their normalised name,
so it survives reorders; with no readable name the key falls back to the track id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from .layout import Layout, LayoutKind, Tile
from .names import normalise
from .ocr import NameReader, NameReading, OcrOptions
from .types import Faces

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IdentityOptions:
    reread_s: float = 30.0
    change_threshold: float = 10.0  # mean abs grey difference of the label band, 0..255
    tiles_per_frame: int = 8
    opt_out: tuple[str, ...] = ()  # names as the teacher typed them

    def __post_init__(self) -> None:
        if self.tiles_per_frame < 1:
            raise ValueError(f"tiles_per_frame must be >= 1, got {self.tiles_per_frame}")

    @property
    def opt_out_keys(self) -> frozenset[str]:
        return frozenset(n.key for n in (normalise(x) for x in self.opt_out) if n)


def student_key(name: str | None, track_id: int) -> str:
    n = normalise(name) if name else None
    return n.key if n else f"track-{track_id}"


@dataclass
class _TileName:
    thumb: np.ndarray
    reading: NameReading | None
    read_at: float


def _label_thumb(tile_img: np.ndarray) -> np.ndarray:
    h = tile_img.shape[0]
    band = tile_img[int(h * 0.7) :]
    grey = cv2.cvtColor(band, cv2.COLOR_BGR2GRAY) if band.ndim == 3 else band
    return cv2.resize(grey, (48, 12), interpolation=cv2.INTER_AREA).astype(np.float32)


@dataclass
class IdentityTracker:
    """Fills the `name` column of tracked faces; splits off opted-out students."""

    reader: NameReader = field(default_factory=lambda: NameReader(OcrOptions()))
    options: IdentityOptions = field(default_factory=IdentityOptions)
    _tiles: dict[tuple[int, int, int, int], _TileName] = field(default_factory=dict, init=False)

    def reset(self) -> None:
        self._tiles.clear()

    def update(self, image: np.ndarray, layout: Layout, faces: Faces, t: float) -> tuple[Faces, Faces]:
        """(faces with names, opted-out faces to hide). Without a tile grid names are unknown."""
        if layout.kind is LayoutKind.NONE or not len(faces):
            return faces, Faces.empty()
        with_face = {int(i) for i in faces.tile if i >= 0}
        self._refresh(image, layout.tiles, with_face, t)
        by_index = {tile.index: self._tiles.get(tile.xyxy) for tile in layout.tiles}
        names: list[str | None] = []
        for tile_idx in faces.tile.tolist():
            entry = by_index.get(tile_idx)
            reading = entry.reading if entry else None
            names.append(reading.name.display if reading and reading.name else None)
        named = faces.with_(name=tuple(names))
        blocked = self.options.opt_out_keys
        if not blocked:
            return named, Faces.empty()
        hidden = np.array([bool(n) and normalise(n).key in blocked for n in names], bool)  # type: ignore[union-attr]
        return named[np.flatnonzero(~hidden)], named[np.flatnonzero(hidden)].with_(name=(None,) * int(hidden.sum()))

    def _refresh(self, image: np.ndarray, tiles: tuple[Tile, ...], with_face: set[int], t: float) -> None:
        stale: list[tuple[float, Tile, np.ndarray]] = []
        for tile in tiles:
            thumb = _label_thumb(tile.crop(image))
            entry = self._tiles.get(tile.xyxy)
            if entry is None:
                urgency = float("inf")
            else:
                changed = float(np.abs(thumb - entry.thumb).mean())
                due = t - entry.read_at >= self.options.reread_s
                if changed < self.options.change_threshold and not due:
                    continue
                urgency = changed + (t - entry.read_at)
            stale.append((urgency, tile, thumb))
        stale.sort(key=lambda s: -s[0])
        batch = stale[: self.options.tiles_per_frame]
        if not batch:
            return
        crops = [tile.crop(image) for _, tile, _ in batch]
        readings = self.reader.read_tiles(crops, [tile.index in with_face for _, tile, _ in batch])
        for (_, tile, thumb), reading in zip(batch, readings):
            old = self._tiles.get(tile.xyxy)
            if old and old.reading and reading and old.reading.name != reading.name:
                log.info("tile %d: %s -> %s", tile.index, old.reading.raw, reading.raw)
            self._tiles[tile.xyxy] = _TileName(thumb, reading, t)

"""Ground truth of a generated gallery: every tile, what it shows, where its face and label are."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from ..types import Emotion
from .faces import Box
from .layouts import Rect, View
from .styles import Style, Theme
from .text import BGR


class TileKind(str, Enum):
    FACE = "face"  # a live webcam with a visible face
    CAMERA_OFF = "camera_off"  # camera off: the name or initials on a flat tile
    SLIDE = "slide"  # a tile showing shared slides (no person)
    AVATAR = "avatar"  # camera off with a profile photo: a face, but no live person (no emotion)
    EMPTY = "empty"  # video on but black (connecting, covered camera): a label and nothing else
    SELFVIEW = "selfview"  # the local user's floating inset, drawn over the gallery


LIVE = (TileKind.FACE, TileKind.SELFVIEW)  # tiles whose face is a live person


@dataclass(frozen=True)
class TileTruth:
    """One tile. ``participant`` is stable across a video's reorders (slides count after people,
    the self-view last); ``display_name`` is the label exactly as drawn (suffixes, "..." cuts),
    ``name`` the clean name; ``label_rect`` the drawn text's box (x, y, w, h) in the image."""

    index: int
    rect: Rect
    kind: TileKind
    participant: int
    face_xyxy: Box | None = None  # FACE, AVATAR and SELFVIEW tiles; see fer_overlay.synth.faces
    emotion: Emotion | None = None
    display_name: str | None = None
    name: str | None = None
    source: str | None = None  # face photo id
    label_rect: Rect | None = None
    speaking: bool = False  # the active speaker: outlined, or on the stage in speaker view
    hidden: float = 0.0  # fraction of the face box covered by the self-view inset
    label_hidden: bool = False  # the self-view covers some of the label

    @property
    def xyxy(self) -> Rect:
        x, y, w, h = self.rect
        return x, y, x + w, y + h

    @property
    def label_xyxy(self) -> Rect | None:
        if self.label_rect is None:
            return None
        x, y, w, h = self.label_rect
        return x, y, x + w, y + h


@dataclass(frozen=True)
class GalleryTruth:
    size: tuple[int, int]  # (w, h)
    style: Style
    grid: tuple[int, int]  # (rows, cols) of the grid, or of the strip
    tile_size: tuple[int, int]  # (w, h) of the grid or strip tiles (a speaker's stage tile is larger)
    gap: int
    background: BGR
    tiles: tuple[TileTruth, ...] = field(default=())
    frame: int = 0
    view: View = View.GRID
    theme: Theme = Theme.DARK
    share: Rect | None = None  # the shared screen, when one is shown

    @property
    def faces(self) -> tuple[TileTruth, ...]:
        """The students' live webcam faces (not avatars, not the self-view)."""
        return tuple(t for t in self.tiles if t.kind is TileKind.FACE)

    @property
    def avatars(self) -> tuple[TileTruth, ...]:
        return tuple(t for t in self.tiles if t.kind is TileKind.AVATAR)

    @property
    def selfview(self) -> TileTruth | None:
        return next((t for t in self.tiles if t.kind is TileKind.SELFVIEW), None)

    @property
    def speaker(self) -> TileTruth | None:
        return next((t for t in self.tiles if t.speaking), None)

    def face_boxes(self, kinds: tuple[TileKind, ...] = (TileKind.FACE,)) -> np.ndarray:
        """(N, 4) float32 xyxy of the faces of tiles of ``kinds`` (default: FACE), in tile order."""
        return np.array([t.face_xyxy for t in self.tiles if t.kind in kinds and t.face_xyxy is not None],
                        np.float32).reshape(-1, 4)

    def participant(self, pid: int) -> TileTruth:
        """The tile showing participant ``pid`` in this frame."""
        for t in self.tiles:
            if t.participant == pid:
                return t
        raise KeyError(f"no participant {pid} in this gallery")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("style", "view", "theme"):
            d[key] = d[key].value
        for t in d["tiles"]:
            t["kind"] = t["kind"].value
            t["emotion"] = t["emotion"].value if t["emotion"] else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GalleryTruth:
        def opt(v: Any) -> Any:
            return tuple(v) if v is not None else None

        def tile(t: dict[str, Any]) -> TileTruth:
            face = t.get("face_xyxy")
            return TileTruth(
                t["index"], tuple(t["rect"]), TileKind(t["kind"]), t["participant"],  # type: ignore[arg-type]
                tuple(face) if face else None, Emotion(t["emotion"]) if t.get("emotion") else None,  # type: ignore[arg-type]
                t.get("display_name"), t.get("name"), t.get("source"), opt(t.get("label_rect")),
                bool(t.get("speaking", False)), float(t.get("hidden", 0.0)), bool(t.get("label_hidden", False)),
            )

        return cls(
            tuple(d["size"]), Style(d["style"]), tuple(d["grid"]), tuple(d["tile_size"]),  # type: ignore[arg-type]
            d["gap"], tuple(d["background"]), tuple(tile(t) for t in d["tiles"]), d.get("frame", 0),  # type: ignore[arg-type]
            View(d.get("view", View.GRID.value)), Theme(d.get("theme", Theme.DARK.value)), opt(d.get("share")),
        )

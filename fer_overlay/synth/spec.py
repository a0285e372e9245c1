"""What to draw: ``GallerySpec`` and its options, validated with the bad field named."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from .compress import Compression
from .layouts import Strip, View, plan
from .styles import Look, Style, Theme, basic_look, real_look

MAX_TILES = 49  # one gallery page in Zoom, Meet and Teams
MIN_TILE_HEIGHT = 24


class Fidelity(str, Enum):
    BASIC = "basic"  # the original simplified drawing (tests and benchmarks were tuned on it)
    REAL = "real"  # as the current apps draw: label chips with mic icons, rooms, distances, wearables


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _fraction(name: str, v: object) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be a fraction in [0, 1], got {v!r}")


def _enum(name: str, cls: type[Enum], v: object) -> Any:
    try:
        return cls(v)
    except ValueError:
        raise ValueError(f"{name} must be one of {[e.value for e in cls]}, got {v!r}") from None


@dataclass(frozen=True)
class GallerySpec:
    """What to draw. ``camera_off`` is the fraction of participants without video (rounded),
    of which ``avatar_photos`` show a profile photo and the rest their name or initials;
    ``empty`` is the fraction whose video is on but black; ``slides`` shared-screen tiles come
    on top of the participants; ``chrome`` draws toolbars.

    ``view`` arranges the tiles (a grid, a speaker or shared screen with a ``strip`` of
    thumbnails, or a shared screen beside a grid); ``active_speaker`` outlines one live tile;
    ``selfview`` floats the local user's video over a corner; ``duplicate_labels`` gives that
    many participants the same label ("iPhone"); ``compression`` is applied to the pixels
    (never to the truth). The defaults draw exactly what earlier versions drew."""

    participants: int
    size: tuple[int, int] = (1920, 1080)
    style: Style = Style.ZOOM
    camera_off: float = 0.1
    slides: int = 0
    seed: int = 0
    chrome: bool = True
    view: View = View.GRID
    strip: Strip = Strip.RIGHT
    theme: Theme = Theme.DARK
    fidelity: Fidelity = Fidelity.BASIC
    avatar_photos: float = 0.0
    empty: float = 0.0
    active_speaker: bool = False
    selfview: bool = False
    duplicate_labels: int = 0
    compression: Compression = field(default_factory=Compression)

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
        for name, cls in (("style", Style), ("view", View), ("strip", Strip), ("theme", Theme),
                          ("fidelity", Fidelity)):
            object.__setattr__(self, name, _enum(name, cls, getattr(self, name)))
        for name in ("camera_off", "avatar_photos", "empty"):
            _fraction(name, getattr(self, name))
        if self.camera_off_count + self.empty_count > self.participants:
            raise ValueError(f"camera_off + empty must leave room in {self.participants} participants, "
                             f"got {self.camera_off!r} + {self.empty!r}")
        if not _is_int(self.slides) or self.slides < 0 or self.participants + self.slides > MAX_TILES:
            raise ValueError(f"slides must be an int >= 0 with participants + slides <= {MAX_TILES}, "
                             f"got {self.slides!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {self.seed!r}")
        for name in ("chrome", "active_speaker", "selfview"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")
        d = self.duplicate_labels
        if not _is_int(d) or d == 1 or not 0 <= d <= self.participants:
            raise ValueError(f"duplicate_labels must be 0 or an int in 2..participants, got {d!r}")
        if not isinstance(self.compression, Compression):
            raise ValueError(f"compression must be a Compression, got {self.compression!r}")
        p = plan(self.view, self.tiles, size, self.look, self.chrome, self.strip)  # type: ignore[arg-type]
        tile_h = min(r[3] for r in p.rects)
        if tile_h < MIN_TILE_HEIGHT:
            raise ValueError(f"size {size} is too small for {self.tiles} tiles ({tile_h} px high)")

    @classmethod
    def realistic(cls, participants: int, size: tuple[int, int] = (1920, 1080), style: Style = Style.ZOOM,
                  **options: Any) -> GallerySpec:
        """A class as the real apps show it: camera-off tiles with photos and initials, an
        active speaker, the self-view; any field can be overridden in ``options``."""
        fields: dict[str, Any] = {"camera_off": 0.2, "fidelity": Fidelity.REAL, "avatar_photos": 0.5,
                                  "active_speaker": True, "selfview": True}
        fields.update(options)
        return cls(participants, size, style, **fields)

    @property
    def tiles(self) -> int:
        return self.participants + self.slides

    @property
    def camera_off_count(self) -> int:
        return round(self.camera_off * self.participants)

    @property
    def empty_count(self) -> int:
        return round(self.empty * self.participants)

    @property
    def look(self) -> Look:
        if self.fidelity is Fidelity.REAL:
            return real_look(self.style, self.theme)
        return basic_look(self.style, self.theme)

    def to_dict(self) -> dict[str, Any]:
        return {"participants": self.participants, "size": list(self.size), "style": self.style.value,
                "camera_off": self.camera_off, "slides": self.slides, "seed": self.seed, "chrome": self.chrome,
                "view": self.view.value, "strip": self.strip.value, "theme": self.theme.value,
                "fidelity": self.fidelity.value, "avatar_photos": self.avatar_photos, "empty": self.empty,
                "active_speaker": self.active_speaker, "selfview": self.selfview,
                "duplicate_labels": self.duplicate_labels,
                "compression": {"codec": self.compression.codec.value, "quality": self.compression.quality}}

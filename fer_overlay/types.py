"""The data that flows between stages: :class:`Faces` (column per field), :class:`Frame`.

Every stage takes these and returns new ones; arrays are made read-only on the way
in, so a stage that tries to edit its input fails loudly instead of corrupting another
stage's view.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np


class Emotion(str, Enum):
    """Model classes in output order, plus UNKNOWN for "not decided"."""

    ANGRY = "angry"
    DISGUST = "disgust"
    FEAR = "fear"
    HAPPY = "happy"
    SAD = "sad"
    SURPRISE = "surprise"
    NEUTRAL = "neutral"
    UNKNOWN = "unknown"

    @classmethod
    def classes(cls) -> tuple[Emotion, ...]:
        return CLASSES

    @property
    def valence(self) -> int:
        """+1 positive, -1 negative, 0 neutral or unknown (for class balance)."""
        return _VALENCE.get(self, 0)


CLASSES: tuple[Emotion, ...] = tuple(e for e in Emotion if e is not Emotion.UNKNOWN)
LABELS: tuple[str, ...] = tuple(e.value for e in CLASSES)
NUM_CLASSES = len(CLASSES)
UNKNOWN_INDEX = -1
_VALENCE = {
    Emotion.HAPPY: 1, Emotion.SURPRISE: 1,
    Emotion.ANGRY: -1, Emotion.DISGUST: -1, Emotion.FEAR: -1, Emotion.SAD: -1,
}


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True) if a.flags.writeable or not a.flags.c_contiguous else a
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class Faces:
    """N faces in one frame, one array per field (supervision-style).

    Columns beyond ``xyxy`` default to "not filled in yet": NaN landmarks and probs,
    track_id -1, tile -1, emotion -1 (unknown), name None, student None.
    """

    xyxy: np.ndarray  # (N, 4) float32, input pixels
    score: np.ndarray = None  # type: ignore[assignment]  # (N,) float32 detector confidence
    landmarks: np.ndarray = None  # type: ignore[assignment]  # (N, 5, 2) float32; eyes, nose, mouth corners
    track_id: np.ndarray = None  # type: ignore[assignment]  # (N,) int64, -1 = untracked
    tile: np.ndarray = None  # type: ignore[assignment]  # (N,) int32, -1 = no gallery grid
    probs: np.ndarray = None  # type: ignore[assignment]  # (N, 7) float32 in LABELS order, NaN = unclassified
    emotion: np.ndarray = None  # type: ignore[assignment]  # (N,) int8 index into CLASSES, -1 = unknown
    raw_probs: np.ndarray = None  # type: ignore[assignment]  # (N, 7) before per-student calibration
    name: tuple[str | None, ...] = field(default=())  # one per face, None = unknown
    # The student key (see fer_overlay.people.identity, the one place that sets it): the normalised
    # name, "iphone #2" for a repeated label, or "track-N"; None = not decided yet.
    student: tuple[str | None, ...] = field(default=())

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = len(xyxy)
        defaults: dict[str, tuple[Any, tuple[int, ...], Any]] = {
            "score": (np.float32, (n,), 1.0),
            "landmarks": (np.float32, (n, 5, 2), np.nan),
            "track_id": (np.int64, (n,), -1),
            "tile": (np.int32, (n,), -1),
            "probs": (np.float32, (n, NUM_CLASSES), np.nan),
            "emotion": (np.int8, (n,), UNKNOWN_INDEX),
            "raw_probs": (np.float32, (n, NUM_CLASSES), np.nan),
        }
        object.__setattr__(self, "xyxy", _frozen(xyxy))
        for name, (dtype, shape, fill) in defaults.items():
            value = getattr(self, name)
            arr = np.full(shape, fill, dtype) if value is None else np.asarray(value, dtype=dtype)
            if arr.shape != shape:
                raise ValueError(f"Faces.{name} has shape {arr.shape}, expected {shape} for {n} faces")
            object.__setattr__(self, name, _frozen(arr))
        for column in TEXT_COLUMNS:
            values = tuple(getattr(self, column))
            values = values if values else (None,) * n
            if len(values) != n:
                raise ValueError(f"Faces.{column} has {len(values)} entries, expected {n}")
            object.__setattr__(self, column, values)

    @classmethod
    def empty(cls) -> Faces:
        return cls(xyxy=np.zeros((0, 4), np.float32))

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> Faces:
        idx = np.arange(len(self))[index]
        idx = np.atleast_1d(idx)
        cols = {c: getattr(self, c)[idx] for c in ARRAY_COLUMNS}
        texts = {c: tuple(getattr(self, c)[i] for i in idx) for c in TEXT_COLUMNS}
        return Faces(**cols, **texts)

    def __iter__(self) -> Iterator[Faces]:
        return (self[i] for i in range(len(self)))

    def with_(self, **columns: Any) -> Faces:
        """A copy with some columns replaced (validated like the constructor)."""
        return dataclasses.replace(self, **columns)

    @classmethod
    def concat(cls, parts: Sequence[Faces], **columns: Any) -> Faces:
        """The parts' rows in order; `columns` replace whole columns of the result (as `with_`,
        without building it twice: the tracker joins one-row parts every frame)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty().with_(**columns) if columns else cls.empty()
        cols = {c: np.concatenate([getattr(p, c) for p in parts]) for c in ARRAY_COLUMNS if c not in columns}
        texts = {c: tuple(v for p in parts for v in getattr(p, c)) for c in TEXT_COLUMNS if c not in columns}
        return cls(**cols, **texts, **columns)

    @property
    def labels(self) -> tuple[str, ...]:
        """Emotion label per face, "unknown" where undecided."""
        return tuple(LABELS[e] if e >= 0 else Emotion.UNKNOWN.value for e in self.emotion)

    @property
    def centers(self) -> np.ndarray:
        return (self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2

    @property
    def sizes(self) -> np.ndarray:
        """Face side in pixels: the shorter box edge."""
        wh = self.xyxy[:, 2:] - self.xyxy[:, :2]
        return wh.min(axis=1) if len(self) else np.zeros(0, np.float32)


ARRAY_COLUMNS = ("xyxy", "score", "landmarks", "track_id", "tile", "probs", "emotion", "raw_probs")
TEXT_COLUMNS = ("name", "student")


@dataclass(frozen=True)
class Frame:
    """One captured image (BGR uint8, H x W x 3) with its capture time and sequence number."""

    image: np.ndarray
    index: int = 0
    timestamp: float = 0.0  # seconds, time.monotonic() for live sources, video time for files

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            desc = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
            raise ValueError(f"Frame.image must be an H x W x 3 uint8 BGR array, got {desc}")
        if img.shape[0] < 1 or img.shape[1] < 1:
            raise ValueError(f"Frame.image is empty: {img.shape}")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.image.shape[1]), int(self.image.shape[0])


# Where the gallery's tiles are (analysis.layout finds them).
class LayoutKind(str, Enum):
    GRID = "grid"
    SPEAKER = "speaker"
    NONE = "none"  # no tiles found: analyse the whole frame


@dataclass(frozen=True)
class Tile:
    index: int
    x: int
    y: int
    w: int
    h: int

    @property
    def xyxy(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.x + self.w, self.y + self.h

    def crop(self, image: np.ndarray) -> np.ndarray:
        return image[self.y : self.y + self.h, self.x : self.x + self.w]


@dataclass(frozen=True)
class Layout:
    kind: LayoutKind
    tiles: tuple[Tile, ...]
    frame_size: tuple[int, int]  # (w, h)
    background: tuple[int, int, int] | None = None
    # Small tiles floating over a tile (the self-view inset): not part of the class.
    insets: tuple[Tile, ...] = ()

    @classmethod
    def whole_frame(cls, width: int, height: int) -> Layout:
        return cls(LayoutKind.NONE, (Tile(0, 0, 0, width, height),), (width, height))

    def in_inset(self, points: np.ndarray) -> np.ndarray:
        """(N,) bool: which (x, y) points lie on a floating inset (the self-view)."""
        out = np.zeros(len(points), bool)
        for t in self.insets:
            x, y = points[:, 0], points[:, 1]
            out |= (x >= t.x) & (x < t.x + t.w) & (y >= t.y) & (y < t.y + t.h)
        return out

    def offset_from(self, old: Layout, slack_px: float) -> tuple[int, int] | None:
        """(dx, dy) when these are `old`'s tiles all moved by one offset (a gallery scrolled, its
        window dragged), each within `slack_px` of it; None otherwise (another layout)."""
        if (self.kind != old.kind or len(self.tiles) != len(old.tiles) or not self.tiles
                or self.frame_size != old.frame_size):
            return None
        a = np.array([t.xyxy for t in old.tiles], np.float64)
        b = np.array([t.xyxy for t in self.tiles], np.float64)
        dx, dy = np.median(b - a, axis=0)[:2]
        if np.abs(b - a - np.array([dx, dy, dx, dy])).max() > slack_px:
            return None
        return round(float(dx)), round(float(dy))

    @functools.cached_property
    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(T, 4) x0, y0, x1, y1 of the tiles in reverse order, and their indices: tile_of's tables,
        built once per layout (it is asked several times a frame, for every face)."""
        tiles = self.tiles[::-1]
        return (np.array([t.xyxy for t in tiles], np.float64).reshape(-1, 4),
                np.array([t.index for t in tiles], np.int32))

    def tile_of(self, points: np.ndarray) -> np.ndarray:
        """Tile index for each (x, y) point; -1 outside every tile or without a grid. Where tiles
        overlap, the later tile wins."""
        points = np.asarray(points, np.float64).reshape(-1, 2)
        out = np.full(len(points), -1, np.int32)
        if self.kind is LayoutKind.NONE or not self.tiles or not len(points):
            return out
        box, index = self._bounds
        x, y = points[:, 0:1], points[:, 1:2]
        inside = (x >= box[:, 0]) & (x < box[:, 2]) & (y >= box[:, 1]) & (y < box[:, 3])  # (N, T)
        hit = inside.any(axis=1)
        out[hit] = index[inside[hit].argmax(axis=1)]  # first in reverse order = the last tile
        return out


# One frame's faces aggregated to the class (live.mood computes it).
@dataclass(frozen=True)
class ClassMood:
    timestamp: float
    counts: tuple[int, ...]  # faces per emotion, LABELS order
    present: int  # faces visible
    unknown: int  # visible but not readable
    camera_off: int  # gallery tiles with no face
    positive: int
    negative: int

    @property
    def known(self) -> int:
        return self.present - self.unknown

    @property
    def balance(self) -> float:
        """(positive - negative) / known, 0 when nobody is readable."""
        return (self.positive - self.negative) / self.known if self.known else 0.0

    @property
    def shares(self) -> dict[str, float]:
        k = max(self.known, 1)
        return {label: c / k for label, c in zip(LABELS, self.counts)}

    @property
    def dominant(self) -> str | None:
        return LABELS[int(np.argmax(self.counts))] if self.known else None


@dataclass(frozen=True)
class Analysis:
    """What the pipeline knows after one frame."""

    frame_index: int
    timestamp: float
    faces: Faces
    layout: Layout
    detected: bool  # the detector ran on this frame (in any tile, or the whole-frame pass)
    timings_ms: dict[str, float]
    hidden: Faces = field(default_factory=Faces.empty)  # opted-out students: blurred, never analysed
    avatars: Faces = field(default_factory=Faces.empty)  # profile photos on camera-off tiles: not classified
    self_view: Faces = field(default_factory=Faces.empty)  # the local user's floating inset: not a student
    # Per face, aligned with `faces`: seconds since its emotion was last read from a readable
    # crop (0 on the frame it was read); NaN = not read yet. Empty where not tracked.
    refresh_age_s: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    tiles_detected: tuple[int, ...] = ()  # Tile.index values the detector looked in on this frame
    full_frame: bool = False  # the whole-frame pass ran on this frame
    # Student keys moved on this frame to a better read of their name, (old, new) in order (see
    # fer_overlay.people.identity): whatever is keyed by student follows, the record included.
    # New None: the better read named an opted-out student; what the old key holds is removed.
    renamed: tuple[tuple[str, str | None], ...] = ()


# What the virtual camera shows (views.compose draws it).
class View(str, Enum):
    GALLERY = "gallery"
    SUMMARY = "summary"
    SIDEBAR = "sidebar"
    OFF = "off"

    def next(self) -> View:
        order = list(View)
        return order[(order.index(self) + 1) % len(order)]


# What the live app tells the teacher about its own health (live.status holds the current ones).
class StatusKind(str, Enum):
    """In the order they are shown: what stops the class view first."""

    SOURCE_LOST = "source_lost"  # the screen, monitor or window is gone; retried
    SINK_FAILED = "sink_failed"  # an output was closed after an error; being reopened
    SINK_DROPPED = "sink_dropped"  # an output that could not be reopened; the others go on
    RECORDING_STOPPED = "recording_stopped"  # the session record failed; the live view goes on
    ANALYSIS_ERROR = "analysis_error"  # the last frame's analysis failed; cleared by the next good one
    NOTICE = "notice"  # for information, e.g. the preview standing in for a missing virtual camera


@dataclass(frozen=True)
class Status:
    """One thing the teacher should know, e.g. ``Status(SOURCE_LOST, "source lost, retrying: ...")``."""

    kind: StatusKind
    message: str  # one line, for the feed and the tray

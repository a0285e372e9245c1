"""The gallery layout over time: a new layout is adopted only once it is seen to hold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..types import Faces, Layout
from .layout import explains


def same_tiles(old: Layout, new: Layout, tolerance: float = 0.02) -> bool:
    """The same tile grid, allowing the few-pixel wobble of a rescaled or recompressed frame.

    Tolerance is a fraction of the frame's long side, so it means the same at 720p and 4K.
    """
    if old.kind != new.kind or len(old.tiles) != len(new.tiles) or old.frame_size != new.frame_size:
        return False
    if not old.tiles:
        return True
    a = np.array([t.xyxy for t in old.tiles])
    b = np.array([t.xyxy for t in new.tiles])
    return bool(np.abs(a - b).max() <= tolerance * max(old.frame_size))


def moved(old: Layout, new: Layout, tolerance: float = 0.02) -> bool:
    """The same tiles all moved by one offset of a few pixels or more: a gallery scrolled, or
    its window dragged (a JPEG wobble moves tiles by a pixel or two, and not all alike)."""
    slack = tolerance * max(old.frame_size) * 0.25
    offset = new.offset_from(old, slack)
    return offset is not None and max(abs(offset[0]), abs(offset[1])) >= slack


@dataclass(frozen=True)
class StableLayoutOptions:
    confirmations: int = 2  # consecutive searches a new layout must win before it is adopted
    tolerance: float = 0.02  # see same_tiles

    def __post_init__(self) -> None:
        if self.confirmations < 1:
            raise ValueError(f"confirmations must be >= 1, got {self.confirmations}")
        if not 0.0 <= self.tolerance < 0.5:
            raise ValueError(f"tolerance must be in [0, 0.5), got {self.tolerance}")


class StableLayout:
    """The gallery layout over time, with hysteresis.

    One odd search (a JPEG-noisy frame, a speaker border flashing on, a frame captured
    mid-animation) must not flip the layout: tracks, names and captions all hang off it.
    A different layout is adopted only after it has been found `confirmations` times in a
    row; a change of frame size is adopted at once (the source itself changed), and so is
    the same grid moved by one offset (a scrolled gallery: waiting would leave every tile
    where its face no longer is, and an odd search does not move every tile alike).
    """

    def __init__(self, options: StableLayoutOptions | None = None) -> None:
        self.options = options or StableLayoutOptions()
        self.current: Layout | None = None
        self._pending: Layout | None = None
        self._pending_count = 0

    def reset(self) -> None:
        self.current, self._pending, self._pending_count = None, None, 0

    def update(self, found: Layout, faces: Faces | None = None) -> bool:
        """Feed one search's result; True when the adopted layout changed.

        With `faces` (the faces being tracked), a layout that explains them worse than the
        current one (faces left outside every tile, two faces in one tile) is no change at
        all: a noisy frame can make the search merge two tiles, never make it right.
        """
        tol = self.options.tolerance
        if self.current is None or self.current.frame_size != found.frame_size:
            self.current, self._pending, self._pending_count = found, None, 0
            return True
        worse = faces is not None and len(faces) and explains(found, faces) < explains(self.current, faces)
        if not worse and moved(self.current, found, tol):  # before same_tiles: a scroll moves a little at a time
            self.current, self._pending, self._pending_count = found, None, 0
            return True
        if worse or same_tiles(self.current, found, tol):
            self._pending, self._pending_count = None, 0
            return False
        if self._pending is not None and same_tiles(self._pending, found, tol):
            self._pending_count += 1
        else:
            self._pending, self._pending_count = found, 1
        if self._pending_count >= self.options.confirmations:
            self.current, self._pending, self._pending_count = found, None, 0
            return True
        return False

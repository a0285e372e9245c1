"""What every sink shares: the :class:`FrameSink` protocol and the boundary check (the spec
grammar, :class:`~fer_overlay.specs.SinkKind` included, is in :mod:`fer_overlay.specs`).

Every sink is configured with the size it expects and checks each image at the
boundary: the engine renders at the sink's size, so a mismatch is a bug to surface,
not something to paper over with a resize. Images are BGR uint8, H x W x 3, and are
never mirrored: meeting apps mirror only your own local self-view, participants see
the feed as sent (turn off "mirror my video" if you want your self-view to match).
"""

from __future__ import annotations

from typing import Protocol, TypeVar, runtime_checkable

import numpy as np

from ..errors import SinkError

S = TypeVar("S", bound="SinkBase")


@runtime_checkable
class FrameSink(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) the sink expects."""
        ...

    @property
    def fps(self) -> float: ...

    def send(self, image: np.ndarray) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> FrameSink: ...

    def __exit__(self, *exc: object) -> None: ...


class SinkBase:
    """Size/fps bookkeeping, the boundary check, a frame counter and the context manager."""

    name = "sink"

    def __init__(self, width: int | None, height: int | None, fps: float) -> None:
        if (width is None) != (height is None):
            raise ValueError(f"give both width and height or neither, got {width}x{height}")
        if width is not None and height is not None and (width < 1 or height < 1):
            raise ValueError(f"sink size must be positive, got {width}x{height}")
        if not fps > 0:
            raise ValueError(f"sink fps must be > 0, got {fps}")
        self._size = (int(width), int(height)) if width is not None and height is not None else None
        self._fps = float(fps)
        self.frames = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def size(self) -> tuple[int, int]:
        return self._size or (0, 0)

    @property
    def fps(self) -> float:
        return self._fps

    def _check(self, image: np.ndarray) -> None:
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            got = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image)
            raise ValueError(f"{self.name}: expected a BGR uint8 H x W x 3 image, got {got}")
        if self._size is not None and (image.shape[1], image.shape[0]) != self._size:
            w, h = self._size
            raise ValueError(f"{self.name}: expected a {w}x{h} image, got {image.shape[1]}x{image.shape[0]}")
        if self._closed:
            raise SinkError(f"{self.name} is closed; open a new sink")

    def close(self) -> None:
        self._closed = True

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        w, h = self.size
        return f"<{type(self).__name__} {self.name} {w}x{h}@{self.fps:g}>"

"""What every frame source shares: the :class:`FrameSource` protocol and small helpers."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np

from ..errors import InputError, SourceError
from ..types import Frame

log = logging.getLogger(__name__)
S = TypeVar("S", bound="SourceBase")


@runtime_checkable
class FrameSource(Protocol):
    """Something that yields frames; a context manager so it is always closed.

    ``read()`` returns None only at the end of a file; live sources raise
    :class:`~fer_overlay.errors.SourceError` when the screen, monitor or window is gone
    (wrap them in :class:`~fer_overlay.capture.RetryingSource` to ride that out).
    """

    @property
    def name(self) -> str:
        """For logs and the tray, e.g. "monitor 1 (HDMI-1)"."""
        ...

    @property
    def is_live(self) -> bool:
        """True for the screen (and repeated stills): no end of stream, stamped on the monotonic clock."""
        ...

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames, in physical pixels."""
        ...

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...

    def __enter__(self) -> FrameSource: ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class Readable(Protocol):
    """The least a source must offer to be retried (:class:`~fer_overlay.capture.RetryingSource`)
    and driven by the live engine: every :class:`FrameSource` is one."""

    @property
    def name(self) -> str: ...

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...


class SourceBase:
    """Frame numbering and the context-manager plumbing; subclasses implement ``read``/``close``."""

    name: str = "source"
    is_live: bool = True

    def __init__(self) -> None:
        self._next_index = 0
        self.closed = False

    def _frame(self, image: np.ndarray, timestamp: float | None = None) -> Frame:
        # Live sources stamp at grab time on the monotonic clock, the engine's clock too.
        ts = time.monotonic() if timestamp is None else timestamp
        frame = Frame(image, self._next_index, ts)
        self._next_index += 1
        return frame

    def close(self) -> None:
        self.closed = True

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def to_bgr8(image: np.ndarray, what: str) -> np.ndarray:
    """Any decoded image (grey, BGRA, 16-bit, float) as a contiguous HxWx3 uint8 BGR array.

    ``what`` names the file in error messages. 16-bit keeps the high byte (what a viewer
    shows); float images are taken as 0..1 when they fit, else clipped to 0..255.
    """
    import cv2

    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype.kind == "f":
        scale = 255.0 if float(np.nanmax(image, initial=0.0)) <= 1.0 else 1.0
        image = np.clip(np.nan_to_num(image) * scale, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise InputError(f"{what}: unsupported pixel type {image.dtype}; save it as an 8- or 16-bit image")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)  # alpha dropped: the feed has no transparency
    if image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image)
    raise InputError(f"{what}: unsupported image shape {image.shape}; expected grey, BGR or BGRA")


_warned_xwayland = False


def check_display() -> None:
    """Fail early, with advice, where screen capture cannot work (Linux without X11)."""
    global _warned_xwayland
    if not sys.platform.startswith("linux") or os.environ.get("DISPLAY"):
        if os.environ.get("XDG_SESSION_TYPE") == "wayland" and not _warned_xwayland:
            # XWayland only exposes X11 windows; the rest of the desktop captures black.
            log.warning("Wayland session: screen capture goes through XWayland and may show only X11 apps "
                        "(black elsewhere); an Xorg session captures everything")
            _warned_xwayland = True
        return
    if os.environ.get("XDG_SESSION_TYPE") == "wayland" or os.environ.get("WAYLAND_DISPLAY"):
        raise SourceError(
            "screen capture needs X11, but this is a Wayland session without XWayland (DISPLAY is not set); "
            "log in with an Xorg session (e.g. 'Ubuntu on Xorg' on the login screen) or use video:PATH"
        )
    raise SourceError(
        "no X display to capture (DISPLAY is not set); run fer_overlay inside your desktop session, "
        "or use video:PATH / image:PATH sources"
    )

"""A camera as the source (`--source camera:N`): a webcam, or a room camera pointed at the
class in a hybrid lesson (what the prototype did in its browser page).

The frame goes through the same pipeline with layout "none" (one picture, many faces).
A camera that another program holds, or that is unplugged mid-lesson, raises
:class:`~fer_overlay.errors.SourceError` from ``read`` like a lost monitor, so the engine's
retry (:class:`~fer_overlay.capture.retry.RetryingSource`) reopens it when it is back.

Capture devices are opened through a :class:`CameraBackend`; the default is OpenCV's
``VideoCapture``. Tests inject one that plays a video file, since CI machines have no camera.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import SourceError
from ..specs import CAMERA_MAX_INDEX as MAX_INDEX
from ..types import Frame
from .base import SourceBase, to_bgr8

log = logging.getLogger(__name__)



class Capture(Protocol):
    """The part of ``cv2.VideoCapture`` a camera source uses."""

    def isOpened(self) -> bool: ...

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def release(self) -> None: ...

    def get(self, prop: int) -> float: ...

    def set(self, prop: int, value: float) -> bool: ...


CameraBackend = Callable[[int], Capture]


def opencv_backend(index: int) -> Capture:
    """``cv2.VideoCapture`` with the platform's native API (V4L2, DirectShow/MSMF, AVFoundation):
    the "any" backend probes GStreamer and FFmpeg first, which can take seconds to fail."""
    import cv2

    if sys.platform == "linux" and not Path(f"/dev/video{index}").exists():
        return cv2.VideoCapture()  # closed: no device node, nothing to probe (and no OpenCV warning)
    api = {"linux": cv2.CAP_V4L2, "win32": cv2.CAP_DSHOW, "darwin": cv2.CAP_AVFOUNDATION}.get(sys.platform, cv2.CAP_ANY)
    return cv2.VideoCapture(index, api)


class CameraSource(SourceBase):
    """Frames of camera ``index`` (0 = the first), at its own pace; timestamps are ``time.monotonic()``.

    ``size`` asks the camera for a resolution (it may pick the nearest it has); ``read``
    returns the newest frame and raises SourceError when the camera stops delivering."""

    is_live = True

    def __init__(self, index: int = 0, size: tuple[int, int] | None = (1280, 720),
                 backend: CameraBackend = opencv_backend, read_timeout_s: float = 2.0) -> None:
        super().__init__()
        if not 0 <= index <= MAX_INDEX:
            raise SourceError(f"camera index {index} is out of range; use 0-{MAX_INDEX} "
                              "(`fer-overlay doctor` lists the cameras it finds)")
        if read_timeout_s <= 0:
            raise ValueError(f"read_timeout_s must be > 0, got {read_timeout_s}")
        self.index, self.name = index, f"camera {index}"
        self._backend, self._timeout = backend, read_timeout_s
        self._want = size
        self._cap: Capture | None = None
        self._size = (0, 0)
        self._open()

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def _open(self) -> None:
        import cv2

        cap = self._backend(self.index)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.name} cannot be opened: not connected, or in use by another program "
                              "(close the meeting app's own camera preview, or pick another index)")
        if self._want is not None:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self._want[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self._want[1])
        first = self._grab(cap)
        if first is None:
            cap.release()
            raise SourceError(f"{self.name} opened but sends no picture (in use by another program, or a "
                              "privacy shutter or switch is closed)")
        self._cap, self._pending = cap, first
        self._size = (first.shape[1], first.shape[0])
        log.info("%s: %dx%d", self.name, *self._size)

    def _grab(self, cap: Capture) -> np.ndarray | None:
        # A camera that was just unplugged may return a few False reads before it errors.
        deadline = time.monotonic() + self._timeout
        while True:
            ok, image = cap.read()
            if ok and image is not None and image.size:
                return to_bgr8(image, self.name)
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    def read(self) -> Frame:
        """The next frame (never None: a camera has no end)."""
        if self._cap is None:
            self._open()  # after a failure: the retry wrapper calls read again later
        pending, self._pending = self._pending, None
        image = pending if pending is not None else self._grab(self._cap)  # type: ignore[arg-type]
        if image is None:
            self.close()
            raise SourceError(f"{self.name} stopped sending pictures (unplugged, or taken by another program)")
        return self._frame(image, time.monotonic())

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


def list_cameras(backend: CameraBackend = opencv_backend, limit: int = 4) -> list[tuple[int, tuple[int, int]]]:
    """Cameras 0..limit-1 that open and deliver a picture now, with their default size
    (for `doctor` and the tray). A camera in use by another program is not listed."""
    found = []
    for index in range(limit):
        cap = backend(index)
        try:
            if cap.isOpened():
                ok, image = cap.read()
                if ok and image is not None and image.size:
                    found.append((index, (int(image.shape[1]), int(image.shape[0]))))
        finally:
            cap.release()
    return found

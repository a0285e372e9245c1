"""File sources: recorded meetings (:class:`VideoSource`) and stills (:class:`ImageSource`)."""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..types import Frame
from .base import SourceBase, to_bgr8

log = logging.getLogger(__name__)

DEFAULT_FPS = 25.0  # when a container does not say (some screen recorders write 0 or 1000)


def check_readable(path: str | os.PathLike[str], what: str) -> Path:
    """The path, or an InputError saying why it cannot be used."""
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"{what} {p} not found; check the path")
    if p.is_dir():
        raise InputError(f"{what} {p} is a folder; give the path of a file in it")
    if p.stat().st_size == 0:
        raise InputError(f"{what} {p} is empty (0 bytes); the copy or download did not finish")
    if not os.access(p, os.R_OK):
        raise InputError(f"{what} {p} cannot be read (permission denied)")
    return p


class VideoSource(SourceBase):
    """Frames of a video file; ``read()`` returns None at the end unless ``loop``.

    Timestamps are video time (frame number / the file's fps), increasing across loops.
    ``realtime`` sleeps so frames come out at the video's fps, for live-looking demos.
    """

    is_live = False

    def __init__(self, path: str | os.PathLike[str], loop: bool = False, realtime: bool = False) -> None:
        super().__init__()
        import cv2

        self.path = check_readable(path, "video")
        self.name = f"video {self.path.name}"
        self.loop, self.realtime = loop, realtime
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            self._cap.release()
            raise InputError(f"video {self.path} cannot be opened: not a video OpenCV can decode, or corrupt")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not math.isfinite(fps) or not 0 < fps <= 240:
            log.warning("%s reports %.3g fps; assuming %.0f", self.path, fps, DEFAULT_FPS)
            fps = DEFAULT_FPS
        self.fps = fps
        self.frame_count = max(0, int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))  # container's estimate
        # Decode one frame now, so a file with a valid header but broken data fails here
        # with a clear message instead of looking like an empty video later.
        first = self._grab()
        if first is None:
            self._cap.release()
            raise InputError(f"video {self.path} has no readable frames (corrupt or unsupported codec)")
        self._pending: np.ndarray | None = first
        self._size = (first.shape[1], first.shape[0])
        self._clock_origin: float | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def _grab(self) -> np.ndarray | None:
        ok, image = self._cap.read()
        if not ok or image is None or image.size == 0:
            return None
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            image = to_bgr8(image, f"video {self.path}")
        return image

    def _rewind(self) -> np.ndarray | None:
        import cv2

        if not self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
            # Some containers cannot seek; reopening always starts at frame 0.
            self._cap.release()
            self._cap = cv2.VideoCapture(str(self.path))
        return self._grab()

    def read(self) -> Frame | None:
        if self.closed:
            return None
        image, self._pending = self._pending, None
        if image is None:
            image = self._grab()
        if image is None and self.loop and self._next_index > 0:
            image = self._rewind()
        if image is None:
            return None
        ts = self._next_index / self.fps
        if self.realtime:
            self._pace(ts)
        return self._frame(image, ts)

    def skip(self, n: int) -> int:
        """Pass over the next ``n`` frames without converting them (an analysis that samples
        the video); they keep their place in the numbering, so timestamps stay video time.
        Returns how many were skipped (fewer at the end of the file)."""
        skipped = 0
        if n > 0 and self._pending is not None:
            self._pending = None
            self._next_index += 1
            skipped = 1
        while skipped < n and not self.closed and self._cap.grab():
            self._next_index += 1
            skipped += 1
        return skipped

    def _pace(self, ts: float) -> None:
        now = time.monotonic()
        if self._clock_origin is None or now - (self._clock_origin + ts) > 1.0:
            # First frame, or the reader stalled for over a second: restart the clock
            # rather than rushing through the backlog.
            self._clock_origin = now - ts
            return
        delay = self._clock_origin + ts - now
        if delay > 0:
            time.sleep(delay)

    def close(self) -> None:
        if not self.closed:
            self._cap.release()
        super().close()


class ImageSource(SourceBase):
    """One still image, returned on every read (``repeat``) or once.

    Grey, BGRA (alpha dropped), 16-bit and float images become 8-bit BGR; JPEG EXIF
    rotation is applied. The same read-only array is returned each time: no copy per
    frame, and a stage that tries to draw on it fails loudly.
    """

    def __init__(self, path: str | os.PathLike[str], repeat: bool = True) -> None:
        super().__init__()
        import cv2

        self.path = check_readable(path, "image")
        self.name = f"image {self.path.name}"
        self.repeat = repeat
        self.is_live = repeat  # a repeated still stands in for a live feed
        # imdecode on bytes, not imread: imread cannot open non-ASCII paths on Windows.
        data = np.fromfile(self.path, np.uint8)
        try:
            decoded = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
        except cv2.error as exc:
            raise InputError(f"image {self.path} cannot be decoded: {exc}") from exc
        if decoded is None:
            raise InputError(
                f"image {self.path} is not an image OpenCV can read (PNG, JPEG, BMP, TIFF, WebP...) or is corrupt"
            )
        image = to_bgr8(decoded, f"image {self.path}")
        image.flags.writeable = False
        self.image = image
        self._done = False

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])

    def read(self) -> Frame | None:
        if self.closed or self._done:
            return None
        self._done = not self.repeat
        return self._frame(self.image, None if self.repeat else 0.0)

"""Frame sinks: where the annotated feed goes (virtual camera, preview window, MP4 file, nowhere).

Every sink is configured with the size it expects and checks each image at the
boundary: the engine renders at the sink's size, so a mismatch is a bug to surface,
not something to paper over with a resize. Images are BGR uint8, H x W x 3, and are
never mirrored: meeting apps mirror only your own local self-view, participants see
the feed as sent (turn off "mirror my video" if you want your self-view to match).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from .errors import SinkError

log = logging.getLogger(__name__)
S = TypeVar("S", bound="SinkBase")

SPEC_HELP = "virtualcam[:BACKEND] | preview[:TITLE] | file:PATH | null"

VIRTUALCAM_HINTS: dict[str, str] = {
    "linux": (
        "install and load v4l2loopback: `sudo apt install v4l2loopback-dkms` then "
        '`sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label="fer_overlay"`'
    ),
    "win32": "install OBS Studio 26 or newer (its virtual camera) or Unity Capture",
    "darwin": "install OBS Studio 30 or newer and start its virtual camera once (Start Virtual Camera in OBS)",
}


def virtualcam_hint(platform: str = sys.platform) -> str:
    key = "linux" if platform.startswith("linux") else platform
    return VIRTUALCAM_HINTS.get(key, "no virtual camera backend is known for this platform")


class SinkKind(str, Enum):
    VIRTUALCAM = "virtualcam"
    PREVIEW = "preview"
    FILE = "file"
    NULL = "null"


@runtime_checkable
class FrameSink(Protocol):
    name: str

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


class VirtualCameraSink(SinkBase):
    """A virtual webcam (pyvirtualcam) that Zoom/Meet/Teams can pick as the camera.

    ``pace=True`` sleeps after each send to hold ``fps`` (pyvirtualcam's adaptive
    sleep); leave it off when the caller paces itself, as the engine does.
    """

    def __init__(self, width: int, height: int, fps: float, backend: str | None = None,
                 device: str | None = None, pace: bool = False) -> None:
        super().__init__(width, height, fps)
        try:
            import pyvirtualcam
            from pyvirtualcam.camera import BACKENDS
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise SinkError("the virtual camera needs pyvirtualcam: pip install pyvirtualcam") from exc
        hint = virtualcam_hint()
        if backend is not None and backend not in BACKENDS:
            # pyvirtualcam would raise a bare KeyError (and warn from __del__) here.
            known = ", ".join(sorted(BACKENDS)) or "none"
            raise SinkError(f"virtual camera backend {backend!r} is not available here (available: {known}); {hint}")
        try:
            self._cam: Any = pyvirtualcam.Camera(
                width, height, fps, fmt=pyvirtualcam.PixelFormat.BGR, backend=backend, device=device
            )
        except RuntimeError as exc:  # pyvirtualcam's "no backend could start", one line per backend
            detail = str(exc).strip().replace("\n", "; ") or "no virtual camera backend for this platform"
            raise SinkError(f"cannot start the virtual camera ({detail}); {hint}") from exc
        self.pace = pace
        self.backend: str = self._cam.backend
        self.device: str = self._cam.device  # e.g. /dev/video2 or "OBS Virtual Camera": what to pick in Zoom
        self.name = f"virtual camera {self.device}"
        log.info("virtual camera %s (%s backend) at %dx%d@%g", self.device, self.backend, width, height, fps)

    def send(self, image: np.ndarray) -> None:
        self._check(image)
        try:
            self._cam.send(image)
        except (RuntimeError, OSError) as exc:
            raise SinkError(f"{self.name} stopped accepting frames ({exc}); restart the virtual camera") from exc
        self.frames += 1
        if self.pace:
            self._cam.sleep_until_next_frame()

    def close(self) -> None:
        if not self._closed:
            self._cam.close()
        super().close()


def _x_display_problem() -> str | None:
    """Why a window cannot be shown on Linux, or None. Checked first because Qt aborts the
    whole process when it cannot connect to the display."""
    if not sys.platform.startswith("linux"):
        return None
    display = os.environ.get("DISPLAY")
    if not display:
        return "there is no display (DISPLAY is not set)"
    try:
        from Xlib import display as xdisplay
        from Xlib.error import DisplayError
    except ImportError:
        return None  # cannot check; let OpenCV try
    try:
        xdisplay.Display(display).close()
    except (DisplayError, OSError) as exc:
        return f"cannot connect to display {display} ({exc})"
    return None


class PreviewSink(SinkBase):
    """An OpenCV window showing the feed; ``closed`` turns True when the user closes it
    (later sends are then ignored, so the other sinks keep going).

    Without ``width``/``height`` any size is shown. On macOS, OpenCV windows only work
    from the main thread. ``last_key`` is the last key pressed in the window (-1: none).
    """

    def __init__(self, title: str = "fer_overlay preview", width: int | None = None, height: int | None = None,
                 fps: float = 30.0) -> None:
        super().__init__(width, height, fps)
        problem = _x_display_problem()
        if problem:
            raise SinkError(f"cannot open the preview window: {problem}; use the virtual camera or file:PATH instead")
        import cv2

        self.title = title
        self.name = f"preview '{title}'"
        self.last_key = -1
        self._shown = False
        self._user_closed = False
        try:
            cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
        except cv2.error as exc:
            raise SinkError(
                f"cannot open the preview window ({exc.err or exc}); OpenCV has no GUI support: "
                "install opencv-python, not opencv-python-headless"
            ) from exc

    def send(self, image: np.ndarray) -> None:
        import cv2

        self._check(image)
        if self.closed:
            return  # the user closed it: don't pop it back up (imshow would recreate it)
        cv2.imshow(self.title, image)
        self.last_key = cv2.waitKey(1)
        self._shown = True
        self.frames += 1
        if self.closed:
            log.info("%s was closed by the user", self.name)

    @property
    def closed(self) -> bool:
        """True after close(), or once the user closed the window."""
        import cv2

        if self._closed or self._user_closed:
            return True
        if not self._shown:
            return False
        try:
            self._user_closed = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:  # the window no longer exists
            self._user_closed = True
        return self._user_closed

    def close(self) -> None:
        import cv2

        if not self._closed:
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)  # lets the GUI backend process the destroy
            except cv2.error:  # already gone
                pass
        super().close()


class FileSink(SinkBase):
    """An MP4 (MPEG-4 Part 2, 'mp4v') file; readable as soon as ``close()`` returns.

    MPEG-4 needs even sizes: an odd width or height is cut down by one pixel in the file.
    """

    LOW_DISK_BYTES = 32 * 1024 * 1024
    DISK_CHECK_S = 2.0

    def __init__(self, path: str | os.PathLike[str], width: int, height: int, fps: float) -> None:
        super().__init__(width, height, fps)
        import cv2

        self.path = Path(path).expanduser()
        self.name = f"file {self.path}"
        if self.path.is_dir():
            raise SinkError(f"cannot write video {self.path}: it is a folder; give a file name ending in .mp4")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"cannot create the folder for {self.path}: {exc.strerror or exc}") from exc
        self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height))
        if not self._writer.isOpened():
            raise SinkError(
                f"cannot write video {self.path}: the folder is not writable, the disk is full, "
                "or the extension is not a video format (use .mp4)"
            )
        if width % 2 or height % 2:
            log.info("%s: MPEG-4 stores even sizes; the file will be %dx%d", self.path, width - width % 2,
                     height - height % 2)
        self._disk_checked = time.monotonic()

    def send(self, image: np.ndarray) -> None:
        self._check(image)
        self._writer.write(image)
        self.frames += 1
        now = time.monotonic()
        if now - self._disk_checked >= self.DISK_CHECK_S:
            # VideoWriter.write reports nothing, so a full disk would silently truncate
            # the recording; stop while there is still room to finish the file.
            self._disk_checked = now
            free = shutil.disk_usage(self.path.parent).free
            if free < self.LOW_DISK_BYTES:
                self.close()
                raise SinkError(f"disk almost full ({free // 2**20} MiB free) while writing {self.path}; "
                                "recording stopped: free some space")

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        self._writer.release()
        if self.frames and (not self.path.exists() or self.path.stat().st_size == 0):
            raise SinkError(f"nothing was written to {self.path} ({self.frames} frames sent); is the disk full?")


class NullSink(SinkBase):
    """Checks and counts frames, for benchmarks and tests."""

    def __init__(self, width: int, height: int, fps: float = 30.0) -> None:
        super().__init__(width, height, fps)
        self.name = "null"

    def send(self, image: np.ndarray) -> None:
        self._check(image)
        self.frames += 1


def parse_sink_spec(spec: str) -> tuple[SinkKind, str]:
    kind_text, _, arg = spec.strip().partition(":")
    try:
        return SinkKind(kind_text.strip().lower()), arg.strip()
    except ValueError:
        raise SinkError(f"unknown sink {spec!r}: use one of {SPEC_HELP}") from None


def open_sink(spec: str, width: int, height: int, fps: float) -> FrameSink:
    """A sink from a spec: ``virtualcam[:BACKEND] | preview[:TITLE] | file:PATH | null``."""
    kind, arg = parse_sink_spec(spec)
    if kind is SinkKind.VIRTUALCAM:
        return VirtualCameraSink(width, height, fps, backend=arg or None)
    if kind is SinkKind.PREVIEW:
        return PreviewSink(arg or "fer_overlay preview", width, height, fps)
    if kind is SinkKind.FILE:
        if not arg:
            raise SinkError(f"bad sink {spec!r}: expected file:PATH, e.g. file:class.mp4")
        return FileSink(arg, width, height, fps)
    if arg:
        raise SinkError(f"bad sink {spec!r}: 'null' takes no argument")
    return NullSink(width, height, fps)

"""The virtual webcam (pyvirtualcam) that Zoom/Meet/Teams pick as the camera."""

from __future__ import annotations

import logging
import sys
from typing import Any

import numpy as np

from ..errors import SinkError
from .base import SinkBase

log = logging.getLogger(__name__)

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
        if self._closed:
            return
        super().close()  # first: a camera that fails to close is still closed for us (and not closed twice)
        try:
            self._cam.close()
        except (RuntimeError, OSError) as exc:
            raise SinkError(f"{self.name} did not close cleanly ({exc})") from exc

"""`camera:N` with a video-backed stand-in device (CI machines have no camera): frames
flow, a busy or unplugged camera is a SourceError that the retry rides out."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_overlay.capture.camera import CameraSource, list_cameras
from fer_overlay.capture.retry import Backoff, RetryingSource, WhileLost
from fer_overlay.errors import SourceError


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20-frame 320x240 "webcam" clip whose frames are told apart by their brightness."""
    path = tmp_path_factory.mktemp("cam") / "cam.avi"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20, (320, 240))
    for i in range(20):
        out.write(np.full((240, 320, 3), 10 * i, np.uint8))
    out.release()
    return path


class Device:
    """Camera indices backed by video files; ``None`` is a device that does not open (busy)."""

    def __init__(self, files: dict[int, Path | None]) -> None:
        self.files, self.opened = files, []

    def __call__(self, index: int):
        self.opened.append(index)
        path = self.files.get(index)
        return cv2.VideoCapture(str(path)) if path is not None else cv2.VideoCapture()


def test_frames_flow_in_order_with_live_timestamps(recording: Path) -> None:
    with CameraSource(0, backend=Device({0: recording}), read_timeout_s=0.2) as cam:
        assert cam.is_live and cam.size == (320, 240) and cam.name == "camera 0"
        frames = [cam.read() for _ in range(5)]
    levels = [int(f.image.mean()) for f in frames]
    assert levels == sorted(levels) and levels[0] < 5 and levels[-1] > 30
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert all(b.timestamp >= a.timestamp for a, b in itertools.pairwise(frames))


def test_busy_or_missing_camera_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="camera 1 cannot be opened: not connected, or in use"):
        CameraSource(1, backend=Device({}))
    with pytest.raises(SourceError, match="out of range"):
        CameraSource(99, backend=Device({}))


def test_unplugged_mid_lesson_raises_then_the_retry_reopens_it(recording: Path) -> None:
    device = Device({0: recording})
    cam = CameraSource(0, backend=device, read_timeout_s=0.1)
    for _ in range(30):  # the clip ends: the camera "stops sending"
        try:
            cam.read()
        except SourceError as exc:
            assert "stopped sending pictures" in str(exc)
            break
    else:
        pytest.fail("the end of the device's pictures never raised")
    device.files[0] = None  # still unplugged: reopening fails
    now = [0.0]
    retrying = RetryingSource(cam, Backoff(initial_s=1.0, max_s=1.0), WhileLost.RAISE, clock=lambda: now[0])
    with pytest.raises(SourceError):
        retrying.read()
    device.files[0] = recording  # plugged back in
    now[0] = 5.0
    frame = retrying.read()
    assert frame is not None and frame.image.shape == (240, 320, 3)
    assert device.opened.count(0) >= 2  # it really was opened again


def test_list_cameras_reports_the_ones_that_deliver(recording: Path) -> None:
    assert list_cameras(Device({0: None, 1: recording}), limit=3) == [(1, (320, 240))]


def test_camera_spec_opens_through_the_real_opencv_backend_or_says_why() -> None:
    # This machine has no /dev/video7: the real backend must fail fast with the clear message.
    from fer_overlay.capture import open_source

    with pytest.raises(SourceError, match="camera 7 cannot be opened"):
        open_source("Camera:7")

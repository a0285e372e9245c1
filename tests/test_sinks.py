"""Sinks through their real back ends: pyvirtualcam with a registered test backend, OpenCV's
MP4 writer read back with VideoCapture, and an OpenCV window on Xvfb closed the way a
window manager closes it."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import pytest
import pyvirtualcam
from pyvirtualcam.camera import BACKENDS
from pyvirtualcam.util import encode_fourcc
from xvfb import XvfbDisplay, wait_for, xvfb_session, xvfb_session_server  # noqa: F401 - fixtures

from fer_overlay.errors import SinkError
from fer_overlay.sinks import (
    FileSink,
    FrameSink,
    NullSink,
    PreviewSink,
    SinkKind,
    VirtualCameraSink,
    open_sink,
    parse_sink_spec,
    virtualcam_hint,
)

W, H = 64, 48


def asymmetric_image(w: int = W, h: int = H) -> np.ndarray:
    """Left half red, right half a blue ramp, a green top row: any flip or channel swap shows."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = (0, 0, 255)
    img[:, w // 2 :, 0] = np.linspace(0, 255, w - w // 2, dtype=np.uint8)
    img[0] = (0, 255, 0)
    return img


# -- virtual camera -----------------------------------------------------------------------------
class RecordingBackend:
    """A pyvirtualcam backend (its documented duck-typed interface) that keeps what it is sent."""

    instances: ClassVar[list[RecordingBackend]] = []
    fail_with: ClassVar[str | None] = None

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: Any) -> None:
        if RecordingBackend.fail_with:
            raise RuntimeError(RecordingBackend.fail_with)
        self.width, self.height, self.fps, self.fourcc, self._device = width, height, fps, fourcc, device
        self.frames: list[np.ndarray] = []
        self.closed = 0
        RecordingBackend.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        self.frames.append(frame.copy())

    def close(self) -> None:
        self.closed += 1

    def device(self) -> str:
        return self._device or "fer-test-camera"

    def native_fourcc(self) -> int:
        return self.fourcc


@pytest.fixture
def test_backend() -> Iterator[type[RecordingBackend]]:
    RecordingBackend.instances, RecordingBackend.fail_with = [], None
    pyvirtualcam.register_backend("fer_test", RecordingBackend)
    yield RecordingBackend
    BACKENDS.pop("fer_test", None)


def test_virtual_camera_sends_bgr_frames_unmirrored(test_backend: type[RecordingBackend]) -> None:
    image = asymmetric_image()
    with VirtualCameraSink(W, H, 30, backend="fer_test") as sink:
        assert isinstance(sink, FrameSink)
        assert (sink.backend, sink.device, sink.size, sink.fps) == ("fer_test", "fer-test-camera", (W, H), 30)
        sink.send(image)
        sink.send(np.asfortranarray(image))  # not C-contiguous: still sent as the same pixels
        backend = test_backend.instances[0]
        assert (backend.width, backend.height, backend.fourcc) == (W, H, encode_fourcc("24BG"))  # BGR, no conversion
    assert backend.closed == 1 and sink.frames == 2
    for frame in backend.frames:
        assert frame.dtype == np.uint8 and frame.shape == (W * H * 3,)  # pyvirtualcam flattens, backend converts
        assert np.array_equal(frame.reshape(H, W, 3), image)
    got = backend.frames[0].reshape(H, W, 3)
    assert got[10, 0].tolist() == [0, 0, 255] and got[10, -1, 0] == 255  # red on the left: not mirrored


def test_virtual_camera_checks_frames_at_the_boundary(test_backend: type[RecordingBackend]) -> None:
    sink = VirtualCameraSink(W, H, 30, backend="fer_test", device="fer-cam-7")
    assert sink.device == "fer-cam-7"
    with pytest.raises(ValueError, match=f"expected a {W}x{H} image, got 32x{H}"):
        sink.send(np.zeros((H, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="float32"):
        sink.send(np.zeros((H, W, 3), np.float32))
    with pytest.raises(ValueError, match="H x W x 3"):
        sink.send(np.zeros((H, W), np.uint8))
    assert test_backend.instances[0].frames == []
    sink.close()
    sink.close()
    assert test_backend.instances[0].closed == 1
    with pytest.raises(SinkError, match="closed"):
        sink.send(asymmetric_image())


def test_virtual_camera_pace_holds_the_frame_rate(test_backend: type[RecordingBackend]) -> None:
    with VirtualCameraSink(W, H, 50, backend="fer_test", pace=True) as sink:
        t0 = time.monotonic()
        for _ in range(6):
            sink.send(asymmetric_image())
        assert time.monotonic() - t0 >= 0.08  # 5 intervals of 20 ms (pyvirtualcam sleeps a little short)


def test_virtual_camera_backend_failure_becomes_sink_error_with_hint(test_backend: type[RecordingBackend]) -> None:
    test_backend.fail_with = "device is busy"
    with pytest.raises(SinkError, match="device is busy") as err:
        VirtualCameraSink(W, H, 30, backend="fer_test")
    assert virtualcam_hint() in str(err.value)
    with pytest.raises(SinkError, match="'nosuch' is not available here") as err:
        VirtualCameraSink(W, H, 30, backend="nosuch")
    assert "fer_test" in str(err.value)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="v4l2loopback is the Linux backend")
def test_missing_v4l2loopback_device_says_what_to_install() -> None:
    # A device path that cannot exist, so this fails the same way with or without the module loaded.
    with pytest.raises(SinkError) as err:
        VirtualCameraSink(W, H, 30, backend="v4l2loopback", device="/dev/fer-overlay-no-such-camera")
    message = str(err.value)
    assert "/dev/fer-overlay-no-such-camera" in message
    assert "sudo apt install v4l2loopback-dkms" in message and "modprobe v4l2loopback" in message


def test_virtualcam_hints_per_platform() -> None:
    assert "OBS Studio 26" in virtualcam_hint("win32") and "Unity Capture" in virtualcam_hint("win32")
    assert "OBS Studio 30" in virtualcam_hint("darwin")
    assert "exclusive_caps=1" in virtualcam_hint("linux")


# -- file ---------------------------------------------------------------------------------------
def read_video(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def test_file_sink_writes_a_readable_mp4(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "class.mp4"
    sent = [np.full((H, W, 3), (10 * i, 200 - 10 * i, 128), np.uint8) for i in range(12)]
    with FileSink(path, W, H, 25) as sink:
        for image in sent:
            sink.send(image)
        assert sink.frames == 12
    got = read_video(path)  # readable right after close
    assert len(got) == 12 and got[0].shape == (H, W, 3)
    for a, b in zip(got, sent, strict=True):
        assert np.abs(a.astype(int) - b).mean() < 8


def test_file_sink_errors_name_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(SinkError, match="not-a-folder"):
        FileSink(blocker / "out.mp4", W, H, 25)
    with pytest.raises(SinkError, match="is a folder"):
        FileSink(tmp_path, W, H, 25)
    with pytest.raises(SinkError, match=r"out\.xyz"):
        FileSink(tmp_path / "out.xyz", W, H, 25)
    with FileSink(tmp_path / "ok.mp4", W, H, 25) as sink, pytest.raises(ValueError, match="expected a 64x48 image"):
        sink.send(np.zeros((10, 10, 3), np.uint8))


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_file_sink_on_a_full_disk(tmp_path: Path) -> None:
    full = tmp_path / "full.mp4"
    full.symlink_to("/dev/full")  # every write fails with ENOSPC
    with pytest.raises(SinkError, match="full.mp4"), FileSink(full, W, H, 25) as sink:
        for _ in range(5):
            sink.send(asymmetric_image())


# -- null, specs --------------------------------------------------------------------------------
def test_null_sink_counts_and_checks() -> None:
    with NullSink(W, H, 60) as sink:
        for _ in range(7):
            sink.send(asymmetric_image())
        assert (sink.frames, sink.size, sink.fps, sink.name) == (7, (W, H), 60, "null")
        with pytest.raises(ValueError, match="expected a 64x48 image, got 48x64"):
            sink.send(np.zeros((W, H, 3), np.uint8))
    assert sink.closed


def test_open_sink_parses_specs(tmp_path: Path, test_backend: type[RecordingBackend]) -> None:
    assert parse_sink_spec("File:/tmp/a:b.mp4") == (SinkKind.FILE, "/tmp/a:b.mp4")
    with open_sink("null", W, H, 30) as null:
        assert isinstance(null, NullSink)
    with open_sink(f"file:{tmp_path / 'x.mp4'}", W, H, 30) as file:
        assert isinstance(file, FileSink) and file.path == tmp_path / "x.mp4"
    with open_sink("virtualcam:fer_test", W, H, 30) as cam:
        assert isinstance(cam, VirtualCameraSink) and cam.backend == "fer_test"
    for spec in ["obs", "file:", "null:x", ""]:
        with pytest.raises(SinkError) as err:
            open_sink(spec, W, H, 30)
        assert repr(spec) in str(err.value)


# -- preview ------------------------------------------------------------------------------------
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="DISPLAY is how Linux finds the screen")
def test_preview_without_a_display_is_a_sink_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(SinkError, match="DISPLAY is not set"):
        PreviewSink("p")
    # A stale DISPLAY must not reach Qt, which would abort the whole process.
    monkeypatch.setenv("DISPLAY", ":987")
    with pytest.raises(SinkError, match="cannot connect to display :987"):
        PreviewSink("p")


def close_like_a_window_manager(display_name: str, title: str) -> None:
    """Send WM_DELETE_WINDOW, which is what clicking the window's close button does."""
    from Xlib import X, display, protocol

    d = display.Display(display_name)
    try:
        target = next((w for w in d.screen().root.query_tree().children if w.get_wm_name() == title), None)
        if target is None:
            return  # already gone
        proto, delete = d.intern_atom("WM_PROTOCOLS"), d.intern_atom("WM_DELETE_WINDOW")
        assert delete in target.get_wm_protocols()
        target.send_event(protocol.event.ClientMessage(window=target, client_type=proto,
                                                       data=(32, [delete, X.CurrentTime, 0, 0, 0])))
        d.flush()
    finally:
        d.close()


@pytest.mark.gui
def test_preview_shows_frames_and_notices_the_user_closing_it(xvfb_session: XvfbDisplay) -> None:  # noqa: F811
    from fer_overlay.capture import WindowSource

    image = asymmetric_image(320, 240)
    with PreviewSink("fer preview", 320, 240) as sink:
        sink.send(image)
        assert not sink.closed
        with WindowSource("fer preview") as shown:  # what the X server displays
            assert wait_for(lambda: (sink.send(image), np.array_equal(shown.read().image, image))[1], 10)
        # Qt drops the first WM_DELETE_WINDOW a window gets in about a third of runs (the
        # window stays mapped and visible; a second message closes it at once), so click
        # again like a user would. The sink itself must still notice within a few frames.
        for _ in range(5):
            close_like_a_window_manager(xvfb_session.display, "fer preview")
            if wait_for(lambda: (sink.send(image), sink.closed)[1], 2):
                break
        assert sink.closed
        frames = sink.frames
        sink.send(image)  # ignored, and the window does not come back
        assert sink.frames == frames
    with PreviewSink("any size") as free:
        free.send(asymmetric_image(100, 30))
        assert free.size == (0, 0)
    assert free.closed


def test_file_sink_stops_before_the_disk_is_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend "almost full" means "less than 4 EiB free", checked on every frame.
    monkeypatch.setattr(FileSink, "LOW_DISK_BYTES", 2**62)
    monkeypatch.setattr(FileSink, "DISK_CHECK_S", 0.0)
    path = tmp_path / "long class.mp4"
    sink = FileSink(path, W, H, 25)
    with pytest.raises(SinkError, match=r"disk almost full.*long class\.mp4"):
        sink.send(asymmetric_image())
    assert sink.closed and len(read_video(path)) == 1  # what was recorded is kept, and playable


@pytest.mark.gui
def test_preview_fed_from_another_thread_never_blocks(xvfb_session: XvfbDisplay) -> None:  # noqa: F811
    # The app opens sinks on the tray thread and the engine sends from its output thread;
    # nobody pumps OpenCV events on either, which deadlocks naive cv2.imshow use under Qt.
    from fer_overlay.capture import WindowSource

    image = asymmetric_image(200, 100)
    sink = PreviewSink("fer threaded", 200, 100)
    sender = threading.Thread(target=lambda: [sink.send(image) for _ in range(50)], daemon=True)
    t0 = time.monotonic()
    sender.start()
    sender.join(5)
    assert not sender.is_alive() and time.monotonic() - t0 < 1.0 and sink.frames == 50
    with WindowSource("fer threaded") as shown:
        assert wait_for(lambda: np.array_equal(shown.read().image, image))
    closer = threading.Thread(target=sink.close, daemon=True)
    closer.start()
    closer.join(5)
    assert not closer.is_alive() and sink.closed
    with PreviewSink("fer threaded 2", 200, 100) as again:  # a new window after the first is gone
        again.send(image)

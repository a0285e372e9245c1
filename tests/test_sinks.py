"""Sinks through their real back ends: pyvirtualcam with a registered test backend, OpenCV's
MP4 writer read back with VideoCapture, and an OpenCV window on Xvfb (under openbox, as on
any desktop) closed the way a window manager closes it."""

from __future__ import annotations

import contextlib
import os
import subprocess
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
from conftest import require_program
from pyvirtualcam.camera import BACKENDS
from pyvirtualcam.util import encode_fourcc
from xvfb import XvfbDisplay, end_process, wait_for, xvfb_session, xvfb_session_server  # noqa: F401 - fixtures

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
        # 5 intervals of 20 ms (pyvirtualcam sleeps a little short): a lower bound, which load cannot break
        assert time.monotonic() - t0 >= 0.08


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


@pytest.fixture(scope="module")
def window_manager(xvfb_session_server: XvfbDisplay) -> Iterator[None]:  # noqa: F811
    """openbox on the shared X server, as on every desktop. Without a window manager Qt now and
    then never paints a new window (5 in 150 here, more under load: it stays black whatever
    is shown), which is what failed the preview tests on a busy machine; with one, 0 in 150."""
    openbox = require_program("openbox", "a window manager; Debian: apt-get install openbox")
    proc = subprocess.Popen([openbox], env={**os.environ, "DISPLAY": xvfb_session_server.display},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: selection_owned(xvfb_session_server.display, "WM_S0"), 30), "openbox did not start"
        yield
    finally:
        end_process(proc)


def selection_owned(display_name: str, selection: str) -> bool:
    from Xlib import X, display

    d = display.Display(display_name)
    try:
        return d.get_selection_owner(d.intern_atom(selection)) != X.NONE
    finally:
        d.close()


def windows_titled(d: Any, title: str) -> list[Any]:
    """Every X window named `title`, at any depth (a window manager reparents them into frames)."""
    from Xlib import error

    found, stack = [], [d.screen().root]
    while stack:
        w = stack.pop()
        try:  # a window may be destroyed while the tree is walked (a closing preview)
            if w.get_wm_name() == title:
                found.append(w)
            stack.extend(w.query_tree().children)
        except error.XError:
            continue
    return found


def on_screen(display_name: str, title: str) -> bool:
    """Whether a window named `title` is shown (mapped, and its frame too)."""
    from Xlib import X, display, error

    d = display.Display(display_name)
    try:
        shown = False
        for w in windows_titled(d, title):
            with contextlib.suppress(error.XError):  # gone meanwhile
                shown = shown or w.get_attributes().map_state == X.IsViewable
        return shown
    finally:
        d.close()


def close_like_a_window_manager(display_name: str, title: str) -> None:
    """Send WM_DELETE_WINDOW, which is what clicking the window's close button does."""
    from Xlib import X, display, protocol

    d = display.Display(display_name)
    try:
        (target,) = windows_titled(d, title)
        proto, delete = d.intern_atom("WM_PROTOCOLS"), d.intern_atom("WM_DELETE_WINDOW")
        assert delete in target.get_wm_protocols()
        target.send_event(protocol.event.ClientMessage(window=target, client_type=proto,
                                                       data=(32, [delete, X.CurrentTime, 0, 0, 0])))
        d.flush()
    finally:
        d.close()


def raise_window(display_name: str, title: str) -> None:
    """Put the window named `title` (its window manager frame) on top of the others."""
    from Xlib import X, display, error

    d = display.Display(display_name)
    try:
        for w in windows_titled(d, title):
            with contextlib.suppress(error.XError):
                frame = w
                while (parent := frame.query_tree().parent) and parent != d.screen().root:
                    frame = parent
                frame.configure(stack_mode=X.Above)
        d.sync()
    finally:
        d.close()


def shows(title: str, image: np.ndarray, sink: PreviewSink | None = None, timeout: float = 30.0) -> bool:
    """Whether the X server shows `image` in the window `title` within `timeout` (sending it on
    meanwhile when given the sink). Generous: it only costs time on failure, and a busy machine
    takes seconds to schedule the GUI thread. The window is raised first: its pixels are read
    off the screen, where a window left above it would be read instead. (That did not stop the
    rare failures of full CI runs beside a training run; their cause is still open.)"""
    from fer_overlay.capture import WindowSource

    with WindowSource(title) as shown:
        def showing() -> bool:
            if sink is not None:
                sink.send(image)
            raise_window(os.environ["DISPLAY"], title)
            return np.array_equal(shown.read().image, image)

        return wait_for(showing, timeout)


@pytest.mark.gui
def test_preview_shows_frames_at_their_size(xvfb_session: XvfbDisplay, window_manager: None) -> None:  # noqa: F811
    image = asymmetric_image(320, 240)
    with PreviewSink("fer preview", 320, 240) as sink:
        sink.send(image)
        assert not sink.closed
        assert shows("fer preview", image, sink)  # what the X server displays
    # The X server unmaps the window after Qt's next turn: gone soon, not necessarily at once
    # (the test read it still mapped in one of a few CI runs).
    assert sink.closed and wait_for(lambda: not on_screen(xvfb_session.display, "fer preview"), 10)
    with PreviewSink("any size") as free:
        free.send(asymmetric_image(400, 260))
        assert free.size == (0, 0)
        assert shows("any size", asymmetric_image(400, 260), free)  # whatever size comes, at that size
        free.send(asymmetric_image(100, 30))  # another size is taken too
    assert free.closed


@pytest.mark.gui
@pytest.mark.xfail(strict=False, reason=(
    "known residual race, fer_overlay/sinks/preview.py: a close that Qt handles in the instant between "
    "PreviewSink._show_pending's visibility check and cv2.imshow is undone (imshow opens a new window of "
    "that title). Checking before imshow took it from 3-6 in 100 closes to about 1 in 100-150; HighGUI "
    "offers no atomic check-and-show."))
def test_preview_notices_the_user_closing_it(xvfb_session: XvfbDisplay, window_manager: None) -> None:  # noqa: F811
    image = asymmetric_image(320, 240)
    with PreviewSink("fer closing", 320, 240) as sink:
        sink.send(image)
        assert shows("fer closing", image, sink)
        close_like_a_window_manager(xvfb_session.display, "fer closing")  # one click on its close button
        # Qt takes the window down; then the engine's next frame arrives.
        assert wait_for(lambda: not on_screen(xvfb_session.display, "fer closing"), 30), "Qt ignored the close"
        sink.send(image)
        assert wait_for(lambda: sink.closed or on_screen(xvfb_session.display, "fer closing"), 30)
        assert sink.closed, "the close was lost: the window came back"
        frames = sink.frames
        sink.send(image)  # ignored, and the window does not come back
        assert sink.frames == frames
        assert not wait_for(lambda: on_screen(xvfb_session.display, "fer closing"), 1.0)


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
def test_preview_fed_from_another_thread_never_blocks(xvfb_session: XvfbDisplay,  # noqa: F811
                                                      window_manager: None) -> None:
    # The app opens sinks on the tray thread and the engine sends from its output thread;
    # nobody pumps OpenCV events on either, which deadlocks naive cv2.imshow use under Qt.
    from fer_overlay.sinks import preview

    image = asymmetric_image(200, 100)
    sink = PreviewSink("fer threaded", 200, 100)
    # Hold the window thread: send() must hand the image over without waiting for it.
    held, release = threading.Event(), threading.Event()
    preview._run_gui(lambda: (held.set(), release.wait(60)), wait=False)
    assert held.wait(30)
    sender = threading.Thread(target=lambda: [sink.send(image) for _ in range(50)], daemon=True)
    sender.start()
    sender.join(30)  # only a deadlock reaches this bound
    blocked = sender.is_alive()
    release.set()
    assert not blocked, "send() waited for the window thread"
    assert sink.frames == 50
    # The newest image, drawn once the window thread is free. (Failed once in ~10 full CI runs
    # on a 2-core VM with a training run beside it: the state below says which part did not.)
    assert shows("fer threaded", image), (
        f"closed={sink.closed} user_closed={sink._user_closed} shown={sink._shown} "
        f"pumped windows={preview._gui.windows if preview._gui else None} "
        f"on screen={on_screen(xvfb_session.display, 'fer threaded')}")
    closer = threading.Thread(target=sink.close, daemon=True)
    closer.start()
    closer.join(30)
    assert not closer.is_alive() and sink.closed
    assert wait_for(lambda: not on_screen(xvfb_session.display, "fer threaded"), 30)
    with PreviewSink("fer threaded 2", 200, 100) as again:  # a new window after the first is gone
        again.send(image)
        assert shows("fer threaded 2", image, again)

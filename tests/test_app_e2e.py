"""The tray app, started for real, end to end on a headless desktop.

Xvfb (24-bit) + openbox + trayer; a Tk window titled like Zoom shows a generated gallery;
`fer-overlay` runs in a child process (tests/app_under_test.py) with its virtual camera
on a backend registered through `pyvirtualcam.register_backend()`. The test clicks the
tray icon to start, sends the global hotkeys with xdotool, checks what the camera
receives, stops the app with SIGTERM and reads back the session record and the MP4.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import require_program
from xvfb import XvfbDisplay, end_process, show_image, start_xvfb, tray_host, wait_until

from fer_overlay.store import SessionStore
from fer_overlay.synth import GallerySpec, make_gallery

pytestmark = [pytest.mark.gui, pytest.mark.slow]

TITLE = "Zoom Meeting - e2e"
SIZE = (1280, 720)
LAUNCHER = Path(__file__).with_name("app_under_test.py")


@contextlib.contextmanager
def window_manager(display: str) -> Iterator[None]:
    openbox = require_program("openbox", "a window manager; Debian: apt-get install openbox")
    proc = subprocess.Popen([openbox], env={**os.environ, "DISPLAY": display},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        end_process(proc)


@pytest.fixture
def desktop() -> Iterator[XvfbDisplay]:
    require_program("xdotool", "Debian: apt-get install xdotool")
    with start_xvfb(1920, 1080, 24) as server, window_manager(server.display), tray_host(server.display):
        yield server


def settings_file(tmp_path: Path) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(f"""
[capture]
source = "window:{TITLE}"
[output]
sink = "virtualcam"
backend = "fer_e2e"
size = "{SIZE[0]}x{SIZE[1]}"
view = "gallery"
[privacy]
record_frames = true
[session]
data_dir = "{tmp_path / 'data'}"
""")
    return path


def xdotool(server: XvfbDisplay, *args: str) -> None:
    subprocess.run(["xdotool", *args], env=server.env(), check=True, capture_output=True, timeout=10)


def icon_window(server: XvfbDisplay, title_prefix: str) -> int | None:
    """The tray icon's X window (pystray names it after the icon's title)."""
    import Xlib.display

    d = Xlib.display.Display(server.display)
    try:
        stack = [d.screen().root]
        while stack:
            w = stack.pop()
            name = w.get_wm_name()
            if isinstance(name, str) and name.startswith(title_prefix):
                return int(w.id)
            stack.extend(w.query_tree().children)
    finally:
        d.close()
    return None


def clickable(server: XvfbDisplay, window: int) -> bool:
    """Whether a user could click the icon now: it is shown (embedded in the tray and mapped) and
    its app listens for button presses. pystray names and maps the window before the app asks
    for clicks, and a click sent before that reaches nobody, as it would for any X client."""
    import Xlib.display
    import Xlib.error
    import Xlib.X

    d = Xlib.display.Display(server.display)
    try:
        attributes = d.create_resource_object("window", window).get_attributes()
    except Xlib.error.XError:
        return False
    finally:
        d.close()
    return attributes.map_state == Xlib.X.IsViewable and bool(attributes.all_event_masks & Xlib.X.ButtonPressMask)


def click_icon(server: XvfbDisplay, title_prefix: str, app_log: Callable[[], str]) -> None:
    """Wait until the icon can be clicked, then click it once."""
    def shown() -> int | None:
        window = icon_window(server, title_prefix)
        return window if window is not None and clickable(server, window) else None

    assert wait_until(lambda: shown() or "Traceback" in app_log(), 60), f"no clickable tray icon titled " \
        f"{title_prefix!r}\n{app_log()}"
    window = shown()
    assert window, app_log()
    # Sent to the icon window itself: trayer sometimes gives the icon a socket too small to aim at.
    xdotool(server, "click", "--window", str(window), "1")


class Camera:
    """What the child's virtual camera received, read from its dump folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def count(self) -> int:
        try:
            return int((self.folder / "count").read_text())
        except (FileNotFoundError, ValueError):
            return 0

    def latest(self) -> np.ndarray:
        return np.load(self.folder / "latest.npy")

    def frame_after(self, count: int, timeout: float = 10.0) -> np.ndarray:
        assert wait_until(lambda: self.count > count + 5, timeout), f"camera stuck at {self.count} frames"
        return self.latest()


def overlay_fraction(frame: np.ndarray, gallery: np.ndarray) -> float:
    """Share of pixels the app changed relative to the gallery on screen."""
    diff = np.abs(frame.astype(np.int16) - gallery.astype(np.int16)).max(axis=2)
    return float((diff > 40).mean())


def test_tray_app_publishes_toggles_bookmarks_records_and_quits(desktop: XvfbDisplay, tmp_path: Path) -> None:
    gallery, truth = make_gallery(GallerySpec(participants=9, size=SIZE, seed=4))
    dump = tmp_path / "camera"
    dump.mkdir()
    camera = Camera(dump)
    repo = str(Path(__file__).resolve().parents[1])
    env = {**desktop.env(), "PYSTRAY_BACKEND": "xorg", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH", "")) if p)}
    log_path = tmp_path / "app.log"
    with show_image(desktop, gallery, 0, 60, TITLE), log_path.open("w") as log_file:
        app = subprocess.Popen([sys.executable, str(LAUNCHER), str(dump), "-v", "--config",
                                str(settings_file(tmp_path))], env=env, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            def app_log() -> str:
                return log_path.read_text()[-3000:]

            # 1. The icon comes up stopped; one click on it runs the default item: Start.
            click_icon(desktop, "fer-overlay: Stopped", app_log)
            assert wait_until(lambda: camera.count > 10, 90), f"the click did not start the app\n{app_log()}"

            # 2. The annotated gallery: the app drew boxes and labels over the faces.
            annotated = camera.frame_after(camera.count, timeout=20)
            assert annotated.shape == (SIZE[1], SIZE[0], 3)
            assert wait_until(lambda: overlay_fraction(camera.latest(), gallery) > 0.01, 20), app_log()

            # 3. The global hotkey turns the overlay off: the camera gets the gallery untouched ...
            xdotool(desktop, "key", "ctrl+alt+e")
            assert wait_until(lambda: overlay_fraction(camera.latest(), gallery) < 0.002, 10), app_log()
            plain = camera.latest()
            assert np.abs(plain.astype(int) - gallery.astype(int)).mean() < 2.0  # and not mirrored
            # ... and on again.
            xdotool(desktop, "key", "ctrl+alt+e")
            assert wait_until(lambda: overlay_fraction(camera.latest(), gallery) > 0.01, 10), app_log()

            # 4. A bookmark, then cycle to the summary card (a different picture altogether).
            xdotool(desktop, "key", "ctrl+alt+b")
            xdotool(desktop, "key", "ctrl+alt+v")
            assert wait_until(lambda: overlay_fraction(camera.latest(), gallery) > 0.3, 10), app_log()
        finally:
            # 5. SIGTERM: the app stops the engine, joins its threads and closes the camera.
            app.send_signal(signal.SIGTERM)
            try:
                code = app.wait(30)
            except subprocess.TimeoutExpired:
                app.kill()
                app.wait()
                code = None
    text = log_path.read_text()
    assert code == 0, f"exit {code}\n{text[-3000:]}"
    assert (dump / "closed").exists(), "the virtual camera was not closed"
    assert "Traceback" not in text, text[-3000:]

    # 6. The session record: seconds of class aggregates, all nine students, the bookmark.
    with SessionStore.open(tmp_path / "data" / "sessions.sqlite3") as store:
        (session,) = store.list_sessions()
        seconds = store.read_class(session.id)
        assert len(seconds) >= 2
        assert max(s.present for s in seconds) == sum(t.face_xyxy is not None for t in truth.tiles)
        assert len(store.read_bookmarks(session.id)) == 1

    # 7. The recording the teacher asked for, read back.
    (recording,) = (tmp_path / "data" / "recordings").glob("session-*.mp4")
    cap = cv2.VideoCapture(str(recording))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, first = cap.read()
    cap.release()
    assert ok and first.shape == (SIZE[1], SIZE[0], 3) and frames >= 30

"""pytest face of :mod:`fer_overlay.testing.xserver`: fixtures, and skips where X tools are missing.

Use it from a test module with ``from xvfb import xvfb  # noqa: F401`` and mark the tests
``@pytest.mark.gui``. The display number is picked by Xvfb itself (``-displayfd``), so it
never collides with a display another test run or a developer is using.

OpenCV windows (cv2.imshow, Qt) need ``xvfb_session`` instead: Qt connects to the first
display it sees for the life of the process and kills the process ("XIO: fatal IO
error") once that server goes away, so they must all live on one server that outlasts them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from fer_overlay.testing import xserver
from fer_overlay.testing.xserver import ShownWindow, XvfbDisplay, wait_for

__all__ = [
    "ShownWindow", "XvfbDisplay", "show_image", "start_xvfb", "tray_host", "wait_for", "wait_until", "xvfb",
    "xvfb_session",
]


@contextlib.contextmanager
def start_xvfb(width: int = 1920, height: int = 1080, depth: int = 24) -> Iterator[XvfbDisplay]:
    """Run Xvfb on a free display until the block ends; skips the test when Xvfb is missing."""
    try:
        server_cm = xserver.start_xvfb(width, height, depth)
        server = server_cm.__enter__()
    except xserver.XUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server_cm.__exit__(None, None, None)


@contextlib.contextmanager
def show_image(server: XvfbDisplay, image: np.ndarray, x: int, y: int, title: str) -> Iterator[ShownWindow]:
    """Show a BGR image 1:1 in a top-level Tk window; skips the test when tkinter is missing."""
    try:
        window_cm = xserver.show_image(server, image, x, y, title)
        window = window_cm.__enter__()
    except xserver.XUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield window
    finally:
        window_cm.__exit__(None, None, None)


def _point_display_at(monkeypatch: pytest.MonkeyPatch, server: XvfbDisplay) -> None:
    monkeypatch.setenv("DISPLAY", server.display)
    monkeypatch.setenv("XDG_SESSION_TYPE", "x11")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


@pytest.fixture
def xvfb(monkeypatch: pytest.MonkeyPatch) -> Iterator[XvfbDisplay]:
    """A fresh 1920x1080x24 X server for this test, with DISPLAY pointing at it."""
    with start_xvfb() as server:
        _point_display_at(monkeypatch, server)
        yield server


@pytest.fixture(scope="session")
def xvfb_session_server() -> Iterator[XvfbDisplay]:
    with start_xvfb() as server:
        yield server


@pytest.fixture
def xvfb_session(xvfb_session_server: XvfbDisplay, monkeypatch: pytest.MonkeyPatch) -> XvfbDisplay:
    """The X server shared by the whole test session, with DISPLAY pointing at it (for Qt windows)."""
    _point_display_at(monkeypatch, xvfb_session_server)
    return xvfb_session_server


def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> bool:
    """Poll until predicate() is truthy; whether it became so within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


@contextlib.contextmanager
def tray_host(display: str) -> Iterator[None]:
    """A system tray (trayer or stalonetray) that owns _NET_SYSTEM_TRAY_S0 on `display`."""
    commands = {"trayer": ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request", "--height", "32"],
                "stalonetray": ["stalonetray", "--geometry", "4x1+0+0"]}
    name = next((n for n in commands if shutil.which(n)), None)
    if name is None:
        pytest.skip("no tray host (Debian: apt-get install trayer)")
    proc = subprocess.Popen(commands[name], env={**os.environ, "DISPLAY": display},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_until(lambda: tray_owner(display), 15):
            pytest.skip(f"{name} did not take the tray selection")
        yield
    finally:
        end_process(proc)


def tray_owner(display_name: str) -> bool:
    import Xlib.display
    import Xlib.X

    display = Xlib.display.Display(display_name)
    try:
        return display.get_selection_owner(display.intern_atom("_NET_SYSTEM_TRAY_S0")) != Xlib.X.NONE
    finally:
        display.close()


def end_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

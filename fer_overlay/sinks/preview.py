"""A local preview window (OpenCV), safe to feed from the engine's output thread.

OpenCV's GUI back ends are thread-bound: with Qt (Linux) the first thread that touches
a window owns the GUI for the life of the process, and a call from any other thread
blocks until that thread pumps events, forever if it never does (a tray main loop) or
has ended. So every window call runs on one daemon thread owned by this module, and
``send()`` only hands over the newest image: it never blocks the caller. macOS (Cocoa)
only allows windows on the main thread, so there the calls run inline and the sink must
be used from the main thread.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import numpy as np

from ..errors import SinkError
from .base import SinkBase

log = logging.getLogger(__name__)
T = TypeVar("T")
PUMP_MS = 15  # how often open windows get their events handled (redraw, close button)


class _GuiThread:
    """Runs callables on one long-lived thread and pumps OpenCV window events between them."""

    def __init__(self) -> None:
        self._tasks: queue.Queue[tuple[Callable[[], Any], Future[Any] | None]] = queue.Queue()
        self.windows = 0  # open windows; events are pumped only while there are some
        self._thread = threading.Thread(target=self._run, name="fer-preview-gui", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import cv2

        while True:
            try:
                fn, done = self._tasks.get(timeout=PUMP_MS / 1000 if self.windows else None)
            except queue.Empty:
                cv2.waitKey(1)
                continue
            try:
                result = fn()
            except BaseException as exc:  # handed to the caller; the GUI thread must survive
                if done is None:
                    log.exception("preview window call failed")
                else:
                    done.set_exception(exc)
            else:
                if done is not None:
                    done.set_result(result)

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        done: Future[T] = Future()
        self._tasks.put((fn, done))
        return done.result(timeout)

    def post(self, fn: Callable[[], object]) -> None:
        self._tasks.put((fn, None))


_gui: _GuiThread | None = None
_gui_lock = threading.Lock()


def _run_gui(fn: Callable[[], T], wait: bool = True) -> T | None:
    global _gui
    if sys.platform == "darwin":
        return fn()
    with _gui_lock:
        if _gui is None:
            _gui = _GuiThread()
    if wait:
        return _gui.call(fn)
    _gui.post(fn)
    return None


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

    Without ``width``/``height`` any size is shown. The window shows the newest image
    sent; images sent faster than the window redraws are skipped.
    """

    def __init__(self, title: str = "fer_overlay preview", width: int | None = None, height: int | None = None,
                 fps: float = 30.0) -> None:
        super().__init__(width, height, fps)
        problem = _x_display_problem()
        if problem:
            raise SinkError(f"cannot open the preview window: {problem}; use the virtual camera or file:PATH instead")
        self.title = title
        self.name = f"preview '{title}'"
        self._lock = threading.Lock()
        self._pending: np.ndarray | None = None
        self._shown = False
        self._user_closed = False
        try:
            _run_gui(self._open)
        except Exception as exc:  # cv2.error, or the GUI thread not answering
            raise SinkError(
                f"cannot open the preview window ({exc}); if OpenCV has no GUI support, "
                "install opencv-python instead of opencv-python-headless"
            ) from exc

    # -- on the GUI thread -------------------------------------------------------------------
    def _open(self) -> None:
        import cv2

        cv2.namedWindow(self.title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
        if _gui is not None:
            _gui.windows += 1

    def _show_pending(self) -> None:
        import cv2

        with self._lock:
            image, self._pending = self._pending, None
        if image is None or self._closed or self._user_closed:
            return
        # A close the GUI handled since the last frame (its idle event pump runs between our
        # calls) must be seen before imshow, which would open a new window of that title.
        if self._shown and self._window_gone():
            self._user_closed = True
            log.info("%s was closed by the user", self.name)
            return
        cv2.imshow(self.title, image)
        cv2.waitKey(1)
        self._shown = True
        if self._window_gone():
            self._user_closed = True
            log.info("%s was closed by the user", self.name)

    def _window_gone(self) -> bool:
        """A window closed with its close button reports itself not visible (or is gone)."""
        import cv2

        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            return True

    def _destroy(self) -> None:
        import cv2

        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)  # lets the back end process the destroy
        except cv2.error:  # already gone
            pass
        if _gui is not None:
            _gui.windows -= 1

    # -- any thread ------------------------------------------------------------------------------
    def send(self, image: np.ndarray) -> None:
        self._check(image)
        if self._user_closed:
            return  # don't pop it back up (imshow would recreate it)
        with self._lock:
            coalesce = self._pending is not None  # a show is already queued; it takes the newest image
            self._pending = image
        if not coalesce:
            _run_gui(self._show_pending, wait=False)
        self.frames += 1

    @property
    def closed(self) -> bool:
        """True after close(), or once the user closed the window."""
        return self._closed or self._user_closed

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                _run_gui(self._destroy)
            except Exception:  # the window is going away regardless
                log.debug("closing %s failed", self.name, exc_info=True)
        super().close()

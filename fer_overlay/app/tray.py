"""The tray icon and its menu (pystray).

Two layers: `build_menu_spec` describes the menu as plain `MenuEntry` values from the
controller's current state (testable without a display); `TrayApp` turns that into a
pystray menu, rebuilt each time pystray reads it, and owns the threads:

    fer-tray-icon    pystray's event loop (the main thread on macOS, where AppKit needs it)
    fer-tray-worker  runs menu actions and icon refreshes in order, so a slow controller
                     call never freezes the tray, and controller listeners never wait on it
    fer-tray-stop    started by stop(): stops the icon so that stop() itself never blocks

pystray's X11 backend shares one python-xlib connection between its event thread and
callers on other threads, and python-xlib's locking loses track of work in two ways
when two threads use a connection at once: a flush returns early while another thread
is sending, leaving requests (drawing, or destroying the window on stop) unsent; and a
thread waiting for a reply is not woken when the sending thread leaves early. Either
way nothing moves until the next X event, which may never come: the icon stops
redrawing, or run() never returns after icon.stop(). Another complete flush from a
third thread sends what was left and wakes the waiters, so run()'s thread, idle
otherwise, flushes the icon's connection a few times a second until the loop has ended
(`_flush_x`).
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import write_default
from ..errors import FerOverlayError
from ..types import View
from . import AppState, ControllerLike
from .icons import icon_image

if TYPE_CHECKING:
    from ..capture.camera import CameraBackend

log = logging.getLogger(__name__)

Opener = Callable[[Path], None]

VIEW_LABELS = {
    View.GALLERY: "Annotated gallery",
    View.SUMMARY: "Class summary",
    View.SIDEBAR: "Gallery with summary sidebar",
    View.OFF: "Plain capture (overlay off)",
}
SINKS = (("Virtual camera", "virtualcam"), ("Preview window", "preview"), ("None", "null"))
STATE_LABELS = {
    AppState.STOPPED: "Stopped",
    AppState.RUNNING: "Running",
    AppState.NO_FACES: "Running, no faces found",
    AppState.ERROR: "Error",
}


@dataclass(frozen=True)
class Monitor:
    """One monitor as the Source menu shows it (the listing itself is capture.screen's)."""

    index: int  # as in "monitor:N": mss numbering, 1 = first monitor
    width: int
    height: int

    @property
    def spec(self) -> str:
        return f"monitor:{self.index}"

    @property
    def label(self) -> str:
        return f"Monitor {self.index} ({self.width}x{self.height})"


def menu_monitors() -> list[Monitor]:
    """The monitors for the Source menu, from :func:`fer_overlay.capture.screen.list_monitors`
    (the one listing the sources, doctor and the tray share); none when the screen cannot be read."""
    from ..capture.screen import list_monitors

    try:
        found = list_monitors()[1:]  # [0] is all monitors together
    except FerOverlayError as exc:  # no display, or a platform mss cannot read
        log.warning("cannot list monitors: %s", exc)
        return []
    return [Monitor(m.index, m.width, m.height) for m in found]


@dataclass(frozen=True)
class Camera:
    """One camera as the Source menu shows it (the listing itself is capture.camera's)."""

    index: int  # as in "camera:N": 0 = the first camera
    width: int  # the size it delivered when listed (its default, before CameraSource asks for one)
    height: int

    @property
    def spec(self) -> str:
        return f"camera:{self.index}"

    @property
    def label(self) -> str:
        return f"Camera {self.index} ({self.width}x{self.height})"


def menu_cameras(backend: CameraBackend | None = None) -> list[Camera]:
    """The cameras for the Source menu, from :func:`fer_overlay.capture.camera.list_cameras`
    (the listing doctor shows); none when they cannot be listed. `backend` is for tests."""
    try:
        # Imported here, like screen above: OpenCV loads only when the menu is first read.
        from ..capture.camera import list_cameras, opencv_backend

        found = list_cameras(opencv_backend if backend is None else backend)
    except Exception as exc:  # OpenCV or a driver failing while probing: the tray must still show its menu
        log.warning("cannot list cameras: %s", exc)
        return []
    return [Camera(index, width, height) for index, (width, height) in found]


# -- the menu as data -----------------------------------------------------------------------


@dataclass(frozen=True)
class MenuEntry:
    text: str
    action: Callable[[], object] | None = None
    checked: bool | None = None  # None: not a check item
    radio: bool = False
    enabled: bool = True
    default: bool = False  # what clicking the icon does; the only action on bare X11 trays
    submenu: tuple[MenuEntry, ...] = ()


SEPARATOR = MenuEntry("-")


def build_menu_spec(
    controller: ControllerLike,
    monitors: Sequence[Monitor],
    cameras: Sequence[Camera] = (),
    *,
    open_session_folder: Callable[[], None],
    open_settings_file: Callable[[], None],
    quit_app: Callable[[], None],
) -> tuple[MenuEntry, ...]:
    """The tray menu for the controller's current state. Each action calls one method."""
    c = controller
    state = c.state
    return (
        MenuEntry(_short(c.status_text) or STATE_LABELS[state], enabled=False),
        SEPARATOR,
        MenuEntry("Stop" if state.active else "Start", c.stop if state.active else c.start, default=True),
        MenuEntry("View", submenu=_view_entries(c)),
        MenuEntry("Source", submenu=_source_entries(c, monitors, cameras)),
        MenuEntry("Sink", submenu=_sink_entries(c)),
        SEPARATOR,
        MenuEntry("Toggle overlay", c.toggle_overlay),
        MenuEntry("Bookmark this moment", c.bookmark, enabled=state.active),
        MenuEntry("Calibrate baselines", c.calibrate, enabled=state.active),
        SEPARATOR,
        MenuEntry("Open session folder", open_session_folder),
        MenuEntry("Open settings file", open_settings_file),
        SEPARATOR,
        MenuEntry("Quit", quit_app),
    )


def _view_entries(c: ControllerLike) -> tuple[MenuEntry, ...]:
    current = c.view
    return tuple(
        MenuEntry(VIEW_LABELS[v], functools.partial(c.set_view, v), checked=v is current, radio=True) for v in View
    )


def _source_entries(c: ControllerLike, monitors: Sequence[Monitor],
                    cameras: Sequence[Camera] = ()) -> tuple[MenuEntry, ...]:
    current = c.source
    choices: list[Monitor | Camera] = [*monitors, *cameras]
    entries = [
        MenuEntry(s.label, functools.partial(c.set_source, s.spec), checked=s.spec == current, radio=True)
        for s in choices
    ]
    if monitors and cameras:  # a screen (the meeting) and a camera (the room) are different choices
        entries.insert(len(monitors), SEPARATOR)
    if current not in {s.spec for s in choices}:  # a window, region, file or unlisted camera chosen elsewhere
        entries.append(MenuEntry(_short(current), functools.partial(c.set_source, current), checked=True, radio=True))
    return tuple(entries)


def _sink_entries(c: ControllerLike) -> tuple[MenuEntry, ...]:
    current = c.sink
    choices = [(label, current if spec == "virtualcam" and current.startswith("virtualcam:") else spec)
               for label, spec in SINKS]  # keep a chosen virtual camera backend
    if current not in {spec for _, spec in choices}:  # e.g. file:PATH from the command line
        choices.append((_short(current), current))
    return tuple(MenuEntry(label, functools.partial(c.set_sink, spec), checked=spec == current, radio=True)
                 for label, spec in choices)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_pystray(entries: Sequence[MenuEntry], submit: Callable[[Callable[[], object]], None]) -> list[Any]:
    """pystray items for `entries`; activating one hands its action to `submit`."""
    import pystray

    def runner(action: Callable[[], object]) -> Callable[[Any, Any], None]:
        def run(icon: Any, item: Any) -> None:  # pystray calls actions with (icon, item)
            submit(action)

        return run

    items = []
    for e in entries:
        if e is SEPARATOR:
            items.append(pystray.Menu.SEPARATOR)
            continue
        action: Any = pystray.Menu(*to_pystray(e.submenu, submit)) if e.submenu else None
        if e.action is not None:
            action = runner(e.action)
        checked = None if e.checked is None else (lambda item, value=e.checked: value)
        items.append(pystray.MenuItem(e.text, action, checked=checked, radio=e.radio, default=e.default,
                                      enabled=e.enabled))
    return items


# -- opening files ----------------------------------------------------------------------------


def open_path(path: Path) -> None:
    """Open a file or folder in the desktop's default app, without waiting for it."""
    try:
        if sys.platform == "win32":
            os.startfile(path)  # type: ignore[attr-defined]  # Windows only
        else:
            cmd = "open" if sys.platform == "darwin" else "xdg-open"
            subprocess.Popen([cmd, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    except OSError as exc:
        log.warning("cannot open %s: %s", path, exc)


# -- the app ----------------------------------------------------------------------------------


class TrayApp:
    STOP_TIMEOUT_S = 3.0  # how long run() waits for pystray's threads after stop()
    TITLE_LIMIT = 127  # Windows truncates tooltips at 128 characters
    X_FLUSH_EVERY_S = 0.2  # the longest a python-xlib stall lasts (see module doc)

    def __init__(
        self,
        controller: ControllerLike,
        settings_path: Path,
        session_dir: Path,
        *,
        opener: Opener = open_path,
        monitors: Sequence[Monitor] | None = None,
        cameras: Sequence[Camera] | None = None,
        name: str = "fer-overlay",
    ) -> None:
        self.controller = controller
        self.settings_path, self.session_dir = Path(settings_path), Path(session_dir)
        self._opener = opener
        self._monitors = list(monitors) if monitors is not None else None
        self._cameras = list(cameras) if cameras is not None else None
        # pystray reads the menu on its own thread and on the worker (update_menu); two probes at
        # once would open each camera twice, and many refuse a second open (busy), so one of
        # the listings would miss it and might be the one kept.
        self._cameras_lock = threading.Lock()
        self._name = name
        self.icon: Any = None  # the pystray.Icon once run() has made it
        self._icon_ready = threading.Event()  # self.icon is set
        self._icon_running = threading.Event()  # pystray's loop is up (so icon.stop() works)
        self._icon_done = threading.Event()  # pystray's loop has returned
        self._shown = threading.Event()
        self._stopping = threading.Event()
        self._stop_lock = threading.Lock()
        self._stop_started = False
        self._icon_calls = threading.Lock()  # worker and stop thread take turns calling pystray
        self._tasks: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self._refresh_queued = threading.Event()  # coalesces bursts of state changes
        self._drawn_state: AppState | None = None
        self._worker = threading.Thread(target=self._work, name="fer-tray-worker", daemon=True)
        self._icon_thread: threading.Thread | None = None
        controller.add_listener(self._on_state)

    # -- menu ---------------------------------------------------------------------------------
    @property
    def monitors(self) -> list[Monitor]:
        if self._monitors is None:
            self._monitors = menu_monitors()
        return self._monitors

    @property
    def cameras(self) -> list[Camera]:
        # Listed once: probing opens each device (slow with some drivers, and it lights the LED).
        with self._cameras_lock:
            if self._cameras is None:
                self._cameras = menu_cameras()
            return self._cameras

    def menu_spec(self) -> tuple[MenuEntry, ...]:
        return build_menu_spec(self.controller, self.monitors, self.cameras,
                               open_session_folder=self.open_session_folder,
                               open_settings_file=self.open_settings_file, quit_app=self.quit)

    def pystray_items(self) -> list[Any]:
        return to_pystray(self.menu_spec(), self.submit)

    def submit(self, action: Callable[[], object]) -> None:
        """Run `action` on the worker, then refresh the icon. Returns at once."""
        self._tasks.put(action)
        self._request_refresh()

    # -- actions that are not one controller call ---------------------------------------------------
    def open_session_folder(self) -> None:
        self.session_dir.mkdir(parents=True, exist_ok=True)
        self._opener(self.session_dir)

    def open_settings_file(self) -> None:
        if not self.settings_path.exists():
            with suppress(FileExistsError):  # created meanwhile: open that one
                write_default(self.settings_path)
                log.info("wrote default settings to %s", self.settings_path)
        self._opener(self.settings_path)

    def quit(self) -> None:
        try:
            self.controller.shutdown()
        finally:
            self.stop()

    # -- lifecycle ----------------------------------------------------------------------------------
    def run(self) -> None:
        """Show the icon; return after Quit or stop() (within STOP_TIMEOUT_S) or if the icon dies.

        Quit shuts the controller down first; after stop() that is the caller's job.
        """
        if self._worker.is_alive() or self._icon_done.is_set():
            raise RuntimeError("TrayApp.run() can only be called once")
        self._worker.start()
        if sys.platform == "darwin":
            self._icon_main()
        else:
            self._icon_thread = threading.Thread(target=self._icon_main, name="fer-tray-icon", daemon=True)
            self._icon_thread.start()
            while not self._stopping.wait(self.X_FLUSH_EVERY_S):
                _flush_x(self.icon)
            self._wait_icon_done()
        self._tasks.put(None)
        self._worker.join(self.STOP_TIMEOUT_S)
        if self._worker.is_alive():
            log.warning("tray worker still busy %.0f s after stop; leaving it behind", self.STOP_TIMEOUT_S)

    def stop(self) -> None:
        """Remove the icon and make run() return. Any thread, menu actions included; never blocks."""
        with self._stop_lock:
            if self._stop_started:
                return
            self._stop_started = True
        self._stopping.set()
        threading.Thread(target=self._stop_icon, name="fer-tray-stop", daemon=True).start()

    @property
    def running(self) -> bool:
        return self._icon_running.is_set() and not self._icon_done.is_set()

    # -- threads ------------------------------------------------------------------------------------
    def _icon_main(self) -> None:
        try:
            import pystray  # imported late: on Linux it connects to the X server at import time

            state = self.controller.state
            self.icon = pystray.Icon(self._name, icon_image(state), self._title(),
                                     menu=pystray.Menu(self.pystray_items))
            self._drawn_state = state
            self._icon_ready.set()
            if not self.icon.HAS_MENU:
                log.info("this tray backend (%s) has no menu: clicking the icon starts and stops; use the "
                         "hotkeys, or install PyGObject with AppIndicator for the full menu",
                         type(self.icon).__module__)
            if not self._stopping.is_set():
                self.icon.run(setup=self._on_icon_up)
        except Exception:
            log.exception("the tray icon failed")
        finally:
            self._icon_done.set()
            self._stopping.set()  # an icon that died on its own ends run() too

    def _on_icon_up(self, icon: Any) -> None:
        # pystray's setup thread is not a daemon; hand off and return so it can never hang exit
        self._icon_running.set()
        self._tasks.put(self._show)

    def _show(self) -> None:
        with self._icon_calls:
            if self._stopping.is_set():
                return
            for attempt in range(20):
                try:
                    self.icon.visible = True
                    break
                except AttributeError:  # pystray sets icon._thread just after signalling setup
                    if attempt == 19:
                        raise
                    time.sleep(0.01)
            _listen_for_clicks(self.icon)
            _flush_x(self.icon)
        self._shown.set()
        self._request_refresh()
        self._check_docked(attempts_left=3)

    def _check_docked(self, attempts_left: int, delay_s: float = 2.0) -> None:
        """Ask the tray again if it has not embedded the icon yet.

        pystray sends the X11 dock request once; a tray that is still tearing down another
        icon (the app restarted, a second instance quit) can drop it, and the icon then never
        shows. Checked from the task thread a few times after the icon came up.
        """
        def check() -> None:
            with self._icon_calls:
                if self._stopping.is_set() or not _x_icon_undocked(self.icon):
                    return
                log.info("the tray has not embedded the icon yet; asking again")
                with suppress(Exception):  # no tray manager right now: the next check asks again
                    self.icon._dock_window()
                _flush_x(self.icon)
            if attempts_left > 1:
                self._check_docked(attempts_left - 1, delay_s)

        timer = threading.Timer(delay_s, lambda: self._tasks.put(check))
        timer.daemon = True
        timer.start()

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None:
            try:
                task()
            except FerOverlayError as exc:
                log.error("%s", exc)
            except Exception:
                log.exception("tray action %s failed", getattr(task, "__name__", task))

    def _on_state(self, state: AppState) -> None:
        self._request_refresh()

    def _request_refresh(self) -> None:
        if not self._refresh_queued.is_set():
            self._refresh_queued.set()
            self._tasks.put(self._refresh)

    def _refresh(self) -> None:
        self._refresh_queued.clear()
        if not self._shown.is_set():
            return
        state = self.controller.state
        with self._icon_calls:
            if self._stopping.is_set():
                return
            if state is not self._drawn_state:
                self.icon.icon = icon_image(state)
                self._drawn_state = state
            self.icon.title = self._title()
            self.icon.update_menu()
            _flush_x(self.icon)

    def _title(self) -> str:
        text = self.controller.status_text or STATE_LABELS[self.controller.state]
        title = _short(f"fer-overlay: {text}", self.TITLE_LIMIT)
        if sys.platform.startswith("linux") and os.environ.get("PYSTRAY_BACKEND", "xorg") == "xorg":
            # pystray's X11 backend writes WM_NAME as Latin-1 and raises on anything else
            # (a window title like "Zoom – Gallery", a student's name).
            title = title.replace("…", "...").encode("latin-1", "replace").decode("latin-1")
        return title

    def _stop_icon(self) -> None:
        deadline = time.monotonic() + self.STOP_TIMEOUT_S
        # icon.stop() does nothing until pystray's loop is up, so wait for it (or for its end)
        while not self._icon_running.wait(0.05):
            if self._icon_done.is_set() or time.monotonic() > deadline:
                return
        self._shown.wait(max(0.0, min(1.0, deadline - time.monotonic())))
        with _acquire(self._icon_calls, timeout=1.0):
            log.debug("stopping the tray icon")
            try:
                self.icon.stop()  # on X11 this can wait for the event thread until run() flushes
            except Exception:
                log.warning("stopping the tray icon failed", exc_info=True)

    def _wait_icon_done(self) -> None:
        """Wait for pystray's loop to end, flushing its X connection meanwhile (see module doc);
        not in the thread calling icon.stop(), as that call can be the one that is stuck."""
        deadline = time.monotonic() + self.STOP_TIMEOUT_S
        while not self._icon_done.wait(0.05):
            if time.monotonic() > deadline:
                log.warning("tray icon loop still running %.0f s after stop; leaving it behind", self.STOP_TIMEOUT_S)
                return
            _flush_x(self.icon)


@contextmanager
def _acquire(lock: threading.Lock, timeout: float) -> Iterator[bool]:
    """Take `lock` if it frees up in time; go ahead without it otherwise (a stuck refresh must
    not stop us from stopping)."""
    got = lock.acquire(timeout=timeout)
    try:
        yield got
    finally:
        if got:
            lock.release()


def _listen_for_clicks(icon: Any) -> None:
    """pystray's X11 backend handles left clicks (its default item) but never asks the server
    for button events on the icon window, so a click does nothing; ask for them."""
    window = getattr(icon, "_window", None) if type(icon).__module__.endswith("._xorg") else None
    if window is None:
        return
    import Xlib.X

    with suppress(Exception):  # a window already gone: nothing to click
        window.change_attributes(event_mask=Xlib.X.ExposureMask | Xlib.X.StructureNotifyMask | Xlib.X.ButtonPressMask)


def _x_icon_undocked(icon: Any) -> bool:
    """Whether pystray's X11 icon window still hangs off the root window (no tray took it)."""
    window = getattr(icon, "_window", None) if type(icon).__module__.endswith("._xorg") else None
    display = getattr(icon, "_display", None)
    if window is None or display is None:
        return False
    try:
        return bool(window.query_tree().parent == display.screen().root)
    except Exception:  # the window is gone: nothing to dock
        return False


def _flush_x(icon: Any) -> None:
    """Send requests python-xlib left queued on pystray's X connection (see module doc)."""
    if not type(icon).__module__.endswith("._xorg"):
        return
    display = getattr(icon, "_display", None)
    with suppress(Exception):  # a closed connection: the loop has ended anyway
        display.flush()  # type: ignore[union-attr]

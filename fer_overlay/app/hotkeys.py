"""Global hotkeys (pynput), e.g. ctrl+alt+e to hide the overlay while screen sharing.

Actions run on a worker thread ("fer-hotkeys"), never on pynput's listener thread: a
slow action would delay key handling, and an exception there makes pynput stop
listening for good.

pynput's X11 listener records keys with the XRecord extension and asks the server to
stop recording on the same connection it is blocked reading from, so the request only
goes out at the next key press: stop() would hang until someone types. stop() sends the
"disable recording" request itself on a fresh connection, then joins with a timeout.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from ..config import check_hotkey, split_hotkey
from ..errors import ConfigError, FerOverlayError
from . import ControllerLike

log = logging.getLogger(__name__)

Action = Callable[[], object]

WAYLAND = (
    "global hotkeys are not available in a Wayland session: Wayland does not let apps see keys "
    "pressed in other windows. Use the tray menu instead, or log in to an X11 session (e.g. "
    "'Ubuntu on Xorg' on the login screen); under XWayland hotkeys only work while an X11 window has focus."
)
NO_DISPLAY = (
    "global hotkeys need an X11 display and DISPLAY is not set (a headless or SSH session?). "
    "Use the tray menu, or start fer-overlay from your desktop session."
)
MACOS_ACCESS = (
    "global hotkeys need permission to watch the keyboard: open System Settings > Privacy & Security > "
    "Accessibility (and Input Monitoring), allow the app or terminal that runs fer-overlay, then restart it. "
    "Until then use the menu bar icon."
)


class HotkeyUnavailable(FerOverlayError):
    """Global hotkeys cannot work in this session; the message says why and what to use instead."""


def platform_problem(env: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """Why global hotkeys cannot work here (checked before touching pynput), or None."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return None  # macOS permission is only known once a listener runs; Windows has no restriction
    if env.get("XDG_SESSION_TYPE", "").lower() == "wayland" or (env.get("WAYLAND_DISPLAY") and not env.get("DISPLAY")):
        return WAYLAND
    if not env.get("DISPLAY"):
        return NO_DISPLAY
    return None


def hotkey_backend_check() -> str:
    """One line for `fer-overlay doctor`: "ok: ..." or "unavailable: ..."."""
    problem = platform_problem()
    if problem:
        return f"unavailable: {problem}"
    try:
        from pynput import keyboard
    except Exception as exc:
        return f"unavailable: pynput cannot load ({exc})"
    backend = keyboard.Listener.__module__.rsplit(".", 1)[-1].lstrip("_")
    if sys.platform == "darwin":
        try:
            import HIServices

            if not HIServices.AXIsProcessTrusted():
                return f"unavailable: {MACOS_ACCESS}"
        except ImportError:
            pass
    return f"ok: pynput {backend} backend"


def controller_actions(controller: ControllerLike) -> dict[str, Action]:
    """The hotkey actions of settings' [hotkeys] section, bound to a controller."""
    return {
        "toggle_overlay": controller.toggle_overlay,
        "cycle_view": controller.cycle_view,
        "bookmark": controller.bookmark,
        "calibrate": controller.calibrate,
    }


class Hotkeys:
    """Global hotkeys: {action name: combo} bound to {action name: callable}; "" disables one."""

    STOP_TIMEOUT_S = 1.0
    START_TIMEOUT_S = 5.0

    def __init__(self, bindings: Mapping[str, str], actions: Mapping[str, Action]) -> None:
        self._combos: dict[str, str] = {}  # combo -> action name
        seen: dict[frozenset[str], str] = {}
        for name, combo in bindings.items():
            if not combo:
                continue
            if name not in actions:
                raise ConfigError(f"hotkeys.{name}: no such action (known: {', '.join(sorted(actions))})")
            try:
                check_hotkey(combo)
            except ValueError as exc:
                raise ConfigError(
                    f'hotkeys.{name} must be a hotkey like "<ctrl>+<alt>+e", got "{combo}" ({exc})'
                ) from None
            key = frozenset(part.lower() for part in split_hotkey(combo))
            if key in seen:
                raise ConfigError(f'hotkeys.{name} and hotkeys.{seen[key]} both use "{combo}"')
            seen[key] = name
            self._combos[combo] = name
        self._actions = dict(actions)
        self._listener: Any = None
        self._tasks: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None

    @property
    def bindings(self) -> dict[str, str]:
        return {name: combo for combo, name in self._combos.items()}

    @property
    def running(self) -> bool:
        return self._listener is not None and self._listener.is_alive()

    def start(self) -> None:
        """Start listening; raises HotkeyUnavailable with advice where the platform blocks it."""
        if self._listener is not None:
            raise RuntimeError("hotkeys already started")
        problem = platform_problem()
        if problem:
            raise HotkeyUnavailable(problem)
        try:
            from pynput import keyboard
        except Exception as exc:
            problem = f"global hotkeys unavailable: pynput cannot load ({exc}); use the tray menu"
            raise HotkeyUnavailable(problem) from exc
        self._worker = threading.Thread(target=self._work, name="fer-hotkeys", daemon=True)
        self._worker.start()
        listener = keyboard.GlobalHotKeys({combo: self._enqueue(name) for combo, name in self._combos.items()})
        listener.start()
        self._listener = listener
        # listener.wait() has no timeout and never returns if the listener fails while starting
        waiter = threading.Thread(target=listener.wait, daemon=True)
        waiter.start()
        waiter.join(self.START_TIMEOUT_S)
        if waiter.is_alive() or not listener.is_alive():
            self.stop()
            raise HotkeyUnavailable("the keyboard listener did not start (on X11 it needs the RECORD extension)")
        if not getattr(listener, "IS_TRUSTED", True):  # macOS only
            self.stop()
            raise HotkeyUnavailable(MACOS_ACCESS)
        log.info("hotkeys: %s", ", ".join(f"{combo} {name}" for combo, name in self._combos.items()))

    def stop(self) -> None:
        """Stop listening; returns within STOP_TIMEOUT_S whatever the listener does."""
        listener, self._listener = self._listener, None
        deadline = time.monotonic() + self.STOP_TIMEOUT_S
        if listener is not None:
            listener.stop()
            _end_x_recording(listener)
            listener.join(max(0.0, deadline - time.monotonic()))
            if listener.is_alive():
                log.warning("hotkey listener still running %.1f s after stop; it ends with the app",
                            self.STOP_TIMEOUT_S)
        if self._worker is not None:
            self._tasks.put(None)
            self._worker.join(max(0.0, deadline - time.monotonic()))
            self._worker = None

    def __enter__(self) -> Hotkeys:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _enqueue(self, name: str) -> Callable[[], None]:
        def fire() -> None:  # on pynput's thread: hand over and return
            self._tasks.put(name)

        return fire

    def _work(self) -> None:
        while (name := self._tasks.get()) is not None:
            try:
                self._actions[name]()
            except FerOverlayError as exc:
                log.error("hotkey %s: %s", name, exc)
            except Exception:
                log.exception("hotkey action %s failed", name)


def _end_x_recording(listener: Any) -> None:
    """Disable the XRecord context of pynput's X11 listener from our own connection (see module doc)."""
    context = getattr(listener, "_context", None)
    if context is None or not hasattr(listener, "_display_record"):
        return  # not the X11 backend, or it never got as far as recording
    try:
        import Xlib.display

        display = Xlib.display.Display()
    except Exception:
        log.debug("cannot open an X connection to end the hotkey listener", exc_info=True)
        return
    try:
        display.set_error_handler(lambda *args: None)  # already ended on its own: nothing to report
        display.record_disable_context(context)
        display.sync()
    except Exception:
        log.debug("ending the X recording failed", exc_info=True)
    finally:
        display.close()

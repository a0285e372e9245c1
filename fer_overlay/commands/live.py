"""What `run` and the tray app share: start-up housekeeping, the hotkeys, and ending on a signal."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import FerOverlayError

if TYPE_CHECKING:
    from ..app import ControllerLike
    from ..app.hotkeys import Hotkeys
    from ..config import Settings

log = logging.getLogger(__name__)


def apply_retention(settings: Settings) -> list[int]:
    """Delete sessions older than privacy.retention_days; a broken database is reported, not fatal."""
    from ..store import SessionStore

    path = settings.session.db_path
    if not path.exists():
        return []
    try:
        with SessionStore.open(path) as store:
            removed = store.apply_retention(settings.privacy.retention_days)
    except FerOverlayError as exc:
        log.error("could not apply the %d-day retention: %s", settings.privacy.retention_days, exc)
        return []
    if removed:
        log.info("deleted %d session(s) older than %d days", len(removed), settings.privacy.retention_days)
    return removed


def start_hotkeys(settings: Settings, controller: ControllerLike) -> Hotkeys | None:
    """Listen for the configured hotkeys; where the platform forbids it, say why and go on without."""
    from ..app.hotkeys import Hotkeys, HotkeyUnavailable, controller_actions

    try:
        hotkeys = Hotkeys(settings.hotkeys.bindings(), controller_actions(controller))
        hotkeys.start()
    except HotkeyUnavailable as exc:
        log.warning("global hotkeys are off: %s", exc)
        return None
    return hotkeys


@contextlib.contextmanager
def closing_on_signals(close: Callable[[], None]) -> Iterator[None]:
    """While inside: SIGTERM and SIGHUP (the terminal closed, the desktop session ended) end the
    session the way Ctrl+C does, stopped, recorded to the end and closed, never left unfinished.
    The previous handlers come back on the way out."""
    previous: dict[int, Any] = {}
    # Handlers can only be set from the main thread (not e.g. from a test driving main() on another).
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):  # Windows has no SIGHUP
            signum = getattr(signal, name, None)
            if signum is not None:
                previous[signum] = signal.signal(signum, lambda *_: close())
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

"""What `run` and the tray app share: start-up housekeeping and the hotkeys."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

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

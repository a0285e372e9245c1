"""The desktop app: a tray icon and global hotkeys driving one controller.

The tray and hotkeys only ever talk to a `ControllerLike`; the real controller
(app/controller.py) and the tests' fakes both satisfy it. Nothing here imports
pystray or pynput, which open an X connection at import time on Linux.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Protocol, runtime_checkable

from ..types import View


class AppState(str, Enum):
    STOPPED = "stopped"
    RUNNING = "running"
    NO_FACES = "no_faces"  # running, but the capture shows nobody to analyse
    ERROR = "error"

    @property
    def active(self) -> bool:
        """Whether the engine is running (so Stop, Bookmark and Calibrate make sense)."""
        return self in (AppState.RUNNING, AppState.NO_FACES)


@runtime_checkable
class ControllerLike(Protocol):
    """Everything the tray and hotkeys need. Methods are called from UI threads and must be
    thread-safe; listeners may be called from any thread and must not block."""

    @property
    def state(self) -> AppState: ...

    @property
    def status_text(self) -> str: ...  # e.g. "24 faces, 3.1 Hz - source lost, retrying" or the error message

    @property
    def view(self) -> View: ...

    @property
    def source(self) -> str: ...

    @property
    def sink(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def set_view(self, view: View) -> None: ...

    def toggle_overlay(self) -> View: ...

    def cycle_view(self) -> View: ...

    def set_source(self, spec: str) -> None: ...

    def set_sink(self, spec: str) -> None: ...

    def bookmark(self, label: str | None = None) -> None: ...

    def calibrate(self) -> None: ...

    def add_listener(self, callback: Callable[[AppState], None]) -> None: ...  # state changes

    def shutdown(self) -> None: ...  # stop everything, join threads


__all__ = ["AppState", "ControllerLike"]

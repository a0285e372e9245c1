"""The live app's current status: one typed :class:`~fer_overlay.types.Status` per topic.

Each part of the live loop reports under its own topic (the source, the analysis, each
sink, the session record) and clears it when the fault clears, so nothing has to parse a
message to know what it means, and one part's report never overwrites another's. The
board is guarded by a lock: the output thread, the analysis thread and the controller all
write to it, and the views and the tray read it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..types import Status, StatusKind

log = logging.getLogger(__name__)

_ORDER = {kind: i for i, kind in enumerate(StatusKind)}

# The topics the engine and the controller report under (sinks use sink_topic()).
SOURCE = "source"
ANALYSIS = "analysis"
RECORDING = "recording"
SINKS = "sinks"


def sink_topic(index: int) -> str:
    return f"sink {index}"


class StatusBoard:
    """Thread-safe: ``set``/``clear`` from any thread; listeners hear about real changes only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, Status] = {}
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Called (on the thread that made the change, outside the lock) after each change; must not block."""
        with self._lock:
            self._listeners.append(callback)

    def set(self, topic: str, status: Status) -> None:
        with self._lock:
            changed = self._entries.get(topic) != status
            self._entries[topic] = status
        if changed:
            self._changed()

    def clear(self, topic: str) -> None:
        with self._lock:
            changed = self._entries.pop(topic, None) is not None
        if changed:
            self._changed()

    def get(self, topic: str) -> Status | None:
        with self._lock:
            return self._entries.get(topic)

    def snapshot(self) -> tuple[Status, ...]:
        """Everything reported now, the most serious kind first."""
        with self._lock:
            entries = list(self._entries.values())
        return tuple(sorted(entries, key=lambda s: _ORDER[s.kind]))

    def kinds(self) -> set[StatusKind]:
        return {s.kind for s in self.snapshot()}

    @property
    def text(self) -> str:
        """One line per status, for the feed."""
        return "\n".join(s.message for s in self.snapshot())

    def _changed(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for callback in listeners:
            try:
                callback()
            except Exception:  # a broken listener must not take the output thread down
                log.exception("status listener failed")

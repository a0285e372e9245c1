"""A session record made from analyses outside the live engine: `analyze RECORDING --record`.

The same rules as a live session make the record (:func:`fer_overlay.live.mood.class_mood`
per analysis, :class:`fer_overlay.live.insight.ClassInsight` per second, the same
tables), so `report` and `export` read a recorded class exactly like a live one. What
differs is the clock: seconds are video time, and they arrive as fast as the analysis
runs, so they are written here in batches on the caller's thread (no queue to overflow,
nothing dropped) with the heartbeat stamped in each batch, which keeps `forget` off the
session while it is being made.

A run stopped part-way (Ctrl+C, an error) still closes its session: what was analysed is
recorded, and the session is ended.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from ..store import ClassSecond, SessionInfo, SessionStore, StudentSecond
from ..store.writer import HEARTBEAT_S
from ..types import Analysis
from .insight import ClassInsight, InsightOptions
from .mood import class_mood

log = logging.getLogger(__name__)

_BATCH = 60  # seconds of class per transaction: a 10-minute recording is ten commits


class SessionRecorder:
    """``add(analysis)`` for each analysed frame, in video order; ``close()`` ends the session."""

    def __init__(
        self, db_path: str | Path, source: str, *, anonymous: bool, settings: dict[str, Any] | None = None,
        insight: InsightOptions | None = None, started_at: datetime | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = SessionStore.open(db_path)
        try:
            self.info = self._store.start_session(source, anonymous, settings, started_at=started_at)
        except BaseException:
            self._store.close()
            raise
        self._insight = ClassInsight(insight or InsightOptions())
        self._pending: list[tuple[ClassSecond, list[StudentSecond]]] = []
        self._clock = clock
        self._last_commit = clock()
        self.seconds = 0  # recorded so far
        self.closed = False

    @property
    def path(self) -> Path:
        return self._store.path

    def add(self, analysis: Analysis) -> None:
        mood = class_mood(analysis.faces, analysis.layout, analysis.timestamp)
        self._pending.extend(self._insight.add(analysis, mood))
        if len(self._pending) >= _BATCH or self._clock() - self._last_commit >= HEARTBEAT_S:
            self._commit()

    def _commit(self) -> None:
        # live=True stamps the heartbeat in the same transaction: this session is being recorded.
        self._store.append_many(self.info.id, self._pending, live=True)
        self.seconds += len(self._pending)
        self._pending = []
        self._last_commit = self._clock()

    def close(self) -> SessionInfo:
        """Record the last second and end the session (``info`` then has its length and
        students); the store is closed even if that fails."""
        if self.closed:
            return self.info
        self.closed = True
        try:
            self._pending.extend(self._insight.flush())
            self._commit()
            self.info = self._store.end_session(self.info.id)
        finally:
            self._store.close()
        return self.info

    def __enter__(self) -> SessionRecorder:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

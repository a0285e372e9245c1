"""Riding out a lost source (monitor unplugged, window closed, screen locked)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from ..errors import SourceError
from ..types import Frame
from .base import FrameSource, Readable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Wait ``initial_s``, then ``factor`` times longer after each failure, at most ``max_s``."""

    initial_s: float = 0.5
    max_s: float = 5.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        if self.initial_s <= 0 or self.max_s < self.initial_s or self.factor < 1:
            raise ValueError(f"need 0 < initial_s <= max_s and factor >= 1, got {self}")

    def delay(self, failures: int) -> float:
        return min(self.max_s, self.initial_s * self.factor ** max(0, failures - 1))


class WhileLost(str, Enum):
    """What ``RetryingSource.read()`` does while the source is lost."""

    KEEP_LAST = "keep_last"  # return the last good Frame again (same index and timestamp, so it reads as stale)
    RAISE = "raise"  # raise SourceError, as the wrapped source would, but without touching it between attempts


class RetryingSource:
    """Wraps a live source: a SourceError marks it lost, and it is retried with backoff until it is back.

    ``read()`` never touches the wrapped source more often than the backoff allows (so a
    window search or X reconnect is not repeated 30 times a second), and by default
    returns at once so a steady-rate output loop keeps going; ``block=True`` sleeps until
    the next attempt instead, for plain ``while True: read()`` loops. ``status`` says
    "source lost, retrying ..." while lost, for the tray/overlay to show. With nothing
    captured yet, KEEP_LAST has no frame to return and raises like RAISE.
    """

    def __init__(
        self,
        source: Readable,
        backoff: Backoff = Backoff(),
        while_lost: WhileLost = WhileLost.KEEP_LAST,
        block: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source, self.backoff, self.while_lost, self.block = source, backoff, while_lost, block
        self._clock = clock
        self._last: Frame | None = None
        self._failures = 0
        self._retry_at = 0.0
        self.last_error: str | None = None

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def is_live(self) -> bool:
        # A bare Readable (the engine's test sources) says nothing: take it as live, like the screen.
        return self.source.is_live if isinstance(self.source, FrameSource) else True

    @property
    def size(self) -> tuple[int, int]:
        if not isinstance(self.source, FrameSource):
            raise AttributeError(f"{self.name} does not say its size")
        return self.source.size

    @property
    def lost(self) -> bool:
        return self._failures > 0

    @property
    def failures(self) -> int:
        """Failed attempts since the source was last working."""
        return self._failures

    @property
    def status(self) -> str:
        if not self.lost:
            return ""
        wait = max(0.0, self._retry_at - self._clock())
        return f"source lost, retrying in {wait:.1f} s: {self.last_error}"

    def read(self) -> Frame | None:
        now = self._clock()
        if self.lost and now < self._retry_at:
            if not self.block:
                return self._lost_result()
            time.sleep(self._retry_at - now)
            now = self._clock()
        try:
            frame = self.source.read()
        except SourceError as exc:
            self._failures += 1
            self.last_error = str(exc)
            delay = self.backoff.delay(self._failures)
            self._retry_at = now + delay
            if self._failures == 1:  # once per outage: the log must not fill up while a monitor is unplugged
                log.warning("%s lost: %s; retrying every %g to %g s", self.name, exc,
                            self.backoff.initial_s, self.backoff.max_s)
            else:
                log.debug("%s still lost (attempt %d, next in %.1f s): %s", self.name, self._failures, delay, exc)
            return self._lost_result()
        if self.lost:
            log.info("%s is back after %d failed attempt(s)", self.name, self._failures)
            self._failures, self.last_error = 0, None
        if frame is not None:
            self._last = frame
        return frame

    def _lost_result(self) -> Frame:
        if self.while_lost is WhileLost.KEEP_LAST and self._last is not None:
            return self._last
        raise SourceError(self.status)

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> RetryingSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""A progress line for long commands: frames done, rate, ETA.

On a terminal it is one line redrawn in place a few times a second; anywhere else (a log
file, CI, a pipe) it is a plain line every ``every_s`` seconds, so a long job shows that
it is alive without flooding the log. It writes to stderr by default: stdout keeps the
command's result.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import TextIO

_TTY_EVERY_S = 0.2  # redraws per second on a terminal: smooth enough, cheap
_LOG_EVERY_S = 10.0
_BAR = 24


def clock_text(seconds: float) -> str:
    """``1:02:03`` / ``4:05``; ``?`` for an unknown time."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """``update(done)`` as work goes, ``close()`` at the end (also on Ctrl+C: it ends the line)."""

    def __init__(
        self, total: int | None, *, unit: str = "frames", stream: TextIO | None = None,
        tty: bool | None = None, every_s: float | None = None, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if total is not None and total < 0:
            raise ValueError(f"total must be >= 0 or None, got {total}")
        if every_s is not None and every_s <= 0:
            raise ValueError(f"every_s must be > 0, got {every_s}")
        self.total = total or None  # a container that does not know its length says 0
        self.unit = unit
        self._stream = stream if stream is not None else sys.stderr
        self._tty = self._stream.isatty() if tty is None else tty
        self._every = every_s if every_s is not None else (_TTY_EVERY_S if self._tty else _LOG_EVERY_S)
        self._clock = clock
        self._start = clock()
        self._last_shown = self._start
        self.done = 0

    def update(self, done: int) -> None:
        self.done = done
        now = self._clock()
        if now - self._last_shown >= self._every:
            self._last_shown = now
            self._show(now)

    def line(self, now: float | None = None) -> str:
        now = self._clock() if now is None else now
        elapsed = max(now - self._start, 1e-9)
        rate = self.done / elapsed
        if self.total is None:
            return f"{self.done} {self.unit} · {rate:.1f} {self.unit}/s · {clock_text(elapsed)} elapsed"
        share = min(self.done / self.total, 1.0)
        filled = int(share * _BAR)
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        return (f"[{'#' * filled}{'.' * (_BAR - filled)}] {self.done}/{self.total} {self.unit} "
                f"({share:.0%}) · {rate:.1f} {self.unit}/s · ETA {clock_text(max(left, 0.0))}")

    def _show(self, now: float) -> None:
        if self._tty:
            self._stream.write("\r" + self.line(now) + "\x1b[K")  # erase what a longer line left
        else:
            self._stream.write(self.line(now) + "\n")
        self._stream.flush()

    def close(self) -> None:
        """The final figures on their own line (a terminal's redrawn line is finished)."""
        now = self._clock()
        if self._tty:
            self._stream.write("\r" + self.line(now) + "\x1b[K\n")
        elif now - self._start >= self._every:  # a short job said nothing; its summary says enough
            self._stream.write(self.line(now) + "\n")
        self._stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The live loop: a steady-rate output thread and an analysis worker joined by one-value slots.

    source --frame--> output thread --render--> feeds (sinks)  (every 1/fps, never waits)
                          |  ^
               newest frame  newest Analysis
                          v  |
                     analysis worker (as fast as the machine allows)

The output thread captures, draws the newest results it has (showing their age) and
sends. The worker always takes the newest frame; results that arrive late simply
replace older ones, nothing queues. Both threads are joined on stop, before sinks
and the source close, so no inference is running when the interpreter exits.

Faults are contained where they happen: a lost source is retried with backoff
(capture/retry.py) while the last frame stays on; a sink whose send fails is closed,
reported and reopened with backoff (or given up on) while the other sinks keep getting
every frame; a frame whose analysis fails is skipped and counted. Each reports a typed
status on the :class:`~fer_overlay.live.status.StatusBoard` and clears it when the fault
clears. What each sink may show is its :class:`~fer_overlay.live.feeds.FeedPolicy`,
decided by the controller; the engine applies it without knowing why.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

import numpy as np

from .. import defaults, specs
from ..capture.base import Readable
from ..capture.retry import Backoff, RetryingSource
from ..errors import FerOverlayError, SourceError
from ..types import Analysis, ClassMood, Faces, Frame, Status, StatusKind, View
from ..views.compose import BACKGROUND, Alerts, ViewState, render
from ..views.render import RenderStyle
from . import status as topics
from .feeds import Feed, FeedPolicy, Sink
from .mood import MoodHistory, class_mood
from .status import StatusBoard

log = logging.getLogger(__name__)
T = TypeVar("T")

Source = Readable  # what the engine reads frames from; wrapped in a RetryingSource unless it is one


class Slot(Generic[T]):
    """Holds the newest value only; readers can wait for one newer than they have seen."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._value: T | None = None
        self._seq = 0

    def put(self, value: T) -> None:
        with self._cond:
            self._value = value
            self._seq += 1
            self._cond.notify_all()

    def get(self) -> tuple[int, T | None]:
        with self._cond:
            return self._seq, self._value

    def wait_newer(self, seq: int, timeout: float) -> tuple[int, T | None]:
        with self._cond:
            self._cond.wait_for(lambda: self._seq > seq, timeout=timeout)
            return self._seq, self._value


SOURCE_RETRY = Backoff(0.5, 5.0)
SINK_RETRY = Backoff(0.5, 10.0)


@dataclass(frozen=True)
class EngineOptions:
    fps: float = defaults.FPS
    size: tuple[int, int] = defaults.SIZE
    view: View = defaults.VIEW
    stale_after_s: float = 3.0  # older results are not drawn: the gallery may have changed
    source_retry: Backoff = SOURCE_RETRY  # after a source error
    sink_retry: Backoff = SINK_RETRY  # between attempts to reopen a failed sink
    sink_attempts: int = 8  # consecutive failures (the send, then each reopen) before a sink is given up
    trend_minutes: float = 5.0

    def __post_init__(self) -> None:
        # The bounds are the settings' (specs.py): one rule for the file, the CLI and code.
        lo, hi = specs.FPS_RANGE
        if not lo <= self.fps <= hi:
            raise ValueError(f"fps must be in [{lo:g}, {hi:g}], got {self.fps}")
        w, h = self.size
        specs.parse_size(f"{w}x{h}")  # a SpecError, which is a ValueError, names the size and the forms
        if self.sink_attempts < 1:
            raise ValueError(f"sink_attempts must be at least 1, got {self.sink_attempts}")


@dataclass
class EngineStats:
    """Measurements for benchmarks, the tray tooltip and tests (written by the engine's threads)."""

    frames_out: int = 0
    frames_analysed: int = 0
    send_times: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    latencies_s: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    analysis_times: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    analysis_errors: int = 0  # frames skipped because their analysis raised
    callback_errors: int = 0  # results whose on_result callback raised
    sink_failures: int = 0  # failed sends and failed reopen attempts, all sinks together
    render_errors: int = 0  # frames that could not be drawn (the last good image went out instead)

    def max_gap_s(self) -> float:
        t = np.array(self.send_times)
        return float(np.diff(t).max()) if len(t) > 1 else 0.0


class _EndOfStream(Exception):
    """The source has no more frames (the end of a file)."""


class _OutletState(Enum):
    LIVE = "live"
    WAITING = "waiting"  # closed after a failure, reopened when its backoff is over
    REOPENING = "reopening"  # the reopen runs on its own thread, so the other sinks keep their rate
    DROPPED = "dropped"


class _Outlet:
    """One feed as the output thread drives it. Only the output thread touches it, except the
    reopen thread, which hands its result over through a Future."""

    def __init__(self, feed: Feed, topic: str, board: StatusBoard, options: EngineOptions,
                 stats: EngineStats) -> None:
        self.feed, self.sink, self.name = feed, feed.sink, feed.name
        self._topic, self._board, self._options, self._stats = topic, board, options, stats
        self.state = _OutletState.LIVE
        self.failures = 0  # consecutive: the send that failed, then each failed reopen
        self._retry_at = 0.0
        self._reopen: Future[Sink] | None = None
        self._reopen_thread: threading.Thread | None = None
        self._owned: Sink | None = None  # the sink the engine opened itself, closed by the engine

    @property
    def alive(self) -> bool:
        return self.state is not _OutletState.DROPPED

    @property
    def ready(self) -> bool:
        return self.state is _OutletState.LIVE

    def send(self, image: np.ndarray, now: float) -> bool:
        try:
            self.sink.send(image)
        except Exception as exc:  # whatever it is, it must not stop the other sinks
            self._failed(exc, now, close=True)
            return False
        if self.failures:
            log.info("%s is back", self.name)
            self.failures = 0
            self._board.clear(self._topic)
        return True

    def poll(self, now: float) -> None:
        if self.state is _OutletState.WAITING and now >= self._retry_at:
            self._start_reopen()
        elif self.state is _OutletState.REOPENING and self._reopen is not None and self._reopen.done():
            done, self._reopen = self._reopen, None
            error = done.exception()
            if error is not None:
                self._failed(error, now, close=False)
            else:
                # The status stays until the new sink has taken a frame.
                self.sink = self._owned = done.result()
                self.state = _OutletState.LIVE

    def _start_reopen(self) -> None:
        reopen = self.feed.reopen
        assert reopen is not None  # WAITING only when there is a way to reopen
        failed, result = self.sink, Future[Sink]()

        def run() -> None:
            try:
                result.set_result(reopen(failed))
            except BaseException as exc:  # handed to the output thread, which reports it
                result.set_exception(exc)

        self.state, self._reopen = _OutletState.REOPENING, result
        self._reopen_thread = threading.Thread(target=run, name="fer-sink-reopen", daemon=True)
        self._reopen_thread.start()

    def _failed(self, exc: BaseException, now: float, *, close: bool) -> None:
        self.failures += 1
        self._stats.sink_failures += 1
        reason = _one_line(exc)
        if close:
            _close_quietly(self.sink)
        if self.failures == 1:  # once per outage: the log must not fill up at 30 frames a second
            log.warning("%s failed: %s", self.name, reason, exc_info=not isinstance(exc, FerOverlayError))
        else:
            log.debug("%s: attempt %d to reopen failed: %s", self.name, self.failures - 1, reason)
        if self.feed.reopen is None or self.failures >= self._options.sink_attempts:
            self.state = _OutletState.DROPPED
            if self.failures > 1:
                log.warning("%s: giving up after %d attempts to reopen it: %s", self.name, self.failures - 1, reason)
            self._board.set(self._topic, Status(StatusKind.SINK_DROPPED, f"{self.name} stopped: {reason}"))
            return
        self.state = _OutletState.WAITING
        self._retry_at = now + self._options.sink_retry.delay(self.failures)
        self._board.set(self._topic, Status(StatusKind.SINK_FAILED, f"{self.name} failed, retrying: {reason}"))

    def shutdown(self, timeout: float) -> None:
        """After the output thread has ended: wait for a reopen in flight and close what the engine opened."""
        if self._reopen_thread is not None:
            self._reopen_thread.join(timeout)
            if self._reopen_thread.is_alive():
                log.error("reopening %s did not finish within %.0f s", self.name, timeout)
        pending = self._reopen
        if pending is not None and pending.done() and pending.exception() is None:
            _close_quietly(pending.result())
        if self._owned is not None:
            _close_quietly(self._owned)


class LiveEngine:
    def __init__(
        self,
        source: Source,
        sinks: Sequence[Sink | Feed],
        analyze: Callable[[Frame], Analysis],
        options: EngineOptions = EngineOptions(),
        on_result: Callable[[Analysis, ClassMood], None] | None = None,
        style: RenderStyle = RenderStyle(),
        alerts: Callable[[], Alerts] | None = None,
        status: StatusBoard | None = None,
        on_end: Callable[[str], None] | None = None,
    ) -> None:
        """``sinks``: plain sinks show everything and are not reopened; a :class:`Feed` says what its
        sink may show and how to reopen it. ``status``: where faults are reported (a new board if
        None). ``on_end(reason)``: called on the output thread when the output ends by itself
        (reason "" at the end of a file, else why every sink was given up)."""
        self.source = source if isinstance(source, RetryingSource) else RetryingSource(source, options.source_retry)
        self.analyze, self.options, self.on_result, self.style = analyze, options, on_result, style
        self.alerts = alerts  # called on the output thread: must be cheap and thread-safe
        self.status = status if status is not None else StatusBoard()
        self.on_end = on_end
        self.view = options.view
        self._view_before_off = options.view if options.view is not View.OFF else View.GALLERY
        self.stats = EngineStats()
        feeds = [s if isinstance(s, Feed) else Feed(s) for s in sinks]
        self._outlets = [_Outlet(f, topics.sink_topic(i), self.status, options, self.stats)
                         for i, f in enumerate(feeds)]
        self.history = MoodHistory(options.trend_minutes)
        self.failure = ""  # why the output stopped by itself, when every sink failed
        self._frames: Slot[Frame] = Slot()
        self._results: Slot[tuple[Analysis, ClassMood]] = Slot()
        self._last_images: dict[tuple[View, FeedPolicy], np.ndarray] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._output: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def sinks(self) -> list[Sink]:
        """The sinks now in use (a reopened sink replaces the one that failed)."""
        return [o.sink for o in self._outlets]

    # -- controls (called from tray, hotkeys, CLI; thread-safe) ---------------------------
    def set_view(self, view: View) -> None:
        with self._lock:
            self.view = view
            if view is not View.OFF:
                self._view_before_off = view

    def toggle_overlay(self) -> View:
        with self._lock:
            self.view = self._view_before_off if self.view is View.OFF else View.OFF
            return self.view

    def cycle_view(self) -> View:
        self.set_view(self.view.next())
        return self.view

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            raise RuntimeError("engine already started")
        # Models, sessions and imports are loaded by now: move them out of the garbage
        # collector's way so a full collection cannot pause the output for 100 ms.
        gc.freeze()
        self._stop.clear()
        self._output = threading.Thread(target=self._output_loop, name="fer-output", daemon=True)
        self._threads = [threading.Thread(target=self._analysis_loop, name="fer-analysis", daemon=True), self._output]
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._frames.put(None)  # type: ignore[arg-type]  # wakes the worker
        for t in self._threads:
            t.join(timeout)
            if t.is_alive():
                log.error("thread %s did not stop within %.0f s", t.name, timeout)
        self._threads = []
        for outlet in self._outlets:
            outlet.shutdown(timeout)

    @property
    def running(self) -> bool:
        """The output is alive: its thread runs and at least one sink is not given up (or none was asked for)."""
        output = self._output
        if output is None or not output.is_alive():
            return False
        return not self._outlets or any(o.alive for o in self._outlets)

    def run(self, duration: float | None = None) -> None:
        """Blocking: start, wait for `duration` seconds (or the end of a file source), stop."""
        self.start()
        try:
            deadline = None if duration is None else time.monotonic() + duration
            while self.running and (deadline is None or time.monotonic() < deadline):
                self._stop.wait(0.05)
        finally:
            self.stop()

    def __enter__(self) -> LiveEngine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- analysis thread ----------------------------------------------------------------------
    def _analysis_loop(self) -> None:
        _yield_to_output()
        seen = 0
        while not self._stop.is_set():
            seq, frame = self._frames.wait_newer(seen, timeout=0.5)
            if frame is None or seq == seen:
                continue
            seen = seq
            t0 = time.monotonic()
            try:
                result = self.analyze(frame)
                mood = class_mood(result.faces, result.layout, frame.timestamp)
            except Exception as exc:  # skip this frame; the feed goes on with the last good results
                self._analysis_failed(frame, exc)
                continue
            self.status.clear(topics.ANALYSIS)
            self.stats.analysis_times.append(time.monotonic() - t0)
            self.stats.frames_analysed += 1
            self.history.add(mood)
            self._results.put((result, mood))
            if self.on_result is not None:
                try:
                    self.on_result(result, mood)
                except Exception:
                    self.stats.callback_errors += 1
                    if self.stats.callback_errors == 1:
                        log.exception("result callback failed (later failures are logged at debug level)")
                    else:
                        log.debug("result callback failed", exc_info=True)

    def _analysis_failed(self, frame: Frame, exc: Exception) -> None:
        self.stats.analysis_errors += 1
        n = self.stats.analysis_errors
        if n == 1:
            log.exception("analysis failed on frame %d; the frame is skipped", frame.index)
        elif n % 100 == 0:
            log.warning("analysis has failed on %d frames so far, the last: %s", n, _one_line(exc))
        else:
            log.debug("analysis failed on frame %d", frame.index, exc_info=True)
        self.status.set(topics.ANALYSIS, Status(StatusKind.ANALYSIS_ERROR, f"analysis error: {_one_line(exc)}"))

    # -- output thread ------------------------------------------------------------------------
    def _output_loop(self) -> None:
        period = 1.0 / self.options.fps
        next_t = time.monotonic()
        last_frame: Frame | None = None
        reason: str | None = None  # set when the output ends by itself
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now < next_t:
                    self._stop.wait(next_t - now)
                    continue
                # Behind by more than a frame (e.g. the machine stalled): drop, don't burst.
                next_t = max(next_t + period, now - period)
                try:
                    frame = self._read_source(last_frame)
                except _EndOfStream:
                    reason = ""
                    break
                for outlet in self._outlets:
                    outlet.poll(now)
                if self._outlets and not any(o.alive for o in self._outlets):
                    reason = self.failure = "every output failed: " + "; ".join(
                        s.message for s in self.status.snapshot() if s.kind is StatusKind.SINK_DROPPED)
                    log.error("%s", reason)
                    break
                if frame is None:
                    continue
                fresh = frame is not last_frame
                last_frame = frame
                if fresh:
                    self._frames.put(frame)
                if self._send(frame) or not self._outlets:
                    sent = time.monotonic()
                    self.stats.frames_out += 1
                    self.stats.send_times.append(sent)
                    if fresh:  # capture-to-output, on the monotonic clock whatever the source's clock
                        self.stats.latencies_s.append(sent - now)
        finally:
            self._stop.set()
        if reason is not None and self.on_end is not None:
            self.on_end(reason)

    def _read_source(self, last: Frame | None) -> Frame | None:
        """The next frame, the last one again while the source is lost, or None before the first."""
        try:
            frame = self.source.read()
        except SourceError:  # lost before anything was captured: nothing to show yet
            frame = last
        else:
            if frame is None:
                raise _EndOfStream
        if self.source.lost:
            # A stable message (not the countdown), so the board changes once per outage.
            self.status.set(topics.SOURCE, Status(StatusKind.SOURCE_LOST,
                                                  f"source lost, retrying: {self.source.last_error}"))
        else:
            self.status.clear(topics.SOURCE)
        return frame

    def _send(self, frame: Frame) -> bool:
        """Draw the frame once per (view, policy) and send it to every live sink; True if any took it."""
        state = self._state_for(frame)
        view = self.view
        images: dict[tuple[View, FeedPolicy], np.ndarray] = {}
        sent = False
        now = time.monotonic()
        for outlet in self._outlets:
            if not outlet.ready:
                continue
            policy = outlet.feed.policy
            key = (policy.view_for(view), policy)
            if key not in images:
                images[key] = self._render(key, frame, state)
            sent = outlet.send(images[key], now) or sent
        return sent

    def _render(self, key: tuple[View, FeedPolicy], frame: Frame, state: ViewState) -> np.ndarray:
        view, policy = key
        try:
            image = render(view, frame.image, policy.apply(state), self.options.size, self.style)
        except Exception:
            # The last image drawn under the same policy (never a less private one), else a blank one.
            self.stats.render_errors += 1
            if self.stats.render_errors == 1:
                log.exception("drawing the %s view failed; the last good image is sent instead", view.value)
            w, h = self.options.size
            return self._last_images.get(key, np.full((h, w, 3), BACKGROUND, np.uint8))
        self._last_images[key] = image
        return image

    def _state_for(self, frame: Frame) -> ViewState:
        _, latest = self._results.get()
        status = self.status.text
        if latest is None:
            return ViewState(Faces.empty(), status=status or "starting...", faces_current=False)
        result, mood = latest
        age = max(0.0, frame.timestamp - result.timestamp)
        current = age <= self.options.stale_after_s
        faces = result.faces if current else Faces.empty()
        # Opted-out students stay pixelated where they were last seen, however old that is:
        # dropping their boxes with the stale faces would show them.
        hidden = result.hidden
        alerts = self.alerts() if self.alerts is not None else Alerts()
        return ViewState(faces, mood, self.history.series(), age, status=status, hidden=hidden, alerts=alerts,
                         layout=result.layout, faces_current=current,
                         refresh_age_s=result.refresh_age_s if current else None)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _close_quietly(sink: Sink) -> None:
    try:
        sink.close()
    except Exception as exc:  # it failed already; the failure itself has been reported
        log.debug("closing %s: %s", getattr(sink, "name", sink), exc)


def _yield_to_output(niceness: int = defaults.ANALYSIS_NICE) -> None:
    """Lower this thread's CPU priority (Linux nice is per thread; other platforms: no-op), so
    the output thread is scheduled first when analysis keeps every core busy."""
    if not sys.platform.startswith("linux"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except OSError as exc:  # sandboxes may forbid it: analysis just runs at normal priority
        log.debug("could not lower the analysis thread's priority: %s", exc)

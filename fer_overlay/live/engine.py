"""The live loop: a steady-rate output thread and an analysis worker joined by one-value slots.

    source --frame--> output thread --render--> sinks        (every 1/fps, never waits)
                          |  ^
               newest frame  newest Analysis
                          v  |
                     analysis worker (as fast as the machine allows)

The output thread captures, draws the newest results it has (showing their age) and
sends. The worker always takes the newest frame; results that arrive late simply
replace older ones, nothing queues. Both threads are joined on stop, before sinks
and the source close, so no inference is running when the interpreter exits.
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
from dataclasses import dataclass, field, replace
from typing import Generic, Protocol, TypeVar

import numpy as np

from ..errors import SourceError
from ..types import Analysis, ClassMood, Faces, Frame, View
from ..views.compose import Alerts, ViewState, render
from ..views.render import RenderStyle
from .mood import MoodHistory, class_mood

log = logging.getLogger(__name__)
T = TypeVar("T")


class Source(Protocol):
    def read(self) -> Frame | None: ...


class Sink(Protocol):
    def send(self, image: np.ndarray) -> None: ...


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


@dataclass(frozen=True)
class EngineOptions:
    fps: float = 30.0
    size: tuple[int, int] = (1280, 720)
    view: View = View.GALLERY
    anonymous: bool = False
    stale_after_s: float = 3.0  # older results are not drawn: the gallery may have changed
    aggregate_shared: bool = False  # shared sinks (the meeting camera) get the summary card only
    retry_every_s: float = 1.0  # after a source error
    trend_minutes: float = 5.0

    def __post_init__(self) -> None:
        if not 1 <= self.fps <= 120:
            raise ValueError(f"fps must be in [1, 120], got {self.fps}")
        w, h = self.size
        if w < 64 or h < 64 or w % 2 or h % 2:
            raise ValueError(f"size must be even and at least 64x64, got {w}x{h}")


@dataclass
class EngineStats:
    """Measurements for benchmarks and the tray tooltip (written by the engine's threads)."""

    frames_out: int = 0
    frames_analysed: int = 0
    send_times: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    latencies_s: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    analysis_times: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    errors: int = 0

    def max_gap_s(self) -> float:
        t = np.array(self.send_times)
        return float(np.diff(t).max()) if len(t) > 1 else 0.0


class LiveEngine:
    def __init__(
        self,
        source: Source,
        sinks: Sequence[Sink],
        analyze: Callable[[Frame], Analysis],
        options: EngineOptions = EngineOptions(),
        on_result: Callable[[Analysis, ClassMood], None] | None = None,
        style: RenderStyle = RenderStyle(),
        shared: Sequence[bool] | None = None,
        alerts: Callable[[], Alerts] | None = None,
    ) -> None:
        self.source, self.sinks, self.analyze = source, list(sinks), analyze
        # Which sinks students see (the virtual camera); the rest are the teacher's own.
        self.shared = list(shared) if shared is not None else [True] * len(self.sinks)
        self.options, self.on_result, self.style = options, on_result, style
        self.alerts = alerts  # called on the output thread: must be cheap and thread-safe
        self.view = options.view
        self._view_before_off = options.view if options.view is not View.OFF else View.GALLERY
        self.stats = EngineStats()
        self.status = ""
        self.history = MoodHistory(options.trend_minutes)
        self._frames: Slot[Frame] = Slot()
        self._results: Slot[tuple[Analysis, ClassMood]] = Slot()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

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
        self._threads = [
            threading.Thread(target=self._analysis_loop, name="fer-analysis", daemon=True),
            threading.Thread(target=self._output_loop, name="fer-output", daemon=True),
        ]
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

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

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

    # -- threads ----------------------------------------------------------------------------
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
            except Exception:  # keep the feed alive; the message says what broke
                self.stats.errors += 1
                log.exception("analysis failed on frame %d", frame.index)
                self.status = "analysis error (see log)"
                continue
            self.stats.analysis_times.append(time.monotonic() - t0)
            self.stats.frames_analysed += 1
            self.history.add(mood)
            self._results.put((result, mood))
            if self.on_result is not None:
                try:
                    self.on_result(result, mood)
                except Exception:
                    log.exception("result callback failed")

    def _output_loop(self) -> None:
        period = 1.0 / self.options.fps
        next_t = time.monotonic()
        last_frame: Frame | None = None
        retry_at = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now < next_t:
                self._stop.wait(next_t - now)
                continue
            # Behind by more than a frame (e.g. the machine stalled): drop, don't burst.
            next_t = max(next_t + period, now - period)
            frame = last_frame
            fresh_grab = False
            if now >= retry_at:
                try:
                    fresh = self.source.read()
                except SourceError as exc:
                    if not self.status.startswith("source lost"):
                        log.warning("%s; retrying every %.0f s", exc, self.options.retry_every_s)
                    self.status = "source lost, retrying"
                    retry_at = now + self.options.retry_every_s
                    fresh = last_frame
                else:
                    if fresh is None:  # end of a file source
                        break
                    if self.status.startswith("source lost"):
                        log.info("source is back")
                        self.status = ""
                    self._frames.put(fresh)
                    fresh_grab = True
                frame = fresh
            if frame is None:
                continue
            last_frame = frame
            state = self._state_for(frame)
            view = self.view
            images: dict[tuple[View, bool], np.ndarray] = {}
            for sink, shared in zip(self.sinks, self.shared):
                # Students see class totals only when asked; names never leave through them then.
                restricted = shared and (self.options.aggregate_shared or self.options.anonymous)
                v = View.SUMMARY if shared and self.options.aggregate_shared and view is not View.OFF else view
                if (v, restricted) not in images:
                    s = replace(state, alerts=state.alerts.aggregate()) if restricted else state
                    images[v, restricted] = render(v, frame.image, s, self.options.size, self.style)
                sink.send(images[v, restricted])
            sent = time.monotonic()
            self.stats.frames_out += 1
            self.stats.send_times.append(sent)
            if fresh_grab:  # capture-to-output, on the monotonic clock whatever the source's clock
                self.stats.latencies_s.append(sent - now)
        self._stop.set()

    def _state_for(self, frame: Frame) -> ViewState:
        _, latest = self._results.get()
        if latest is None:
            return ViewState(Faces.empty(), anonymous=self.options.anonymous, status=self.status or "starting...")
        result, mood = latest
        age = max(0.0, frame.timestamp - result.timestamp)
        faces = result.faces if age <= self.options.stale_after_s else Faces.empty()
        hidden = result.hidden if age <= self.options.stale_after_s else Faces.empty()
        alerts = self.alerts() if self.alerts is not None else Alerts()
        return ViewState(faces, mood, self.history.series(), age, self.options.anonymous, self.status, hidden, alerts,
                         layout=result.layout)


def _yield_to_output(niceness: int = 10) -> None:
    """Lower this thread's CPU priority (Linux nice is per thread; other platforms: no-op), so
    the output thread is scheduled first when analysis keeps every core busy."""
    if not sys.platform.startswith("linux"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except OSError as exc:  # sandboxes may forbid it: analysis just runs at normal priority
        log.debug("could not lower the analysis thread's priority: %s", exc)

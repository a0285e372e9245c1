"""The one controller behind the tray menu, the hotkeys and `fer-overlay run`.

It owns a session's moving parts: source -> pipeline -> engine -> sinks, the session
record, and the privacy rules. Commands are thread-safe and cheap; starting builds
the models once and reuses them for later starts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..analysis.baseline import BaselineOptions
from ..analysis.pipeline import GalleryPipeline, PipelineOptions, RunningMode
from ..capture import open_source
from ..errors import FerOverlayError, SinkError
from ..inference.models import Precision
from ..inference.runtime import live_threads
from ..live.engine import EngineOptions, LiveEngine
from ..live.insight import ClassInsight, InsightOptions
from ..people.identity import IdentityOptions
from ..sinks import open_sink
from ..store import AsyncWriter, SessionStore, default_db_path
from ..types import Analysis, ClassMood, View
from ..views.compose import Alerts
from . import AppState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunPlan:
    """Everything one run needs, resolved from settings and CLI flags."""

    source: str = "monitor:1"
    sinks: tuple[str, ...] = ("virtualcam",)
    view: View = View.GALLERY
    fps: float = 30.0
    size: tuple[int, int] = (1280, 720)
    detect_every: int = 3
    detector: str = "centerface"
    providers: tuple[str, ...] = ()
    threads: int | None = None
    flip_tta: bool = False
    precision: Precision = Precision.AUTO
    anonymous: bool = False
    aggregate_feed: bool = False  # the shared camera shows class aggregates only
    opt_out: tuple[str, ...] = ()
    log_session: bool = True
    db_path: Path | None = None
    calibration_s: float = 180.0
    attention_after_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: Any) -> RunPlan:
        out, an, pr, se = settings.output, settings.analysis, settings.privacy, settings.session
        sink = f"virtualcam:{out.backend}" if out.sink == "virtualcam" and out.backend else out.sink
        sinks = tuple(s for s in (sink,) if s)
        if pr.record_frames:
            # Frames are kept only when the teacher asks: the shared feed, as an MP4 beside the log.
            stamp = time.strftime("%Y%m%d-%H%M%S")
            sinks += (f"file:{se.data_path / 'recordings' / f'session-{stamp}.mp4'}",)
        return cls(
            source=settings.capture.source, sinks=sinks, view=View(out.view), fps=float(out.fps),
            size=tuple(out.size), detect_every=an.detect_every, detector=an.detector, providers=tuple(an.providers),
            threads=an.threads or None, flip_tta=an.flip_tta, precision=an.precision, anonymous=pr.anonymous,
            aggregate_feed=str(getattr(pr.student_feed, "value", pr.student_feed)) == "aggregate",
            opt_out=tuple(pr.opt_out), log_session=se.log,
            db_path=se.db_path,
            calibration_s=float(se.calibration_minutes) * 60, attention_after_s=float(se.attention_after_s),
        )


class Controller:
    def __init__(self, plan: RunPlan, pipeline_factory: Callable[[RunPlan], GalleryPipeline] | None = None) -> None:
        self.plan = plan
        self._factory = pipeline_factory or _default_pipeline
        self._pipeline: GalleryPipeline | None = None
        self._engine: LiveEngine | None = None
        self._resources: list[Any] = []
        self._writer: AsyncWriter | None = None
        self._insight: ClassInsight | None = None
        self._state = AppState.STOPPED
        self._error = ""
        self._listeners: list[Callable[[AppState], None]] = []
        self._lock = threading.RLock()
        self._view = plan.view
        self._alerts = Alerts()  # replaced whole by the analysis thread, read by the output thread
        self.session_id: int | None = None

    # -- state ---------------------------------------------------------------------------------
    @property
    def state(self) -> AppState:
        return self._state

    @property
    def status_text(self) -> str:
        if self._state is AppState.ERROR:
            return self._error
        eng = self._engine
        if eng is None or self._state is AppState.STOPPED:
            return ""  # the state's own label says it
        times = list(eng.stats.analysis_times)[-20:]
        rate = len(times) / sum(times) if times else 0.0
        note = f" - {eng.status}" if eng.status else ""
        return f"{self.plan.source} -> {', '.join(self.plan.sinks) or 'no sink'}: {rate:.1f} Hz{note}"

    @property
    def view(self) -> View:
        return self._engine.view if self._engine else self._view

    @property
    def source(self) -> str:
        return self.plan.source

    @property
    def sink(self) -> str:
        return self.plan.sinks[0] if self.plan.sinks else "null"

    @property
    def engine(self) -> LiveEngine | None:
        return self._engine

    def add_listener(self, callback: Callable[[AppState], None]) -> None:
        self._listeners.append(callback)

    def _set_state(self, state: AppState, error: str = "") -> None:
        changed = state is not self._state or error != self._error
        self._state, self._error = state, error
        if changed:
            for cb in list(self._listeners):
                try:
                    cb(state)
                except Exception:
                    log.exception("state listener failed")

    # -- commands ------------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._engine is not None:
                return
            try:
                self._start()
            except FerOverlayError as exc:
                log.error("%s", exc)
                self._close_resources()
                self._set_state(AppState.ERROR, str(exc))
                raise

    def _start(self) -> None:
        plan = self.plan
        if self._pipeline is None:
            self._pipeline = self._factory(plan)
        self._pipeline.reset()
        source = open_source(plan.source)
        self._resources.append(source)
        sinks, shared = [], []
        specs = list(plan.sinks)
        for spec in specs:
            try:
                sinks.append(open_sink(spec, *plan.size, fps=plan.fps))
                shared.append(spec.startswith("virtualcam"))
            except SinkError as exc:
                # A missing virtual-camera driver must not stop the lesson: say what to install and
                # show the teacher the preview instead.
                log.error("%s", exc)
                self._error = str(exc)
                if spec.startswith("virtualcam") and not any(s.startswith("preview") for s in specs):
                    log.warning("showing the preview window instead of the virtual camera")
                    specs.append("preview")
        self._resources.extend(sinks)
        self._insight = ClassInsight(InsightOptions(attention_after_s=plan.attention_after_s))
        if plan.log_session:
            self._open_session()
        options = EngineOptions(fps=plan.fps, size=plan.size, view=self._view, anonymous=plan.anonymous,
                                aggregate_shared=plan.aggregate_feed)
        self._alerts = Alerts()
        self._engine = LiveEngine(source, sinks, self._pipeline.process, options, on_result=self._on_result,
                                  shared=shared, alerts=lambda: self._alerts)
        self._engine.start()
        self._set_state(AppState.RUNNING, "")

    def _open_session(self) -> None:
        path = self.plan.db_path or default_db_path()
        with SessionStore.open(path) as store:
            info = store.start_session(self.plan.source, self.plan.anonymous, _settings_record(self.plan))
        self.session_id = info.id
        self._writer = AsyncWriter(path, info.id)
        log.info("recording session %s to %s", info.label, path)

    def _on_result(self, analysis: Analysis, mood: ClassMood) -> None:
        if self._state in (AppState.RUNNING, AppState.NO_FACES):
            self._set_state(AppState.RUNNING if mood.present else AppState.NO_FACES)
        if self._insight is None:
            return
        for record, rows in self._insight.add(analysis, mood):
            if self._writer is not None:
                self._writer.put(record, rows)
        self._alerts = live_alerts(self._insight, analysis.timestamp)

    def stop(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.stop()
                self._view = self._engine.view
                self._engine = None
            if self._insight is not None and self._writer is not None:
                for record, rows in self._insight.flush():
                    self._writer.put(record, rows)
            self._close_resources()
            if self._state is not AppState.ERROR:
                self._set_state(AppState.STOPPED)

    def _close_resources(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
                if self.session_id is not None:
                    with SessionStore.open(self.plan.db_path or default_db_path()) as store:
                        store.end_session(self.session_id)
            except FerOverlayError as exc:
                log.error("session record: %s", exc)
            self._writer = None
        for res in reversed(self._resources):
            try:
                res.close()
            except Exception:
                log.exception("closing %s failed", res)
        self._resources = []

    def shutdown(self) -> None:
        self.stop()
        if self._pipeline is not None:
            self._pipeline.close()

    def set_view(self, view: View) -> None:
        self._view = view
        if self._engine is not None:
            self._engine.set_view(view)

    def toggle_overlay(self) -> View:
        if self._engine is not None:
            self._view = self._engine.toggle_overlay()
        else:
            self._view = self.plan.view if self._view is View.OFF else View.OFF
        return self._view

    def cycle_view(self) -> View:
        self.set_view(self.view.next())
        return self._view

    def set_source(self, spec: str) -> None:
        self._restart_with(replace(self.plan, source=spec))

    def set_sink(self, spec: str) -> None:
        self._restart_with(replace(self.plan, sinks=(spec,) if spec else ()))

    def _restart_with(self, plan: RunPlan) -> None:
        with self._lock:
            running = self._engine is not None
            if running:
                self.stop()
            self.plan = plan
            if running:
                self.start()

    def bookmark(self, label: str | None = None) -> None:
        t = self._session_t()
        if self._writer is not None and t is not None:
            self._writer.bookmark(t, label or time.strftime("bookmark %H:%M:%S"))
            log.info("bookmark at %d s", t)

    def calibrate(self) -> None:
        pipeline = self._pipeline
        if pipeline is not None and pipeline.baselines is not None and self._insight is not None:
            now = self._insight.start or 0.0
            latest = self._engine.history.series() if self._engine else None
            t = float(latest[-1, 0]) if latest is not None and len(latest) else now
            pipeline.baselines.calibrate(t)
            log.info("calibrating baselines for %.0f s", pipeline.baselines.options.calibration_s)

    def _session_t(self) -> int | None:
        if self._insight is None or self._insight.start is None or self._engine is None:
            return None
        series = self._engine.history.series()
        return int(series[-1, 0] - self._insight.start) if len(series) else 0


def live_alerts(insight: ClassInsight, now: float, turn_shown_s: float = 30.0, limit: int = 3) -> Alerts:
    """What the summary card tells the teacher right now: a recent class turn, and who needs attention."""
    class_lines: tuple[str, ...] = ()
    if insight.turns and insight.start is not None:
        ago = now - insight.start - insight.turns[-1]
        if 0 <= ago <= turn_shown_s:
            class_lines = (f"class mood turned {ago:.0f} s ago",)
    students = tuple(f"{a.name or a.student}: {a.reason} for {a.since_s:.0f} s" for a in insight.attention(now)[:limit])
    return Alerts(class_lines, students)


def _settings_record(plan: RunPlan) -> dict[str, Any]:
    return {"view": plan.view.value, "fps": plan.fps, "size": list(plan.size), "anonymous": plan.anonymous,
            "detect_every": plan.detect_every, "aggregate_feed": plan.aggregate_feed}


def _default_pipeline(plan: RunPlan) -> GalleryPipeline:
    options = PipelineOptions(mode=RunningMode.LIVE_STREAM, detect_every=plan.detect_every)
    identity = None if plan.anonymous else IdentityOptions(opt_out=plan.opt_out)
    return GalleryPipeline.create(
        options, providers=plan.providers or None, threads=plan.threads or live_threads(), flip_tta=plan.flip_tta,
        precision=plan.precision,
        identity=identity, baselines=BaselineOptions(calibration_s=plan.calibration_s), detector=plan.detector,
    )

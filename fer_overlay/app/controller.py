"""The one controller behind the tray menu, the hotkeys and `fer-overlay run`.

It owns a session's moving parts: source -> pipeline -> engine -> sinks, the session
record, and the privacy rules: which feed the students see and what each feed may show
(a :class:`~fer_overlay.live.feeds.FeedPolicy` per sink, which the engine applies). Commands
are thread-safe and cheap; starting builds the models once and reuses them for later starts.

Faults during a class are contained and shown, never raised into the live loop: a sink
that cannot start is an error at start; a sink that fails later is retried by the engine;
a session record that fails stops recording (said once, on the feed, the tray and the
log) while the live view and its alerts go on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import config
from ..analysis.baseline import BaselineOptions
from ..analysis.pipeline import GalleryPipeline, PipelineOptions, RunningMode
from ..capture import open_source
from ..errors import FerOverlayError, SinkError, StoreError
from ..inference.models import EmotionModel, Precision
from ..inference.runtime import live_threads
from ..live import status as topics
from ..live.engine import EngineOptions, LiveEngine
from ..live.feeds import Feed, FeedPolicy, Reopen, Sink
from ..live.insight import ClassInsight, InsightOptions
from ..live.status import StatusBoard
from ..people.identity import IdentityOptions
from ..sinks import FileSink, SinkKind, open_sink, sink_spec
from ..store import AsyncWriter, SessionStore, default_db_path
from ..store.records import ClassSecond, StudentSecond
from ..types import Analysis, ClassMood, Status, StatusKind, View
from ..views.compose import Alerts
from . import AppState

log = logging.getLogger(__name__)


# The settings' own defaults, built by the one builder: RunPlan restates none of them.
_D = config.options(config.Settings())


@dataclass(frozen=True)
class RunPlan:
    """Everything one run needs, resolved from settings and CLI flags. The defaults are the
    settings file's (config.py's rules, through :func:`config.options`)."""

    source: str = str(_D.source)
    sinks: tuple[str, ...] = (str(_D.sink),)
    view: View = _D.engine.view
    fps: float = _D.engine.fps
    size: tuple[int, int] = _D.engine.size
    pipeline: PipelineOptions = _D.pipeline  # where and how often to detect and classify
    detector: str = str(_D.models.detector)
    providers: tuple[str, ...] = ()
    threads: int | None = _D.models.threads
    flip_tta: bool = _D.models.flip_tta
    precision: Precision = _D.models.precision
    model: EmotionModel = _D.models.model
    anonymous: bool = _D.anonymous
    aggregate_feed: bool = _D.aggregate_feed  # the shared camera shows class aggregates only
    opt_out: tuple[str, ...] = ()
    log_session: bool = True
    db_path: Path | None = None
    calibration_s: float = _D.baseline.calibration_s
    attention_after_s: float = _D.insight.attention_after_s

    @classmethod
    def from_settings(cls, settings: Any) -> RunPlan:
        """The plan for ``settings``, every value through :func:`config.options` (which names
        the key of any value out of bounds)."""
        o = config.options(settings)
        se = settings.session
        sinks = (str(o.sink),)
        if settings.privacy.record_frames:
            # Frames are kept only when the teacher asks: the shared feed, as an MP4 beside the log.
            stamp = time.strftime("%Y%m%d-%H%M%S")
            sinks += (f"file:{se.data_path / 'recordings' / f'session-{stamp}.mp4'}",)
        return cls(
            source=str(o.source), sinks=sinks, view=o.engine.view, fps=o.engine.fps, size=o.engine.size,
            pipeline=o.pipeline, detector=str(o.models.detector), model=o.models.model,
            providers=tuple(o.models.provider_names or ()), threads=o.models.threads, flip_tta=o.models.flip_tta,
            precision=o.models.precision, anonymous=o.anonymous, aggregate_feed=o.aggregate_feed,
            opt_out=o.identity.opt_out if o.identity is not None else (), log_session=se.log, db_path=se.db_path,
            calibration_s=o.baseline.calibration_s, attention_after_s=o.insight.attention_after_s,
        )


class Controller:
    def __init__(self, plan: RunPlan, pipeline_factory: Callable[[RunPlan], GalleryPipeline] | None = None) -> None:
        self.plan = plan
        self._factory = pipeline_factory or _default_pipeline
        self._pipeline: GalleryPipeline | None = None
        self._engine: LiveEngine | None = None
        self._resources: list[Any] = []
        self._writer: AsyncWriter | None = None
        self._recording_error: str | None = None  # why recording stopped, once it has
        self._insight: ClassInsight | None = None
        self._state = AppState.STOPPED
        self._error = ""
        self._listeners: list[Callable[[AppState], None]] = []
        self._lock = threading.RLock()
        self._view = plan.view
        self._alerts = Alerts()  # replaced whole by the analysis thread, read by the output thread
        self.status = StatusBoard()  # this run's faults; a new board for each start
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
        notes = "; ".join(s.message for s in self.status.snapshot())
        note = f" - {notes}" if notes else ""
        return f"{self.plan.source} -> {', '.join(self.plan.sinks) or 'no sink'}: {rate:.1f} Hz{note}"

    @property
    def recording_error(self) -> str | None:
        """Why the session record stopped during this run, or None while it is fine."""
        return self._recording_error

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
            self._notify()

    def _notify(self) -> None:
        """Tell the listeners (the tray) that the state or the status text changed."""
        for cb in list(self._listeners):
            try:
                cb(self._state)
            except Exception:
                log.exception("state listener failed")

    # -- commands ------------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._engine is not None:
                if self._engine.running:
                    return
                self.stop()  # its output ended by itself (every sink failed, or a file ended): start afresh
            try:
                self._start()
            except FerOverlayError as exc:
                log.error("%s", exc)
                self._close_resources()
                self._set_state(AppState.ERROR, str(exc))
                raise

    def _start(self) -> None:
        plan = self.plan
        self.status = StatusBoard()
        self.status.add_listener(self._notify)
        self._recording_error = None
        # The source and the sinks first: they are quick to open and the likeliest to be wrong,
        # so a bad spec fails before the models load.
        source = open_source(plan.source)
        self._resources.append(source)
        feeds = self._open_feeds(plan)
        if self._pipeline is None:
            self._pipeline = self._factory(plan)
        self._pipeline.reset()
        self._insight = ClassInsight(InsightOptions(attention_after_s=plan.attention_after_s))
        if plan.log_session:
            self._open_session()
        options = EngineOptions(fps=plan.fps, size=plan.size, view=self._view)
        self._alerts = Alerts()
        self._engine = LiveEngine(source, feeds, self._pipeline.process, options, on_result=self._on_result,
                                  alerts=lambda: self._alerts, status=self.status, on_end=self._on_engine_end)
        self._engine.start()
        self._set_state(AppState.RUNNING, "")

    def _open_feeds(self, plan: RunPlan) -> list[Feed]:
        """Every sink of the plan, opened, with its policy; a sink that cannot start is a SinkError.

        The one exception: a virtual camera without a driver must not stop the lesson, so the
        teacher gets the preview instead (and is told what to install), if a preview can open.
        """
        feeds: list[Feed] = []
        camera_error: SinkError | None = None
        for spec in plan.sinks:
            try:
                sink = open_sink(spec, *plan.size, fps=plan.fps)
            except SinkError as exc:
                if sink_spec(spec).kind is not SinkKind.VIRTUALCAM:
                    raise
                camera_error = exc
                continue
            self._resources.append(sink)
            feeds.append(Feed(sink, feed_policy(spec, plan), _reopener(spec, plan)))
        if camera_error is not None:
            feeds += self._preview_instead(plan, camera_error)
        return feeds

    def _preview_instead(self, plan: RunPlan, camera_error: SinkError) -> list[Feed]:
        """The preview standing in for a virtual camera that cannot start (none if the plan has one)."""
        feeds: list[Feed] = []
        if not any(sink_spec(s).kind is SinkKind.PREVIEW for s in plan.sinks):
            try:
                sink = open_sink("preview", *plan.size, fps=plan.fps)
            except SinkError as exc:
                raise SinkError(f"{camera_error}; and the preview window cannot stand in for it: {exc}") from exc
            self._resources.append(sink)
            feeds.append(Feed(sink, feed_policy("preview", plan), _reopener("preview", plan)))
        log.error("%s", camera_error)
        log.warning("showing the preview window instead of the virtual camera")
        self.status.set(topics.SINKS, Status(StatusKind.NOTICE, "no virtual camera: the students see nothing; "
                                             "showing the preview (the log says what to install)"))
        return feeds

    def _open_session(self) -> None:
        path = self.plan.db_path or default_db_path()
        with SessionStore.open(path) as store:
            info = store.start_session(self.plan.source, self.plan.anonymous, _settings_record(self.plan))
        self.session_id = info.id
        self._writer = AsyncWriter(path, info.id)
        log.info("recording session %s to %s", info.label, path)

    def _on_result(self, analysis: Analysis, mood: ClassMood) -> None:
        """On the analysis thread, after each good analysis. Never raises: the live view and
        its alerts must go on whatever happens to the session record."""
        if self._state in (AppState.RUNNING, AppState.NO_FACES):
            self._set_state(AppState.RUNNING if mood.present else AppState.NO_FACES)
        insight = self._insight
        if insight is None:
            return
        seconds = insight.add(analysis, mood)
        self._alerts = live_alerts(insight, analysis.timestamp)
        for record, rows in seconds:
            self._record(record, rows)

    def _record(self, record: ClassSecond, rows: Sequence[StudentSecond]) -> None:
        """Offer one second to the session writer, until recording has failed."""
        writer = self._writer
        if writer is None or self._recording_error is not None:
            return
        try:
            # The writer returns False and sets its error once recording has failed (older
            # writers raised StoreError instead); a plain False is a second dropped while the
            # disk catches up, which the writer reports itself.
            writer.put(record, rows)
        except StoreError as exc:
            self._recording_failed(exc)
            return
        if writer.error is not None:
            self._recording_failed(writer.error)

    def _recording_failed(self, exc: BaseException) -> None:
        """Once per run: stop offering records, and say so on the feed, the tray and the log."""
        if self._recording_error is not None:
            return
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        self._recording_error = reason
        # The writer has logged the whole story (and the advice); this line says what it means now.
        log.warning("recording stopped (%s); the live view and its alerts go on", reason.split(". ")[0])
        self.status.set(topics.RECORDING, Status(StatusKind.RECORDING_STOPPED, f"recording stopped: {reason}"))

    def _on_engine_end(self, reason: str) -> None:
        """On the output thread, when the output ended by itself: say why (the caller stops the engine)."""
        if reason:
            self._set_state(AppState.ERROR, reason)

    def stop(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.stop()
                self._view = self._engine.view
                if self._engine.failure:
                    self._set_state(AppState.ERROR, self._engine.failure)
                self._engine = None
            if self._insight is not None:
                for record, rows in self._insight.flush():
                    self._record(record, rows)
            self._close_resources()
            if self._state is not AppState.ERROR:
                self._set_state(AppState.STOPPED)

    def _close_resources(self) -> None:
        if self._writer is not None:
            # Each step on its own: a recording that failed still gets its end time if the
            # database takes it now (the lock is gone, or the end fits on the disk).
            for step in (self._writer.close, self._end_session):
                try:
                    step()
                except (FerOverlayError, TimeoutError) as exc:
                    if self._recording_error is None:
                        self._recording_error = str(exc)
                        log.error("session record: %s", exc)
                    else:  # the same trouble (a full disk, a held database): said once already
                        log.debug("closing the session record: %s", exc)
            self._writer = None
        for res in reversed(self._resources):
            try:
                res.close()
            except Exception:
                log.exception("closing %s failed", res)
        self._resources = []

    def _end_session(self) -> None:
        if self.session_id is not None:
            with SessionStore.open(self.plan.db_path or default_db_path()) as store:
                store.end_session(self.session_id)

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
        writer = self._writer
        if writer is None or t is None or self._recording_error is not None:
            return
        try:
            writer.bookmark(t, label or time.strftime("bookmark %H:%M:%S"))
        except StoreError as exc:
            self._recording_failed(exc)
            return
        if writer.error is not None:
            self._recording_failed(writer.error)
            return
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


def feed_policy(spec: str, plan: RunPlan) -> FeedPolicy:
    """What a sink may show. The virtual camera is what the students see; the preview and
    the recording are the teacher's own and keep per-student detail (names only where read:
    anonymous mode reads none)."""
    shared = sink_spec(spec).shared
    restricted = shared and (plan.anonymous or plan.aggregate_feed)
    return FeedPolicy(names=not restricted, aggregate_only=shared and plan.aggregate_feed,
                      blur_faces=plan.anonymous)


def _reopener(spec: str, plan: RunPlan) -> Reopen:
    """How the engine reopens a sink that failed: the same spec again, except that a recording
    goes on in a new part file, so what was written before the failure is kept."""

    def reopen(failed: Sink) -> Sink:
        if isinstance(failed, FileSink):
            return failed.successor()
        return open_sink(spec, *plan.size, fps=plan.fps)

    return reopen


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
            "detection": plan.pipeline.detection.value, "detect_every": plan.pipeline.detect_every,
            "model": plan.model.value, "aggregate_feed": plan.aggregate_feed}


def _default_pipeline(plan: RunPlan) -> GalleryPipeline:
    options = replace(plan.pipeline, mode=RunningMode.LIVE_STREAM)
    identity = None if plan.anonymous else IdentityOptions(opt_out=plan.opt_out)
    return GalleryPipeline.create(
        options, providers=plan.providers or None, threads=plan.threads or live_threads(), flip_tta=plan.flip_tta,
        precision=plan.precision, model=plan.model,
        identity=identity, baselines=BaselineOptions(calibration_s=plan.calibration_s), detector=plan.detector,
    )

"""`fer-overlay run`: the live app without the tray (and `fer-overlay` alone: with it)."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import replace
from typing import TextIO

from ..app import AppState
from ..app.controller import Controller, RunPlan
from ..config import Settings
from ..live.engine import LiveEngine
from ..types import View
from .live import apply_retention, closing_on_signals, start_hotkeys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="capture, analyse and publish until stopped (Ctrl+C) or --duration")
    p.add_argument("--source", help="monitor:N | region:X,Y,W,H | window:TITLE | video:PATH | image:PATH")
    p.add_argument("--sink", action="append", help="virtualcam[:BACKEND] | preview | file:PATH | null (repeatable)")
    p.add_argument("--view", choices=[v.value for v in View])
    p.add_argument("--fps", type=float)
    p.add_argument("--size", help="output size WxH, e.g. 1280x720")
    p.add_argument("--duration", type=float, help="stop after S seconds")
    p.add_argument("--anonymous", action="store_true", default=None, help="no names are read, shown or stored")
    p.add_argument("--no-log", action="store_true", help="do not record this session")
    p.add_argument("--hotkeys", action="store_true", help="also listen for the global hotkeys")
    p.set_defaults(func=run)


def overrides(args: argparse.Namespace) -> dict[str, object]:
    pairs = {
        "capture.source": args.source, "output.view": args.view, "output.fps": args.fps,
        "output.size": args.size, "privacy.anonymous": args.anonymous,
        "session.log": False if args.no_log else None,
    }
    return {k: v for k, v in pairs.items() if v is not None}


def plan_from_args(args: argparse.Namespace) -> tuple[Settings, RunPlan]:
    settings = Settings.load(args.config, overrides(args))
    plan = RunPlan.from_settings(settings)
    if args.sink:
        plan = replace(plan, sinks=tuple(args.sink))
    return settings, plan


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """0 when the run ends as asked; 1 when it ended on a failure (every output failed);
    a sink or source that cannot start raises its FerOverlayError (the CLI exits 2)."""
    out = out or sys.stdout
    settings, plan = plan_from_args(args)
    controller = Controller(plan)
    stop = threading.Event()
    with closing_on_signals(stop.set):
        apply_retention(settings)
        hotkeys = start_hotkeys(settings, controller) if args.hotkeys else None
        try:
            controller.start()
            print(f"running: {plan.source} -> {', '.join(plan.sinks)} ({controller.view.value}); Ctrl+C stops",
                  file=out)
            engine = _wait(controller, stop, args.duration)
        finally:
            if hotkeys is not None:
                hotkeys.stop()
            controller.shutdown()
    if engine is not None:
        s = engine.stats
        gap_ms = s.max_gap_s() * 1000
        print(f"stopped: {s.frames_out} frames out, {s.frames_analysed} analysed, max gap {gap_ms:.0f} ms", file=out)
    return 1 if controller.state is AppState.ERROR else 0


def _wait(controller: Controller, stop: threading.Event, duration: float | None) -> LiveEngine | None:
    """Until a signal, Ctrl+C, the duration, or the output ending by itself; returns the engine that ran."""
    engine = controller.engine
    deadline = time.monotonic() + duration if duration else None
    try:
        while not stop.is_set():
            current = controller.engine
            engine = current or engine
            if current is None or not current.running:
                break  # a file source ended, or every output failed
            if deadline is not None and time.monotonic() >= deadline:
                break
            stop.wait(0.1)
    except KeyboardInterrupt:
        pass
    return engine

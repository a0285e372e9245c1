"""`fer-overlay` with no command: the tray app (icon, menu and global hotkeys over one controller)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys

from ..app.controller import Controller, RunPlan
from ..config import Settings, settings_path
from ..errors import FerOverlayError
from .live import apply_retention, closing_on_signals, start_hotkeys

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", action="store_true", help="start analysing at once instead of waiting for the menu")


def tray(args: argparse.Namespace) -> int:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise FerOverlayError("no display: the tray app needs a desktop session. Without one use "
                              "`fer-overlay demo` or `fer-overlay run --source video:PATH --sink file:OUT.mp4`")
    from ..app.tray import TrayApp

    path = args.config or settings_path()
    settings = Settings.load(path if path.exists() else None)
    apply_retention(settings)
    controller = Controller(RunPlan.from_settings(settings))
    app = TrayApp(controller, path, settings.session.data_path)
    hotkeys = start_hotkeys(settings, controller)
    with closing_on_signals(app.stop):  # SIGTERM and SIGHUP close the session like Quit
        if args.start:
            # A failed start shows on the icon; the teacher can fix the source from the menu.
            with contextlib.suppress(FerOverlayError):
                controller.start()
        try:
            app.run()
        except KeyboardInterrupt:
            pass
        finally:
            if hotkeys is not None:
                hotkeys.stop()
            controller.shutdown()
    return 0

"""After-class report: one self-contained HTML page per session (inline SVG, no network)."""

from __future__ import annotations

import logging
from pathlib import Path

from ..outputs import check_output, write_output
from ..store import SessionRef, SessionStore
from .data import ReportData, load
from .page import render_page

log = logging.getLogger(__name__)

__all__ = ["REPORT_SUFFIXES", "ReportData", "check_report_path", "load", "render_report", "write_report"]

REPORT_SUFFIXES = (".html", ".htm")


def render_report(store: SessionStore, session_id: SessionRef) -> str:
    """The report for one session (an id, label or "latest") as an HTML string."""
    return render_page(load(store, session_id))


def check_report_path(out_path: str | Path, *, force: bool = False) -> Path:
    """Check the report can be written at ``out_path`` (.html, a writable folder, nothing but a
    regular file in the way) before any work; raises :class:`~fer_overlay.outputs.OutputError`."""
    return check_output(out_path, force=force, suffixes=REPORT_SUFFIXES)


def write_report(store: SessionStore, session_id: SessionRef, out_path: str | Path, *, force: bool = False) -> Path:
    """Write the report through :mod:`fer_overlay.outputs`: checked before rendering, replaced
    atomically (an open browser tab never sees half a file), only over a regular file (a
    symlink with ``force``), with the user's umask."""
    out = check_report_path(out_path, force=force)
    html = render_report(store, session_id)
    written = write_output(out, html, force=force)
    log.info("report for session %s written to %s", session_id, written)
    return written

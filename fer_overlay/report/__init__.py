"""After-class report: one self-contained HTML page per session (inline SVG, no network)."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from ..errors import StoreError
from ..store import SessionRef, SessionStore
from .data import ReportData, load
from .page import render_page

log = logging.getLogger(__name__)

__all__ = ["ReportData", "load", "render_report", "write_report"]


def render_report(store: SessionStore, session_id: SessionRef) -> str:
    """The report for one session (an id, label or "latest") as an HTML string."""
    return render_page(load(store, session_id))


def write_report(store: SessionStore, session_id: SessionRef, out_path: str | Path) -> Path:
    """Write the report; replaced atomically so an open browser tab never sees half a file."""
    html = render_report(store, session_id)
    out = Path(out_path).expanduser()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=out.name, suffix=".tmp", dir=out.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(html)
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise StoreError(f"Cannot write the report to {out}: {exc}") from exc
    log.info("report for session %s written to %s", session_id, out)
    return out

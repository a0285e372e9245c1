"""Frame sources: the screen (monitor, region, window) and files (video, image).

``open_source("monitor:1")`` builds one from a spec; every source is a context manager
whose ``read()`` returns a :class:`~fer_overlay.types.Frame` (BGR uint8) or None at the
end of a file. See :mod:`.screen` for coordinates and HiDPI, :mod:`.retry` for riding
out a monitor or window that goes away.
"""

from __future__ import annotations

from ..errors import SourceError
from .base import FrameSource, SourceKind, check_display, to_bgr8
from .files import ImageSource, VideoSource
from .retry import Backoff, RetryingSource, WhileLost
from .screen import MonitorInfo, MonitorSource, Rect, RegionSource, list_monitors
from .window import WindowInfo, WindowSource

__all__ = [
    "SPEC_HELP",
    "Backoff",
    "FrameSource",
    "ImageSource",
    "MonitorInfo",
    "MonitorSource",
    "Rect",
    "RegionSource",
    "RetryingSource",
    "SourceKind",
    "VideoSource",
    "WhileLost",
    "WindowInfo",
    "WindowSource",
    "check_display",
    "list_monitors",
    "open_source",
    "parse_source_spec",
    "to_bgr8",
]

SPEC_HELP = "monitor:N | region:X,Y,W,H | window:TITLE | video:PATH | image:PATH"


def parse_source_spec(spec: str) -> tuple[SourceKind, str]:
    """("monitor:2") -> (SourceKind.MONITOR, "2"); only the first ':' splits, so paths may contain colons."""
    kind_text, _, arg = spec.strip().partition(":")
    try:
        kind = SourceKind(kind_text.strip().lower())
    except ValueError:
        raise SourceError(f"unknown source {spec!r}: use one of {SPEC_HELP}") from None
    return kind, arg


def _ints(spec: str, arg: str, count: int, what: str) -> list[int]:
    parts = [p.strip() for p in arg.split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != count:
        raise SourceError(f"bad source {spec!r}: expected {what}")
    return values


def open_source(spec: str, *, loop: bool = False, realtime: bool = False, refresh_s: float = 1.0) -> FrameSource:
    """A source from a spec: ``monitor:N | region:X,Y,W,H | window:TITLE | video:PATH | image:PATH``.

    ``monitor`` alone is monitor 1. ``loop``/``realtime`` apply to videos, ``refresh_s``
    (how often the rectangle is looked up again) to screen sources.
    """
    kind, arg = parse_source_spec(spec)
    if kind is SourceKind.MONITOR:
        (index,) = _ints(spec, arg or "1", 1, "monitor:N with N = 1, 2, ... (0 = all monitors)")
        if index < 0:
            raise SourceError(f"bad source {spec!r}: monitor numbers are 1, 2, ... (0 = all monitors)")
        return MonitorSource(index, refresh_s=refresh_s)
    if kind is SourceKind.REGION:
        x, y, w, h = _ints(spec, arg, 4, "region:X,Y,W,H in screen pixels, e.g. region:0,0,1280,720")
        if w <= 0 or h <= 0:
            raise SourceError(f"bad source {spec!r}: width and height must be > 0, got {w}x{h}")
        return RegionSource(x, y, w, h, refresh_s=refresh_s)
    if kind is SourceKind.WINDOW:
        if not arg.strip():
            raise SourceError(f"bad source {spec!r}: expected window:TITLE, e.g. window:Zoom Meeting")
        return WindowSource(arg.strip(), refresh_s=refresh_s)
    if not arg.strip():
        raise SourceError(f"bad source {spec!r}: expected {kind.value}:PATH")
    if kind is SourceKind.VIDEO:
        return VideoSource(arg.strip(), loop=loop, realtime=realtime)
    return ImageSource(arg.strip())

"""Frame sources: the screen (monitor, region, window) and files (video, image).

``open_source("monitor:1")`` builds one from a spec; every source is a context manager
whose ``read()`` returns a :class:`~fer_overlay.types.Frame` (BGR uint8) or None at the
end of a file. See :mod:`.screen` for coordinates and HiDPI, :mod:`.retry` for riding
out a monitor or window that goes away.
"""

from __future__ import annotations

from ..errors import SourceError
from ..specs import SOURCE_FORMS, SourceKind, SourceSpec, SpecError, parse_source
from .base import FrameSource, check_display, to_bgr8
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
    "SourceSpec",
    "VideoSource",
    "WhileLost",
    "WindowInfo",
    "WindowSource",
    "check_display",
    "list_monitors",
    "open_source",
    "parse_source_spec",
    "source_spec",
    "to_bgr8",
]

SPEC_HELP = SOURCE_FORMS


def source_spec(spec: str | SourceSpec) -> SourceSpec:
    """The typed spec (the grammar is in :mod:`fer_overlay.specs`); a bad one is a SourceError."""
    if isinstance(spec, SourceSpec):
        return spec
    try:
        return parse_source(spec)
    except SpecError as exc:
        raise SourceError(str(exc)) from None


def parse_source_spec(spec: str) -> tuple[SourceKind, str]:
    """("monitor:2") -> (SourceKind.MONITOR, "2"): the kind and the canonical text after the colon."""
    parsed = source_spec(spec)
    return parsed.kind, parsed.arg


def open_source(
    spec: str | SourceSpec, *, loop: bool = False, realtime: bool = False, refresh_s: float = 1.0
) -> FrameSource:
    """A source from a spec: ``monitor:N | region:X,Y,W,H | window:TITLE | video:PATH | image:PATH | camera:N``.

    ``monitor`` alone is monitor 1. ``loop``/``realtime`` apply to videos, ``refresh_s``
    (how often the rectangle is looked up again) to screen sources.
    """
    parsed = source_spec(spec)
    if parsed.kind is SourceKind.MONITOR:
        return MonitorSource(parsed.monitor, refresh_s=refresh_s)
    if parsed.kind is SourceKind.REGION:
        return RegionSource(*parsed.region, refresh_s=refresh_s)
    if parsed.kind is SourceKind.WINDOW:
        return WindowSource(parsed.target, refresh_s=refresh_s)
    if parsed.kind is SourceKind.VIDEO:
        return VideoSource(parsed.target, loop=loop, realtime=realtime)
    if parsed.kind is SourceKind.CAMERA:
        from .camera import CameraSource

        return CameraSource(parsed.camera)
    return ImageSource(parsed.target)

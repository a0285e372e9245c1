"""Frame sinks: where the annotated feed goes (virtual camera, preview window, MP4 file, nowhere).

``open_sink("virtualcam", 1280, 720, 30)`` builds one from a spec. Every sink is a
context manager configured with the size it expects; ``send()`` takes BGR uint8
H x W x 3 images of exactly that size and never mirrors them.
"""

from __future__ import annotations

from ..errors import SinkError
from ..specs import SINK_FORMS, SinkKind, SinkSpec, SpecError, parse_sink
from .base import FrameSink, SinkBase
from .file import FileSink, NullSink
from .preview import PreviewSink
from .virtualcam import VIRTUALCAM_HINTS, VirtualCameraSink, virtualcam_hint

__all__ = [
    "SPEC_HELP",
    "VIRTUALCAM_HINTS",
    "FileSink",
    "FrameSink",
    "NullSink",
    "PreviewSink",
    "SinkBase",
    "SinkKind",
    "SinkSpec",
    "VirtualCameraSink",
    "open_sink",
    "parse_sink_spec",
    "sink_spec",
    "virtualcam_hint",
]

SPEC_HELP = SINK_FORMS


def sink_spec(spec: str | SinkSpec) -> SinkSpec:
    """The typed spec (the grammar is in :mod:`fer_overlay.specs`); a bad one is a SinkError."""
    if isinstance(spec, SinkSpec):
        return spec
    try:
        return parse_sink(spec)
    except SpecError as exc:
        raise SinkError(str(exc)) from None


def parse_sink_spec(spec: str) -> tuple[SinkKind, str]:
    """("File:/tmp/a:b.mp4") -> (SinkKind.FILE, "/tmp/a:b.mp4")."""
    parsed = sink_spec(spec)
    return parsed.kind, parsed.arg


def open_sink(spec: str | SinkSpec, width: int, height: int, fps: float) -> FrameSink:
    """A sink from a spec: ``virtualcam[:BACKEND] | preview[:TITLE] | file:PATH | null``."""
    parsed = sink_spec(spec)
    if parsed.kind is SinkKind.VIRTUALCAM:
        return VirtualCameraSink(width, height, fps, backend=parsed.backend)
    if parsed.kind is SinkKind.PREVIEW:
        return PreviewSink(parsed.title, width, height, fps)
    if parsed.kind is SinkKind.FILE:
        return FileSink(parsed.path, width, height, fps)
    return NullSink(width, height, fps)

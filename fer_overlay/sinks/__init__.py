"""Frame sinks: where the annotated feed goes (virtual camera, preview window, MP4 file, nowhere).

``open_sink("virtualcam", 1280, 720, 30)`` builds one from a spec. Every sink is a
context manager configured with the size it expects; ``send()`` takes BGR uint8
H x W x 3 images of exactly that size and never mirrors them.
"""

from __future__ import annotations

from ..errors import SinkError
from .base import FrameSink, SinkBase, SinkKind
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
    "VirtualCameraSink",
    "open_sink",
    "parse_sink_spec",
    "virtualcam_hint",
]

SPEC_HELP = "virtualcam[:BACKEND] | preview[:TITLE] | file:PATH | null"


def parse_sink_spec(spec: str) -> tuple[SinkKind, str]:
    kind_text, _, arg = spec.strip().partition(":")
    try:
        return SinkKind(kind_text.strip().lower()), arg.strip()
    except ValueError:
        raise SinkError(f"unknown sink {spec!r}: use one of {SPEC_HELP}") from None


def open_sink(spec: str, width: int, height: int, fps: float) -> FrameSink:
    """A sink from a spec: ``virtualcam[:BACKEND] | preview[:TITLE] | file:PATH | null``."""
    kind, arg = parse_sink_spec(spec)
    if kind is SinkKind.VIRTUALCAM:
        return VirtualCameraSink(width, height, fps, backend=arg or None)
    if kind is SinkKind.PREVIEW:
        return PreviewSink(arg or "fer_overlay preview", width, height, fps)
    if kind is SinkKind.FILE:
        if not arg:
            raise SinkError(f"bad sink {spec!r}: expected file:PATH, e.g. file:class.mp4")
        return FileSink(arg, width, height, fps)
    if arg:
        raise SinkError(f"bad sink {spec!r}: 'null' takes no argument")
    return NullSink(width, height, fps)

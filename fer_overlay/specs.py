"""The grammars of the short texts a teacher types: sources, sinks, detectors, providers, sizes.

They are parsed here and nowhere else: by settings validation (config.py), the command
line (cli.py) and the openers (``capture.open_source``, ``sinks.open_sink``,
``analysis.detect.make_detector``, ``inference.runtime``), so a spec one of them accepts,
all of them accept, and it means the same thing to each.

    source    monitor[:N] | region:X,Y,W,H | window:TITLE | video:PATH | image:PATH
    sink      virtualcam[:BACKEND] | preview[:TITLE] | file:PATH | null
    detector  centerface | scrfd:PATH
    provider  an onnxruntime name ending in ExecutionProvider (the known ones in any case)
    size      WIDTHxHEIGHT, even numbers from 64x64 up to 3840x2160

Kind names are case-insensitive; only the first ':' splits, so paths and window titles
may contain colons; spaces around the kind and the argument are dropped. ``monitor``
alone is monitor 1 (0 is all monitors together). A colon with nothing after it is an
error (``preview:``): it is almost always a value that went missing.

Each parser returns a frozen spec whose ``str()`` is the canonical text (the kind in
lower case), and parsing that text gives the same spec back. Bad text raises
:class:`SpecError`, whose message names the spec and lists the valid forms.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TypeVar

from .errors import FerOverlayError

# The largest frame we render or generate: 4K UHD. Above it a typo (100000x100000) would
# allocate tens of GiB before failing, and no meeting app takes more.
MIN_SIDE = 64
MAX_SIZE = (3840, 2160)
# Output frame rates: meeting apps take at most 60 fps from a camera.
FPS_RANGE = (1.0, 60.0)
E = TypeVar("E", bound=Enum)


class SpecError(FerOverlayError, ValueError):
    """Text that does not fit its grammar. ``str()`` is the whole one-line message, naming
    the spec and the valid forms; ``problem`` is what is wrong alone, for messages that
    show the spec and the forms already (the settings' "KEY must be ..., got ...")."""

    def __init__(self, what: str, spec: str, problem: str, forms: str, *, unknown_kind: str | None = None) -> None:
        self.spec, self.problem, self.forms = spec, problem, forms
        if unknown_kind is not None:
            head = f"unknown {what} {spec!r}{unknown_kind}"
        else:
            head = f"bad {what} {spec!r}: {problem}"
        super().__init__(f"{head}; use {forms}")


def _nearest(word: str, choices: list[str]) -> str:
    """ " (did you mean X?)" for the closest choice, or ""."""
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _split(text: str) -> tuple[str, bool, str]:
    kind, colon, arg = text.strip().partition(":")
    return kind.strip().lower(), bool(colon), arg.strip()


def _kind(enum: type[E], kind: str, what: str, spec: str, forms: str) -> E:
    try:
        return enum(kind)
    except ValueError:
        hint = _nearest(kind, [str(m.value) for m in enum])
        raise SpecError(what, spec, f"unknown kind {kind!r}{hint}", forms, unknown_kind=hint) from None


# -- sources ------------------------------------------------------------------------------

SOURCE_FORMS = "monitor:N | region:X,Y,W,H | window:TITLE | video:PATH | image:PATH | camera:N"


class SourceKind(str, Enum):
    """The prefix of a source spec (``monitor:1``, ``window:Zoom``...)."""

    MONITOR = "monitor"
    REGION = "region"
    WINDOW = "window"
    VIDEO = "video"
    IMAGE = "image"
    CAMERA = "camera"  # a webcam or room camera: one picture of the class, no tiles


@dataclass(frozen=True)
class SourceSpec:
    """Where frames come from. Only the fields of its kind are meaningful."""

    kind: SourceKind
    monitor: int = 1  # MONITOR: 1 = first monitor, 0 = all monitors together (mss numbering)
    camera: int = 0  # CAMERA: the device index, 0 = the first camera
    region: tuple[int, int, int, int] = (0, 0, 0, 0)  # REGION: x, y, width, height in screen pixels
    target: str = ""  # WINDOW: the title to look for; VIDEO, IMAGE: the file path

    @property
    def path(self) -> Path:
        return Path(self.target).expanduser()

    @property
    def arg(self) -> str:
        """The canonical text after the colon."""
        if self.kind is SourceKind.MONITOR:
            return str(self.monitor)
        if self.kind is SourceKind.CAMERA:
            return str(self.camera)
        if self.kind is SourceKind.REGION:
            return ",".join(map(str, self.region))
        return self.target

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.arg}"


def parse_source(text: str) -> SourceSpec:
    """``"Monitor:2"`` -> ``SourceSpec(MONITOR, monitor=2)``; raises :class:`SpecError`."""
    kind_text, colon, arg = _split(text)

    def bad(problem: str) -> SpecError:
        return SpecError("source", text, problem, SOURCE_FORMS)

    kind = _kind(SourceKind, kind_text, "source", text, SOURCE_FORMS)
    if colon and not arg:
        raise bad(f"{kind.value} needs {_SOURCE_ARG[kind]} after the colon")
    if kind is SourceKind.MONITOR:
        if not arg:
            return SourceSpec(kind)
        if not arg.isdigit():
            raise bad("monitor needs a number, like monitor:1 (0 = all monitors)")
        return SourceSpec(kind, monitor=int(arg))
    if kind is SourceKind.CAMERA:
        if not arg:
            return SourceSpec(kind)
        if not arg.isdigit() or int(arg) > CAMERA_MAX_INDEX:
            raise bad(f"camera needs a device number 0-{CAMERA_MAX_INDEX}, like camera:0 (the first camera)")
        return SourceSpec(kind, camera=int(arg))
    if kind is SourceKind.REGION:
        try:
            x, y, w, h = (int(p.strip()) for p in arg.split(","))
        except ValueError:
            raise bad("region needs four whole numbers, like region:0,0,1280,720") from None
        if w <= 0 or h <= 0:
            raise bad(f"region width and height must be more than 0, got {w}x{h}")
        return SourceSpec(kind, region=(x, y, w, h))
    if not arg:
        raise bad(f"{kind.value} needs {_SOURCE_ARG[kind]}, like {kind.value}:{_SOURCE_EXAMPLE[kind]}")
    return SourceSpec(kind, target=arg)


_SOURCE_ARG = {SourceKind.MONITOR: "a number", SourceKind.REGION: "X,Y,W,H", SourceKind.WINDOW: "a title",
               SourceKind.VIDEO: "a path", SourceKind.IMAGE: "a path", SourceKind.CAMERA: "a number"}
CAMERA_MAX_INDEX = 63  # /dev/video0..63; beyond that an index is a typo, not a device
_SOURCE_EXAMPLE = {SourceKind.WINDOW: "Zoom Meeting", SourceKind.VIDEO: "class.mp4", SourceKind.IMAGE: "gallery.png"}


# -- sinks --------------------------------------------------------------------------------

SINK_FORMS = "virtualcam[:BACKEND] | preview[:TITLE] | file:PATH | null"
PREVIEW_TITLE = "fer_overlay preview"


class SinkKind(str, Enum):
    VIRTUALCAM = "virtualcam"
    PREVIEW = "preview"
    FILE = "file"
    NULL = "null"


@dataclass(frozen=True)
class SinkSpec:
    """Where the annotated feed goes. ``arg`` is the backend (VIRTUALCAM, "" = pyvirtualcam's
    default), the window title (PREVIEW, "" = the default) or the path (FILE)."""

    kind: SinkKind
    arg: str = ""

    @property
    def shared(self) -> bool:
        """Seen by the students (the meeting app's camera), not only by the teacher."""
        return self.kind is SinkKind.VIRTUALCAM

    @property
    def backend(self) -> str | None:
        return (self.arg or None) if self.kind is SinkKind.VIRTUALCAM else None

    @property
    def title(self) -> str:
        return self.arg or PREVIEW_TITLE

    @property
    def path(self) -> Path:
        return Path(self.arg).expanduser()

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.arg}" if self.arg else self.kind.value


def parse_sink(text: str) -> SinkSpec:
    """``"Preview:Teacher"`` -> ``SinkSpec(PREVIEW, "Teacher")``; raises :class:`SpecError`."""
    kind_text, colon, arg = _split(text)

    def bad(problem: str) -> SpecError:
        return SpecError("sink", text, problem, SINK_FORMS)

    kind = _kind(SinkKind, kind_text, "sink", text, SINK_FORMS)
    if kind is SinkKind.NULL and colon:
        raise bad("null takes nothing after it")
    if kind is SinkKind.FILE and not arg:
        raise bad("file needs a path after the colon, like file:class.mp4")
    if colon and not arg:
        what = "a backend name" if kind is SinkKind.VIRTUALCAM else "a window title"
        raise bad(f"{kind.value}: needs {what} after the colon, or no colon")
    return SinkSpec(kind, arg)


# -- detectors ----------------------------------------------------------------------------

DETECTOR_FORMS = "centerface (bundled) | scrfd:PATH (an insightface pack's det_*.onnx on disk)"


class DetectorKind(str, Enum):
    CENTERFACE = "centerface"
    SCRFD = "scrfd"


@dataclass(frozen=True)
class DetectorSpec:
    kind: DetectorKind = DetectorKind.CENTERFACE
    target: str = ""  # SCRFD: the model file

    @property
    def path(self) -> Path:
        return Path(self.target).expanduser()

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.target}" if self.target else self.kind.value


def parse_detector(text: str) -> DetectorSpec:
    kind_text, colon, arg = _split(text)
    kind = _kind(DetectorKind, kind_text, "detector", text, DETECTOR_FORMS)
    if kind is DetectorKind.CENTERFACE and colon:
        raise SpecError("detector", text, "centerface takes nothing after it", DETECTOR_FORMS)
    if kind is DetectorKind.SCRFD and not arg:
        raise SpecError("detector", text, "scrfd needs the path of its .onnx file, like scrfd:det_10g.onnx",
                        DETECTOR_FORMS)
    return DetectorSpec(kind, arg)


# -- execution providers ------------------------------------------------------------------

PROVIDER_FORMS = "an onnxruntime provider name such as CUDAExecutionProvider or CPUExecutionProvider"
PROVIDERS = ("CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider", "DmlExecutionProvider",
             "CoreMLExecutionProvider", "OpenVINOExecutionProvider", "ROCMExecutionProvider",
             "MIGraphXExecutionProvider", "QNNExecutionProvider", "WebGpuExecutionProvider", "AzureExecutionProvider")
_SUFFIX = "executionprovider"


@dataclass(frozen=True)
class ProviderSpec:
    """An onnxruntime execution provider, by its exact onnxruntime name."""

    name: str

    @property
    def known(self) -> bool:
        return self.name in PROVIDERS

    def __str__(self) -> str:
        return self.name


def parse_provider(text: str) -> ProviderSpec:
    """Known names in any case get onnxruntime's spelling; other names ending in
    ExecutionProvider (a build we do not know) are kept as typed. "cuda" is an error that
    suggests CUDAExecutionProvider: onnxruntime would silently ignore it."""
    name = text.strip()
    by_lower = {p.lower(): p for p in PROVIDERS}
    if name.lower() in by_lower:
        return ProviderSpec(by_lower[name.lower()])
    if name.lower().endswith(_SUFFIX) and len(name) > len(_SUFFIX):
        return ProviderSpec(name)
    guess = next((p for p in PROVIDERS if name and p.lower().startswith(name.lower())), None)
    hint = f" (did you mean {guess}?)" if guess else _nearest(name, list(PROVIDERS))
    raise SpecError("provider", text, "not a provider name" + hint, PROVIDER_FORMS)


# -- sizes --------------------------------------------------------------------------------

SIZE_FORMS = (f"WIDTHxHEIGHT with even numbers from {MIN_SIDE}x{MIN_SIDE} to {MAX_SIZE[0]}x{MAX_SIZE[1]}, "
              "like 1280x720")


@dataclass(frozen=True)
class Size:
    width: int
    height: int

    def __iter__(self):  # unpacks as (width, height), the order cv2 and the sinks take
        return iter((self.width, self.height))

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


def parse_size(text: str) -> Size:
    w, sep, h = text.strip().lower().partition("x")
    w, h = w.strip(), h.strip()
    if not (sep and w.isdigit() and h.isdigit()):
        raise SpecError("size", text, "not WIDTHxHEIGHT", SIZE_FORMS)
    width, height = int(w), int(h)
    if min(width, height) < MIN_SIDE:
        raise SpecError("size", text, f"each side must be at least {MIN_SIDE}", SIZE_FORMS)
    if width > MAX_SIZE[0] or height > MAX_SIZE[1]:
        raise SpecError("size", text, f"larger than {MAX_SIZE[0]}x{MAX_SIZE[1]}", SIZE_FORMS)
    if width % 2 or height % 2:
        raise SpecError("size", text, "video needs even numbers", SIZE_FORMS)
    return Size(width, height)


# -- the command line ---------------------------------------------------------------------


def argument(parse: Callable[[str], object]) -> Callable[[str], str]:
    """An argparse ``type`` for a spec flag (``type=argument(parse_sink)``): the canonical text,
    or argparse's one-line "argument --sink: bad sink ..." error."""

    def convert(text: str) -> str:
        try:
            return str(parse(text))
        except SpecError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__.removeprefix("parse_")
    return convert

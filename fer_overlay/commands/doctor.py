"""`fer-overlay doctor`: what is installed and what really runs, one line per check."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TextIO

import numpy as np

from .. import __version__, specs
from ..errors import FerOverlayError
from ..inference import runtime


class Status(str, Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check the install: onnxruntime build, providers, models, screen, camera")
    p.add_argument("--provider", action="append", dest="providers", type=specs.argument(specs.parse_provider),
                   help="try these execution providers (repeatable, best first)")
    p.set_defaults(func=run)


def check_onnxruntime_build() -> Check:
    builds = runtime.installed_builds()
    if not builds:
        return Check("onnxruntime build", Status.FAIL, "none installed: run python scripts/install.py")
    if len(builds) > 1:
        return Check(
            "onnxruntime build", Status.FAIL,
            f"{' + '.join(builds)} share one folder and overwrite each other; "
            "run python scripts/install.py (it removes the others and keeps the right one)",
        )
    return Check("onnxruntime build", Status.OK, builds[0])


def check_providers() -> Check:
    try:
        available = runtime.available_providers()
    except FerOverlayError as exc:
        return Check("execution providers", Status.FAIL, str(exc))
    return Check("execution providers", Status.OK, "available: " + ", ".join(available))


def check_model(name: str, factory: Callable[[], object]) -> Check:
    try:
        t0 = time.perf_counter()
        model = factory()
        ms = (time.perf_counter() - t0) * 1000
    except FerOverlayError as exc:
        return Check(name, Status.FAIL, str(exc))
    info = getattr(model, "info", None)
    active = info.provider if info else "?"
    requested = info.requested[0] if info else "?"
    status = Status.OK if active == requested else Status.WARN
    note = "" if status is Status.OK else f" (asked for {requested}: its libraries are missing or unusable)"
    file = f"{info.path.name} " if info and info.path.is_file() else ""  # not for models loaded from bytes
    # The emotion classifier says which of its files it chose and why (int8 only where it is right).
    choice = getattr(model, "precision_choice", None)
    why = f"; {choice.precision.value} — {choice.reason}" if choice else ""
    return Check(name, status, f"{file}runs on {active}{note}, loaded in {ms:.0f} ms{why}")


def check_cpu() -> Check:
    from ..inference.cpu import probe

    return Check("CPU", Status.OK, probe().describe())


def check_display(seconds: float = 0.5) -> Check:
    # The one monitor listing (capture/screen.py), the same the sources and the tray use.
    from ..capture.screen import MonitorSource, list_monitors

    try:
        monitors = [m for m in list_monitors() if m.index > 0]
        if not monitors:
            return Check("screen capture", Status.FAIL, "no monitor found")
        with MonitorSource(1) as source:
            t0, n = time.perf_counter(), 0
            while time.perf_counter() - t0 < seconds:
                source.read()
                n += 1
            fps = n / (time.perf_counter() - t0)
    except FerOverlayError as exc:
        return Check("screen capture", Status.WARN, f"{exc}; headless use: fer-overlay demo")
    sizes = ", ".join(m.describe() for m in monitors)
    return Check("screen capture", Status.OK, f"{sizes}; {fps:.0f} fps captured from monitor 1")


def test_pattern(width: int, height: int) -> np.ndarray:
    """Colour bars with a caption and a left-pointing arrow: in the meeting app's preview the
    caption reads left to right and the arrow points left when the feed is not mirrored."""
    import cv2

    bars = [(255, 255, 255), (0, 255, 255), (255, 255, 0), (0, 255, 0), (255, 0, 255), (0, 0, 255), (255, 0, 0)]
    image = np.zeros((height, width, 3), np.uint8)
    for i, colour in enumerate(bars):
        image[: height * 2 // 3, i * width // len(bars) : (i + 1) * width // len(bars)] = colour
    scale = height / 720
    cv2.putText(image, "fer_overlay test pattern", (int(40 * scale), int(height * 0.8)), cv2.FONT_HERSHEY_SIMPLEX,
                1.6 * scale, (255, 255, 255), max(1, round(3 * scale)), cv2.LINE_AA)
    y = int(height * 0.92)
    cv2.arrowedLine(image, (int(width * 0.5), y), (int(width * 0.1), y), (255, 255, 255), max(1, round(4 * scale)),
                    tipLength=0.08)
    return image


def check_virtual_camera(seconds: float = 1.0, size: tuple[int, int] = (1280, 720), fps: float = 30.0) -> Check:
    """Open the default virtual camera and send it a test pattern for `seconds`."""
    from pyvirtualcam.camera import BACKENDS

    from ..sinks import VirtualCameraSink

    names = ", ".join(sorted(BACKENDS)) or "none"
    try:
        with VirtualCameraSink(*size, fps, pace=True) as cam:
            pattern = test_pattern(*size)
            for _ in range(max(1, round(seconds * fps))):
                cam.send(pattern)
            device, backend = cam.device, cam.backend
    except FerOverlayError as exc:
        return Check("virtual camera", Status.WARN, f"backends known: {names}; {exc}")
    return Check("virtual camera", Status.OK,
                 f"{device} ({backend} backend): sent a test pattern for {seconds:g} s; pick it in the meeting app")


def check_cameras() -> Check:
    # For `--source camera:N` (a webcam or a room camera in a hybrid lesson).
    from ..capture.camera import list_cameras

    found = list_cameras()
    if not found:
        return Check("cameras", Status.OK, "none found (not needed to capture a meeting; camera:N uses one)")
    return Check("cameras", Status.OK, ", ".join(f"camera:{i} ({w}x{h})" for i, (w, h) in found))


def check_hotkeys() -> Check:
    from ..app.hotkeys import hotkey_backend_check

    line = hotkey_backend_check()
    ok = line.startswith("ok")
    return Check("global hotkeys", Status.OK if ok else Status.WARN, line.partition(": ")[2] or line)


def collect(providers: list[str] | None = None, model: str = "fer2013", precision: str = "auto") -> list[Check]:
    """Every check; ``model`` and ``precision`` are the settings' (analysis.model, .precision)."""
    from ..analysis.classify import EmotionClassifier
    from ..analysis.detect import CenterFace

    return [
        Check("fer-overlay", Status.OK, f"{__version__} on Python {platform.python_version()} ({platform.platform()})"),
        check_onnxruntime_build(),
        check_providers(),
        check_cpu(),
        check_model("face detector (CenterFace)", lambda: CenterFace(providers=providers)),
        check_model(f"emotion model ({model})",
                    lambda: EmotionClassifier(providers=providers, model=model, precision=precision)),
        check_display(),
        check_virtual_camera(),
        check_cameras(),
        check_hotkeys(),
    ]


def _configured_models(path: Path | None) -> tuple[str, str, Check | None]:
    """The emotion network and precision the settings ask for; a settings file that cannot be
    read is a failed check of its own, and the rest is checked with the defaults."""
    from ..config import Settings

    try:
        an = Settings.load(path).analysis
    except FerOverlayError as exc:
        return "fer2013", "auto", Check("settings", Status.FAIL, str(exc))
    return str(getattr(an.model, "value", an.model)), str(getattr(an.precision, "value", an.precision)), None


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    model, precision, problem = _configured_models(getattr(args, "config", None))
    checks = collect(args.providers, model, precision) + ([problem] if problem else [])
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"[{c.status.value:>4}] {c.name:<{width}}  {c.detail}", file=out)
    return 1 if any(c.status is Status.FAIL for c in checks) else 0

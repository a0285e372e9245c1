"""`fer-overlay doctor`: what is installed and what really runs, one line per check."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TextIO

from .. import __version__, runtime
from ..errors import FerOverlayError


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
    p.add_argument("--provider", action="append", dest="providers", help="try these execution providers")
    p.set_defaults(func=run)


def check_onnxruntime_build() -> Check:
    builds = runtime.installed_builds()
    if not builds:
        return Check("onnxruntime build", Status.FAIL, "none installed: run python scripts/install.py")
    if len(builds) > 1:
        return Check(
            "onnxruntime build", Status.FAIL,
            f"{' + '.join(builds)} share one folder and overwrite each other; "
            "run python scripts/install.py --repair to keep exactly one",
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
    return Check(name, status, f"runs on {active}{note}, loaded in {ms:.0f} ms")


def check_display() -> Check:
    try:
        import mss
    except ImportError:
        return Check("screen capture", Status.FAIL, "mss is not installed")
    try:
        with mss.mss() as sct:
            monitors = sct.monitors[1:]
            if not monitors:
                return Check("screen capture", Status.FAIL, "no monitor found")
            t0 = time.perf_counter()
            n = 0
            while time.perf_counter() - t0 < 0.5:
                sct.grab(monitors[0])
                n += 1
            fps = n / (time.perf_counter() - t0)
    except Exception as exc:  # mss raises ScreenShotError, XError, OSError depending on platform
        return Check("screen capture", Status.WARN, f"no display to capture ({exc}); headless use: fer-overlay demo")
    sizes = ", ".join(f"{m['width']}x{m['height']}" for m in monitors)
    return Check("screen capture", Status.OK, f"{len(monitors)} monitor(s) [{sizes}], {fps:.0f} fps on monitor 1")


def collect(providers: list[str] | None = None) -> list[Check]:
    from ..classify import EmotionClassifier
    from ..detect import CenterFace

    checks = [
        Check("fer-overlay", Status.OK, f"{__version__} on Python {platform.python_version()} ({platform.platform()})"),
        check_onnxruntime_build(),
        check_providers(),
        check_model("face detector (CenterFace)", lambda: CenterFace(providers=providers)),
        check_model("emotion model", lambda: EmotionClassifier(providers=providers)),
        check_display(),
    ]
    for extra in EXTRA_CHECKS:
        checks.append(extra())
    return checks


# Other subsystems (virtual camera, hotkeys) append their checks here.
EXTRA_CHECKS: list[Callable[[], Check]] = []


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    checks = collect(args.providers)
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"[{c.status.value:>4}] {c.name:<{width}}  {c.detail}", file=out)
    return 1 if any(c.status is Status.FAIL for c in checks) else 0

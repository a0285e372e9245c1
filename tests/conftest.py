"""Shared fixtures, and what a test does when something it needs is missing.

Data under ../shared/data, PyTorch, and the Debian tools .ci/run installs (Xvfb, xdotool,
openbox, trayer, xrandr, chromium, ffmpeg, qemu-user) are hard requirements of the tests that use
them: on a developer's machine such a test skips when one is absent, under ``CI=1`` (set by
.ci/run, which installs them all) it fails, so a broken install cannot pass as skipped
tests. Use :func:`missing`, :func:`require_module` and :func:`require_program` for them;
``pytest.skip`` stays for what is legitimately not there (another platform, no root).
"""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FER_OVERLAY_SHARED", REPO.parent / "shared")) / "data"
CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(requirement: str) -> NoReturn:
    """`requirement` (what is absent, and how to get it) is not here: skip, or fail under CI=1.

    Works inside a test or fixture and at module level."""
    if CI:
        pytest.fail(f"{requirement} - CI=1, where .ci/run installs it: this must not be skipped", pytrace=False)
    pytest.skip(requirement, allow_module_level=True)


def require_module(name: str, how: str) -> ModuleType:
    """`import name`, or :func:`missing` saying `how` to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"{name} is not installed ({how}): {exc}")


def require_program(name: str, how: str) -> str:
    """The path of program `name`, or :func:`missing` saying `how` to install it."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed ({how})")
    return path


# The X helpers (tests/xvfb.py and the module it wraps) skip when Xvfb, a tray host or tkinter
# is missing; under CI=1 those skips are failures like the ones :func:`missing` raises.
_X_HELPERS = (REPO / "tests" / "xvfb.py", REPO / "fer_overlay" / "testing" / "xserver.py")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    # An expected failure (xfail) is reported as skipped too: it is no missing tool.
    if not (CI and report.skipped and call.excinfo is not None) or hasattr(report, "wasxfail"):
        return
    if any(Path(str(entry.path)).resolve() in _X_HELPERS for entry in call.excinfo.traceback):
        report.outcome = "failed"
        report.longrepr = f"{call.excinfo.value} - CI=1, where .ci/run installs it: this must not be skipped"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        missing(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def fer_public_test(shared_data: Path) -> Path:
    path = shared_data / "fer2013" / "fer2013_PublicTest.npz"
    if not path.is_file():
        missing(f"{path} not found")
    return path


@pytest.fixture(scope="session")
def faces_dir(shared_data: Path) -> Path:
    path = shared_data / "faces"
    if not (path / "labels.csv").is_file():
        missing(f"{path}/labels.csv not found")
    return path


class TinyDisk:
    """A real 256 KiB file system (tmpfs) at ``path`` that :meth:`fill` fills to the last byte."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fill(self) -> None:
        chunk = b"\0" * 4096
        try:
            with open(self.path / ".filler", "wb", buffering=0) as fh:
                while True:
                    fh.write(chunk)
        except OSError:
            pass  # ENOSPC: full

    def free(self) -> None:
        (self.path / ".filler").unlink(missing_ok=True)


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A :class:`TinyDisk`, for disk-full paths. Needs the right to mount (root in CI's
    container); skipped elsewhere."""
    import subprocess

    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield TinyDisk(mount)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture(scope="session")
def pipeline_detector():
    """CenterFace at the pipeline's own threshold (PipelineOptions.detector)."""
    from fer_overlay.analysis.detect import CenterFace, DetectorOptions

    return CenterFace(threads=2, options=DetectorOptions(score_threshold=0.3))


@pytest.fixture(scope="session")
def webcam_tile():
    """A live-looking tile (a face in a room) cut from a generated gallery."""
    from fer_overlay.synth import GallerySpec, make_gallery

    image, truth = make_gallery(GallerySpec(participants=4, size=(1280, 720), seed=2, camera_off=0.0))
    x1, y1, x2, y2 = truth.tiles[0].xyxy
    return image[y1:y2, x1:x2].copy()

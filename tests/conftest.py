"""Shared fixtures. Data under ../shared/data is optional: tests that need it skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FER_OVERLAY_SHARED", REPO.parent / "shared")) / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def fer_public_test(shared_data: Path) -> Path:
    path = shared_data / "fer2013" / "fer2013_PublicTest.npz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="session")
def faces_dir(shared_data: Path) -> Path:
    path = shared_data / "faces"
    if not (path / "labels.csv").is_file():
        pytest.skip(f"{path}/labels.csv not found")
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

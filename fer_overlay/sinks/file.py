"""Recording to an MP4 file, and the null sink for benchmarks."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from ..errors import SinkError
from .base import SinkBase

log = logging.getLogger(__name__)


class FileSink(SinkBase):
    """An MP4 (MPEG-4 Part 2, 'mp4v') file; readable as soon as ``close()`` returns.

    MPEG-4 needs even sizes: an odd width or height is cut down by one pixel in the file.
    """

    LOW_DISK_BYTES = 32 * 1024 * 1024
    DISK_CHECK_S = 2.0

    def __init__(self, path: str | os.PathLike[str], width: int, height: int, fps: float, *,
                 low_disk_bytes: int | None = None, disk_check_s: float | None = None) -> None:
        super().__init__(width, height, fps)
        import cv2

        self.path = Path(path).expanduser()
        self.name = f"file {self.path}"
        # Read at open (not at class definition), so a test may patch the class defaults.
        self.low_disk_bytes = self.LOW_DISK_BYTES if low_disk_bytes is None else int(low_disk_bytes)
        self.disk_check_s = self.DISK_CHECK_S if disk_check_s is None else float(disk_check_s)
        self._first_path = self.path  # part files after a failure are named after the first one
        if self.path.is_dir():
            raise SinkError(f"cannot write video {self.path}: it is a folder; give a file name ending in .mp4")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"cannot create the folder for {self.path}: {exc.strerror or exc}") from exc
        self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height))
        if not self._writer.isOpened():
            raise SinkError(
                f"cannot write video {self.path}: the folder is not writable, the disk is full, "
                "or the extension is not a video format (use .mp4)"
            )
        if width % 2 or height % 2:
            log.info("%s: MPEG-4 stores even sizes; the file will be %dx%d", self.path, width - width % 2,
                     height - height % 2)
        self._disk_checked = time.monotonic()

    def send(self, image: np.ndarray) -> None:
        self._check(image)
        self._writer.write(image)
        self.frames += 1
        now = time.monotonic()
        if now - self._disk_checked >= self.disk_check_s:
            # VideoWriter.write reports nothing, so a full disk would silently truncate
            # the recording; stop while there is still room to finish the file.
            self._disk_checked = now
            free = shutil.disk_usage(self.path.parent).free
            if free < self.low_disk_bytes:
                with contextlib.suppress(SinkError):  # the disk message below says more
                    self.close()
                raise SinkError(f"disk almost full ({free // 2**20} MiB free) while writing {self.path}; "
                                "recording stopped: free some space")

    def successor(self) -> FileSink:
        """A new sink for the rest of the recording after this one failed: the next part file
        (class.mp4, then class-2.mp4, class-3.mp4 ...), so what was recorded is kept.

        Raises SinkError while the disk is still almost full, before creating anything, so
        retrying on a full disk leaves no empty files behind.
        """
        folder = self.path.parent
        try:
            free = shutil.disk_usage(folder).free
        except OSError as exc:
            raise SinkError(f"cannot continue the recording in {folder}: {exc.strerror or exc}") from exc
        if free < self.low_disk_bytes:
            raise SinkError(f"disk still almost full ({free // 2**20} MiB free) for {self._first_path}; "
                            "free some space")
        first = self._first_path
        part = 2
        while (nxt := first.with_name(f"{first.stem}-{part}{first.suffix}")).exists():
            part += 1
        w, h = self.size
        sink = FileSink(nxt, w, h, self.fps, low_disk_bytes=self.low_disk_bytes, disk_check_s=self.disk_check_s)
        sink._first_path = first
        log.info("recording continues in %s", nxt)
        return sink

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        self._writer.release()
        if self.frames and (not self.path.exists() or self.path.stat().st_size == 0):
            raise SinkError(f"nothing was written to {self.path} ({self.frames} frames sent); is the disk full?")


class NullSink(SinkBase):
    """Checks and counts frames, for benchmarks and tests."""

    def __init__(self, width: int, height: int, fps: float = 30.0) -> None:
        super().__init__(width, height, fps)
        self.name = "null"

    def send(self, image: np.ndarray) -> None:
        self._check(image)
        self.frames += 1

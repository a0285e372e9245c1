"""Runs the real `fer-overlay` CLI in a child process with a virtual-camera backend that a test can read.

    python tests/app_under_test.py DUMP_DIR [fer-overlay arguments...]

The backend "fer_e2e" is registered through pyvirtualcam's public `register_backend()`;
it writes the newest frame it received to DUMP_DIR/latest.npy (atomically, a few times a
second) and the number of frames so far to DUMP_DIR/count, so the test sees exactly what
a meeting app would receive.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyvirtualcam


class DumpBackend:
    WRITE_EVERY_S = 0.2

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **_: Any) -> None:
        self.shape, self.fourcc = (height, width, 3), fourcc
        self.frames = 0
        self._last_write = 0.0
        self._dir = Path(os.environ["FER_E2E_DUMP"])

    def send(self, frame: np.ndarray) -> None:
        self.frames += 1
        now = time.monotonic()
        if now - self._last_write >= self.WRITE_EVERY_S:
            self._last_write = now
            tmp = self._dir / "latest.tmp.npy"
            np.save(tmp, frame.reshape(self.shape))
            os.replace(tmp, self._dir / "latest.npy")
            (self._dir / "count.tmp").write_text(str(self.frames))
            os.replace(self._dir / "count.tmp", self._dir / "count")

    def close(self) -> None:
        (self._dir / "closed").write_text(str(self.frames))

    def device(self) -> str:
        return "fer-e2e-camera"

    def native_fourcc(self) -> int:
        return self.fourcc  # take frames as the sink sends them (BGR), unconverted


if __name__ == "__main__":
    os.environ["FER_E2E_DUMP"] = sys.argv[1]
    pyvirtualcam.register_backend("fer_e2e", DumpBackend)
    from fer_overlay.cli import main

    sys.exit(main(sys.argv[2:]))

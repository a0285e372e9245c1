"""What a screenshot or a recording does to the pixels: JPEG and H.264 artefacts.

Real test material arrives as JPEG screenshots (quality 60-95) or as frames of a screen
recording (H.264 at some CRF, 4:2:0 chroma). H.264 goes through ffmpeg's libx264 when
ffmpeg is installed; without it, BLOCKY's emulation (chroma subsampling, a soft
downscale, JPEG blocks) stands in and says so in the log.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cache
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)


class Codec(str, Enum):
    NONE = "none"
    JPEG = "jpeg"  # quality 1..100 (screenshots: 60-95)
    H264 = "h264"  # libx264 at CRF ``quality`` 0..51 (recordings: 18-35)
    BLOCKY = "blocky"  # emulated video: 4:2:0 chroma, downscale by 1.5, JPEG at ``quality``


_RANGES = {Codec.NONE: (0, 100), Codec.JPEG: (1, 100), Codec.H264: (0, 51), Codec.BLOCKY: (1, 100)}


@dataclass(frozen=True)
class Compression:
    codec: Codec = Codec.NONE
    quality: int = 85  # JPEG / BLOCKY quality, or H.264 CRF

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "codec", Codec(self.codec))
        except ValueError:
            raise ValueError(f"codec must be one of {[c.value for c in Codec]}, got {self.codec!r}") from None
        lo, hi = _RANGES[self.codec]
        q = self.quality
        if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or not lo <= q <= hi:
            raise ValueError(f"quality for {self.codec.value} must be an int in {lo}..{hi}, got {q!r}")

    @classmethod
    def parse(cls, text: str) -> Compression:
        """``"none"``, ``"jpeg:75"``, ``"h264:28"`` or ``"blocky:70"``."""
        codec, _, q = text.partition(":")
        c = Codec(codec.strip().lower())
        return cls(c) if not q else cls(c, int(q))


@cache
def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


def compress(image: np.ndarray, c: Compression) -> np.ndarray:
    """``image`` (BGR uint8) after a round trip through ``c``; the same size, a new array."""
    if c.codec is Codec.NONE:
        return image.copy()
    if c.codec is Codec.JPEG:
        return _jpeg(image, c.quality)
    if c.codec is Codec.BLOCKY:
        return _blocky(image, c.quality)
    return compress_frames([image], c)[0]


def compress_frames(frames: Sequence[np.ndarray], c: Compression) -> list[np.ndarray]:
    """Frames of one video through ``c``. H.264 encodes them as one clip, so later frames carry
    the motion-compensated (P-frame) artefacts a recording has, not just a key frame's."""
    if c.codec is not Codec.H264:
        return [compress(f, c) for f in frames]
    if not frames:
        return []
    if not ffmpeg_available():
        log.warning("ffmpeg not found: H.264 emulated with blocky JPEG (quality from CRF %d)", c.quality)
        q = int(np.clip(100 - 2 * c.quality, 20, 95))
        return [_blocky(f, q) for f in frames]
    return _x264(frames, c.quality)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def _blocky(image: np.ndarray, quality: int) -> np.ndarray:
    h, w = image.shape[:2]
    # Video is 4:2:0: colour at half resolution smears coloured edges (the chip's red icon).
    ycc = cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb)
    chroma = cv2.resize(cv2.resize(ycc[..., 1:], (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA),
                        (w, h), interpolation=cv2.INTER_LINEAR)
    ycc[..., 1:] = chroma
    image = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2BGR)
    # Encoders spend few bits on fine detail: a soft downscale, then JPEG's 8x8 blocks.
    small = cv2.resize(image, (max(1, round(w / 1.5)), max(1, round(h / 1.5))), interpolation=cv2.INTER_AREA)
    return cv2.resize(_jpeg(small, quality), (w, h), interpolation=cv2.INTER_LINEAR)


def _x264(frames: Sequence[np.ndarray], crf: int) -> list[np.ndarray]:
    h, w = frames[0].shape[:2]
    # yuv420p needs even sizes; pad by replication and crop after.
    ph, pw = h + h % 2, w + w % 2
    raw = b"".join(np.ascontiguousarray(np.pad(f, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")).tobytes()
                   for f in frames)
    with tempfile.TemporaryDirectory(prefix="synth_x264_") as tmp:
        clip = Path(tmp) / "clip.mp4"
        enc = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{pw}x{ph}", "-r", "15",
               "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p",
               str(clip)]
        subprocess.run(enc, input=raw, check=True, capture_output=True)
        dec = ["ffmpeg", "-v", "error", "-i", str(clip), "-f", "rawvideo", "-pix_fmt", "bgr24", "-"]
        out = subprocess.run(dec, check=True, capture_output=True).stdout
    decoded = np.frombuffer(out, np.uint8).reshape(-1, ph, pw, 3)
    if len(decoded) != len(frames):
        raise RuntimeError(f"ffmpeg returned {len(decoded)} frames for {len(frames)}")
    return [decoded[i, :h, :w].copy() for i in range(len(frames))]

"""Screen capture with mss: whole monitors and fixed regions.

Coordinates and HiDPI
---------------------
Everything here is in the coordinates mss reports, which differ per platform:

* Linux/X11: X11 has no scaling, so coordinates and frames are physical pixels
  (desktop "scale" settings only change how big apps draw).
* Windows: mss makes the process per-monitor DPI aware the first time it is used, so
  monitor rectangles, regions and window rectangles are physical pixels, never the
  scaled "logical" ones Windows shows in its settings. This is process-wide.
* macOS: monitor rectangles and regions are in points, but grabs come back in physical
  pixels (2x on Retina). Frame sizes are always taken from the grab, so ``size`` is
  physical pixels once the first frame has been read.

Thread use: a source opens its own mss handle lazily in the thread that calls
``read()`` (X connections and Windows device contexts should not cross threads), so it
can be built on one thread and read on the engine's output thread.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SourceError
from ..types import Frame
from .base import SourceBase, check_display

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rect:
    """A screen rectangle in mss coordinates (see the module docstring)."""

    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height

    def contains(self, other: Rect) -> bool:
        return (self.left <= other.left and self.top <= other.top
                and other.right <= self.right and other.bottom <= self.bottom)

    def intersect(self, other: Rect) -> Rect | None:
        left, top = max(self.left, other.left), max(self.top, other.top)
        right, bottom = min(self.right, other.right), min(self.bottom, other.bottom)
        return Rect(left, top, right - left, bottom - top) if right > left and bottom > top else None

    def __str__(self) -> str:
        return f"{self.width}x{self.height} at ({self.left},{self.top})"


@dataclass(frozen=True)
class MonitorInfo:
    """One entry of mss's monitor list: index 0 is all monitors combined, 1.. each monitor."""

    index: int
    left: int
    top: int
    width: int
    height: int
    is_primary: bool | None = None  # None where the platform does not say
    name: str = ""  # the xrandr output ("HDMI-1") or the display's name, where known
    uid: str = ""  # stable identity (EDID serial or connector) where the platform gives one, else ""

    @property
    def rect(self) -> Rect:
        return Rect(self.left, self.top, self.width, self.height)

    def describe(self) -> str:
        what = "all monitors" if self.index == 0 else f"monitor {self.index}"
        extra = f", {self.name}" if self.name else ""
        extra += ", primary" if self.is_primary else ""
        return f"{what} ({self.rect}{extra})"


def _screenshot_errors() -> tuple[type[BaseException], ...]:
    from mss.exception import ScreenShotError

    # XCB failures are ScreenShotError subclasses; ctypes/OS-level ones are OSError.
    return ScreenShotError, OSError, RuntimeError


class ScreenGrabber:
    """One lazily opened mss handle; any failure closes it so the next call starts afresh."""

    def __init__(self) -> None:
        self._sct: Any = None

    def _handle(self) -> Any:
        if self._sct is None:
            check_display()
            try:
                import mss
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise SourceError("screen capture needs mss: pip install mss") from exc
            factory = getattr(mss, "MSS", None) or mss.mss  # mss < 10.2 only has the factory function
            try:
                self._sct = factory()
            except _screenshot_errors() as exc:
                raise SourceError(f"cannot connect to the screen: {exc}; is the desktop session running?") from exc
        return self._sct

    def monitors(self, fresh: bool = False) -> list[MonitorInfo]:
        """mss's monitor list; ``fresh`` reconnects because mss caches the list per handle."""
        if fresh:
            self.reset()
        try:
            raw = self._handle().monitors
        except _screenshot_errors() as exc:
            self.reset()
            raise SourceError(f"cannot list monitors: {exc}") from exc
        return [
            MonitorInfo(i, int(m["left"]), int(m["top"]), int(m["width"]), int(m["height"]),
                        m.get("is_primary") if i else None, str(m.get("output") or m.get("name") or ""),
                        str(m.get("unique_id") or m.get("output") or ""))
            for i, m in enumerate(raw)
        ]

    def grab(self, rect: Rect) -> np.ndarray:
        """The pixels of ``rect`` as a contiguous HxWx3 uint8 BGR array (one copy of mss's buffer)."""
        import cv2

        box = {"left": rect.left, "top": rect.top, "width": rect.width, "height": rect.height}
        try:
            shot = self._handle().grab(box)
        except _screenshot_errors() as exc:
            self.reset()
            raise SourceError(f"screen grab of {rect} failed: {exc}") from exc
        w, h = shot.size  # physical pixels, may exceed rect on macOS Retina
        buf = np.frombuffer(shot.raw, np.uint8)
        if buf.size != w * h * 4:
            raise SourceError(f"screen grab of {rect} returned {buf.size} bytes, expected {w}x{h}x4")
        # cvtColor drops alpha in one SIMD pass; ~10x faster than numpy's strided copy.
        return cv2.cvtColor(buf.reshape(h, w, 4), cv2.COLOR_BGRA2BGR)

    def reset(self) -> None:
        sct, self._sct = self._sct, None
        if sct is not None:
            try:
                sct.close()
            except Exception:  # a dead X connection may fail to close; it is gone either way
                log.debug("closing mss handle failed", exc_info=True)

    close = reset

    def __enter__(self) -> ScreenGrabber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reset()


def list_monitors() -> list[MonitorInfo]:
    """All monitors as mss numbers them: [0] = all combined, [1] = first monitor, ..."""
    with ScreenGrabber() as screen:
        return screen.monitors()


class ScreenRectSource(SourceBase):
    """Grabs a rectangle that ``_locate`` finds again every ``refresh_s`` seconds.

    Re-locating catches monitors that were unplugged or changed resolution and windows
    that moved; a failed grab also forces it on the next read.
    """

    is_live = True

    def __init__(self, refresh_s: float = 1.0) -> None:
        super().__init__()
        if refresh_s < 0:
            raise ValueError(f"refresh_s must be >= 0, got {refresh_s}")
        self.refresh_s = refresh_s
        self._screen = ScreenGrabber()
        self._rect: Rect | None = None
        self._located_at = 0.0
        self._size = (0, 0)

    def _locate(self, screen: ScreenGrabber) -> Rect:
        raise NotImplementedError

    def _first_locate(self) -> None:
        # Validate now, with a throwaway handle: the reading thread opens its own.
        with ScreenGrabber() as screen:
            rect = self._locate(screen)
        self._size = (rect.width, rect.height)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the last frame, or of the located rectangle before the first read."""
        return self._size

    @property
    def rect(self) -> Rect | None:
        """Where the last frame came from (None until read, and after a failure)."""
        return self._rect

    def read(self) -> Frame:
        if self.closed:
            raise SourceError(f"{self.name} was closed; open a new source")
        now = time.monotonic()
        try:
            if self._rect is None or now - self._located_at >= self.refresh_s:
                self._rect = self._locate(self._screen)
                self._located_at = now
            image = self._screen.grab(self._rect)
        except SourceError:
            self._rect = None
            self._screen.reset()
            raise
        self._size = (image.shape[1], image.shape[0])
        return self._frame(image)

    def close(self) -> None:
        self._screen.close()
        super().close()


class MonitorSource(ScreenRectSource):
    """A whole monitor: 1 = first, 2 = second..., 0 = all monitors combined (mss numbering).

    The OS renumbers monitors when one is added or removed. Where the platform gives
    monitors a stable identity (EDID serial or connector name: X11, Windows), the source
    follows *that* monitor, so unplugging another one does not silently switch the feed;
    elsewhere (macOS) it follows the number. ``current_index`` is the number now.
    """

    def __init__(self, index: int = 1, refresh_s: float = 1.0) -> None:
        super().__init__(refresh_s)
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise SourceError(f"monitor number must be 0 (all monitors) or 1, 2, ...; got {index!r}")
        self.index = self.current_index = index
        self.name = f"monitor {index}"
        self._uid = ""
        self._pinning = True  # the first lookup fixes which physical monitor "monitor N" means
        self._first_locate()
        self._pinning = False

    def _locate(self, screen: ScreenGrabber) -> Rect:
        monitors = screen.monitors(fresh=True)
        found = "; ".join(m.describe() for m in monitors[1:]) or "none"
        if self._uid:
            # Sorted so that, should an identical twin appear, the one at our number wins.
            same = sorted((m for m in monitors[1:] if m.uid == self._uid), key=lambda m: m.index != self.current_index)
            if not same:
                raise SourceError(
                    f"{self.name} is gone: {len(monitors) - 1} monitor(s) connected now ({found}); "
                    "plug it back in (capture resumes by itself) or pick another with monitor:N"
                )
            if same[0].index != self.current_index:
                log.info("%s is now numbered %d by the system; still capturing it", self.name, same[0].index)
            self.current_index = same[0].index
            return same[0].rect
        if self.index >= len(monitors):
            raise SourceError(
                f"monitor {self.index} not found: {len(monitors) - 1} monitor(s) connected ({found}); "
                "pick another with monitor:N, or plug the monitor back in"
            )
        monitor = monitors[self.index]
        if self._pinning and self.index > 0 and monitor.uid and sum(m.uid == monitor.uid for m in monitors) == 1:
            self._uid = monitor.uid  # only a uid no other monitor shares (twins without EDID serials do)
        if self._pinning and monitor.name:
            self.name = f"monitor {self.index} ({monitor.name})"
        return monitor.rect


class RegionSource(ScreenRectSource):
    """A fixed rectangle of the virtual screen (all monitors), e.g. the gallery part of a window."""

    def __init__(self, x: int, y: int, width: int, height: int, refresh_s: float = 1.0) -> None:
        super().__init__(refresh_s)
        if width <= 0 or height <= 0:
            raise SourceError(f"region {width}x{height} at ({x},{y}) is empty: width and height must be > 0")
        self.region = Rect(int(x), int(y), int(width), int(height))
        self.name = f"region {self.region}"
        self._first_locate()

    def _locate(self, screen: ScreenGrabber) -> Rect:
        virtual = screen.monitors(fresh=True)[0].rect
        if not virtual.contains(self.region):
            raise SourceError(
                f"region {self.region} does not fit on the screen, which spans {virtual}; "
                "pick x, y, width, height inside it (list_monitors() shows the monitors)"
            )
        return self.region

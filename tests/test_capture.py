"""Frame sources on real files and a real (virtual) X screen: Xvfb, Tk windows, xrandr."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import require_program
from xvfb import XvfbDisplay, show_image, wait_for, xvfb  # noqa: F401 - xvfb is a fixture

from fer_overlay.capture import (
    Backoff,
    FrameSource,
    ImageSource,
    MonitorSource,
    RegionSource,
    RetryingSource,
    SourceKind,
    VideoSource,
    WhileLost,
    WindowSource,
    list_monitors,
    open_source,
    parse_source_spec,
    to_bgr8,
)
from fer_overlay.errors import InputError, SourceError
from fer_overlay.types import Frame

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 behaviour")
RNG = np.random.default_rng(7)
PATTERN = RNG.integers(0, 256, (120, 160, 3), dtype=np.uint8)  # exact pixels survive a 24-bit X server


# -- specs ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "kind", "arg"),
    [("monitor:2", SourceKind.MONITOR, "2"), ("Window:Zoom Meeting", SourceKind.WINDOW, "Zoom Meeting"),
     (r"video:C:\clips\class.mp4", SourceKind.VIDEO, r"C:\clips\class.mp4"), ("region:1,2,3,4", SourceKind.REGION,
                                                                             "1,2,3,4")],
)
def test_parse_source_spec_splits_at_first_colon(spec: str, kind: SourceKind, arg: str) -> None:
    assert parse_source_spec(spec) == (kind, arg)


@pytest.mark.parametrize(
    "spec", ["", "webcam:0", "monitor:x", "monitor:-1", "region:1,2,3", "region:a,b,c,d", "region:0,0,0,10",
             "window:", "window:   ", "video:", "image:"],
)
def test_open_source_rejects_bad_specs_naming_them(spec: str) -> None:
    with pytest.raises(SourceError) as err:
        open_source(spec)
    assert repr(spec) in str(err.value)


@linux_only
@pytest.mark.parametrize("make", [lambda: MonitorSource(1), lambda: RegionSource(0, 0, 10, 10),
                                  lambda: WindowSource("Zoom")])
def test_screen_sources_explain_wayland_and_missing_display(monkeypatch: pytest.MonkeyPatch, make) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    with pytest.raises(SourceError, match="Wayland"):
        make()
    monkeypatch.setenv("XDG_SESSION_TYPE", "tty")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(SourceError, match="DISPLAY is not set"):
        make()


# -- video ------------------------------------------------------------------------------------
def write_video(path: Path, n: int = 10, size: tuple[int, int] = (64, 48), fps: float = 20.0) -> list[np.ndarray]:
    w, h = size
    frames = [np.full((h, w, 3), (20 * i, 255 - 20 * i, 100), np.uint8) for i in range(n)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(f)
    writer.release()
    return frames


@pytest.fixture
def video(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    path = tmp_path / "class.mp4"
    return path, write_video(path)


def test_video_source_reads_every_frame_with_video_time(video: tuple[Path, list[np.ndarray]]) -> None:
    path, written = video
    with VideoSource(path) as src:
        assert isinstance(src, FrameSource)
        assert (src.size, src.fps, src.is_live) == ((64, 48), 20.0, False)
        frames = []
        while (frame := src.read()) is not None:
            frames.append(frame)
        assert src.read() is None
    assert [f.index for f in frames] == list(range(len(written)))
    assert [f.timestamp for f in frames] == pytest.approx([i / 20.0 for i in range(len(written))])
    for got, want in zip(frames, written, strict=True):
        assert got.image.shape == (48, 64, 3)
        assert np.abs(got.image.astype(int) - want).mean() < 6  # lossy codec


def test_video_source_loops_with_increasing_timestamps(video: tuple[Path, list[np.ndarray]]) -> None:
    path, written = video
    with VideoSource(path, loop=True) as src:
        frames = [src.read() for _ in range(2 * len(written) + 3)]
    assert all(f is not None for f in frames)
    stamps = [f.timestamp for f in frames if f is not None]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert np.abs(frames[len(written)].image.astype(int) - written[0]).mean() < 6  # back to the first frame


def test_video_source_realtime_paces_to_the_file_fps(video: tuple[Path, list[np.ndarray]]) -> None:
    path, _ = video
    with VideoSource(path, realtime=True) as src:
        t0 = time.monotonic()
        for _ in range(6):
            src.read()
        elapsed = time.monotonic() - t0
    # 5 intervals of 1/20 s: it waited for each frame's time. A lower bound only: no load can
    # make it fail; how closely it keeps time is not a unit test's business.
    assert elapsed >= 0.2


def test_video_source_bad_files_raise_input_error_naming_the_path(tmp_path: Path) -> None:
    cases = {"missing.mp4": None, "empty.mp4": b"", "corrupt.mp4": RNG.integers(0, 256, 5000, np.uint8).tobytes(),
             "text.mp4": b"this is not a video\n" * 50}
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(InputError) as err:
            VideoSource(path)
        assert str(path) in str(err.value)
    with pytest.raises(InputError, match="folder"):
        VideoSource(tmp_path)


# -- image ------------------------------------------------------------------------------------
def test_image_source_converts_grey_bgra_and_16_bit(tmp_path: Path) -> None:
    grey = RNG.integers(0, 256, (30, 40), dtype=np.uint8)
    bgra = np.dstack([PATTERN[:30, :40], np.full((30, 40), 77, np.uint8)])
    deep = (RNG.integers(0, 65536, (30, 40, 3), dtype=np.uint16))
    for name, img in {"grey.png": grey, "bgra.png": bgra, "deep.png": deep}.items():
        assert cv2.imwrite(str(tmp_path / name), img)
    with ImageSource(tmp_path / "grey.png") as src:
        image = src.read().image
        assert image.shape == (30, 40, 3)
        assert all(np.array_equal(image[..., c], grey) for c in range(3))
    with ImageSource(tmp_path / "bgra.png") as src:
        assert np.array_equal(src.read().image, PATTERN[:30, :40])  # alpha dropped, colours kept
    with ImageSource(tmp_path / "deep.png") as src:
        image = src.read().image
        assert image.dtype == np.uint8 and np.array_equal(image, (deep >> 8).astype(np.uint8))


def test_image_source_repeat_and_once(tmp_path: Path) -> None:
    path = tmp_path / "still ü.png"  # non-ASCII names must work (Windows users' folders)
    path.write_bytes(cv2.imencode(".png", PATTERN)[1].tobytes())
    with ImageSource(path) as src:
        frames = [src.read() for _ in range(3)]
        assert src.is_live and src.size == (160, 120)
    assert [f.index for f in frames] == [0, 1, 2]
    assert frames[0].timestamp <= frames[1].timestamp <= frames[2].timestamp <= time.monotonic()
    assert frames[0].image is frames[2].image and not frames[0].image.flags.writeable
    assert np.array_equal(frames[0].image, PATTERN)
    with ImageSource(path, repeat=False) as src:
        assert src.read() is not None and src.read() is None and not src.is_live


def test_image_source_tiny_and_bad_files(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "dot.png"), np.array([[[1, 2, 3]]], np.uint8))
    with ImageSource(tmp_path / "dot.png") as src:
        assert src.read().size == (1, 1)
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    for name, match in {"empty.png": "empty", "junk.png": "not an image", "nope.png": "not found"}.items():
        with pytest.raises(InputError, match=match) as err:
            ImageSource(tmp_path / name)
        assert str(tmp_path / name) in str(err.value)


def test_to_bgr8_float_and_bad_shapes() -> None:
    assert to_bgr8(np.full((2, 2), 0.5, np.float32), "x")[0, 0].tolist() == [127, 127, 127]
    with pytest.raises(InputError, match="shape"):
        to_bgr8(np.zeros((2, 2, 2), np.uint8), "x")


# -- retry ------------------------------------------------------------------------------------
class ScriptedSource:
    """Yields frames or raises SourceError as told: the wrapped source in RetryingSource tests."""

    name, is_live, size = "scripted", True, (4, 4)

    def __init__(self, script: list[str]) -> None:
        self.script, self.reads, self.closed = list(script), 0, False

    def read(self) -> Frame | None:
        self.reads += 1
        step = self.script.pop(0) if self.script else "ok"
        if step == "fail":
            raise SourceError("monitor 2 not found")
        return None if step == "end" else Frame(np.zeros((4, 4, 3), np.uint8), self.reads, float(self.reads))

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> ScriptedSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_backoff_grows_to_its_cap() -> None:
    b = Backoff(0.5, 4.0, 2.0)
    assert [b.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    with pytest.raises(ValueError):
        Backoff(0.0)


def test_retrying_source_keeps_last_frame_and_backs_off(caplog: pytest.LogCaptureFixture) -> None:
    inner, clock = ScriptedSource(["ok", "fail", "fail", "fail", "ok"]), FakeClock()
    src = RetryingSource(inner, Backoff(1.0, 2.0), clock=clock)
    first = src.read()
    assert first is not None and not src.lost
    assert src.read() is first and src.lost and "monitor 2 not found" in src.status
    for _ in range(20):  # a 30 fps loop while lost must not hammer the source
        assert src.read() is first
    assert inner.reads == 2
    clock.t += 1.0
    assert src.read() is first and inner.reads == 3 and src.failures == 2
    clock.t += 1.0
    assert src.read() is first and inner.reads == 3  # backoff doubled to 2 s
    clock.t += 1.0
    src.read()
    clock.t += 2.0
    back = src.read()
    assert back is not first and not src.lost and src.status == ""
    assert sum("lost" in r.message for r in caplog.records if r.levelname == "WARNING") == 1
    src.close()
    assert inner.closed


def test_retrying_source_raise_mode_and_nothing_captured_yet() -> None:
    clock = FakeClock()
    src = RetryingSource(ScriptedSource(["fail"]), Backoff(1.0), clock=clock)
    with pytest.raises(SourceError, match="source lost"):
        src.read()  # KEEP_LAST with no frame yet has nothing to show
    raising = RetryingSource(ScriptedSource(["ok", "fail"]), Backoff(1.0), WhileLost.RAISE, clock=clock)
    raising.read()
    with pytest.raises(SourceError, match="monitor 2 not found"):
        raising.read()


def test_retrying_source_passes_end_of_stream_and_blocks_when_asked() -> None:
    assert RetryingSource(ScriptedSource(["end"])).read() is None
    src = RetryingSource(ScriptedSource(["ok", "fail", "ok"]), Backoff(0.1), block=True)
    src.read()
    src.read()
    t0 = time.monotonic()
    assert src.read() is not None and not src.lost
    assert time.monotonic() - t0 >= 0.09  # it slept out the 0.1 s backoff (a lower bound: load cannot break it)


# -- screen (Xvfb) ----------------------------------------------------------------------------
def first_error(src: FrameSource, timeout: float = 1.0) -> SourceError | None:
    """Read until the source raises, and return what it raised (None if it never did)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            src.read()
        except SourceError as exc:
            return exc
        time.sleep(0.02)
    return None


def matches_pattern(src: FrameSource, crop: tuple[slice, slice] | None = None) -> Frame | None:
    frame = src.read()
    assert frame is not None
    region = frame.image if crop is None else frame.image[crop]
    return frame if np.array_equal(region, PATTERN) else None


@pytest.mark.gui
def test_monitor_source_reads_what_is_on_screen(xvfb: XvfbDisplay) -> None:  # noqa: F811
    monitors = list_monitors()
    assert (monitors[0].width, monitors[0].height) == (1920, 1080) and len(monitors) >= 2
    with show_image(xvfb, PATTERN, 100, 50, "pattern"), MonitorSource(1) as src:
        assert src.is_live and src.size == (1920, 1080)
        frame = wait_for(lambda: matches_pattern(src, (slice(50, 170), slice(100, 260))))
        assert frame is not None, "screen pixels differ from the window shown"
        later = src.read()
        assert later.index > frame.index and frame.timestamp < later.timestamp <= time.monotonic()
        assert later.image.shape == (1080, 1920, 3) and later.image.flags.c_contiguous


@pytest.mark.gui
def test_region_source_returns_the_sub_rectangle(xvfb: XvfbDisplay) -> None:  # noqa: F811
    with show_image(xvfb, PATTERN, 100, 50, "pattern"), open_source("region:110,70,64,32") as src:
        assert src.size == (64, 32)
        frame = wait_for(lambda: (lambda f: f if np.array_equal(f.image, PATTERN[20:52, 10:74]) else None)(src.read()))
        assert frame is not None
    with pytest.raises(SourceError, match=r"100x100 at \(1900,0\).*1920x1080"):
        RegionSource(1900, 0, 100, 100)


@pytest.mark.gui
def test_monitor_out_of_range_is_named(xvfb: XvfbDisplay) -> None:  # noqa: F811
    with pytest.raises(SourceError, match="monitor 7 not found: 1 monitor"):
        MonitorSource(7)


@pytest.fixture
def xrandr(xvfb: XvfbDisplay) -> Iterator[XvfbDisplay]:  # noqa: F811
    require_program("xrandr", "Debian/Ubuntu: apt-get install x11-xserver-utils")
    yield xvfb


def run_xrandr(*args: str) -> None:
    # Xvfb answers "--output screen --off" with an error about resizing but does turn the output off.
    subprocess.run(["xrandr", *args], capture_output=True, check=False, timeout=10)


@pytest.mark.gui
def test_unplugged_monitor_is_lost_then_recovered(xrandr: XvfbDisplay) -> None:
    src = RetryingSource(MonitorSource(1, refresh_s=0), Backoff(0.05, 0.1))
    with src:
        first = src.read()
        run_xrandr("--output", "screen", "--off")
        assert len(list_monitors()) == 1
        assert src.read() is first and src.lost and "is gone" in src.status
        run_xrandr("--output", "screen", "--auto")
        back = wait_for(lambda: (lambda f: f if f is not first else None)(src.read()), timeout=2)
        assert back is not None and not src.lost and back.size == (1920, 1080)


@pytest.mark.gui
def test_monitor_source_follows_its_monitor_when_renumbered(xrandr: XvfbDisplay) -> None:
    run_xrandr("--setmonitor", "FER_EXTRA", "960/254x540/143+960+540", "none")
    assert [m.name for m in list_monitors()[1:]] == ["", "screen"]  # the extra one is numbered first
    with MonitorSource(2, refresh_s=0) as src:
        assert src.read().size == (1920, 1080)
        run_xrandr("--delmonitor", "FER_EXTRA")
        assert src.read().size == (1920, 1080) and src.current_index == 1


@pytest.mark.gui
def test_window_source_captures_finds_follows_and_loses_a_window(xvfb: XvfbDisplay) -> None:  # noqa: F811
    from Xlib import display

    shown_window = show_image(xvfb, PATTERN, 300, 200, "Zoom Meeting – Gallery View")
    with shown_window as shown, WindowSource("zoom MEETING", refresh_s=0) as src:
        frame = wait_for(lambda: matches_pattern(src))
        assert frame is not None and src.size == (160, 120)
        assert (src.rect.left, src.rect.top) == (300, 200)
        # The user drags the window: the next lookup follows it.
        d = display.Display(xvfb.display)
        window = d.create_resource_object("window", shown.window_id)
        window.configure(x=700, y=400)
        d.sync()
        assert wait_for(lambda: matches_pattern(src) and src.rect.left == 700)
        window.unmap()  # what a window manager does to a minimised window
        d.sync()
        assert "minimised or hidden" in str(first_error(src))
        window.map()
        d.sync()
        assert wait_for(lambda: matches_pattern(src))
        d.close()
        shown.close()
        assert "no window whose title contains 'zoom MEETING'" in str(first_error(src))


@pytest.mark.gui
def test_window_source_not_found_lists_open_windows(xvfb: XvfbDisplay) -> None:  # noqa: F811
    with show_image(xvfb, PATTERN, 0, 0, "Google Meet"), pytest.raises(SourceError, match="'Google Meet'"):
        WindowSource("Teams")


@pytest.mark.gui
def test_window_that_comes_back_is_picked_up_again(xvfb: XvfbDisplay) -> None:  # noqa: F811
    with show_image(xvfb, PATTERN, 10, 10, "Zoom") as shown:
        src = RetryingSource(WindowSource("zoom", refresh_s=0), Backoff(0.02, 0.05))
        first = wait_for(lambda: matches_pattern(src))
        assert first is not None
        shown.close()
        assert wait_for(lambda: (src.read(), src.lost)[1], timeout=1)
    with show_image(xvfb, PATTERN, 500, 300, "Zoom"):
        assert wait_for(lambda: src.read() is not first and not src.lost and src.source.rect.left == 500, timeout=2)
    src.close()

"""A private X server (Xvfb) and a window that shows an image, for GUI tests and benchmarks.

`start_xvfb()` lets Xvfb pick a free display (-displayfd), so runs never collide with a
developer's display; `show_image()` shows a BGR image 1:1 in a Tk window. Both raise
`XUnavailable` with the Debian package to install when their tools are missing; pytest
code turns that into a skip (tests/xvfb.py).
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

STARTUP_TIMEOUT_S = 10.0
T = TypeVar("T")


class XUnavailable(RuntimeError):
    """Xvfb or tkinter is not installed here."""


@dataclass(frozen=True)
class XvfbDisplay:
    display: str  # ":N", for DISPLAY
    width: int
    height: int
    depth: int
    pid: int

    @property
    def number(self) -> int:
        return int(self.display[1:])

    def env(self) -> dict[str, str]:
        """os.environ for a child process that should draw on this display."""
        env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY",)}
        env.update(DISPLAY=self.display, XDG_SESSION_TYPE="x11")
        return env


def _accepts_connections(number: int) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(f"/tmp/.X11-unix/X{number}")
        except OSError:
            return False
    return True


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies, even by a hard exit (Xlib's XIO
    handler calls exit() when a server it was using goes away), so no Xvfb is left behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


@contextlib.contextmanager
def start_xvfb(width: int = 1920, height: int = 1080, depth: int = 24) -> Iterator[XvfbDisplay]:
    """Run Xvfb on a free display until the block ends; raises XUnavailable when Xvfb is missing."""
    exe = shutil.which("Xvfb")
    if exe is None:
        raise XUnavailable("Xvfb is not installed (Debian/Ubuntu: apt-get install xvfb)")
    read_fd, write_fd = os.pipe()
    cmd = [exe, "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x{depth}", "-nolisten", "tcp",
           "-noreset"]
    proc = subprocess.Popen(cmd, pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=_die_with_parent)
    os.close(write_fd)
    try:
        # Xvfb writes the display number it picked once it is ready for clients.
        number_text = b""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not number_text.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([read_fd], [], [], 0.1)
            if ready:
                chunk = os.read(read_fd, 32)
                if not chunk:
                    break
                number_text += chunk
        if not number_text.strip().isdigit():
            proc.kill()
            err = proc.communicate(timeout=5)[1].decode(errors="replace")[-2000:]
            raise RuntimeError(f"Xvfb did not start within {STARTUP_TIMEOUT_S:.0f} s: {err}")
        number = int(number_text)
        while not _accepts_connections(number):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"Xvfb :{number} does not accept connections")
            time.sleep(0.02)
        yield XvfbDisplay(f":{number}", width, height, depth, proc.pid)
    finally:
        os.close(read_fd)
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


_SHOW_SCRIPT = r"""
import sys, tkinter as tk
path, title, x, y = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
root = tk.Tk()
root.title(title)
image = tk.PhotoImage(file=path)
label = tk.Label(root, image=image, borderwidth=0, highlightthickness=0, padx=0, pady=0)
label.pack()
root.geometry(f"{image.width()}x{image.height()}+{x}+{y}")
def ready(_event=None):
    label.unbind("<Expose>")
    root.update_idletasks()
    print("ready", flush=True)
label.bind("<Expose>", lambda e: root.after(50, ready))
root.mainloop()
"""


@dataclass(frozen=True)
class ShownWindow:
    title: str
    window_id: int  # the top-level X window carrying the title (Tk's wrapper), for moving/unmapping it
    x: int
    y: int
    process: subprocess.Popen

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


@contextlib.contextmanager
def show_image(server: XvfbDisplay, image: np.ndarray, x: int, y: int, title: str) -> Iterator[ShownWindow]:
    """Show a BGR uint8 image 1:1 in a top-level window at (x, y), in a Tk child process.

    Tk (not cv2.imshow) because it draws the pixels untouched and needs no window
    manager to honour the position. Raises XUnavailable when tkinter is missing.
    """
    probe = subprocess.run([sys.executable, "-c", "import tkinter"], capture_output=True, check=False)
    if probe.returncode != 0:
        raise XUnavailable("tkinter is not available for this Python (Debian: apt-get install python3-tk)")
    h, w = image.shape[:2]
    with tempfile.TemporaryDirectory() as tmp:
        ppm = Path(tmp) / "shown.ppm"
        ppm.write_bytes(f"P6 {w} {h} 255\n".encode() + np.ascontiguousarray(image[..., ::-1]).tobytes())
        proc = subprocess.Popen([sys.executable, "-c", _SHOW_SCRIPT, str(ppm), title, str(x), str(y)],
                                env=server.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            ready, _, _ = select.select([proc.stdout], [], [], STARTUP_TIMEOUT_S)
            line = proc.stdout.readline() if ready and proc.stdout else ""
            if line.strip() != "ready":
                proc.kill()
                raise RuntimeError(f"the Tk window did not appear: {proc.communicate(timeout=5)[1][-2000:]}")
            yield ShownWindow(title, _toplevel_id(server, title), x, y, proc)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=5)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


def _toplevel_id(server: XvfbDisplay, title: str) -> int:
    """The top-level window named ``title``: a root child, or its child under a reparenting window manager."""
    from Xlib import display

    d = display.Display(server.display)
    try:
        net_name, utf8 = d.intern_atom("_NET_WM_NAME"), d.intern_atom("UTF8_STRING")
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:  # a window manager may still be reparenting it
            for child in d.screen().root.query_tree().children:
                for w in (child, *child.query_tree().children):
                    if title in (w.get_full_text_property(net_name, utf8), w.get_wm_name()):
                        return int(w.id)
            time.sleep(0.05)
    finally:
        d.close()
    raise RuntimeError(f"no top-level window named {title!r} on {server.display}")


def wait_for(predicate: Callable[[], T], timeout: float = 3.0, interval: float = 0.05) -> T:
    """Poll until predicate() is truthy and return its value; the last value after the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)

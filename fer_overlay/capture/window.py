"""Capture the window of a named app (e.g. "Zoom Meeting") by grabbing its screen rectangle.

What is grabbed is the screen where the window's content area is, so another window on
top of it shows up in the feed: keep the meeting window visible. The window is found
by a case-insensitive substring of its title; when several match, the largest visible
one wins. Its position is looked up again every ``refresh_s`` so moving or resizing it
works, and a closed window is searched for again (an app that recreates its window,
as Zoom does between meetings, is picked up on the next retry).

Platforms: X11 via python-xlib (installed with pynput); Windows via user32 (content
area from GetClientRect/ClientToScreen, physical pixels because mss makes the process
DPI aware first); macOS and Wayland are not supported and say so.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import SourceError
from ..types import Frame
from .screen import Rect, ScreenGrabber, ScreenRectSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowInfo:
    handle: int  # X11 window id / Windows HWND
    title: str
    rect: Rect  # content area, screen coordinates
    visible: bool


class _Gone(Exception):
    """The window handle no longer exists."""


class WindowFinder(Protocol):
    def find(self, title: str) -> list[WindowInfo]:
        """Every top-level window whose title contains ``title`` (case-insensitive)."""
        ...

    def info(self, handle: int) -> WindowInfo:
        """Current state of one window; raises _Gone when it was closed."""
        ...

    def titles(self) -> list[str]:
        """Titles of visible top-level windows, for error messages."""
        ...

    def close(self) -> None: ...


class X11Finder:
    """Top-level windows from _NET_CLIENT_LIST (any EWMH window manager) or, without one, the tree."""

    def __init__(self) -> None:
        try:
            from Xlib import X, display, error
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise SourceError("window capture on Linux needs python-xlib: pip install python-xlib") from exc
        self._X, self._error = X, error
        try:
            self._d: Any = display.Display()
        except (error.DisplayError, OSError) as exc:
            raise SourceError(f"cannot connect to the X display to find windows: {exc}") from exc
        self._root = self._d.screen().root
        self._net_name = self._d.intern_atom("_NET_WM_NAME")
        self._utf8 = self._d.intern_atom("UTF8_STRING")

    def _candidates(self) -> list[Any]:
        clients = self._root.get_full_property(self._d.intern_atom("_NET_CLIENT_LIST"), self._X.AnyPropertyType)
        if clients is not None and len(clients.value):
            return [self._d.create_resource_object("window", int(w)) for w in clients.value]
        # No window manager: top-level windows are the root's children (and, under a
        # reparenting WM without EWMH, their children); deeper ones are app internals.
        found: list[Any] = []
        for child in self._root.query_tree().children:
            found.append(child)
            try:
                found.extend(child.query_tree().children)
            except self._error.XError:
                continue
        return found

    def _title(self, w: Any) -> str:
        name = w.get_full_text_property(self._net_name, self._utf8) or w.get_wm_name() or ""
        return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)

    def _info(self, w: Any) -> WindowInfo:
        try:
            geom = w.get_geometry()
            pos = self._root.translate_coords(w, 0, 0)
            viewable = w.get_attributes().map_state == self._X.IsViewable
            title = self._title(w)
        except (self._error.BadWindow, self._error.BadDrawable) as exc:
            raise _Gone(str(exc)) from exc
        return WindowInfo(int(w.id), title, Rect(pos.x, pos.y, geom.width, geom.height), viewable)

    def find(self, title: str) -> list[WindowInfo]:
        key = title.casefold()
        found = []
        for w in self._candidates():
            try:
                if key in self._title(w).casefold():
                    found.append(self._info(w))
            except (_Gone, self._error.XError):
                continue  # closed while we looked
        return found

    def info(self, handle: int) -> WindowInfo:
        try:
            return self._info(self._d.create_resource_object("window", handle))
        except self._error.ConnectionClosedError as exc:
            raise SourceError(f"lost the connection to the X display: {exc}") from exc

    def titles(self) -> list[str]:
        out = []
        for w in self._candidates():
            try:
                info = self._info(w)
            except (_Gone, self._error.XError):
                continue
            if info.visible and info.title and info.rect.width > 1:
                out.append(info.title)
        return out

    def close(self) -> None:
        try:
            self._d.close()
        except Exception:  # already broken connection: nothing left to release
            log.debug("closing X display failed", exc_info=True)


class Win32Finder:
    """EnumWindows + GetWindowTextW; untested here (written from the Win32 docs)."""

    def __init__(self) -> None:
        import ctypes
        from ctypes import wintypes

        self._ct, self._wt = ctypes, wintypes
        self._user32 = ctypes.WinDLL("user32", use_last_error=True)  # type: ignore[attr-defined]
        u = self._user32
        u.GetWindowTextLengthW.argtypes = [wintypes.HWND]
        u.GetWindowTextW.argtypes = [wintypes.HWND, wintypes.LPWSTR, ctypes.c_int]
        u.GetClientRect.argtypes = [wintypes.HWND, ctypes.POINTER(wintypes.RECT)]
        u.ClientToScreen.argtypes = [wintypes.HWND, ctypes.POINTER(wintypes.POINT)]
        for fn in (u.IsWindow, u.IsWindowVisible, u.IsIconic):
            fn.argtypes = [wintypes.HWND]
        self._proc_type = ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.HWND, wintypes.LPARAM)  # type: ignore[attr-defined]

    def _handles(self) -> list[int]:
        handles: list[int] = []

        def collect(hwnd: int, _lparam: int) -> bool:
            if hwnd and self._user32.IsWindowVisible(hwnd):
                handles.append(int(hwnd))
            return True

        self._user32.EnumWindows(self._proc_type(collect), 0)
        return handles

    def info(self, handle: int) -> WindowInfo:
        u, ct, wt = self._user32, self._ct, self._wt
        if not u.IsWindow(handle):
            raise _Gone(f"window {handle:#x} no longer exists")
        n = u.GetWindowTextLengthW(handle)
        buf = ct.create_unicode_buffer(n + 1)
        u.GetWindowTextW(handle, buf, n + 1)
        client, origin = wt.RECT(), wt.POINT(0, 0)
        # The content area, not GetWindowRect: that adds the title bar and invisible
        # resize borders, which would show up as junk around the gallery.
        if not u.GetClientRect(handle, ct.byref(client)) or not u.ClientToScreen(handle, ct.byref(origin)):
            raise _Gone(f"window {handle:#x} has no geometry (error {ct.get_last_error()})")
        visible = bool(u.IsWindowVisible(handle)) and not u.IsIconic(handle)
        rect = Rect(origin.x, origin.y, client.right - client.left, client.bottom - client.top)
        return WindowInfo(handle, buf.value, rect, visible)

    def find(self, title: str) -> list[WindowInfo]:
        key = title.casefold()
        found = []
        for hwnd in self._handles():
            try:
                info = self.info(hwnd)
            except _Gone:
                continue
            if key in info.title.casefold():
                found.append(info)
        return found

    def titles(self) -> list[str]:
        titles = []
        for hwnd in self._handles():
            try:
                titles.append(self.info(hwnd).title)
            except _Gone:
                continue
        return [t for t in titles if t]

    def close(self) -> None:
        pass


def make_finder() -> WindowFinder:
    if sys.platform == "win32":
        return Win32Finder()
    if sys.platform == "darwin":
        raise SourceError(
            "window capture is not supported on macOS yet; use monitor:N or region:X,Y,W,H "
            "(and allow Screen Recording for this app in System Settings > Privacy & Security)"
        )
    from .base import check_display

    check_display()  # Wayland without XWayland, or no desktop at all
    return X11Finder()


class WindowSource(ScreenRectSource):
    """The content area of the first/largest visible window whose title contains ``title``."""

    def __init__(self, title: str, refresh_s: float = 1.0) -> None:
        super().__init__(refresh_s)
        if not title.strip():
            raise SourceError("window title is empty: give part of the meeting window's title, e.g. window:Zoom")
        self.title = title
        self.name = f"window '{title}'"
        self._finder: WindowFinder | None = None
        self._handle: int | None = None
        try:
            self._first_locate()
        finally:
            # The reading thread opens its own connection (see ScreenRectSource).
            self._close_finder()

    def _close_finder(self) -> None:
        finder, self._finder = self._finder, None
        if finder is not None:
            finder.close()

    def _locate(self, screen: ScreenGrabber) -> Rect:
        virtual = screen.monitors()[0].rect  # opens mss first: on Windows that sets DPI awareness
        if self._finder is None:
            self._finder = make_finder()
        try:
            info = self._current()
        except SourceError:
            raise
        except Exception as exc:  # X connection dropped, ctypes failure...: retryable like any lost source
            raise SourceError(f"looking up window '{self.title}' failed: {exc!r}") from exc
        if not info.visible:
            raise SourceError(f"window '{info.title}' is minimised or hidden; restore it so it can be captured")
        visible = virtual.intersect(info.rect)
        if visible is None:
            raise SourceError(f"window '{info.title}' ({info.rect}) is off-screen; move it onto a monitor")
        return visible  # partly off-screen: capture the part that is on a monitor

    def _current(self) -> WindowInfo:
        assert self._finder is not None
        if self._handle is not None:
            try:
                return self._finder.info(self._handle)
            except _Gone:
                log.info("window '%s' was closed; searching for it again", self.title)
                self._handle = None
        matches = self._finder.find(self.title)
        if not matches:
            shown = ", ".join(repr(t) for t in self._finder.titles()[:12]) or "none"
            raise SourceError(
                f"no window whose title contains '{self.title}' (open windows: {shown}); "
                "start the meeting app, or check the spelling"
            )
        # Visible before hidden, then biggest: apps open helper windows with the same title.
        best = max(matches, key=lambda m: (m.visible, m.rect.width * m.rect.height))
        if len(matches) > 1:
            log.info("%d windows match '%s'; using '%s' (%s)", len(matches), self.title, best.title, best.rect)
        self._handle = best.handle
        return best

    def read(self) -> Frame:
        try:
            return super().read()
        except SourceError:
            self._close_finder()  # a broken X connection is reopened on the next attempt
            raise

    def close(self) -> None:
        self._close_finder()
        super().close()

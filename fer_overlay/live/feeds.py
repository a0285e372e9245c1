"""What each output may show (a :class:`FeedPolicy`), and an output as the engine drives it (a :class:`Feed`).

The controller decides the policies from the privacy settings (which feed the students
see, anonymous mode, the aggregate-only feed); the engine applies them to every frame
without knowing why, so the privacy rules live in one place and the scheduler stays a
scheduler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from ..types import View
from ..views.compose import ViewState


class Sink(Protocol):
    """What the engine needs of a sink (every :class:`~fer_overlay.sinks.FrameSink` is one)."""

    @property
    def name(self) -> str: ...

    def send(self, image: np.ndarray) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class FeedPolicy:
    """What one output may show. The default shows everything (the teacher's own preview)."""

    names: bool = True  # student names in captions and alerts; False: no name, alerts as counts
    aggregate_only: bool = False  # the class summary card only, whatever the view (except the plain capture)
    blur_faces: bool = False  # every face pixelated (anonymous mode)
    show_status: bool = True  # the status lines (source lost, an output failed, ...) and the analysis' age

    def view_for(self, view: View) -> View:
        # OFF is the plain capture, which shows no more than the meeting itself does.
        return View.SUMMARY if self.aggregate_only and view is not View.OFF else view

    def apply(self, state: ViewState) -> ViewState:
        """The state this feed may see: names and name-bearing alerts removed, faces marked for blurring."""
        if not self.names:
            nobody = (None,) * len(state.faces)
            state = replace(state, faces=state.faces.with_(name=nobody, student=nobody),
                            alerts=state.alerts.aggregate())
        if self.blur_faces:
            state = replace(state, anonymous=True)
        if not self.show_status:
            state = replace(state, status="", age_s=None)
        return state


# Given the sink that failed (already closed), a new one to carry on with; raises while it cannot.
Reopen = Callable[[Sink], Sink]


@dataclass(frozen=True)
class Feed:
    """An output: the sink, what it may show, and how to reopen it after a failure (None: not retried)."""

    sink: Sink
    policy: FeedPolicy = FeedPolicy()
    reopen: Reopen | None = None
    label: str = ""  # for messages; the sink's name when empty

    @property
    def name(self) -> str:
        return self.label or self.sink.name

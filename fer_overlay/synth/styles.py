"""How each meeting app draws its gallery: colours, gaps, corner radii, label styles.

Sizes are in pixels of a 1080-pixel-high screen and scale with the image height.
Colours are BGR, read off screenshots of each app's dark theme.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .text import BGR


class Style(str, Enum):
    ZOOM = "zoom"
    MEET = "meet"
    TEAMS = "teams"


@dataclass(frozen=True)
class Look:
    background: BGR
    camera_off_tile: BGR  # must differ from the background by more than a few levels, as in the apps
    gap: float
    corner_radius: float
    top_bar: float  # app chrome above and below the tiles (toolbars sit on the background)
    bottom_bar: float
    avatar_initials: int  # 0: camera-off tiles show the name instead of an avatar
    avatar_colours: tuple[BGR, ...]
    avatar_text: BGR


def _hex(code: str) -> BGR:
    r, g, b = (int(code[i : i + 2], 16) for i in (1, 3, 5))
    return b, g, r


LOOKS: dict[Style, Look] = {
    Style.ZOOM: Look(
        background=_hex("#1a1a1a"), camera_off_tile=_hex("#262626"), gap=5, corner_radius=0,
        top_bar=8, bottom_bar=8, avatar_initials=0, avatar_colours=(), avatar_text=_hex("#ffffff"),
    ),
    Style.MEET: Look(
        background=_hex("#202124"), camera_off_tile=_hex("#3c4043"), gap=8, corner_radius=8,
        top_bar=16, bottom_bar=80, avatar_initials=1,
        avatar_colours=tuple(_hex(c) for c in ("#1a73e8", "#e8710a", "#a142f4", "#12b5cb", "#e52592", "#1e8e3e",
                                                "#5f6368", "#c5221f")),
        avatar_text=_hex("#ffffff"),
    ),
    Style.TEAMS: Look(
        background=_hex("#292929"), camera_off_tile=_hex("#3d3d3d"), gap=6, corner_radius=6,
        top_bar=56, bottom_bar=12, avatar_initials=2,
        avatar_colours=tuple(_hex(c) for c in ("#c4dcf0", "#f6d1d5", "#d4e7c8", "#e6d7f0", "#fbe2b5", "#c7e8e6")),
        avatar_text=_hex("#242424"),
    ),
}

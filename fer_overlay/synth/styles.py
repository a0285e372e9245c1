"""How each meeting app draws its gallery: colours, gaps, corner radii, label styles.

Sizes are in pixels of a 1080-pixel-high screen and scale with the image height.
Colours are BGR. ``LOOKS`` is the original, simplified dark look of each app (kept as it
was: tests and benchmarks were tuned on it); ``real_look`` gives the looks measured on
screenshots of the current apps, dark and light (see ``_REAL``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from .text import BGR


class Style(str, Enum):
    ZOOM = "zoom"
    MEET = "meet"
    TEAMS = "teams"


class Theme(str, Enum):
    DARK = "dark"
    LIGHT = "light"


class LabelKind(str, Enum):
    """How the app draws a participant's name on the video."""

    BOX = "box"  # the original simplified labels (Look.label unset)
    CHIP = "chip"  # Zoom: dark translucent chip flush with the tile's bottom-left corner, mic icon first
    BARE = "bare"  # Meet: white text with a soft shadow, no chip; mic badge top-right
    PILL = "pill"  # Teams: dark translucent rounded box inset from the corner, mic icon after the name


class AvatarShape(str, Enum):
    NAME = "name"  # Zoom: the name written large
    ROUND = "round"  # Meet, Teams: a circle (initials or photo)
    SQUARE = "square"  # Zoom's profile photo: a rounded square


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
    # The fields below only matter for the real looks; their defaults are the original drawing.
    label: LabelKind = LabelKind.BOX
    label_px: float = 0.0  # name font size (em, px); 0: the original size rule
    label_margin: float = 0.0  # label's distance to the tile edge
    chip: BGR = (0, 0, 0)
    chip_alpha: float = 0.55
    chip_radius: float = 0.0
    speaker: BGR = (0, 0, 0)  # active-speaker outline
    speaker_width: float = 0.0
    avatar_shape: AvatarShape = AvatarShape.ROUND
    avatar_size: float = 0.36  # of the tile height
    avatar_text_dark: bool = False  # initials in a darker shade of the circle's colour (Teams)
    ui_text: BGR = (255, 255, 255)  # text drawn on the background and on camera-off tiles
    toolbar: BGR = (0, 0, 0)  # toolbar strip colour, if it differs from the background
    selfview_width: float = 0.16  # floating self-view inset, fraction of the screen width
    font: str | None = None  # a text.FAMILIES name for labels and UI text; None: the default font
    side_bar: float = 0.0  # margin left and right of the tiles, besides the gap


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

# Measured on current screenshots (2020-2024 Zoom desktop clients at 1117-2160 px high):
# tiles almost touch (2-5 px), square corners, the chip is black at ~70% over the video
# (white 240 reads 68 under it), 19 px high on a 233 px tile (8%), flush with the corner,
# top corners rounded; the name's capitals are 9 px (an 11-12 px font: ``label_px`` is the
# font size); the active speaker gets a yellow-green outline ~3 px wide.
# Meet and Teams follow their published design systems (Material 3 and Fluent 2): rounded
# tiles with clear gaps, round avatars, a blue (Meet) or violet (Teams) speaker outline.
_REAL: dict[tuple[Style, Theme], Look] = {
    (Style.ZOOM, Theme.DARK): Look(
        background=_hex("#1a1a1a"), camera_off_tile=_hex("#242424"), gap=3, corner_radius=0,
        top_bar=44, bottom_bar=72, avatar_initials=0, avatar_colours=(), avatar_text=_hex("#ffffff"),
        label=LabelKind.CHIP, label_px=12, label_margin=2, chip=(0, 0, 0), chip_alpha=0.7, chip_radius=4,
        speaker=_hex("#c5e26d"), speaker_width=3, avatar_shape=AvatarShape.SQUARE, avatar_size=0.42,
        toolbar=_hex("#1a1a1a"), selfview_width=0.15, font="helvetica", side_bar=22,
    ),
    (Style.ZOOM, Theme.LIGHT): Look(
        background=_hex("#f7f7fa"), camera_off_tile=_hex("#e4e4e9"), gap=3, corner_radius=0,
        top_bar=44, bottom_bar=72, avatar_initials=0, avatar_colours=(), avatar_text=_hex("#232333"),
        label=LabelKind.CHIP, label_px=12, label_margin=2, chip=(0, 0, 0), chip_alpha=0.6, chip_radius=4,
        speaker=_hex("#8bc34a"), speaker_width=3, avatar_shape=AvatarShape.SQUARE, avatar_size=0.42,
        ui_text=_hex("#232333"), toolbar=_hex("#ffffff"), selfview_width=0.15, font="helvetica", side_bar=22,
    ),
    (Style.MEET, Theme.DARK): Look(
        background=_hex("#202124"), camera_off_tile=_hex("#3c4043"), gap=10, corner_radius=12,
        top_bar=16, bottom_bar=80, avatar_initials=1,
        avatar_colours=LOOKS[Style.MEET].avatar_colours, avatar_text=_hex("#ffffff"),
        label=LabelKind.BARE, label_px=14, label_margin=14, speaker=_hex("#8ab4f8"), speaker_width=3,
        avatar_shape=AvatarShape.ROUND, avatar_size=0.4, selfview_width=0.17, font="roboto", side_bar=8,
    ),
    (Style.MEET, Theme.LIGHT): Look(
        background=_hex("#f1f3f4"), camera_off_tile=_hex("#dadce0"), gap=10, corner_radius=12,
        top_bar=16, bottom_bar=80, avatar_initials=1,
        avatar_colours=LOOKS[Style.MEET].avatar_colours, avatar_text=_hex("#ffffff"),
        label=LabelKind.BARE, label_px=14, label_margin=14, speaker=_hex("#1a73e8"), speaker_width=3,
        avatar_shape=AvatarShape.ROUND, avatar_size=0.4, ui_text=_hex("#202124"), selfview_width=0.17,
        font="roboto", side_bar=8,
    ),
    (Style.TEAMS, Theme.DARK): Look(
        background=_hex("#1f1f1f"), camera_off_tile=_hex("#333333"), gap=6, corner_radius=8,
        top_bar=56, bottom_bar=12, avatar_initials=2,
        avatar_colours=LOOKS[Style.TEAMS].avatar_colours, avatar_text=_hex("#242424"),
        label=LabelKind.PILL, label_px=13, label_margin=8, chip=(0, 0, 0), chip_alpha=0.55, chip_radius=4,
        speaker=_hex("#7f85f5"), speaker_width=3, avatar_shape=AvatarShape.ROUND, avatar_size=0.34,
        avatar_text_dark=True, toolbar=_hex("#292929"), selfview_width=0.15, font="segoe", side_bar=10,
    ),
    (Style.TEAMS, Theme.LIGHT): Look(
        background=_hex("#f5f5f5"), camera_off_tile=_hex("#e6e6e6"), gap=6, corner_radius=8,
        top_bar=56, bottom_bar=12, avatar_initials=2,
        avatar_colours=LOOKS[Style.TEAMS].avatar_colours, avatar_text=_hex("#242424"),
        label=LabelKind.PILL, label_px=13, label_margin=8, chip=(0, 0, 0), chip_alpha=0.5, chip_radius=4,
        speaker=_hex("#5b5fc7"), speaker_width=3, avatar_shape=AvatarShape.ROUND, avatar_size=0.34,
        avatar_text_dark=True, ui_text=_hex("#242424"), toolbar=_hex("#ebebeb"), selfview_width=0.15,
        font="segoe", side_bar=10,
    ),
}

# The original looks had one (dark) theme; their light variant only swaps the colours.
_LIGHT_BASIC: dict[Style, dict[str, BGR]] = {
    Style.ZOOM: {"background": _hex("#f7f7fa"), "camera_off_tile": _hex("#e4e4e9"), "ui_text": _hex("#232333")},
    Style.MEET: {"background": _hex("#f1f3f4"), "camera_off_tile": _hex("#dadce0"), "ui_text": _hex("#202124")},
    Style.TEAMS: {"background": _hex("#f5f5f5"), "camera_off_tile": _hex("#e6e6e6"), "ui_text": _hex("#242424")},
}


def basic_look(style: Style, theme: Theme = Theme.DARK) -> Look:
    """The original simplified look, in either theme."""
    look = LOOKS[style]
    return look if theme is Theme.DARK else replace(look, **_LIGHT_BASIC[style])  # type: ignore[arg-type]


def real_look(style: Style, theme: Theme = Theme.DARK) -> Look:
    """The look of the current app, as measured on screenshots."""
    return _REAL[(style, theme)]

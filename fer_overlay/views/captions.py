"""Where a face's caption goes, and how big it is: pure geometry, no drawing.

A caption (name, emotion, confidence, probability bar) must not hide what the teacher
looks at or what the meeting app shows:

- it stays inside the face's tile (or, without a tile grid, the tile a webcam would frame
  that face in, cut halfway to the neighbouring faces), so it never spills onto another student;
- it stays off the app's name label: the real label box when one is known, else the
  bottom band of the tile where Zoom, Meet and Teams print it;
- it stays off the eyes and mouth (from the 5 landmarks, else the middle of the face box),
  the parts of the face that carry the expression.

Size. The caption's capital height follows the tile (a small tile gets small text) but is
never below ``LEGIBLE_CAP_PX`` once the whole frame is shown at 1280x720, which is what a
meeting app does to a shared camera: a 49-tile gallery stays readable there. Width never
exceeds the tile: the name goes first, then the confidence, then the emotion is cut to
three letters ("surprise 82%" -> "surprise" -> "sur"; "unknown" -> "?").

Slots, in order of preference: beside the face (right, then left, top-aligned with it:
webcam tiles have room there, and the caption covers background, not hair), above it,
over the forehead below the tile top, in a top corner of the tile, and below the chin or
mouth above the label. Each content variant is tried at the tile's size, then at the
legible minimum, in every slot, first keeping off the whole face box, then only off the
eyes and mouth; the first that fits wins. A tile too small even for that gets smaller
text (never below ``MIN_CAP_PX``) or no caption.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels, end-exclusive

FONT = cv2.FONT_HERSHEY_SIMPLEX
CAP_UNITS = 20.0  # rendered height of a capital in FONT at scale 1.0 (measured: 20 px)
LEGIBLE_CAP_PX = 9  # capital height, in pixels of a 1280x720 rendering, below which text stops being readable
REFERENCE_SIZE = (1280, 720)
TILE_CAP_FRACTION = 0.085  # caption capital height / tile height, before clamping
LABEL_BAND_FRACTION = 0.18  # apps print the name in about the bottom 15-18% of a tile
MIN_CAP_PX = 5  # below this a caption is noise: no caption at all
# A webcam at a desk frames a face at 25-45% of the tile height (fer_overlay.synth), a
# laptop camera at up to ~55% (real screenshots), centred 36-47% from the top. The tile
# assumed for a face when none is known is the small end, so a caption stays in the real one.
ASSUMED_FACE_FRACTION = 0.45
ASSUMED_FACE_CENTRE = 0.42
ASSUMED_HEADROOM = 0.3  # face heights between the face top and the tile top, at least


@dataclass(frozen=True)
class CaptionText:
    """What a caption may say; :func:`variants` decides what it does say."""

    emotion: str  # e.g. "happy", "unknown"
    name: str | None = None
    confidence: int | None = None  # percent
    ident: str = ""  # e.g. "#3", debugging aid shown before the emotion


@dataclass(frozen=True)
class Caption:
    """A placed caption: lines drawn from the top left of ``box`` (x1, y1, x2, y2)."""

    lines: tuple[str, ...]
    box: Box
    scale: float  # cv2 font scale
    thickness: int
    cap_px: int  # height of a capital in pixels of the drawn image
    pad: int
    line_pitch: int  # baseline to baseline
    bar_h: int  # height of the probability bar at the bottom of the box, 0 = none

    def baselines(self) -> tuple[int, ...]:
        top = self.box[1] + self.pad + self.cap_px
        return tuple(top + i * self.line_pitch for i in range(len(self.lines)))

    @property
    def bar(self) -> Box | None:
        if not self.bar_h:
            return None
        x1, _, x2, y2 = self.box
        return x1 + self.pad, y2 - self.pad - self.bar_h, x2 - self.pad, y2 - self.pad


def variants(text: CaptionText) -> Iterator[tuple[str, ...]]:
    """Caption contents from the fullest to the shortest, each shorter than the last."""
    conf = f" {text.confidence}%" if text.confidence is not None else ""
    ident = f"{text.ident} " if text.ident else ""
    full = f"{ident}{text.emotion}{conf}"
    seen: list[tuple[str, ...]] = []
    # The app's own label already shows the name, so it is the first thing to drop.
    short = "?" if text.emotion == "unknown" else text.emotion[:3]  # "unk" reads as a word
    for lines in ((text.name, full) if text.name else (full,), (full,), (f"{text.emotion}{conf}",),
                  (text.emotion,), (short,)):
        if lines not in seen:
            seen.append(lines)
            yield lines


def legible_cap_px(frame_size: tuple[int, int]) -> int:
    """Smallest capital height in this frame's pixels that is still LEGIBLE_CAP_PX at 1280x720."""
    shrink = max(frame_size[0] / REFERENCE_SIZE[0], frame_size[1] / REFERENCE_SIZE[1])
    return math.ceil(LEGIBLE_CAP_PX * shrink)


def label_band(region: Box, frame_size: tuple[int, int]) -> Box:
    """Where the app's name label is assumed to be: the bottom band of the tile, full width
    (the label grows with the name, and Teams puts icons bottom right). Apps keep a minimum
    label size (about 30 px of a 1080p screen with its margin, Teams' chip the tallest), so
    in small tiles the band is at least that: 2.2 legible capital heights."""
    x1, y1, x2, y2 = region
    h = y2 - y1
    band = min(h // 3, max(round(LABEL_BAND_FRACTION * h), round(2.2 * legible_cap_px(frame_size))))
    return x1, y2 - band, x2, y2


def expression_box(face: Sequence[float], landmarks: np.ndarray | None) -> Box:
    """Eyes to mouth, with a margin: the part of the face a caption must never cover."""
    fx1, fy1, fx2, fy2 = (float(v) for v in face)
    fw, fh = fx2 - fx1, fy2 - fy1
    pts = None if landmarks is None else np.asarray(landmarks, np.float32).reshape(5, 2)
    if pts is not None and np.isfinite(pts).all():
        x1, x2 = float(pts[:, 0].min()) - 0.15 * fw, float(pts[:, 0].max()) + 0.15 * fw
        y1, y2 = float(pts[:2, 1].min()) - 0.15 * fh, float(pts[3:, 1].max()) + 0.1 * fh
    else:  # undetected landmarks: the middle of the box, where they almost always are
        x1, x2, y1, y2 = fx1 + 0.12 * fw, fx2 - 0.12 * fw, fy1 + 0.25 * fh, fy1 + 0.92 * fh
    return math.floor(x1), math.floor(y1), math.ceil(x2), math.ceil(y2)


def assumed_tile_height(face_h: float) -> float:
    """The tile height a webcam face of this height usually sits in."""
    return face_h / ASSUMED_FACE_FRACTION


def face_region(index: int, faces_xyxy: np.ndarray, frame_size: tuple[int, int]) -> Box:
    """A stand-in tile for a face without one: the 16:9 tile a webcam would frame it in,
    clipped to the frame and cut halfway to each neighbouring face, so that two captions
    never share space."""
    w, h = frame_size
    fx1, fy1, fx2, fy2 = (float(v) for v in faces_xyxy[index])
    th = assumed_tile_height(fy2 - fy1)
    cx, cy = (fx1 + fx2) / 2, (fy1 + fy2) / 2
    x1, x2 = cx - th * 8 / 9, cx + th * 8 / 9
    y2 = cy + (1 - ASSUMED_FACE_CENTRE) * th
    # Above the face the guess is least safe (a tall face nearly touches the tile top, and
    # above the top row is the app's toolbar): allow only the smallest room webcams leave.
    y1 = max(cy - ASSUMED_FACE_CENTRE * th, fy1 - ASSUMED_HEADROOM * (fy2 - fy1))
    for j, (ox1, oy1, ox2, oy2) in enumerate(faces_xyxy.tolist()):
        if j == index or ox2 <= x1 or ox1 >= x2 or oy2 <= y1 or oy1 >= y2:
            continue
        # Split on the axis where the two faces are furthest apart; overlapping faces
        # (both gaps negative) are left alone: no line separates them.
        gaps = {"right": ox1 - fx2, "left": fx1 - ox2, "below": oy1 - fy2, "above": fy1 - oy2}
        side, gap = max(gaps.items(), key=lambda kv: kv[1])
        if gap < 0:
            continue
        if side == "right":
            x2 = min(x2, fx2 + gap / 2)
        elif side == "left":
            x1 = max(x1, fx1 - gap / 2)
        elif side == "below":
            y2 = min(y2, fy2 + gap / 2)
        else:
            y1 = max(y1, fy1 - gap / 2)
    return (max(0, math.floor(x1)), max(0, math.floor(y1)), min(w, math.ceil(x2)), min(h, math.ceil(y2)))


def _metrics(lines: tuple[str, ...], cap_px: int, bar: bool) -> tuple[float, int, int, int, int, int, int]:
    """(scale, thickness, pad, pitch, bar_h, box w, box h) of `lines` at this capital height."""
    scale = cap_px / CAP_UNITS
    # Two-pixel strokes only where the letters are big enough not to close up.
    thick = 2 if cap_px >= 14 else 1
    pad = max(2, round(0.3 * cap_px))
    pitch = cap_px + max(3, round(0.7 * cap_px))  # room for descenders and a gap between lines
    bar_h = max(2, round(0.3 * cap_px)) if bar else 0
    text_w = max(cv2.getTextSize(t, FONT, scale, thick)[0][0] for t in lines)
    descender = max(2, round(0.3 * cap_px))
    box_h = 2 * pad + cap_px + (len(lines) - 1) * pitch + descender + (bar_h + pad // 2 if bar else 0)
    return scale, thick, pad, pitch, bar_h, text_w + 2 * pad, box_h


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _slots(bw: int, bh: int, face: Box, core: Box, room: Box) -> Iterator[tuple[int, int, bool]]:
    """(x, y, may shift sideways) top-left corners to try for a bw x bh box, best first (see
    the module docstring). Beside-the-face slots may not shift: shifted, they would cover the face."""
    fx1, fy1, fx2, fy2 = face
    rx1, ry1, rx2, ry2 = room
    gap = max(2, bh // 6)
    cx = (fx1 + fx2 - bw) // 2
    top_beside = max(ry1, min(fy1, ry2 - bh))
    yield fx2 + gap, top_beside, False  # beside the face, right
    yield fx1 - gap - bw, top_beside, False  # beside it, left
    yield cx, fy1 - gap - bh, True  # above it
    yield cx, ry1, True  # over the forehead, from the tile top
    yield rx1, ry1, False  # top corners of the tile
    yield rx2 - bw, ry1, False
    yield cx, fy2 + gap, True  # below the chin, above the label
    yield cx, core[3], True  # below the mouth, over the chin


def place_caption(
    text: CaptionText,
    face: Sequence[float],
    landmarks: np.ndarray | None,
    region: Box,
    frame_size: tuple[int, int],
    label: Box | None = None,
    bar: bool = True,
    max_cap_px: int | None = None,
    tile_height: float | None = None,
) -> Caption | None:
    """The caption for one face, or None where its tile is too small for any text.

    ``region`` is the face's tile (or :func:`face_region`), ``label`` the app's name label
    when it is known (else :func:`label_band` is avoided), ``frame_size`` the drawn image's
    (w, h), ``max_cap_px`` the largest capital height wanted (the style's size), and
    ``tile_height`` what the size follows (default: the region's height; callers pass one
    value for all stand-in regions so that every caption of a gallery is the same size).
    """
    rx1, ry1, rx2, ry2 = region
    margin = max(1, min(rx2 - rx1, ry2 - ry1) // 50)
    room = (rx1 + margin, ry1 + margin, rx2 - margin, ry2 - margin)
    if room[2] - room[0] < 4 or room[3] - room[1] < 4:
        return None
    avoid_label = label if label is not None else label_band(region, frame_size)
    core = expression_box(face, landmarks)
    fbox = (math.floor(face[0]), math.floor(face[1]), math.ceil(face[2]), math.ceil(face[3]))
    legible = legible_cap_px(frame_size)
    basis = tile_height if tile_height is not None else ry2 - ry1
    target = max(legible, round(TILE_CAP_FRACTION * basis))
    if max_cap_px is not None:
        target = max(legible, min(target, max_cap_px))
    sizes = [target] if target == legible else [target, legible]
    contents = list(variants(text))
    # First off the whole face (down to the bare emotion word), only then over the hair or
    # chin: covering a face is worse than dropping a name the app's label shows anyway.
    for keep_off, tried in ((fbox, contents[:-1] or contents), (core, contents)):
        for lines in tried:
            for cap in sizes:
                caption = _fit(lines, cap, bar, fbox, keep_off, room, avoid_label)
                if caption is not None:
                    return caption
    return _last_resort(text, legible, bar, fbox, core, room, avoid_label)


def _fit(lines: tuple[str, ...], cap: int, bar: bool, face: Box, core: Box, room: Box, label: Box) -> Caption | None:
    scale, thick, pad, pitch, bar_h, bw, bh = _metrics(lines, cap, bar)
    if bw > room[2] - room[0] or bh > room[3] - room[1]:
        return None
    for x, y, shift in _slots(bw, bh, face, core, room):
        if shift:
            x = max(room[0], min(x, room[2] - bw))
        box = (x, y, x + bw, y + bh)
        inside = room[0] <= x and x + bw <= room[2] and room[1] <= y and y + bh <= room[3]
        if inside and not _overlaps(box, core) and not _overlaps(box, label):
            return Caption(lines, box, scale, thick, cap, pad, pitch, bar_h)
    return None


def _last_resort(text: CaptionText, legible: int, bar: bool, face: Box, core: Box, room: Box,
                 label: Box) -> Caption | None:
    """A tile too small for a legible caption: the shortest text, smaller, off the eyes and
    mouth if it can be; else at the top of the tile over the face (inside it, off the label)."""
    lines = list(variants(text))[-1]
    caps = range(legible - 1, MIN_CAP_PX - 1, -1)
    for cap in caps:
        caption = _fit(lines, cap, bar and cap >= 7, face, core, room, label)
        if caption is not None:
            return caption
    bottom = label[1] if _overlaps(room, label) else room[3]
    for cap in (legible, *caps):
        scale, thick, pad, pitch, bar_h, bw, bh = _metrics(lines, cap, bar and cap >= 7)
        if bw <= room[2] - room[0] and room[1] + bh <= bottom:
            return Caption(lines, (room[0], room[1], room[0] + bw, room[1] + bh), scale, thick, cap, pad, pitch, bar_h)
    return None

"""What the virtual camera shows: annotated gallery, class summary card, gallery with a
summary sidebar, or the plain capture. Pure functions of (frame, results) -> image.

The output is never mirrored (meeting apps mirror only the local self-view), and every
view is drawn at the output size so text stays the size we chose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..types import LABELS, ClassMood, Faces, Layout, LayoutKind, Tile, View
from .captions import Caption
from .render import (
    EMOTION_COLOURS,
    FONT,
    RenderStyle,
    annotate_faces_into,
    blur_faces_into,
    captions_for,
    pixelate_into,
    stale_faces,
    text_block,
)

BACKGROUND = (32, 28, 26)
ALERT = (60, 170, 255)  # orange, BGR


@dataclass(frozen=True)
class Alerts:
    """What the teacher should look at now: class-wide lines, and lines naming students."""

    class_lines: tuple[str, ...] = ()  # e.g. "class mood turned 8 s ago"
    students: tuple[str, ...] = ()  # e.g. "Ben Carter: negative for 75 s"

    def aggregate(self) -> Alerts:
        """The same without names, for a feed that shows class totals only."""
        n = len(self.students)
        count = (f"{n} student{'s' if n != 1 else ''} need{'s' if n == 1 else ''} attention",) if n else ()
        return Alerts(self.class_lines + count, ())

    @property
    def lines(self) -> tuple[str, ...]:
        return self.class_lines + self.students


@dataclass(frozen=True)
class ViewState:
    """Everything a view may show besides the captured image."""

    faces: Faces
    mood: ClassMood | None = None
    trend: np.ndarray | None = None  # (N, 3) t, balance, present
    age_s: float | None = None  # how old the analysis is relative to the shown frame
    anonymous: bool = False  # no names, faces and the app's name labels pixelated
    # The faces come from an analysis of a frame close to this one. When they do not (before
    # the first analysis, or a stale one), an anonymous view pixelates the whole picture:
    # it cannot know where the faces are.
    faces_current: bool = True
    status: str = ""  # e.g. "source lost, retrying"; one line per status
    hidden: Faces = field(default_factory=Faces.empty)  # opted-out students: always pixelated
    alerts: Alerts = field(default_factory=Alerts)
    # The gallery's tiles (in captured pixels), so captions stay inside each face's tile;
    # None or a "none" layout: captions use a region around each face instead.
    layout: Layout | None = None
    # Per face of `faces`: seconds since its emotion was read, at the analysis (Analysis.refresh_age_s);
    # the gallery greys values older than defaults.FRESH_EMOTION_S. None: not known.
    refresh_age_s: np.ndarray | None = None


def fit(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Letterbox `image` into size (w, h); returns (canvas, scale, (dx, dy)). The canvas is new.

    Runs 30 times a second, so the image is resized straight into the canvas where the rows
    are contiguous, and only the letterbox bars are filled (a full fill of a 720p canvas
    costs as much as the resize)."""
    # (numpy's colour fill of a 720p canvas takes 4-5 ms; OpenCV's filled rectangle 0.15 ms)
    w, h = size
    ih, iw = image.shape[:2]
    scale = min(w / iw, h / ih)
    nw, nh = max(1, round(iw * scale)), max(1, round(ih * scale))
    dx, dy = (w - nw) // 2, (h - nh) // 2
    canvas = np.empty((h, w, 3), np.uint8)
    for x1, y1, x2, y2 in ((0, 0, w, dy), (0, dy + nh, w, h), (0, 0, dx, h), (dx + nw, 0, w, h)):
        if x2 > x1 and y2 > y1:
            _fill(canvas, (x1, y1, x2, y2), BACKGROUND)
    region = canvas[dy : dy + nh, dx : dx + nw]
    source = image
    # Halvings first: at exactly 2x OpenCV's bilinear resize is the 2x2 box average, so
    # area-quality shrinking costs a fraction of INTER_AREA (1.4 against 8.0 ms from
    # 1080p to the sidebar's 896x504, 33 dB PSNR against INTER_AREA; to 720p bilinear
    # alone is within 40.7 dB at a quarter of the cost: scripts/bench_render.py).
    while source.shape[1] // 2 >= nw and source.shape[0] // 2 >= nh:
        source = cv2.resize(source, (source.shape[1] // 2, source.shape[0] // 2), interpolation=cv2.INTER_LINEAR)
    if region.flags.c_contiguous:
        cv2.resize(source, (nw, nh), dst=region, interpolation=cv2.INTER_LINEAR)
    else:
        region[:] = cv2.resize(source, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas, scale, (dx, dy)


def label_areas(faces: Faces, tiles: tuple[Tile, ...], size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """Where the meeting app prints names, in output pixels: the bottom band of every tile
    (Zoom, Meet and Teams print it bottom-left, some apps top-left: both bands) and the whole
    of a tile without a face (a camera-off tile shows the name large), or, without a tile
    grid, the areas below and above each face: where the text pass looks for labels
    (people/label_places.py), apps that print names top-left (OpenVidu, BigBlueButton) included."""
    out = []
    with_face = {int(i) for i in faces.tile.tolist() if i >= 0}
    for t in tiles:
        if t.index not in with_face:  # camera off: the app prints the name large, mid-tile
            out.append((t.x, t.y, t.x + t.w, t.y + t.h))
            continue
        band = max(12, round(t.h * 0.16))
        out += [(t.x, t.y + t.h - band, t.x + t.w, t.y + t.h), (t.x, t.y, t.x + t.w, t.y + band)]
    if not tiles:
        w, h = size
        for x1, y1, x2, y2 in faces.xyxy.tolist():
            fw, fh = x2 - x1, y2 - y1
            out.append((int(max(0, x1 - 3 * fw)), int(y2), int(min(w, x2 + 3 * fw)), int(min(h, y2 + 2.5 * fh))))
            # A top-left label sits at its tile's corner: up to ~3 face heights up and several
            # face sizes left of a small face.
            s = max(fw, fh)
            out.append((int(max(0, x1 - 6 * s)), int(max(0, y1 - 3 * fh)), int(min(w, x2 + 3 * fw)), int(max(0, y1))))
    return out


def _fill(image: np.ndarray, box: tuple[int, int, int, int], colour: tuple[int, int, int]) -> np.ndarray:
    """Fill box (x1, y1, x2, y2) of ``image`` with a colour, in place; returns ``image``.
    OpenCV's filled rectangle: 30x faster than numpy broadcasting a colour over a canvas."""
    x1, y1, x2, y2 = box
    cv2.rectangle(image, (x1, y1), (x2 - 1, y2 - 1), colour, -1)
    return image


def transform_faces(faces: Faces, scale: float, offset: tuple[int, int]) -> Faces:
    shift = np.array(offset * 2, np.float32)
    return faces.with_(xyxy=faces.xyxy * scale + shift, landmarks=faces.landmarks * scale + shift[:2])


def transform_tiles(layout: Layout | None, scale: float, offset: tuple[int, int]) -> tuple[Tile, ...]:
    """The layout's tiles in output pixels; none without a tile grid."""
    if layout is None or layout.kind is LayoutKind.NONE:
        return ()
    dx, dy = offset
    out = []
    for t in layout.tiles:
        x1, y1 = round(t.x * scale) + dx, round(t.y * scale) + dy
        x2, y2 = round((t.x + t.w) * scale) + dx, round((t.y + t.h) * scale) + dy
        out.append(Tile(t.index, x1, y1, x2 - x1, y2 - y1))
    return tuple(out)


def gallery(image: np.ndarray, state: ViewState, size: tuple[int, int], style: RenderStyle) -> np.ndarray:
    # The canvas from fit() is ours, so everything is drawn into it: one new image per frame.
    canvas, scale, offset = fit(image, size)
    faces = transform_faces(state.faces, scale, offset)
    if len(state.hidden):
        blur_faces_into(canvas, transform_faces(state.hidden, scale, offset))
    if state.anonymous:
        if not state.faces_current:
            pixelate_into(canvas, (offset[0], offset[1], size[0] - offset[0], size[1] - offset[1]), block=24)
            return canvas  # nothing to annotate: the faces of this picture are not known
        blur_faces_into(canvas, faces)
        for box in label_areas(faces, transform_tiles(state.layout, scale, offset), size):
            pixelate_into(canvas, box)  # the meeting app's own name labels are in the picture
        faces = faces.with_(name=(None,) * len(faces))
        style = RenderStyle(show_names=False, show_confidence=style.show_confidence, text_scale=style.text_scale)
    key = (state.faces, state.layout, size, style, scale, offset)
    stale = stale_faces(state.faces, state.refresh_age_s, state.age_s or 0.0)
    annotate_faces_into(canvas, faces, style, captions=_placed(key, faces, state.layout, size, style, scale, offset),
                        stale=stale)
    return canvas


# The last frame's caption placement: analysis changes the faces 5-15 times a second and the
# output draws 30, so most frames reuse it (placing 49 captions is most of a gallery frame's
# Python work, which holds the GIL the analysis thread needs). Keyed by the inputs'
# identity: Faces and Layout are frozen, with read-only arrays.
_last_placed: tuple[tuple, tuple[Caption | None, ...]] | None = None


def _placed(key: tuple, faces: Faces, layout: Layout | None, size: tuple[int, int], style: RenderStyle,
            scale: float, offset: tuple[int, int]) -> tuple[Caption | None, ...]:
    global _last_placed
    last = _last_placed
    if last is not None and len(last[0]) == len(key) and all(
        a is b or (not isinstance(a, (Faces, Layout)) and a == b) for a, b in zip(last[0], key)
    ):
        return last[1]
    placed = captions_for(faces, size, style, transform_tiles(layout, scale, offset))
    _last_placed = (key, placed)  # one assignment: another thread sees the old pair or the new one
    return placed


def summary_card(state: ViewState, size: tuple[int, int], style: RenderStyle) -> np.ndarray:
    w, h = size
    card = _fill(np.empty((h, w, 3), np.uint8), (0, 0, w, h), BACKGROUND)
    unit = h / 720 * style.text_scale
    pad = int(24 * unit)
    mood = state.mood
    _put(card, "Class mood", (pad, pad + int(28 * unit)), 1.1 * unit, 2)
    if mood is None:
        _put(card, "waiting for the first analysis...", (pad, pad + int(80 * unit)), 0.7 * unit, 1)
        return card
    y = pad + int(70 * unit)
    counts = (f"present {mood.present}   camera off {mood.camera_off}   "
              f"not readable {mood.unknown}")
    _put(card, counts, (pad, y), 0.6 * unit, 1)
    y += int(30 * unit)
    bar_w = w - 2 * pad - int(170 * unit)
    shares = mood.shares
    for label in LABELS:
        share = shares[label] if mood.known else 0.0
        y += int(34 * unit)
        _put(card, label, (pad, y), 0.6 * unit, 1)
        x0 = pad + int(110 * unit)
        cv2.rectangle(card, (x0, y - int(18 * unit)), (x0 + bar_w, y + int(4 * unit)), (60, 60, 60), -1)
        cv2.rectangle(card, (x0, y - int(18 * unit)), (x0 + int(bar_w * share), y + int(4 * unit)),
                      EMOTION_COLOURS[label], -1)
        _put(card, f"{share * 100:3.0f}%", (x0 + bar_w + int(10 * unit), y), 0.6 * unit, 1)
    y += int(50 * unit)
    balance = mood.balance
    tone = "positive" if balance > 0.15 else "negative" if balance < -0.15 else "mixed / neutral"
    _put(card, f"balance {balance:+.2f}  ({tone})", (pad, y), 0.7 * unit, 2)
    for line in state.alerts.lines[:4]:
        y += int(30 * unit)
        _put(card, line, (pad, y), 0.6 * unit, 1, ALERT)
    if state.trend is not None and len(state.trend) >= 2:
        _trend(card, state.trend, (pad, y + int(20 * unit), w - 2 * pad, h - y - int(50 * unit) - pad), unit)
    return card


def _trend(card: np.ndarray, trend: np.ndarray, rect: tuple[int, int, int, int], unit: float) -> None:
    x, y, w, h = rect
    if h < 20 or w < 20:
        return
    cv2.rectangle(card, (x, y), (x + w, y + h), (70, 70, 70), 1)
    mid = y + h // 2
    cv2.line(card, (x, mid), (x + w, mid), (90, 90, 90), 1)
    t = trend[:, 0]
    span = max(t[-1] - t[0], 1.0)
    px = (x + (t - t[0]) / span * w).astype(np.int32)
    py = (mid - np.clip(trend[:, 1], -1, 1) * (h / 2 - 2)).astype(np.int32)
    cv2.polylines(card, [np.column_stack([px, py])], False, (0, 190, 250), max(1, int(2 * unit)), cv2.LINE_AA)
    _put(card, f"last {span / 60:.0f} min" if span >= 60 else f"last {span:.0f} s", (x + 6, y + h - 6), 0.5 * unit, 1)


def _put(img: np.ndarray, text: str, org: tuple[int, int], scale: float, thick: int,
         colour: tuple[int, int, int] = (240, 240, 240)) -> None:
    cv2.putText(img, text, org, FONT, scale, colour, max(1, thick), cv2.LINE_AA)


def _fit_line(text: str, width: int, height: int, style: RenderStyle) -> str:
    """`text`, cut with "..." where it would not fit a frame `width` wide (a status may name a long path)."""
    scale, thick, pad = style.metrics(height)
    room = width - 4 * pad

    def fits(t: str) -> bool:
        return cv2.getTextSize(t, FONT, scale, thick)[0][0] <= room

    if fits(text):
        return text
    lo, hi = 0, len(text)  # the longest prefix that fits with the ellipsis
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(text[:mid].rstrip() + "...") else (lo, mid - 1)
    return text[:lo].rstrip() + "..."


def render(view: View, image: np.ndarray, state: ViewState, size: tuple[int, int],
           style: RenderStyle = RenderStyle()) -> np.ndarray:
    """The output frame (h, w, 3) BGR for `view`."""
    w, h = size
    if view is View.OFF:
        out = fit(image, size)[0]
    elif view is View.GALLERY:
        out = gallery(image, state, size, style)
    elif view is View.SUMMARY:
        out = summary_card(state, size, style)
    else:
        side = int(w * 0.3)
        out = np.empty((h, w, 3), np.uint8)
        out[:, : w - side] = gallery(image, state, (w - side, h), style)
        out[:, w - side :] = summary_card(state, (side, h), RenderStyle(text_scale=0.72 * style.text_scale))
    if view is not View.OFF and (state.age_s is not None or state.status):
        # One line per status (the source, a failed output, the recording...), else the analysis' age.
        notes = state.status.splitlines() if state.status else [f"analysis {state.age_s:.1f} s old"]
        note_style = RenderStyle(text_scale=0.8)
        notes = [_fit_line(n, w, h, note_style) for n in notes]
        # Bottom right: bottom left is where meeting apps print the last tile's name.
        text_block(out, notes, (w, h - 8), (130, 130, 130), note_style)
    return out

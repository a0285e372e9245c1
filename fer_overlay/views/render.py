"""Pure drawing of faces: every annotator returns a new image and leaves its input alone.

Face captions are placed by :mod:`fer_overlay.views.captions` (inside the tile, off the app's
name label and off the eyes and mouth, sized to the tile but legible at 720p). Drawing
works on small uint8 regions only: it runs in the 30 fps output thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .. import defaults
from ..types import LABELS, Emotion, Faces, Tile
from .captions import CAP_UNITS, FONT, Box, Caption, CaptionText, assumed_tile_height, face_region, place_caption

# BGR; hues chosen to be told apart by most colour-blind viewers (blue/orange axis for valence).
EMOTION_COLOURS: dict[str, tuple[int, int, int]] = {
    Emotion.HAPPY.value: (80, 190, 60),
    Emotion.SURPRISE.value: (0, 190, 250),
    Emotion.NEUTRAL.value: (200, 200, 200),
    Emotion.SAD.value: (200, 120, 30),
    Emotion.ANGRY.value: (50, 50, 230),
    Emotion.FEAR.value: (170, 80, 170),
    Emotion.DISGUST.value: (40, 130, 110),
    Emotion.UNKNOWN.value: (130, 130, 130),
}
WHITE = (255, 255, 255)
STALE_TEXT = (150, 150, 150)  # a caption whose value is not current: still legible on the dark plate


@dataclass(frozen=True)
class RenderStyle:
    show_names: bool = True
    show_confidence: bool = True
    show_track_ids: bool = False
    text_scale: float = 1.0  # multiplies the height-derived size

    def metrics(self, image_height: int) -> tuple[float, int, int]:
        """(font scale, line thickness, padding) for an image of this height."""
        unit = max(image_height, 240) / 720.0 * self.text_scale
        # 720p: 15 px capitals, 2 px strokes; still readable when a meeting app shows the
        # shared camera at half size.
        return 0.65 * unit, max(1, round(2 * unit)), max(2, round(4 * unit))

    def max_cap_px(self, image_height: int) -> int:
        """The largest caption capital height: what a big tile (speaker view, 4 tiles) gets."""
        return round(self.metrics(image_height)[0] * CAP_UNITS)


def _darken(image: np.ndarray, box: Box) -> None:
    """Darken box to 3/8 in place, in uint8 (shifts, no float copy), so white text reads on any video."""
    x1, y1, x2, y2 = box
    roi = image[y1:y2, x1:x2]
    roi[:] = (roi >> 2) + (roi >> 3)


def text_block(
    image: np.ndarray, lines: list[str], origin: tuple[int, int], colour: tuple[int, int, int], style: RenderStyle,
    anchor_bottom: bool = True,
) -> tuple[int, int, int, int]:
    """Draw lines of text on a dark box at origin (x, y); returns the box. Mutates `image`:
    callers are the annotators below, which work on their own copy."""
    scale, thick, pad = style.metrics(image.shape[0])
    sizes = [cv2.getTextSize(t, FONT, scale, thick)[0] for t in lines]
    line_h = max(h for _, h in sizes) + pad
    w = max(tw for tw, _ in sizes) + 2 * pad
    h = line_h * len(lines) + pad
    x, y = origin
    y0 = y - h if anchor_bottom else y
    x = int(np.clip(x, 0, max(0, image.shape[1] - w)))
    y0 = int(np.clip(y0, 0, max(0, image.shape[0] - h)))
    _darken(image, (x, y0, x + w, y0 + h))
    cv2.rectangle(image, (x, y0), (x + w - 1, y0 + h - 1), colour, 1, cv2.LINE_AA)
    for i, t in enumerate(lines):
        base = y0 + pad + line_h * (i + 1) - pad // 2 - 2
        cv2.putText(image, t, (x + pad, base), FONT, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return x, y0, w, h


def caption_text(faces: Faces, i: int, style: RenderStyle, label: str | None = None) -> CaptionText:
    """Face ``i``'s caption lines; ``label`` is its emotion label when the caller has them all
    (``Faces.labels`` builds every face's, so calling it per face would be quadratic)."""
    conf = None
    if style.show_confidence and faces.emotion[i] >= 0:
        conf = round(float(faces.probs[i, faces.emotion[i]]) * 100)
    ident = f"#{faces.track_id[i]}" if style.show_track_ids and faces.track_id[i] >= 0 else ""
    name = str(faces.name[i]) if style.show_names and faces.name[i] else None
    return CaptionText(label if label is not None else faces.labels[i], name, conf, ident)


def captions_for(
    faces: Faces, frame_size: tuple[int, int], style: RenderStyle = RenderStyle(), tiles: Sequence[Tile] = (),
    labels: Sequence[Box | None] = (),
) -> tuple[Caption | None, ...]:
    """Where each face's caption goes (None: its tile is too small for text). ``tiles`` are the
    gallery's tiles in this image's pixels, matched to faces by ``Faces.tile``; a face without
    one gets :func:`~fer_overlay.views.captions.face_region`. ``labels`` are the app's name-label
    boxes per face where known."""
    by_index = {t.index: t.xyxy for t in tiles}
    max_cap = style.max_cap_px(frame_size[1])
    regions = [by_index.get(int(t)) for t in faces.tile.tolist()]
    loose = [i for i, r in enumerate(regions) if r is None]
    # Faces without a tile are sized as one gallery (the median face), not each by its own size.
    basis = float(np.median(faces.xyxy[loose, 3] - faces.xyxy[loose, 1])) if loose else 0.0
    emotions = faces.labels
    with_bar = np.isfinite(faces.probs).all(axis=1) if style.show_confidence else np.zeros(len(faces), bool)
    boxes = faces.xyxy.tolist()
    out = []
    for i, region in enumerate(regions):
        height = None if region is not None else assumed_tile_height(basis)
        if region is None:
            region = face_region(i, faces.xyxy, frame_size)
        label = labels[i] if i < len(labels) else None
        out.append(place_caption(caption_text(faces, i, style, emotions[i]), boxes[i], faces.landmarks[i], region,
                                 frame_size, label, bool(with_bar[i]), max_cap, height))
    return tuple(out)


def annotate_faces(
    scene: np.ndarray, faces: Faces, style: RenderStyle = RenderStyle(), tiles: Sequence[Tile] = (),
    labels: Sequence[Box | None] = (),
) -> np.ndarray:
    """Boxes coloured by emotion and, inside each face's tile, a caption (name, emotion,
    confidence) over a bar of the probability distribution. See :func:`captions_for`."""
    out = scene.copy()
    annotate_faces_into(out, faces, style, tiles, labels)
    return out


def annotate_faces_into(
    image: np.ndarray, faces: Faces, style: RenderStyle = RenderStyle(), tiles: Sequence[Tile] = (),
    labels: Sequence[Box | None] = (), captions: Sequence[Caption | None] | None = None,
    stale: np.ndarray | None = None,
) -> None:
    """:func:`annotate_faces` drawn into ``image`` itself: for views that own their canvas.
    ``captions`` are :func:`captions_for`'s result when the caller kept it from an earlier frame.
    ``stale`` marks faces whose emotion was read a while ago (see :func:`stale_faces`): their box
    is drawn thin and their caption's text grey, so an older value does not pass for a current one."""
    h, w = image.shape[:2]
    emotions = faces.labels
    boxes = np.rint(faces.xyxy).astype(np.int64).tolist()
    old = np.zeros(len(faces), bool) if stale is None else np.asarray(stale, bool)
    if captions is None:
        captions = captions_for(faces, (w, h), style, tiles, labels)
    for i, caption in enumerate(captions):
        x1, y1, x2, y2 = boxes[i]
        colour = EMOTION_COLOURS[emotions[i]]
        # The box's stroke follows the caption size: 4 px strokes would bury a 49-tile face.
        thick = max(1, round(caption.cap_px / 8)) if caption and not old[i] else 1
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, thick, cv2.LINE_AA)
        if caption is not None:
            draw_caption(image, caption, colour, faces.probs[i], STALE_TEXT if old[i] else WHITE)


def stale_faces(faces: Faces, refresh_age_s: np.ndarray | None, since_s: float = 0.0,
                fresh_s: float = defaults.FRESH_EMOTION_S) -> np.ndarray:
    """(N,) bool: faces showing an emotion read more than ``fresh_s`` before the shown frame
    (``refresh_age_s`` at the analysis plus ``since_s``, the analysis' age). Faces never read
    show "unknown" and are not stale; without ages (an older analysis, IMAGE mode) none are."""
    n = len(faces)
    if refresh_age_s is None or len(refresh_age_s) != n:
        return np.zeros(n, bool)
    age = np.asarray(refresh_age_s, np.float64) + since_s
    return np.isfinite(age) & (age > fresh_s) & (faces.emotion >= 0)


def draw_caption(image: np.ndarray, caption: Caption, colour: tuple[int, int, int], probs: np.ndarray,
                 text_colour: tuple[int, int, int] = WHITE) -> None:
    """Draw a placed caption in place (callers own `image`): a dark plate edged in the
    emotion's colour, white text (grey for a stale value), and the probability bar when the
    caption has one."""
    x1, y1, x2, y2 = caption.box
    _darken(image, caption.box)
    cv2.rectangle(image, (x1, y1), (x2 - 1, y2 - 1), colour, 1)
    for line, base in zip(caption.lines, caption.baselines(), strict=True):
        cv2.putText(image, line, (x1 + caption.pad, base), FONT, caption.scale, text_colour, caption.thickness,
                    cv2.LINE_AA)
    bar = caption.bar
    if bar is not None and np.isfinite(probs).all():
        bx1, by1, bx2, by2 = bar
        distribution_bar(image, probs, (bx1, by1, bx2 - bx1, by2 - by1))


def distribution_bar(image: np.ndarray, probs: np.ndarray, rect: tuple[int, int, int, int]) -> None:
    """A stacked bar of the 7 class probabilities (in LABELS order) into rect (x, y, w, h), in place."""
    x, y, w, h = rect
    if y + h > image.shape[0]:
        y = max(0, image.shape[0] - h)
    # Normalised so a smoothed distribution that sums to 0.98 or 1.02 still fills exactly w.
    edges = np.concatenate([[0.0], np.cumsum(probs)]) / max(float(np.sum(probs)), 1e-6) * w
    for j, label in enumerate(LABELS):
        a, b = round(x + edges[j]), round(x + edges[j + 1])
        if b > a:
            cv2.rectangle(image, (a, y), (b - 1, y + h - 1), EMOTION_COLOURS[label], -1)


def blur_faces(scene: np.ndarray, faces: Faces, margin: float = 0.25) -> np.ndarray:
    """Pixelate faces (opt-out students, anonymous feed); irreversible at this block size."""
    out = scene.copy()
    blur_faces_into(out, faces, margin)
    return out


def blur_faces_into(image: np.ndarray, faces: Faces, margin: float = 0.25) -> None:
    """:func:`blur_faces` applied to ``image`` itself: for views that own their canvas."""
    h, w = image.shape[:2]
    for x1, y1, x2, y2 in faces.xyxy.tolist():
        mx, my = (x2 - x1) * margin, (y2 - y1) * margin
        pixelate_into(image, (int(max(0, x1 - mx)), int(max(0, y1 - my)), int(min(w, x2 + mx)), int(min(h, y2 + my))))


def pixelate_into(image: np.ndarray, box: Box, block: int = 12) -> None:
    """Pixelate box (x1, y1, x2, y2) of ``image`` in place, in blocks of ``block`` pixels (or
    coarser for a box under 24 px): faces and text are unreadable at this size."""
    h, w = image.shape[:2]
    a, b, c, d = max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3])
    if c - a < 2 or d - b < 2:
        return
    roi = image[b:d, a:c]
    small = cv2.resize(roi, (max(1, (c - a) // block), max(1, (d - b) // block)), interpolation=cv2.INTER_AREA)
    roi[:] = cv2.resize(small, (c - a, d - b), interpolation=cv2.INTER_NEAREST)

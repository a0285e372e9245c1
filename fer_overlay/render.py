"""Pure drawing of faces: every annotator returns a new image and leaves its input alone.

Sizes scale with the image height so labels stay legible after a meeting app shrinks
the feed to 720p (a 720p frame gets ~14 px text, the smallest Zoom keeps readable).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .types import LABELS, Emotion, Faces

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
FONT = cv2.FONT_HERSHEY_SIMPLEX


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
    roi = image[y0 : y0 + h, x : x + w]
    roi[:] = (roi * 0.35).astype(np.uint8)
    cv2.rectangle(image, (x, y0), (x + w - 1, y0 + h - 1), colour, 1, cv2.LINE_AA)
    for i, t in enumerate(lines):
        base = y0 + pad + line_h * (i + 1) - pad // 2 - 2
        cv2.putText(image, t, (x + pad, base), FONT, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return x, y0, w, h


def face_caption(faces: Faces, i: int, style: RenderStyle) -> list[str]:
    label = faces.labels[i]
    lines = []
    if style.show_names and faces.name[i]:
        lines.append(str(faces.name[i]))
    conf = ""
    if style.show_confidence and faces.emotion[i] >= 0:
        conf = f" {faces.probs[i, faces.emotion[i]] * 100:.0f}%"
    ident = f"#{faces.track_id[i]} " if style.show_track_ids and faces.track_id[i] >= 0 else ""
    lines.append(f"{ident}{label}{conf}")
    return lines


def annotate_faces(scene: np.ndarray, faces: Faces, style: RenderStyle = RenderStyle()) -> np.ndarray:
    """Boxes coloured by emotion, a caption (name, emotion, confidence) and a bar of the
    probability distribution under each face."""
    out = scene.copy()
    _, thick, pad = style.metrics(out.shape[0])
    for i in range(len(faces)):
        x1, y1, x2, y2 = (round(float(v)) for v in faces.xyxy[i])
        colour = EMOTION_COLOURS[faces.labels[i]]
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick + 1, cv2.LINE_AA)
        text_block(out, face_caption(faces, i, style), (x1, y1 - 2), colour, style)
        if style.show_confidence and np.isfinite(faces.probs[i]).all():
            distribution_bar(out, faces.probs[i], (x1, y2 + 2, max(x2 - x1, 8 * pad), max(4, pad + 2)))
    return out


def distribution_bar(image: np.ndarray, probs: np.ndarray, rect: tuple[int, int, int, int]) -> None:
    """A stacked bar of the 7 class probabilities (in LABELS order) into rect (x, y, w, h), in place."""
    x, y, w, h = rect
    if y + h > image.shape[0]:
        y = max(0, image.shape[0] - h)
    edges = np.concatenate([[0.0], np.cumsum(probs)]) * w
    for j, label in enumerate(LABELS):
        a, b = round(x + edges[j]), round(x + edges[j + 1])
        if b > a:
            cv2.rectangle(image, (a, y), (b - 1, y + h - 1), EMOTION_COLOURS[label], -1)


def blur_faces(scene: np.ndarray, faces: Faces, margin: float = 0.25) -> np.ndarray:
    """Pixelate faces (opt-out students, anonymous feed); irreversible at this block size."""
    out = scene.copy()
    h, w = out.shape[:2]
    for x1, y1, x2, y2 in faces.xyxy:
        mx, my = (x2 - x1) * margin, (y2 - y1) * margin
        a, b = int(max(0, x1 - mx)), int(max(0, y1 - my))
        c, d = int(min(w, x2 + mx)), int(min(h, y2 + my))
        if c - a < 2 or d - b < 2:
            continue
        roi = out[b:d, a:c]
        small = cv2.resize(roi, (max(1, (c - a) // 12), max(1, (d - b) // 12)), interpolation=cv2.INTER_AREA)
        out[b:d, a:c] = cv2.resize(small, (c - a, d - b), interpolation=cv2.INTER_NEAREST)
    return out

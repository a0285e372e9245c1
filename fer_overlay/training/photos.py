"""Labelled face photos (../shared/data/faces, faces_extra) framed as the live pipeline frames faces.

Used by the model card's end-to-end check (scripts/eval_emotion.py) and to turn the
extra photos into training crops (scripts/prepare_faces_extra.py): both must see a
photo exactly as a gallery tile's face would be seen, or the check measures something
the product never does.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from ..analysis.crops import CropOptions, crop_faces
from ..analysis.detect import CenterFace, DetectorOptions
from ..types import LABELS


def read_labelled(root: Path) -> tuple[int, list[tuple[str, np.ndarray, int]]]:
    """How many photos root/labels.csv lists, and the readable ones as (file name, BGR image, class index)."""
    rows = list(csv.DictReader((root / "labels.csv").open()))
    photos = []
    for row in rows:
        img = cv2.imread(str(root / "images" / row["image"]))
        if img is not None:
            photos.append((row["image"], img, LABELS.index(row["emotion"])))
    return len(rows), photos


def photo_detector() -> CenterFace:
    return CenterFace(options=DetectorOptions(score_threshold=0.3))


def frame_photo(detector: CenterFace, img: np.ndarray, crop: CropOptions, roll_deg: float = 0.0) -> np.ndarray | None:
    """The 48x48 grey crop of the photo's largest face, or None when no face is found.

    The photos are tight crops, so they are padded first: the detector then sees the whole
    head, as in a tile. `roll_deg` tilts the padded photo (heads leaning towards a webcam).
    """
    pad = img.shape[0] // 2
    padded = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    if roll_deg:
        h, w = padded.shape[:2]
        turn = cv2.getRotationMatrix2D((w / 2, h / 2), roll_deg, 1.0)
        padded = cv2.warpAffine(padded, turn, (w, h), borderMode=cv2.BORDER_REPLICATE)
    faces = detector.detect(padded)
    if not len(faces):
        return None
    best = faces[[int(np.argmax(faces.sizes))]]
    return crop_faces(padded, best, crop).grey[0]

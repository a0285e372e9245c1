"""Face crops for the classifier, framed like FER2013 (forehead to chin, square, upright).

With landmarks, the crop is rotated so the eyes are level (people tilt their heads
towards the webcam); without, it is the detector box squared. Quality figures (size,
sharpness) travel with the crops so later stages can say "unknown" instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..types import Faces
from .classify import SPEC


@dataclass(frozen=True)
class CropOptions:
    scale: float = 1.05  # crop side / detector box side; FER2013 faces fill the frame
    align: bool = True  # level the eyes using the landmarks when available
    y_shift: float = 0.0  # fraction of the side to move the crop down (towards the chin)

    def __post_init__(self) -> None:
        if not 0.5 <= self.scale <= 3.0:
            raise ValueError(f"crop scale must be in [0.5, 3], got {self.scale}")


@dataclass(frozen=True)
class Crops:
    grey: np.ndarray  # (N, S, S) uint8, S = classifier input size
    side_px: np.ndarray  # (N,) float32, crop side in source pixels
    sharpness: np.ndarray  # (N,) float32, variance of the Laplacian on the S x S crop


def _affine(faces: Faces, opts: CropOptions, out: int) -> np.ndarray:
    """(N, 2, 3) transforms from image pixels to crop pixels."""
    centre = faces.centers.astype(np.float64)
    wh = (faces.xyxy[:, 2:] - faces.xyxy[:, :2]).astype(np.float64)
    side = wh.max(axis=1) * opts.scale
    angle = np.zeros(len(faces))
    if opts.align:
        eyes = faces.landmarks[:, :2].astype(np.float64)
        ok = np.isfinite(eyes).all(axis=(1, 2))
        d = eyes[:, 1] - eyes[:, 0]
        angle = np.where(ok, np.arctan2(d[:, 1], d[:, 0]), 0.0)
        # A mislabelled landmark pair gives wild angles; heads rarely roll past 35 degrees.
        angle = np.where(np.abs(angle) < np.radians(35), angle, 0.0)
    centre[:, 1] += side * opts.y_shift
    s = out / side
    cos, sin = np.cos(angle) * s, np.sin(angle) * s
    tx = out / 2 - (cos * centre[:, 0] + sin * centre[:, 1])
    ty = out / 2 - (-sin * centre[:, 0] + cos * centre[:, 1])
    return np.stack([np.stack([cos, sin, tx], 1), np.stack([-sin, cos, ty], 1)], 1)


def crop_faces(image: np.ndarray, faces: Faces, opts: CropOptions = CropOptions()) -> Crops:
    """Grey classifier-sized crops of every face in a BGR (or grey) image."""
    size = SPEC.input_size
    n = len(faces)
    grey_img = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    out = np.zeros((n, size, size), np.uint8)
    sharp = np.zeros(n, np.float32)
    if n == 0:
        return Crops(out, np.zeros(0, np.float32), sharp)
    side = (faces.xyxy[:, 2:] - faces.xyxy[:, :2]).max(axis=1) * opts.scale
    # Warp to 2x first when shrinking a lot, then area-resize: warpAffine has no
    # anti-aliasing and FER2013 crops are smooth.
    big = side > 2 * size
    mats = _affine(faces, opts, size)
    mats_2x = _affine(faces, opts, 2 * size)
    # One OpenCV call per step and face, each writing in place: the loop runs on the analysis
    # thread for every face of every frame, and numpy's var() held the GIL longer than the warp.
    tmp = np.empty((2 * size, 2 * size), np.uint8)
    lap = np.empty((size, size), np.float32)
    for i in range(n):
        if big[i]:
            cv2.warpAffine(grey_img, mats_2x[i], (2 * size, 2 * size), dst=tmp, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
            cv2.resize(tmp, (size, size), dst=out[i], interpolation=cv2.INTER_AREA)
        else:
            cv2.warpAffine(grey_img, mats[i], (size, size), dst=out[i], flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        cv2.Laplacian(out[i], cv2.CV_32F, dst=lap)
        sharp[i] = cv2.meanStdDev(lap)[1][0, 0] ** 2
    return Crops(out, side.astype(np.float32), sharp)


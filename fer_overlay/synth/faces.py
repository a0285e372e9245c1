"""Face photos for synthetic galleries: the shared labelled set, or insightface's samples.

Every photo carries the box of its face as fractions of the photo, so a gallery can
report where the face ended up after scaling and flipping. The fractions were measured
once with CenterFace (the app's default detector, whose boxes run from the hairline to
just under the chin) on padded copies of the photos; see ``SHARED_FACE_BOX``.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from ..types import Emotion

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]

# Median CenterFace box over the 218 photos of ../shared/data/faces that are 350x350
# (x1 .108, y1 .037, x2 .899, y2 1.03; 10th-90th percentile within about +-0.07):
# the face fills the crop, and the chin sits on the bottom edge.
SHARED_FACE_BOX: Box = (0.11, 0.04, 0.90, 1.0)
# The other 69 photos of that set are smaller crops cut even tighter (median
# .048, .042, .958, .977).
SHARED_TIGHT_FACE_BOX: Box = (0.05, 0.04, 0.95, 0.98)
SHARED_CROP_SIDE = 350

# insightface/data/images/t1.jpg (1280x886) is a group photo of six people; these are
# CenterFace boxes (x1, y1, x2, y2) measured once on it, hard-coded so that no detector
# is needed here. The mask_*.jpg samples are textures of face masks, not faces.
_T1_FACES: tuple[tuple[int, int, int, int], ...] = (
    (61, 266, 166, 394),
    (268, 151, 376, 269),
    (465, 270, 571, 414),
    (749, 346, 846, 481),
    (903, 63, 1013, 205),
    (1133, 267, 1230, 400),
)
# Tom_Hanks_54745.png is a 112x112 aligned crop; CenterFace: (10, 2, 90, 114).
_TOM_HANKS_BOX: Box = (10 / 112, 2 / 112, 90 / 112, 1.0)
# Crop t1 faces to a square this much larger than the face, like the shared crops
# plus a little hair and neck, so they are pasted the same way.
_T1_CROP_SCALE = 1.3


@dataclass(frozen=True)
class FacePhoto:
    image_id: str
    image: np.ndarray  # BGR uint8, read-only
    emotion: Emotion | None  # None: no label
    face: Box  # face box as fractions of the photo's width and height (x1, y1, x2, y2)

    def __post_init__(self) -> None:
        x1, y1, x2, y2 = self.face
        if not (0.0 <= x1 < x2 <= 1.0 and 0.0 <= y1 < y2 <= 1.0):
            raise ValueError(f"face box must be fractions inside the photo, got {self.face}")


@dataclass(frozen=True)
class _Entry:
    image_id: str
    emotion: Emotion | None
    face: Box | None  # None: decide from the decoded size
    load: Callable[[], np.ndarray]


class FaceBank:
    """A set of face photos, decoded on first use and kept (a gallery reuses them often)."""

    def __init__(self, entries: Sequence[_Entry], source: str) -> None:
        if not entries:
            raise ValueError(f"no face photos in {source}")
        self._entries = tuple(entries)
        self._cache: dict[int, FacePhoto] = {}
        self.source = source

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"FaceBank({len(self)} photos from {self.source})"

    def __getitem__(self, index: int) -> FacePhoto:
        photo = self._cache.get(index)
        if photo is None:
            e = self._entries[index]
            image = e.load()
            image.flags.writeable = False
            face = e.face or _shared_face_box(image)
            photo = self._cache[index] = FacePhoto(e.image_id, image, e.emotion, face)
        return photo

    @property
    def image_ids(self) -> tuple[str, ...]:
        return tuple(e.image_id for e in self._entries)

    @classmethod
    def from_dir(cls, path: str | os.PathLike[str], *, min_side: int = 48, face_box: Box | None = None) -> FaceBank:
        """Photos listed in ``path/labels.csv`` (columns image, emotion) under ``path/images``.

        ``min_side`` drops thumbnails too small to upscale into a tile; ``face_box`` overrides
        the measured boxes of the shared set for another set of tight crops.
        """
        root = Path(path)
        labels = root / "labels.csv"
        if not labels.is_file():
            raise FileNotFoundError(f"{labels} not found")
        entries = []
        with labels.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                image = root / "images" / row["image"]
                if not image.is_file():
                    log.warning("%s lists %s, which is missing; skipped", labels, image)
                    continue
                entries.append(_Entry(row["image"], _emotion(row.get("emotion")), face_box, _reader(image)))
        if min_side > 0:
            entries = [e for e in entries if min(_image_size(root / "images" / e.image_id)) >= min_side]
        log.debug("face bank: %d photos from %s", len(entries), root)
        return cls(entries, str(root))

    @classmethod
    def from_insightface(cls) -> FaceBank:
        """The face samples shipped inside the installed insightface package (7 faces, unlabelled)."""
        images = insightface_images_dir()
        entries = [_Entry("Tom_Hanks_54745.png", None, _TOM_HANKS_BOX, _reader(images / "Tom_Hanks_54745.png"))]
        group = _cached_reader(images / "t1.jpg")
        for i, box in enumerate(_T1_FACES):
            crop, face = _square_crop(box, _T1_CROP_SCALE)
            entries.append(_Entry(f"t1.jpg#{i}", None, face, _crop_loader(group, crop)))
        return cls(entries, str(images))

    @classmethod
    def default(cls) -> FaceBank:
        """The shared labelled photos when present, else insightface's samples (loaded once)."""
        return _default_bank()


def shared_faces_dir() -> Path:
    """``../shared/data/faces`` next to the repository, or under $FER_OVERLAY_SHARED."""
    repo = Path(__file__).resolve().parents[2]
    return Path(os.environ.get("FER_OVERLAY_SHARED", repo.parent / "shared")) / "data" / "faces"


def insightface_images_dir() -> Path:
    # find_spec locates the package without importing it (its import pulls in onnxruntime).
    spec = importlib.util.find_spec("insightface")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("insightface is not installed, and no shared face photos were found")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "images"
    if not (path / "t1.jpg").is_file():
        raise FileNotFoundError(f"{path}/t1.jpg missing from the installed insightface package")
    return path


@cache
def _default_bank() -> FaceBank:
    shared = shared_faces_dir()
    if (shared / "labels.csv").is_file():
        return FaceBank.from_dir(shared)
    log.info("no shared face photos at %s; using insightface's sample images", shared)
    return FaceBank.from_insightface()


def _emotion(value: str | None) -> Emotion | None:
    if not value:
        return None
    try:
        emotion = Emotion(value.strip().lower())
    except ValueError:
        log.warning("unknown emotion label %r; treated as unlabelled", value)
        return None
    return None if emotion is Emotion.UNKNOWN else emotion


def _shared_face_box(image: np.ndarray) -> Box:
    h, w = image.shape[:2]
    return SHARED_FACE_BOX if (h, w) == (SHARED_CROP_SIDE, SHARED_CROP_SIDE) else SHARED_TIGHT_FACE_BOX


def _image_size(path: Path) -> tuple[int, int]:
    # Pillow reads only the header, so filtering does not decode the whole set.
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise OSError(f"cannot decode {path}")
    return image


def _reader(path: Path) -> Callable[[], np.ndarray]:
    return lambda: _read(path)


def _cached_reader(path: Path) -> Callable[[], np.ndarray]:
    return cache(lambda: _read(path))


def _crop_loader(load: Callable[[], np.ndarray], crop: tuple[int, int, int, int]) -> Callable[[], np.ndarray]:
    x1, y1, x2, y2 = crop
    return lambda: load()[y1:y2, x1:x2].copy()


def _square_crop(box: tuple[int, int, int, int], scale: float) -> tuple[tuple[int, int, int, int], Box]:
    """A square around ``box`` (t1 pixels) and the box as fractions of that square."""
    x1, y1, x2, y2 = box
    side = round(max(x2 - x1, y2 - y1) * scale)
    cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
    # t1's faces are all far enough from its borders for the square to fit.
    cx1, cy1 = cx - side // 2, cy - side // 2
    crop = (cx1, cy1, cx1 + side, cy1 + side)
    face = ((x1 - cx1) / side, (y1 - cy1) / side, (x2 - cx1) / side, (y2 - cy1) / side)
    return crop, face

"""Where to look for faces in a gallery frame: per tile, and over the whole frame.

The layout makes detection cheaper and sharper (every tile scaled so its faces are a
good size for the detector, one batched call per tile size), but it must never decide
*whether* a face is found: a tile grid that is partial or wrong (a highlighted speaker,
rounded corners, JPEG noise, a screen share) would silently drop large, obvious faces.
So a full-frame pass runs as well, and every face it finds that the tile pass did not
is kept. Each face's tile is then read off the layout by its centre, whichever pass
found it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import cv2
import numpy as np

from ..types import Faces, Layout, LayoutKind, Tile
from .detect import FaceDetector
from .track import iou_matrix


@dataclass(frozen=True)
class FaceSearchOptions:
    tile_input_height: int = 128  # each tile is scaled to this height for the detector
    min_face_fraction: float = 0.08  # of the tile height; smaller hits in a tile are artefacts
    # The whole-frame pass runs on the frame scaled to at most this long side when it is the
    # only pass (no tile grid, a screenshot): 1920 keeps 1080p whole, where a 49-tile
    # gallery's faces are 50-70 px. Beside a tile pass, in a stream, it only has to catch
    # what the tiles missed, so it runs smaller: a third of the cost at 1080p.
    full_frame_max_side: int = 1920
    union_max_side: int = 1280
    # A full-frame face that overlaps a tile-pass face this much is the same face; the
    # tile pass's box wins (it saw the face larger).
    same_face_iou: float = 0.3

    def __post_init__(self) -> None:
        if not 32 <= self.tile_input_height <= 1080:
            raise ValueError(f"tile_input_height must be in [32, 1080], got {self.tile_input_height}")
        if not 0.0 <= self.min_face_fraction < 1.0:
            raise ValueError(f"min_face_fraction must be in [0, 1), got {self.min_face_fraction}")
        for name in ("full_frame_max_side", "union_max_side"):
            if not 320 <= getattr(self, name) <= 7680:
                raise ValueError(f"{name} must be in [320, 7680], got {getattr(self, name)}")
        if not 0.0 < self.same_face_iou < 1.0:
            raise ValueError(f"same_face_iou must be in (0, 1), got {self.same_face_iou}")


def detect_in_tiles(detector: FaceDetector, image: np.ndarray, tiles: tuple[Tile, ...],
                    options: FaceSearchOptions) -> Faces:
    """Detect per tile at a common scale (one batched call per tile size); boxes in image pixels, tile filled."""
    groups: dict[tuple[int, int], list[Tile]] = {}
    for t in tiles:
        groups.setdefault((t.w, t.h), []).append(t)
    parts = []
    for (w, h), same_size in groups.items():
        scale = min(1.0, options.tile_input_height / h)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        crops = [cv2.resize(t.crop(image), size, interpolation=cv2.INTER_AREA) for t in same_size]
        for tile, found in zip(same_size, detector.detect_batch(crops)):
            if not len(found):
                continue
            found = found[np.flatnonzero(found.sizes >= options.min_face_fraction * size[1])]
            found = _to_image(found, 1.0 / scale, (tile.x, tile.y))
            parts.append(found.with_(tile=np.full(len(found), tile.index, np.int32)))
    return Faces.concat(parts)


def detect_full_frame(detector: FaceDetector, image: np.ndarray, options: FaceSearchOptions,
                      max_side: int | None = None) -> Faces:
    """The detector over the whole frame, scaled to at most `max_side` (default: full_frame_max_side)."""
    h, w = image.shape[:2]
    scale = min(1.0, (max_side or options.full_frame_max_side) / max(h, w))
    if scale < 1.0:
        small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        return _to_image(detector.detect(small), 1.0 / scale, (0, 0))
    return detector.detect(image)


def union(tile_faces: Faces, frame_faces: Faces, same_face_iou: float) -> Faces:
    """Tile-pass faces plus every full-frame face that none of them already covers."""
    if not len(frame_faces):
        return tile_faces
    if not len(tile_faces):
        return frame_faces
    overlap = iou_matrix(frame_faces.xyxy, tile_faces.xyxy).max(axis=1)
    new = frame_faces[np.flatnonzero(overlap < same_face_iou)]
    return Faces.concat([tile_faces, new])


def search_faces(detector: FaceDetector, image: np.ndarray, layout: Layout, options: FaceSearchOptions,
                 full_frame: bool = True, frame_faces: Faces | None = None,
                 tiles: Collection[int] | None = None) -> Faces:
    """Faces in the frame, each with its tile index (-1 outside every tile).

    `full_frame=False` skips the whole-frame pass (the caller runs it on a slower cadence);
    `frame_faces` is that pass's result when the caller already has it (it found the
    layout with it). Without a tile grid the whole-frame pass always runs: it is the only one.
    `tiles`: the `Tile.index` values to look in (None: all); the faces found elsewhere by the
    whole-frame pass are kept all the same.
    """
    whole = frame_faces
    if layout.kind is LayoutKind.NONE:
        faces = whole if whole is not None else detect_full_frame(detector, image, options)
    else:
        wanted = None if tiles is None else set(tiles)
        chosen = layout.tiles if wanted is None else tuple(t for t in layout.tiles if t.index in wanted)
        faces = detect_in_tiles(detector, image, chosen, options) if chosen else Faces.empty()
        if whole is None and full_frame:
            whole = detect_full_frame(detector, image, options, options.union_max_side)
        if whole is not None:
            faces = union(faces, whole, options.same_face_iou)
    return faces.with_(tile=layout.tile_of(faces.centers))


def _to_image(found: Faces, inv_scale: float, origin: tuple[int, int]) -> Faces:
    ox, oy = origin
    xyxy = found.xyxy * inv_scale + np.array([ox, oy, ox, oy], np.float32)
    marks = found.landmarks * inv_scale + np.array([ox, oy], np.float32)
    return found.with_(xyxy=xyxy, landmarks=marks)

"""Synthetic meeting galleries (Zoom, Meet, Teams) with ground truth, for tests and benchmarks.

Real face photos are placed as webcam-framed heads in 16:9 tiles on the app's dark
background, with name labels, camera-off tiles and optional shared slides::

    image, truth = make_gallery(GallerySpec(participants=16, size=(1280, 720), style=Style.MEET))
    truth.face_boxes()  # (N, 4) xyxy of every visible face, in image pixels

Face boxes follow CenterFace's convention (hairline to chin, cheek to cheek); see
:mod:`fer_overlay.synth.faces` for how they were measured.
"""

from __future__ import annotations

from .faces import FaceBank, FacePhoto, insightface_images_dir, shared_faces_dir
from .gallery import (
    MAX_TILES,
    GallerySpec,
    GalleryTruth,
    Grid,
    TileKind,
    TileTruth,
    gallery_frames,
    make_gallery,
    names,
    plan_grid,
)
from .styles import Style

__all__ = [
    "MAX_TILES",
    "FaceBank",
    "FacePhoto",
    "GallerySpec",
    "GalleryTruth",
    "Grid",
    "Style",
    "TileKind",
    "TileTruth",
    "gallery_frames",
    "insightface_images_dir",
    "make_gallery",
    "names",
    "plan_grid",
    "shared_faces_dir",
]

"""Synthetic meeting galleries (Zoom, Meet, Teams) with ground truth, for tests and benchmarks.

Real face photos are placed as webcam-framed heads in 16:9 tiles on the app's background,
with name labels, camera-off tiles and optional shared slides::

    image, truth = make_gallery(GallerySpec(participants=16, size=(1280, 720), style=Style.MEET))
    truth.face_boxes()  # (N, 4) xyxy of every visible face, in image pixels

The defaults draw the original, simplified galleries. ``GallerySpec.realistic`` (or
``fidelity=Fidelity.REAL`` and the other options) draws what the current apps show: Zoom's
translucent label chip with its mic icon, Meet's bare labels and rounded tiles, Teams'
pills and round avatars, profile photos, the active-speaker outline, the floating
self-view, speaker / screen-share / side-by-side views, light and dark themes, rooms,
headphones, glasses, backlight, and JPEG or H.264 artefacts::

    spec = GallerySpec.realistic(12, (1280, 720), Style.TEAMS, view=View.SHARE, theme=Theme.LIGHT,
                                 compression=Compression(Codec.JPEG, 75))

Face boxes follow CenterFace's convention (hairline to chin, cheek to cheek); see
:mod:`fer_overlay.synth.faces` for how they were measured.
"""

from __future__ import annotations

from .compress import Codec, Compression, compress, compress_frames
from .faces import FaceBank, FacePhoto, insightface_images_dir, shared_faces_dir
from .gallery import (
    MAX_TILES,
    Fidelity,
    GallerySpec,
    GalleryTruth,
    Grid,
    Plan,
    Strip,
    TileKind,
    TileTruth,
    View,
    gallery_frames,
    make_gallery,
    names,
    plan,
    plan_grid,
)
from .styles import Style, Theme

__all__ = [
    "MAX_TILES",
    "Codec",
    "Compression",
    "FaceBank",
    "FacePhoto",
    "Fidelity",
    "GallerySpec",
    "GalleryTruth",
    "Grid",
    "Plan",
    "Strip",
    "Style",
    "Theme",
    "TileKind",
    "TileTruth",
    "View",
    "compress",
    "compress_frames",
    "gallery_frames",
    "insightface_images_dir",
    "make_gallery",
    "names",
    "plan",
    "plan_grid",
    "shared_faces_dir",
]

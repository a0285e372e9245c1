from __future__ import annotations

import numpy as np
import pytest

from fer_overlay.analysis.layout import find_layout
from fer_overlay.synth import Codec, Compression, Fidelity, GallerySpec, Style, compress, make_gallery
from fer_overlay.types import Layout, LayoutKind


@pytest.mark.parametrize("style", list(Style))
@pytest.mark.parametrize("participants", [4, 9, 25, 49])
@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_grid_tiles_match_ground_truth(style, participants, size):
    image, truth = make_gallery(GallerySpec(participants=participants, size=size, style=style, seed=participants))
    layout = find_layout(image)
    assert layout.kind is LayoutKind.GRID
    found = np.array([t.xyxy for t in layout.tiles])
    expected = np.array([t.xyxy for t in truth.tiles])
    assert len(found) == len(expected)
    # Each true tile against its nearest found one (a 1 px difference may reorder a sort).
    err = np.abs(expected[:, None, :] - found[None, :, :]).max(axis=2).min(axis=1).max()
    assert err <= 3, f"tile edges off by {err} px"


def test_reading_order_is_row_major():
    image, _truth = make_gallery(GallerySpec(participants=9, size=(1280, 720), seed=2))
    layout = find_layout(image)
    ys = [t.y for t in layout.tiles]
    xs = [t.x for t in layout.tiles]
    assert ys == sorted(ys)
    assert xs[:3] == sorted(xs[:3])


def test_not_a_gallery_falls_back_to_the_whole_frame():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 255, (480, 640, 3), np.uint8)
    layout = find_layout(photo)
    assert layout.kind is LayoutKind.NONE
    assert layout.tiles[0].xyxy == (0, 0, 640, 480)
    assert find_layout(np.zeros((1, 1, 3), np.uint8)).kind is LayoutKind.NONE


def test_tile_of_points():
    image, _ = make_gallery(GallerySpec(participants=4, size=(1280, 720), seed=0))
    layout = find_layout(image)
    centres = np.array([[t.x + t.w / 2, t.y + t.h / 2] for t in layout.tiles])
    assert layout.tile_of(centres).tolist() == [t.index for t in layout.tiles]
    assert layout.tile_of(np.array([[0.0, 0.0]])).tolist() == [-1]
    assert Layout.whole_frame(10, 10).tile_of(centres).tolist() == [-1] * 4


@pytest.mark.parametrize("style", list(Style))
@pytest.mark.parametrize("participants", [9, 25, 49])
@pytest.mark.parametrize("quality", [95, 80, 60])
def test_jpeg_compressed_galleries_keep_their_grid(style, participants, quality):
    """A recorded class or a shared screenshot is JPEG/H.264: smeared 3 px gaps still separate tiles.
    (The apps as drawn today, 1080p; q80 read the Zoom grid as one "speaker" tile before.)"""
    spec = GallerySpec(participants=participants, size=(1920, 1080), style=style, seed=participants,
                       camera_off=0.0, fidelity=Fidelity.REAL)
    image, truth = make_gallery(spec)
    layout = find_layout(compress(image, Compression(Codec.JPEG, quality)))
    assert layout.kind is LayoutKind.GRID and len(layout.tiles) == len(truth.tiles)
    found = np.array([t.xyxy for t in layout.tiles])
    expected = np.array([t.xyxy for t in truth.tiles])
    err = np.abs(expected[:, None, :] - found[None, :, :]).max(axis=2).min(axis=1).max()
    assert err <= max(4, 0.025 * truth.tile_size[0]), f"tile edges off by {err} px"  # JPEG smears an edge

"""Gallery screenshots (and short videos of them) with ground truth for every tile."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

import numpy as np

from .cast import names
from .compress import Codec, compress, compress_frames
from .faces import FaceBank
from .layouts import TILE_ASPECT, Grid, Plan, Rect, Strip, View, plan, plan_grid
from .scene import Scene
from .spec import MAX_TILES, MIN_TILE_HEIGHT, Fidelity, GallerySpec, _is_int
from .truth import GalleryTruth, TileKind, TileTruth

log = logging.getLogger(__name__)

H264_CLIP = 30  # frames per H.264 clip: one key frame, then P-frames, as a recorder's GOP

__all__ = [
    "MAX_TILES",
    "MIN_TILE_HEIGHT",
    "TILE_ASPECT",
    "Fidelity",
    "GallerySpec",
    "GalleryTruth",
    "Grid",
    "Plan",
    "Rect",
    "Strip",
    "TileKind",
    "TileTruth",
    "View",
    "gallery_frames",
    "make_gallery",
    "names",
    "plan",
    "plan_grid",
]


def make_gallery(spec: GallerySpec, faces: FaceBank | None = None) -> tuple[np.ndarray, GalleryTruth]:
    """A BGR uint8 gallery screenshot and its ground truth; the same spec gives the same image."""
    scene = Scene(spec, faces or FaceBank.default())
    image, truth = scene.render(list(range(spec.tiles)), np.zeros((spec.tiles, 2), np.int64), 0.0, None,
                                speaker=scene.speaker)
    if spec.compression.codec is not Codec.NONE:
        image = compress(image, spec.compression)
    return image, truth


def gallery_frames(
    spec: GallerySpec,
    n_frames: int,
    *,
    reorder_every: int | None = None,
    jitter_px: int = 1,
    noise: float = 2.0,
    seed: int = 0,
    faces: FaceBank | None = None,
    speaker_every: int | None = None,
    scroll_every: int | None = None,
    shift_px: int = 0,
    views: Mapping[int, View] | None = None,
) -> Iterator[tuple[np.ndarray, GalleryTruth]]:
    """A video of one meeting: same people throughout, sensor noise, heads drifting by up to
    ``jitter_px``, and every ``reorder_every`` frames two tiles swapping places (as Zoom
    reshuffles when someone joins or speaks). ``TileTruth.participant`` follows each person.

    ``speaker_every`` hands the active speaker to another live participant that often;
    ``scroll_every`` scrolls the gallery by one row (the top row's people go to the end, as
    paging does); ``shift_px`` slides all tiles sideways by that many pixels a frame, back and
    forth (a gallery re-laying itself out, a window being dragged); ``views`` switches the
    layout from the given frames on (``{150: View.SPEAKER}``). ``spec.compression`` applies
    per frame (JPEG) or per clip of ``H264_CLIP`` frames (H.264)."""
    if not _is_int(n_frames) or n_frames < 0:
        raise ValueError(f"n_frames must be an int >= 0, got {n_frames!r}")
    for name, every in (("reorder_every", reorder_every), ("speaker_every", speaker_every),
                        ("scroll_every", scroll_every)):
        if every is not None and (not _is_int(every) or every < 1):
            raise ValueError(f"{name} must be None or an int >= 1, got {every!r}")
    if not _is_int(jitter_px) or jitter_px < 0:
        raise ValueError(f"jitter_px must be an int >= 0, got {jitter_px!r}")
    if not _is_int(shift_px) or shift_px < 0:
        raise ValueError(f"shift_px must be an int >= 0, got {shift_px!r}")
    if not isinstance(noise, (int, float)) or noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    schedule = dict(views or {})
    for f, v in schedule.items():
        if not _is_int(f) or f < 0:
            raise ValueError(f"views keys must be frame numbers >= 0, got {f!r}")
        schedule[f] = View(v)
    frames = _frames(spec, n_frames, reorder_every, jitter_px, float(noise), seed, faces, speaker_every, scroll_every,
                     shift_px, schedule)
    if spec.compression.codec is Codec.NONE:
        return frames
    return _compressed(spec, frames)


def _compressed(spec: GallerySpec, frames: Iterator[tuple[np.ndarray, GalleryTruth]]
                ) -> Iterator[tuple[np.ndarray, GalleryTruth]]:
    if spec.compression.codec is not Codec.H264:
        for image, truth in frames:
            yield compress(image, spec.compression), truth
        return
    clip: list[tuple[np.ndarray, GalleryTruth]] = []
    for item in frames:
        clip.append(item)
        if len(clip) == H264_CLIP:
            yield from zip(compress_frames([c[0] for c in clip], spec.compression), (c[1] for c in clip))
            clip = []
    if clip:
        yield from zip(compress_frames([c[0] for c in clip], spec.compression), (c[1] for c in clip))


def _slack(p: Plan, width: int) -> tuple[int, int]:
    """How far all tiles (and the share) can move left and right and stay on the screen."""
    rects = list(p.rects) + ([p.share] if p.share else [])
    return min(r[0] for r in rects), width - max(r[0] + r[2] for r in rects)


def _bounce(f: int, step: int, lo: int, hi: int) -> int:
    """Offset at frame ``f``: from 0, ``step`` px a frame, turning back at ``lo`` and ``hi``."""
    span = hi - lo
    if span <= 0 or step <= 0:
        return 0
    t = (f * step - lo) % (2 * span)
    return lo + (t if t <= span else 2 * span - t)


def _frames(spec: GallerySpec, n_frames: int, reorder_every: int | None, jitter_px: int, noise: float, seed: int,
            faces: FaceBank | None, speaker_every: int | None, scroll_every: int | None, shift_px: int,
            schedule: dict[int, View]) -> Iterator[tuple[np.ndarray, GalleryTruth]]:
    bank = faces or FaceBank.default()
    scene = Scene(spec, bank)
    views_used = {spec.view, *schedule.values()}
    if shift_px:
        # Without room to move, plan with a margin each side (the tiles get a little smaller).
        lo, hi = zip(*(_slack(scene.plan(v), spec.size[0]) for v in views_used))
        if min(lo) + min(hi) < 4 * shift_px:
            scene = Scene(spec, bank, reserve=2 * shift_px)
    rng = np.random.default_rng(seed)
    # New motions draw from their own stream, so old seeds keep their reorders and noise.
    r_new = np.random.default_rng([seed, 1])
    order = list(range(spec.tiles))
    offsets = np.zeros((spec.tiles, 2), np.int64)
    live = [p.pid for p in scene.people if p.kind is TileKind.FACE]
    speaker = scene.speaker
    view = spec.view
    for f in range(n_frames):
        view = schedule.get(f, view)
        if f and reorder_every and f % reorder_every == 0 and len(order) > 1:
            i, j = rng.choice(len(order), 2, replace=False)
            order[i], order[j] = order[j], order[i]
        if f and jitter_px:
            # A bounded random walk: heads drift, they do not teleport.
            offsets = np.clip(offsets + rng.integers(-1, 2, offsets.shape), -jitter_px, jitter_px)
        if f and speaker_every and f % speaker_every == 0 and len(live) > 1:
            if speaker is None and view is View.SPEAKER:
                speaker = order[0]
            speaker = int(r_new.choice([p for p in live if p != speaker]))
        if f and scroll_every and f % scroll_every == 0:
            cols = scene.plan(view).grid[1] if view in (View.GRID, View.SIDE_BY_SIDE) else 1
            order = order[cols:] + order[:cols]
        dx = 0
        if shift_px:
            lo, hi = _slack(scene.plan(view), spec.size[0])
            dx = _bounce(f, shift_px, -lo, hi)
        yield scene.render(order, offsets, noise, rng, f, view=view, speaker=speaker, shift=(dx, 0))

"""Synthetic gallery generator: layout, ground truth, determinism, video, fallbacks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from script_loader import load_script

from fer_overlay.synth import (
    FaceBank,
    GallerySpec,
    GalleryTruth,
    Style,
    TileKind,
    gallery_frames,
    make_gallery,
    plan_grid,
)
from fer_overlay.synth import faces as synth_faces
from fer_overlay.synth import text as synth_text
from fer_overlay.types import Emotion

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}


@pytest.fixture(scope="module")
def bank() -> FaceBank:
    # insightface's samples ship with the package, so most tests need no shared data.
    return FaceBank.from_insightface()


def _separated(a: tuple[int, int, int, int], b: tuple[int, int, int, int], gap: int) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax + aw + gap <= bx or bx + bw + gap <= ax or ay + ah + gap <= by or by + bh + gap <= ay


def _check_layout(image: np.ndarray, truth: GalleryTruth) -> None:
    h, w = image.shape[:2]
    assert image.dtype == np.uint8 and image.shape == (h, w, 3)
    assert truth.size == (w, h)
    assert [t.index for t in truth.tiles] == list(range(len(truth.tiles)))
    for t in truth.tiles:
        x, y, tw, th = t.rect
        assert x >= 0 and y >= 0 and x + tw <= w and y + th <= h
        assert (tw, th) == truth.tile_size
    assert abs(truth.tile_size[0] / truth.tile_size[1] - 16 / 9) < 0.02
    rects = [t.rect for t in truth.tiles]
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert _separated(a, b, truth.gap), (a, b)
    for t in truth.tiles:
        if t.kind is TileKind.FACE:
            x1, y1, x2, y2 = t.face_xyxy
            tx1, ty1, tx2, ty2 = t.xyxy
            assert tx1 <= x1 < x2 <= tx2 and ty1 <= y1 < y2 <= ty2, (t.face_xyxy, t.xyxy)
        else:
            assert t.face_xyxy is None and t.emotion is None and t.source is None


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize(("participants", "grid"), [(4, (2, 2)), (9, (3, 3)), (25, (5, 5)), (49, (7, 7))])
def test_grid_sizes(bank: FaceBank, participants: int, grid: tuple[int, int], size: tuple[int, int]) -> None:
    image, truth = make_gallery(GallerySpec(participants, size, seed=participants), bank)
    assert len(truth.tiles) == participants
    assert truth.grid == grid
    _check_layout(image, truth)
    # The gap between the first two tiles is the app's flat background.
    x, y, tw, th = truth.tiles[0].rect
    assert tuple(image[y + th // 2, x + tw + truth.gap // 2]) == truth.background


@pytest.mark.parametrize("style", list(Style))
def test_styles_with_slides(bank: FaceBank, style: Style) -> None:
    spec = GallerySpec(14, (1280, 720), style, camera_off=0.3, slides=2, seed=5)
    image, truth = make_gallery(spec, bank)
    _check_layout(image, truth)
    assert truth.style is style
    slides = [t for t in truth.tiles if t.kind is TileKind.SLIDE]
    assert len(slides) == 2 and all(t.name is None and t.display_name is None for t in slides)
    assert {t.participant for t in slides} == {14, 15}
    # Uneven counts centre the last row, as Zoom does.
    last_row = [t.rect for t in truth.tiles[truth.grid[1] * (truth.grid[0] - 1) :]]
    left, right = last_row[0][0], spec.size[0] - (last_row[-1][0] + last_row[-1][2])
    assert abs(left - right) <= 1


def test_any_size_and_grid_rules() -> None:
    grid = plan_grid(7, (1000, 800), Style.ZOOM, chrome=False)
    assert len(grid.rects) == 7 and grid.rows * grid.cols >= 7
    # Two people sit side by side on a wide screen; three make a 2x2 with a centred last row.
    assert (plan_grid(2, (1920, 1080)).rows, plan_grid(2, (1920, 1080)).cols) == (1, 2)
    assert (plan_grid(3, (1920, 1080)).rows, plan_grid(3, (1920, 1080)).cols) == (2, 2)


def test_deterministic_by_seed(bank: FaceBank) -> None:
    spec = GallerySpec(12, (1280, 720), Style.TEAMS, seed=7)
    a, ta = make_gallery(spec, bank)
    b, tb = make_gallery(spec, bank)
    assert np.array_equal(a, b) and ta == tb
    c, tc = make_gallery(GallerySpec(12, (1280, 720), Style.TEAMS, seed=8), bank)
    assert not np.array_equal(a, c)
    assert [t.name for t in ta.tiles] != [t.name for t in tc.tiles]


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.5, 1.0])
def test_camera_off_count(bank: FaceBank, fraction: float) -> None:
    spec = GallerySpec(20, (1280, 720), Style.MEET, camera_off=fraction, seed=1)
    _, truth = make_gallery(spec, bank)
    off = [t for t in truth.tiles if t.kind is TileKind.CAMERA_OFF]
    assert len(off) == round(fraction * 20) == spec.camera_off_count
    assert len(truth.faces) == 20 - len(off)
    assert all(t.display_name for t in off)


def test_face_size_and_names(bank: FaceBank) -> None:
    _, truth = make_gallery(GallerySpec(49, (1920, 1080), camera_off=0.0, seed=3), bank)
    th = truth.tile_size[1]
    for t in truth.faces:
        _, y1, _, y2 = t.face_xyxy
        assert 0.24 * th <= y2 - y1 <= 0.46 * th
    clean = [t.name for t in truth.tiles]
    assert len(set(clean)) == len(clean) and all(n and len(n.split()) >= 2 for n in clean)
    for t in truth.tiles:
        assert t.display_name.startswith(t.name) or t.display_name.endswith("...")
    assert any(t.display_name != t.name for t in truth.tiles), "some labels carry suffixes like (Host)"
    # More tiles than photos: photos repeat, but each copy is flipped / relit / rescaled.
    assert len({t.source for t in truth.faces}) == len(bank) < len(truth.faces)
    assert len({t.face_xyxy[3] - t.face_xyxy[1] for t in truth.faces}) > len(bank)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"participants": 0}, "participants"),
        ({"participants": 50}, "participants"),
        ({"participants": 4.0}, "participants"),
        ({"participants": True}, "participants"),
        ({"size": (1920,)}, "size"),
        ({"size": (10, 10)}, "size"),
        ({"size": "1920x1080"}, "size"),
        ({"size": (1920.5, 1080)}, "size"),
        ({"participants": 49, "size": (200, 120)}, "size"),
        ({"style": "webex"}, "style"),
        ({"camera_off": 1.5}, "camera_off"),
        ({"camera_off": -0.1}, "camera_off"),
        ({"camera_off": "0.1"}, "camera_off"),
        ({"slides": -1}, "slides"),
        ({"participants": 40, "slides": 10}, "slides"),
        ({"seed": "1"}, "seed"),
        ({"seed": -1}, "seed"),
    ],
)
def test_spec_validation_names_field(kwargs: dict, field: str) -> None:
    args = {"participants": 4, **kwargs}
    with pytest.raises(ValueError, match=field):
        GallerySpec(**args)


def test_spec_coerces_style_and_size() -> None:
    spec = GallerySpec(4, [1280, 720], "meet")  # type: ignore[arg-type]
    assert spec.style is Style.MEET and spec.size == (1280, 720)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"n_frames": -1}, "n_frames"), ({"reorder_every": 0}, "reorder_every"), ({"jitter_px": -1}, "jitter_px"),
     ({"noise": -1.0}, "noise")],
)
def test_frames_validation(kwargs: dict, field: str) -> None:
    args = {"n_frames": 2, **kwargs}
    with pytest.raises(ValueError, match=field):
        gallery_frames(GallerySpec(4), **args)


def test_frames_reorder_keeps_participants(bank: FaceBank) -> None:
    spec = GallerySpec(9, (1280, 720), Style.ZOOM, camera_off=0.2, seed=2)
    frames = list(gallery_frames(spec, 9, reorder_every=2, jitter_px=2, noise=2.0, seed=4, faces=bank))
    assert [t.frame for _, t in frames] == list(range(9))
    first = frames[0][1]
    by_id = {t.participant: t for t in first.tiles}
    moved = 0
    for image, truth in frames:
        assert sorted(t.participant for t in truth.tiles) == list(range(9))
        assert [t.rect for t in truth.tiles] == [t.rect for t in first.tiles]  # tiles stay, people move
        for t in truth.tiles:
            ref = by_id[t.participant]
            assert (t.kind, t.name, t.display_name, t.source, t.emotion) == (
                ref.kind, ref.name, ref.display_name, ref.source, ref.emotion)
            moved += t.index != ref.index
            if t.kind is TileKind.FACE:
                # Heads drift by at most jitter_px.
                dx, dy = (t.face_xyxy[0] - t.rect[0]) - (ref.face_xyxy[0] - ref.rect[0]), (
                    t.face_xyxy[1] - t.rect[1]) - (ref.face_xyxy[1] - ref.rect[1])
                assert abs(dx) <= 2 + 1e-6 and abs(dy) <= 2 + 1e-6
        # The pixels follow the truth: each tile looks like the same person's tile in frame 0.
        for t in truth.tiles:
            x, y, w, h = t.rect
            rx, ry, _, _ = by_id[t.participant].rect
            here = image[y : y + h, x : x + w].astype(np.int16)
            there = frames[0][0][ry : ry + h, rx : rx + w].astype(np.int16)
            assert np.abs(here - there).mean() < 12
    assert moved > 0, "reorders must move someone"


def test_frames_noise_and_identity(bank: FaceBank) -> None:
    spec = GallerySpec(6, (1280, 720), Style.MEET, seed=1)
    image, truth = make_gallery(spec, bank)
    (still, still_truth), = gallery_frames(spec, 1, jitter_px=0, noise=0.0, faces=bank)
    assert np.array_equal(image, still) and still_truth == truth
    frames = list(gallery_frames(spec, 3, noise=3.0, seed=9, faces=bank))
    a, b = frames[1][0], frames[2][0]
    assert not np.array_equal(a, b)
    # Noise is in the video only: the app background between tiles stays flat.
    x, y, w, h = truth.tiles[0].rect
    assert (a[y : y + h, x + w + 1] == truth.background).all()


def test_insightface_fallback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FER_OVERLAY_SHARED", str(tmp_path / "absent"))
    synth_faces._default_bank.cache_clear()
    try:
        bank = FaceBank.default()
        assert len(bank) == 7 and "insightface" in bank.source
        photos = [bank[i] for i in range(len(bank))]
        assert all(p.emotion is None and p.image.ndim == 3 and not p.image.flags.writeable for p in photos)
        assert "t1.jpg#0" in bank.image_ids
        _, truth = make_gallery(GallerySpec(9, (1280, 720), camera_off=0.0))
        assert len(truth.faces) == 9 and all(t.emotion is None for t in truth.faces)
    finally:
        synth_faces._default_bank.cache_clear()


def test_hershey_fallback(bank: FaceBank, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth_text, "truetype_available", lambda: False)
    assert synth_text.drawable("Thomas Müller") == "Thomas Muller"
    image, truth = make_gallery(GallerySpec(16, (1280, 720), Style.TEAMS, seed=4), bank)
    _check_layout(image, truth)
    assert all(t.display_name.isascii() for t in truth.tiles)


def test_truth_round_trips_through_json(bank: FaceBank) -> None:
    _, truth = make_gallery(GallerySpec(9, (1280, 720), slides=1, camera_off=0.2, seed=2), bank)
    again = GalleryTruth.from_dict(json.loads(json.dumps(truth.to_dict())))
    assert again == truth
    assert truth.face_boxes().shape == (len(truth.faces), 4)
    assert truth.participant(3).participant == 3


def test_shared_faces(faces_dir: Path) -> None:
    bank = FaceBank.from_dir(faces_dir)
    with (faces_dir / "labels.csv").open(newline="") as f:
        labels = {r["image"]: r["emotion"] for r in csv.DictReader(f)}
    assert 0 < len(bank) <= len(labels)
    _, truth = make_gallery(GallerySpec(25, (1920, 1080), camera_off=0.0, seed=11), bank)
    for t in truth.faces:
        assert t.emotion is Emotion(labels[t.source])
    assert all(min(bank[i].image.shape[:2]) >= 48 for i in range(0, len(bank), 25))


def test_make_gallery_script(tmp_path: Path) -> None:
    module = load_script("make_gallery")
    out = tmp_path / "g.png"
    rc = module.main([str(out), "--participants", "5", "--size", "640x360", "--style", "teams", "--insightface",
                      "--video", str(tmp_path / "v.mp4"), "--frames", "3", "--reorder-every", "1"])
    assert rc == 0 and out.is_file() and (tmp_path / "v.mp4").stat().st_size > 0
    record = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert GalleryTruth.from_dict(record["gallery"]).grid == (2, 3)
    assert len(record["video"]["frames"]) == 3
    assert module.main([str(out), "--participants", "99", "--insightface"]) == 2


@pytest.mark.slow
def test_faces_are_detectable(bank: FaceBank) -> None:
    """CenterFace (the app's detector) finds the faces where the truth says they are."""
    from fer_overlay.analysis.detect import CenterFace

    det = CenterFace(threads=1)
    image, truth = make_gallery(GallerySpec(9, (1280, 720), camera_off=0.2, slides=1, seed=0), bank)
    hits = 0
    for t in truth.tiles:
        x, y, w, h = t.rect
        found = det.detect(image[y : y + h, x : x + w]).xyxy + np.array([x, y, x, y], np.float32)
        if t.kind is not TileKind.FACE:
            assert len(found) == 0, f"{t.kind.value} tile {t.index} produced a face"
            continue
        gt = np.array(t.face_xyxy, np.float32)
        inter = np.clip(np.minimum(found[:, 2:], gt[2:]) - np.maximum(found[:, :2], gt[:2]), 0, None).prod(axis=1)
        union = (found[:, 2:] - found[:, :2]).prod(axis=1) + (gt[2:] - gt[:2]).prod() - inter
        hits += bool(len(found)) and float((inter / union).max()) >= 0.5
    assert hits == len(truth.faces)  # every face (7 of 7 measured; the README promises all)

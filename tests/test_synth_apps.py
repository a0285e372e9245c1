"""Real-app galleries from the generator: every app, view and theme, with consistent ground truth.

Each test checks what a scorer relies on: tiles on the screen and apart (only the self-view
floats over them), labels and faces inside their own tile, the kinds (live face, profile
photo, initials, black video, self-view), round avatars where the app draws them round,
compression that changes pixels but never the truth, and determinism by seed.
"""

from __future__ import annotations

import json
from itertools import product

import cv2
import numpy as np
import pytest
from script_loader import load_script

from fer_overlay.synth import (
    Codec,
    Compression,
    FaceBank,
    Fidelity,
    GallerySpec,
    GalleryTruth,
    Strip,
    Style,
    Theme,
    TileKind,
    View,
    compress,
    gallery_frames,
    make_gallery,
)
from fer_overlay.synth.compress import ffmpeg_available

PEOPLE = {View.GRID: 12, View.SPEAKER: 7, View.SHARE: 6, View.SIDE_BY_SIDE: 9}


@pytest.fixture(scope="module")
def bank() -> FaceBank:
    # insightface's samples ship with the package, so these tests need no shared data.
    return FaceBank.from_insightface()


def _inside(inner: tuple[float, ...], outer: tuple[float, ...]) -> bool:
    return outer[0] <= inner[0] < inner[2] <= outer[2] and outer[1] <= inner[1] < inner[3] <= outer[3]


def _xyxy(r: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    return r[0], r[1], r[0] + r[2], r[1] + r[3]


def _intersect(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> int:
    ax1, ay1, ax2, ay2 = _xyxy(a)
    bx1, by1, bx2, by2 = _xyxy(b)
    return max(0, min(ax2, bx2) - max(ax1, bx1)) * max(0, min(ay2, by2) - max(ay1, by1))


def check_truth(image: np.ndarray, truth: GalleryTruth, spec: GallerySpec) -> None:
    h, w = image.shape[:2]
    assert image.dtype == np.uint8 and image.shape == (h, w, 3) and truth.size == (w, h) == spec.size
    assert [t.index for t in truth.tiles] == list(range(len(truth.tiles)))
    screen = (0, 0, w, h)
    selfviews = [t for t in truth.tiles if t.kind is TileKind.SELFVIEW]
    assert len(selfviews) == (1 if spec.selfview else 0)
    tiles = [t for t in truth.tiles if t.kind is not TileKind.SELFVIEW]
    assert len({t.participant for t in truth.tiles}) == len(truth.tiles)
    for t in truth.tiles:
        assert _inside(t.xyxy, screen), t.rect
        if t.label_rect is not None:
            assert t.display_name and _inside(t.label_xyxy, t.xyxy), (t.label_rect, t.rect)
        if t.kind in (TileKind.FACE, TileKind.AVATAR, TileKind.SELFVIEW):
            assert t.face_xyxy is not None and _inside(t.face_xyxy, t.xyxy), (t.kind, t.face_xyxy, t.rect)
            assert t.source is not None
        else:
            assert t.face_xyxy is None and t.source is None
        if t.kind is not TileKind.FACE and t.kind is not TileKind.SELFVIEW:
            assert t.emotion is None  # a profile photo has no mood
        if t.kind is TileKind.SLIDE:
            assert t.display_name is None and t.name is None
        elif t.kind is TileKind.SELFVIEW:
            assert t.name  # Zoom labels your own video, Meet and Teams do not
            assert (t.display_name is not None) == (spec.style is Style.ZOOM)
        else:
            assert t.name and t.display_name
    for i, a in enumerate(tiles):
        for b in tiles[i + 1 :]:
            assert _intersect(a.rect, b.rect) == 0, (a.rect, b.rect)
    if truth.share is not None:
        assert _inside(_xyxy(truth.share), screen)
        assert all(_intersect(truth.share, t.rect) == 0 for t in tiles)
    assert (truth.share is not None) == (truth.view in (View.SHARE, View.SIDE_BY_SIDE))
    assert sum(t.speaking for t in truth.tiles) <= 1
    for sv in selfviews:
        # What the inset covers is recorded on the tiles beneath it.
        for t in tiles:
            if t.face_xyxy is not None and t.hidden == 0.0:
                fx1, fy1, fx2, fy2 = t.face_xyxy
                sx1, sy1, sx2, sy2 = sv.xyxy
                assert min(fx2, sx2) <= max(fx1, sx1) or min(fy2, sy2) <= max(fy1, sy1)


def _avatar_fill(image: np.ndarray, t, colour: tuple[int, int, int]) -> float:
    """Of the avatar's bounding square, the fraction it fills (a circle: pi/4)."""
    x, y, w, h = t.rect
    top = t.label_rect[1] - y if t.label_rect else h
    region = image[y + round(0.15 * h) : y + top - 2, x + round(0.2 * w) : x + round(0.8 * w)].astype(np.int16)
    mask = np.abs(region - np.array(colour, np.int16)).max(axis=2) > 6
    # The avatar is the largest blob; a label box or mute badge may also be in the region.
    n, comp, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    assert n > 1, "no avatar drawn"
    mask = comp == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    ys, xs = np.nonzero(mask)
    box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    return float(mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].sum() / box)


@pytest.mark.parametrize(("style", "view", "theme"), list(product(Style, View, Theme)),
                         ids=lambda v: v.value)
def test_apps_views_themes(bank: FaceBank, style: Style, view: View, theme: Theme) -> None:
    spec = GallerySpec.realistic(PEOPLE[view], (1280, 720), style, view=view, theme=theme, seed=4)
    image, truth = make_gallery(spec, bank)
    check_truth(image, truth, spec)
    assert truth.view is view and truth.theme is theme and truth.style is style
    look = spec.look
    assert truth.background == look.background
    kinds = {t.kind for t in truth.tiles}
    assert TileKind.FACE in kinds and TileKind.SELFVIEW in kinds
    if view is View.SPEAKER:
        stage = truth.tiles[0]
        assert stage.speaking and stage.rect[2] > 2 * truth.tile_size[0]
    sv = truth.selfview
    for t in truth.tiles:
        if sv is not None and _intersect(t.rect, sv.rect):
            continue  # partly under the self-view
        if t.kind in (TileKind.AVATAR, TileKind.CAMERA_OFF) and t.rect[3] >= 80:
            if style is Style.ZOOM and t.kind is TileKind.CAMERA_OFF:
                continue  # Zoom writes the name, no avatar
            fill = _avatar_fill(image, t, look.camera_off_tile)
            if style is Style.ZOOM:
                assert fill > 0.9, f"Zoom's profile photo is a rounded square, filled {fill:.2f}"
            else:
                assert 0.72 < fill < 0.84, f"{style.value} avatars are round, filled {fill:.2f}"


@pytest.mark.parametrize("style", list(Style))
def test_every_tile_kind_and_labels(bank: FaceBank, style: Style) -> None:
    spec = GallerySpec.realistic(16, (1920, 1080), style, camera_off=0.25, avatar_photos=0.5, empty=0.1,
                                 duplicate_labels=2, slides=1, seed=2)
    image, truth = make_gallery(spec, bank)
    check_truth(image, truth, spec)
    count = {k: sum(t.kind is k for t in truth.tiles) for k in TileKind}
    assert count[TileKind.AVATAR] == 2 and count[TileKind.CAMERA_OFF] == 2 and count[TileKind.EMPTY] == 2
    assert count[TileKind.SLIDE] == 1 and count[TileKind.SELFVIEW] == 1
    assert count[TileKind.FACE] == 16 - 6
    assert [t.display_name for t in truth.tiles].count("iPhone") == 2
    assert truth.speaker is not None and truth.speaker.kind is TileKind.FACE
    # The active speaker's outline is the app's colour, on the tile's edge.
    sp = truth.speaker
    x, y, _, h = sp.rect
    edge = image[y + h // 2, x + 1].astype(int)
    assert np.abs(edge - np.array(spec.look.speaker)).max() < 40
    # The label is drawn where the truth says: light glyphs in the box, bright enough to read.
    for t in truth.tiles:
        if t.label_rect is None or t.label_hidden:
            continue
        lx, ly, lw, lh = t.label_rect
        patch = image[ly : ly + lh, lx : lx + lw]
        if t.kind in (TileKind.CAMERA_OFF, TileKind.AVATAR) and spec.theme is Theme.LIGHT:
            continue
        assert patch.max() > 200, (t.display_name, t.kind)
    # Live faces sit at several distances: 20-60% of the tile height.
    heights = [(t.face_xyxy[3] - t.face_xyxy[1]) / t.rect[3] for t in truth.faces]
    assert min(heights) >= 0.19 and max(heights) <= 0.61


def test_avatar_faces_are_marked_and_have_no_emotion(bank: FaceBank) -> None:
    spec = GallerySpec.realistic(9, (1280, 720), Style.TEAMS, camera_off=0.5, avatar_photos=1.0, seed=1)
    _, truth = make_gallery(spec, bank)
    avatars = truth.avatars
    assert len(avatars) == round(0.5 * 9) and all(t.face_xyxy and t.emotion is None for t in avatars)
    assert len(truth.face_boxes()) == len(truth.faces)
    assert len(truth.face_boxes((TileKind.FACE, TileKind.AVATAR, TileKind.SELFVIEW))) == len(truth.tiles)
    assert truth.selfview is not None and truth.selfview.name not in {t.name for t in truth.faces}


@pytest.mark.parametrize("strip", list(Strip))
@pytest.mark.parametrize("view", [View.SPEAKER, View.SHARE])
def test_strips(bank: FaceBank, view: View, strip: Strip) -> None:
    spec = GallerySpec.realistic(20, (1920, 1080), Style.ZOOM, view=view, strip=strip, seed=3)
    image, truth = make_gallery(spec, bank)
    check_truth(image, truth, spec)
    thumbs = [t for t in truth.tiles if t.kind is not TileKind.SELFVIEW][1 if view is View.SPEAKER else 0 :]
    assert 1 <= len(thumbs) <= 8, "a strip shows what fits; the app pages the rest"
    xs, ys = {t.rect[0] for t in thumbs}, {t.rect[1] for t in thumbs}
    assert (len(xs) == 1) if strip is Strip.RIGHT else (len(ys) == 1)
    if strip is Strip.RIGHT:
        assert min(xs) > spec.size[0] * 0.7
    else:
        assert max(ys) < spec.size[1] * 0.3


@pytest.mark.parametrize("size", [(1280, 720), (2560, 1440), (3840, 2160)], ids=["720p", "1440p", "4k"])
def test_screen_sizes(bank: FaceBank, size: tuple[int, int]) -> None:
    spec = GallerySpec.realistic(25, size, Style.MEET, seed=5)
    image, truth = make_gallery(spec, bank)
    check_truth(image, truth, spec)
    # UI text scales with the screen as desktop scaling does.
    heights = {t.label_rect[3] for t in truth.tiles if t.label_rect}
    assert max(heights) >= 10 * size[1] / 1080 * 0.8


@pytest.mark.parametrize("compression", [Compression(Codec.JPEG, 60), Compression(Codec.JPEG, 95),
                                         Compression(Codec.BLOCKY, 70), Compression(Codec.H264, 30)],
                         ids=["jpeg60", "jpeg95", "blocky70", "h264crf30"])
def test_compression_changes_pixels_not_truth(bank: FaceBank, compression: Compression) -> None:
    if compression.codec is Codec.H264 and not ffmpeg_available():
        pytest.skip("ffmpeg not installed")
    clean = GallerySpec.realistic(9, (1280, 720), Style.ZOOM, seed=6)
    lossy = GallerySpec.realistic(9, (1280, 720), Style.ZOOM, seed=6, compression=compression)
    a, ta = make_gallery(clean, bank)
    b, tb = make_gallery(lossy, bank)
    assert ta == tb
    diff = np.abs(a.astype(np.int16) - b)
    assert diff.max() > 0 and diff.mean() < 8, diff.mean()
    assert np.array_equal(b, compress(a, compression)) or compression.codec is Codec.H264


def test_compression_validation() -> None:
    with pytest.raises(ValueError, match="quality"):
        Compression(Codec.JPEG, 0)
    with pytest.raises(ValueError, match="quality"):
        Compression(Codec.H264, 60)
    with pytest.raises(ValueError, match="codec"):
        Compression("png", 50)  # type: ignore[arg-type]
    assert Compression.parse("jpeg:75") == Compression(Codec.JPEG, 75)
    assert Compression.parse("none").codec is Codec.NONE


def test_deterministic_by_seed(bank: FaceBank) -> None:
    spec = GallerySpec.realistic(12, (1280, 720), Style.TEAMS, view=View.SHARE, seed=7)
    a, ta = make_gallery(spec, bank)
    b, tb = make_gallery(spec, bank)
    assert np.array_equal(a, b) and ta == tb
    c, tc = make_gallery(GallerySpec.realistic(12, (1280, 720), Style.TEAMS, view=View.SHARE, seed=8), bank)
    assert not np.array_equal(a, c) and [t.name for t in ta.tiles] != [t.name for t in tc.tiles]


def test_basic_and_real_share_people(bank: FaceBank) -> None:
    """The same seed gives the same class in either fidelity: names, who has the camera off."""
    basic = make_gallery(GallerySpec(9, (1280, 720), Style.MEET, camera_off=0.3, seed=3), bank)[1]
    real = make_gallery(GallerySpec(9, (1280, 720), Style.MEET, camera_off=0.3, seed=3,
                                    fidelity=Fidelity.REAL), bank)[1]
    assert [(t.name, t.kind) for t in basic.tiles] == [(t.name, t.kind) for t in real.tiles]


def test_truth_round_trips_through_json(bank: FaceBank) -> None:
    spec = GallerySpec.realistic(8, (1280, 720), Style.MEET, view=View.SIDE_BY_SIDE, empty=0.2, seed=2)
    _, truth = make_gallery(spec, bank)
    again = GalleryTruth.from_dict(json.loads(json.dumps(truth.to_dict())))
    assert again == truth and again.share == truth.share and again.view is View.SIDE_BY_SIDE


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"view": "carousel"}, "view"), ({"theme": "sepia"}, "theme"), ({"strip": "left"}, "strip"),
     ({"fidelity": "max"}, "fidelity"), ({"avatar_photos": 1.5}, "avatar_photos"), ({"empty": -0.1}, "empty"),
     ({"camera_off": 0.8, "empty": 0.5}, "empty"), ({"duplicate_labels": 1}, "duplicate_labels"),
     ({"duplicate_labels": 9}, "duplicate_labels"), ({"selfview": 1}, "selfview"),
     ({"active_speaker": "yes"}, "active_speaker"), ({"compression": "jpeg"}, "compression")],
)
def test_new_fields_validated(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        GallerySpec(4, **kwargs)


def test_video_reorders_scrolls_shifts_and_switches_view(bank: FaceBank) -> None:
    spec = GallerySpec.realistic(9, (1280, 720), Style.ZOOM, camera_off=0.0, avatar_photos=0.0, seed=1)
    frames = list(gallery_frames(spec, 12, reorder_every=3, speaker_every=4, scroll_every=5, shift_px=6,
                                 views={8: View.SPEAKER}, seed=2, faces=bank))
    assert [t.frame for _, t in frames] == list(range(12))
    first = frames[0][1]
    names = {t.participant: t.name for t in first.tiles}
    speakers, xs = set(), set()
    for image, truth in frames:
        check_truth(image, truth, spec)
        assert all(names[t.participant] == t.name for t in truth.tiles)  # the same people throughout
        assert truth.view is (View.SPEAKER if truth.frame >= 8 else View.GRID)
        if truth.view is View.GRID:
            assert len(truth.tiles) == len(names)  # a strip shows only what fits
        if truth.speaker:
            speakers.add(truth.speaker.participant)
        xs.add(min(t.rect[0] for t in truth.tiles if t.kind is not TileKind.SELFVIEW))
    assert len(speakers) >= 2, "the active speaker changes"
    assert len(xs) >= 3, "the gallery shifts sideways"
    # Tiles move by the shift, people stay in their tiles between reorders.
    a, b = frames[0][1], frames[1][1]
    dx = b.tiles[0].rect[0] - a.tiles[0].rect[0]
    assert dx == 6 and all(tb.rect[0] - ta.rect[0] == dx for ta, tb in zip(a.tiles[:-1], b.tiles[:-1]))
    # The pixels follow the truth: a shifted tile shows what it showed before.
    t0, t1 = a.tiles[1], b.tiles[1]
    x0, y0, w, h = t0.rect
    x1, y1 = t1.rect[:2]
    here, there = frames[1][0][y1 : y1 + h, x1 : x1 + w].astype(np.int16), frames[0][0][y0 : y0 + h, x0 : x0 + w]
    assert np.abs(here - there).mean() < 12


def test_video_compression_is_per_clip(bank: FaceBank) -> None:
    if not ffmpeg_available():
        pytest.skip("ffmpeg not installed")
    spec = GallerySpec.realistic(4, (640, 360), Style.MEET, seed=3, compression=Compression(Codec.H264, 28))
    clean = GallerySpec.realistic(4, (640, 360), Style.MEET, seed=3)
    lossy = list(gallery_frames(spec, 4, seed=1, faces=bank))
    plain = list(gallery_frames(clean, 4, seed=1, faces=bank))
    assert [t for _, t in lossy] == [t for _, t in plain]
    assert all(0 < np.abs(a.astype(np.int16) - b).mean() < 8 for (a, _), (b, _) in zip(lossy, plain))


@pytest.mark.slow
@pytest.mark.parametrize("style", list(Style))
def test_real_faces_are_detectable(bank: FaceBank, style: Style) -> None:
    """CenterFace finds the live faces where the truth says, in the real looks too."""
    from fer_overlay.analysis.detect import CenterFace

    det = CenterFace(threads=1)
    spec = GallerySpec.realistic(9, (1920, 1080), style, camera_off=0.0, seed=11)
    image, truth = make_gallery(spec, bank)
    hits = 0
    for t in truth.faces:
        x, y, w, h = t.rect
        found = det.detect(image[y : y + h, x : x + w]).xyxy + np.array([x, y, x, y], np.float32)
        gt = np.array(t.face_xyxy, np.float32)
        inter = np.clip(np.minimum(found[:, 2:], gt[2:]) - np.maximum(found[:, :2], gt[:2]), 0, None).prod(axis=1)
        union = (found[:, 2:] - found[:, :2]).prod(axis=1) + (gt[2:] - gt[:2]).prod() - inter
        hits += bool(len(found)) and float((inter / union).max()) >= 0.4
    assert hits >= 0.8 * len(truth.faces)


def test_make_gallery_script_options(tmp_path) -> None:
    module = load_script("make_gallery")
    out = tmp_path / "g.png"
    rc = module.main([str(out), "--participants", "6", "--size", "960x540", "--style", "meet", "--insightface",
                      "--realistic", "--view", "speaker", "--strip", "top", "--theme", "light", "--compression",
                      "jpeg:80", "--video", str(tmp_path / "v.mp4"), "--frames", "4", "--speaker-every", "2",
                      "--switch-view", "2:grid"])
    assert rc == 0
    record = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert record["spec"]["fidelity"] == "real" and record["spec"]["compression"] == {"codec": "jpeg", "quality": 80}
    truth = GalleryTruth.from_dict(record["gallery"])
    assert truth.view is View.SPEAKER and truth.theme is Theme.LIGHT and truth.selfview is not None
    assert [f["view"] for f in record["video"]["frames"]] == ["speaker", "speaker", "grid", "grid"]
    with pytest.raises(SystemExit):  # argparse rejects an unknown codec
        module.parse_args([str(out), "--compression", "gif:3"])
    assert module.main([str(out), "--insightface", "--participants", "4", "--duplicate-labels", "1"]) == 2

"""Names on tiles: normalisation, OCR on generated tiles, identity through gallery reorders,
anonymous mode and the opt-out list, with the real rapidocr recogniser and real ONNX models."""

from __future__ import annotations

import numpy as np
import pytest

from fer_overlay.identity import IdentityOptions, IdentityTracker, student_key
from fer_overlay.insight import ClassInsight, InsightOptions
from fer_overlay.layout import find_layout
from fer_overlay.mood import class_mood
from fer_overlay.names import normalise
from fer_overlay.ocr import NameReader, OcrOptions
from fer_overlay.pipeline import GalleryPipeline, PipelineOptions, RunningMode
from fer_overlay.synth import GallerySpec, Style, TileKind, gallery_frames, make_gallery
from fer_overlay.types import Frame


@pytest.mark.parametrize(("raw", "display", "key"), [
    ("Maria López (Host)", "Maria López", "maria lopez"),
    ("  JAMAL   ROBINSON  ", "Jamal Robinson", "jamal robinson"),
    ("Aisha Khan (they/them)", "Aisha Khan", "aisha khan"),
    ("Kofi Mensah she/her", "Kofi Mensah", "kofi mensah"),
    ("Patrick Byrne | Room 12", "Patrick Byrne", "patrick byrne"),
    ("Patrick Byrne l Room 12", "Patrick Byrne", "patrick byrne"),  # OCR read the bar as "l"
    ("Tanvi Joshi (Guest)", "Tanvi Joshi", "tanvi joshi"),
    ("Nikhil Rao (Co-host)", "Nikhil Rao", "nikhil rao"),
    ("Ryan O’Neil", "Ryan O'Neil", "ryan oneil"),
    ("JavierMorales", "Javier Morales", "javier morales"),  # the recogniser dropped a narrow space
    ("Ronald McDonald", "Ronald McDonald", "ronald mcdonald"),
])
def test_normalise_strips_what_meeting_apps_add(raw: str, display: str, key: str) -> None:
    name = normalise(raw)
    assert name is not None and (name.display, name.key, name.cut) == (display, key, False)


def test_normalise_marks_cut_names_and_rejects_non_names() -> None:
    cut = normalise("Alexandra Papadopou...")
    assert cut is not None and cut.cut and cut.key == "alexandra papadopou"
    whole = normalise("Ann Lee | Roo...")  # only the room suffix was cut: the name is whole
    assert whole is not None and not whole.cut and whole.key == "ann lee"
    for junk in (None, "", "  ", "(Host)", "|", "12", "x"):
        assert normalise(junk) is None, junk
    assert student_key("Maria López (Host)", 7) == "maria lopez"
    assert student_key(None, 7) == student_key("(Host)", 7) == "track-7"


@pytest.fixture(scope="module")
def reader() -> NameReader:
    r = NameReader(OcrOptions())
    r.load()
    return r


@pytest.mark.parametrize("style", list(Style))
def test_ocr_reads_generated_tile_labels(reader: NameReader, style: Style) -> None:
    image, truth = make_gallery(GallerySpec(participants=25, size=(1920, 1080), style=style, seed=3, camera_off=0.2))
    layout = find_layout(image)
    assert len(layout.tiles) == len(truth.tiles)
    by_pos = sorted(layout.tiles, key=lambda t: (t.y // 8, t.x))
    truths = sorted(truth.tiles, key=lambda t: (t.rect[1] // 8, t.rect[0]))
    readings = reader.read_tiles([t.crop(image) for t in by_pos], [tt.kind is TileKind.FACE for tt in truths])
    right = [bool(r and r.name and r.name.key == normalise(tt.name).key) for r, tt in zip(readings, truths)]
    assert sum(right) >= 0.95 * len(right), [(tt.display_name, r and r.raw) for r, tt, ok in
                                             zip(readings, truths, right) if not ok]


def test_unreadable_label_gives_no_name(reader: NameReader) -> None:
    blank = np.full((216, 384, 3), 40, np.uint8)
    noise = np.random.default_rng(0).integers(0, 255, (216, 384, 3), dtype=np.uint8)
    assert all(r is None or r.name is None for r in reader.read_tiles([blank, noise], [True, False]))
    assert reader.read_tiles([], []) == []


def run_video(pipeline: GalleryPipeline, spec: GallerySpec, n: int, reorder_every: int):
    insight = ClassInsight(InsightOptions())
    out = []
    for i, (image, truth) in enumerate(gallery_frames(spec, n, reorder_every=reorder_every, seed=1)):
        analysis = pipeline.process(Frame(image, index=i, timestamp=i * 0.25))
        insight.add(analysis, class_mood(analysis.faces, analysis.layout, analysis.timestamp))
        out.append((analysis, truth))
    rows = [row for _, students in insight.flush() for row in students]
    return out, insight, rows


@pytest.fixture(scope="module")
def named_pipeline() -> GalleryPipeline:
    return GalleryPipeline.create(PipelineOptions(mode=RunningMode.VIDEO, detect_every=2),
                                  identity=IdentityOptions(reread_s=60))


def test_students_keep_one_history_through_gallery_reorders(named_pipeline: GalleryPipeline) -> None:
    spec = GallerySpec(participants=9, size=(1280, 720), seed=5, camera_off=0.0)
    named_pipeline.reset()
    frames, _, rows = run_video(named_pipeline, spec, n=48, reorder_every=12)  # three reorders
    orders = {tuple(t.participant for t in truth.tiles) for _, truth in frames}
    assert len(orders) >= 4, "the video should reorder the gallery three times"
    seen: dict[int, set[str]] = {}
    right = total = 0
    for analysis, truth in frames[1:]:
        by_tile = {t.index: t for t in truth.tiles}
        for name, tile in zip(analysis.faces.name, analysis.faces.tile.tolist()):
            tt = by_tile[tile]
            key = normalise(name).key if name else None
            seen.setdefault(tt.participant, set()).add(key or "?")
            total += 1
            right += key == normalise(tt.name).key
    assert right >= 0.95 * total, f"{right}/{total} faces carried the right name"
    for participant, keys in seen.items():
        assert len(keys - {"?"}) == 1, f"participant {participant} was filed under {keys}"
    # The session record files every second under the student's name, one history each.
    names = {normalise(t.name).key for t in frames[0][1].tiles}
    recorded = {normalise(r.student).key if not r.student.startswith("track-") else r.student for r in rows}
    assert recorded == names


def test_anonymous_mode_reads_no_names() -> None:
    pipeline = GalleryPipeline.create(PipelineOptions(mode=RunningMode.VIDEO), identity=None)
    spec = GallerySpec(participants=4, size=(1280, 720), seed=2, camera_off=0.0)
    frames, _, rows = run_video(pipeline, spec, n=6, reorder_every=100)
    assert pipeline.identity is None
    assert all(name is None for analysis, _ in frames for name in analysis.faces.name)
    assert rows and all(r.student.startswith("track-") for r in rows)


def test_opted_out_students_are_neither_analysed_nor_recorded() -> None:
    spec = GallerySpec(participants=6, size=(1280, 720), seed=8, camera_off=0.0)
    _, truth = make_gallery(spec)
    opted = [t.name for t in truth.tiles if t.kind is TileKind.FACE][:2]
    pipeline = GalleryPipeline.create(PipelineOptions(mode=RunningMode.VIDEO),
                                      identity=IdentityOptions(opt_out=(opted[0].upper(), f"{opted[1]} (Host)")))
    frames, _, rows = run_video(pipeline, spec, n=8, reorder_every=100)
    blocked = {normalise(n).key for n in opted}
    last = frames[-1][0]
    assert len(last.hidden) == 2 and all(n is None for n in last.hidden.name)
    assert len(last.faces) == sum(t.kind is TileKind.FACE for t in truth.tiles) - 2
    assert not np.isfinite(last.hidden.probs).any(), "opted-out faces must not be classified"
    assert not blocked & {normalise(n).key for n in last.faces.name if n}
    assert rows and not blocked & {normalise(r.student).key for r in rows if not r.student.startswith("track-")}


def test_identity_tracker_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="tiles_per_frame"):
        IdentityOptions(tiles_per_frame=0)
    with pytest.raises(ValueError, match="label_band"):
        IdentityTracker(options=IdentityOptions(), reader=NameReader(OcrOptions(label_band=2.0)))

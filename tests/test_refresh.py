"""Detection only where something changed, and classification scheduled by value.

Pipeline tests run the real CenterFace and emotion models on generated galleries; the
schedules' own tests drive them with real thumbnails and a fake clock (frame timestamps).
No timing assertions: budgets that decide a test's outcome are given as counts.
"""

from __future__ import annotations

import numpy as np
import pytest

from fer_overlay.analysis.pipeline import GalleryPipeline, PipelineOptions, RunningMode
from fer_overlay.analysis.refresh import DetectionPolicy, Reason, RefreshOptions, TileRefresh, thumbnail
from fer_overlay.analysis.schedule import Budget, ClassifyOptions, ClassifySchedule, by_value
from fer_overlay.analysis.track import TrackerOptions, iou_matrix
from fer_overlay.synth import FaceBank, GallerySpec, TileKind, gallery_frames
from fer_overlay.synth.evaluate import IdSwitches, score_frame
from fer_overlay.synth.scene import Scene
from fer_overlay.types import Frame, Layout, LayoutKind, Tile

# A budget no tile pass can exhaust: the count cap (max_tiles) or nothing limits the tiles.
UNLIMITED_MS = 10_000.0
FPS = 10


def pipeline(refresh: RefreshOptions | None = None, **options) -> GalleryPipeline:
    opts = PipelineOptions(mode=RunningMode.VIDEO, refresh=refresh or RefreshOptions(), **options)
    return GalleryPipeline.create(opts, threads=2, identity=None)


class Video:
    """A gallery rendered frame by frame with chosen head offsets and tile order."""

    def __init__(self, spec: GallerySpec) -> None:
        self.scene = Scene(spec, FaceBank.default())
        self.order = list(range(spec.tiles))
        self.offsets = np.zeros((spec.tiles, 2), np.int64)
        self.rng = np.random.default_rng(0)
        self.index = 0

    def frame(self):
        image, truth = self.scene.render(self.order, self.offsets, 2.0, self.rng, self.index)
        frame = Frame(image, self.index, self.index / FPS)
        self.index += 1
        return frame, truth

    def tile_of(self, kind: TileKind, truth) -> int:
        return next(t.index for t in truth.tiles if t.kind is kind)


def faces_in_tile(result, tile: int) -> int:
    return int((result.faces.tile == tile).sum())


def truth_iou(result, truth, tile: int) -> float:
    box = next(t.face_xyxy for t in truth.tiles if t.index == tile)
    mine = result.faces.xyxy[result.faces.tile == tile]
    return float(iou_matrix(np.array([box], np.float32), mine).max()) if len(mine) else 0.0


# -- the tile schedule on its own -------------------------------------------------------


def grid_layout(n: int = 4) -> Layout:
    return Layout(LayoutKind.GRID, tuple(Tile(i, 100 * i, 0, 100, 100) for i in range(n)), (100 * n, 100))


def frame_with(values: list[int]) -> np.ndarray:
    """A frame whose tile i is flat grey `values[i]` (tiles are 100 px wide)."""
    image = np.zeros((100, 100 * len(values), 3), np.uint8)
    for i, v in enumerate(values):
        image[:, 100 * i : 100 * (i + 1)] = v
    return image


def test_the_schedule_puts_lost_tiles_first_then_the_most_changed_then_the_longest_unchecked():
    refresh = TileRefresh(RefreshOptions(budget_ms=UNLIMITED_MS, round_robin_s=1.0, change_threshold=3.0,
                                         thumb_width=64))
    layout = grid_layout(4)
    refresh.observe(frame_with([50, 50, 50, 50]))
    first = refresh.plan(layout, 0.0)
    assert first.everything and first.tiles == (0, 1, 2, 3)
    refresh.detected(first, 0.0)
    refresh.observe(frame_with([50, 50, 50, 50]))
    assert refresh.plan(layout, 0.5).tiles == ()  # nothing changed, nobody lost, no turn due
    # Tile 3 changed a little, tile 2 a lot, tile 0 lost its track; tile 1 waits its turn.
    refresh.observe(frame_with([50, 50, 90, 56]))
    plan = refresh.plan(layout, 0.6, lost={0})
    assert plan.tiles == (0, 2, 3)
    assert plan.reasons == (Reason.LOST, Reason.CHANGED, Reason.CHANGED)
    refresh.detected(plan, 0.6)
    refresh.observe(frame_with([50, 50, 90, 56]))
    # Detected tiles compare against the thumbnail at their detection: no longer changed.
    assert refresh.plan(layout, 0.7).tiles == ()
    later = refresh.plan(layout, 1.2)  # tile 1's turn (1.0 s since its last detection), not the others'
    assert later.tiles == (1,) and later.reasons == (Reason.ROUND_ROBIN,)


def test_the_schedule_keeps_to_its_tile_cap_and_carries_the_rest_over():
    refresh = TileRefresh(RefreshOptions(budget_ms=UNLIMITED_MS, max_tiles=2, round_robin_s=100.0, thumb_width=64))
    layout = grid_layout(4)
    refresh.observe(frame_with([10, 10, 10, 10]))
    refresh.detected(refresh.plan(layout, 0.0), 0.0)
    refresh.observe(frame_with([200, 60, 120, 10]))
    plan = refresh.plan(layout, 0.1)
    assert plan.tiles == (0, 2) and plan.waiting == 1  # most changed first
    refresh.detected(plan, 0.1)
    assert refresh.plan(layout, 0.2).tiles == (1,)  # the one left over, on the next frame
    # A new layout is detected whole, whatever the cap.
    refresh.observe(frame_with([10, 10, 10, 10, 10]))
    assert len(refresh.plan(grid_layout(5), 0.3).tiles) == 5


def test_the_budget_keeps_the_average_cost_and_still_runs_a_unit_dearer_than_a_frame():
    budget = Budget(per_frame_ms=10.0)
    assert budget.tick() > 1000  # nothing measured yet: no limit
    budget.spend(4, 16.0, charge=False)  # learnt: 4 ms a unit
    spent = 0.0
    for _ in range(100):
        n = budget.tick()
        budget.spend(n, 4.0 * n)
        spent += 4.0 * n
    assert 100 * 10.0 - 20 <= spent <= 100 * 10.0 + 20
    dear = Budget(per_frame_ms=10.0)
    dear.spend(1, 25.0, charge=False)
    runs = 0
    for _ in range(30):
        n = dear.tick()
        dear.spend(n, 25.0 * n)
        runs += n
    assert 10 <= runs <= 13  # one 25 ms unit every 2.5 frames of 10 ms
    capped = Budget(per_frame_ms=0.0, max_units=3)
    assert capped.tick() == 3
    with pytest.raises(ValueError, match="per_frame_ms"):
        Budget(per_frame_ms=-1.0)


def test_thumbnail_is_small_and_grey():
    thumb = thumbnail(np.full((1080, 1920, 3), 77, np.uint8), 240)
    assert thumb.shape == (135, 240) and int(thumb[5, 5]) == 77


def test_options_reject_bad_values_by_name():
    with pytest.raises(ValueError, match="budget_ms"):
        RefreshOptions(budget_ms=0.0)
    with pytest.raises(ValueError, match="round_robin_s"):
        RefreshOptions(round_robin_s=float("nan"))
    with pytest.raises(ValueError, match="max_tiles"):
        RefreshOptions(max_tiles=-1)
    with pytest.raises(ValueError, match="max_faces"):
        ClassifyOptions(max_faces=-2)
    with pytest.raises(ValueError, match="detection"):
        PipelineOptions(detection="changed")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="refresh"):
        PipelineOptions(refresh={"budget_ms": 5})  # type: ignore[arg-type]


# -- classification by value, with a fake clock ------------------------------------------


def test_by_value_reads_never_read_faces_first_then_the_oldest_and_the_changing():
    age = np.array([0.5, np.nan, 2.0, 0.5, 1.2])
    change = np.array([0.0, 0.0, 0.0, 1.0, 0.0])
    # never read; 2.0 s old; 0.5 s + a complete change (weight 1 s) = 1.5; 1.2 s; 0.5 s.
    assert by_value(age, change, change_weight_s=1.0).tolist() == [1, 2, 3, 4, 0]
    assert by_value(age, change, change_weight_s=0.0).tolist() == [1, 2, 4, 0, 3]


def test_a_classification_budget_takes_turns_by_age_with_a_fake_clock():
    schedule = ClassifySchedule(ClassifyOptions(max_faces=2))
    ids = np.array([11, 12, 13, 14, 15])
    crops = np.zeros((5, 48, 48), np.uint8)
    readable = np.array([True, True, True, True, False])  # face 15 is too small to read
    picked: list[list[int]] = []
    for step in range(6):
        t = 0.1 * step
        chosen = schedule.plan(ids, crops, readable, t)
        schedule.done(ids[chosen], crops[chosen], t, ms=None)
        picked.append(ids[chosen].tolist())
    assert picked[0] == [11, 12] and picked[1] == [13, 14]  # the never-read first
    assert picked[2] == [11, 12] and picked[3] == [13, 14]  # then the longest ago
    assert all(15 not in p for p in picked)
    ages = schedule.ages(ids, 0.5)
    np.testing.assert_allclose(ages[:4], [0.1, 0.1, 0.0, 0.0], atol=1e-6)
    assert np.isnan(ages[4])  # never read
    # A face whose crop changes jumps the queue.
    changed = crops.copy()
    changed[3] = 200
    chosen = schedule.plan(ids, changed, readable, 0.6)
    assert ids[chosen].tolist()[0] == 14
    # Faces gone from the frame are forgotten.
    schedule.plan(ids[:1], crops[:1], readable[:1], 0.7)
    assert np.isnan(schedule.ages(ids[1:2], 0.7)[0])


def test_without_a_budget_every_readable_face_is_read_every_frame():
    schedule = ClassifySchedule()
    ids = np.arange(60)
    readable = np.ones(60, bool)
    readable[5] = False
    chosen = schedule.plan(ids, np.zeros((60, 48, 48), np.uint8), readable, 0.0)
    assert sorted(chosen.tolist()) == [i for i in range(60) if i != 5]


# -- the pipeline, real detection on generated galleries ---------------------------------


def test_a_static_gallery_is_not_re_detected_before_its_round_robin_time():
    spec = GallerySpec(participants=9, size=(1280, 720), seed=7, camera_off=0.0)
    pipe = pipeline(RefreshOptions(budget_ms=UNLIMITED_MS, round_robin_s=1.0))
    last: dict[int, float] = {}
    gaps: list[float] = []
    for i, (image, truth) in enumerate(gallery_frames(spec, 36, jitter_px=0, seed=2)):
        result = pipe.process(Frame(image, i, i / FPS))
        assert score_frame(truth, result.faces).recall == 1.0
        for tile in result.tiles_detected:
            if tile in last:
                gaps.append(result.timestamp - last[tile])
            last[tile] = result.timestamp
    assert len(last) == 9
    # Every tile came back at its turn (1.0 s) and not before: 3 turns in 3.5 s.
    assert len(gaps) == 9 * 3
    assert min(gaps) >= 1.0 - 1e-9 and max(gaps) <= 1.0 + 1e-9
    stats = pipe.detection_stats
    assert stats.by_reason[Reason.CHANGED] == stats.by_reason[Reason.LOST] == 0
    assert stats.detected_share < 0.15  # detecting every 3rd frame was 0.33


def test_a_tile_that_changes_is_re_detected_within_the_budget():
    video = Video(GallerySpec(participants=9, size=(1280, 720), seed=3, camera_off=0.0))
    pipe = pipeline(RefreshOptions(budget_ms=UNLIMITED_MS, max_tiles=2, round_robin_s=60.0))
    frames = [video.frame() for _ in range(3)]
    results = [pipe.process(f) for f, _ in frames]
    assert len(results[0].tiles_detected) == 9
    assert results[1].tiles_detected == results[2].tiles_detected == ()
    # Three heads move at once (the whole webcam picture shifts); two tiles fit a frame.
    truth = frames[-1][1]
    moved = [t for t in truth.tiles if t.kind is TileKind.FACE][2:5]
    for tile in moved:
        video.offsets[tile.participant] = (14, 6)
    f, truth = video.frame()
    now = pipe.process(f)
    f, truth = video.frame()
    after = pipe.process(f)
    moved_tiles = {t.index for t in moved}
    assert len(now.tiles_detected) == 2 and set(now.tiles_detected) <= moved_tiles
    assert set(now.tiles_detected) | set(after.tiles_detected) == moved_tiles
    assert score_frame(truth, after.faces).recall == 1.0
    for tile in moved_tiles:
        assert truth_iou(after, truth, tile) >= 0.5
    f, _ = video.frame()
    assert pipe.process(f).tiles_detected == ()  # settled: nothing left to look at


def test_a_face_that_moves_to_another_tile_is_found_there_and_leaves_no_box_behind():
    video = Video(GallerySpec(participants=9, size=(1280, 720), seed=5, camera_off=0.3))
    pipe = pipeline(RefreshOptions(budget_ms=UNLIMITED_MS, round_robin_s=60.0))
    f, truth = video.frame()
    pipe.process(f)
    face_tile, off_tile = video.tile_of(TileKind.FACE, truth), video.tile_of(TileKind.CAMERA_OFF, truth)
    f, truth = video.frame()
    assert faces_in_tile(pipe.process(f), off_tile) == 0
    # The student's video and the camera-off tile trade places (as apps reorder tiles).
    video.order[face_tile], video.order[off_tile] = video.order[off_tile], video.order[face_tile]
    f, truth = video.frame()
    result = pipe.process(f)
    assert {face_tile, off_tile} <= set(result.tiles_detected)
    assert faces_in_tile(result, off_tile) == 1 and truth_iou(result, truth, off_tile) >= 0.5
    assert score_frame(truth, result.faces).recall == 1.0
    # The old tile's track is looked for on every frame until it ends: no box lingers.
    misses = pipe.tracker.options.max_missed_frames
    for _ in range(misses + 1):
        f, truth = video.frame()
        result = pipe.process(f)
        assert score_frame(truth, result.faces).recall == 1.0
    assert faces_in_tile(result, face_tile) == 0


def test_a_lost_track_gets_its_tile_detected_first_on_every_frame_until_it_ends():
    video = Video(GallerySpec(participants=9, size=(1280, 720), seed=5, camera_off=0.3))
    # One tile a frame, so the lost track's tile has to win over tiles that changed.
    pipe = pipeline(RefreshOptions(budget_ms=UNLIMITED_MS, max_tiles=1, round_robin_s=60.0),
                    tracker=TrackerOptions(max_missed_frames=4))
    f, truth = video.frame()
    pipe.process(f)
    faces = [t for t in truth.tiles if t.kind is TileKind.FACE]
    gone, others = faces[0].index, faces[1:3]
    off = next(t.participant for t in truth.tiles if t.kind is TileKind.CAMERA_OFF)
    video.order[gone] = off  # the student turns the camera off: the tile goes flat
    f, _ = video.frame()
    first = pipe.process(f)
    assert first.tiles_detected == (gone,)  # it changed: looked at, the face is not there
    assert pipe.tracker.coasting.tile.tolist() == [gone]
    for t in others:  # two more heads move: their tiles changed too, and wait
        video.offsets[t.participant] = (20, 10)
    for _ in range(4):  # misses 2..5 of max_missed_frames=4
        lost_before = pipe.detection_stats.by_reason[Reason.LOST]
        f, _ = video.frame()
        result = pipe.process(f)
        assert result.tiles_detected == (gone,)
        assert pipe.detection_stats.by_reason[Reason.LOST] == lost_before + 1
    assert faces_in_tile(result, gone) == 0  # the fifth miss ended the track
    f, _ = video.frame()
    assert pipe.process(f).tiles_detected[0] in {t.index for t in others}  # now the changed ones


def test_a_face_the_tile_pass_misses_on_an_unchanged_picture_keeps_its_track():
    # In this gallery one face is found by the first frame's whole-frame pass only; the
    # round-robin looks miss it, but its tile's picture has not changed: it is still there.
    spec = GallerySpec(participants=49, size=(1920, 1080), seed=2, camera_off=0.0)
    pipe = pipeline()
    recall = []
    for i, (image, truth) in enumerate(gallery_frames(spec, 40, seed=1)):
        result = pipe.process(Frame(image, i, i / FPS))
        recall.append(score_frame(truth, result.faces).recall)
    assert min(recall) == 1.0
    stats = pipe.detection_stats
    assert stats.by_reason[Reason.LOST] == 0
    # A static 49-tile gallery: the first frame, then a few tiles a frame.
    assert stats.detected_share < 0.1, stats


def test_refresh_age_follows_the_classification_budget():
    spec = GallerySpec(participants=9, size=(1280, 720), seed=7, camera_off=0.0)
    pipe = pipeline(classify=ClassifyOptions(max_faces=3))
    ages = []
    for i, (image, _) in enumerate(gallery_frames(spec, 8, seed=1)):
        result = pipe.process(Frame(image, i, i / FPS))
        assert result.refresh_age_s.shape == (len(result.faces),)
        ages.append(result.refresh_age_s)
    assert int((ages[0] == 0).sum()) == 3 and int(np.isnan(ages[0]).sum()) == 6
    for age in ages[3:]:
        assert int((age == 0).sum()) == 3  # three faces read per frame
        np.testing.assert_array_less(age, 0.3 + 1e-6)  # everyone within 3 frames
    # Without a budget every readable face is read on every frame.
    full = pipeline()
    for i, (image, _) in enumerate(gallery_frames(spec, 2, seed=1)):
        result = full.process(Frame(image, i, i / FPS))
    assert len(result.faces) == 9 and (result.refresh_age_s == 0).all()


@pytest.mark.slow
def test_recall_on_a_25_tile_video_is_that_of_detecting_every_frame():
    spec = GallerySpec(participants=25, size=(1920, 1080), seed=11, camera_off=0.0)

    def run(options: PipelineOptions):
        pipe = GalleryPipeline.create(options, threads=2, identity=None)
        found = total = false = 0
        switches = IdSwitches()
        # Heads drift by up to 3 px, and every 7 frames two tiles trade places.
        for i, (image, truth) in enumerate(gallery_frames(spec, 30, seed=6, jitter_px=3, reorder_every=7)):
            result = pipe.process(Frame(image, i, i / FPS))
            score = score_frame(truth, result.faces)
            found, total, false = found + score.found, total + score.faces, false + score.false
            switches.add(score, result.faces)
        return found / total, false, switches.switches, pipe.detection_stats

    every = run(PipelineOptions(mode=RunningMode.VIDEO, detection=DetectionPolicy.EVERY_K, detect_every=1))
    changed = run(PipelineOptions(mode=RunningMode.VIDEO))  # the shipped defaults
    assert changed[0] >= every[0] - 0.002 and changed[0] >= 0.98, (changed, every)
    assert changed[1] <= every[1] + 2
    assert changed[2] <= every[2]  # a face in a new tile is a new track either way (names tell who)
    assert changed[3].detected_share < 0.5  # and far less detection

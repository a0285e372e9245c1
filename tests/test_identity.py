"""Names on the screen and one student key per face: normalisation, the text detector and
recogniser on generated galleries (with and without a tile grid), identity through reorders,
a layout switch, duplicate labels and lost tracks, anonymous mode and the opt-out list, with
the real rapidocr ONNX models and real SQLite."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fer_overlay.analysis.layout import find_layout
from fer_overlay.analysis.pipeline import GalleryPipeline, PipelineOptions, RunningMode
from fer_overlay.live.insight import ClassInsight, InsightOptions
from fer_overlay.live.mood import class_mood
from fer_overlay.people.identity import IdentityOptions, IdentityTracker, student_key
from fer_overlay.people.names import match_key, normalise
from fer_overlay.people.ocr import NameReader, OcrOptions, TextDetector, detector_model_path
from fer_overlay.store import SessionStore
from fer_overlay.synth import GallerySpec, GalleryTruth, Style, TileKind, gallery_frames, make_gallery
from fer_overlay.types import Faces, Frame, Layout, LayoutKind, Tile


@pytest.mark.parametrize(("raw", "display", "key"), [
    ("Maria López (Host)", "Maria López", "maria lopez"),
    ("  JAMAL   ROBINSON  ", "Jamal Robinson", "jamal robinson"),
    ("Aisha Khan (they/them)", "Aisha Khan", "aisha khan"),
    ("Kofi Mensah she/her", "Kofi Mensah", "kofi mensah"),
    ("Patrick Byrne | Room 12", "Patrick Byrne", "patrick byrne"),
    ("Patrick Byrne l Room 12", "Patrick Byrne", "patrick byrne"),  # OCR read the bar as "l"
    ("Ryan Murphy I Rom 38", "Ryan Murphy", "ryan murphy"),  # ...and a small "Room" as "Rom"
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


@pytest.mark.parametrize("text", [
    "10:42", "10:42 AM", "00:12:33", "Mute", "Unmute", "Stop Video", "Participants", "Participants (25)", "Chat",
    "Share Screen", "Recording", "REC", "You", "Speaker", "Microphone", "Invite Manage Participants Polling",
    "Webcams Webcams",  # BigBlueButton's window title, read twice
    "Breakout Rooms Reactions", "From Me to Everyone", "Meeting ID 123 456 789", "Mute All",
])
def test_screen_text_that_is_no_name_is_rejected(text: str) -> None:
    assert normalise(text) is None


@pytest.mark.parametrize("text, own", [("You", True), ("you (Host)", True), ("(You)", True), ("Me", True),
                                       ("You, presenting", True), ("Mike (you)", False), ("You are muted", False),
                                       ("Youssef Amrani", False), ("", False)])
def test_the_local_users_own_label_is_told_from_names(text: str, own: bool) -> None:
    from fer_overlay.people.names import is_self_label

    assert is_self_label(text) is own


@pytest.mark.parametrize(("raw", "display"), [
    ("YJennifer Mackown", "Jennifer Mackown"),  # Zoom's mic icon read as a letter
    ("oFilip Ekberg", "Filip Ekberg"),
    ("2 Kim", "Kim"),
    ("退 Herzog", "Herzog"),  # a mic icon read as an ideograph (LiveKit, real screenshot)
    ("星 Kim", "Kim"),
    ("Ana Souza 星", "Ana Souza"),
    ("王 小明", "王 小明"),  # a name in that script keeps every character
    ("lan Cooper", "Ian Cooper"),  # capital I read as a small l
    ("Mohammed AI-Sayed", "Mohammed Al-Sayed"),  # and a small l as a capital I
    ("AIex Kim", "Alex Kim"),
    ("OIivia Chen", "Olivia Chen"),
    ("YIvan Petrov", "Ivan Petrov"),  # an icon before a real I stays an icon
    ("Henry VIII", "Henry VIII"),
    ("Keiko Y amamoto", "Keiko Yamamoto"),  # a space after a wide capital
    ("iPhone", "iPhone"),
    ("Carlos lopez", "Carlos lopez"),
    ("The0", "Theo"),  # a letter o read as a zero (LiveKit, real screenshot)
    ("R0bert Kim", "Robert Kim"),
    ("user10", "User10"),  # digits among digits stay
    ("Ana | Room 10", "Ana"),
])
def test_normalise_undoes_recogniser_slips(raw: str, display: str) -> None:
    name = normalise(raw)
    assert name is not None and name.display == display


def test_a_part_of_a_label_found_on_its_own_never_replaces_the_whole_label() -> None:
    """The detector sometimes boxes only a piece of a line ("d Al-" inside "Mohammed Al-Sayed"):
    that piece is the same place, and the read that holds it is kept, whichever came first."""
    from fer_overlay.people.label_places import same_place
    from fer_overlay.people.label_reads import FoundText, better_read

    def text(rect, raw, score):
        return FoundText(rect, np.zeros((8, 32), np.uint8), normalise(raw), score)

    whole = text((429, 448, 616, 481), "Mohammed Al-Sayed", 0.97)
    piece = text((528, 455, 556, 472), "d Al-", 1.0)
    junk = text((340, 413, 617, 482), "inMohammed A Sayed", 0.80)  # a wide box that read a neighbour too
    assert same_place(whole.rect, piece.rect) and same_place(piece.rect, whole.rect)
    assert better_read(whole, piece) and not better_read(piece, whole)
    assert better_read(whole, junk) and not better_read(junk, whole)
    assert not same_place((12, 213, 195, 242), (432, 449, 615, 479))  # two tiles' labels


def test_match_key_is_the_one_key_function() -> None:
    """Accents, case, spacing and decorations fold away; our own "#n" and track keys survive."""
    same = ("Maria López", "maria lopez", "MARIA  LÓPEZ", "Maria Lopez (Host)", "María López")
    assert {match_key(x) for x in same} == {"maria lopez"}
    assert match_key("iPhone #2") == "iphone #2" and match_key("iphone") == "iphone"
    from fer_overlay.people.names import label_of

    assert label_of("iPhone #2") == "iPhone" and label_of("iPhone") == "iPhone" and label_of("#2") == "#2"
    assert match_key("track-7") == "track-7"
    assert match_key(normalise("Zoë Secret").display) == match_key("zoe secret")
    assert IdentityOptions(opt_out=("María López", "")).opt_out_keys == {"maria lopez"}


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


def test_text_detector_ships_in_the_wheel_and_runs_through_runtime() -> None:
    """rapidocr's own detector model, opened by fer_overlay.inference.runtime (providers chosen in one place)."""
    path = detector_model_path()
    assert path.is_file() and "rapidocr" in str(path) and "_det_" in path.name
    detector = TextDetector()
    image, truth = make_gallery(GallerySpec(participants=4, size=(1280, 720), seed=1, camera_off=0.0))
    bands = [image[y + h * 3 // 4 : y + h, x : x + w] for x, y, w, h in (t.rect for t in truth.tiles)]
    found = detector.detect([*bands, np.full((40, 200, 3), 30, np.uint8)], detector.scale_for(720))
    assert detector._session is not None and "CPUExecutionProvider" in detector._session.get_providers()
    # Every tile band holds its label bottom-left; the blank patch holds nothing.
    assert all(any(b[0] < 0.3 * band.shape[1] for b in boxes) for band, boxes in zip(bands, found[:-1]))
    assert found[-1] == []


def _faces(truth: GalleryTruth, grid: bool = False, ids: list[int] | None = None) -> Faces:
    """Faces where the truth has them (face detection is not under test here)."""
    live = truth.faces
    return Faces(xyxy=truth.face_boxes(), track_id=np.array(ids if ids is not None else [t.participant for t in live]),
                 tile=np.array([t.index if grid else -1 for t in live]))


def _grid(truth: GalleryTruth) -> Layout:
    tiles = tuple(Tile(t.index, *t.rect) for t in truth.tiles)
    return Layout(LayoutKind.GRID, tiles, truth.size)


def _right(named: Faces, truth: GalleryTruth) -> list[tuple[str, str | None]]:
    """(true key, student) of every face whose student is not its name."""
    return [(normalise(t.name).key, s) for t, s in zip(truth.faces, named.student) if s != normalise(t.name).key]


@pytest.mark.parametrize("style", list(Style))
def test_names_are_read_without_a_tile_grid(style: Style) -> None:
    """Layout NONE: the text pass finds each label below its face and attaches it by geometry."""
    image, truth = make_gallery(GallerySpec(participants=12, size=(1280, 720), style=style, seed=6, camera_off=0.0))
    whole = Layout.whole_frame(1280, 720)
    named, hidden = IdentityTracker().update(image, whole, _faces(truth), 0.0, "image")
    wrong = _right(named, truth)
    assert len(wrong) <= 1, wrong
    assert len(hidden) == 0 and all(n for n in named.name)


def test_image_mode_reads_every_label_of_a_25_tile_gallery() -> None:
    """IMAGE mode reads all labels at once, not a few per frame."""
    image, truth = make_gallery(GallerySpec(participants=25, size=(1920, 1080), seed=3, camera_off=0.0))
    tracker = IdentityTracker(options=IdentityOptions(tiles_per_frame=8))
    named, _ = tracker.update(image, _grid(truth), _faces(truth, grid=True), 0.0, "image")
    wrong = _right(named, truth)
    assert len(wrong) <= 1, wrong
    assert len(set(named.student)) == 25


def test_unreadable_label_gives_no_name(reader: NameReader) -> None:
    blank = np.full((216, 384, 3), 40, np.uint8)
    noise = np.random.default_rng(0).integers(0, 255, (216, 384, 3), dtype=np.uint8)
    assert all(r is None or r.name is None for r in reader.read_tiles([blank, noise], [True, False]))
    assert reader.read_tiles([], []) == []


def run_video(pipeline: GalleryPipeline, spec: GallerySpec, n: int, reorder_every: int | None, t0: float = 0.0,
              insight: ClassInsight | None = None):
    """Analyse a generated video; returns (analysis, truth) per frame, the insight, and every student row."""
    insight = insight or ClassInsight(InsightOptions())
    out, rows = [], []
    for i, (image, truth) in enumerate(gallery_frames(spec, n, reorder_every=reorder_every, seed=1)):
        analysis = pipeline.process(Frame(image, index=i, timestamp=t0 + i * 0.25))
        for _, students in insight.add(analysis, class_mood(analysis.faces, analysis.layout, analysis.timestamp)):
            rows += students
        out.append((analysis, truth))
    return out, insight, rows


def check_keys(frames, settle: int = 4) -> tuple[int, int]:
    """Every decided student is the face's own name, and every participant is filed under one key.

    Returns (faces with their own key, faces there were), after the first `settle` frames."""
    seen: dict[int, set[str]] = {}
    right = total = 0
    for k, (analysis, truth) in enumerate(frames):
        for student, (cx, cy) in zip(analysis.faces.student, analysis.faces.centers.tolist()):
            tt = next((t for t in truth.faces if t.face_xyxy[0] <= cx <= t.face_xyxy[2]
                       and t.face_xyxy[1] <= cy <= t.face_xyxy[3]), None)
            if student is None or tt is None:  # not decided yet, or a track lingering where its face was
                continue
            assert student == normalise(tt.name).key, f"frame {k}: {tt.name} filed as {student}"
            seen.setdefault(tt.participant, set()).add(student)
        if k >= settle:
            keys = set(analysis.faces.student)
            total += len(truth.faces)
            right += sum(normalise(t.name).key in keys for t in truth.faces)
    for participant, keys in seen.items():
        assert len(keys) == 1, f"participant {participant} was filed under {keys}"
    return right, total


@pytest.fixture(scope="module")
def named_pipeline() -> GalleryPipeline:
    return GalleryPipeline.create(PipelineOptions(mode=RunningMode.VIDEO, detect_every=2),
                                  identity=IdentityOptions(reread_s=60))


def record(rows, tmp_path: Path) -> SessionStore:
    """The rows as the live app records them: real SQLite, one transaction per second."""
    store = SessionStore.open(tmp_path / "sessions.sqlite3")
    sid = store.start_session("generated", False, {}).id
    by_t: dict[int, list] = {}
    for r in rows:
        by_t.setdefault(r.t, []).append(r)
    from fer_overlay.store import ClassSecond

    for t, students in sorted(by_t.items()):
        store.append(sid, ClassSecond.from_students(t, students), students)
    return store


def test_students_keep_one_history_through_gallery_reorders(named_pipeline: GalleryPipeline, tmp_path: Path) -> None:
    spec = GallerySpec(participants=9, size=(1280, 720), seed=5, camera_off=0.0)
    named_pipeline.reset()
    frames, _, rows = run_video(named_pipeline, spec, n=48, reorder_every=12)  # three reorders
    orders = {tuple(t.participant for t in truth.tiles) for _, truth in frames}
    assert len(orders) >= 4, "the video should reorder the gallery three times"
    right, total = check_keys(frames)
    assert right >= 0.95 * total, f"{right}/{total} faces carried their name"
    # The session record files every second under the student's key, one history each:
    # as many students as there were people.
    names = {normalise(t.name).key for t in frames[0][1].tiles}
    assert {r.student for r in rows} == names
    with record(rows, tmp_path) as store:
        assert sorted(store.students(1)) == sorted(names)
        assert set(store.names(1).values()) == {normalise(t.name).display for t in frames[0][1].tiles}


def test_students_keep_their_keys_when_people_join_and_the_grid_changes(named_pipeline: GalleryPipeline) -> None:
    """9 people, then 3 more join: the grid goes from 3x3 to 4x3, every tile moves."""
    named_pipeline.reset()
    before = GallerySpec(participants=9, size=(1280, 720), seed=5, camera_off=0.0)
    after = GallerySpec(participants=12, size=(1280, 720), seed=5, camera_off=0.0)  # the same 9 first
    first, insight, rows = run_video(named_pipeline, before, n=12, reorder_every=None)
    second, _, more = run_video(named_pipeline, after, n=40, reorder_every=None, t0=3.0, insight=insight)
    rows += more + [r for _, students in insight.flush() for r in students]
    assert first[0][1].grid != second[0][1].grid
    # Until the pipeline has taken up the new grid (and read the labels where they now are), a face
    # may still be filed under its tile's old occupant; after that, everyone is themselves.
    taken_up = next(k for k, (a, _) in enumerate(second) if len(a.layout.tiles) == 12)
    right, total = check_keys(first + second[taken_up + 8:])
    assert right >= 0.9 * total, f"{right}/{total} faces carried their name"
    names = {normalise(t.name).key for t in second[0][1].tiles}
    assert {r.student for r in rows} == names and len(names) == 12  # no one twice, no track-N


def test_a_flipping_layout_does_not_change_anyone() -> None:
    """The layout finder flips between a grid and none: labels come from the screen either way."""
    spec = GallerySpec(participants=9, size=(1280, 720), seed=4, camera_off=0.0)
    tracker = IdentityTracker()
    keys: dict[int, set[str | None]] = {}
    for i, (image, truth) in enumerate(gallery_frames(spec, 12, seed=2)):
        grid = i % 4 < 2
        layout = _grid(truth) if grid else Layout.whole_frame(1280, 720)
        named, _ = tracker.update(image, layout, _faces(truth, grid=grid), i * 0.25, "video")
        if i >= 3:
            for t, student in zip(truth.faces, named.student):
                keys.setdefault(t.participant, set()).add(student)
    assert all(ks == {normalise(truth.participant(p).name).key} for p, ks in keys.items()), keys


def test_a_face_lost_for_a_moment_keeps_its_key() -> None:
    spec = GallerySpec(participants=6, size=(1280, 720), seed=3, camera_off=0.0)
    frames = list(gallery_frames(spec, 40, seed=2))
    named, anonymous = IdentityTracker(), IdentityTracker.anonymous()
    gone = 2  # this participant's face is missed for 1.5 s, then found again as a new track
    for tracker in (named, anonymous):
        for i, (image, truth) in enumerate(frames[:24]):
            ids = [t.participant + (100 if t.participant == gone and i >= 14 else 0) for t in truth.faces]
            faces = _faces(truth, grid=True, ids=ids)
            if 8 <= i < 14:
                faces = faces[np.array(ids) != gone]
            out, _ = tracker.update(image, _grid(truth), faces, i * 0.25, "video")
            if i == 7:
                before = dict(zip(ids, out.student))
        after = dict(zip(ids, out.student))
        assert after[gone + 100] == before[gone] is not None
        assert [after[p] for p in ids if p != gone + 100] == [before[p] for p in ids if p != gone + 100]
    assert before[gone] == f"track-{gone}"  # the anonymous tracker's key: no name was read
    # Lost for longer than keep_lost_s, a face without a name is a new student.
    tracker = IdentityTracker.anonymous()
    truth = frames[0][1]
    tracker.update(frames[0][0], _grid(truth), _faces(truth, grid=True), 0.0, "video")
    tracker.update(frames[1][0], _grid(truth), _faces(truth, grid=True)[1:], 1.0, "video")
    ids = [t.participant for t in truth.faces]
    back, _ = tracker.update(frames[2][0], _grid(truth), _faces(truth, grid=True, ids=[99, *ids[1:]]), 10.0, "video")
    assert back.student[0] == "track-99"


def test_two_tiles_with_the_same_label_are_two_students(named_pipeline: GalleryPipeline, tmp_path: Path) -> None:
    """Two "iPhone"s: "iphone" and "iphone #2" in tile order, for the whole recording, and recorded."""
    named_pipeline.reset()
    spec = GallerySpec(participants=6, size=(1280, 720), seed=9, camera_off=0.0, duplicate_labels=2)
    frames, insight, rows = run_video(named_pipeline, spec, n=20, reorder_every=None)
    rows += [r for _, students in insight.flush() for r in students]
    phones = sorted(t.index for t in frames[0][1].faces if t.name == "iPhone")
    assert len(phones) == 2
    for analysis, _ in frames[4:]:
        by_tile = dict(zip(analysis.faces.tile.tolist(), analysis.faces.student))
        assert [by_tile.get(i) for i in phones] == ["iphone", "iphone #2"]
        assert [n for t, n in zip(analysis.faces.tile.tolist(), analysis.faces.name) if t in phones] \
            == ["iPhone", "iPhone #2"]
    with record(rows, tmp_path) as store:  # recording goes on: no "twice in one second"
        assert len(store.students(1)) == 6
        assert {k: v for k, v in store.names(1).items() if "iphone" in k} == {"iphone": "iPhone",
                                                                                "iphone #2": "iPhone #2"}
        assert store.forget_student("IPHONE").students == ("iphone", "iphone #2")


def test_live_stream_reads_labels_without_holding_up_frames() -> None:
    """LIVE_STREAM: the text pass runs in a background thread; frames go on, names arrive later."""
    image, truth = make_gallery(GallerySpec(participants=9, size=(1280, 720), seed=5, camera_off=0.0))
    tracker = IdentityTracker(options=IdentityOptions(tiles_per_frame=16))
    tracker.detector.load()
    tracker.reader.load()
    faces, layout = _faces(truth, grid=True), _grid(truth)
    first, _ = tracker.update(image, layout, faces, 0.0, "live_stream")
    assert tracker.reading and first.student == (None,) * 9  # not decided yet: nothing is recorded
    t, deadline = 0.0, time.monotonic() + 300
    while tracker.reading and time.monotonic() < deadline:
        time.sleep(0.05)
    t += 0.25
    named, _ = tracker.update(image, layout, faces, t, "live_stream")
    assert _right(named, truth) == []


class _StalledDetector(TextDetector):
    """A text pass that has not got its turn yet (a busy laptop): it finishes only when told."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()

    def detect(self, crops, scale):
        self.go.wait(30)
        return [[] for _ in crops]


def test_a_face_whose_label_was_not_read_yet_waits_for_it_instead_of_becoming_a_track_student() -> None:
    """A track-N key given while the text pass is behind would be a second student in the record
    once the name is read; the face waits (unrecorded) for up to unread_wait_s, then gets one."""
    image, truth = make_gallery(GallerySpec(participants=4, size=(1280, 720), seed=5, camera_off=0.0))
    detector = _StalledDetector()
    options = IdentityOptions(settle_s=2.0, unread_wait_s=20.0)
    tracker = IdentityTracker(options=options, detector=detector)
    faces, layout = _faces(truth, grid=True), _grid(truth)
    try:
        for t in (0.0, 5.0, 19.0):  # far past settle_s, the label not read yet
            named, _ = tracker.update(image, layout, faces, t, "live_stream")
            assert named.student == (None,) * 4, t
        named, _ = tracker.update(image, layout, faces, 20.5, "live_stream")
        assert all(s is not None and s.startswith("track-") for s in named.student)  # waiting ends
    finally:
        detector.go.set()
        tracker.close()
    with pytest.raises(ValueError, match="unread_wait_s"):
        IdentityOptions(unread_wait_s=-1)


def test_anonymous_mode_reads_no_names() -> None:
    pipeline = GalleryPipeline.create(PipelineOptions(mode=RunningMode.VIDEO), identity=None)
    spec = GallerySpec(participants=4, size=(1280, 720), seed=2, camera_off=0.0)
    frames, _, rows = run_video(pipeline, spec, n=6, reorder_every=100)
    assert not pipeline.identity.options.read_names
    assert all(name is None for analysis, _ in frames for name in analysis.faces.name)
    assert all(s is not None and s.startswith("track-") for analysis, _ in frames for s in analysis.faces.student)
    assert rows and all(r.student.startswith("track-") and r.name is None for r in rows)


def test_opted_out_students_are_neither_analysed_nor_recorded() -> None:
    spec = GallerySpec(participants=6, size=(1280, 720), seed=8, camera_off=0.0)
    _, truth = make_gallery(spec)
    opted = [t.name for t in truth.tiles if t.kind is TileKind.FACE][:2]
    pipeline = GalleryPipeline.create(PipelineOptions(mode=RunningMode.VIDEO),
                                      identity=IdentityOptions(opt_out=(opted[0].upper(), f"{opted[1]} (Host)")))
    frames, insight, rows = run_video(pipeline, spec, n=8, reorder_every=100)
    rows += [r for _, students in insight.flush() for r in students]
    blocked = {normalise(n).key for n in opted}
    last = frames[-1][0]
    assert len(last.hidden) == 2 and all(n is None for n in last.hidden.name)
    assert len(last.faces) == sum(t.kind is TileKind.FACE for t in truth.tiles) - 2
    assert not np.isfinite(last.hidden.probs).any(), "opted-out faces must not be classified"
    assert not blocked & {normalise(n).key for n in last.faces.name if n}
    assert rows and not blocked & {r.student for r in rows}
    assert all(s is None for s in last.hidden.student)


def test_insight_records_each_student_once_and_skips_undecided_faces() -> None:
    """The record never sees one key twice in a second (the store would refuse it and stop recording)."""
    from fer_overlay.analysis.layout import Layout as L
    from fer_overlay.live.insight import student_rows
    from fer_overlay.types import Analysis

    probs = np.full((3, 7), 1 / 7, np.float32)
    faces = Faces(xyxy=np.zeros((3, 4)), track_id=np.arange(3), probs=probs, emotion=np.array([6, 6, 6]),
                  name=("iPhone", "iPhone", None), student=("iphone", "iphone", None))
    rows = student_rows(0, Analysis(0, 0.0, faces, L.whole_frame(10, 10), True, {}))
    assert [(r.student, r.name) for r in rows] == [("iphone", "iPhone")]


def test_identity_tracker_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="tiles_per_frame"):
        IdentityOptions(tiles_per_frame=0)
    with pytest.raises(ValueError, match="keep_lost_s"):
        IdentityOptions(keep_lost_s=-1)
    with pytest.raises(ValueError, match="label_band"):
        IdentityTracker(options=IdentityOptions(), reader=NameReader(OcrOptions(label_band=2.0)))


class _CountingDetector(TextDetector):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def detect(self, crops, scale):
        self.calls += 1
        return super().detect(crops, scale)


def test_labels_read_move_with_a_scrolled_gallery() -> None:
    """A gallery scrolled by a few dozen pixels is the same labels in new places: what was read
    moves with it, so nobody waits for a new text pass (or takes a neighbour's label meanwhile)."""
    # Six tiles leave room above and below: the scrolled tiles stay whole on the screen.
    image, truth = make_gallery(GallerySpec(participants=6, size=(1280, 720), seed=4, camera_off=0.0))
    detector = _CountingDetector()
    tracker = IdentityTracker(options=IdentityOptions(tiles_per_frame=16), detector=detector)
    faces, layout = _faces(truth, grid=True), _grid(truth)
    named, _ = tracker.update(image, layout, faces, 0.0, "video")
    assert _right(named, truth) == [] and detector.calls > 0
    dx, dy = 0, 40
    moved = np.full_like(image, image[0, 0])
    moved[dy:, dx:] = image[: image.shape[0] - dy, : image.shape[1] - dx]
    shifted = Faces(xyxy=faces.xyxy + np.array([dx, dy, dx, dy], np.float32), track_id=faces.track_id, tile=faces.tile)
    tiles = tuple(Tile(t.index, t.x + dx, t.y + dy, t.w, t.h) for t in layout.tiles)
    calls = detector.calls
    for t in (0.25, 0.5, 1.0):
        named, _ = tracker.update(moved, Layout(LayoutKind.GRID, tiles, layout.frame_size), shifted, t, "video")
        assert _right(named, truth) == []
    assert detector.calls == calls  # nothing read again: the labels are where they were, moved

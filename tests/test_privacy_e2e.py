"""The privacy promises, end to end through the real controller.

A generated Zoom gallery is the source (`image:`), the real pipeline reads the names off
the tiles, the real session record is written to SQLite, and the shared feed goes to the
virtual camera on a backend registered through pyvirtualcam's public `register_backend()`,
so the test sees exactly what a meeting app would receive. Only the controller's public
face is used: settings -> `RunPlan.from_settings`, `start()`, `stop()`.

What is checked, and how it would show a leak:
- opt-out: no cell of any table of the database holds the opted-out student's name, and no
  second has more student rows than there are other students on screen, so a `track-N` row
  for the opted-out face fails too; the teacher's recording (`record_frames`) shows that face
  pixelated and that name nowhere in what the app drew, while it does show the others' names;
- aggregate-only feed: every frame the camera got is the summary card: no face the face
  detector can find, no student's name the OCR can read;
- anonymous mode: only `track-N` keys and no name in the database; in the camera's frames
  every face is pixelated and the app drew no name.
The OCR is the project's own (rapidocr's detector and recogniser); that it can read the
names is checked on the gallery itself and on the teacher's recording.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import pytest
import pyvirtualcam
from pyvirtualcam.camera import BACKENDS

from fer_overlay.analysis.detect import CenterFace
from fer_overlay.app import AppState
from fer_overlay.app.controller import Controller, RunPlan
from fer_overlay.config import Settings
from fer_overlay.people.names import match_key
from fer_overlay.people.ocr import NameReader, OcrOptions, TextDetector
from fer_overlay.synth import GallerySpec, make_gallery
from fer_overlay.synth.truth import TileKind, TileTruth
from fer_overlay.types import LABELS

pytestmark = pytest.mark.slow

SIZE = (1280, 720)  # the source's size and the feed's: output pixels are gallery pixels
FPS = 4
BACKEND = "fer_privacy"
RECORDED_S = 4.0  # seconds of class recorded once the run is ready, before stopping
READY_TIMEOUT_S = 240.0  # a loaded machine reads the names slowly; only a failure waits this long


class Camera:
    """A pyvirtualcam backend (its documented duck-typed interface) keeping every frame sent."""

    instances: ClassVar[list[Camera]] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **_: Any) -> None:
        self.shape, self.fourcc = (height, width, 3), fourcc
        self.frames: list[np.ndarray] = []
        self.closed = False
        Camera.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        self.frames.append(frame.reshape(self.shape).copy())

    def close(self) -> None:
        self.closed = True

    def device(self) -> str:
        return "fer-privacy-camera"

    def native_fourcc(self) -> int:
        return self.fourcc  # frames as the sink sends them (BGR)


@dataclass(frozen=True)
class Gallery:
    image: np.ndarray
    faces: tuple[TileTruth, ...]  # the students on camera
    path: Path


@dataclass(frozen=True)
class Run:
    """What one class left behind."""

    db: Path
    camera: list[np.ndarray]  # every frame the virtual camera got
    recording: list[np.ndarray]  # the teacher's feed, read back from the MP4


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> Gallery:
    image, truth = make_gallery(GallerySpec(participants=6, size=SIZE, seed=8, camera_off=0.0))
    path = tmp_path_factory.mktemp("gallery") / "gallery.png"
    assert cv2.imwrite(str(path), image)
    faces = tuple(t for t in truth.tiles if t.kind is TileKind.FACE)
    assert len(faces) == 6 and all(t.name for t in faces)
    return Gallery(image, faces, path)


def write_settings(folder: Path, gallery: Gallery, **privacy: object) -> Settings:
    """The settings file a teacher would write: the gallery as the source, the virtual camera
    as the shared feed, the session record and the teacher's recording (`record_frames`: the
    annotated feed as the preview shows it) in `folder`."""
    lines = "\n".join(f"{key} = {json.dumps(value)}" for key, value in privacy.items())
    path = folder / "settings.toml"
    path.write_text(f"""
[capture]
source = "image:{gallery.path}"
[output]
sink = "virtualcam"
backend = "{BACKEND}"
size = "{SIZE[0]}x{SIZE[1]}"
fps = {FPS}
view = "gallery"
[privacy]
record_frames = true
{lines}
[session]
data_dir = "{folder / 'data'}"
""")
    return Settings.load(path)


def run_class(folder: Path, settings: Settings, ready: Callable[[list[tuple[int, str]]], bool]) -> Run:
    """Start the controller, wait until `ready(rows)` holds for the recorded student rows,
    record RECORDED_S more seconds, stop; what the camera, the database and the MP4 got."""
    Camera.instances = []
    pyvirtualcam.register_backend(BACKEND, Camera)
    db = folder / "data" / "sessions.sqlite3"
    controller = Controller(RunPlan.from_settings(settings))
    try:
        controller.start()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready(student_rows(db)):
            assert controller.state in (AppState.RUNNING, AppState.NO_FACES), controller.status_text
            assert time.monotonic() < deadline, f"not ready after {READY_TIMEOUT_S:.0f} s: {student_rows(db)[-20:]}"
            time.sleep(0.5)
        time.sleep(RECORDED_S)
    finally:
        controller.shutdown()
        BACKENDS.pop(BACKEND, None)
    assert controller.state is AppState.STOPPED, controller.status_text
    (camera,) = Camera.instances
    assert camera.closed and len(camera.frames) >= FPS * RECORDED_S
    (mp4,) = (folder / "data" / "recordings").glob("session-*.mp4")
    return Run(db, camera.frames, read_video(mp4))


def read_video(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    cap.release()
    return frames


# -- the database ---------------------------------------------------------------------------


def connect(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True)


def student_rows(db: Path) -> list[tuple[int, str]]:
    """(t, student key) of every per-student second recorded so far."""
    if not db.exists():
        return []
    conn = connect(db)
    try:
        return [(int(t), str(s)) for t, s in conn.execute("SELECT t, student FROM student_seconds ORDER BY t")]
    except sqlite3.OperationalError:  # the schema is not there yet
        return []
    finally:
        conn.close()


def text_cells(db: Path) -> list[tuple[str, str, str]]:
    """(table, column, value) of every text cell of every table."""
    conn = connect(db)
    try:
        cells = []
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            for row in conn.execute(f"SELECT * FROM {table}"):
                cells += [(table, c, v) for c, v in zip(columns, row) if isinstance(v, str)]
        return cells
    finally:
        conn.close()


def name_parts(name: str) -> set[str]:
    """The student's key and each of its words of 4 letters or more: what would betray them."""
    key = match_key(name)
    return {key} | {w for w in key.split() if len(w) >= 4}


def cells_naming(db: Path, name: str) -> list[tuple[str, str, str]]:
    parts = name_parts(name)
    return [(t, c, v) for t, c, v in text_cells(db) if parts & ({match_key(v)} | set(match_key(v).split()))]


def per_second(rows: list[tuple[int, str]]) -> dict[int, list[str]]:
    seconds: dict[int, list[str]] = {}
    for t, student in rows:
        seconds.setdefault(t, []).append(student)
    return seconds


# -- the frames -------------------------------------------------------------------------------


_ocr_lock = threading.Lock()
_ocr: list[tuple[TextDetector, NameReader]] = []


def texts_in(image: np.ndarray) -> list[str]:
    """Every line of text the project's OCR reads anywhere in `image`."""
    with _ocr_lock:
        if not _ocr:
            _ocr.append((TextDetector(), NameReader(OcrOptions())))
        detector, reader = _ocr[0]
        (boxes,) = detector.detect([image], detector.scale_for(image.shape[0]))
        return [r.raw for r in reader.read_boxes(image, boxes)]


def names_in(texts: list[str], faces: tuple[TileTruth, ...] | list[TileTruth]) -> set[str]:
    """The students whose name, or a word of it, is among `texts`."""
    words = {match_key(t) for t in texts} | {w for t in texts for w in match_key(t).split()}
    return {t.name for t in faces if t.name and name_parts(t.name) & words}


def drawn_by_the_app(frame: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """The frame where it differs from the captured gallery, mid-grey (no text) elsewhere:
    what the app drew over the capture (boxes, captions, pixelation), without the meeting
    app's own name labels, which the capture carries."""
    diff = np.abs(frame.astype(np.int16) - gallery.astype(np.int16)).max(axis=2) > 32
    mask = cv2.dilate(diff.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    out = np.full_like(frame, 128)
    out[mask] = frame[mask]
    return out


def pixelated(frame: np.ndarray, face: TileTruth, gallery: np.ndarray) -> bool:
    """Whether `face` is pixelated in `frame`: its inner box no longer shows the captured face
    (a mean difference over 8 levels, where MP4 coding alone stays under 3 here) and is made of
    flat blocks (the renderer's mosaic), where the photo has hardly two equal neighbours."""
    x1, y1, x2, y2 = (int(v) for v in face.face_xyxy or (0, 0, 0, 0))
    mx, my = (x2 - x1) // 5, (y2 - y1) // 5
    shown = frame[y1 + my : y2 - my, x1 + mx : x2 - mx].astype(np.int16)
    captured = gallery[y1 + my : y2 - my, x1 + mx : x2 - mx].astype(np.int16)
    changed = np.abs(shown - captured).mean() > 8
    flat = np.abs(shown[:, 1:] - shown[:, :-1]).max(axis=2) <= 8
    return bool(changed and flat.mean() >= 0.8)


@pytest.fixture(scope="module")
def detector() -> CenterFace:
    return CenterFace(threads=1)


# -- opt-out, with the aggregate-only shared feed ---------------------------------------------


@pytest.fixture(scope="module")
def opted_out(gallery: Gallery) -> TileTruth:
    return gallery.faces[1]


@pytest.fixture(scope="module")
def others(gallery: Gallery, opted_out: TileTruth) -> list[TileTruth]:
    return [t for t in gallery.faces if t is not opted_out]


@pytest.fixture(scope="module")
def opt_out_run(gallery: Gallery, opted_out: TileTruth, others: list[TileTruth],
                tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("opt_out")
    # Typed as a teacher might: other capitals than the tile's label.
    settings = write_settings(folder, gallery, opt_out=[opted_out.name.upper()], student_feed="aggregate")
    keys = {match_key(t.name) for t in others}
    return run_class(folder, settings, lambda rows: keys <= {s for _, s in rows})  # every other name read


def test_opted_out_student_is_in_no_row_under_any_key(opt_out_run: Run, opted_out: TileTruth,
                                                      others: list[TileTruth]) -> None:
    assert not cells_naming(opt_out_run.db, opted_out.name)
    rows = student_rows(opt_out_run.db)
    seconds = per_second(rows)
    assert len(seconds) >= RECORDED_S
    # Every face on screen is found in every second (a still gallery): more rows than other
    # students means a row of the opted-out face, whatever its key ("track-7" included).
    for t, students in seconds.items():
        assert len(students) <= len(others), f"second {t}: {students}"
        assert len(set(students)) == len(students)
    assert {s for _, s in rows} == {match_key(t.name) for t in others}  # and the others are all recorded


def test_teacher_recording_pixelates_the_opted_out_student_and_never_names_them(
        opt_out_run: Run, gallery: Gallery, opted_out: TileTruth, others: list[TileTruth]) -> None:
    last = opt_out_run.recording[-1]  # the MP4's last frame: every name has been read by then
    assert pixelated(last, opted_out, gallery.image)
    assert not any(pixelated(last, t, gallery.image) for t in others)  # the check tells them apart
    drawn = names_in(texts_in(drawn_by_the_app(last, gallery.image)), gallery.faces)
    assert drawn == {t.name for t in others}, drawn  # the others' captions carry their names; theirs none


def test_aggregate_feed_gets_the_summary_card_only(opt_out_run: Run, gallery: Gallery,
                                                   detector: CenterFace) -> None:
    assert names_in(texts_in(gallery.image), gallery.faces) == {t.name for t in gallery.faces}  # the OCR reads them
    assert len(detector.detect(gallery.image)) == len(gallery.faces)  # and the detector finds them
    frames = opt_out_run.camera
    # Every frame: no face left where the gallery has one.
    for i, frame in enumerate(frames):
        for face in gallery.faces:
            x1, y1, x2, y2 = (int(v) for v in face.face_xyxy or (0, 0, 0, 0))
            same = np.abs(frame[y1:y2, x1:x2].astype(np.int16) - gallery.image[y1:y2, x1:x2]).mean()
            assert same > 20, f"frame {i} shows {face.name}'s face"
    # A sample, from the first frame on: no face the detector finds, no name the OCR reads.
    sample = sorted({0, 1, 2, *range(3, len(frames), 8), len(frames) - 1})
    for i in sample:
        assert len(detector.detect(frames[i])) == 0, f"frame {i} shows a face"
    for i in (0, len(frames) // 2, len(frames) - 1):
        texts = texts_in(frames[i])
        assert any("class mood" in match_key(t) for t in texts), texts  # the card
        assert not names_in(texts, gallery.faces), f"frame {i}: {texts}"


# -- anonymous mode ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def anonymous_run(gallery: Gallery, tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("anonymous")
    settings = write_settings(folder, gallery, anonymous=True)
    n = len(gallery.faces)
    return run_class(folder, settings, lambda rows: any(len(s) == n for s in per_second(rows).values()))


def test_anonymous_session_stores_no_name(anonymous_run: Run, gallery: Gallery) -> None:
    rows = student_rows(anonymous_run.db)
    assert rows and all(s.startswith("track-") for _, s in rows), sorted({s for _, s in rows})
    for face in gallery.faces:
        assert not cells_naming(anonymous_run.db, face.name)
    conn = connect(anonymous_run.db)
    try:
        assert conn.execute("SELECT count(*) FROM session_students WHERE name IS NOT NULL").fetchone() == (0,)
    finally:
        conn.close()


def test_anonymous_feed_pixelates_every_face_and_draws_no_name(anonymous_run: Run, gallery: Gallery) -> None:
    frames = anonymous_run.camera
    # From the first frame the analysis reached (the first with a face pixelated) to the end.
    start = next(i for i, f in enumerate(frames) if any(pixelated(f, t, gallery.image) for t in gallery.faces))
    for i, frame in enumerate(frames[start:], start):
        hidden = [t.name for t in gallery.faces if pixelated(frame, t, gallery.image)]
        assert len(hidden) == len(gallery.faces), f"frame {i}: only {hidden} pixelated"
    assert not any(pixelated(gallery.image, t, gallery.image) for t in gallery.faces)  # the check tells them apart
    for i in (start, len(frames) - 1):
        texts = texts_in(drawn_by_the_app(frames[i], gallery.image))
        assert not names_in(texts, gallery.faces), f"frame {i}: {texts}"
    # What the app drew on the last frame (analysed for sure; the first pixelated frame may be
    # the whole-picture pixelation before any analysis) was read: captions, without names.
    assert any(label in match_key(t) for t in texts for label in (*LABELS, "unknown")), texts


def test_anonymous_feed_never_shows_a_face_before_the_first_analysis(anonymous_run: Run, gallery: Gallery) -> None:
    frames = anonymous_run.camera
    for i, frame in enumerate(frames):
        hidden = [t.name for t in gallery.faces if pixelated(frame, t, gallery.image)]
        assert len(hidden) == len(gallery.faces), f"frame {i} of {len(frames)}: only {hidden} pixelated"

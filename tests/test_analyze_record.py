"""`analyze RECORDING --record`: a recorded class becomes a session like a live one, faster
than real time, with a progress line, and Ctrl+C keeps what was done."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_overlay.capture import VideoSource
from fer_overlay.cli import main
from fer_overlay.commands.progress import Progress, clock_text
from fer_overlay.config import CONFIG_ENV
from fer_overlay.store import DB_FILENAME, SessionStore
from fer_overlay.synth import GallerySpec, gallery_frames

FPS = 10
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_user_settings(tmp_path_factory, monkeypatch):
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path_factory.mktemp("cfg") / "absent.toml"))
    monkeypatch.setenv("FER_OVERLAY_DATA_DIR", str(tmp_path_factory.mktemp("data")))


def write_video(path: Path, n_frames: int, *, repeat: int = 1, participants: int = 9) -> list:
    """A named 720p gallery at FPS, two tiles swapping places every 50 frames; the truth per frame.

    An .mkv is lossless (FFV1, as a screen recorder's lossless preset): the screen as it was.
    An .mp4 is MPEG-4 part 2, whose smearing of 3 px tile gaps is the layout's problem, not
    the record's."""
    spec = GallerySpec(participants=participants, size=(1280, 720), seed=11, camera_off=0.0)
    frames = list(gallery_frames(spec, n_frames, reorder_every=50, seed=3))
    codec = "FFV1" if path.suffix == ".mkv" else "mp4v"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), FPS, (1280, 720))
    for _ in range(repeat):
        for image, _ in frames:
            writer.write(image)
    writer.release()
    return [truth for _, truth in frames]


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> tuple[Path, list]:
    path = tmp_path_factory.mktemp("rec") / "class.mp4"
    return path, write_video(path, 120)


def session_rows(db: Path, session_id: int) -> tuple[list[tuple], list[tuple]]:
    con = sqlite3.connect(db)
    try:
        classes = con.execute("SELECT * FROM class_seconds WHERE session_id = ? ORDER BY t", (session_id,)).fetchall()
        students = con.execute("SELECT student, emotion, present FROM student_seconds WHERE session_id = ?",
                               (session_id,)).fetchall()
    finally:
        con.close()
    return classes, students


def test_a_recording_becomes_a_session_with_every_person_once(recording, tmp_path, capsys):
    video, truth = recording
    db = tmp_path / "s.sqlite3"
    code = main(["analyze", str(video), "--record", "--db", str(db)])
    out = capsys.readouterr().out
    assert code == 0, out
    with SessionStore.open(db, create=False) as store:
        (info,) = store.list_sessions()
        names = set(store.names(info.id).values())
    people = {t.name for t in truth[0].tiles if t.kind == "face"}
    assert info.ended_at is not None and info.source == f"video:{video}"
    assert info.duration_s == len(truth) // FPS  # one record per second of video time
    assert names == people, "students in the record = the people in the class"
    assert info.settings["analysed_from"] == str(video.resolve()) and info.settings["analysis_fps"] == 10
    # The start is the file's time less its length: a meeting app writes the file at the end.
    assert abs(info.started_at.timestamp() - (video.stat().st_mtime - len(truth) / FPS)) < 2
    assert f"recorded session {info.label}" in out and "9 student(s)" in out
    assert out.startswith("120 frame(s),")  # 10 analyses per second of a 10 fps video: every frame

    report = tmp_path / "r.html"
    assert main(["report", info.label, "--db", str(db), "--out", str(report)]) == 0
    assert report.stat().st_size > 1000


def test_the_record_matches_what_a_live_run_of_the_same_recording_records(recording, tmp_path):
    """The same class played live (at its own pace, frames dropped when analysis is busy)
    and analysed with --record: the same students, and the class's moods within a tolerance.
    Both anonymous: how soon a live run reads names depends on how busy the machine is (the
    text pass waits for spare time), and names are the first test's business."""
    video, _ = recording
    db = tmp_path / DB_FILENAME  # where the live run records, given the data folder
    env = {**os.environ, "FER_OVERLAY_DATA_DIR": str(tmp_path)}
    live = subprocess.run([sys.executable, "-m", "fer_overlay", "run", "--source", f"video:{video}",
                           "--sink", "null", "--duration", "30", "--anonymous"], env=env, capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert live.returncode == 0, live.stderr[-2000:]
    assert main(["analyze", str(video), "--record", "--db", str(db), "--quiet", "--anonymous"]) == 0
    with SessionStore.open(db, create=False) as store:
        # The recorded one starts earlier (its file's time less its length): tell them apart by settings.
        (offline_info,) = [i for i in store.list_sessions() if i.settings.get("analysed_from")]
        (live_info,) = [i for i in store.list_sessions() if not i.settings.get("analysed_from")]
        assert live_info.source == offline_info.source == f"video:{video}"
        # Anonymous keys are tracks, and a face swapped into another tile may start a new one
        # (or not, when a busy live run skipped the frames of the swap): the two swaps make up
        # to 2 more in either run.
        assert 9 <= live_info.n_students <= 11 and 9 <= offline_info.n_students <= 11
        assert abs(live_info.duration_s - offline_info.duration_s) <= 2
        live_counts = Counter(s.emotion.value for s in store.read_students(live_info.id) if s.present)
        offline_counts = Counter(s.emotion.value for s in store.read_students(offline_info.id) if s.present)
    keys = sorted(set(live_counts) | set(offline_counts))
    live_share = np.array([live_counts[k] for k in keys]) / sum(live_counts.values())
    offline_share = np.array([offline_counts[k] for k in keys]) / sum(offline_counts.values())
    assert np.abs(live_share - offline_share).max() <= 0.15, dict(zip(keys, zip(live_share, offline_share)))


def test_ctrl_c_keeps_what_was_analysed(tmp_path):
    video = tmp_path / "long.mp4"
    write_video(video, 100, repeat=8, participants=4)  # 80 s of class
    db, results = tmp_path / "s.sqlite3", tmp_path / "r.json"
    env = {**os.environ, CONFIG_ENV: str(tmp_path / "absent.toml")}
    proc = subprocess.Popen([sys.executable, "-m", "fer_overlay", "analyze", str(video), "--record", "--db", str(db),
                             "--json", str(results), "--analysis-fps", "5"],
                            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # A job started in the background by a shell (CI scripts do) inherits SIGINT
                            # ignored, and Python then keeps ignoring it: the child gets the default.
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not _recorded_seconds(db):  # the first batch is committed
            time.sleep(0.2)
        assert _recorded_seconds(db), "nothing recorded within 90 s"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "stopped by Ctrl+C" in err and "what was analysed is kept" in err
    with SessionStore.open(db, create=False) as store:
        (info,) = store.list_sessions()
    assert info.ended_at is not None, "the session is ended, not left recording"
    assert 0 < info.duration_s < 80
    doc = json.loads(results.read_text())
    assert len(doc["frames"]) > 0 and doc["frames"][-1]["time"] < 80
    assert f"recorded session {info.label}" in out


def _recorded_seconds(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(db, timeout=1)
        try:
            return con.execute("SELECT count(*) FROM class_seconds").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


def test_analysis_fps_samples_video_time_and_keeps_timestamps(recording, tmp_path, capsys):
    video, _ = recording
    results = tmp_path / "r.json"
    assert main(["analyze", str(video), "--analysis-fps", "2.5", "--json", str(results), "--quiet"]) == 0
    times = [f["time"] for f in json.loads(results.read_text())["frames"]]
    assert len(times) == 30  # 12 s at 2.5 per second
    assert times[:3] == pytest.approx([0.0, 0.4, 0.8]) and times[-1] == pytest.approx(11.6)
    assert "30 frame(s) analysed of 120 read" in capsys.readouterr().out


def test_video_skip_keeps_the_numbering(recording):
    video, _ = recording
    with VideoSource(video) as source:
        assert source.skip(5) == 5
        frame = source.read()
        assert frame.index == 5 and frame.timestamp == pytest.approx(5 / FPS)
        assert source.skip(1000) == 120 - 6
        assert source.read() is None


def test_record_is_refused_for_an_image_before_any_work(tmp_path, capsys):
    image = tmp_path / "g.png"
    cv2.imwrite(str(image), np.zeros((90, 160, 3), np.uint8))
    assert main(["analyze", str(image), "--record"]) == 2
    assert "--record and --analysis-fps are for a video" in capsys.readouterr().err


def test_analysis_fps_is_bounded(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "x.mp4"), "--analysis-fps", "0"]) == 2
    assert "frames per second from 1 to 60" in capsys.readouterr().err


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_progress_on_a_terminal_redraws_one_line_with_rate_and_eta():
    clock, stream = FakeClock(), io.StringIO()
    bar = Progress(1000, stream=stream, tty=True, clock=clock)
    clock.t += 0.1
    bar.update(10)  # too soon after the start: nothing drawn
    assert stream.getvalue() == ""
    clock.t += 9.9
    bar.update(250)  # 250 frames in 10 s: 25/s, 750 left = 30 s
    assert stream.getvalue().startswith("\r[######..................] 250/1000 frames (25%)")
    assert "25.0 frames/s · ETA 0:30" in stream.getvalue()
    bar.close()
    assert stream.getvalue().endswith("\x1b[K\n") and stream.getvalue().count("\r") == 2


def test_progress_in_a_log_writes_a_line_every_ten_seconds_and_knows_an_unknown_length():
    clock, stream = FakeClock(), io.StringIO()
    bar = Progress(None, stream=stream, tty=False, clock=clock)
    for _ in range(25):
        clock.t += 1
        bar.update(bar.done + 30)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in stream.getvalue()
    assert lines[0] == "300 frames · 30.0 frames/s · 0:10 elapsed"
    bar.close()
    assert len(stream.getvalue().splitlines()) == 3


def test_progress_rejects_bad_values_and_formats_clock_text():
    with pytest.raises(ValueError, match="total"):
        Progress(-1)
    with pytest.raises(ValueError, match="every_s"):
        Progress(1, every_s=0)
    assert [clock_text(s) for s in (0, 65, 3723, float("nan"), -1)] == ["0:00", "1:05", "1:02:03", "?", "?"]

"""The session record under trouble: a database held by another process, a full disk, forget while
recording, the database every session command reads, formula-safe CSV, safe report/export files.

Real parts only: a second OS process holding SQLite's lock, a real 256 KiB tmpfs, the real CLI.
"""

from __future__ import annotations

import csv
import logging
import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fer_overlay.cli import main
from fer_overlay.errors import StoreError
from fer_overlay.store import (
    RECORDER_STALE_S,
    AsyncWriter,
    ClassSecond,
    SessionState,
    SessionStore,
    StoreFullError,
    StudentSecond,
    locate_db,
)
from fer_overlay.store.location import DbOrigin
from fer_overlay.store.synthetic import record_synthetic
from fer_overlay.types import Emotion

_LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
conn.close()
"""


@contextmanager
def _held(db: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another OS process holding the database with BEGIN EXCLUSIVE for ``seconds``."""
    proc = subprocess.Popen([sys.executable, "-c", _LOCKER, str(db), str(seconds)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked", proc.stderr
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def _second(t: int, names: tuple[str, ...] = ("Ana", "Ben", "Cara")) -> tuple[ClassSecond, list[StudentSecond]]:
    rows = [StudentSecond(t, n, Emotion.HAPPY if (t + i) % 2 else Emotion.NEUTRAL, 0.8) for i, n in enumerate(names)]
    return ClassSecond.from_students(t, rows), rows


def _new_session(db: Path) -> int:
    with SessionStore.open(db) as store:
        return store.start_session("zoom", False, {}).id


def _recorded(db: Path, sid: int) -> list[int]:
    with SessionStore.open(db) as store:
        return [c.t for c in store.read_class(sid)]


def _on_disk(db: Path, sid: int, t: int) -> bool:
    """Read by a separate connection: is second ``t`` committed?"""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        row = conn.execute("SELECT 1 FROM class_seconds WHERE session_id = ? AND t = ?", (sid, t)).fetchone()
        return row is not None
    finally:
        conn.close()


def _age_heartbeat(db: Path, sid: int, seconds: float) -> None:
    """Move the recorder's last heartbeat into the past, as if that much time had passed since."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("UPDATE sessions SET heartbeat = heartbeat - ? WHERE id = ?", (seconds, sid))
    finally:
        conn.close()


# -- a locked database ---------------------------------------------------------------------------


def test_ten_second_exclusive_lock_loses_no_second(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The product rate (one record per second) through a 10 s BEGIN EXCLUSIVE in another process."""
    db = tmp_path / "sessions.sqlite3"
    sid = _new_session(db)
    acked: list[int] = []
    early: list[int] = []  # acknowledged although not yet readable from disk: must stay empty

    def on_ack(t: int) -> None:
        acked.append(t)
        if not _on_disk(db, sid, t):
            early.append(t)

    writer = AsyncWriter(db, sid, on_ack=on_ack)  # default queue (300) holds far more than 10 s at 1 Hz
    accepted: list[int] = []
    t = 0

    def tick(n: int) -> None:  # n records, one per second
        nonlocal t
        start = time.monotonic()
        for i in range(n):
            time.sleep(max(0.0, start + i - time.monotonic()))
            assert writer.put(*_second(t))  # never raises, never refused
            accepted.append(t)
            t += 1

    tick(2)
    writer.flush(timeout=30)
    with _held(db, 10.0) as locker:
        tick(5)
        assert writer.acknowledged_t == 1  # held seconds are not acknowledged while the lock is held
        tick(5)
        locker.wait(timeout=30)
    tick(2)
    writer.close(timeout=60)
    assert writer.error is None and writer.dropped == 0 and early == []
    assert accepted == list(range(14)) and max(acked) == 13
    assert _recorded(db, sid) == accepted  # 0 seconds lost
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_lasting_lock_stops_recording_with_one_message(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "sessions.sqlite3"
    sid = _new_session(db)
    writer = AsyncWriter(db, sid, busy_timeout=0.2, give_up_after_s=2.0)
    assert writer.put(*_second(0))
    writer.flush(timeout=30)
    refused_at = None
    with _held(db, 600):
        deadline = time.monotonic() + 30
        t = 1
        while time.monotonic() < deadline:
            if not writer.put(*_second(t)):  # recording stopped: False, not an exception
                refused_at = t
                break
            t += 1
            time.sleep(0.1)
        assert refused_at is not None, "the writer never gave up on a lock held for good"
        assert writer.put(*_second(t + 1)) is False and writer.bookmark(t, "later") is False
    writer.close(timeout=30)  # reported once already: not raised again
    msg = str(writer.error)
    assert "locked by another program" in msg and "up to second 0 is kept" in msg and "Close the other" in msg
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].getMessage() == msg  # logged once
    assert not [r for r in caplog.records if r.exc_info]  # and never a traceback
    assert _recorded(db, sid) == [0]


# -- a full disk ---------------------------------------------------------------------------------


def test_full_disk_stops_recording_with_advice_that_works_on_a_full_disk(tiny_disk, caplog) -> None:
    db = tiny_disk.path / "sessions.sqlite3"
    sid = _new_session(db)
    told: list[StoreError] = []
    writer = AsyncWriter(db, sid, on_error=told.append)  # the owner says it (the controller does)
    for t in range(3):
        assert writer.put(*_second(t))
    writer.flush(timeout=30)
    tiny_disk.fill()
    t, deadline = 3, time.monotonic() + 30
    while writer.put(*_second(t)) and time.monotonic() < deadline:  # never raises
        t += 1
        time.sleep(0.02)
    error = writer.error
    assert isinstance(error, StoreFullError), error
    msg = str(error)
    assert "is full" in msg and "Everything recorded before is kept" in msg
    assert "deleting or moving other files" in msg and "another disk" in msg  # what works on a full disk
    assert "`fer-overlay forget` needs free space too" in msg  # not advised as the fix
    writer.close(timeout=30)
    assert told == [error]  # once, to the owner, who logs it: the writer itself stays quiet
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    tiny_disk.free()
    acked = writer.acknowledged_t
    assert acked is not None and _recorded(db, sid) == list(range(acked + 1))
    # Nobody could write ended_at on the full disk; once the recorder is gone the session reads
    # as interrupted (not "unfinished" forever) and can be deleted.
    _age_heartbeat(db, sid, RECORDER_STALE_S + 1)
    with SessionStore.open(db) as store:
        info = store.get(sid)
        assert info.ended_at is None and info.state is SessionState.INTERRUPTED
        store.delete_session(sid)


# -- forget while recording ----------------------------------------------------------------------


def test_forget_refuses_a_session_being_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "sessions.sqlite3"
    sid = _new_session(db)
    with AsyncWriter(db, sid) as writer:
        assert writer.put(*_second(0))
        writer.flush(timeout=30)
        assert main(["sessions", "--db", str(db)]) == 0
        assert "(recording)" in capsys.readouterr().out
        for argv in (["forget", str(sid)], ["forget", "latest"], ["forget", "--all", "--yes"]):
            assert main([*argv, "--db", str(db)]) == 2, argv
            err = capsys.readouterr().err
            assert "is being recorded right now" in err and "Stop the recording first" in err, err
            assert err.count("\n") == 1 and "Traceback" not in err
        assert writer.put(*_second(1)) and writer.error is None  # the recording went on untouched
        writer.flush(timeout=30)
    assert _recorded(db, sid) == [0, 1]
    with SessionStore.open(db) as store:
        store.end_session(sid)
    assert main(["forget", str(sid), "--db", str(db)]) == 0
    assert f"Deleted session {sid}" in capsys.readouterr().out


def test_a_crashed_recorder_does_not_block_forget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "sessions.sqlite3"
    sid = _new_session(db)
    script = ("import sys, time\nfrom fer_overlay.store import AsyncWriter\n"
              "from fer_overlay.store.synthetic import generate_seconds\n"
              "w = AsyncWriter(sys.argv[1], int(sys.argv[2]), on_ack=lambda t: print(t, flush=True))\n"
              "for cs, rows in generate_seconds(1000, 3):\n    w.put(cs, rows)\n    time.sleep(0.05)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(db), str(sid)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert proc.stdout is not None and proc.stdout.readline().strip().isdigit()
    proc.kill()  # no chance to end the session
    proc.communicate(timeout=30)
    assert main(["forget", str(sid), "--db", str(db)]) == 2  # a moment ago it was being written
    capsys.readouterr()
    _age_heartbeat(db, sid, RECORDER_STALE_S + 1)
    assert main(["sessions", "--db", str(db)]) == 0 and "(interrupted)" in capsys.readouterr().out
    assert main(["forget", str(sid), "--db", str(db)]) == 0
    with SessionStore.open(db) as store:
        assert store.list_sessions() == []


# -- one database for every command --------------------------------------------------------------


def test_session_commands_follow_the_settings_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("FER_OVERLAY_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # the platform default, away from $HOME
    default = locate_db()
    assert default.origin is DbOrigin.DEFAULT and tmp_path in default.path.parents
    with SessionStore.open(default.path) as store:  # an older session where the default points
        record_synthetic(store, seconds=60, n_students=3, source="default-folder class")
    data = tmp_path / "class data"
    config = tmp_path / "settings.toml"
    config.write_text(f'[session]\ndata_dir = "{data.as_posix()}"\n', encoding="utf-8")
    with SessionStore.open(data / "sessions.sqlite3") as store:
        sid = record_synthetic(store, seconds=120, n_students=5, source="data-dir class")

    assert main(["--config", str(config), "sessions"]) == 0
    out = capsys.readouterr().out
    assert "data-dir class" in out and "default-folder class" not in out and str(data) in out

    report = tmp_path / "report.html"
    assert main(["--config", str(config), "report", "latest", "--out", str(report)]) == 0
    assert f"Report for session {sid}" in capsys.readouterr().out and "5 students" in report.read_text()

    assert main(["--config", str(config), "export", "latest", "--csv", str(tmp_path / "csv")]) == 0
    with (tmp_path / "csv" / "sessions.csv").open(encoding="utf-8") as fh:
        assert next(csv.DictReader(fh))["source"] == "data-dir class"

    assert main(["--config", str(config), "forget", "--student", "Ana Alves"]) == 0
    assert "120 per-second rows" in capsys.readouterr().out
    assert main(["--config", str(config), "forget", "--all", "--yes"]) == 0
    with SessionStore.open(data / "sessions.sqlite3") as store:
        assert store.list_sessions() == []  # deleted where it was recorded
    with SessionStore.open(default.path) as store:
        assert len(store.list_sessions()) == 1  # and nowhere else

    # Precedence: --db > $FER_OVERLAY_DATA_DIR > session.data_dir > the default.
    monkeypatch.setenv("FER_OVERLAY_DATA_DIR", str(default.path.parent))
    assert main(["--config", str(config), "sessions"]) == 0
    assert "default-folder class" in capsys.readouterr().out
    assert main(["--config", str(config), "sessions", "--db", str(data / "sessions.sqlite3")]) == 0
    assert "No sessions recorded yet" in capsys.readouterr().out


def test_locate_db_precedence(tmp_path: Path) -> None:
    calls: list[int] = []

    def settings() -> Path:
        calls.append(1)
        return tmp_path / "settings-dir"

    env = {"FER_OVERLAY_DATA_DIR": str(tmp_path / "env-dir")}
    assert locate_db(tmp_path / "x.sqlite3", settings, env).path == tmp_path / "x.sqlite3"
    assert locate_db(None, settings, env).path == tmp_path / "env-dir" / "sessions.sqlite3"
    assert calls == []  # the settings file is not even read when a flag or the env decides
    found = locate_db(None, settings, {})
    assert found.path == tmp_path / "settings-dir" / "sessions.sqlite3" and found.origin is DbOrigin.SETTINGS
    assert locate_db(None, None, {}).origin is DbOrigin.DEFAULT


# -- CSV formulas --------------------------------------------------------------------------------


def test_csv_formula_cells_are_neutralised_after_tab_and_cr(tmp_path: Path) -> None:
    evil = ("\t=cmd|' /C calc'!A0", "\r=1+1", "\n=2+2", " =3+3", "\t", "@SUM(A1)", "+1", "-1", "=HYPERLINK(\"x\")")
    db = tmp_path / "sessions.sqlite3"
    with SessionStore.open(db) as store:
        sid = store.start_session("\r=source()", False, {}).id
        for t in range(2):
            rows = [StudentSecond(t, f"s{i}", Emotion.HAPPY, 0.9, name=name) for i, name in enumerate(evil)]
            store.append(sid, ClassSecond.from_students(t, rows), rows)
        store.bookmark(sid, 1, "\t=HYPERLINK(\"http://x\")")
        store.end_session(sid)
    assert main(["export", str(sid), "--csv", str(tmp_path / "out"), "--db", str(db)]) == 0
    with (tmp_path / "out" / "student_seconds.csv").open(encoding="utf-8", newline="") as fh:
        names = {r["name"] for r in csv.DictReader(fh)}
    assert names == {"'" + name for name in evil}
    with (tmp_path / "out" / "bookmarks.csv").open(encoding="utf-8", newline="") as fh:
        assert next(csv.DictReader(fh))["label"] == "'\t=HYPERLINK(\"http://x\")"
    with (tmp_path / "out" / "sessions.csv").open(encoding="utf-8", newline="") as fh:
        assert next(csv.DictReader(fh))["source"] == "'\r=source()"


# -- report and export files ---------------------------------------------------------------------


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    db = tmp_path / "sessions.sqlite3"
    with SessionStore.open(db) as store:
        record_synthetic(store, seconds=60, n_students=3)
    return db


def _one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith("fer-overlay: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def test_report_refuses_a_symlink_a_device_and_a_folder(recorded: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("keep")
    link = tmp_path / "link.html"
    link.symlink_to(precious)
    folder = tmp_path / "folder.html"
    folder.mkdir()
    device = tmp_path / "null.html"  # a device node where an .html file is expected
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        os.mkfifo(device)  # without the right to make devices: another non-regular file
    cases = ((link, "symbolic link"), (device, "not a regular file"), (Path("/dev/null"), "/dev/null"),
             (folder, "a folder"))
    for target, why in cases:
        before = target.lstat().st_mode
        # Session 99 does not exist: the output is checked first, before any work.
        assert main(["report", "99", "--out", str(target), "--db", str(recorded)]) == 2
        _one_line_error(capsys, why)
        assert main(["report", "latest", "--out", str(target), "--db", str(recorded)]) == 2
        _one_line_error(capsys, why)
        assert target.lstat().st_mode == before
    assert precious.read_text() == "keep"
    assert main(["report", "latest", "--out", str(tmp_path / "r.xlsx"), "--db", str(recorded)]) == 2
    _one_line_error(capsys, "unknown file type")
    assert main(["report", "latest", "--out", str(link), "--force", "--db", str(recorded)]) == 0
    assert not link.is_symlink() and link.read_text().startswith("<!DOCTYPE html>")
    assert precious.read_text() == "keep"  # the link was replaced, never its target


def test_export_refuses_a_symlinked_file_and_a_non_folder(recorded: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("keep")
    out = tmp_path / "csv"
    out.mkdir()
    (out / "student_seconds.csv").symlink_to(precious)
    assert main(["export", "latest", "--csv", str(out), "--db", str(recorded)]) == 2
    _one_line_error(capsys, "symbolic link", "--force")
    assert precious.read_text() == "keep" and sorted(p.name for p in out.iterdir()) == ["student_seconds.csv"]
    for not_a_folder in (precious, Path("/dev/null")):
        assert main(["export", "latest", "--csv", str(not_a_folder), "--db", str(recorded)]) == 2
        _one_line_error(capsys, "not a folder")
    assert precious.read_text() == "keep" and stat.S_ISCHR(Path("/dev/null").stat().st_mode)
    assert main(["export", "latest", "--csv", str(out), "--force", "--db", str(recorded)]) == 0
    assert not (out / "student_seconds.csv").is_symlink() and precious.read_text() == "keep"


def test_report_and_export_keep_the_umask(recorded: Path, tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        assert main(["report", "latest", "--out", str(tmp_path / "r.html"), "--db", str(recorded)]) == 0
        assert main(["export", "latest", "--csv", str(tmp_path / "csv"), "--db", str(recorded)]) == 0
    finally:
        os.umask(old)
    files = [tmp_path / "r.html", *sorted((tmp_path / "csv").iterdir())]
    assert len(files) == 5
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path
    assert not [p for p in tmp_path.rglob("*.tmp")]  # no temporary file left behind

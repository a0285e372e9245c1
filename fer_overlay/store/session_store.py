"""The session record: one SQLite file holding every class, second by second. Never images.

A second is written by :meth:`SessionStore.append` as one transaction (one executemany for
the student rows); when it returns the second is on disk ("acknowledged"). Use
:class:`~fer_overlay.store.writer.AsyncWriter` to keep the fsync off the analysis thread.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import StoreError
from ..people.names import match_key
from ..types import LABELS
from .db import SESSIONS_HINT, SessionRecordingError, connect, rollback_quietly, translate_errors
from .location import default_db_path
from .records import (
    RECORDER_STALE_S,
    Bookmark,
    ClassSecond,
    SessionInfo,
    SessionState,
    StudentSecond,
    emotion_code,
    emotion_from_code,
)

log = logging.getLogger(__name__)

SessionRef = int | str  # id, its digits, the label, or "latest"

_CLASS_COLUMNS = ("t", "present", "camera_off", "not_visible", "unknown", *LABELS, "balance", "turn")
_INSERT_CLASS = (
    f"INSERT INTO class_seconds (session_id, {', '.join(_CLASS_COLUMNS)}) "
    f"VALUES ({', '.join('?' * (len(_CLASS_COLUMNS) + 1))})"
)
_INSERT_STUDENT = (
    "INSERT INTO student_seconds (session_id, t, student, emotion, valence, confidence, relative, present, camera_on, "
    "age_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SESSION_SELECT = """
    SELECT s.id, s.label, s.started_at, s.ended_at, s.source, s.anonymous, s.settings, s.app_version,
           (SELECT max(c.t) + 1 FROM class_seconds c WHERE c.session_id = s.id),
           (SELECT count(*) FROM session_students r WHERE r.session_id = s.id),
           s.heartbeat
    FROM sessions s
"""
_STOP_FIRST = ("Stop the recording first (Stop in the tray menu, or Ctrl+C in `fer-overlay run`), then run "
               "forget again. If the recorder crashed, a session with no write for {stale:g} s can be deleted.")


@dataclass(frozen=True)
class ForgetResult:
    sessions: tuple[int, ...]  # ids of the sessions that had the name
    rows: int  # student-seconds removed
    students: tuple[str, ...] = ()  # the keys removed, e.g. ("iphone", "iphone #2")


def _app_version() -> str:
    from .. import __version__

    return __version__


class SessionStore:
    """Reader and writer of the session database. Use one instance per thread."""

    def __init__(self, conn: sqlite3.Connection, path: Path, busy_timeout: float) -> None:
        self._conn = conn
        self.path = path
        self.busy_timeout = busy_timeout
        # Sessions appended to by this instance -> known keys and their display names.
        self._rosters: dict[int, dict[str, str | None]] = {}

    @classmethod
    def open(
        cls, path: str | Path | None = None, *, busy_timeout: float = 5.0, create: bool = True,
        max_size_bytes: int | None = None,
    ) -> SessionStore:
        """Open (creating and migrating if needed) the database; ``None`` means :func:`default_db_path`.

        ``max_size_bytes`` caps the file (SQLite ``max_page_count``); past it writes fail exactly
        like a full disk, which is how the tests exercise that path.
        """
        db_path = Path(path).expanduser() if path is not None else default_db_path()
        conn = connect(db_path, busy_timeout, create)
        store = cls(conn, db_path, busy_timeout)
        if max_size_bytes is not None:
            with store._errors("set the size limit"):
                page = conn.execute("PRAGMA page_size").fetchone()[0]
                conn.execute(f"PRAGMA max_page_count = {max(1, int(max_size_bytes) // int(page))}")
        return store

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        with translate_errors(self.path, doing, self.busy_timeout):
            yield

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[sqlite3.Connection]:
        with self._errors(doing):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                rollback_quietly(self._conn)
                raise

    @contextmanager
    def snapshot(self) -> Iterator[SessionStore]:
        """Reads inside see one consistent state, even while another process keeps recording."""
        with self._errors("read sessions"):
            self._conn.execute("BEGIN")
        try:
            yield self
        finally:
            rollback_quietly(self._conn)  # nothing was written; just end the read transaction

    def query(self, sql: str, params: Sequence[Any] = (), doing: str = "read sessions") -> list[tuple[Any, ...]]:
        """Run a read-only query with errors turned into StoreError (for reports and exports)."""
        with self._errors(doing):
            return self._conn.execute(sql, tuple(params)).fetchall()

    # -- sessions ---------------------------------------------------------------------------

    def start_session(
        self, source: str, anonymous: bool, settings: dict[str, Any] | None = None, *,
        started_at: datetime | None = None,
    ) -> SessionInfo:
        start = (started_at or datetime.now()).astimezone().replace(microsecond=0)
        try:
            settings_json = json.dumps(settings or {}, sort_keys=True, default=str)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"settings must be JSON-serialisable: {exc}") from exc
        base = start.strftime("%Y-%m-%dT%H-%M-%S")
        with self._transaction("start a session") as conn:
            taken = {r[0] for r in conn.execute("SELECT label FROM sessions WHERE label LIKE ?", (base + "%",))}
            # Two sessions started within one second (a quick restart) get -2, -3...
            label = next(c for c in (base, *(f"{base}-{n}" for n in range(2, 10_000))) if c not in taken)
            cur = conn.execute(
                "INSERT INTO sessions (label, started_at, ended_at, source, anonymous, settings, app_version) "
                "VALUES (?, ?, NULL, ?, ?, ?, ?)",
                (label, start.isoformat(), source, int(bool(anonymous)), settings_json, _app_version()),
            )
            session_id = int(cur.lastrowid or 0)
        self._rosters[session_id] = {}
        log.info("recording session %d (%s) to %s", session_id, label, self.path)
        return self.get(session_id)

    def end_session(self, session_id: SessionRef) -> SessionInfo:
        sid = self.resolve(session_id)
        ended = datetime.now().astimezone().replace(microsecond=0).isoformat()
        with self._transaction(f"end session {sid}") as conn:
            conn.execute("UPDATE sessions SET ended_at = ? WHERE id = ?", (ended, sid))
        self._rosters.pop(sid, None)
        return self.get(sid)

    def resolve(self, ref: SessionRef) -> int:
        """The numeric id for an id, its digits, a label or "latest"; StoreError if there is none."""
        text = str(ref).strip()
        if text.lower() == "latest":
            rows = self.query("SELECT max(id) FROM sessions HAVING max(id) IS NOT NULL")
        elif text.isdigit():
            rows = self.query("SELECT id FROM sessions WHERE id = ?", (int(text),))
        else:
            rows = self.query("SELECT id FROM sessions WHERE label = ?", (text,))
        if not rows:
            what = "No session has been recorded yet" if text.lower() == "latest" else f"There is no session {text!r}"
            raise StoreError(f"{what} in {self.path}; {SESSIONS_HINT}.")
        return int(rows[0][0])

    def get(self, ref: SessionRef) -> SessionInfo:
        sid = self.resolve(ref)
        return _session_info(self.query(_SESSION_SELECT + " WHERE s.id = ?", (sid,))[0])

    def list_sessions(self) -> list[SessionInfo]:
        """All sessions, oldest first (ids grow in recording order)."""
        return [_session_info(r) for r in self.query(_SESSION_SELECT + " ORDER BY s.id")]

    # -- writing seconds --------------------------------------------------------------------

    def append(self, session_id: int, class_second: ClassSecond, students: Sequence[StudentSecond]) -> None:
        """Record one second in one transaction; durable once this returns."""
        self.append_many(session_id, [(class_second, students)])

    def heartbeat(self, session_id: int) -> None:
        """Mark ``session_id`` as being recorded by a live process now (see :class:`SessionState`)."""
        with self._transaction(f"mark session {session_id} as recording") as conn:
            self._stamp(conn, session_id)

    def _stamp(self, conn: sqlite3.Connection, session_id: int) -> None:
        cur = conn.execute("UPDATE sessions SET heartbeat = ? WHERE id = ?", (time.time(), session_id))
        if cur.rowcount == 0:
            raise StoreError(f"Session {session_id} no longer exists in {self.path} (deleted with "
                             f"`fer-overlay forget`?); it stopped being recorded.")

    def append_many(self, session_id: int, seconds: Sequence[tuple[ClassSecond, Sequence[StudentSecond]]], *,
                    live: bool = False) -> None:
        """Record several seconds in one transaction (AsyncWriter catching up after a slow disk).

        ``live``: the caller is the live recorder; its heartbeat is stamped in the same
        transaction (no extra fsync), which is what keeps `forget` off this session.
        """
        if not seconds:
            return
        cached = self._roster(session_id)
        roster = dict(cached)  # changed here, kept once the transaction is committed
        class_rows: list[tuple[Any, ...]] = []
        student_rows: list[tuple[Any, ...]] = []
        new_keys: dict[str, tuple[int, str | None]] = {}  # key -> (first second, display name)
        named: dict[str, str] = {}  # known keys whose display name is first seen now
        on_disk: list[tuple[str, str | None]] = []  # renames of keys already stored, in order
        for cs, students in seconds:
            for old, new in cs.renamed:  # the rows before this second move first (or go: new None)
                student_rows = [(*r[:2], new, *r[3:]) if r[2] == old else r for r in student_rows
                                if r[2] != old or new is not None]
                named.pop(old, None)
                first_t = new_keys.pop(old, (None, None))[0]
                if first_t is not None and new is not None:
                    if new in new_keys:
                        new_keys[new] = (min(first_t, new_keys[new][0]), new_keys[new][1])
                    elif new not in roster:
                        new_keys[new] = (first_t, None)
                if old in roster:
                    on_disk.append((old, new))
                    roster.pop(old)
                    if new is not None:
                        roster.setdefault(new, None)  # the name comes with this second's rows
            class_rows.append(_class_row(session_id, cs))
            keys = [s.student for s in students]
            if len(set(keys)) != len(keys):
                twice = sorted({k for k in keys if keys.count(k) > 1})
                raise ValueError(f"a student appears twice in second {cs.t}: {twice}")
            for s in students:
                if s.t != cs.t:
                    raise ValueError(f"student row for {s.student!r} has t={s.t}, its class second has t={cs.t}")
                student_rows.append(_student_row(session_id, s))
                if s.student not in roster and s.student not in new_keys:
                    new_keys[s.student] = (s.t, s.name)
                elif s.name and s.student in new_keys and new_keys[s.student][1] is None:
                    new_keys[s.student] = (new_keys[s.student][0], s.name)
                elif s.name and s.student in roster and roster[s.student] is None:
                    named.setdefault(s.student, s.name)
        first, last = seconds[0][0].t, seconds[-1][0].t
        span = f"second {first}" if first == last else f"seconds {first}-{last}"
        try:
            with self._transaction(f"record {span} of session {session_id}") as conn:
                for old, new in on_disk:
                    _rename_student(conn, session_id, old, new)
                conn.executemany(_INSERT_CLASS, class_rows)
                conn.executemany(_INSERT_STUDENT, student_rows)
                if new_keys:
                    conn.executemany(
                        "INSERT OR IGNORE INTO session_students (session_id, student, first_t, name) "
                        "VALUES (?, ?, ?, ?)",
                        [(session_id, k, t, name) for k, (t, name) in new_keys.items()],
                    )
                if named:
                    conn.executemany(
                        "UPDATE session_students SET name = ? WHERE session_id = ? AND student = ? AND name IS NULL",
                        [(name, session_id, k) for k, name in named.items()],
                    )
                if live:
                    self._stamp(conn, session_id)
        except sqlite3.IntegrityError as exc:
            if "FOREIGN KEY" in str(exc).upper():
                raise StoreError(f"Session {session_id} no longer exists in {self.path} (deleted with "
                                 f"`fer-overlay forget`?); it stopped being recorded.") from exc
            raise ValueError(f"{span} of session {session_id} already recorded ({exc})") from exc
        roster.update({k: name for k, (_, name) in new_keys.items()})
        roster.update(named)
        cached.clear()
        cached.update(roster)
        if any(new is None for _, new in on_disk):
            self._reclaim()  # an opted-out student's rows were written: not in the WAL either

    def _roster(self, session_id: int) -> dict[str, str | None]:
        roster = self._rosters.get(session_id)
        if roster is None:  # first write from this instance: check the session, resume its roster
            sid = self.resolve(int(session_id))
            rows = self.query("SELECT student, name FROM session_students WHERE session_id = ?", (sid,))
            roster = {k: name for k, name in rows}
            self._rosters[sid] = roster
        return roster

    def bookmark(self, session_id: SessionRef, t: int, label: str) -> Bookmark:
        mark = Bookmark(t, label)
        sid = self.resolve(session_id)
        with self._transaction(f"bookmark second {t} of session {sid}") as conn:
            conn.execute("INSERT INTO bookmarks (session_id, t, label) VALUES (?, ?, ?)", (sid, mark.t, mark.label))
        return mark

    # -- reading ----------------------------------------------------------------------------

    def read_class(self, session_id: SessionRef) -> list[ClassSecond]:
        sid = self.resolve(session_id)
        sql = f"SELECT {', '.join(_CLASS_COLUMNS)} FROM class_seconds WHERE session_id = ? ORDER BY t"
        rows = self.query(sql, (sid,))
        n = len(LABELS)
        return [ClassSecond(r[0], r[1], r[2], r[3], r[4], tuple(r[5:5 + n]), r[5 + n], bool(r[6 + n])) for r in rows]

    def read_students(self, session_id: SessionRef, student: str | None = None) -> list[StudentSecond]:
        """Rows ordered by t then student, with the roster's display name; ``student`` keeps one key only."""
        sid = self.resolve(session_id)
        sql = ("SELECT s.t, s.student, s.emotion, s.confidence, s.relative, s.present, s.camera_on, r.name, s.age_ms "
               "FROM student_seconds s LEFT JOIN session_students r "
               "ON r.session_id = s.session_id AND r.student = s.student WHERE s.session_id = ?"
               + (" AND s.student = ?" if student is not None else "") + " ORDER BY s.t, s.student")
        params = (sid,) if student is None else (sid, student)
        return [
            StudentSecond(t, key, emotion_from_code(e), conf, None if rel is None else emotion_from_code(rel),
                          bool(present), bool(cam), name, None if age is None else age / 1000)
            for t, key, e, conf, rel, present, cam, name, age in self.query(sql, params)
        ]

    def read_bookmarks(self, session_id: SessionRef) -> list[Bookmark]:
        sid = self.resolve(session_id)
        return [Bookmark(t, label) for t, label in
                self.query("SELECT t, label FROM bookmarks WHERE session_id = ? ORDER BY t, id", (sid,))]

    def students(self, session_id: SessionRef) -> list[str]:
        """Student keys in order of first appearance (the "Student N" order of anonymous reports)."""
        sid = self.resolve(session_id)
        return [r[0] for r in self.query(
            "SELECT student FROM session_students WHERE session_id = ? ORDER BY first_t, student", (sid,))]

    def names(self, session_id: SessionRef) -> dict[str, str]:
        """Student key -> the name to show ("maria lopez" -> "Maria López"); the key where none was read."""
        sid = self.resolve(session_id)
        rows = self.query("SELECT student, name FROM session_students WHERE session_id = ?", (sid,))
        return {key: name or key for key, name in rows}

    # -- deleting ---------------------------------------------------------------------------

    def delete_session(self, session_id: SessionRef) -> int:
        """Delete one session; :class:`SessionRecordingError` if a live recorder is writing it."""
        sid = self.resolve(session_id)
        with self._transaction(f"delete session {sid}") as conn:
            # Checked inside the write transaction: the recorder cannot commit in between.
            live = _recording(conn, (sid,))
            if live:
                label, age = live[0][1], live[0][2]
                raise SessionRecordingError(
                    f"Session {sid} ({label}) is being recorded right now (last written {age:.0f} s ago), so it "
                    f"was not deleted. " + _STOP_FIRST.format(stale=RECORDER_STALE_S))
            conn.execute("DELETE FROM sessions WHERE id = ?", (sid,))
        self._rosters.pop(sid, None)
        self._reclaim()
        log.info("deleted session %d from %s", sid, self.path)
        return sid

    def delete_all(self) -> list[int]:
        """Delete every session; refused whole (nothing deleted) while one is being recorded."""
        with self._transaction("delete all sessions") as conn:
            live = _recording(conn)
            if live:
                which = ", ".join(f"{sid} ({label})" for sid, label, _ in live)
                raise SessionRecordingError(
                    f"Session {which} is being recorded right now, so no session was deleted. "
                    + _STOP_FIRST.format(stale=RECORDER_STALE_S))
            ids = [r[0] for r in conn.execute("SELECT id FROM sessions ORDER BY id")]
            conn.execute("DELETE FROM sessions")
        self._rosters.clear()
        self._reclaim()
        return ids

    def apply_retention(self, days: float, now: datetime | None = None) -> list[int]:
        """Delete sessions that started more than ``days`` ago; returns their ids.

        Sessions being recorded right now are kept: by this store (started or appended to, not
        ended) or by a live recorder anywhere (fresh heartbeat).
        """
        if days <= 0:
            raise ValueError(f"retention must be > 0 days, got {days} (use delete_all to remove everything)")
        cutoff = (now or datetime.now()).astimezone() - timedelta(days=days)
        old = [s.id for s in self.list_sessions()
               if s.started_at < cutoff and s.id not in self._rosters and not s.recording]
        if old:
            with self._transaction("delete old sessions") as conn:
                conn.executemany("DELETE FROM sessions WHERE id = ?", [(i,) for i in old])
            self._reclaim()
            log.info("retention %g days: deleted sessions %s", days, old)
        return old

    def forget_student(self, name: str) -> ForgetResult:
        """Remove every per-second row of a student (opt-out), in all sessions; class totals stay.

        The name is turned into a student key by :func:`fer_overlay.people.names.match_key`, the
        function every key comes from, so accents, case, spacing and app decorations never
        matter ("Maria Lopez" removes rows of "Maria López"); keys of older records (display
        names) are matched the same way. A name shared by several tiles ("iPhone") removes
        each of them ("iphone", "iphone #2", ...); "iPhone #2" removes only that one.
        """
        if not name.strip():
            raise ValueError("forget_student needs a non-empty name")
        key = match_key(name)
        rows = 0
        with self._transaction(f"forget {name.strip()!r}") as conn:
            roster = conn.execute("SELECT session_id, student, name FROM session_students").fetchall()
            hits = [(sid, stored) for sid, stored, shown in roster
                    if _same_student(key, stored) or (shown is not None and _same_student(key, shown))]
            for sid, stored in hits:
                cur = conn.execute("DELETE FROM student_seconds WHERE session_id = ? AND student = ?", (sid, stored))
                rows += max(cur.rowcount, 0)
                conn.execute("DELETE FROM session_students WHERE session_id = ? AND student = ?", (sid, stored))
        for sid, stored in hits:
            self._rosters.get(sid, {}).pop(stored, None)
        self._reclaim()
        return ForgetResult(tuple(sorted({int(h[0]) for h in hits})), rows, tuple(sorted({h[1] for h in hits})))

    def _reclaim(self) -> None:
        # Give freed pages back to the file system and fold the WAL (which still holds the
        # deleted rows' old pages) into the main file, so deleted data really is gone.
        with self._errors("reclaim space"):
            self._conn.execute("PRAGMA incremental_vacuum").fetchall()
            busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy and busy[0]:
            log.info("%s: another reader is open; the WAL will be truncated later", self.path)


def _rename_student(conn: sqlite3.Connection, session_id: int, old: str, new: str | None) -> None:
    """File the stored rows of student `old` under `new` (a better read of the name). Where `new`
    already has a row for a second, that row stays and the old one goes; the roster keeps the
    earlier first second, and the name is set again from the rows that follow. `new` None (an
    opted-out student): the rows and the roster entry go."""
    if new is not None:
        conn.execute("UPDATE OR IGNORE student_seconds SET student = ? WHERE session_id = ? AND student = ?",
                     (new, session_id, old))
    conn.execute("DELETE FROM student_seconds WHERE session_id = ? AND student = ?", (session_id, old))
    first = conn.execute("SELECT first_t FROM session_students WHERE session_id = ? AND student = ?",
                         (session_id, old)).fetchone()
    conn.execute("DELETE FROM session_students WHERE session_id = ? AND student = ?", (session_id, old))
    if first is None or new is None:
        return
    conn.execute("INSERT INTO session_students (session_id, student, first_t, name) VALUES (?, ?, ?, NULL) "
                 "ON CONFLICT (session_id, student) DO UPDATE SET first_t = min(first_t, excluded.first_t)",
                 (session_id, new, first[0]))


def _same_student(key: str, stored: str) -> bool:
    """`stored` (a key, or a version-1 display name) is the student `key` asks for, or one of its
    "#n" namesakes when `key` names no number itself. Spaces are ignored too: the recogniser
    drops narrow ones ("MariaLopez")."""
    other = match_key(stored)
    if key.replace(" ", "") == other.replace(" ", ""):
        return True
    base, sep, n = other.rpartition(" #")
    return bool(sep) and n.isdigit() and " #" not in key and key.replace(" ", "") == base.replace(" ", "")


def _class_row(session_id: int, cs: ClassSecond) -> tuple[Any, ...]:
    return (session_id, cs.t, cs.present, cs.camera_off, cs.not_visible, cs.unknown, *cs.counts,
            round(cs.balance, 4), int(cs.turn))


def _student_row(session_id: int, s: StudentSecond) -> tuple[Any, ...]:
    rel = None if s.relative is None else emotion_code(s.relative)
    age = None if s.age_s is None else round(s.age_s * 1000)
    return (session_id, s.t, s.student, emotion_code(s.emotion), s.valence, round(s.confidence, 3), rel,
            int(s.present), int(s.camera_on), age)


def _recording(conn: sqlite3.Connection, ids: Sequence[int] | None = None) -> list[tuple[int, str, float]]:
    """(id, label, seconds since the last write) of sessions a live recorder is writing now."""
    now = time.time()
    rows = conn.execute("SELECT id, label, heartbeat FROM sessions WHERE ended_at IS NULL AND heartbeat IS NOT NULL "
                        "ORDER BY id").fetchall()
    return [(int(sid), label, max(0.0, now - hb)) for sid, label, hb in rows
            if (ids is None or sid in ids) and SessionState.of(False, hb, now) is SessionState.RECORDING]


def _session_info(row: tuple[Any, ...]) -> SessionInfo:
    sid, label, started, ended, source, anon, settings, version, duration, n_students, heartbeat = row
    try:
        parsed = json.loads(settings) if settings else {}
    except json.JSONDecodeError:
        log.warning("session %s: settings are not valid JSON; ignored", sid)
        parsed = {}
    return SessionInfo(
        id=int(sid), label=label, started_at=datetime.fromisoformat(started),
        ended_at=datetime.fromisoformat(ended) if ended else None, source=source, anonymous=bool(anon),
        settings=parsed if isinstance(parsed, dict) else {}, app_version=version,
        duration_s=int(duration or 0), n_students=int(n_students or 0),
        state=SessionState.of(bool(ended), heartbeat, time.time()),
        heartbeat_at=datetime.fromtimestamp(heartbeat).astimezone() if heartbeat is not None else None,
    )

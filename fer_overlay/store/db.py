"""SQLite plumbing: where the file lives, connection settings, schema migrations, error messages.

Durability choice: WAL with ``synchronous=FULL`` fsyncs the WAL on every commit, so a
returned :meth:`SessionStore.append` survives a process kill *and* a power cut; the cost
(one fsync per second of class) is taken off the analysis thread by :class:`AsyncWriter`.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import StoreError
from ..types import LABELS
from .location import DATA_DIR_ENV, DB_FILENAME, default_db_path

log = logging.getLogger(__name__)

__all__ = [  # default_db_path and the names are re-exported from .location for older imports
    "DATA_DIR_ENV", "DB_FILENAME", "SCHEMA_VERSION", "SessionRecordingError", "StoreBusyError", "StoreFullError",
    "connect", "default_db_path", "friendly_error",
]

SESSIONS_HINT = "run `fer-overlay sessions` to see the recorded sessions and their ids"

# Codes from sqlite3.h; the extended code's low byte is the primary code.
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 5, 6, 8
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 10, 11, 13, 14, 26
_MESSAGE_CODES = (  # Python 3.10 has no sqlite_errorcode attribute
    ("not a database", _SQLITE_NOTADB), ("malformed", _SQLITE_CORRUPT), ("disk is full", _SQLITE_FULL),
    ("database is locked", _SQLITE_BUSY), ("table is locked", _SQLITE_LOCKED), ("unable to open", _SQLITE_CANTOPEN),
    ("readonly", _SQLITE_READONLY), ("disk i/o error", _SQLITE_IOERR),
)

_EMOTION_COLUMNS = ", ".join(f"{name} INTEGER NOT NULL DEFAULT 0" for name in LABELS)

# Migration N brings a database from version N-1 to N. Never edit a shipped entry: append.
MIGRATIONS: tuple[str, ...] = (
    f"""
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        label TEXT NOT NULL UNIQUE,          -- start time, '2026-11-24T10-15-03'
        started_at TEXT NOT NULL,            -- ISO 8601 with UTC offset
        ended_at TEXT,                       -- NULL: recording, or the recorder crashed
        source TEXT NOT NULL,
        anonymous INTEGER NOT NULL,
        settings TEXT NOT NULL,              -- JSON object
        app_version TEXT NOT NULL
    );
    CREATE TABLE emotion_codes (code INTEGER PRIMARY KEY, label TEXT NOT NULL);
    CREATE TABLE class_seconds (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        t INTEGER NOT NULL,
        present INTEGER NOT NULL, camera_off INTEGER NOT NULL,
        not_visible INTEGER NOT NULL, unknown INTEGER NOT NULL,
        {_EMOTION_COLUMNS},
        balance REAL NOT NULL,
        turn INTEGER NOT NULL,
        PRIMARY KEY (session_id, t)
    ) WITHOUT ROWID;
    -- One row per student per second; WITHOUT ROWID keeps it one b-tree (no rowid index).
    CREATE TABLE student_seconds (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        t INTEGER NOT NULL,
        student TEXT NOT NULL,
        emotion INTEGER NOT NULL,            -- emotion_codes.code, -1 unknown
        valence INTEGER NOT NULL,
        confidence REAL NOT NULL,            -- rounded to 0.001
        relative INTEGER,                    -- calibrated emotion code, NULL if not calibrated
        present INTEGER NOT NULL,
        camera_on INTEGER NOT NULL,
        PRIMARY KEY (session_id, t, student)
    ) WITHOUT ROWID;
    -- Roster per session: student count, first appearance (anonymous numbering), opt-out lookup.
    CREATE TABLE session_students (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        student TEXT NOT NULL,
        first_t INTEGER NOT NULL,
        PRIMARY KEY (session_id, student)
    ) WITHOUT ROWID;
    CREATE TABLE bookmarks (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        t INTEGER NOT NULL,
        label TEXT NOT NULL
    );
    CREATE INDEX bookmarks_by_session ON bookmarks(session_id, t);
    INSERT INTO emotion_codes VALUES (-1, 'unknown'), {", ".join(f"({i}, '{n}')" for i, n in enumerate(LABELS))};
    """,
    # 2: `student` is the student key (fer_overlay.people.names.match_key: "maria lopez", "iphone #2",
    # "track-7"); the roster keeps the display name beside it. Version 1 stored display names
    # as keys: their `name` is NULL, and forget / reports read the key as the name.
    """
    ALTER TABLE session_students ADD COLUMN name TEXT;
    """,
    # 3: the live recorder (AsyncWriter) stamps `heartbeat` (Unix time) with every commit and
    # every few idle seconds. A session with no end and a fresh heartbeat is being recorded
    # (forget refuses it); a stale one lost its recorder (crash, full disk) and reads as
    # interrupted, so a crash never blocks forget for longer than the staleness window.
    # NULL: written without the live recorder (scripts, tests, versions before 3).
    """
    ALTER TABLE sessions ADD COLUMN heartbeat REAL;
    """,
    # 4: `age_ms`, how long before the end of its second a student's emotion was read (the
    # pipeline's refresh age), so a review knows how fresh each value was. Whole milliseconds:
    # an integer takes 1-3 bytes where a REAL takes 8, on every row. NULL: not read, or
    # written before version 4.
    """
    ALTER TABLE student_seconds ADD COLUMN age_ms INTEGER;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return int(code) & 0xFF
    text = str(exc).lower()
    return next((c for needle, c in _MESSAGE_CODES if needle in text), None)


class StoreBusyError(StoreError):
    """Another connection holds the database lock past the busy timeout; worth retrying."""


class StoreFullError(StoreError):
    """The disk (or the size limit) is full; retrying cannot help until space is freed."""


class SessionRecordingError(StoreError):
    """The session is being recorded right now, so it cannot be deleted."""


def _free_space(folder: Path) -> str:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "unknown"
    if free >= 1e9:
        return f"{free / 1e9:.1f} GB"
    return f"{free / 1e6:.1f} MB" if free >= 1e5 else f"{free} bytes"


def friendly_error(exc: sqlite3.Error, path: Path, doing: str, busy_timeout: float) -> StoreError:
    """A message the teacher can act on, naming the file and what is safe."""
    code = primary_code(exc)
    where = f"the session database {path}"
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return StoreError(
            f"Cannot {doing}: {where} is damaged or not a fer_overlay database ({exc}). "
            f"fer_overlay has not changed or deleted it; sessions in other database files are untouched. "
            f"Move it aside (e.g. rename it to {path.name}.broken) and a fresh database will be created; "
            f"the moved file can still be inspected with the sqlite3 tool."
        )
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return StoreBusyError(
            f"Cannot {doing}: {where} is locked by another program for more than {busy_timeout:g} s "
            f"(is another fer-overlay running or a database browser open?). Close it and try again."
        )
    if code == _SQLITE_FULL:
        # Deleting sessions needs free space too (SQLite writes its journal first), so the
        # advice is what works on a full disk: space freed elsewhere, or another disk.
        return StoreFullError(
            f"Cannot {doing}: the disk holding {where} is full ({_free_space(path.parent)} free) or the database "
            f"size limit was reached. Everything recorded before is kept (a class being recorded stopped being "
            f"recorded here). Free space on that disk by deleting or moving other files there (`fer-overlay "
            f"forget` needs free space too, so it cannot help until some is free), or record to another disk "
            f"with session.data_dir in the settings or {DATA_DIR_ENV}; then start a new session."
        )
    if code in (_SQLITE_CANTOPEN, _SQLITE_READONLY, _SQLITE_IOERR):
        return StoreError(
            f"Cannot {doing}: {where} cannot be opened or written ({exc}); anything recorded before is kept. "
            f"Check the folder exists and is writable, or set {DATA_DIR_ENV} to another folder."
        )
    return StoreError(f"Cannot {doing}: {where} reported an error: {exc}")


@contextmanager
def translate_errors(path: Path, doing: str, busy_timeout: float) -> Iterator[None]:
    try:
        yield
    except sqlite3.IntegrityError:
        raise  # a caller bug (duplicate second...), turned into ValueError by the caller
    except sqlite3.Error as exc:
        raise friendly_error(exc, path, doing, busy_timeout) from exc


def connect(path: Path, busy_timeout: float, create: bool) -> sqlite3.Connection:
    """Open, configure and migrate; raises StoreError (never sqlite3.Error)."""
    if not create and not path.is_file():
        raise StoreError(f"No session database at {path} yet: record a class first, or pass --db / set {DATA_DIR_ENV}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"Cannot create the folder for the session database {path}: {exc}") from exc
    with translate_errors(path, "open the session record", busy_timeout):
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a write lock is taken
        # up front (busy timeout applies) instead of failing mid-transaction on upgrade.
        # check_same_thread=False lets AsyncWriter open here and write from its thread;
        # a store is still used by one thread at a time.
        conn = sqlite3.connect(str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        try:
            _configure(conn, path)
            _migrate(conn, path)
        except BaseException:
            conn.close()
            raise
    return conn


def _configure(conn: sqlite3.Connection, path: Path) -> None:
    if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
        # Only possible before the first table: lets pages freed by deleted sessions go back
        # to the file system (privacy and size). Not re-issued later: that would take a write lock.
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        log.warning("%s: WAL journal not available (got %s); writes will be slower", path, mode)
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    # Deleted rows (forget, retention) are overwritten with zeros, not left in free pages.
    conn.execute("PRAGMA secure_delete = ON")


def _version(conn: sqlite3.Connection) -> int:
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone() is None:
        return 0
    return int(conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0)


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    if _check_version(_version(conn), path) == SCHEMA_VERSION:
        return  # the usual case takes no write lock, so readers open while a class is recorded
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = _check_version(_version(conn), path)  # another process may have migrated meanwhile
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            log.info("%s: migrating schema to version %d", path, version)
            for statement in _statements(MIGRATIONS[version - 1]):
                conn.execute(statement)
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version VALUES (?)", (version,))
        conn.execute("COMMIT")
    except BaseException:
        rollback_quietly(conn)
        raise


def _check_version(current: int, path: Path) -> int:
    if current > SCHEMA_VERSION:
        raise StoreError(
            f"The session database {path} was written by a newer fer_overlay (schema {current}, "
            f"this version knows {SCHEMA_VERSION}). Update fer_overlay, or set {DATA_DIR_ENV} to another folder."
        )
    return current


def rollback_quietly(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is open, without masking the error being handled."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error as exc:  # the original error matters more
            log.debug("rollback failed: %s", exc)


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT our open transaction; split on complete statements instead.
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return [s for s in out if s.rstrip(";").strip()]

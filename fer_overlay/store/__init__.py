"""Session record: every class, second by second, in one SQLite file (no images, ever)."""

from __future__ import annotations

from .db import SCHEMA_VERSION, SessionRecordingError, StoreBusyError, StoreFullError
from .export import anonymous_names, export_csv
from .location import DATA_DIR_ENV, DB_FILENAME, DbLocation, DbOrigin, default_db_path, locate_db
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
from .session_store import ForgetResult, SessionRef, SessionStore
from .writer import AsyncWriter

__all__ = [
    "DATA_DIR_ENV",
    "DB_FILENAME",
    "RECORDER_STALE_S",
    "SCHEMA_VERSION",
    "AsyncWriter",
    "Bookmark",
    "ClassSecond",
    "DbLocation",
    "DbOrigin",
    "ForgetResult",
    "SessionInfo",
    "SessionRecordingError",
    "SessionRef",
    "SessionState",
    "SessionStore",
    "StoreBusyError",
    "StoreFullError",
    "StudentSecond",
    "anonymous_names",
    "default_db_path",
    "emotion_code",
    "emotion_from_code",
    "export_csv",
    "locate_db",
]

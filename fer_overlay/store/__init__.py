"""Session record: every class, second by second, in one SQLite file (no images, ever)."""

from __future__ import annotations

from .db import DATA_DIR_ENV, DB_FILENAME, SCHEMA_VERSION, default_db_path
from .export import anonymous_names, export_csv
from .records import Bookmark, ClassSecond, SessionInfo, StudentSecond, emotion_code, emotion_from_code
from .session_store import ForgetResult, SessionRef, SessionStore
from .writer import AsyncWriter

__all__ = [
    "DATA_DIR_ENV",
    "DB_FILENAME",
    "SCHEMA_VERSION",
    "AsyncWriter",
    "Bookmark",
    "ClassSecond",
    "ForgetResult",
    "SessionInfo",
    "SessionRef",
    "SessionStore",
    "StudentSecond",
    "anonymous_names",
    "default_db_path",
    "emotion_code",
    "emotion_from_code",
    "export_csv",
]

"""Where the session database is: one resolution for `run`, the tray, retention and the session commands.

Every command that writes, reads or deletes sessions must look at the same file, or a
deletion request (`forget`) silently misses what `run` recorded. So the rule lives here
once, and nothing else joins a folder and ``sessions.sqlite3`` itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

DB_FILENAME = "sessions.sqlite3"
DATA_DIR_ENV = "FER_OVERLAY_DATA_DIR"
APP_NAME = "fer_overlay"


class DbOrigin(str, Enum):
    """Which rule chose the database, so messages can say where a path came from."""

    FLAG = "--db"
    ENV = f"${DATA_DIR_ENV}"
    SETTINGS = "session.data_dir in the settings"
    DEFAULT = "the user data folder"


@dataclass(frozen=True)
class DbLocation:
    path: Path
    origin: DbOrigin

    def describe(self) -> str:
        """``/x/sessions.sqlite3 (from $FER_OVERLAY_DATA_DIR)``, for messages."""
        return f"{self.path} (from {self.origin.value})"


def platform_data_dir() -> Path:
    """The platform's per-user data folder (``~/.local/share/fer_overlay`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


DataDir = Path | str | None
DataDirSource = DataDir | Callable[[], DataDir]


def locate_db(db: Path | str | None = None, data_dir: DataDirSource = None,
              environ: Mapping[str, str] | None = None) -> DbLocation:
    """The session database, by precedence ``--db`` > ``$FER_OVERLAY_DATA_DIR`` > ``session.data_dir`` > default.

    - ``db``: an explicit database file (the commands' ``--db``); used as given.
    - ``$FER_OVERLAY_DATA_DIR`` (from ``environ``, default ``os.environ``): a folder; the
      database is ``sessions.sqlite3`` in it. It beats the settings file because it is set
      for one shell or one test run, the narrower scope.
    - ``data_dir``: ``session.data_dir`` from the settings file (a folder), or a callable
      returning it; the callable is only called when neither of the above is set, so a
      command given ``--db`` still works when the settings file is broken.
    - otherwise ``sessions.sqlite3`` in :func:`platform_data_dir`.

    Empty strings count as unset (``data_dir = ""`` in the settings means "the default").
    """
    if db is not None and str(db):
        return DbLocation(Path(db).expanduser(), DbOrigin.FLAG)
    env = (os.environ if environ is None else environ).get(DATA_DIR_ENV)
    if env:
        return DbLocation(Path(env).expanduser() / DB_FILENAME, DbOrigin.ENV)
    folder = data_dir() if callable(data_dir) else data_dir
    if folder is not None and str(folder):
        return DbLocation(Path(folder).expanduser() / DB_FILENAME, DbOrigin.SETTINGS)
    return DbLocation(platform_data_dir() / DB_FILENAME, DbOrigin.DEFAULT)


def default_db_path() -> Path:
    """The database when no ``--db`` and no settings are involved: ``$FER_OVERLAY_DATA_DIR``, else the default."""
    return locate_db().path

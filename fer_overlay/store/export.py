"""Tidy CSV export of one session: one file per table, one header row, labels instead of codes.

student_seconds.csv has the student key (``student``) and the name the teacher reads (``name``);
an anonymous export puts "Student N" in both; ``age_s`` is how long before the end of the second
the emotion was read (empty where it was not).

Files are written with :mod:`fer_overlay.outputs`: only absent paths or regular files are
replaced (a symlink only with ``force``), the user's umask is kept, and every path is checked
before the database is read. Every text cell is neutralised against spreadsheet formulas."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..outputs import OutputError, check_output, write_output
from ..types import LABELS
from .session_store import SessionRef, SessionStore

CSV_FILES = ("sessions.csv", "class_seconds.csv", "student_seconds.csv", "bookmarks.csv")

_EMOTION_CASE = "CASE {col} " + " ".join(f"WHEN {i} THEN '{n}'" for i, n in enumerate(LABELS)) + " ELSE 'unknown' END"


_FORMULA_START = ("=", "+", "-", "@")
_CONTROL_START = ("\t", "\r", "\n")


def _text(value: object) -> object:
    """OWASP CSV-injection rule: a text cell starting with =, +, -, @, tab or CR is prefixed with '.

    OCR'd names and typed labels go into spreadsheets, where such a cell can run as a
    formula. Spreadsheets also skip leading whitespace ("\t=cmd()", " =1+1"), so the first
    character after it counts too."""
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(_CONTROL_START) or value.lstrip().startswith(_FORMULA_START):
        return "'" + value
    return value


def anonymous_names(store: SessionStore, session_id: SessionRef) -> dict[str, str]:
    """key -> "Student N", numbered by first appearance."""
    return {key: f"Student {i}" for i, key in enumerate(store.students(session_id), start=1)}


def prepare_export_dir(out_dir: str | Path, *, force: bool = False) -> list[Path]:
    """Create the folder if needed and check the four files can be written there (before any work).

    Raises :class:`~fer_overlay.outputs.OutputError` naming the path."""
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is not a folder; --csv takes the folder to write the CSV files to")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the export folder {out}: {exc.strerror or exc}") from None
    return [check_output(out / name, force=force) for name in CSV_FILES]


def export_csv(store: SessionStore, session_id: SessionRef, out_dir: str | Path,
               anonymize: bool | None = None, *, force: bool = False) -> list[Path]:
    """Write sessions.csv, class_seconds.csv, student_seconds.csv, bookmarks.csv; returns the paths.

    ``anonymize`` defaults to the session's own flag: anonymous sessions export "Student N".
    ``force`` lets a symbolic link in the folder be replaced (the link, never its target).
    """
    paths = prepare_export_dir(out_dir, force=force)
    with store.snapshot():  # one consistent state even if the session is still being recorded
        tables = _tables(store, session_id, anonymize)
    return [write_output(path, _csv(header, rows), force=force) for path, (header, rows) in zip(paths, tables,
                                                                                               strict=True)]


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows([_text(cell) for cell in row] for row in rows)  # every text cell, whatever its column
    return buf.getvalue()


def _tables(store: SessionStore, session_id: SessionRef,
            anonymize: bool | None) -> list[tuple[list[str], list[Sequence[Any]]]]:
    info = store.get(session_id)
    names = anonymous_names(store, info.id) if (info.anonymous if anonymize is None else anonymize) else None
    shown = store.names(info.id)

    session_row = [info.id, info.label, info.started_at.isoformat(),
                   info.ended_at.isoformat() if info.ended_at else "", info.source, int(info.anonymous),
                   json.dumps(info.settings, sort_keys=True), info.app_version, info.duration_s, info.n_students]
    class_cols = ["t", "present", "camera_off", "not_visible", "unknown", *LABELS, "balance", "turn"]
    class_rows = store.query(f"SELECT {', '.join(class_cols)} FROM class_seconds WHERE session_id = ? ORDER BY t",
                             (info.id,), "export the class timeline")
    student_rows = store.query(
        f"SELECT t, student, {_EMOTION_CASE.format(col='emotion')}, valence, confidence, "
        f"CASE WHEN relative IS NULL THEN '' ELSE {_EMOTION_CASE.format(col='relative')} END, present, camera_on, "
        "CASE WHEN age_ms IS NULL THEN '' ELSE age_ms / 1000.0 END "
        "FROM student_seconds WHERE session_id = ? ORDER BY t, student", (info.id,), "export the student rows")
    if names is not None:
        student_rows = [(r[0], names.get(r[1], "Student ?"), names.get(r[1], "Student ?"), *r[2:])
                        for r in student_rows]
    else:
        student_rows = [(r[0], r[1], shown.get(r[1], r[1]), *r[2:]) for r in student_rows]
    mark_rows = store.query("SELECT t, label FROM bookmarks WHERE session_id = ? ORDER BY t, id", (info.id,),
                            "export the bookmarks")

    return [  # CSV_FILES order
        (["id", "label", "started_at", "ended_at", "source", "anonymous", "settings",
          "app_version", "duration_s", "n_students"], [session_row]),
        (class_cols, class_rows),
        (["t", "student", "name", "emotion", "valence", "confidence", "relative", "present", "camera_on", "age_s"],
         student_rows),
        (["t", "label"], mark_rows),
    ]

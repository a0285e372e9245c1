"""Tidy CSV export of one session: one file per table, one header row, labels instead of codes.

student_seconds.csv has the student key (``student``) and the name the teacher reads (``name``);
an anonymous export puts "Student N" in both."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..errors import StoreError
from ..types import LABELS
from .session_store import SessionRef, SessionStore

_EMOTION_CASE = "CASE {col} " + " ".join(f"WHEN {i} THEN '{n}'" for i, n in enumerate(LABELS)) + " ELSE 'unknown' END"


def _text(value: object) -> object:
    # OCR'd names and typed labels go into spreadsheets: a leading =, +, - or @ would run as a formula.
    return "'" + value if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") else value


def anonymous_names(store: SessionStore, session_id: SessionRef) -> dict[str, str]:
    """key -> "Student N", numbered by first appearance."""
    return {key: f"Student {i}" for i, key in enumerate(store.students(session_id), start=1)}


def export_csv(store: SessionStore, session_id: SessionRef, out_dir: str | Path,
               anonymize: bool | None = None) -> list[Path]:
    """Write sessions.csv, class_seconds.csv, student_seconds.csv, bookmarks.csv; returns the paths.

    ``anonymize`` defaults to the session's own flag: anonymous sessions export "Student N".
    """
    with store.snapshot():  # one consistent state even if the session is still being recorded
        return _export(store, session_id, Path(out_dir).expanduser(), anonymize)


def _export(store: SessionStore, session_id: SessionRef, out: Path, anonymize: bool | None) -> list[Path]:
    info = store.get(session_id)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"Cannot create the export folder {out}: {exc}") from exc
    names = anonymous_names(store, info.id) if (info.anonymous if anonymize is None else anonymize) else None
    shown = store.names(info.id)

    session_row = [info.id, info.label, info.started_at.isoformat(),
                   info.ended_at.isoformat() if info.ended_at else "", _text(info.source), int(info.anonymous),
                   json.dumps(info.settings, sort_keys=True), info.app_version, info.duration_s, info.n_students]
    class_cols = ["t", "present", "camera_off", "not_visible", "unknown", *LABELS, "balance", "turn"]
    class_rows = store.query(f"SELECT {', '.join(class_cols)} FROM class_seconds WHERE session_id = ? ORDER BY t",
                             (info.id,), "export the class timeline")
    student_rows = store.query(
        f"SELECT t, student, {_EMOTION_CASE.format(col='emotion')}, valence, confidence, "
        f"CASE WHEN relative IS NULL THEN '' ELSE {_EMOTION_CASE.format(col='relative')} END, present, camera_on "
        "FROM student_seconds WHERE session_id = ? ORDER BY t, student", (info.id,), "export the student rows")
    rename = (lambda key: names.get(key, "Student ?")) if names is not None else _text
    display = (lambda key: names.get(key, "Student ?")) if names is not None else (
        lambda key: _text(shown.get(key, key)))
    student_rows = [(r[0], rename(r[1]), display(r[1]), *r[2:]) for r in student_rows]
    mark_rows = [(t, _text(label)) for t, label in store.query(
        "SELECT t, label FROM bookmarks WHERE session_id = ? ORDER BY t, id", (info.id,), "export the bookmarks")]

    tables = {
        "sessions.csv": (["id", "label", "started_at", "ended_at", "source", "anonymous", "settings",
                          "app_version", "duration_s", "n_students"], [session_row]),
        "class_seconds.csv": (class_cols, class_rows),
        "student_seconds.csv": (["t", "student", "name", "emotion", "valence", "confidence", "relative", "present",
                                 "camera_on"], student_rows),
        "bookmarks.csv": (["t", "label"], mark_rows),
    }
    written: list[Path] = []
    for filename, (header, rows) in tables.items():
        path = out / filename
        try:
            with path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(header)
                writer.writerows(rows)
        except OSError as exc:
            raise StoreError(f"Cannot write {path}: {exc}") from exc
        written.append(path)
    return written

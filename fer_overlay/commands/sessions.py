"""`fer-overlay sessions | export | report | forget`: the session record from the command line.

:func:`register` adds the subcommands; each sets ``func`` (``args.func(args) -> int``).
Errors are raised as :class:`~fer_overlay.errors.StoreError` for the main CLI to print.
"""

from __future__ import annotations

import argparse
import sys
import webbrowser
from pathlib import Path
from typing import TextIO

from ..report import write_report
from ..report.page import duration_text
from ..store import DATA_DIR_ENV, SessionStore, default_db_path, export_csv


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sessions", help="list the recorded class sessions",
                              description="List the recorded class sessions, oldest first.")
    _db_option(p)
    p.set_defaults(func=cmd_sessions)

    p = subparsers.add_parser("export", help="export one session as CSV files",
                              description="Write sessions.csv, class_seconds.csv, student_seconds.csv and "
                                          "bookmarks.csv for one session.")
    p.add_argument("session", help='session id or label (see `fer-overlay sessions`), or "latest"')
    p.add_argument("--csv", required=True, type=Path, metavar="DIR", help="folder to write the CSV files to")
    _db_option(p)
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser("report", help="write the after-class HTML report",
                              description="Write a self-contained HTML report of one session.")
    p.add_argument("session", nargs="?", default="latest", help='session id or label, or "latest" (default)')
    p.add_argument("--out", type=Path, default=None, help="HTML file (default: class-report-<session>.html here)")
    p.add_argument("--open", action="store_true", help="open the report in the web browser")
    _db_option(p)
    p.set_defaults(func=cmd_report)

    p = subparsers.add_parser("forget", help="delete sessions or a student's data",
                              description="Delete recorded data for good: one session, all sessions, sessions "
                                          "older than some days, or every row of one student (opt-out).")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("session", nargs="?", help="session id or label to delete")
    what.add_argument("--all", action="store_true", help="delete every session (needs --yes)")
    what.add_argument("--older-than", type=_positive_days, metavar="DAYS", help="delete sessions older than DAYS days")
    what.add_argument("--student", metavar="NAME",
                      help="remove this student's rows from every session (accents and case do not matter; "
                           "a name on several tiles, e.g. iPhone, removes each of them)")
    p.add_argument("--yes", action="store_true", help="confirm --all")
    _db_option(p)
    p.set_defaults(func=cmd_forget)


def _positive_days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not days > 0:
        raise argparse.ArgumentTypeError("DAYS must be more than 0 (use --all to delete everything)")
    return days


def _db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, default=None, metavar="PATH",
                   help=f"session database (default: {DATA_DIR_ENV}/sessions.sqlite3 or the user data folder)")


def _db(args: argparse.Namespace) -> Path:
    return args.db if args.db is not None else default_db_path()


def cmd_sessions(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    path = _db(args)
    if not path.is_file():
        print(f"No sessions recorded yet (database: {path}).", file=out)
        return 0
    with SessionStore.open(path, create=False) as store:
        sessions = store.list_sessions()
    if not sessions:
        print(f"No sessions recorded yet (database: {path}).", file=out)
        return 0
    header = ("ID", "SESSION", "DATE", "START", "DURATION", "STUDENTS", "ANONYMOUS", "SOURCE")
    rows = [(str(s.id), s.label, s.started_at.strftime("%Y-%m-%d"), s.started_at.strftime("%H:%M"),
             duration_text(s.duration_s) + ("" if s.ended_at else " (unfinished)"), str(s.n_students),
             "yes" if s.anonymous else "no", s.source) for s in sessions]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    for r in (header, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1], file=out)
    print(f"\n{len(rows)} session(s) in {path}", file=out)
    return 0


def cmd_export(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    with SessionStore.open(_db(args), create=False) as store:
        paths = export_csv(store, args.session, args.csv)
    for p in paths:
        print(p, file=out)
    return 0


def cmd_report(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    with SessionStore.open(_db(args), create=False) as store:
        info = store.get(args.session)
        target = args.out if args.out is not None else Path(f"class-report-{info.label}.html")
        written = write_report(store, info.id, target)
    print(f"Report for session {info.id} ({info.label}) written to {written}", file=out)
    if args.open:
        webbrowser.open(written.resolve().as_uri())
    return 0


def cmd_forget(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if args.all and not args.yes:
        print("This deletes every recorded session for good; add --yes to confirm.", file=out)
        return 2
    with SessionStore.open(_db(args), create=False) as store:
        if args.all:
            ids = store.delete_all()
            print(f"Deleted {len(ids)} session(s).", file=out)
        elif args.older_than is not None:
            ids = store.apply_retention(args.older_than)
            listed = ", ".join(map(str, ids)) if ids else "none"
            print(f"Deleted {len(ids)} session(s) older than {args.older_than:g} days: {listed}.", file=out)
        elif args.student is not None:
            result = store.forget_student(args.student)
            # The keys say what matched: accents, case and "#2" namesakes are folded together.
            keys = f" (as {', '.join(repr(k) for k in result.students)})" if result.students else ""
            print(f"Removed {result.rows} per-second rows of {args.student!r}{keys} from {len(result.sessions)} "
                  f"session(s); class totals are kept without the name.", file=out)
        else:
            info = store.get(args.session)
            store.delete_session(info.id)
            print(f"Deleted session {info.id} ({info.label}).", file=out)
    return 0

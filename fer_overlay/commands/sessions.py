"""`fer-overlay sessions | export | report | forget`: the session record from the command line.

:func:`register` adds the subcommands; each sets ``func`` (``args.func(args) -> int``).
Errors are raised as :class:`~fer_overlay.errors.StoreError` (or ``OutputError`` for files
written) for the main CLI to print.

All four find the database exactly as `run` does (:func:`fer_overlay.store.locate_db`):
``--db`` > ``$FER_OVERLAY_DATA_DIR`` > ``session.data_dir`` in the settings (``--config``) >
the user data folder, so `forget` deletes what `run` recorded.
"""

from __future__ import annotations

import argparse
import sys
import webbrowser
from pathlib import Path
from typing import TextIO

from ..errors import StoreError
from ..report import check_report_path, write_report
from ..report.page import duration_text
from ..store import DATA_DIR_ENV, DbLocation, SessionState, SessionStore, export_csv, locate_db


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sessions", help="list the recorded class sessions",
                              description="List the recorded class sessions, oldest first.")
    _db_option(p)
    p.set_defaults(func=cmd_sessions)

    p = subparsers.add_parser("export", help="export one session as CSV files",
                              description="Write sessions.csv, class_seconds.csv, student_seconds.csv and "
                                          "bookmarks.csv for one session.")
    p.add_argument("session", help='session id or label (see `fer-overlay sessions`), or "latest"')
    p.add_argument("--csv", "--out", dest="csv", required=True, type=Path, metavar="DIR",
                   help="folder to write the CSV files to (created if missing)")
    _force_option(p)
    _db_option(p)
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser("report", help="write the after-class HTML report",
                              description="Write a self-contained HTML report of one session.")
    p.add_argument("session", nargs="?", default="latest", help='session id or label, or "latest" (default)')
    p.add_argument("--out", type=Path, default=None, help="HTML file (default: class-report-<session>.html here)")
    p.add_argument("--open", action="store_true", help="open the report in the web browser")
    _force_option(p)
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
                   help=f"session database (default: {DATA_DIR_ENV}/sessions.sqlite3, else session.data_dir "
                        f"from the settings, else the user data folder)")


def _force_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true",
                   help="replace a symbolic link at the output path (the link itself, never its target)")


def _settings_data_dir(args: argparse.Namespace) -> Path | None:
    # Loaded only when --db and the environment leave the choice to the settings file, so a
    # broken settings file never stops `forget --db PATH`.
    from ..config import Settings

    return Settings.load(getattr(args, "config", None)).session.data_dir


def _location(args: argparse.Namespace) -> DbLocation:
    return locate_db(args.db, lambda: _settings_data_dir(args))


def _open(args: argparse.Namespace) -> SessionStore:
    where = _location(args)
    if not where.path.is_file():
        raise StoreError(f"No session database at {where.describe()} yet: record a class first, or pass --db, "
                         f"set {DATA_DIR_ENV} or session.data_dir to where the sessions are.")
    return SessionStore.open(where.path, create=False)


_STATE_NOTE = {SessionState.ENDED: "", SessionState.RECORDING: " (recording)",
               SessionState.INTERRUPTED: " (interrupted)", SessionState.UNFINISHED: " (unfinished)"}


def cmd_sessions(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    where = _location(args)
    if not where.path.is_file():
        print(f"No sessions recorded yet (database: {where.describe()}).", file=out)
        return 0
    with SessionStore.open(where.path, create=False) as store:
        sessions = store.list_sessions()
    if not sessions:
        print(f"No sessions recorded yet (database: {where.describe()}).", file=out)
        return 0
    header = ("ID", "SESSION", "DATE", "START", "DURATION", "STUDENTS", "ANONYMOUS", "SOURCE")
    rows = [(str(s.id), s.label, s.started_at.strftime("%Y-%m-%d"), s.started_at.strftime("%H:%M"),
             duration_text(s.duration_s) + _STATE_NOTE[s.state], str(s.n_students),
             "yes" if s.anonymous else "no", s.source) for s in sessions]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    for r in (header, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1], file=out)
    print(f"\n{len(rows)} session(s) in {where.describe()}", file=out)
    return 0


def cmd_export(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    with _open(args) as store:
        info = store.get(args.session)  # a wrong id is reported before any folder is made
        paths = export_csv(store, info.id, args.csv, force=args.force)
    for p in paths:
        print(p, file=out)
    return 0


def cmd_report(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if args.out is not None:
        check_report_path(args.out, force=args.force)  # a bad --out costs nothing, not a whole render
    with _open(args) as store:
        info = store.get(args.session)
        target = args.out if args.out is not None else Path(f"class-report-{info.label}.html")
        written = write_report(store, info.id, target, force=args.force)
    print(f"Report for session {info.id} ({info.label}) written to {written}", file=out)
    if args.open:
        webbrowser.open(written.resolve().as_uri())
    return 0


def cmd_forget(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if args.all and not args.yes:
        print("This deletes every recorded session for good; add --yes to confirm.", file=out)
        return 2
    with _open(args) as store:
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
            live = [s.id for s in store.list_sessions() if s.recording]
            if live:
                print(f"Session {', '.join(map(str, live))} is being recorded now: seconds recorded from now on "
                      f"still include this student unless they are in privacy.opt_out.", file=out)
        else:
            info = store.get(args.session)
            store.delete_session(info.id)
            print(f"Deleted session {info.id} ({info.label}).", file=out)
    return 0

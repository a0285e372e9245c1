"""Benchmark the session record: append cost per second, database size per hour, report time.

Usage: python scripts/bench_store.py [--seconds 3600] [--students 49] [--dir DIR] [--keep]

Records a synthetic class (random-walk emotions, late joiners, absences, cameras off) twice:
once with synchronous SessionStore.append (one transaction + fsync per second, what a
crash-safe "acknowledged" costs) and once through AsyncWriter (what the analysis loop pays).
Appends run back to back, not at 1 Hz, so the disk is busier than in a real class.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_overlay.report import render_report
from fer_overlay.store import AsyncWriter, SessionStore
from fer_overlay.store.synthetic import default_episodes, generate_seconds

ANALYSIS_STEP_MS = (100.0, 200.0)  # one analysis step of the live pipeline, for scale

# What the README states for one hour of 49 students (the figures this benchmark checks: the
# unit tests leave timings to it). 10% over the size, twice the time (a busy machine) is a miss.
README_MB_PER_HOUR = 7.3
README_REPORT_S = 0.1


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def _db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=3600)
    ap.add_argument("--students", type=int, default=49)
    ap.add_argument("--dir", type=Path, default=None, help="where to put the databases (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the databases and the report")
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="fer_bench_"))
    work.mkdir(parents=True, exist_ok=True)

    print(f"platform:   {platform.platform()}")
    print(f"processor:  {platform.processor() or platform.machine()}  cpu_count={os.cpu_count()}")
    print(f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, databases in {work}")

    t0 = time.perf_counter()
    seconds = list(generate_seconds(args.seconds, args.students, seed=1))
    n_rows = sum(len(rows) for _, rows in seconds)
    print(f"\ngenerated {len(seconds)} seconds, {n_rows} student rows in {time.perf_counter() - t0:.1f} s")

    # 1. Synchronous appends: the cost of "acknowledged = durable" on this disk.
    sync_db = work / "sync.sqlite3"
    sync_us: list[float] = []
    with SessionStore.open(sync_db) as store:
        sid = store.start_session("bench", False, {"students": args.students}).id
        start = time.perf_counter()
        for cs, rows in seconds:
            a = time.perf_counter_ns()
            store.append(sid, cs, rows)
            sync_us.append((time.perf_counter_ns() - a) / 1e3)
        sync_total = time.perf_counter() - start
        for e in default_episodes(args.seconds):
            if e.label:
                store.bookmark(sid, e.start, e.label)
        store.end_session(sid)
        store.query("PRAGMA wal_checkpoint(TRUNCATE)")
    size = _db_bytes(sync_db)
    per_hour = size * 3600 / max(args.seconds, 1)

    # 1b. The same without fsync, only to split CPU cost from disk-flush cost (never used for real).
    cpu_us: list[float] = []
    with SessionStore.open(work / "nosync.sqlite3") as store:
        store.query("PRAGMA synchronous = OFF")
        nid = store.start_session("bench", False, {}).id
        for cs, rows in seconds[:600]:
            a = time.perf_counter_ns()
            store.append(nid, cs, rows)
            cpu_us.append((time.perf_counter_ns() - a) / 1e3)

    # 2. AsyncWriter: what the analysis loop waits for.
    async_db = work / "async.sqlite3"
    with SessionStore.open(async_db) as store:
        aid = store.start_session("bench", False, {}).id
    put_us: list[float] = []
    start = time.perf_counter()
    with AsyncWriter(async_db, aid, max_queue=args.seconds + 1) as writer:
        for cs, rows in seconds:
            a = time.perf_counter_ns()
            writer.put(cs, rows)
            put_us.append((time.perf_counter_ns() - a) / 1e3)
        queued = time.perf_counter() - start
    async_total = time.perf_counter() - start
    dropped = writer.dropped

    # 3. Report generation on the full session.
    report_s: list[float] = []
    with SessionStore.open(sync_db) as store:
        for _ in range(3):
            a = time.perf_counter()
            html = render_report(store, sid)
            report_s.append(time.perf_counter() - a)
    report_path = work / "report.html"
    report_path.write_text(html, encoding="utf-8")

    lo, hi = ANALYSIS_STEP_MS
    med, p95 = statistics.median(sync_us), _pct(sync_us, 0.95)
    print("\nappend, synchronous (one transaction + fsync per second):")
    print(f"  median {med:8.0f} µs   p95 {p95:8.0f} µs   max {max(sync_us):8.0f} µs   "
          f"total {sync_total:.1f} s for {args.seconds} s of class")
    print(f"  = {med / 1e3 / hi:.2%} .. {med / 1e3 / lo:.2%} of a {lo:.0f}-{hi:.0f} ms analysis step (median), "
          f"p95 {p95 / 1e3 / hi:.2%} .. {p95 / 1e3 / lo:.2%}")
    cm = statistics.median(cpu_us)
    print(f"  of which CPU (same appends with synchronous=OFF): median {cm:.0f} µs, p95 {_pct(cpu_us, 0.95):.0f} µs "
          f"= {cm / 1e3 / hi:.2%} .. {cm / 1e3 / lo:.2%}; the rest is the fsync")
    pm, pp = statistics.median(put_us), _pct(put_us, 0.95)
    print("append via AsyncWriter.put (what the analysis loop pays):")
    print(f"  median {pm:8.1f} µs   p95 {pp:8.1f} µs   max {max(put_us):8.0f} µs   "
          f"= {pm / 1e3 / hi:.3%} .. {pm / 1e3 / lo:.3%} of a step; dropped {dropped}")
    print(f"  queued in {queued:.2f} s, all durable after {async_total:.1f} s (batched commits)")
    print(f"\ndatabase size: {size / 1e6:.1f} MB for {args.seconds} s x {args.students} students "
          f"-> {per_hour / 1e6:.1f} MB per hour ({size / max(n_rows, 1):.0f} B per student-second); "
          f"README: {README_MB_PER_HOUR} MB per hour of 49 students: "
          f"{'OK' if per_hour <= README_MB_PER_HOUR * 1.1e6 * args.students / 49 else 'TOO BIG'}")
    print(f"report: median {statistics.median(report_s):.2f} s (runs: {', '.join(f'{s:.2f}' for s in report_s)}), "
          f"{len(html) / 1e3:.0f} kB HTML; README: {README_REPORT_S} s: "
          f"{'OK' if statistics.median(report_s) <= 2 * README_REPORT_S else 'TOO SLOW'}")
    if args.keep:
        print(f"\nkept: {sync_db}, {async_db}, {report_path}")
    elif args.dir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

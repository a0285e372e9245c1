#!/usr/bin/env python3
"""A recorded class made into a session: `fer-overlay analyze RECORDING.mp4 --record`, timed.

    python scripts/bench_record.py [--minutes 10] [--participants 25] [--analysis-fps 10]

Writes a 1080p recording of a named gallery (two tiles swap places every 20 s; a one-minute
clip repeated, since generating 18,000 distinct 1080p frames would take longer than the
benchmark), then runs the real `analyze --record` command on it into a scratch database
and prints: the CPU, how long the analysis took as a share of the recording's own length
(below 1.0: faster than the class itself), frames read and analysed per second, and the
students recorded against the people in the gallery. Run it on a quiet machine: a
training run or a helper beside it halves the figures on two cores.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_overlay.cli import main as cli
from fer_overlay.store import SessionStore
from fer_overlay.synth import GallerySpec, gallery_frames
from fer_overlay.testing.load import cpu_model

FPS = 30


def write_recording(path: Path, minutes: float, participants: int) -> tuple[int, set[str]]:
    spec = GallerySpec(participants=participants, size=(1920, 1080), seed=participants, camera_off=0.0)
    clip = list(gallery_frames(spec, 60 * FPS // 4, reorder_every=20 * FPS // 4, seed=2))  # 15 s, 4x slower
    people = {t.name for t in clip[0][1].tiles if t.kind == "face"}
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (1920, 1080))
    n = int(minutes * 60 * FPS)
    for i in range(n):
        # Each generated frame is shown 4 times (people move at 7.5 updates a second), the clip repeats.
        writer.write(clip[(i // 4) % len(clip)][0])
    writer.release()
    return n, people


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--participants", type=int, default=25)
    p.add_argument("--analysis-fps", type=float, default=None, help="default: analyze --record's own")
    p.add_argument("--keep", type=Path, help="keep the recording here (default: a temporary folder)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"CPU: {cpu_model()}")
    with tempfile.TemporaryDirectory() as tmp:
        video = args.keep or Path(tmp) / "class.mp4"
        t0 = time.perf_counter()
        frames, people = write_recording(video, args.minutes, args.participants)
        print(f"recording: {args.minutes:g} min, {frames} frames at 1920x1080 {FPS} fps, "
              f"{len(people)} people (written in {time.perf_counter() - t0:.0f} s)")
        db = Path(tmp) / "sessions.sqlite3"
        argv = ["analyze", str(video), "--record", "--db", str(db)]
        if args.analysis_fps:
            argv += ["--analysis-fps", str(args.analysis_fps)]
        out = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(out):
            code = cli(argv)
        wall = time.perf_counter() - t0
        if code != 0:
            print(out.getvalue(), f"analyze exited {code}")
            return code
        with SessionStore.open(db, create=False) as store:
            (info,) = store.list_sessions()
            names = set(store.names(info.id).values())
        length = frames / FPS
        print(out.getvalue().rstrip())
        print(f"analysis took {wall:.0f} s for {length:.0f} s of class: {wall / length:.2f} of its length "
              f"({frames / wall:.0f} frames read per s)")
        print(f"session: {info.duration_s} s recorded, {info.n_students} students for {len(people)} people; "
              f"missing {sorted(people - names) or 'none'}, extra {sorted(names - people) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

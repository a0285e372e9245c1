#!/usr/bin/env python3
"""Whole recordings, scored as a session record: students in the record = people present,
no track-id switch where nobody moved, layout changes only where the layout changed.

    python scripts/bench_recordings.py [--sizes 9 25 49] [--scenarios static reorder switch jpeg80 shift]
                                       [--frames 300] [--fps 10] [--save /tmp/fer_bench_recordings] [-v]

Each recording is a generated 1920x1080 meeting (Zoom, as the apps draw it now:
``Fidelity.REAL``; every participant's camera on, a name on every tile) of ``--frames`` frames
at ``--fps``, analysed the way ``fer-overlay analyze`` analyses a video (``config.options`` in
VIDEO mode, the pipeline built with the same arguments, names read), and recorded the way a
session is: ``class_mood`` and ``ClassInsight`` per analysis, one row per second into a real
``SessionStore`` in a temporary folder. Scenarios:

    static   nothing happens but head motion and sensor noise
    reorder  two tiles swap places every frames/5 frames (60 of 300)
    switch   grid -> speaker view at frames/3, back to the grid at 2*frames/3
    jpeg80   the static recording, every frame through JPEG at quality 80
    shift    the gallery slides sideways --shift-px a frame, back and forth (scrolling, a window dragged)

Columns: people present (ground truth: participants with a live face in any frame);
students recorded (``SessionStore.students``: every key the record filed rows under);
distinct track ids; track-id switches (a participant whose matched track id changes, the MOT
IDSW figure of ``synth.evaluate``; must be 0 for static, jpeg80 and shift, where nobody
changes tile); layout changes found / true (an adopted layout of another kind or tile count,
against the ground truth's view or tile count changing; "+N moved" counts adoptions of the
same grid at another place, expected only while a gallery shifts); layout right (frames
whose layout has the true kind and tile count, every tile within 2% of the frame's long side
of the true one); face recall; names exact (matched faces from
3 s on whose student key is their own name's key); frames/s of ``GalleryPipeline.process``
alone (the drawing runs in another process and is not counted). A failing row gets a
diagnosis below the table: where each wrong key came from, each id switch and each layout
adoption, with the identity module's log lines around them.

``--save DIR`` also writes each recording as DIR/SCENARIO-TILES.mkv (FFV1, lossless: the
exact frames analysed; ``fer-overlay analyze`` reads it) and its ground truth as .json.
Keep DIR out of the repository (/tmp).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import platform
import queue as queue_mod
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fer_overlay.synth import (  # noqa: E402
    Codec,
    Compression,
    FaceBank,
    Fidelity,
    GallerySpec,
    GalleryTruth,
    Style,
    View,
    compress,
    gallery_frames,
)

SIZE = (1920, 1080)
SETTLE_S = 3.0  # names exact counts from here on: every label has been read by then
MAX_EVENTS = 12  # diagnosis lines per kind and recording


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    still: bool = False  # nobody changes tile: a track-id switch is a failure
    moving: bool = False  # the tiles move: the same grid re-placed is expected
    jpeg: int | None = None
    group: str = ""  # scenarios of one group are drawn once (same motion), then differ per frame

    def motion(self, frames: int, shift_px: int) -> dict[str, Any]:
        if self.name == "reorder":
            return {"reorder_every": max(1, frames // 5)}
        if self.name == "switch":
            return {"views": {frames // 3: View.SPEAKER, 2 * frames // 3: View.GRID}}
        if self.name == "shift":
            return {"shift_px": shift_px}
        return {}


SCENARIOS = {s.name: s for s in (
    Scenario("static", "static gallery", still=True, group="still"),
    Scenario("reorder", "two tiles swap every frames/5"),
    Scenario("switch", "grid -> speaker -> grid"),
    Scenario("jpeg80", "static, every frame JPEG q80", still=True, jpeg=80, group="still"),
    Scenario("shift", "gallery sliding sideways", still=True, moving=True),
)}


@dataclass(frozen=True)
class Job:
    """One drawn recording, analysed as one or more scenarios (the same frames, or JPEG of them)."""

    tiles: int
    scenarios: tuple[str, ...]


def jobs_for(sizes: list[int], names: list[str]) -> list[Job]:
    jobs = []
    for n in sizes:
        groups: dict[str, list[str]] = {}
        for name in names:
            groups.setdefault(SCENARIOS[name].group or name, []).append(name)
        jobs.extend(Job(n, tuple(g)) for g in groups.values())
    return jobs


def make_spec(tiles: int, style: Style) -> GallerySpec:
    return GallerySpec(tiles, SIZE, style, camera_off=0.0, seed=tiles, fidelity=Fidelity.REAL)


# -- drawing (in a process of its own) ---------------------------------------------------------


def draw(job: Job, cfg: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any], GalleryTruth]]:
    """(frame index, {scenario: image}, truth) for each frame of the job's recording."""
    spec = make_spec(job.tiles, Style(cfg["style"]))
    bank = FaceBank.from_insightface() if cfg["insightface"] else FaceBank.default()
    motion = SCENARIOS[job.scenarios[0]].motion(cfg["frames"], cfg["shift_px"])
    for i, (image, truth) in enumerate(gallery_frames(spec, cfg["frames"], seed=cfg["seed"], faces=bank, **motion)):
        images = {}
        for name in job.scenarios:
            q = SCENARIOS[name].jpeg
            # What gallery_frames does with spec.compression = JPEG q: the same drawing, then
            # compress() frame by frame; drawing once serves both recordings.
            images[name] = compress(image, Compression(Codec.JPEG, q)) if q else image
        yield i, images, truth


class Saver:
    """--save: each scenario's frames as lossless FFV1 and the truths as JSON."""

    def __init__(self, folder: Path | None, job: Job, fps: float) -> None:
        self.folder, self.job, self.writers, self.truths = folder, job, {}, []
        if folder is None:
            return
        import cv2

        folder.mkdir(parents=True, exist_ok=True)
        for name in job.scenarios:
            path = folder / f"{name}-{job.tiles}.mkv"
            w = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"FFV1"), fps, SIZE)
            if not w.isOpened():
                raise RuntimeError(f"cannot write {path} (FFV1)")
            self.writers[name] = w

    def add(self, images: dict[str, Any], truth: GalleryTruth) -> None:
        if self.folder is None:
            return
        for name, w in self.writers.items():
            w.write(images[name])
        self.truths.append(truth.to_dict())

    def close(self) -> None:
        if self.folder is None:
            return
        import json

        for name, w in self.writers.items():
            w.release()
            (self.folder / f"{name}-{self.job.tiles}.json").write_text(
                json.dumps({"frames": self.truths}, ensure_ascii=False), encoding="utf-8")


def produce(jobs: list[Job], cfg: dict[str, Any], out: Any) -> None:
    """The drawing process: every job's frames into ``out``, then (job, None); an error as ("error", text)."""
    try:
        for j, job in enumerate(jobs):
            saver = Saver(cfg["save"], job, cfg["fps"])
            for i, images, truth in draw(job, cfg):
                saver.add(images, truth)
                out.put((j, i, images, truth))
            saver.close()
            out.put((j, None, None, None))
    except BaseException:
        out.put(("error", traceback.format_exc(), None, None))


def frames_of(jobs: list[Job], cfg: dict[str, Any], inline: bool) -> Iterator[tuple[int, int | None, Any, Any]]:
    if inline:
        for j, job in enumerate(jobs):
            saver = Saver(cfg["save"], job, cfg["fps"])
            for i, images, truth in draw(job, cfg):
                saver.add(images, truth)
                yield j, i, images, truth
            saver.close()
            yield j, None, None, None
        return
    ctx = mp.get_context("spawn")  # no fork of a process holding onnxruntime sessions
    q = ctx.Queue(maxsize=6)
    proc = ctx.Process(target=produce, args=(jobs, cfg, q), daemon=True, name="bench-draw")
    proc.start()
    try:
        done = 0
        while done < len(jobs):
            try:
                item = q.get(timeout=5)
            except queue_mod.Empty:
                if not proc.is_alive():
                    raise RuntimeError(f"the drawing process died (exit code {proc.exitcode})") from None
                continue
            if item[0] == "error":
                raise RuntimeError(f"drawing failed:\n{item[1]}")
            if item[1] is None:
                done += 1
            yield item
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(timeout=10)


# -- analysing and scoring ---------------------------------------------------------------------


class FrameLog(logging.Handler):
    """The identity and pipeline log lines of one run, tagged with the frame being analysed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.frame = -1
        self.lines: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((self.frame, f"{record.name.rsplit('.', 1)[-1]}: {record.getMessage()}"))


@dataclass
class Result:
    scenario: Scenario
    tiles: int
    frames: int = 0
    people: dict[int, str] = field(default_factory=dict)  # participant -> expected key
    display: dict[int, str] = field(default_factory=dict)
    students: list[str] = field(default_factory=list)
    track_ids: set[int] = field(default_factory=set)
    switches: list[tuple[int, int, int, int, int]] = field(default_factory=list)  # frame, pid, old, new, gap
    adoptions: list[tuple[int, str, str, str, bool]] = field(default_factory=list)  # frame, old, new, truth, structural
    true_changes: list[tuple[int, str, str]] = field(default_factory=list)
    layout_right: int = 0
    found: int = 0
    faces: int = 0
    false: int = 0
    named_right: int = 0
    named_total: int = 0
    seconds: float = 0.0
    # key -> participant (None: a face matching no true face) -> frames; first and last frame
    key_on: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    key_span: dict[str, list[int]] = field(default_factory=dict)
    key_tracks: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    undecided: Counter = field(default_factory=Counter)  # participant -> matched frames without a key
    log: list[tuple[int, str]] = field(default_factory=list)

    @property
    def expected(self) -> set[str]:
        return set(self.people.values())

    @property
    def structural(self) -> int:
        return sum(1 for a in self.adoptions if a[4])

    @property
    def moved(self) -> int:
        return sum(1 for a in self.adoptions if not a[4])

    def problems(self) -> list[str]:
        out = []
        rec = set(self.students)
        if rec != self.expected or len(self.students) != len(self.people):
            out.append(f"students {len(self.students)} != people {len(self.people)}"
                       if len(self.students) != len(self.people) else "students are not the people's names")
        if self.scenario.still and self.switches:
            out.append(f"{len(self.switches)} track-id switches on a gallery where nobody moved tile")
        if self.structural != len(self.true_changes):
            out.append(f"{self.structural} layout changes found, {len(self.true_changes)} true")
        if self.moved and not self.scenario.moving:
            out.append(f"{self.moved} re-placements of an unmoved grid")
        return out


def describe(layout: Any) -> str:
    n = len(layout.tiles) if layout.kind.value != "none" else 0
    return f"{layout.kind.value} {n}"


def truth_desc(truth: GalleryTruth) -> str:
    return f"{truth.view.value} {len(truth.tiles)} ({truth.grid[0]}x{truth.grid[1]})"


class Run:
    """One scenario's recording through a fresh pipeline, insight and session store."""

    def __init__(self, scenario: Scenario, tiles: int, make_pipeline: Callable[[], Any], options: Any,
                 db: Path, fps: float) -> None:
        from fer_overlay.live.insight import ClassInsight
        from fer_overlay.store import SessionStore

        self.r = Result(scenario, tiles)
        self.fps = fps
        self.pipeline = make_pipeline()
        self.insight = ClassInsight(options.insight)
        self.store = SessionStore.open(db)
        self.sid = self.store.start_session(f"generated {scenario.name} {tiles}", options.anonymous, {}).id
        self._last_tid: dict[int, tuple[int, int]] = {}  # participant -> (track id, frame last matched)
        self._layout: Any = None
        self._truth_sig: tuple[Any, ...] | None = None
        self._handler = FrameLog()

    def add(self, i: int, image: Any, truth: GalleryTruth) -> None:
        from fer_overlay.live.mood import class_mood
        from fer_overlay.people.names import normalise
        from fer_overlay.synth.evaluate import score_frame
        from fer_overlay.types import Frame, LayoutKind

        r = self.r
        self._handler.frame = i
        watched = [logging.getLogger(n) for n in ("fer_overlay.people.identity", "fer_overlay.analysis.pipeline")]
        for lg in watched:
            lg.addHandler(self._handler)
        try:
            t0 = time.perf_counter()
            a = self.pipeline.process(Frame(image, i, i / self.fps))
            r.seconds += time.perf_counter() - t0
            for second, rows in self.insight.add(a, class_mood(a.faces, a.layout, a.timestamp)):
                self.store.append(self.sid, second, rows)
        finally:
            for lg in watched:
                lg.removeHandler(self._handler)
        r.frames += 1
        for t in truth.faces:
            if t.participant not in r.people:
                n = normalise(t.name)
                r.people[t.participant] = n.key if n else f"?{t.participant}"
                r.display[t.participant] = t.name or "?"
        score = score_frame(truth, a.faces)
        r.found, r.faces, r.false = r.found + score.found, r.faces + score.faces, r.false + score.false
        faces = a.faces
        r.track_ids.update(int(v) for v in faces.track_id.tolist() if v >= 0)
        on: dict[int, int] = {idx: pid for pid, idx in score.matches.items()}
        for pid, idx in score.matches.items():
            tid = int(faces.track_id[idx])
            if tid < 0:
                continue
            prev = self._last_tid.get(pid)
            if prev is not None and prev[0] != tid:
                r.switches.append((i, pid, prev[0], tid, i - prev[1]))
            self._last_tid[pid] = (tid, i)
        for idx, key in enumerate(faces.student):
            pid = on.get(idx)
            if key is None:
                if pid is not None:
                    r.undecided[pid] += 1
                continue
            r.key_on[key][pid] += 1
            r.key_tracks[key].add(int(faces.track_id[idx]))
            span = r.key_span.setdefault(key, [i, i])
            span[1] = i
        if a.timestamp >= SETTLE_S:
            for pid, idx in score.matches.items():
                r.named_total += 1
                r.named_right += faces.student[idx] == r.people.get(pid)
        # Layout: adoptions against the truth.
        sig = (truth.view, len(truth.tiles), truth.grid)
        if self._truth_sig is not None and sig != self._truth_sig:
            r.true_changes.append((i, truth_desc_sig(self._truth_sig), truth_desc(truth)))
        self._truth_sig = sig
        if self._layout is not None and a.layout is not self._layout:
            old, new = self._layout, a.layout
            structural = old.kind != new.kind or len(old.tiles) != len(new.tiles)
            r.adoptions.append((i, describe(old), describe(new), truth_desc(truth), structural))
        self._layout = a.layout
        r.layout_right += layout_right(a.layout, truth, {View.GRID: LayoutKind.GRID,
                                                         View.SPEAKER: LayoutKind.SPEAKER}.get(truth.view))

    def finish(self) -> Result:
        for second, rows in self.insight.flush():
            self.store.append(self.sid, second, rows)
        self.store.end_session(self.sid)
        self.r.students = self.store.students(self.sid)
        self.store.close()
        self.pipeline.close()
        self.r.log = self._handler.lines
        return self.r


def layout_right(layout: Any, truth: GalleryTruth, kind: Any) -> bool:
    """The true kind and tile count, and every true tile within 2% of the frame's long side of
    a found one (the wobble StableLayout tolerates): a layout left behind by a moving gallery is not right."""
    if layout.kind is not kind or len(layout.tiles) != len(truth.tiles):
        return False
    found = np.array([t.xyxy for t in layout.tiles], np.float64)
    true = np.array([t.xyxy for t in truth.tiles], np.float64)
    error = np.abs(true[:, None, :] - found[None, :, :]).max(axis=2).min(axis=1)
    return bool(error.max() <= 0.02 * max(truth.size))


def truth_desc_sig(sig: tuple[Any, ...]) -> str:
    view, n, grid = sig
    return f"{view.value} {n} ({grid[0]}x{grid[1]})"


def pipeline_factory(args: argparse.Namespace) -> tuple[Callable[[], Any], Any]:
    """As `fer-overlay analyze` builds its pipeline for a video (commands/analyze.py)."""
    from fer_overlay import config
    from fer_overlay.analysis.pipeline import GalleryPipeline, RunningMode
    from fer_overlay.config import Settings

    settings = Settings.load(args.config) if args.config else Settings.default()
    options = config.options(settings, RunningMode.VIDEO)
    m = options.models

    def make() -> Any:
        return GalleryPipeline.create(
            options.pipeline, providers=m.provider_names, threads=args.threads or m.threads, flip_tta=m.flip_tta,
            identity=options.identity, detector=str(m.detector), precision=m.precision, model=m.model,
        )

    return make, options


# -- report ------------------------------------------------------------------------------------


def row(r: Result) -> str:
    layout = f"{r.structural}/{len(r.true_changes)}" + (f" +{r.moved} moved" if r.moved else "")
    recall = r.found / r.faces if r.faces else 1.0
    names = r.named_right / r.named_total if r.named_total else 0.0
    fps = r.frames / r.seconds if r.seconds else 0.0
    verdict = "ok" if not r.problems() else "FAIL"
    return (f"{r.scenario.name:<8} {r.tiles:>5} {len(r.people):>6} {len(r.students):>8} {len(r.track_ids):>6} "
            f"{len(r.switches):>5}  {layout:<15} {r.layout_right / max(r.frames, 1):>6.1%} {recall:>7.2%} "
            f"{names:>6.1%} {fps:>6.1f}  {verdict}")


HEADER = (f"{'scenario':<8} {'tiles':>5} {'people':>6} {'students':>8} {'tracks':>6} {'idsw':>5}  "
          f"{'layout chg f/t':<15} {'lay ok':>6} {'recall':>7} {'names':>6} {'fps':>6}  verdict")


def diagnose(r: Result, fps: float) -> list[str]:
    problems = r.problems()
    if not problems:
        return []
    who = r.display
    out = [f"\n== {r.scenario.name}, {r.tiles} tiles: " + "; ".join(problems)]
    extra = [k for k in r.students if k not in r.expected]
    missing = sorted(r.expected - set(r.students))
    for key in extra[:MAX_EVENTS]:
        span = r.key_span.get(key, [-1, -1])
        carriers = ", ".join(f"{who.get(p, 'a false face') if p is not None else 'a false face'} ({n} frames)"
                             for p, n in r.key_on[key].most_common(4))
        out.append(f"  extra student {key!r}: frames {span[0]}-{span[1]} (t={span[0] / fps:.1f}-{span[1] / fps:.1f} s),"
                   f" tracks {sorted(r.key_tracks[key])}, on {carriers or 'no face'}")
    if len(extra) > MAX_EVENTS:
        out.append(f"  ... {len(extra) - MAX_EVENTS} more extra students")
    for key in missing[:MAX_EVENTS]:
        pid = next(p for p, k in r.people.items() if k == key)
        keys = [k for k, c in r.key_on.items() if c.get(pid)]
        out.append(f"  missing student {key!r}: its face carried {keys or 'no key'}"
                   f" ({r.undecided.get(pid, 0)} matched frames undecided)")
    if len(missing) > MAX_EVENTS:
        out.append(f"  ... {len(missing) - MAX_EVENTS} more missing students")
    shared = [(key, {p: n for p, n in carriers.items() if p is not None}) for key, carriers in r.key_on.items()]
    shared = [(key, real) for key, real in shared if len(real) > 1]
    for key, real in shared[:MAX_EVENTS]:
        out.append(f"  key {key!r} was on {len(real)} people: "
                   + ", ".join(f"{who[p]} {n} frames" for p, n in sorted(real.items(), key=lambda x: -x[1])[:5]))
    if len(shared) > MAX_EVENTS:
        out.append(f"  ... {len(shared) - MAX_EVENTS} more keys on several people")
    for i, pid, old, new, gap in r.switches[:MAX_EVENTS]:
        near = [a for a in r.adoptions if i - 30 <= a[0] <= i]
        note = f"; layout adopted at frame {near[-1][0]} ({near[-1][1]} -> {near[-1][2]})" if near else ""
        out.append(f"  id switch at frame {i} (t={i / fps:.1f} s): {who.get(pid)} track {old} -> {new}"
                   f" (last matched {gap} frame(s) before){note}")
    if len(r.switches) > MAX_EVENTS:
        out.append(f"  ... {len(r.switches) - MAX_EVENTS} more id switches")
    for i, old, new, truth, structural in r.adoptions[:MAX_EVENTS]:
        out.append(f"  layout adopted at frame {i}: {old} -> {new} ({'new kind/tiles' if structural else 'moved'});"
                   f" truth {truth}")
    for i, old, new in r.true_changes:
        out.append(f"  true layout change at frame {i}: {old} -> {new}")
    frames = {e[0] for e in r.switches[:MAX_EVENTS]} | {a[0] for a in r.adoptions[:MAX_EVENTS]}
    frames |= {r.key_span[k][0] for k in extra[:MAX_EVENTS] if k in r.key_span}
    lines = [(f, text) for f, text in r.log if any(f - 20 <= x <= f + 5 for x in frames)]
    if lines:
        out.append("  log around those frames:")
        out.extend(f"    [{f}] {text}" for f, text in lines[:40])
        if len(lines) > 40:
            out.append(f"    ... {len(lines) - 40} more lines")
    return out


def revision() -> str:
    """The commit analysed, and whether fer_overlay/ differs from it (results belong to a tree)."""
    import subprocess

    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True, timeout=10,
                                  check=True).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = git("status", "--porcelain", "--", "fer_overlay").splitlines()
    return head + (f" + uncommitted changes in {', '.join(line[3:] for line in dirty)}" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[9, 25, 49], help="tiles per gallery (each <= 49)")
    p.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS))
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--fps", type=float, default=10.0, help="the recordings' frame rate (video time per frame)")
    p.add_argument("--shift-px", type=int, default=3, help="the shift scenario's slide per frame")
    p.add_argument("--style", choices=[s.value for s in Style], default=Style.ZOOM.value)
    p.add_argument("--seed", type=int, default=1, help="motion and noise seed (the class's seed is the tile count)")
    p.add_argument("--insightface", action="store_true", help="insightface's sample faces, not the shared photos")
    p.add_argument("--config", type=Path, help="a settings.toml to analyse with (default: the built-in defaults)")
    p.add_argument("--threads", type=int, default=None, help="inference threads (default: as the settings say)")
    p.add_argument("--save", type=Path, help="also write the recordings (FFV1 .mkv) and truths here, e.g. /tmp/...")
    p.add_argument("--inline", action="store_true", help="draw in this process (slower: no overlap)")
    p.add_argument("-v", "--verbose", action="store_true", help="log the pipeline's INFO lines too")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    for handler in logging.getLogger().handlers:  # the loggers below are raised for the diagnosis, not the console
        handler.setLevel(logging.INFO if args.verbose else logging.WARNING)
    if any(not 1 <= n <= 49 for n in args.sizes) or args.frames < 1 or args.fps <= 0:
        p.error("--sizes must be in 1..49, --frames >= 1, --fps > 0")
    if args.save is not None:
        save = args.save.expanduser().resolve()
        if save == REPO or REPO in save.parents:
            p.error(f"--save {args.save}: keep the recordings out of the repository (e.g. /tmp)")
        args.save = save
    # The identity and pipeline loggers report to the diagnosis whatever the console level.
    for name in ("fer_overlay.people.identity", "fer_overlay.analysis.pipeline"):
        logging.getLogger(name).setLevel(logging.INFO)

    from fer_overlay.testing.load import cpu_model

    make_pipeline, options = pipeline_factory(args)
    probe = make_pipeline()
    print(f"CPU: {cpu_model()}, {platform.system()}; load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}; detector on {probe.detector.provider}, "
          f"classifier {probe.classifier.info.path.name} on {probe.classifier.provider}; names "
          f"{'not read (anonymous)' if options.anonymous else 'read'}")
    probe.close()
    del probe
    print(f"code: {revision()}")
    bank = FaceBank.from_insightface() if args.insightface else FaceBank.default()
    print(f"{args.frames} frames at {args.fps:g} fps per recording, {SIZE[0]}x{SIZE[1]} {args.style} (real drawing), "
          f"faces from {bank.source}")
    cfg = {"style": args.style, "insightface": args.insightface, "frames": args.frames, "shift_px": args.shift_px,
           "seed": args.seed, "fps": args.fps, "save": args.save}
    jobs = jobs_for(args.sizes, args.scenarios)
    results: list[Result] = []
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_recordings-") as tmp:
        runs: list[Run] = []
        for j, i, images, truth in frames_of(jobs, cfg, args.inline):
            job = jobs[j]
            if i is None:
                for run in runs:
                    results.append(run.finish())
                    print(f"[{time.perf_counter() - t_start:5.0f} s] {row(results[-1])}", file=sys.stderr, flush=True)
                runs = []
                continue
            if i == 0:
                runs = [Run(SCENARIOS[name], job.tiles, make_pipeline, options,
                            Path(tmp) / f"{name}-{job.tiles}.sqlite3", args.fps) for name in job.scenarios]
            for run in runs:
                run.add(i, images[run.r.scenario.name], truth)
    wall = time.perf_counter() - t_start
    cpu = ""
    try:
        import resource  # Unix only

        used = [sum(resource.getrusage(who)[:2]) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        cpu = f", CPU time {used[0]:.0f} s in this process + {used[1]:.0f} s in the drawing one"
    except ImportError:
        pass
    order = {name: k for k, name in enumerate(args.scenarios)}
    results.sort(key=lambda r: (order[r.scenario.name], r.tiles))
    print()
    print(HEADER)
    for r in results:
        print(row(r))
    print(f"\n{len(results)} recordings in {wall:.0f} s wall (drawing included){cpu}; frames/s is the pipeline "
          "alone and means little on a shared machine")
    lines = [line for r in results for line in diagnose(r, args.fps)]
    print("\n".join(lines) if lines else "\nevery recording: students = people, no id switch where nobody moved, "
          "layout changes = true changes")
    return 1 if lines else 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Face, avatar and name accuracy of the analysis on real meeting screenshots (Zoom, Meet, Teams, others).

    python scripts/bench_real_galleries.py [--data DIR ...] [--save DIR] [--json OUT] [--only NAME ...]

Each --data folder holds screenshots and a ``truth.json`` (default: tests/data/real_screens and, when
present, runs/real_screens_private). Every image is analysed in IMAGE mode, as ``fer-overlay analyze``
does, and compared with its truth:

- live faces: predictions are matched one-to-one to the truth boxes of kind live, selfview and
  optional by IoU >= 0.3 (Hungarian); recall = matched live faces / live faces;
- false faces: predictions that match no truth face (of any kind) and lie on no avatar;
- avatars: a prediction whose centre lies inside an avatar box means the profile photo or
  initials were analysed as a face (when the pipeline labels a face's ``kind`` as something other
  than live, it counts as recognised instead);
- self-views: a prediction matched to a selfview box was analysed as a student;
- names: over the live faces with a legible label, the name the pipeline put on the matched
  face equals the label, after whitespace strip, either exactly as shown or in the cleaned display
  form the pipeline's own name normalisation makes of it (pronouns, "(you)", "(Host)" removed),
  without identity's own " #2" on the second face of a repeated label;
  "..." and "…" count as the same ellipsis. ``key`` is the looser case- and accent-insensitive match.

truth.json format (version 1)::

    {"version": 1, "images": {"FILE": {
        "app": "zoom|meet|teams|other", "view": "grid|speaker|share|other",
        "tiles": N_participant_tiles_or_null,
        "faces": [{"box": [x1, y1, x2, y2], "kind": "live|avatar|selfview|optional",
                   "name": "label text exactly as shown, or null when not legible"}],
        "camera_off": [{"box": [x1, y1, x2, y2], "name": "..."}],   # optional
        "notes": "..."}}}

Boxes are in image pixels: the face from forehead to chin and ear to ear (for an avatar: the
profile picture or initials badge; for camera_off: the tile of a camera-off participant shown by
name only). ``live`` is a participant's webcam face in a tile, ``avatar`` a profile photo or
initials shown instead of a camera, ``selfview`` the local user's own preview/inset (not a tile of
the class), ``optional`` a face that need not be found and is no error when found (a person in
the background, a photo on the wall, a face almost out of frame).

--save DIR writes each image with the truth (green live, magenta avatar, cyan selfview, grey
optional, blue camera-off) and the predictions (red, with the name read). --json OUT writes the
numbers. No accuracy is asserted here; see the issue's targets.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = (ROOT / "tests" / "data" / "real_screens", ROOT / "runs" / "real_screens_private")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
KINDS = ("live", "avatar", "selfview", "optional")
IOU_MIN = 0.3
ELLIPSES = ("…", "...")


# --- truth -------------------------------------------------------------------------------------


def load_truth(folder: Path) -> dict[str, dict[str, Any]]:
    """The images of a folder's truth.json, by file name."""
    doc = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    if doc.get("version") != 1:
        raise ValueError(f"{folder / 'truth.json'}: unsupported version {doc.get('version')!r}")
    return doc["images"]


# --- geometry ----------------------------------------------------------------------------------


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N, 4) against every box in b (M, 4), xyxy."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def match_boxes(truth: np.ndarray, pred: np.ndarray, iou_min: float = IOU_MIN) -> list[tuple[int, int]]:
    """One-to-one (truth index, prediction index) pairs with IoU >= iou_min, maximising total IoU."""
    iou = iou_matrix(truth, pred)
    if not iou.size:
        return []
    try:
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(-iou)
        pairs = list(zip(rows.tolist(), cols.tolist()))
    except ImportError:  # greedy, best pair first
        pairs, used_t, used_p = [], set(), set()
        for flat in np.argsort(-iou, axis=None):
            t, p = np.unravel_index(flat, iou.shape)
            if t not in used_t and p not in used_p:
                pairs.append((int(t), int(p)))
                used_t.add(t)
                used_p.add(p)
    return sorted((t, p) for t, p in pairs if iou[t, p] >= iou_min)


def centre_inside(boxes: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """(N, M) bool: the centre of box n lies inside region m."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    regions = np.asarray(regions, np.float64).reshape(-1, 4)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    return ((cx[:, None] >= regions[None, :, 0]) & (cx[:, None] <= regions[None, :, 2])
            & (cy[:, None] >= regions[None, :, 1]) & (cy[:, None] <= regions[None, :, 3]))


# --- names -------------------------------------------------------------------------------------


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(str(text).split())
    for e in ELLIPSES:
        if text.endswith(e):
            text = text[: -len(e)].rstrip() + "..."
    return text or None


def _normalised(label: str) -> tuple[str | None, str | None]:
    """(display, key) of a label by the pipeline's own name cleaning, (None, None) if it is unavailable."""
    try:
        from fer_overlay.people.names import normalise
    except ImportError:
        return None, None
    try:
        n = normalise(label)
    except Exception:
        return None, None
    if not n:
        return None, None
    return getattr(n, "display", None), getattr(n, "key", None)


def name_matches(truth: str | None, predicted: str | None) -> tuple[bool, bool]:
    """(exact, key): the predicted name is the label as shown or its cleaned display form; same key.
    Identity's " #2" on the second face of a repeated label is its own, not a misread: it is
    compared without it (unless the screen shows it)."""
    t, p = _clean(truth), _clean(predicted)
    if t is None or p is None:
        return False, False
    if p != t:
        from fer_overlay.people.names import label_of

        p = label_of(p)
    display, key = _normalised(t)
    exact = p == t or (display is not None and p == _clean(display))
    _, pkey = _normalised(p)
    loose = exact or (key is not None and key == pkey)
    return exact, loose


# --- scoring -----------------------------------------------------------------------------------


def _not_a_student(kinds: Sequence[str | None] | None, p: int) -> bool:
    """The pipeline labelled prediction p as something other than a live face (avatar, camera off, self-view)."""
    if kinds is None or p >= len(kinds) or kinds[p] is None:
        return False
    return str(kinds[p]).lower() not in ("", "live", "face", "student")


@dataclass
class ImageScore:
    image: str
    app: str
    view: str
    tiles: int | None
    live: int = 0
    live_found: int = 0
    predictions: int = 0
    false_faces: int = 0
    false_on_camera_off: int = 0
    avatars: int = 0
    avatars_as_face: int = 0
    avatars_recognised: int = 0
    selfviews: int = 0
    selfviews_as_face: int = 0
    selfviews_recognised: int = 0
    names_legible: int = 0
    names_exact: int = 0
    names_key: int = 0
    layout: str = "?"
    layout_tiles: int = 0
    ms: float = 0.0  # analysis time, in the JSON only (not a speed benchmark)
    misses: list[str] = field(default_factory=list)  # names (or boxes) of live faces not found
    wrong_names: list[str] = field(default_factory=list)  # "truth -> read"

    @property
    def recall(self) -> float:
        return self.live_found / self.live if self.live else float("nan")


def score_image(name: str, truth: dict[str, Any], pred_boxes: np.ndarray, pred_names: Sequence[str | None],
                pred_kinds: Sequence[str | None] | None = None) -> tuple[ImageScore, dict[int, int]]:
    """Score one image; also return the truth-face index matched by each prediction index."""
    faces = truth.get("faces", [])
    s = ImageScore(name, truth.get("app", "other"), truth.get("view", "other"), truth.get("tiles"))
    pred_boxes = np.asarray(pred_boxes, np.float64).reshape(-1, 4)
    s.predictions = len(pred_boxes)
    kinds = [f["kind"] for f in faces]
    boxes = np.array([f["box"] for f in faces], np.float64).reshape(-1, 4)
    matchable = [i for i, k in enumerate(kinds) if k in ("live", "selfview", "optional")]
    pairs = match_boxes(boxes[matchable], pred_boxes)
    matched: dict[int, int] = {p: matchable[t] for t, p in pairs}  # prediction -> truth face
    avatar_ids = [i for i, k in enumerate(kinds) if k == "avatar"]
    on_avatar: dict[int, int] = {}
    if avatar_ids:
        inside = centre_inside(pred_boxes, boxes[avatar_ids])
        for p in range(len(pred_boxes)):
            if p not in matched and inside[p].any():
                on_avatar[p] = avatar_ids[int(np.flatnonzero(inside[p])[0])]
    off_boxes = np.array([c["box"] for c in truth.get("camera_off", [])], np.float64).reshape(-1, 4)
    off_inside = centre_inside(pred_boxes, off_boxes) if len(off_boxes) else np.zeros((len(pred_boxes), 0), bool)
    for p in range(len(pred_boxes)):
        if p not in matched and p not in on_avatar:
            s.false_faces += 1
            s.false_on_camera_off += bool(off_inside[p].any())
    by_truth = {t: p for p, t in matched.items()}
    for i, f in enumerate(faces):
        kind = f["kind"]
        if kind == "live":
            s.live += 1
            p = by_truth.get(i)
            if p is None:
                s.misses.append(f.get("name") or str(f["box"]))
            else:
                s.live_found += 1
            if _clean(f.get("name")):
                s.names_legible += 1
                got = pred_names[p] if p is not None and p < len(pred_names) else None
                exact, loose = name_matches(f["name"], got)
                s.names_exact += exact
                s.names_key += loose
                if not exact:
                    s.wrong_names.append(f"{f['name']} -> {got if p is not None else '(face missed)'}")
        elif kind == "selfview":
            s.selfviews += 1
            p = by_truth.get(i)
            if p is not None:
                recognised = _not_a_student(pred_kinds, p)
                s.selfviews_recognised += recognised
                s.selfviews_as_face += not recognised
        elif kind == "avatar":
            s.avatars += 1
            hits = [p for p, t in on_avatar.items() if t == i]
            if hits:
                recognised = all(_not_a_student(pred_kinds, p) for p in hits)
                s.avatars_recognised += recognised
                s.avatars_as_face += not recognised
    return s, matched


@dataclass
class Totals:
    images: int = 0
    live: int = 0
    live_found: int = 0
    worst_recall: float = float("inf")
    worst_image: str = "-"
    false_faces: int = 0
    tiles: int = 0
    avatars: int = 0
    avatars_as_face: int = 0
    selfviews: int = 0
    selfviews_as_face: int = 0
    names_legible: int = 0
    names_exact: int = 0
    names_key: int = 0

    def add(self, s: ImageScore) -> None:
        self.images += 1
        self.live += s.live
        self.live_found += s.live_found
        if s.live and s.recall < self.worst_recall:  # the first one always
            self.worst_recall, self.worst_image = s.recall, s.image
        self.false_faces += s.false_faces
        self.tiles += s.tiles or max(s.live + s.avatars, 1)
        self.avatars += s.avatars
        self.avatars_as_face += s.avatars_as_face
        self.selfviews += s.selfviews
        self.selfviews_as_face += s.selfviews_as_face
        self.names_legible += s.names_legible
        self.names_exact += s.names_exact
        self.names_key += s.names_key


# --- running the pipeline ----------------------------------------------------------------------


def column(faces: Any, name: str, n: int) -> list[Any] | None:
    """A Faces column as a list, None when this version of Faces has no such column."""
    values = getattr(faces, name, None)
    if values is None:
        return None
    values = list(values)
    return values if len(values) == n else None


def make_pipeline(args: argparse.Namespace) -> Any:
    from fer_overlay.analysis.pipeline import GalleryPipeline, PipelineOptions, RunningMode
    from fer_overlay.people.identity import IdentityOptions

    return GalleryPipeline.create(PipelineOptions(mode=RunningMode.IMAGE), providers=args.providers,
                                  threads=args.threads, identity=IdentityOptions(), detector=args.detector)


def analyse(pipeline: Any, path: Path) -> tuple[Any, float, np.ndarray]:
    import cv2

    from fer_overlay.types import Frame

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read {path}")
    t0 = time.perf_counter()
    result = pipeline.process(Frame(image, 0, 0.0))
    return result, (time.perf_counter() - t0) * 1000, image


def draw(image: np.ndarray, truth: dict[str, Any], faces: Any, names: Sequence[str | None], out: Path) -> None:
    from PIL import Image, ImageDraw, ImageFont

    colours = {"live": (0, 200, 0), "avatar": (255, 0, 255), "selfview": (0, 220, 255), "optional": (160, 160, 160)}
    pil = Image.fromarray(image[:, :, ::-1].copy())
    dr = ImageDraw.Draw(pil)
    size = max(12, round(image.shape[0] / 70))
    try:
        font: Any = ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        font = ImageFont.load_default()
    for c in truth.get("camera_off", []):
        dr.rectangle(c["box"], outline=(0, 120, 255), width=2)
    for f in truth.get("faces", []):
        dr.rectangle(f["box"], outline=colours.get(f["kind"], (255, 255, 255)), width=3)
        if f.get("name"):
            dr.text((f["box"][0], f["box"][3] + 2), f["name"], fill=(0, 255, 0), font=font,
                    stroke_width=2, stroke_fill=(0, 0, 0))
    for box, name in zip(np.asarray(faces.xyxy).reshape(-1, 4), names):
        x1, y1, x2, y2 = (float(v) for v in box)
        dr.rectangle((x1, y1, x2, y2), outline=(255, 0, 0), width=2)
        if name:
            dr.text((x1, max(0, y1 - size - 4)), str(name), fill=(255, 80, 80), font=font,
                    stroke_width=2, stroke_fill=(0, 0, 0))
    out.parent.mkdir(parents=True, exist_ok=True)
    pil.save(out)


def row(s: ImageScore) -> str:
    avatars = f"{s.avatars_as_face}/{s.avatars}" + (f" ({s.avatars_recognised} off)" if s.avatars_recognised else "")
    names = f"{s.names_exact}/{s.names_legible}" if s.names_legible else "-"
    tiles = "?" if s.tiles is None else str(s.tiles)
    selfviews = f"{s.selfviews_as_face}/{s.selfviews}"
    return (f"{s.image[:40]:<40} {s.app:<5} {s.view:<7} {s.live_found:>3}/{s.live:<3} {s.false_faces:>5} "
            f"{avatars:>7} {selfviews:>5} {names:>7} {s.layout:>7} {s.layout_tiles:>3}/{tiles}")


HEADER = (f"{'image':<40} {'app':<5} {'view':<7} {'live':>7} {'false':>5} {'avatar':>7} {'self':>5} "
          f"{'names':>7} {'layout':>7} {'tiles':>7}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, action="append", help="folder with images and truth.json (repeatable)")
    ap.add_argument("--only", nargs="+", default=None, help="only these image names (or name fragments)")
    ap.add_argument("--save", type=Path, help="write annotated images here")
    ap.add_argument("--json", type=Path, dest="json_out", help="write the numbers here")
    ap.add_argument("--detector", default="centerface", help="centerface | scrfd:PATH")
    ap.add_argument("--provider", action="append", dest="providers", help="onnxruntime execution provider")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--verbose", action="store_true", help="list missed faces and wrong names per image")
    args = ap.parse_args(argv)
    folders = args.data or [d for d in DEFAULT_DATA if (d / "truth.json").is_file()]
    if not folders:
        print("no data: give --data DIR with a truth.json", file=sys.stderr)
        return 2

    pipeline = make_pipeline(args)
    det_provider = getattr(pipeline.detector, "provider", "?")
    print(f"host: {platform.processor() or platform.machine()}, {platform.system()}; detector on {det_provider}")
    print(HEADER)
    scores: list[ImageScore] = []
    totals = Totals()
    for folder in folders:
        truth_all = load_truth(folder)
        print(f"-- {folder} ({len(truth_all)} images)")
        for name, truth in truth_all.items():
            if args.only and not any(o in name for o in args.only):
                continue
            result, ms, image = analyse(pipeline, folder / name)
            faces = result.faces
            n = len(faces)
            names = column(faces, "name", n) or [None] * n
            raw_kinds = column(faces, "kind", n)
            kinds = None if raw_kinds is None else [
                None if k is None else str(getattr(k, "value", k)) for k in raw_kinds]
            s, _ = score_image(name, truth, np.asarray(faces.xyxy), names, kinds)
            layout = getattr(result, "layout", None)
            kind = getattr(getattr(layout, "kind", None), "value", str(getattr(layout, "kind", "?")))
            s.layout = kind
            s.layout_tiles = len(getattr(layout, "tiles", ())) if kind != "none" else 0
            s.ms = ms
            scores.append(s)
            totals.add(s)
            print(row(s))
            if args.verbose and (s.misses or s.wrong_names):
                if s.misses:
                    print(f"    missed: {', '.join(s.misses)}")
                for w in s.wrong_names:
                    print(f"    name: {w}")
            if args.save:
                draw(image, truth, faces, names, args.save / (Path(name).stem + ".png"))
    t = totals
    print()
    print(f"images {t.images}; live faces found {t.live_found}/{t.live} ({100 * t.live_found / max(t.live, 1):.1f}%), "
          f"worst image {100 * min(t.worst_recall, 1.0):.1f}% ({t.worst_image})")
    print(f"false faces {t.false_faces} = {100 * t.false_faces / max(t.tiles, 1):.2f} per 100 tiles ({t.tiles} tiles)")
    print(f"avatars analysed as a face {t.avatars_as_face}/{t.avatars}; "
          f"self-views analysed as a face {t.selfviews_as_face}/{t.selfviews}")
    legible = max(t.names_legible, 1)
    print(f"names read exactly {t.names_exact}/{t.names_legible} ({100 * t.names_exact / legible:.1f}%), "
          f"same key {t.names_key}/{t.names_legible} ({100 * t.names_key / legible:.1f}%)")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        doc = {"host": platform.processor() or platform.machine(), "totals": asdict(t),
               "images": [asdict(s) | {"recall": s.recall} for s in scores]}
        args.json_out.write_text(json.dumps(doc, indent=1, ensure_ascii=False, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

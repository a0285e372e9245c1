#!/usr/bin/env python3
"""Evaluate the ONNX emotion model for the model card (models/README.md).

    python scripts/eval_emotion.py [--model models/emotion.onnx] [--out models]

FER2013 PublicTest: accuracy overall and per class, with and without flip TTA, and a
confusion-matrix PNG. Also the end-to-end check on ../shared/data/faces photos (face
found by CenterFace, cropped as the live pipeline crops; with and without flip TTA): faces the model never saw,
from another source than FER2013, and the same photos handed to ``predict`` as given
crops (the classifier alone). Writes OUT/emotion_eval.json, OUT/confusion.png and OUT/reliability.png.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fer_overlay import EmotionClassifier  # noqa: E402
from fer_overlay.analysis.classify import normalise  # noqa: E402
from fer_overlay.analysis.crops import CropOptions  # noqa: E402
from fer_overlay.training.ferplus import ferplus_targets  # noqa: E402
from fer_overlay.training.photos import frame_photo, photo_detector, read_labelled  # noqa: E402
from fer_overlay.types import LABELS  # noqa: E402

DATA = REPO.parent / "shared" / "data"


def per_class(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {label: float((pred[y == i] == i).mean()) for i, label in enumerate(LABELS) if (y == i).any()}


def confusion(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    m = np.zeros((len(LABELS), len(LABELS)), np.int64)
    np.add.at(m, (y, pred), 1)
    return m


def draw_confusion(m: np.ndarray, title: str) -> np.ndarray:
    cell, left, top = 72, 110, 70
    n = len(LABELS)
    img = np.full((top + n * cell + 20, left + n * cell + 20, 3), 255, np.uint8)
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, title, (10, 24), font, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "rows: true, columns: predicted (row-normalised)", (10, 46), font, 0.42, (60, 60, 60), 1,
                cv2.LINE_AA)
    for i in range(n):
        cv2.putText(img, LABELS[i], (8, top + i * cell + cell // 2 + 5), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, LABELS[i][:5], (left + i * cell + 8, top - 6), font, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        for j in range(n):
            v = norm[i, j]
            shade = int(255 - 200 * v)
            x, y = left + j * cell, top + i * cell
            cv2.rectangle(img, (x, y), (x + cell - 2, y + cell - 2), (255, shade, shade), -1)
            colour = (255, 255, 255) if v > 0.5 else (0, 0, 0)
            cv2.putText(img, f"{v * 100:.0f}%", (x + 14, y + 32), font, 0.5, colour, 1, cv2.LINE_AA)
            cv2.putText(img, str(m[i, j]), (x + 14, y + 52), font, 0.35, colour, 1, cv2.LINE_AA)
    return img


def calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> tuple[float, list[dict]]:
    """Expected calibration error and the reliability diagram's bins (confidence of the top class)."""
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    rows, ece = [], 0.0
    for lo, hi in itertools.pairwise(edges):
        pick = (conf > lo) & (conf <= hi)
        if not pick.any():
            continue
        acc, mean_conf = float((pred[pick] == y[pick]).mean()), float(conf[pick].mean())
        ece += pick.mean() * abs(acc - mean_conf)
        rows.append({"from": float(lo), "to": float(hi), "faces": int(pick.sum()), "accuracy": acc,
                     "confidence": mean_conf})
    return float(ece), rows


def draw_reliability(rows: list[dict], ece: float, title: str) -> np.ndarray:
    """The reliability diagram: per confidence bin, accuracy (bar) against the diagonal where a
    calibrated model's bars end, with the faces each bin holds."""
    size, left, top, bottom = 420, 60, 60, 50
    img = np.full((top + size + bottom, left + size + 30, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, title, (10, 24), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, f"ECE {ece * 100:.1f}% (15 bins); bars: accuracy, line: perfect calibration", (10, 46), font,
                0.42, (60, 60, 60), 1, cv2.LINE_AA)

    def at(conf: float, acc: float) -> tuple[int, int]:
        return left + round(conf * size), top + size - round(acc * size)

    for k, r in enumerate(rows):
        x1, _ = at(r["from"], 0.0)
        x2, y = at(r["to"], r["accuracy"])
        cv2.rectangle(img, (x1 + 1, y), (x2 - 1, top + size), (200, 140, 60), -1)
        # Counts on two staggered lines: neighbouring bins' numbers would overlap on one.
        cv2.putText(img, str(r["faces"]), (x1 + 2, top + size + 14 + 12 * (k % 2)), font, 0.3,
                    (60, 60, 60), 1, cv2.LINE_AA)
    cv2.line(img, at(0.0, 0.0), at(1.0, 1.0), (0, 0, 200), 1, cv2.LINE_AA)
    cv2.rectangle(img, at(0.0, 1.0), at(1.0, 0.0), (0, 0, 0), 1)
    for v in (0.0, 0.5, 1.0):
        cv2.putText(img, f"{v:.1f}", (at(v, 0.0)[0] - 8, top + size + 44), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, f"{v:.1f}", (left - 34, at(0.0, v)[1] + 5), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def eval_fer(clf: EmotionClassifier, tta: EmotionClassifier, out: Path) -> dict:
    data = np.load(DATA / "fer2013" / "fer2013_PublicTest.npz")
    y = data["labels"]
    crops = list(data["images"])
    probs = clf.predict(crops)
    pred = probs.argmax(1)
    pred_tta = tta.predict(crops).argmax(1)
    m = confusion(y, pred)
    cv2.imwrite(str(out / "confusion.png"), draw_confusion(m, f"FER2013 PublicTest, {len(y)} faces, "
                                                             f"accuracy {(pred == y).mean() * 100:.2f}%"))
    _, plurality, _ = ferplus_targets(data["ferplus_votes"], y)
    has = plurality >= 0
    ece, reliability = calibration_error(probs, y)
    cv2.imwrite(str(out / "reliability.png"), draw_reliability(reliability, ece, f"FER2013 PublicTest, {len(y)} faces:"
                                                                             " confidence of the top class"))
    return {
        "publictest_accuracy": float((pred == y).mean()),
        "publictest_accuracy_flip_tta": float((pred_tta == y).mean()),
        # FER+ plurality, on the faces whose plurality is one of our seven classes.
        "publictest_ferplus_accuracy": float((pred[has] == plurality[has]).mean()),
        "publictest_ferplus_faces": int(has.sum()),
        "publictest_ece": ece,
        "reliability": reliability,
        "neutral_called_negative": negative_share(y, pred),
        "per_class": per_class(y, pred),
        "per_class_flip_tta": per_class(y, pred_tta),
        "confusion": m.tolist(),
    }


def labelled_photos() -> tuple[int, list[tuple[np.ndarray, int]]]:
    """How many photos labels.csv lists, and the readable ones with their class index."""
    listed, photos = read_labelled(DATA / "faces")
    return listed, [(img, label) for _, img, label in photos]


def eval_faces(clf: EmotionClassifier, tta: EmotionClassifier, photos: list[tuple[np.ndarray, int]],
               crop: CropOptions, roll_deg: float = 0.0) -> dict:
    """The photos end to end, once framed, scored without and with flip TTA."""
    detector = photo_detector()
    framed, y, missed = [], [], 0
    for img, label in photos:
        # Heads tilted towards the webcam, alternating sides.
        grey = frame_photo(detector, img, crop, roll_deg * (1 if len(y) % 2 else -1))
        if grey is None:
            missed += 1
            continue
        framed.append(normalise(grey[None])[0])
        y.append(label)
    y_arr, batch = np.array(y), np.stack(framed)
    pred, pred_tta = (c.predict_prepared(batch).argmax(1) for c in (clf, tta))
    return {"faces_detected": len(y), "faces_accuracy": float((y_arr == pred).mean()),
            "faces_per_class": per_class(y_arr, pred), "faces_missed": missed,
            "faces_neutral_called_negative": negative_share(y_arr, pred),
            "faces_accuracy_flip_tta": float((y_arr == pred_tta).mean()),
            "faces_neutral_called_negative_flip_tta": negative_share(y_arr, pred_tta)}


def negative_share(y: np.ndarray, pred: np.ndarray) -> float:
    """Of the faces labelled neutral, the share called angry, disgust, fear or sad: a calm
    class that reads as negative is the product's worst failure."""
    negative = [LABELS.index(c) for c in ("angry", "disgust", "fear", "sad")]
    neutral = y == LABELS.index("neutral")
    return float(np.isin(pred[neutral], negative).mean()) if neutral.any() else float("nan")


def eval_faces_as_crops(clf: EmotionClassifier, photos: list[tuple[np.ndarray, int]]) -> dict:
    """The photos handed to ``predict`` as they are: most are already framed like FER2013
    faces, so this measures the classifier alone, without the detector's framing."""
    y = np.array([label for _, label in photos])
    pred = clf.predict([img for img, _ in photos]).argmax(1)
    return {"faces_as_crops_accuracy": float((pred == y).mean()), "faces_as_crops_per_class": per_class(y, pred)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=REPO / "models" / "emotion.onnx")
    p.add_argument("--out", type=Path, default=REPO / "models")
    p.add_argument("--crop-scale", type=float, default=CropOptions().scale)
    p.add_argument("--no-align", action="store_true", help="square detector boxes, eyes not levelled")
    p.add_argument("--roll", type=float, default=0.0, help="tilt the photos by this many degrees (faces only)")
    args = p.parse_args()
    clf = EmotionClassifier(args.model)
    tta = EmotionClassifier(args.model, flip_tta=True)
    report = {"model": args.model.name, **eval_fer(clf, tta, args.out)}
    if (DATA / "faces" / "labels.csv").is_file():
        crop = CropOptions(scale=args.crop_scale, align=not args.no_align)
        listed, photos = labelled_photos()
        report["faces_photos"] = listed
        report.update(eval_faces(clf, tta, photos, crop, args.roll))
        if not args.roll:
            report.update(eval_faces_as_crops(clf, photos))
    (args.out / "emotion_eval.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "confusion"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

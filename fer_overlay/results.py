"""JSON form of analysis results (the `analyze --json` schema, version 1).

{"schema": 1, "input": str, "size": [w, h], "frames": [
  {"frame": int, "time": float, "layout": "grid"|"speaker"|"none", "tiles": int,
   "faces": [{"box": [x1, y1, x2, y2], "score": float, "track_id": int|null, "tile": int|null,
              "emotion": label|"unknown", "probs": {label: float} | null, "name": str|null}]}]}
"""

from __future__ import annotations

import math
from typing import Any

from .types import LABELS, Analysis, Faces

SCHEMA_VERSION = 1


def faces_to_list(faces: Faces) -> list[dict[str, Any]]:
    rows = []
    labels = faces.labels
    for i in range(len(faces)):
        probs = faces.probs[i]
        rows.append({
            "box": [round(float(v), 1) for v in faces.xyxy[i]],
            "score": round(float(faces.score[i]), 4),
            "track_id": int(faces.track_id[i]) if faces.track_id[i] >= 0 else None,
            "tile": int(faces.tile[i]) if faces.tile[i] >= 0 else None,
            "emotion": labels[i],
            "probs": None if not all(math.isfinite(p) for p in probs)
            else {label: round(float(p), 4) for label, p in zip(LABELS, probs)},
            "name": faces.name[i],
        })
    return rows


def analysis_to_dict(a: Analysis) -> dict[str, Any]:
    return {
        "frame": a.frame_index,
        "time": round(a.timestamp, 3),
        "layout": a.layout.kind.value,
        "tiles": len(a.layout.tiles) if a.layout.kind.value != "none" else 0,
        "faces": faces_to_list(a.faces),
    }


def document(input_name: str, size: tuple[int, int], analyses: list[Analysis]) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "input": input_name,
        "size": list(size),
        "labels": list(LABELS),
        "frames": [analysis_to_dict(a) for a in analyses],
    }

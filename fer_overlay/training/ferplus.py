"""FER+ votes (Microsoft FERPlus: ten annotators per FER2013 face) mapped onto our classes.

numpy only, so evaluation scripts can score against FER+ without PyTorch installed.
"""

from __future__ import annotations

import numpy as np

from ..types import LABELS

# FER+ vote columns as published, and where each lands among LABELS. Contempt has no
# FER2013 class and "unknown" is no expression, so their votes are left out of the soft
# target; "NF" (not a face) marks rows that are dropped from training altogether.
FERPLUS_COLUMNS = (
    "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF",
)
_FERPLUS_TO_LABEL = {"neutral": 6, "happiness": 3, "surprise": 5, "sadness": 4, "anger": 0, "disgust": 1, "fear": 2}


def ferplus_targets(votes: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(soft targets (N, 7), plurality (N,), not-a-face mask (N,)) from FER+ votes (N, 10).

    A row of -1 is a face FER+ dropped; a row whose plurality is "NF" is not a face.
    """
    votes = np.asarray(votes)
    n = len(votes)
    dropped = (votes < 0).any(axis=1)
    counts = np.where(votes < 0, 0, votes).astype(np.float32)
    soft = np.zeros((n, len(LABELS)), np.float32)
    for column, label in _FERPLUS_TO_LABEL.items():
        soft[:, label] = counts[:, FERPLUS_COLUMNS.index(column)]
    total = soft.sum(axis=1, keepdims=True)
    onehot = np.eye(len(LABELS), dtype=np.float32)[labels]
    soft = np.where(total > 0, soft / np.maximum(total, 1), onehot)
    top = counts.max(axis=1, keepdims=True)
    unique_top = (counts == top).sum(axis=1) == 1
    best = counts.argmax(axis=1)
    plurality = np.full(n, -1, np.int64)
    for column, label in _FERPLUS_TO_LABEL.items():
        plurality[(best == FERPLUS_COLUMNS.index(column)) & unique_top & ~dropped] = label
    not_face = dropped | ((best == FERPLUS_COLUMNS.index("NF")) & (top[:, 0] > 0))
    return soft, plurality, not_face

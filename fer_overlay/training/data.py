"""FER2013 as tensors (with the FER+ votes), and the input contract the exported model records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .ferplus import FERPLUS_COLUMNS, LABELS, ferplus_targets

__all__ = ["FERPLUS_COLUMNS", "LABELS", "ferplus_targets"]

INPUT_SIZE = 48
# Pixel scaling baked into the model card and the ONNX metadata: x = (grey / 255 - MEAN) / STD.
MEAN = 0.5
STD = 0.25


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # (N, 1, 48, 48) uint8
    labels: torch.Tensor  # (N,) int64, FER2013's label
    # (N, 7) float32: the FER+ annotators' votes over LABELS, normalised; rows with no usable
    # vote hold the one-hot FER2013 label, so the soft target is always defined.
    soft: torch.Tensor | None = None
    # (N,) int64: FER+ plurality class in LABELS, -1 where it is none of them (contempt,
    # unknown, not a face, a tie) or FER+ has no votes; the second benchmark's labels.
    plurality: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: torch.Tensor | slice) -> Split:
        pick = (lambda t: None if t is None else t[index])  # noqa: E731
        return Split(self.images[index], self.labels[index], pick(self.soft), pick(self.plurality))


def load_split(path: Path, device: torch.device, drop_not_faces: bool = False) -> Split:
    """One npz split. `drop_not_faces` leaves out the rows FER+ marks as not a face (for training)."""
    if not path.is_file():
        raise FileNotFoundError(f"FER2013 split not found: {path}")
    with np.load(path) as data:
        classes = tuple(str(c) for c in data["classes"])
        if classes != LABELS:
            raise ValueError(f"{path}: class order {classes} differs from {LABELS}")
        images = np.ascontiguousarray(data["images"], dtype=np.uint8)
        labels = data["labels"].astype(np.int64)
        votes = data["ferplus_votes"] if "ferplus_votes" in data.files else None
        if votes is not None and "ferplus_columns" in data.files:
            columns = tuple(str(c) for c in data["ferplus_columns"])
            if columns != FERPLUS_COLUMNS:
                raise ValueError(f"{path}: FER+ columns {columns} differ from {FERPLUS_COLUMNS}")
    if images.shape[1:] != (INPUT_SIZE, INPUT_SIZE):
        raise ValueError(f"{path}: expected 48x48 images, got {tuple(images.shape[1:])}")
    if votes is None:
        soft = np.eye(len(LABELS), dtype=np.float32)[labels]
        plurality = np.full(len(labels), -1, np.int64)
        keep = np.ones(len(labels), bool)
    else:
        soft, plurality, not_face = ferplus_targets(votes, labels)
        keep = ~not_face if drop_not_faces else np.ones(len(labels), bool)
    return Split(
        torch.from_numpy(images[keep]).unsqueeze(1).to(device),
        torch.from_numpy(labels[keep]).to(device),
        torch.from_numpy(soft[keep]).to(device),
        torch.from_numpy(plurality[keep]).to(device),
    )


def to_unit(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(255.0)


def normalise(unit: torch.Tensor) -> torch.Tensor:
    return (unit - MEAN) / STD


def load_extra(path: Path, device: torch.device) -> Split:
    """Extra 48x48 faces (scripts/prepare_faces_extra.py): one-hot targets, no FER+ votes."""
    if not path.is_file():
        raise FileNotFoundError(f"extra faces not found: {path} (make it with scripts/prepare_faces_extra.py)")
    with np.load(path) as data:
        images = np.ascontiguousarray(data["images"], dtype=np.uint8)
        labels = data["labels"].astype(np.int64)
    if images.ndim != 3 or images.shape[1:] != (INPUT_SIZE, INPUT_SIZE):
        raise ValueError(f"{path}: expected (N, 48, 48) images, got {images.shape}")
    soft = np.eye(len(LABELS), dtype=np.float32)[labels]
    return Split(
        torch.from_numpy(images).unsqueeze(1).to(device), torch.from_numpy(labels).to(device),
        torch.from_numpy(soft).to(device), torch.full((len(labels),), -1, dtype=torch.int64, device=device),
    )


def concat(a: Split, b: Split) -> Split:
    def cat(x: torch.Tensor | None, y: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None or y is None else torch.cat([x, y])

    return Split(torch.cat([a.images, b.images]), torch.cat([a.labels, b.labels]), cat(a.soft, b.soft),
                 cat(a.plurality, b.plurality))

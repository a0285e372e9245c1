"""FER2013 as tensors, and the input contract the exported model records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

INPUT_SIZE = 48
# Pixel scaling baked into the model card and the ONNX metadata: x = (grey / 255 - MEAN) / STD.
MEAN = 0.5
STD = 0.25
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # (N, 1, 48, 48) uint8
    labels: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def load_split(path: Path, device: torch.device) -> Split:
    if not path.is_file():
        raise FileNotFoundError(f"FER2013 split not found: {path}")
    with np.load(path) as data:
        classes = tuple(str(c) for c in data["classes"])
        if classes != LABELS:
            raise ValueError(f"{path}: class order {classes} differs from {LABELS}")
        images = torch.from_numpy(np.ascontiguousarray(data["images"], dtype=np.uint8))
        labels = torch.from_numpy(data["labels"].astype(np.int64))
    if images.shape[1:] != (INPUT_SIZE, INPUT_SIZE):
        raise ValueError(f"{path}: expected 48x48 images, got {tuple(images.shape[1:])}")
    return Split(images.unsqueeze(1).to(device), labels.to(device))


def to_unit(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(255.0)


def normalise(unit: torch.Tensor) -> torch.Tensor:
    return (unit - MEAN) / STD

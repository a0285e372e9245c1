"""Residual CNNs for 48x48 grey faces: the shipped student and the larger teachers.

The student's width/depth was chosen from an onnxruntime sweep on a 2-core AVX-512
CPU (see models/README.md): the stride-2 stem keeps a 49-face batch under 25 ms while
most of the capacity sits at 24x24 and 12x12, where expression cues live.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class NetSpec:
    """Shape of an :class:`EmotionNet`."""

    widths: tuple[int, ...]
    blocks: tuple[int, ...]
    stem_stride: int = 2
    dropout: float = 0.3

    def __post_init__(self) -> None:
        if len(self.widths) != len(self.blocks):
            raise ValueError(f"widths {self.widths} and blocks {self.blocks} differ in length")
        if self.stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {self.stem_stride}")


ARCHS: dict[str, NetSpec] = {
    # ~63M MACs: the default shipped model.
    "student": NetSpec(widths=(32, 64, 128, 256), blocks=(1, 2, 2, 1)),
    # ~93M MACs: a wider student, at the edge of the CPU latency budget.
    "student-wide": NetSpec(widths=(48, 96, 192, 384), blocks=(1, 1, 1, 1)),
    # ~140M MACs: too slow in fp32 (45 ms for 49 faces) but 14 ms as int8, where wide
    # convolutions gain most from VNNI; the candidate for an int8-first model.
    "student-48": NetSpec(widths=(48, 96, 192, 384), blocks=(1, 2, 2, 1)),
    # ~250M MACs: the student's layers at twice the resolution (no stride in the stem), so
    # the last stage sees 6x6 instead of 3x3; same weights' shapes, so it can start from
    # a trained student. 24-26 ms for 49 faces as int8 on the 2-core CPU; trained once,
    # it ended below the student (models/README.md).
    "student-s1": NetSpec(widths=(32, 64, 128, 256), blocks=(1, 2, 2, 1), stem_stride=1),
    # ~206M MACs: student-s1 with one block fewer at 24x24, for training from scratch at
    # full resolution; as int8, 2.2x the student's latency. Trained once, below the
    # student (models/README.md).
    "student-s1b": NetSpec(widths=(32, 64, 128, 256), blocks=(1, 1, 2, 1), stem_stride=1),
    # ~0.33G MACs: a teacher for distillation; too slow to ship for 49 faces on a laptop.
    "teacher": NetSpec(widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2), dropout=0.4),
}


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv_bn_relu(cin, cout, stride),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.shortcut: nn.Module = nn.Identity()
        if cin != cout or stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class EmotionNet(nn.Module):
    """Input (N, 1, 48, 48) normalised grey, output (N, 7) logits."""

    def __init__(self, spec: NetSpec, num_classes: int = 7) -> None:
        super().__init__()
        first = spec.widths[0]
        layers: list[nn.Module] = [*_conv_bn_relu(1, first), *_conv_bn_relu(first, first, spec.stem_stride)]
        cin = first
        for stage, (width, count) in enumerate(zip(spec.widths, spec.blocks)):
            for i in range(count):
                layers.append(ResBlock(cin, width, 2 if (i == 0 and stage > 0) else 1))
                cin = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(spec.dropout), nn.Linear(cin, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build(arch: str) -> EmotionNet:
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose one of {sorted(ARCHS)}")
    return EmotionNet(ARCHS[arch])

"""Training targets: FER2013 labels blended with FER+ votes, mixup, and the soft loss.

Kept apart from the training loop so each rule is a pure function a test can pin down.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def blend_targets(labels: torch.Tensor, soft: torch.Tensor, soft_weight: float, smoothing: float) -> torch.Tensor:
    """(N, C) target: (1 - w) * smoothed one-hot FER2013 label + w * FER+ vote distribution.

    w = 0 is plain label-smoothed cross-entropy; w = 1 trains on what the ten FER+
    annotators agreed, which is cleaner but pulls away from FER2013's own labels.
    """
    if not 0.0 <= soft_weight <= 1.0:
        raise ValueError(f"soft_weight must be in [0, 1], got {soft_weight}")
    classes = soft.shape[1]
    hard = F.one_hot(labels, classes).float() * (1 - smoothing) + smoothing / classes
    return (1 - soft_weight) * hard + soft_weight * soft.float()


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -(target * F.log_softmax(logits.float(), dim=-1)).sum(-1).mean()


def mixup(
    x: torch.Tensor, target: torch.Tensor, alpha: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Blend each face with another of the batch, one Beta(alpha, alpha) weight per batch.

    The weight is folded to >= 0.5 so each face stays the dominant one of its pair. Every
    draw comes from `gen`, so a resumed run mixes the same pairs with the same weights.
    """
    if alpha <= 0:
        return x, target
    lam = beta_sample(alpha, gen)
    lam = max(lam, 1 - lam)
    perm = torch.randperm(x.shape[0], generator=gen, device=x.device)
    return lam * x + (1 - lam) * x[perm], lam * target + (1 - lam) * target[perm]


def beta_sample(alpha: float, gen: torch.Generator) -> float:
    """One Beta(alpha, alpha) draw from `gen` (Johnk's method: exact, fast for alpha <= 1).

    torch.distributions has no generator argument, which would break an exact resume.
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"mixup alpha must be in (0, 1], got {alpha}")
    while True:
        u, v = torch.rand(2, generator=gen, device=gen.device).tolist()
        a, b = u ** (1 / alpha), v ** (1 / alpha)
        if 0 < a + b <= 1:
            return a / (a + b)

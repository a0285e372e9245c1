"""Training targets: FER2013 labels blended with FER+ votes, mixup, cutmix, and the soft loss.

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


def cutmix(
    x: torch.Tensor, target: torch.Tensor, alpha: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste one rectangle of another face of the batch into each face; targets mix by area.

    One box per batch (size from a Beta(alpha, alpha) draw, place uniform, clipped to the
    image as in the CutMix paper), so the target weight is the area really pasted. The
    pasted share is folded to <= 0.5, so each face keeps most of its own pixels and stays
    the dominant label, as in :func:`mixup`. Every draw comes from `gen`.
    """
    if alpha <= 0:
        return x, target
    lam = beta_sample(alpha, gen)
    lam = max(lam, 1 - lam)
    h, w = x.shape[-2:]
    ch, cw = round(h * (1 - lam) ** 0.5), round(w * (1 - lam) ** 0.5)
    cy, cx = (torch.rand(2, generator=gen, device=gen.device) * torch.tensor([h, w], device=gen.device)).tolist()
    y0, y1 = max(0, int(cy - ch / 2)), min(h, int(cy + ch / 2))
    x0, x1 = max(0, int(cx - cw / 2)), min(w, int(cx + cw / 2))
    perm = torch.randperm(x.shape[0], generator=gen, device=x.device)
    mixed = x.clone()
    mixed[..., y0:y1, x0:x1] = x[perm, ..., y0:y1, x0:x1]
    pasted = (y1 - y0) * (x1 - x0) / (h * w)
    return mixed, (1 - pasted) * target + pasted * target[perm]


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

"""Batched augmentation that runs on the training device (CPU or CUDA).

Done on whole tensors rather than per-image PIL transforms, so a 2-core CPU is not
starved by a data loader and a GPU step is not bound by Python. The recipe targets
the gap between FER2013 and live meeting crops: pose and framing jitter, mirrored
faces, webcam exposure, low-resolution tiles and partial occlusion (hands, mics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    max_rotation_deg: float = 15.0
    scale_range: tuple[float, float] = (0.85, 1.15)
    max_shift: float = 0.10  # fraction of the image side
    flip_p: float = 0.5
    brightness: float = 0.2
    contrast_range: tuple[float, float] = (0.6, 1.4)
    lowres_p: float = 0.25
    lowres_side_range: tuple[int, int] = (16, 36)
    noise_p: float = 0.2
    noise_max_sigma: float = 0.04
    erase_p: float = 0.5
    erase_area_range: tuple[float, float] = (0.02, 0.2)

    def scaled(self, strength: float) -> AugmentConfig:
        """The same recipe, milder (strength < 1, e.g. for a low-rate fine-tune) or stronger."""
        if strength < 0:
            raise ValueError(f"augmentation strength must be >= 0, got {strength}")

        def around_one(lo_hi: tuple[float, float]) -> tuple[float, float]:
            return 1 - (1 - lo_hi[0]) * strength, 1 + (lo_hi[1] - 1) * strength

        return AugmentConfig(
            max_rotation_deg=self.max_rotation_deg * strength, scale_range=around_one(self.scale_range),
            max_shift=self.max_shift * strength, flip_p=self.flip_p, brightness=self.brightness * strength,
            contrast_range=around_one(self.contrast_range), lowres_p=min(1.0, self.lowres_p * strength),
            lowres_side_range=self.lowres_side_range, noise_p=min(1.0, self.noise_p * strength),
            noise_max_sigma=self.noise_max_sigma, erase_p=min(1.0, self.erase_p * strength),
            erase_area_range=self.erase_area_range,
        )


def _uniform(n: int, lo: float, hi: float, like: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen, device=gen.device).to(like.dtype) * (hi - lo) + lo


def random_affine(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    angle = _uniform(n, -cfg.max_rotation_deg, cfg.max_rotation_deg, x, gen) * (math.pi / 180)
    scale = _uniform(n, *cfg.scale_range, x, gen)
    shift = _uniform(2 * n, -2 * cfg.max_shift, 2 * cfg.max_shift, x, gen).view(n, 2)
    flip = torch.where(torch.rand(n, generator=gen, device=gen.device) < cfg.flip_p, -1.0, 1.0).to(x.dtype)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, shift[:, 0]], 1), torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def photometric(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    contrast = _uniform(n, *cfg.contrast_range, x, gen).view(n, 1, 1, 1)
    bright = _uniform(n, -cfg.brightness, cfg.brightness, x, gen).view(n, 1, 1, 1)
    x = (x - mean) * contrast + mean + bright
    noisy = (torch.rand(n, generator=gen, device=gen.device) < cfg.noise_p).to(x.dtype).view(n, 1, 1, 1)
    sigma = _uniform(n, 0.0, cfg.noise_max_sigma, x, gen).view(n, 1, 1, 1) * noisy
    noise = torch.randn(x.shape, generator=gen, device=gen.device, dtype=x.dtype)
    return (x + noise * sigma).clamp_(0.0, 1.0)


def low_resolution(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Blur a random subset as a small meeting tile would: down to `side` px and back."""
    n, _, h, w = x.shape
    pick = torch.rand(n, generator=gen, device=gen.device) < cfg.lowres_p
    lo, hi = cfg.lowres_side_range
    side = int(torch.randint(lo, hi + 1, (1,), generator=gen, device=gen.device).item())
    small = F.interpolate(x, size=(side, side), mode="area")
    blurred = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    return torch.where(pick.view(n, 1, 1, 1), blurred, x)


def random_erase(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    n, _, h, w = x.shape
    dev = gen.device
    area = _uniform(n, *cfg.erase_area_range, x, gen)
    log_ratio = _uniform(n, math.log(0.3), math.log(3.3), x, gen)
    eh = (torch.sqrt(area * torch.exp(log_ratio)) * h).clamp(1, h)
    ew = (torch.sqrt(area / torch.exp(log_ratio)) * w).clamp(1, w)
    y0 = torch.rand(n, generator=gen, device=dev).to(x.dtype) * (h - eh)
    x0 = torch.rand(n, generator=gen, device=dev).to(x.dtype) * (w - ew)
    ys = torch.arange(h, device=x.device, dtype=x.dtype).view(1, h, 1)
    xs = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, w)
    inside = (
        (ys >= y0.view(n, 1, 1)) & (ys < (y0 + eh).view(n, 1, 1))
        & (xs >= x0.view(n, 1, 1)) & (xs < (x0 + ew).view(n, 1, 1))
    )
    active = (torch.rand(n, generator=gen, device=dev) < cfg.erase_p).view(n, 1, 1)
    fill = torch.rand(x.shape, generator=gen, device=dev, dtype=x.dtype)
    return torch.where((inside & active).unsqueeze(1), fill, x)


def augment(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """x: (N, 1, H, W) float in [0, 1] on gen's device; returns a new tensor."""
    x = random_affine(x, cfg, gen)
    x = low_resolution(x, cfg, gen)
    x = photometric(x, cfg, gen)
    return random_erase(x, cfg, gen)


def random_crop(x: torch.Tensor, side: int, gen: torch.Generator) -> torch.Tensor:
    """A side x side window of each face at its own random place (the published FER2013
    recipes' 40/44-px crops of the 48-px face). The nets end in a global pool, so they
    take any input size; :func:`ten_crops` gives the matching test-time views."""
    n, _, h, w = x.shape
    if not 0 < side <= min(h, w):
        raise ValueError(f"crop side must be in [1, {min(h, w)}], got {side}")
    y0 = torch.randint(0, h - side + 1, (n,), generator=gen, device=gen.device).to(x.device)
    x0 = torch.randint(0, w - side + 1, (n,), generator=gen, device=gen.device).to(x.device)
    offs = torch.arange(side, device=x.device)
    rows = (y0[:, None] + offs).view(n, 1, side, 1).expand(n, x.shape[1], side, w)
    picked = x.gather(2, rows)
    cols = (x0[:, None] + offs).view(n, 1, 1, side).expand(n, x.shape[1], side, side)
    return picked.gather(3, cols)


def ten_crops(x: torch.Tensor, side: int) -> list[torch.Tensor]:
    """The four corners and the centre, each also mirrored: ten views to average."""
    h, w = x.shape[-2:]
    if not 0 < side <= min(h, w):
        raise ValueError(f"crop side must be in [1, {min(h, w)}], got {side}")
    places = [(0, 0), (0, w - side), (h - side, 0), (h - side, w - side), ((h - side) // 2, (w - side) // 2)]
    crops = [x[..., y : y + side, c : c + side].contiguous() for y, c in places]
    return crops + [torch.flip(c, dims=[-1]) for c in crops]

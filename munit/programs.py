"""No-learning translators: cheap programs a careless benchmark would reward. A model is only said to learn once
it beats every one of them in each direction (docs/metrics.md, "No-learning baselines").

Each program maps a batch of source-domain images (model range [-1, 1]) to target-domain guesses using nothing but
per-channel statistics of the two *train* sets, image filters and (synthetic set) the shape segmentation of
:func:`munit.synthetic_fit.content_mask`. None looks at the val set's paired ground truth.

``TUNED`` are the programs the benchmark and the recipe were compared against while they were designed;
``HELD_OUT`` were written afterwards and never tuned against, so a recipe that only learned to beat the first set
shows here (other cheap programs exist).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

TUNED = ("blur_recolour", "recolour", "paint_target", "paint_own", "flatten")
HELD_OUT = ("blur2_recolour", "sharpen_recolour", "median_recolour", "posterize", "paint_outline")
NEEDS_MASKS = ("paint_target", "paint_own", "flatten", "paint_outline")   # synthetic set only
PROGRAMS = TUNED + HELD_OUT


@dataclass
class DomainStats:
    """What a program may know about a domain: its train set's per-channel mean and std, and (synthetic set) the
    mean colour inside and outside its shapes. Tensors are [1, 3, 1, 1] in model range."""

    mean: torch.Tensor
    std: torch.Tensor
    inside: torch.Tensor | None = None
    outside: torch.Tensor | None = None

    @classmethod
    def of(cls, images: torch.Tensor, masks: torch.Tensor | None = None) -> "DomainStats":
        """``images``: uint8 [N, 3, S, S]; ``masks``: bool [N, 1, S, S] or None."""
        x = images.float() / 127.5 - 1
        mean, std = x.mean((0, 2, 3)).view(1, 3, 1, 1), x.std((0, 2, 3)).clamp_min(1e-3).view(1, 3, 1, 1)
        if masks is None:
            return cls(mean, std)
        m = masks.float()
        inside = (x * m).sum((0, 2, 3)) / m.sum().clamp_min(1)
        outside = (x * (1 - m)).sum((0, 2, 3)) / (1 - m).sum().clamp_min(1)
        return cls(mean, std, inside.view(1, 3, 1, 1), outside.view(1, 3, 1, 1))


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with replicated borders."""
    r = max(1, int(np.ceil(2.5 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def median3(x: torch.Tensor) -> torch.Tensor:
    """3x3 median filter with replicated borders."""
    n, c, h, w = x.shape
    patches = F.unfold(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3)
    return patches.view(n, c, 9, h * w).median(2).values.view(n, c, h, w)


def recolour(x: torch.Tensor, src: DomainStats, dst: DomainStats) -> torch.Tensor:
    """Match the source domain's per-channel statistics to the target's."""
    return ((x - src.mean.to(x)) / src.std.to(x) * dst.std.to(x) + dst.mean.to(x)).clamp(-1, 1)


def _region_mean(x: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    r = region.float()
    return (x * r).sum((2, 3), keepdim=True) / r.sum((2, 3), keepdim=True).clamp_min(1)


def flatten(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each connected shape and the background painted with their own mean colour."""
    out = _region_mean(x, ~mask).expand_as(x).clone()
    for i in range(x.shape[0]):
        labels, n = ndimage.label(mask[i, 0].cpu().numpy())
        lab = torch.from_numpy(labels).to(x.device)
        for k in range(1, n + 1):
            r = lab == k
            out[i][:, r] = x[i][:, r].mean(1, keepdim=True)
    return out


def _outline(mask: torch.Tensor, width: int) -> torch.Tensor:
    m = mask.float()
    eroded = -F.max_pool2d(-F.pad(m, (width,) * 4, mode="replicate"), 2 * width + 1, stride=1)
    return mask & (eroded < 0.5)


class Program:
    """One no-learning translator for one direction: ``program(x)`` maps source images to target guesses."""

    def __init__(self, name: str, src: DomainStats, dst: DomainStats, source_domain: str | None,
                 image_size: int):
        if name not in PROGRAMS:
            raise ValueError(f"unknown program {name!r}; choose from {', '.join(PROGRAMS)}")
        if name in NEEDS_MASKS and (source_domain is None or dst.inside is None):
            raise ValueError(f"program {name!r} segments shapes: it needs the synthetic data set")
        self.name, self.src, self.dst, self.domain = name, src, dst, source_domain
        self.sigma = image_size / 32   # one pixel at 32 px: the scale of the renderer's detail
        self._run: Callable[[torch.Tensor], torch.Tensor] = getattr(self, f"_{name}")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self._run(x.float())

    def _mask(self, x: torch.Tensor) -> torch.Tensor:
        from .synthetic_fit import content_mask
        return content_mask(x, self.domain)  # type: ignore[arg-type]

    def _recolour(self, x: torch.Tensor) -> torch.Tensor:
        return recolour(x, self.src, self.dst)

    def _blur_recolour(self, x: torch.Tensor) -> torch.Tensor:
        return recolour(gaussian_blur(x, self.sigma), self.src, self.dst)

    def _blur2_recolour(self, x: torch.Tensor) -> torch.Tensor:
        return recolour(gaussian_blur(x, 2 * self.sigma), self.src, self.dst)

    def _sharpen_recolour(self, x: torch.Tensor) -> torch.Tensor:
        return recolour((2 * x - gaussian_blur(x, self.sigma)).clamp(-1, 1), self.src, self.dst)

    def _median_recolour(self, x: torch.Tensor) -> torch.Tensor:
        return recolour(median3(x), self.src, self.dst)

    def _posterize(self, x: torch.Tensor) -> torch.Tensor:
        return (torch.round((recolour(x, self.src, self.dst) + 1) * 1.5) / 1.5 - 1).clamp(-1, 1)

    def _paint_target(self, x: torch.Tensor) -> torch.Tensor:
        m = self._mask(x)
        return torch.where(m, self.dst.inside.to(x), self.dst.outside.to(x)).expand_as(x).clone()  # type: ignore[union-attr]

    def _paint_own(self, x: torch.Tensor) -> torch.Tensor:
        m = self._mask(x)
        return torch.where(m, _region_mean(x, m), _region_mean(x, ~m))

    def _flatten(self, x: torch.Tensor) -> torch.Tensor:
        return flatten(x, self._mask(x))

    def _paint_outline(self, x: torch.Tensor) -> torch.Tensor:
        """Target colours, with the shapes' rim drawn darker: a guess at 'draw something at the edges'."""
        m = self._mask(x)
        out = torch.where(m, self.dst.inside.to(x), self.dst.outside.to(x)).expand_as(x).clone()  # type: ignore[union-attr]
        rim = _outline(m, max(1, round(self.sigma))).expand_as(x)
        return torch.where(rim, (out - 0.5).clamp(-1, 1), out)


__all__ = ["PROGRAMS", "TUNED", "HELD_OUT", "NEEDS_MASKS", "DomainStats", "Program", "gaussian_blur", "median3",
           "recolour", "flatten"]

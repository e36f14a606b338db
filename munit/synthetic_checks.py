"""Measurements that vouch for the synthetic set, shared by its benchmark (bench/synthetic_bench.py) and its tests:
which image features separate the two domains (a held-out logistic regression on global colour statistics and on
the texture inside the shapes) and a blurred input, the imperfect output the fit and the segmentation must survive.
What they measure: docs/metrics.md, "The synthetic renderer"."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)   # Rec.601 luma weights, [1, 3, 1, 1]


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """uint8 [N, 3, S, S] images blurred by a separable Gaussian (replicate padding), rounded back to uint8."""
    r = int(math.ceil(3 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / sigma) ** 2)
    k = k / k.sum()
    y = F.pad(x.float(), (r, r, r, r), mode="replicate")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3)
    y = F.conv2d(y, k.view(1, 1, -1, 1).expand(3, 1, -1, 1), groups=3)
    return y.round().clamp(0, 255).to(torch.uint8)


def logistic_accuracy(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor
                      ) -> float:
    """Held-out accuracy of an L2-regularised logistic regression on standardised features (LBFGS)."""
    mu, sd = x_train.mean(0), x_train.std(0).clamp_min(1e-6)
    x_train, x_test = (x_train - mu) / sd, (x_test - mu) / sd
    w = torch.zeros(x_train.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=300)

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(x_train @ w + b, y_train) + 1e-3 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(((x_test @ w + b > 0).float() == y_test).float().mean())


def global_features(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The global statistics a domain classifier could use, one [N, d] family each: mean luma, luma spread,
    channel means and a coarse 3x4-bin colour histogram (4 bins per channel)."""
    x = images.float() / 255
    y = (x * LUMA).sum(1)
    hist = torch.stack([((x[:, c] >= k / 4) & ((x[:, c] < (k + 1) / 4) | (k == 3))).float().mean((1, 2))
                        for c in range(3) for k in range(4)], 1)
    return {"mean luma": y.mean((1, 2))[:, None], "luma std": y.std((1, 2))[:, None],
            "channel means": x.mean((2, 3)), "colour histogram 3x4": hist}


def texture_feature(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """[N, 1]: mean absolute horizontal + vertical step inside the shapes, away from their antialiased edge (3x3
    erosion of ``masks``): texture, which is what differs between the domains."""
    x = images.float() / 255
    step = (x[..., :-1, 1:] - x[..., :-1, :-1]).abs().mean(1) + (x[..., 1:, :-1] - x[..., :-1, :-1]).abs().mean(1)
    core = (F.max_pool2d((~masks).float(), 3, 1, 1)[:, 0] == 0)[:, :-1, :-1].float()
    return ((step * core).sum((1, 2)) / core.sum((1, 2)).clamp_min(1))[:, None]


__all__ = ["LUMA", "blur", "logistic_accuracy", "global_features", "texture_feature"]

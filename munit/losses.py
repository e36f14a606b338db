"""MUNIT losses, as the official trainer computes them.

* LSGAN, summed over the discriminator's scales: D pushes real -> 1 and fake -> 0, G pushes fake -> 1;
  each scale's term is a mean over its output map.
* L1 reconstructions (mean absolute error): image (within-domain), style (re-encoded vs the sampled N(0, I)
  code), content (re-encoded vs the original content code, not detached: the official code lets both sides
  learn), style-augmented cycle (x -> other domain -> back with the *encoded* original style).
* Optional domain-invariant perceptual loss (vgg weight > 0): MSE between instance-normalised VGG16 relu5_3
  features of the translation and of its content source. Needs VGG16 ImageNet weights; off by default.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F


def lsgan_d_loss(real_outs: list[torch.Tensor], fake_outs: list[torch.Tensor]) -> torch.Tensor:
    """Discriminator LSGAN loss: sum over scales of mean((D(real) - 1)^2) + mean(D(fake)^2)."""
    return sum(((r.float() - 1) ** 2).mean() + (f.float() ** 2).mean() for r, f in zip(real_outs, fake_outs))


def lsgan_g_loss(fake_outs: list[torch.Tensor]) -> torch.Tensor:
    """Generator LSGAN loss: sum over scales of mean((D(fake) - 1)^2)."""
    return sum(((f.float() - 1) ** 2).mean() for f in fake_outs)


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute error (the official recon_criterion)."""
    return (a.float() - b.float()).abs().mean()


VGG16_FILE = "vgg16-397923af.pth"
VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"


class VGGPerceptual(nn.Module):
    """Frozen VGG16 up to relu5_3 (torchvision's ImageNet weights; the official code used the caffe
    conversion of the same network). Inputs in [-1, 1]."""

    def __init__(self, weights_path: str | os.PathLike | None = None):
        super().__init__()
        from torchvision.models import vgg16

        path = resolve_vgg_weights(weights_path)
        net = vgg16(weights=None)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.features = net.features[:30].eval()  # through relu5_3
        for p in self.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def train(self, mode: bool = True):  # always eval: a loss network never trains
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(((x + 1) / 2 - self.mean) / self.std)

    def loss(self, img: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        a, b = self(img), self(target)
        return ((F.instance_norm(a.float()) - F.instance_norm(b.float())) ** 2).mean()


def resolve_vgg_weights(weights_path: str | os.PathLike | None = None) -> Path:
    """Where the VGG16 weights are: an explicit path, else torch hub's checkpoint cache. Never downloads at
    training time; the error says exactly what to put where."""
    if weights_path:
        p = Path(weights_path).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"VGG16 weights not found at {p} (given with --vgg-weights)")
        return p
    p = Path(torch.hub.get_dir()) / "checkpoints" / VGG16_FILE
    if not p.is_file():
        raise FileNotFoundError(
            f"The perceptual loss (vgg weight > 0) needs VGG16 ImageNet weights: file {VGG16_FILE} from "
            f"{VGG16_URL}. Put it at {p} (the torch hub cache) or pass its path with --vgg-weights "
            "(TrainConfig/Trainer vgg_weights=...). Or set the vgg loss weight to 0 (the default).")
    return p


__all__ = ["lsgan_d_loss", "lsgan_g_loss", "l1", "VGGPerceptual", "resolve_vgg_weights", "VGG16_FILE", "VGG16_URL"]

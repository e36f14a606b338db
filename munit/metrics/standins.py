"""Random-weight stand-ins for the backbone files: the exact architectures, saved under the exact file names,
so offline tests and timing runs exercise the real loading path (hub cache -> torch-fidelity / torchvision ->
torchmetrics) without the real weights. Numbers computed with them mean nothing; ``file_digest`` in every
result's metadata tells them apart from the real files.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterable

import torch
import torch.nn as nn

from .weights import BACKBONES


def inception_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A randomly initialised state_dict of torch-fidelity's ``FeatureExtractorInceptionV3`` (convs re-drawn
    kaiming-normal so activations stay O(1) through the 2048-d pool instead of vanishing)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class _Skeleton(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):  # keep the random init
            return None

    with tempfile.TemporaryDirectory() as tmp, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        empty = Path(tmp) / "empty.pth"
        torch.save({}, empty)
        net = _Skeleton("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty))
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        return {k: v.detach().clone() for k, v in net.state_dict().items()}


def alexnet_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A randomly initialised state_dict of torchvision's ``alexnet``."""
    from torchvision.models import alexnet

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return alexnet(weights=None).state_dict()


def write_stand_ins(hub_dir: str | Path, keys: Iterable[str] = ("inception", "alexnet"), seed: int = 0
                    ) -> dict[str, Path]:
    """Save stand-ins as ``hub_dir/checkpoints/<real file name>``; returns their paths by backbone key."""
    makers = {"inception": inception_state_dict, "alexnet": alexnet_state_dict}
    out = {}
    for key in keys:
        p = Path(hub_dir) / "checkpoints" / BACKBONES[key].filename
        p.parent.mkdir(parents=True, exist_ok=True)
        torch.save(makers[key](seed), p)
        out[key] = p
    return out


__all__ = ["inception_state_dict", "alexnet_state_dict", "write_stand_ins"]

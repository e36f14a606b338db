"""``fid``: Fréchet Inception Distance per direction, after StarGAN v2's protocol.

Real set: the target domain's train images; fake set: every selected val source image translated with
``n_styles`` random styles. torchmetrics ``FrechetInceptionDistance(feature=2048)`` with torch-fidelity's
TF-Inception weights (``weights-inception-2015-12-05-6726825d.pth``), fed uint8 images; resized to 299 with
torch-fidelity's TF1-compatible bilinear interpolation, as the reference TF implementation does.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from .frechet import FrechetDistance, FrechetScorer
from .protocol import EvalData, MetricSpec, Protocol
from .weights import INCEPTION, file_digest, resolve

if TYPE_CHECKING:
    from .session import Session


class FID(FrechetScorer):
    name = "fid"
    higher_is_better = False

    def __init__(self, session: "Session"):
        self.session = session
        self.weights = resolve(INCEPTION, session.inception_weights, self.name)
        self.sha = file_digest(self.weights)
        self.info: dict[str, dict[str, Any]] = {}

    def backbone_key(self) -> tuple[dict[str, Any], bool]:
        return {"backbone": INCEPTION.key, "weights_sha256": self.sha, "resize": "tf1x-bilinear-299"}, True

    def start(self, data: EvalData, protocol: Protocol, device: torch.device) -> None:
        self.protocol, self.device = protocol, device
        if self.fd is None or self.fd.device != device:
            self.fd = FrechetDistance(2048, weights_path=str(self.weights), device=device, antialias=False)

    def meta(self) -> dict[str, Any]:
        import torchmetrics
        return {"backbone": INCEPTION.backbone, "weights": str(self.weights), "weights_sha256": self.sha,
                "resize": "torch-fidelity tf1x bilinear to 299 (antialias=False)", "feature_dim": 2048,
                "implementation": f"torchmetrics {torchmetrics.__version__} FrechetInceptionDistance",
                **self.set_sizes()}


SPEC = MetricSpec("fid", FID, weights=("inception",), higher_is_better=False,
                  doc="Fréchet Inception Distance, target train images vs translated val images (lower is better)")

__all__ = ["FID", "SPEC"]

"""``lpips``: diversity of the outputs for one input, after StarGAN v2's protocol.

For each selected val source image, ``n_styles`` outputs with random styles; the LPIPS distance of every
unordered pair (45 for 10 styles), averaged over pairs and images (every image has the same number of pairs, so
one mean over all pairs is exactly the mean of the per-image means). torchmetrics
``LearnedPerceptualImagePatchSimilarity(net_type="alex")``: torchvision's ImageNet AlexNet
(``alexnet-owt-7be5be79.pth`` from the torch hub cache) with the LPIPS v0.1 linear heads bundled in
torchmetrics. Inputs are the generator's outputs in [-1, 1]. Higher = more diverse.
"""
from __future__ import annotations

from typing import Any

import torch

from .protocol import Batch, Direction, EvalData, MetricError, Protocol, Resources, Scorer, register_metric
from .weights import ALEXNET, file_digest, hub_dir_holding


@register_metric(weights=("alexnet",), higher_is_better=True, rank=30, label="LPIPS distance",
                 doc="LPIPS diversity among the n_styles outputs of each input (higher = more diverse)")
class LPIPS(Scorer):
    name = "lpips"

    def __init__(self, resources: Resources):
        super().__init__(resources)
        self.weights = resources.weights("alexnet", self.name)
        self.sha = file_digest(self.weights)
        self.metric = None
        self.pairs: dict[str, int] = {}

    def start(self, data: EvalData, protocol: Protocol, device: torch.device) -> None:
        if protocol.n_styles < 2:
            raise MetricError(f"lpips diversity needs n_styles >= 2 (pairs of outputs), got {protocol.n_styles}")
        self.protocol = protocol
        if self.metric is None or self.metric.device != device:
            from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity
            # torchmetrics loads the AlexNet through torchvision, which reads only the hub cache: an explicit
            # path is shown to it there
            with hub_dir_holding(ALEXNET, self.weights):
                self.metric = LearnedPerceptualImagePatchSimilarity(net_type="alex", reduction="mean",
                                                                    normalize=False).to(device)
        n = protocol.n_styles
        self.i, self.j = torch.triu_indices(n, n, offset=1, device=device)
        # pairs per call: about 4 generator batches of image pairs, so memory stays bounded at 256 px
        self.pairs_per_call = max(1, (4 * protocol.batch_size) // protocol.inputs_per_batch)

    def begin(self, d: Direction) -> None:
        self.metric.reset()  # type: ignore[union-attr]
        self.pairs[d.name] = 0

    def update(self, d: Direction, batch: Batch) -> None:
        x = batch.images.clamp(-1.0, 1.0)  # [k, n, 3, S, S]; tanh outputs already are, stand-ins may not be
        for lo in range(0, self.i.numel(), self.pairs_per_call):
            i, j = self.i[lo:lo + self.pairs_per_call], self.j[lo:lo + self.pairs_per_call]
            self.metric.update(x[:, i].flatten(0, 1), x[:, j].flatten(0, 1))  # type: ignore[union-attr]
        self.pairs[d.name] += x.shape[0] * self.i.numel()

    def end(self, d: Direction) -> float:
        return float(self.metric.compute())  # type: ignore[union-attr]

    def meta(self) -> dict[str, Any]:
        import torchmetrics
        return {"backbone": ALEXNET.backbone, "weights": str(self.weights), "weights_sha256": self.sha,
                "implementation": f"torchmetrics {torchmetrics.__version__} LearnedPerceptualImagePatchSimilarity",
                "pairs_per_image": int(self.i.numel()), "n_pairs": dict(self.pairs)}


__all__ = ["LPIPS"]

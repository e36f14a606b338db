"""``lpips``: diversity of the outputs for one input, after StarGAN v2's protocol.

For each selected val source image, ``n_styles`` outputs with random styles; the LPIPS distance of every
unordered pair (45 for 10 styles), averaged over pairs and images (every image has the same number of pairs, so
one mean over all pairs is exactly the mean of the per-image means). torchmetrics
``LearnedPerceptualImagePatchSimilarity(net_type="alex")``: torchvision's ImageNet AlexNet
(``alexnet-owt-7be5be79.pth``) with the LPIPS v0.1 linear heads bundled in torchmetrics. Inputs are the
generator's outputs in [-1, 1]. Higher = more diverse. AlexNet runs once per output and all pairs are scored from
those features (:func:`pair_scores`: 10 network images per input instead of 90; the same values).

The metric's own constructor would have torchvision unpickle the AlexNet file with ``weights_only=False``; here
the same torchmetrics network is built with a random backbone and the file's checked tensors are loaded into it
(:func:`lpips_metric`).
"""
from __future__ import annotations

import functools
from typing import Any, Mapping

import torch

from .protocol import Batch, Direction, EvalData, MetricError, Protocol, Resources, Scorer, register_metric
from .weights import alexnet_features


@register_metric(weights=("alexnet",), higher_is_better=True, rank=30, label="LPIPS distance",
                 doc="LPIPS diversity among the n_styles outputs of each input (higher = more diverse)")
class LPIPS(Scorer):
    name = "lpips"

    def __init__(self, resources: Resources):
        super().__init__(resources)
        self.file = resources.weights("alexnet", self.name)   # checked now: before any training
        self.metric = None
        self.pairs: dict[str, int] = {}

    def start(self, data: EvalData, protocol: Protocol, device: torch.device) -> None:
        if protocol.n_styles < 2:
            raise MetricError(f"lpips diversity needs n_styles >= 2 (pairs of outputs), got {protocol.n_styles}")
        self.protocol = protocol
        if self.metric is None or self.metric.device != device:
            self.metric = lpips_metric(self.file.state_dict()).to(device)
        n = protocol.n_styles
        self.i, self.j = torch.triu_indices(n, n, offset=1, device=device)

    def begin(self, d: Direction) -> None:
        self.metric.reset()  # type: ignore[union-attr]
        self.pairs[d.name] = 0

    def update(self, d: Direction, batch: Batch) -> None:
        x = batch.images.clamp(-1.0, 1.0)  # [k, n, 3, S, S]; tanh outputs already are, stand-ins may not be
        scores = pair_scores(self.metric.net, x, self.i, self.j)  # type: ignore[union-attr]
        self.metric.all_scores.append(scores.flatten())  # type: ignore[union-attr]  (compute() = their mean)
        self.pairs[d.name] += x.shape[0] * self.i.numel()

    def end(self, d: Direction) -> float:
        return float(self.metric.compute())  # type: ignore[union-attr]

    def meta(self) -> dict[str, Any]:
        import torchmetrics
        return {**self.file.meta(),
                "implementation": f"torchmetrics {torchmetrics.__version__} LearnedPerceptualImagePatchSimilarity",
                "pairs_per_image": int(self.i.numel()), "n_pairs": dict(self.pairs)}


@functools.lru_cache(maxsize=None)
def _metric_class():
    from torchmetrics import Metric
    from torchmetrics.functional.image.lpips import _NoTrainLpips
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    class StateDictLPIPS(LearnedPerceptualImagePatchSimilarity):
        """torchmetrics' LPIPS metric (AlexNet, the LPIPS v0.1 heads, mean reduction, inputs in [-1, 1]) whose
        AlexNet comes from a given state dict. The parent's constructor is replaced because it loads the AlexNet
        through torchvision (``weights_only=False``); what it sets up is set up here the same way, and update /
        compute are the parent's."""

        def __init__(self, alexnet_state: Mapping[str, torch.Tensor]):
            Metric.__init__(self)
            self.net = _NoTrainLpips(net="alex", pnet_rand=True)   # random AlexNet + the bundled v0.1 heads
            features = alexnet_features(alexnet_state)
            backbone = self.net.net                                # slice1..slice5 hold AlexNet's features[i]
            # "slice2.3.weight" <- "features.3.weight"
            own = {name: features[name.split(".", 1)[1]] for name in backbone.state_dict()}
            backbone.load_state_dict(own, strict=True)
            self.reduction, self.normalize = "mean", False
            self.add_state("all_scores", default=[], dist_reduce_fx=None)

    return StateDictLPIPS


def pair_scores(net, x: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """LPIPS of the output pairs ``(x[:, i], x[:, j])`` for ``x`` [k, n, 3, S, S]: [k, len(i)].

    torchmetrics' ``_LPIPS.forward(x[:, i], x[:, j])`` is, per layer l with unit-normalised features f and linear
    head weights w: sum_c w_c mean_hw (f_i - f_j)^2. That equals sum_c w_c (m_ii + m_jj - 2 m_ij) with the Gram
    entries m_ij = mean_hw f_i f_j. So AlexNet runs once per output (k*n images, instead of twice per pair:
    k*n*(n-1), 90 per input for 10 styles), and every pair of one input comes from one weighted Gram matrix per
    layer, in float64 (the difference of Gram entries cancels; in float64 identical outputs still score 0 and the
    rest equal the pairwise path to ~1e-8, tested to 1e-6)."""
    from torchmetrics.functional.image.lpips import _normalize_tensor
    if net.resize is not None or net.spatial:
        raise MetricError("pair_scores reproduces LPIPS without resize and with spatial averaging only")
    k, n = x.shape[:2]
    outs = net.net.forward(net.scaling_layer(x.flatten(0, 1)))
    total = torch.zeros(k, i.numel(), dtype=torch.float64, device=x.device)
    for out, lin in zip(outs, net.lins):
        f = _normalize_tensor(out).double().unflatten(0, (k, n)).flatten(-2)   # [k, n, C, HW]
        w = lin.model[-1].weight.double().flatten()                           # [C]: the 1x1 head, no bias
        hw = f.shape[-1]
        gram = (f * w[:, None]).flatten(2) @ f.flatten(2).transpose(1, 2) / hw  # [k, n, n]: sum_c w_c m_ij
        diag = gram.diagonal(dim1=1, dim2=2)                                     # [k, n]
        total += diag[:, i] + diag[:, j] - 2 * gram[:, i, j]
    return total.to(x.dtype)


def lpips_metric(alexnet_state: Mapping[str, torch.Tensor]):
    """torchmetrics' ``LearnedPerceptualImagePatchSimilarity(net_type="alex")`` with the AlexNet of
    ``alexnet_state`` (a checked torchvision AlexNet state dict)."""
    return _metric_class()(alexnet_state)


__all__ = ["LPIPS", "lpips_metric", "pair_scores"]

"""``kid``: Kernel Inception Distance per direction -- FID's unbiased sibling for small fake sets.

FID is strongly biased upwards below a few thousand images (its covariance estimate is), so at the sizes a sweep
evaluates during training two numbers are only comparable at equal set sizes. KID (Bińkowski et al., 2018) is an
unbiased MMD estimate with a cubic polynomial kernel on the same 2048-d Inception features, averaged over random
subsets: comparable across set sizes. torchmetrics ``KernelInceptionDistance`` computes it; it is fed the very
network FID uses (torch-fidelity's TF-Inception from the same checked weights file, same TF1 resize), so ``fid`` and
``kid`` judge the same features. Protocol as for FID: real set = the target domain's train images (their features
cached per dataset), fakes = the translated val images. The subset size is the smaller of 1000 and the two set
sizes; the subsets are drawn from a generator seeded by the protocol's seed. Lower is better (0 = same
distribution; small negative values are estimation noise).
"""
from __future__ import annotations

from typing import Any

import torch

from ..data import dataset_identity, iterate_images
from .protocol import (Batch, Direction, EvalData, MetricError, Protocol, Resources, Scorer, evenly_spaced,
                       register_metric)
from .weights import INCEPTION, inception_network

MAX_SUBSET = 1000
SUBSETS = 100


@register_metric(weights=("inception",), higher_is_better=False, rank=15, label="KID (Inception features)",
                 doc="Kernel Inception Distance, target train images vs translated val images (lower is better; "
                     "unbiased, for small fake sets)")
class KID(Scorer):
    name = "kid"

    def __init__(self, resources: Resources):
        super().__init__(resources)
        self.file = resources.weights("inception", self.name)   # checked now: before any training
        self.metric = None
        self.built_on: torch.device | None = None
        self.info: dict[str, dict[str, Any]] = {}

    def start(self, data: EvalData, protocol: Protocol, device: torch.device) -> None:
        self.protocol, self.device = protocol, device
        if self.metric is None or self.built_on != device:
            import warnings

            from torchmetrics.image.kid import KernelInceptionDistance

            net = inception_network(self.file.state_dict(), antialias=False)
            with warnings.catch_warnings():  # "will save all extracted features": yes, a few thousand at most
                warnings.simplefilter("ignore", UserWarning)
                self.metric = KernelInceptionDistance(feature=net, subsets=SUBSETS, subset_size=MAX_SUBSET,
                                                      reset_real_features=False).to(device)
            self.built_on = device

    def begin(self, d: Direction) -> None:
        m, protocol, device = self.metric, self.protocol, self.device
        idx = evenly_spaced(len(d.real), protocol.n_real)  # type: ignore[arg-type]
        ident = dataset_identity(d.real)
        key = None if ident is None else {"what": "kid-real-features-v1", "backbone": INCEPTION.key,
                                          "weights_sha256": self.file.digest, "dataset": ident, "n": int(idx.numel())}

        def compute() -> dict[str, Any]:
            feats = [m.inception(x).cpu() for x in iterate_images(d.real, protocol.batch_size, device, indices=idx)]
            return {"features": torch.cat(feats)}

        state, source = self.res.cached("real_features", key, compute, prefix="kid-",
                                        memory_key=(id(d.real), int(idx.numel())))
        m.reset()  # the fake features only (reset_real_features=False)
        m.real_features = [state["features"].to(device)]
        self.info[d.name] = {"n_real": int(state["features"].shape[0]), "real_features": source}

    def update(self, d: Direction, batch: Batch) -> None:
        self.metric.update(batch.uint8, real=False)  # type: ignore[union-attr]

    def end(self, d: Direction) -> float:
        m = self.metric
        n_real, n_fake = self.info[d.name]["n_real"], sum(f.shape[0] for f in m.fake_features)
        if min(n_real, n_fake) < 2:
            raise MetricError(f"KID needs >= 2 real and 2 generated images, got {n_real} and {n_fake}")
        m.subset_size = min(MAX_SUBSET, n_real, n_fake)
        with torch.random.fork_rng(devices=[]):  # the subsets: reproducible, and the global RNG untouched
            torch.manual_seed(self.protocol.seed * 2 + (0 if d.name == "a2b" else 1))
            mean, std = m.compute()
        self.info[d.name].update(n_fake=n_fake, subset_size=m.subset_size, std=float(std))
        return float(mean)

    def meta(self) -> dict[str, Any]:
        import torchmetrics
        return {**self.file.meta(),
                "implementation": f"torchmetrics {torchmetrics.__version__} KernelInceptionDistance "
                                  f"(cubic polynomial kernel, {SUBSETS} subsets)",
                **{k: {d: v[k] for d, v in self.info.items()} for k in ("n_real", "n_fake", "subset_size", "std",
                                                                       "real_features")}}


__all__ = ["KID"]

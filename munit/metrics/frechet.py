"""Fréchet distances between feature distributions: ``fid`` (Inception features) and ``fcd`` (the domain
classifier's features), both computed by torchmetrics' ``FrechetInceptionDistance``.

They are the same computation with different feature extractors, so both go through :class:`FrechetDistance`:
one torchmetrics metric per extractor, whose *real* statistics (feature sum, sum of outer products, count --
exactly torchmetrics' own states) are computed once per target domain, cached, and swapped in before each
direction's fakes are accumulated. The sqrtm part is torchmetrics' (eigenvalues of sigma_1 sigma_2 in float64);
nothing here re-derives it.

* ``fid``: Fréchet Inception Distance per direction, after StarGAN v2's protocol. Real set: the target domain's
  train images; fake set: every selected val source image translated with ``n_styles`` random styles.
  ``FrechetInceptionDistance`` fed torch-fidelity's TF-FID Inception (2048-d pool features) with the weights of
  ``weights-inception-2015-12-05-6726825d.pth`` -- the network built by :func:`~munit.metrics.weights.
  inception_network` from the file's checked tensors, never unpickled by the library -- on uint8 images resized
  to 299 with torch-fidelity's TF1-compatible bilinear interpolation, as the reference TF implementation does.
* ``fcd``: the same in the domain classifier's penultimate (128-d) features -- the FID analogue that needs no
  downloaded weights. Its values are comparable only between evaluations that share the classifier (recorded
  in the metadata).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import torch

from ..data import dataset_identity, iterate_images
from .classifier import ClassifierFeatures, TrainedClassifier
from .protocol import (Batch, Direction, EvalData, MetricError, Protocol, Resources, Scorer, evenly_spaced,
                       register_metric)
from .weights import INCEPTION, inception_network


@dataclass
class RealStats:
    """Sufficient statistics of a real set's features, as torchmetrics accumulates them (float64)."""

    sum: torch.Tensor        # [d]
    cov_sum: torch.Tensor    # [d, d], sum of x x^T
    n: int

    def to_state(self) -> dict[str, Any]:
        return {"sum": self.sum.cpu(), "cov_sum": self.cov_sum.cpu(), "n": int(self.n)}

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> "RealStats":
        return cls(s["sum"].double(), s["cov_sum"].double(), int(s["n"]))


class FrechetDistance:
    """A torchmetrics ``FrechetInceptionDistance`` used as a two-step tool: :meth:`real_stats` of a real set,
    then :meth:`distance` of a stream of fakes to given real statistics.

    ``feature`` is an ``nn.Module`` mapping a batch to [N, d] features with an integer ``num_features``
    attribute: :func:`~munit.metrics.weights.inception_network` (uint8 inputs, resized to 299 inside) for FID.
    (torchmetrics' own ``feature=2048`` would unpickle the weights file with ``weights_only=False``.)"""

    def __init__(self, feature: torch.nn.Module, device: torch.device | str = "cpu"):
        from torchmetrics.image.fid import FrechetInceptionDistance

        self.metric = FrechetInceptionDistance(feature=feature, reset_real_features=False).to(device)
        self.num_features = int(self.metric.real_features_sum.numel())

    @property
    def device(self) -> torch.device:
        return self.metric.real_features_sum.device

    def _set_real(self, s: RealStats) -> None:
        dev = self.device
        self.metric.real_features_sum = s.sum.to(dev, torch.float64)
        self.metric.real_features_cov_sum = s.cov_sum.to(dev, torch.float64)
        self.metric.real_features_num_samples = torch.tensor(int(s.n), device=dev, dtype=torch.long)

    @torch.no_grad()
    def real_stats(self, batches: Iterable[torch.Tensor]) -> RealStats:
        """Accumulate a real set through the metric's own ``update(real=True)`` and return its states."""
        d = self.num_features
        self._set_real(RealStats(torch.zeros(d, dtype=torch.float64), torch.zeros(d, d, dtype=torch.float64), 0))
        for x in batches:
            self.metric.update(x, real=True)
        m = self.metric
        return RealStats(m.real_features_sum.detach().clone(), m.real_features_cov_sum.detach().clone(),
                         int(m.real_features_num_samples))

    def begin(self, real: RealStats) -> None:
        """Start a fake set measured against ``real``."""
        if real.n < 2:
            raise MetricError(f"a Fréchet distance needs >= 2 real images, got {real.n}")
        self._set_real(real)
        self.metric.reset()  # clears the fake states only (reset_real_features=False)

    @torch.no_grad()
    def update(self, fakes: torch.Tensor) -> None:
        self.metric.update(fakes, real=False)

    @torch.no_grad()
    def compute(self) -> float:
        n = int(self.metric.fake_features_num_samples)
        if n < 2:
            raise MetricError(f"a Fréchet distance needs >= 2 generated images, got {n} "
                              "(raise Protocol.n_val or n_styles)")
        return float(self.metric.compute())

    def distance(self, real: RealStats, fakes: Iterable[torch.Tensor]) -> float:
        self.begin(real)
        for x in fakes:
            self.update(x)
        return self.compute()


class FrechetScorer(Scorer):
    """The per-direction steps FID and FCD share: real statistics of the target domain (cached through the
    resources under ``backbone_key``), then the fakes accumulated against them. Subclasses set ``self.fd`` in
    ``start`` and say what identifies their feature extractor."""

    fd: FrechetDistance | None = None
    protocol: Protocol
    device: torch.device

    def __init__(self, resources: Resources):
        super().__init__(resources)
        self.info: dict[str, dict[str, Any]] = {}

    def backbone_key(self) -> tuple[dict[str, Any], bool]:
        """(key of the real-statistics cache, whether to persist them on disk)."""
        raise NotImplementedError

    def begin(self, d: Direction) -> None:
        assert self.fd is not None
        fd, protocol, device = self.fd, self.protocol, self.device
        backbone, persist = self.backbone_key()
        idx = evenly_spaced(len(d.real), protocol.n_real)  # type: ignore[arg-type]
        ident = dataset_identity(d.real) if persist else None
        key = None if ident is None else {"what": f"{self.name}-real-stats-v1", "backbone": backbone,
                                          "dataset": ident, "n": int(idx.numel())}

        def compute() -> dict[str, Any]:
            return fd.real_stats(iterate_images(d.real, protocol.batch_size, device, indices=idx)).to_state()

        state, source = self.res.cached("real_stats", key, compute, prefix=f"{self.name}-",
                                        memory_key=(id(d.real), int(idx.numel()), repr(backbone)))
        stats = RealStats.from_state(state)
        self.info[d.name] = {"n_real": stats.n, "real_stats": source}
        fd.begin(stats)

    def update(self, d: Direction, batch: Batch) -> None:
        assert self.fd is not None
        self.fd.update(batch.uint8)

    def end(self, d: Direction) -> float:
        assert self.fd is not None
        self.info[d.name]["n_fake"] = int(self.fd.metric.fake_features_num_samples)
        return self.fd.compute()

    def set_sizes(self) -> dict[str, Any]:
        return {k: {d: v[k] for d, v in self.info.items()} for k in ("n_real", "n_fake", "real_stats")}


@register_metric(weights=("inception",), higher_is_better=False, rank=10, label="FID (Inception features)",
                 doc="Fréchet Inception Distance, target train images vs translated val images (lower is better)")
class FID(FrechetScorer):
    name = "fid"

    def __init__(self, resources: Resources):
        super().__init__(resources)
        self.file = resources.weights("inception", self.name)   # checked now: before any training

    def backbone_key(self) -> tuple[dict[str, Any], bool]:
        return {"backbone": INCEPTION.key, "weights_sha256": self.file.digest, "resize": "tf1x-bilinear-299"}, True

    def start(self, data: EvalData, protocol: Protocol, device: torch.device) -> None:
        self.protocol, self.device = protocol, device
        if self.fd is None or self.fd.device != device:
            # antialias=False: torch-fidelity's TF1-compatible bilinear resize to 299, i.e. the resize of the
            # reference TF FID implementation (torchmetrics' default is torch's antialiased resize)
            self.fd = FrechetDistance(inception_network(self.file.state_dict(), antialias=False), device=device)

    def meta(self) -> dict[str, Any]:
        import torchmetrics
        return {**self.file.meta(), "resize": "torch-fidelity tf1x bilinear to 299 (antialias=False)",
                "feature_dim": 2048,
                "implementation": f"torchmetrics {torchmetrics.__version__} FrechetInceptionDistance",
                **self.set_sizes()}


@register_metric(higher_is_better=False, rank=20, label="Fréchet distance (classifier features)",
                 doc="Fréchet distance in the domain classifier's features (lower is better; no downloads)")
class FCD(FrechetScorer):
    name = "fcd"

    def __init__(self, resources: Resources):
        super().__init__(resources)
        self.clf: TrainedClassifier | None = None

    def start(self, data: EvalData, protocol: Protocol, device: torch.device) -> None:
        self.protocol, self.device = protocol, device
        clf = self.res.classifier(data, device)
        if self.fd is None or self.clf is None or self.clf.model is not clf.model:
            self.fd = FrechetDistance(ClassifierFeatures(clf.model), device=device)
        self.clf = clf

    def backbone_key(self) -> tuple[dict[str, Any], bool]:
        assert self.clf is not None
        cached = self.clf.key_digest != "uncached"  # a classifier without a cache key has no stable identity
        return {"classifier": self.clf.key_digest if cached else f"id{id(self.clf.model)}"}, cached

    def meta(self) -> dict[str, Any]:
        assert self.clf is not None
        return {"backbone": self.clf.backbone, "classifier": self.clf.key_digest, "classifier_val": self.clf.val_acc,
                "classifier_source": self.clf.source, "feature_dim": ClassifierFeatures.num_features,
                **self.set_sizes()}


__all__ = ["RealStats", "FrechetDistance", "FrechetScorer", "FID", "FCD"]

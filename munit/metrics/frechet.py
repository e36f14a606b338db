"""Fréchet distance between feature distributions, computed by torchmetrics' ``FrechetInceptionDistance``.

FID (Inception features) and FCD (the domain classifier's features) are the same computation with different
feature extractors, so both go through :class:`FrechetDistance`: one torchmetrics metric per extractor, whose
*real* statistics (feature sum, sum of outer products, count -- exactly torchmetrics' own states) are computed
once per target domain, cached, and swapped in before each direction's fakes are accumulated. The sqrtm part is
torchmetrics' (eigenvalues of sigma_1 sigma_2 in float64); nothing here re-derives it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import torch

from .errors import MetricError
from .protocol import Batch, Direction, Protocol, Scorer


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

    ``feature`` is 2048 (torch-fidelity's Inception; inputs uint8 [N, 3, H, W], resized to 299 inside) or an
    ``nn.Module`` mapping a batch to [N, d] features with an integer ``num_features`` attribute."""

    def __init__(self, feature: int | torch.nn.Module = 2048, weights_path: str | None = None,
                 device: torch.device | str = "cpu", antialias: bool = False):
        from torchmetrics.image.fid import FrechetInceptionDistance

        kw: dict[str, Any] = {}
        if isinstance(feature, int):
            # antialias=False: torch-fidelity's TF1-compatible bilinear resize to 299, i.e. the resize of the
            # reference TF FID implementation (torchmetrics' default is torch's antialiased resize)
            kw = dict(feature_extractor_weights_path=str(weights_path) if weights_path else None,
                      antialias=antialias)
        self.metric = FrechetInceptionDistance(feature=feature, reset_real_features=False, **kw).to(device)
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
    """The per-direction steps FID and FCD share: real statistics of the target domain (cached by the
    session under ``backbone_key``), then the fakes accumulated against them. Subclasses set ``self.fd`` in
    ``start`` and say what identifies their feature extractor."""

    fd: FrechetDistance | None = None
    protocol: Protocol
    device: torch.device

    def backbone_key(self) -> tuple[dict[str, Any], bool]:
        """(key of the real-statistics cache, whether to persist them on disk)."""
        raise NotImplementedError

    def begin(self, d: Direction) -> None:
        assert self.fd is not None
        key, persist = self.backbone_key()
        stats, source = self.session.real_stats(self.name, key, self.fd, d.real, self.protocol, self.device,
                                                persist=persist)
        self.info[d.name] = {"n_real": stats.n, "real_stats": source}
        self.fd.begin(stats)

    def update(self, d: Direction, batch: Batch) -> None:
        assert self.fd is not None
        self.fd.update(batch.uint8)

    def end(self, d: Direction) -> float:
        assert self.fd is not None
        self.info[d.name]["n_fake"] = int(self.fd.metric.fake_features_num_samples)
        return self.fd.compute()

    def set_sizes(self) -> dict[str, Any]:
        return {k: {d: v[k] for d, v in self.info.items()} for k in ("n_real", "n_fake", "real_stats")}


__all__ = ["RealStats", "FrechetDistance", "FrechetScorer"]

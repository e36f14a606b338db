"""``fcd``: Fréchet distance in the domain classifier's penultimate (128-d) features -- the FID analogue that
needs no downloaded weights. Same protocol and same torchmetrics computation as ``fid``
(``FrechetInceptionDistance`` with the classifier's features as a custom extractor); lower is better. Its
values are comparable only between evaluations that share the classifier (recorded in the metadata).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from .classifier import ClassifierFeatures, TrainedClassifier
from .frechet import FrechetDistance, RealStats
from .protocol import Batch, Direction, EvalData, MetricSpec, Protocol, Scorer

if TYPE_CHECKING:
    from .session import Session


class FCD(Scorer):
    name = "fcd"
    higher_is_better = False

    def __init__(self, session: "Session"):
        self.session = session
        self.clf: TrainedClassifier | None = None
        self.fd: FrechetDistance | None = None
        self.info: dict[str, dict[str, Any]] = {}

    def start(self, data: EvalData, protocol: Protocol, device: torch.device) -> None:
        self.protocol, self.device = protocol, device
        clf = self.session.classifier(data, device)
        if self.fd is None or self.clf is None or self.clf.model is not clf.model:
            self.fd = FrechetDistance(ClassifierFeatures(clf.model), device=device)
        self.clf = clf

    def begin(self, d: Direction) -> None:
        assert self.fd is not None and self.clf is not None
        cached = self.clf.key_digest != "uncached"  # a classifier without a cache key has no stable identity
        backbone = {"classifier": self.clf.key_digest if cached else f"id{id(self.clf.model)}"}
        stats, source = self.session.real_stats(self.name, backbone, self.fd, d.real, self.protocol, self.device,
                                                persist=cached)
        self.info[d.name] = {"n_real": stats.n, "real_stats": source}
        self.fd.begin(stats)

    def update(self, d: Direction, batch: Batch) -> None:
        assert self.fd is not None
        self.fd.update(batch.uint8)

    def end(self, d: Direction) -> float:
        assert self.fd is not None
        self.info[d.name]["n_fake"] = int(self.fd.metric.fake_features_num_samples)
        return self.fd.compute()

    def meta(self) -> dict[str, Any]:
        assert self.clf is not None
        return {"backbone": self.clf.backbone, "classifier": self.clf.key_digest, "classifier_val": self.clf.val_acc,
                "classifier_source": self.clf.source, "feature_dim": ClassifierFeatures.num_features,
                **{k: {d: v[k] for d, v in self.info.items()} for k in ("n_real", "n_fake", "real_stats")}}


SPEC = MetricSpec("fcd", FCD, higher_is_better=False,
                  doc="Fréchet distance in the domain classifier's features (lower is better; no downloads)")

__all__ = ["FCD", "SPEC"]

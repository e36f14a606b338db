"""``fcd``: Fréchet distance in the domain classifier's penultimate (128-d) features -- the FID analogue that
needs no downloaded weights. Same protocol and same torchmetrics computation as ``fid``
(``FrechetInceptionDistance`` with the classifier's features as a custom extractor); lower is better. Its
values are comparable only between evaluations that share the classifier (recorded in the metadata).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from .classifier import ClassifierFeatures, TrainedClassifier
from .frechet import FrechetDistance, FrechetScorer
from .protocol import EvalData, MetricSpec, Protocol

if TYPE_CHECKING:
    from .session import Session


class FCD(FrechetScorer):
    name = "fcd"
    higher_is_better = False

    def __init__(self, session: "Session"):
        self.session = session
        self.clf: TrainedClassifier | None = None
        self.info: dict[str, dict[str, Any]] = {}

    def start(self, data: EvalData, protocol: Protocol, device: torch.device) -> None:
        self.protocol, self.device = protocol, device
        clf = self.session.classifier(data, device)
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


SPEC = MetricSpec("fcd", FCD, higher_is_better=False,
                  doc="Fréchet distance in the domain classifier's features (lower is better; no downloads)")

__all__ = ["FCD", "SPEC"]

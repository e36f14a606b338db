"""``acc``: translation accuracy -- the share of translated images that the domain classifier assigns to the
target domain (the rigorous form of the seed blog's "does a captioner call the dog->cat output a cat").

The classifier (:mod:`munit.metrics.classifier`) is trained on the real train images of both domains; its
accuracy on the real val images is reported as ``acc/classifier_val``. Higher is better.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from .classifier import TrainedClassifier
from .protocol import Batch, Direction, EvalData, MetricSpec, Protocol, Scorer

if TYPE_CHECKING:
    from .session import Session


class Acc(Scorer):
    name = "acc"
    higher_is_better = True

    def __init__(self, session: "Session"):
        self.session = session
        self.clf: TrainedClassifier | None = None
        self.counts: dict[str, tuple[int, int]] = {}

    def start(self, data: EvalData, protocol: Protocol, device: torch.device) -> None:
        self.clf = self.session.classifier(data, device)

    def begin(self, d: Direction) -> None:
        assert self.clf is not None
        self.correct = torch.zeros((), dtype=torch.long, device=next(self.clf.model.parameters()).device)
        self.total = 0

    def update(self, d: Direction, batch: Batch) -> None:
        assert self.clf is not None
        pred = self.clf.model(batch.uint8).argmax(1)
        self.correct += (pred == d.target_label).sum()  # stays on the device: no sync per batch
        self.total += pred.shape[0]

    def end(self, d: Direction) -> float:
        correct = int(self.correct)
        self.counts[d.name] = (correct, self.total)
        return correct / max(1, self.total)

    def extra(self) -> dict[str, float]:
        assert self.clf is not None
        return {"acc/classifier_val": float(self.clf.val_acc)}

    def meta(self) -> dict[str, Any]:
        assert self.clf is not None
        return {"backbone": self.clf.backbone, "classifier": self.clf.key_digest, "classifier_val": self.clf.val_acc,
                "classifier_source": self.clf.source, "classifier_info": self.clf.info,
                "n_fake": {k: v[1] for k, v in self.counts.items()}}


SPEC = MetricSpec("acc", Acc, higher_is_better=True, extra_keys=("acc/classifier_val",),
                  doc="share of translations the domain classifier assigns to the target domain (higher is better)")

__all__ = ["Acc", "SPEC"]

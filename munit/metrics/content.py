"""``content``: geometry kept by a translation, on the synthetic dataset only, where it is known exactly.

Val image i of domain A and of domain B share their content mask (``val_a.masks[i]``); a translation of either
is thresholded as a target-domain image (:func:`munit.synthetic.content_mask`) and compared with that mask:
1 - IoU per output (:func:`munit.synthetic.content_error`), averaged over inputs and styles. Lower is better;
0 = shapes kept pixel for pixel.
"""
from __future__ import annotations

from typing import Any

import torch

from ..synthetic import THRESHOLD, content_error
from .protocol import Batch, Direction, EvalData, MetricError, Protocol, Resources, Scorer, register_metric


@register_metric(higher_is_better=False, synthetic_only=True, rank=50, label="content error (1 − IoU)",
                 doc="synthetic set only: 1 - IoU of the translated shapes with the paired ground truth")
class Content(Scorer):
    name = "content"

    def __init__(self, resources: Resources):
        super().__init__(resources)
        self.n: dict[str, int] = {}

    def start(self, data: EvalData, protocol: Protocol, device: torch.device) -> None:
        for ds in (data.val_a, data.val_b):
            if not isinstance(getattr(ds, "masks", None), torch.Tensor):
                raise MetricError(f"metric 'content' needs paired ground truth (the synthetic dataset); "
                                  f"val set {getattr(ds, 'name', type(ds).__name__)!r} has no content masks")
        self.device = device

    def begin(self, d: Direction) -> None:
        self.total = torch.zeros((), dtype=torch.float64, device=self.device)
        self.n[d.name] = 0

    def update(self, d: Direction, batch: Batch) -> None:
        k, n = batch.images.shape[:2]
        masks = d.val.masks[batch.idx].to(self.device).repeat_interleave(n, dim=0)  # type: ignore[attr-defined]
        self.total += content_error(batch.flat, masks, d.target_domain).double().sum()
        self.n[d.name] += k * n

    def end(self, d: Direction) -> float:
        return float(self.total) / max(1, self.n[d.name])

    def meta(self) -> dict[str, Any]:
        return {"backbone": f"luma threshold {THRESHOLD} (munit.synthetic.content_mask), 1 - IoU with the paired "
                            "mask", "n_fake": dict(self.n)}


__all__ = ["Content"]

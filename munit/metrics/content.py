"""The metrics that only the embedded synthetic set allows, because it knows each translation's answer: val
image i of domain A and of domain B share their content (``val_a.masks[i]``).

* ``fit`` -- the default objective on synthetic data: a paired error with the style marginalised. The target
  domain's renderer is fitted to each output, given the content of its input (:func:`munit.synthetic_fit.fit_error`:
  closed-form colours for every candidate shadow / pattern, the renderer's own constraints on contrast, shadow and
  pattern), and the RMS residual of the best fit is the error. 0 (~0.001 with uint8 rounding) = the output is a
  target-domain rendering of the input's content in some style. It punishes every way of failing: wrong geometry,
  the source domain's look (identity, negation), no shapes (a constant colour), another image's content, noise.
* ``content`` -- geometry only: the output's shapes, segmented as a target-domain image
  (:func:`munit.synthetic_fit.content_mask`), against the input's: 1 - IoU. Kept beside ``fit`` because it says *what*
  went wrong (identity and negation keep the geometry and score well here; ``fit`` rejects them).

Both are averaged over inputs and styles; lower is better.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from .. import synthetic_fit
from .protocol import Batch, Direction, EvalData, MetricError, Protocol, Resources, Scorer, register_metric


class _Paired(Scorer):
    """Per-output errors against the paired ground truth of the synthetic val set."""

    error: Callable[[torch.Tensor, torch.Tensor, str], torch.Tensor]

    def __init__(self, resources: Resources):
        super().__init__(resources)
        self.n: dict[str, int] = {}

    def start(self, data: EvalData, protocol: Protocol, device: torch.device) -> None:
        for ds in (data.val_a, data.val_b):
            if not isinstance(getattr(ds, "masks", None), torch.Tensor):
                raise MetricError(f"metric '{self.name}' needs paired ground truth (the synthetic dataset); "
                                  f"val set {getattr(ds, 'name', type(ds).__name__)!r} has no content masks")
        self.device = device
        self.versions = sorted({str(getattr(ds, "version", "1")) for ds in (data.val_a, data.val_b)})

    def begin(self, d: Direction) -> None:
        self.total = torch.zeros((), dtype=torch.float64, device=self.device)
        self.n[d.name] = 0

    def update(self, d: Direction, batch: Batch) -> None:
        k, n = batch.images.shape[:2]
        masks = d.val.masks[batch.idx].to(self.device).repeat_interleave(n, dim=0)  # type: ignore[attr-defined]
        self.total += type(self).error(batch.flat, masks, d.target_domain).double().sum()
        self.n[d.name] += k * n

    def end(self, d: Direction) -> float:
        return float(self.total) / max(1, self.n[d.name])


@register_metric(higher_is_better=False, synthetic_only=True, rank=45, label="fit error (RMS, style marginalised)",
                 doc="synthetic set only: RMS residual of the best target-domain rendering of the input's content "
                     "(any style) fitted to the output; 0 = a perfect translation")
class Fit(_Paired):
    name = "fit"
    error = staticmethod(synthetic_fit.fit_error)

    def meta(self) -> dict[str, Any]:
        return {"backbone": f"munit.synthetic_fit.fit_error (renderer v{','.join(self.versions)}): least-squares fit of "
                            "the target renderer to the output given the input's content; RMS residual",
                "n_fake": dict(self.n)}


@register_metric(higher_is_better=False, synthetic_only=True, rank=50, label="content error (1 − IoU)",
                 doc="synthetic set only: 1 - IoU of the translated shapes with the paired ground truth")
class Content(_Paired):
    name = "content"
    error = staticmethod(synthetic_fit.content_error)

    def meta(self) -> dict[str, Any]:
        return {"backbone": f"munit.synthetic_fit.content_mask (renderer v{','.join(self.versions)}), 1 - IoU with the "
                            "paired mask", "n_fake": dict(self.n)}


__all__ = ["Fit", "Content"]

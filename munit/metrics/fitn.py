"""``fitn``: the fit error normalised per direction between the paired oracle (0) and the best no-learning
reference of that direction (1), so one easy direction can't half-win the score.

    fitn/<dir> = (fit/<dir> - oracle's fit) / (best reference's fit - oracle's fit)

The references are the deterministic trivial generators (identity, negation, a constant colour, one fixed image)
and every program of :mod:`munit.programs`, scored on the same val inputs. Below 1 in a direction = better than
every one of them there; ``fitn/worst`` (the default objective on the synthetic set) is below 1 only when the
translator beats them all in both directions. The references and their values are in the result's meta.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch

from .. import synthetic_fit
from ..data import dataset_identity, iterate_images, to_model_range
from .content import _Paired
from .protocol import Direction, EvalData, Protocol, evenly_spaced, register_metric

REFERENCES = ("identity", "negation", "constant", "fixed_image")   # + munit.programs.PROGRAMS


def reference_fits(data: EvalData, n_val: int | None, device: torch.device) -> dict[str, dict[str, float]]:
    """{direction: {generator: mean fit}} of the oracle and every reference on the val inputs ``n_val`` selects."""
    from ..baselines import Baselines
    from ..programs import PROGRAMS
    from ..synthetic import render_batch

    size = int(data.val_a[0].shape[-1])
    # the references need only the sizes of a model (no network is built)
    maker = Baselines(data.train_a, data.train_b, data.val_a, data.val_b,
                      SimpleNamespace(image_size=size, style_dim=1))  # type: ignore[arg-type]
    pairs = {name: maker.pair(name) for name in (*REFERENCES, *PROGRAMS)}
    out: dict[str, dict[str, float]] = {}
    for d, src, target, which in (("a2b", data.val_a, "B", 1), ("b2a", data.val_b, "A", 0)):
        idx = evenly_spaced(len(src), n_val)  # type: ignore[arg-type]
        masks = src.masks[idx].to(device)  # type: ignore[attr-defined]
        x = torch.cat(list(iterate_images(src, 64, device, indices=idx)))
        truth, _ = render_batch(idx.tolist(), target, size, src.seed, src.split, 1)  # type: ignore[attr-defined]
        row = {"oracle": float(synthetic_fit.fit_error(truth.to(device), masks, target).mean())}
        style = torch.zeros(len(idx), maker.model.style_dim, device=device)
        for name, pair in pairs.items():
            fake = pair[which].decode(to_model_range(x), style)
            row[name] = float(synthetic_fit.fit_error(fake, masks, target).mean())
        out[d] = row
    return out


@register_metric(higher_is_better=False, synthetic_only=True, rank=44, extra_keys=("fitn/worst",),
                 label="normalised fit (0 = oracle, 1 = best no-learning program)",
                 doc="synthetic set only: fit error per direction scaled so the oracle is 0 and the best "
                     "no-learning reference of that direction is 1; fitn/worst = the worse direction (< 1: beats "
                     "every reference both ways)")
class FitNormalised(_Paired):
    name = "fitn"
    error = staticmethod(synthetic_fit.fit_error)

    def start(self, data: EvalData, protocol: Protocol, device: torch.device) -> None:
        super().start(data, protocol, device)
        ids = [dataset_identity(ds) for ds in (data.train_a, data.train_b, data.val_a, data.val_b)]
        n = [int(evenly_spaced(len(ds), protocol.n_val).numel()) for ds in (data.val_a, data.val_b)]  # type: ignore[arg-type]
        key = None if None in ids else {"what": "fitn-references-v1", "datasets": ids, "n_val": n}
        self.refs, self.source = self.res.cached(
            "fitn_references", key, lambda: reference_fits(data, protocol.n_val, device),
            memory_key=("fitn", tuple(id(ds) for ds in (data.val_a, data.val_b, data.train_a, data.train_b)), *n))
        self.values: dict[str, float] = {}

    def end(self, d: Direction) -> float:
        fit = super().end(d)
        row = self.refs[d.name]
        best = min(v for k, v in row.items() if k != "oracle")
        self.values[d.name] = (fit - row["oracle"]) / max(best - row["oracle"], 1e-6)
        return self.values[d.name]

    def extra(self) -> dict[str, float]:
        return {"fitn/worst": max(self.values.values())} if self.values else {}

    def meta(self) -> dict[str, Any]:
        best = {d: min(((v, k) for k, v in row.items() if k != "oracle")) for d, row in self.refs.items()}
        return {"backbone": f"munit.synthetic_fit.fit_error (renderer v{','.join(self.versions)}), normalised "
                            "between the oracle and the best no-learning reference per direction",
                "references": self.refs, "best_reference": {d: k for d, (v, k) in best.items()},
                "references_source": self.source, "n_fake": dict(self.n)}


__all__ = ["FitNormalised", "REFERENCES", "reference_fits"]

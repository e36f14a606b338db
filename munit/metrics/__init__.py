"""Scoring MUNIT translations after StarGAN v2's evaluation protocol: FID, LPIPS diversity, translation
accuracy, a classifier Fréchet distance and (on the synthetic set) content error. See docs/metrics.md.

    from munit.metrics import evaluate, Protocol
    scores = evaluate(gen_a, gen_b, train_a, train_b, val_a, val_b, ["fid", "lpips", "acc"], Protocol(n_val=100))

Every result is a flat dict of floats (``<metric>/a2b``, ``<metric>/b2a``, ``<metric>/mean``, plus extras such as
``acc/classifier_val``) and ``"meta"``: for each metric the backbone and weights that computed it.

Modules: ``protocol`` (the protocol, the metric interface and registry), ``session`` (running evaluations,
caches, entry points), ``weights`` (backbone files), ``classifier`` (the domain classifier and ``acc``),
``frechet`` (``fid``, ``fcd``), ``lpips``, ``content``. A new metric is one new module with a
:func:`~munit.metrics.protocol.register_metric` class; nothing else lists it.

Names are imported lazily (PEP 562), so reading the registry's option tables does not import torch.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MetricError": "protocol", "Protocol": "protocol", "EvalData": "protocol", "MetricSpec": "protocol",
    "Scorer": "protocol", "register_metric": "protocol", "registry": "protocol", "specs": "protocol",
    "metric_info": "protocol", "Resources": "protocol",
    "ClassifierConfig": "classifier",
    "DEFAULT_METRICS": "protocol", "default_objective": "protocol", "default_metrics": "protocol",
    "Evaluator": "session", "Session": "session", "check_available": "session",
    "evaluate": "session", "evaluate_checkpoint": "session", "applicable_metrics": "session",
    "BACKBONES": "weights",
}


def __getattr__(name: str) -> Any:
    if name == "METRICS":  # the full registry: every metric module imported
        return importlib.import_module(f"{__name__}.protocol").registry()
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["METRICS", *_EXPORTS]

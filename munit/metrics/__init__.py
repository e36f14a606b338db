"""Scoring MUNIT translations: FID, LPIPS diversity, translation accuracy, a classifier Fréchet distance, and
(on the synthetic set) content error -- after StarGAN v2's evaluation protocol. See docs/metrics.md.

    from munit.metrics import evaluate, Protocol
    scores = evaluate(gen_a, gen_b, train_a, train_b, val_a, val_b, ["fid", "lpips", "acc"], Protocol(n_val=100))

Every result is a flat dict of floats (``<metric>/a2b``, ``<metric>/b2a``, ``<metric>/mean``, plus
``acc/classifier_val``) and ``"meta"``: for each metric the backbone and weights that computed it.
"""
from .classifier import ClassifierConfig
from .errors import MetricError
from .evaluate import DEFAULT_METRICS, Evaluator, check_available, evaluate, evaluate_checkpoint, make_evaluator
from .protocol import MetricSpec, Protocol
from .registry import METRICS

__all__ = ["MetricError", "METRICS", "MetricSpec", "Protocol", "ClassifierConfig", "DEFAULT_METRICS", "evaluate",
           "evaluate_checkpoint", "check_available", "make_evaluator", "Evaluator"]

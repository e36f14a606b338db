"""What the tracked keys of one study mean: which evaluation metrics it has, which way each is better, how to
label their axes -- read from what the study stored (``study.user_attrs["metric_info"]``, written from munit's
metric registry when the study was created), else from munit's registry itself. Nothing here is a copy: a metric
added to ``munit/metrics`` appears in tables and figures without an edit to ``analysis/``.

Keys follow docs/tracking.md: ``<metric>/<a2b|b2a|mean>`` per evaluation (plus a metric's extra keys, e.g.
``acc/classifier_val``), ``loss/<name>`` and ``lr``/``it_per_s`` per log interval.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

log = logging.getLogger(__name__)

TRAINING_EXTRA = ("lr", "it_per_s")
_LABELS = {"lr": "learning rate", "it_per_s": "iterations / s", "img_per_s": "images / s", "wall_s": "seconds",
           "iters_reached": "iterations"}
_BETTER = {"it_per_s": True, "img_per_s": True, "wall_s": False}


def metric_of(key: str) -> str:
    """'fid/a2b' -> 'fid'; 'acc/classifier_val' -> 'acc'."""
    return key.split("/", 1)[0]


def _registry_info() -> dict[str, dict[str, Any]]:
    try:
        from munit.metrics.protocol import metric_info
        return metric_info()
    except Exception as e:  # noqa: BLE001 -- analysis still works on what was logged
        log.warning("munit's metric registry is not available (%s); directions of unknown metrics are unknown", e)
        return {}


@dataclass
class Catalog:
    """The evaluation metrics of a study, in column order: ``info[name]`` = {"direction": "minimize" |
    "maximize", "label": ..., "keys": [...]} (what :meth:`munit.metrics.protocol.MetricSpec.info` gives)."""

    info: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def build(cls, stored: Mapping[str, Any] | None, logged: Iterable[str]) -> "Catalog":
        """The study's stored metric facts, completed from munit's registry for any metric family that was
        logged but is not described (older studies)."""
        info = {k: dict(v) for k, v in (stored or {}).items()}
        families = dict.fromkeys(metric_of(k) for k in logged if "/" in k and not k.startswith("loss/"))
        missing = [m for m in families if m not in info]
        if missing:
            reg = _registry_info()
            order = list(reg)
            for m in sorted(missing, key=lambda m: order.index(m) if m in order else len(order)):
                # logged but described nowhere: still shown, with no "better"
                info[m] = dict(reg.get(m) or {"direction": None, "label": m,
                                              "keys": [f"{m}/{d}" for d in ("a2b", "b2a", "mean")]})
        return cls(info)

    def eval_keys(self, metric: str) -> list[str]:
        """``<metric>/<direction>`` keys (a2b, b2a, mean), in order."""
        return [k for k in self.info[metric]["keys"] if k.rsplit("/", 1)[-1] in ("a2b", "b2a", "mean")]

    def extra_keys(self, metric: str) -> list[str]:
        """A metric's further keys (e.g. ``acc/classifier_val``): shown with their final value."""
        return [k for k in self.info[metric]["keys"] if k not in self.eval_keys(metric)]

    def present(self, logged: Iterable[str]) -> list[str]:
        """The metrics of which some evaluation key was logged, in catalog order."""
        have = set(logged)
        return [m for m in self.info if any(k in have for k in self.eval_keys(m))]

    def higher_is_better(self, key: str) -> bool | None:
        """Direction of a key or column ('fid/mean best', 'acc', 'it_per_s'); None when it has no 'better'."""
        base = key.split(" ", 1)[0]
        if base in _BETTER:
            return _BETTER[base]
        d = self.info.get(metric_of(base), {}).get("direction")
        return None if d is None or base.startswith("loss/") else d == "maximize"

    def unit(self, key: str) -> str:
        """Axis label for a key: its unit and which way is better."""
        if key.startswith("loss/"):
            return loss_label(key)
        label = _LABELS.get(key) or self.info.get(metric_of(key), {}).get("label") or key
        hib = self.higher_is_better(key)
        return f"{label} {'↑' if hib else '↓'}" if hib is not None else label


def loss_label(key: str) -> str:
    """The trainer's description of a ``loss/<name>`` key."""
    from munit.trainer import LOSSES
    return LOSSES.get(key.split("/", 1)[1], key)


def training_keys(logged: Iterable[str]) -> list[str]:
    """The logged training scalars: ``loss/<name>`` in the trainer's order, then lr and throughput."""
    from munit.trainer import LOSS_NAMES
    have = set(logged)
    losses = [f"loss/{n}" for n in LOSS_NAMES if f"loss/{n}" in have]
    losses += sorted(k for k in have if k.startswith("loss/") and k not in losses)
    return losses + [k for k in TRAINING_EXTRA if k in have]


__all__ = ["Catalog", "metric_of", "training_keys", "loss_label"]

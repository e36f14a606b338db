"""The public entry points: evaluate generators or a checkpoint, check weights before a run, and the trainer's
evaluation callback."""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Sequence

import torch
from torch.utils.data import Dataset

from .classifier import ClassifierConfig
from .errors import MetricError
from .protocol import EvalData, Protocol
from .registry import specs
from .session import Session
from .weights import BACKBONES, resolve

DEFAULT_METRICS = ("fid", "lpips", "acc")


def check_available(metrics: Sequence[str] | str, inception_weights: str | os.PathLike | None = None,
                    alexnet_weights: str | os.PathLike | None = None, data_source: str | None = None) -> None:
    """Raise :class:`MetricError` now if a requested metric cannot run: an unknown name, a backbone file that is
    neither given, nor in the torch hub cache, nor downloadable (only tried when ``MUNIT_ALLOW_DOWNLOAD`` allows
    it), or -- when ``data_source`` is given -- a synthetic-only metric on real data. Call it before training."""
    paths = {"inception": inception_weights, "alexnet": alexnet_weights}
    for spec in specs(metrics):
        for key in spec.weights:
            resolve(BACKBONES[key], paths[key], spec.name)
        if spec.synthetic_only and data_source is not None and data_source != "synthetic":
            raise MetricError(f"metric '{spec.name}' needs the synthetic dataset (paired ground truth); "
                              f"the data is {data_source!r}")


def _device_of(module: torch.nn.Module) -> torch.device:
    p = next(iter(module.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def evaluate(gen_a: torch.nn.Module, gen_b: torch.nn.Module, train_a: Dataset, train_b: Dataset, val_a: Dataset,
             val_b: Dataset, metrics: Sequence[str] | str = DEFAULT_METRICS, protocol: Protocol | None = None,
             device: torch.device | str | None = None, cache_dir: str | os.PathLike | None = None,
             inception_weights: str | os.PathLike | None = None, alexnet_weights: str | os.PathLike | None = None,
             classifier: ClassifierConfig | None = None) -> dict[str, Any]:
    """Score two generators with the requested metrics: flat floats (``fid/a2b``, ``fid/b2a``, ``fid/mean``,
    ..., ``acc/classifier_val``) plus ``"meta"`` = {metric: {"backbone": ..., weights, set sizes, cache use}}.
    ``device`` defaults to the generators' device."""
    session = Session(metrics, cache_dir, inception_weights, alexnet_weights, classifier)
    return session.run(gen_a, gen_b, EvalData(train_a, train_b, val_a, val_b), protocol or Protocol(),
                       device if device is not None else _device_of(gen_a))


def evaluate_checkpoint(path: str | os.PathLike, data_cfg=None, metrics: Sequence[str] | str = DEFAULT_METRICS,
                        protocol: Protocol | None = None, device: torch.device | str = "auto",
                        cache_dir: str | os.PathLike | None = None,
                        inception_weights: str | os.PathLike | None = None,
                        alexnet_weights: str | os.PathLike | None = None,
                        classifier: ClassifierConfig | None = None,
                        data_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """:func:`evaluate` on a training checkpoint. ``data_cfg`` None = the data the checkpoint was trained on
    (its saved config), with ``data_overrides`` (DataConfig fields, e.g. ``source``) applied; the image size is
    always the model's. The result also has ``"checkpoint"``: {"path", "step"}."""
    from ..config import from_dict
    from ..data import DataConfig, load_domains
    from ..trainer import load_generators, resolve_device

    check_available(metrics, inception_weights, alexnet_weights)  # before anything is loaded
    dev = resolve_device(device) if isinstance(device, str) else torch.device(device)
    gen_a, gen_b, mcfg, meta = load_generators(path, dev)
    if data_cfg is None:
        data_cfg = from_dict(DataConfig, dict(meta["config"]["data"]))  # domains come back as a list: fine
    data_cfg = dataclasses.replace(data_cfg, **(data_overrides or {}), image_size=mcfg.image_size)
    check_available(metrics, inception_weights, alexnet_weights, data_source=data_cfg.source)
    train_a, train_b = load_domains(data_cfg, "train")
    val_a, val_b = load_domains(data_cfg, "val")
    session = Session(metrics, cache_dir, inception_weights, alexnet_weights, classifier)
    result = session.run(gen_a, gen_b, EvalData(train_a, train_b, val_a, val_b), protocol or Protocol(), dev)
    result["checkpoint"] = {"path": str(path), "step": int(meta["step"])}
    return result


class Evaluator:
    """The trainer's evaluation callback: ``evaluator(trainer) -> {key: float}`` (flat floats only; what computed
    them is in ``.meta`` after each call). Networks, real statistics and the classifier are built on the first
    call and reused. Style codes are seeded with the run's seed (``trainer.cfg.seed``), so every evaluation of a
    run uses the same codes and the curves compare like with like."""

    def __init__(self, metrics: Sequence[str] | str, protocol: Protocol | None = None,
                 cache_dir: str | os.PathLike | None = None, inception_weights: str | os.PathLike | None = None,
                 alexnet_weights: str | os.PathLike | None = None, classifier: ClassifierConfig | None = None):
        check_available(metrics, inception_weights, alexnet_weights)
        self.session = Session(metrics, cache_dir, inception_weights, alexnet_weights, classifier)
        self.protocol = protocol or Protocol()
        self.meta: dict[str, dict[str, Any]] = {}

    @property
    def metrics(self) -> list[str]:
        return [s.name for s in self.session.specs]

    def __call__(self, trainer) -> dict[str, float]:
        protocol = dataclasses.replace(self.protocol, seed=int(trainer.cfg.seed))
        data = EvalData(trainer.train_a, trainer.train_b, trainer.val_a, trainer.val_b)
        result = self.session.run(trainer.gen_a, trainer.gen_b, data, protocol, trainer.device)
        self.meta = result.pop("meta")
        return {k: float(v) for k, v in result.items()}


def make_evaluator(metrics: Sequence[str] | str, protocol: Protocol | None = None,
                   cache_dir: str | os.PathLike | None = None, inception_weights: str | os.PathLike | None = None,
                   alexnet_weights: str | os.PathLike | None = None,
                   classifier: ClassifierConfig | None = None) -> Evaluator:
    """An :class:`Evaluator`; raises :class:`MetricError` at once when weights are missing."""
    return Evaluator(metrics, protocol, cache_dir, inception_weights, alexnet_weights, classifier)


__all__ = ["DEFAULT_METRICS", "check_available", "evaluate", "evaluate_checkpoint", "Evaluator", "make_evaluator"]

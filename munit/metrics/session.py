"""What persists between evaluations -- built metric networks, real-set statistics, the domain classifier --
and the loop that runs one evaluation.

One evaluation translates each direction's inputs once and hands every batch to every requested metric. It runs
under ``torch.no_grad`` with the generators in eval mode (restored afterwards) and inside a forked global RNG:
metric networks are constructed there (their random init would otherwise draw from it), and style codes come
from their own seeded generator, so evaluating never changes a training run's random stream.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any, Hashable, Sequence

import torch
from torch.utils.data import Dataset

from .batches import evenly_spaced, real_batches, translations
from .cache import DiskCache, dataset_identity, digest
from .classifier import ClassifierConfig, TrainedClassifier, classifier_key, load_or_train
from .frechet import FrechetDistance, RealStats
from .protocol import EvalData, Protocol, Scorer, directions
from .registry import specs


class Session:
    """Scorers for ``metrics`` plus the caches they share. Constructing it resolves every backbone file, so
    missing weights raise :class:`MetricError` here, before any training or generation."""

    def __init__(self, metrics: Sequence[str], cache_dir=None, inception_weights=None, alexnet_weights=None,
                 classifier: ClassifierConfig | None = None, use_disk_cache: bool = True):
        self.specs = specs(metrics)
        self.cache = DiskCache(cache_dir, enabled=use_disk_cache)
        self.inception_weights = inception_weights
        self.alexnet_weights = alexnet_weights
        self.classifier_cfg = classifier or ClassifierConfig()
        self._real: dict[Hashable, RealStats] = {}
        self._classifiers: dict[Hashable, TrainedClassifier] = {}
        self.scorers: list[Scorer] = [s.build(self) for s in self.specs]
        self.meta: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ shared, cached resources
    def real_stats(self, metric: str, backbone: dict[str, Any], fd: FrechetDistance, ds: Dataset,
                   protocol: Protocol, device: torch.device, persist: bool = True) -> tuple[RealStats, str]:
        """Statistics of ``ds``'s real images (the protocol's subset) under ``fd``'s extractor: from memory,
        else from the disk cache, else computed once and stored. ``persist=False`` (an extractor that has no
        stable identity) keeps them in memory only. Returns (stats, where they came from)."""
        idx = evenly_spaced(len(ds), protocol.n_real)  # type: ignore[arg-type]
        ident = dataset_identity(ds) if persist else None
        key = None if ident is None else {"what": f"{metric}-real-stats-v1", "backbone": backbone,
                                          "dataset": ident, "n": int(idx.numel())}
        mkey: Hashable = digest(key) if key is not None else (
            "id", id(ds), metric, int(idx.numel()), json.dumps(backbone, sort_keys=True, default=str))
        if mkey in self._real:
            return self._real[mkey], "memory"
        hit = self.cache.load("real_stats", key, prefix=f"{metric}-") if key is not None else None
        if hit is not None:
            stats, source = RealStats.from_state(hit), "disk cache"
        else:
            stats, source = fd.real_stats(real_batches(ds, idx, protocol.batch_size, device)), "computed"
            if key is not None:
                self.cache.store("real_stats", key, stats.to_state(), prefix=f"{metric}-")
        self._real[mkey] = stats
        return stats, source

    def classifier(self, data: EvalData, device: torch.device) -> TrainedClassifier:
        """The domain classifier for ``data`` (memory, disk cache, or trained now)."""
        image_size = int(data.train_a[0].shape[-1])  # type: ignore[index]
        key = classifier_key(data, self.classifier_cfg, image_size)
        mkey: Hashable = (digest(key) if key is not None else
                          ("id", *(id(ds) for ds in (data.train_a, data.train_b, data.val_a, data.val_b))), str(device))
        if mkey in self._classifiers:
            hit = self._classifiers[mkey]
            return TrainedClassifier(hit.model, hit.val_acc, hit.key_digest, "memory", hit.info)
        trained = load_or_train(data, self.classifier_cfg, device, self.cache)
        self._classifiers[mkey] = trained
        return trained

    # ------------------------------------------------------------------ one evaluation
    def run(self, gen_a: torch.nn.Module, gen_b: torch.nn.Module, data: EvalData, protocol: Protocol,
            device: torch.device | str) -> dict[str, Any]:
        """Flat floats (``<metric>/<a2b|b2a|mean>`` and extras) plus ``"meta"``: {metric: what computed it}."""
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:  # "cuda" and "cuda:0" must not rebuild networks
            device = torch.device("cuda", torch.cuda.current_device())
        t0 = time.perf_counter()
        modes = [(g, g.training) for g in (gen_a, gen_b)]
        result: dict[str, Any] = {}
        seconds: dict[str, float] = {}
        try:
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
                for g, _ in modes:
                    g.eval()
                for s in self.scorers:
                    t = time.perf_counter()
                    s.start(data, protocol, device)
                    seconds[s.name] = time.perf_counter() - t
                for d in directions(gen_a, gen_b, data):
                    for s in self.scorers:
                        s.begin(d)
                    for batch in translations(d, protocol, device):
                        for s in self.scorers:
                            s.update(d, batch)
                    for s in self.scorers:
                        result[f"{s.name}/{d.name}"] = float(s.end(d))
        finally:
            for g, mode in modes:
                g.train(mode)
        flat: dict[str, Any] = {}
        for s in self.scorers:
            a2b, b2a = result[f"{s.name}/a2b"], result[f"{s.name}/b2a"]
            flat.update({f"{s.name}/a2b": a2b, f"{s.name}/b2a": b2a, f"{s.name}/mean": (a2b + b2a) / 2})
            flat.update(s.extra())
        wall = time.perf_counter() - t0
        self.meta = {s.name: {**s.meta(), "higher_is_better": s.higher_is_better, "protocol": asdict(protocol),
                              "device": str(device), "start_s": round(seconds.get(s.name, 0.0), 3),
                              "evaluation_s": round(wall, 3)}
                     for s in self.scorers}
        flat["meta"] = self.meta
        return flat


__all__ = ["Session"]

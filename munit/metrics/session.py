"""Running an evaluation: the session that owns what persists between evaluations (metric networks, the cache of
real-set statistics and of the domain classifier), the public entry points (``evaluate``,
``evaluate_checkpoint``, ``check_available``) and the trainer's evaluation callback (:class:`Evaluator`).

One evaluation translates each direction's inputs once and hands every batch to every requested metric. It runs
under ``torch.no_grad`` with the generators in eval mode (restored afterwards) and inside a forked global RNG:
metric networks are constructed there (their random init would otherwise draw from it), and style codes come
from their own seeded generator, so evaluating never changes a training run's random stream.

Disk cache layout under the cache root (``cache_dir`` argument, else ``$MUNIT_CACHE``, else
``~/.cache/munit-ablate``)::

    real_stats/<metric>-<digest>.pt    a real set's feature statistics (+ the key that made them)
    classifier/<digest>.pt             the domain classifier's state_dict, its val accuracy (+ key)

``<digest>`` hashes a JSON key that names everything the content depends on (dataset identity, subset size,
backbone and its weights digest, settings). Files are written atomically and read with ``weights_only=True``; a
file whose stored key differs (a hash collision, an edited file) or that fails to load is recomputed, never
trusted.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Hashable, Mapping, Sequence

import torch
from torch.utils.data import Dataset

from ..checkpoint import save_checkpoint
from .classifier import ClassifierConfig, TrainedClassifier, load_or_train
from ..config import SYNTHETIC
from .protocol import (DEFAULT_METRICS, EvalData, MetricError, Protocol, Scorer, digest, directions, plain, registry,
                       specs, translations)
from .weights import BACKBONES, CheckedFile, WeightPaths, check, check_keys, resolve

log = logging.getLogger(__name__)

CACHE_ENV = "MUNIT_CACHE"


# ----------------------------------------------------------------------------------------------- disk cache

def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "munit-ablate"


def _environment() -> dict[str, str]:
    """The library versions every cached value depends on (a new torch or torchmetrics may compute features, the
    classifier or the Fréchet statistics differently)."""
    import torchmetrics
    return {"torch": torch.__version__, "torchmetrics": torchmetrics.__version__}


class DiskCache:
    """Keyed tensors under one root; ``enabled=False`` makes every lookup miss and every store a no-op."""

    def __init__(self, root: str | os.PathLike | None = None, enabled: bool = True):
        self.root = cache_root(root)
        self.enabled = enabled

    def path(self, kind: str, key: Mapping[str, Any], prefix: str = "") -> Path:
        return self.root / kind / f"{prefix}{digest(key)}.pt"

    def load(self, kind: str, key: Mapping[str, Any], prefix: str = "") -> dict[str, Any] | None:
        if not self.enabled:
            return None
        p = self.path(kind, key, prefix)
        if not p.is_file():
            return None
        try:
            obj = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:  # truncated or foreign file: recompute
            log.warning("ignoring unreadable cache file %s (%s)", p, e)
            return None
        if not isinstance(obj, dict) or obj.get("key") != plain(key):
            log.warning("ignoring cache file %s: its key does not match", p)
            return None
        return obj

    def store(self, kind: str, key: Mapping[str, Any], value: Mapping[str, Any], prefix: str = "") -> Path | None:
        if not self.enabled:
            return None
        p = self.path(kind, key, prefix)
        try:
            save_checkpoint(p, {"key": plain(key), **value})
        except OSError as e:  # a read-only cache must not fail an evaluation
            log.warning("could not write cache file %s (%s)", p, e)
            return None
        return p


# ------------------------------------------------------------------------------------------------- session

class Session:
    """Scorers for ``metrics`` plus the resources they share (:class:`~munit.metrics.protocol.Resources`):
    backbone files, the caches, the domain classifier. Constructing it resolves and checks every backbone file
    (the official sha256, unless ``allow_unverified``), so missing or foreign weights raise :class:`MetricError`
    here, before any training or generation."""

    def __init__(self, metrics: Sequence[str] | str, cache_dir: str | os.PathLike | None = None,
                 weights: WeightPaths | None = None, classifier: ClassifierConfig | None = None,
                 use_disk_cache: bool = True, allow_unverified: bool = False):
        self.specs = specs(metrics)
        self.cache = DiskCache(cache_dir, enabled=use_disk_cache)
        self.weight_paths = check_keys(weights)
        self.allow_unverified = allow_unverified
        self.classifier_cfg = classifier or ClassifierConfig()
        self._memory: dict[Hashable, dict[str, Any]] = {}
        self._classifiers: dict[Hashable, TrainedClassifier] = {}
        self.scorers: list[Scorer] = [s.build(self) for s in self.specs]
        self.meta: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ Resources
    def weights(self, backbone: str, metric: str) -> CheckedFile:
        w = BACKBONES[backbone]
        return check(w, resolve(w, self.weight_paths.get(backbone), metric), metric, self.allow_unverified)

    def cached(self, kind: str, key: Mapping[str, Any] | None, compute: Callable[[], dict[str, Any]],
               memory_key: Hashable = None, prefix: str = "") -> tuple[dict[str, Any], str]:
        if key is not None:   # what computed a cached value is part of its key too: the libraries' versions
            key = {**key, "env": _environment()}
        mkey: Hashable = (kind, digest(key)) if key is not None else (kind, memory_key)
        if mkey in self._memory:
            return self._memory[mkey], "memory"
        hit = self.cache.load(kind, key, prefix=prefix) if key is not None else None
        if hit is not None:
            state, source = {k: v for k, v in hit.items() if k not in ("key", "format_version")}, "disk cache"
        else:
            state, source = compute(), "computed"
            if key is not None:
                self.cache.store(kind, key, state, prefix=prefix)
        self._memory[mkey] = state
        return state, source

    def classifier(self, data: EvalData, device: torch.device) -> TrainedClassifier:
        ids = tuple(id(ds) for ds in (data.train_a, data.train_b, data.val_a, data.val_b))
        mkey = (ids, str(device))
        if mkey in self._classifiers:
            hit = self._classifiers[mkey]
            return dataclasses.replace(hit, source="memory")
        trained = load_or_train(data, self.classifier_cfg, device, self)
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


# ------------------------------------------------------------------------------------------ entry points

def check_available(metrics: Sequence[str] | str, weights: WeightPaths | None = None,
                    data_source: str | None = None, allow_unverified: bool = False) -> None:
    """Raise :class:`MetricError` now if a requested metric cannot run: an unknown name, a backbone file that is
    neither given, nor in the torch hub cache, nor downloadable (only tried when ``MUNIT_ALLOW_DOWNLOAD`` allows
    it), that is not the official file (unless ``allow_unverified``; such a file is then loaded and checked
    against its network now), or -- when ``data_source`` is given -- a synthetic-only metric on real data. Call
    it before training."""
    paths = check_keys(weights)
    checked: set[str] = set()
    for spec in specs(metrics):
        for key in spec.weights:
            w = BACKBONES[key]
            f = check(w, resolve(w, paths.get(key), spec.name), spec.name, allow_unverified)
            if not f.verified and key not in checked:
                f.state_dict()   # plain tensors of the right names and shapes, or a one-line error now
                checked.add(key)
        if spec.synthetic_only and data_source is not None and data_source != SYNTHETIC:
            raise MetricError(f"metric '{spec.name}' needs the synthetic dataset (paired ground truth); "
                              f"the data is {data_source!r}")


def applicable_metrics(data_source: str = SYNTHETIC, weights: WeightPaths | None = None,
                       allow_unverified: bool = False) -> tuple[list[str], dict[str, str]]:
    """Every registered metric that can run on ``data_source`` here (its backbone files found and checked),
    in registry order, and {metric: why not} for the others."""
    ok, skipped = [], {}
    for name, spec in registry().items():
        if spec.synthetic_only and data_source != SYNTHETIC:
            skipped[name] = "needs the synthetic data set's paired ground truth"
            continue
        try:
            check_available([name], weights, allow_unverified=allow_unverified)
        except MetricError as e:
            skipped[name] = str(e).splitlines()[0]
            continue
        ok.append(name)
    return ok, skipped


def _device_of(module: torch.nn.Module) -> torch.device:
    p = next(iter(module.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def evaluate(gen_a: torch.nn.Module, gen_b: torch.nn.Module, train_a: Dataset, train_b: Dataset, val_a: Dataset,
             val_b: Dataset, metrics: Sequence[str] | str = DEFAULT_METRICS, protocol: Protocol | None = None,
             device: torch.device | str | None = None, cache_dir: str | os.PathLike | None = None,
             weights: WeightPaths | None = None, classifier: ClassifierConfig | None = None,
             allow_unverified: bool = False) -> dict[str, Any]:
    """Score two generators with the requested metrics: flat floats (``fid/a2b``, ``fid/b2a``, ``fid/mean``,
    ..., ``acc/classifier_val``) plus ``"meta"`` = {metric: {"backbone": ..., weights, set sizes, cache use}}.
    ``device`` defaults to the generators' device; ``weights`` maps backbone names to files;
    ``allow_unverified`` accepts backbone files that are not the official ones (recorded in ``meta``)."""
    session = Session(metrics, cache_dir, weights, classifier, allow_unverified=allow_unverified)
    return session.run(gen_a, gen_b, EvalData(train_a, train_b, val_a, val_b), protocol or Protocol(),
                       device if device is not None else _device_of(gen_a))


def evaluate_checkpoint(path: str | os.PathLike, data_cfg=None, metrics: Sequence[str] | str = DEFAULT_METRICS,
                        protocol: Protocol | None = None, device: torch.device | str = "auto",
                        cache_dir: str | os.PathLike | None = None, weights: WeightPaths | None = None,
                        classifier: ClassifierConfig | None = None,
                        data_overrides: Mapping[str, Any] | None = None,
                        allow_unverified: bool = False) -> dict[str, Any]:
    """:func:`evaluate` on a training checkpoint. ``data_cfg`` None = the data the checkpoint was trained on
    (its saved config), with ``data_overrides`` (DataConfig fields, e.g. ``source``) applied; the image size is
    the model's. The result also has ``"checkpoint"``: {"path", "step"}."""
    from ..data import DataConfig, load_domains
    from ..inference import load_generators
    from ..trainer import resolve_device

    check_available(metrics, weights, allow_unverified=allow_unverified)  # before anything is loaded
    dev = resolve_device(device) if isinstance(device, str) else torch.device(device)
    gen_a, gen_b, mcfg, meta = load_generators(path, dev)
    if data_cfg is None:
        data_cfg = DataConfig.from_saved(dict(meta["config"]["data"]))
    data_cfg = dataclasses.replace(data_cfg, **(data_overrides or {}))
    check_available(metrics, weights, data_source=data_cfg.source, allow_unverified=allow_unverified)
    train_a, train_b = load_domains(data_cfg, "train", mcfg.image_size)
    val_a, val_b = load_domains(data_cfg, "val", mcfg.image_size)
    session = Session(metrics, cache_dir, weights, classifier, allow_unverified=allow_unverified)
    result = session.run(gen_a, gen_b, EvalData(train_a, train_b, val_a, val_b), protocol or Protocol(), dev)
    result["checkpoint"] = {"path": str(path), "step": int(meta["step"])}
    return result


class Evaluator:
    """The trainer's evaluation callback: ``evaluator(trainer) -> (values, meta)``: flat floats and what computed
    them (the trainer passes both to its callbacks). Networks, real statistics and the classifier are built on
    the first call and reused. Style codes are seeded with the run's seed (``trainer.cfg.seed``), so every
    evaluation of a run uses the same codes and the curves compare like with like.

    ``repeats`` > 1 evaluates that many times with fresh style draws (seeds ``run seed * 1009 + r``) and returns
    the mean of each value, plus its standard deviation over the repeats as ``<key>_std``: how much of a number
    is the luck of the style draw. Raises :class:`MetricError` at construction when a backbone file is missing,
    foreign (unless ``allow_unverified``) or unloadable."""

    def __init__(self, metrics: Sequence[str] | str, protocol: Protocol | None = None,
                 cache_dir: str | os.PathLike | None = None, weights: WeightPaths | None = None,
                 classifier: ClassifierConfig | None = None, repeats: int = 1, allow_unverified: bool = False):
        if repeats < 1:
            raise MetricError(f"evaluation repeats must be >= 1, got {repeats}")
        check_available(metrics, weights, allow_unverified=allow_unverified)
        self.session = Session(metrics, cache_dir, weights, classifier, allow_unverified=allow_unverified)
        self.protocol = protocol or Protocol()
        self.repeats = repeats

    @property
    def metrics(self) -> list[str]:
        return [s.name for s in self.session.specs]

    def __call__(self, trainer) -> tuple[dict[str, float], dict[str, Any]]:
        import numpy as np

        data = EvalData(trainer.train_a, trainer.train_b, trainer.val_a, trainer.val_b)
        runs, meta = [], {}
        for r in range(self.repeats):
            seed = int(trainer.cfg.seed) if self.repeats == 1 else int(trainer.cfg.seed) * 1009 + r
            result = self.session.run(trainer.gen_a, trainer.gen_b, data,
                                      dataclasses.replace(self.protocol, seed=seed), trainer.device)
            meta = meta or result.pop("meta")
            result.pop("meta", None)
            runs.append({k: float(v) for k, v in result.items()})
        if self.repeats == 1:
            return runs[0], meta
        values = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        values.update({f"{k}_std": float(np.std([r[k] for r in runs], ddof=1)) for k in runs[0]})
        for m in meta.values():
            m["repeats"] = self.repeats
        return values, meta


__all__ = ["CACHE_ENV", "cache_root", "digest", "DiskCache", "Session", "check_available",
           "evaluate", "evaluate_checkpoint", "Evaluator", "applicable_metrics"]

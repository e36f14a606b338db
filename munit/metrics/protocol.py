"""The evaluation protocol and the metric interface: sizes, the two translation directions, the batches every
metric sees, what a metric may use (:class:`Resources`), and the registry metrics add themselves to.

StarGAN v2's protocol, which the defaults reproduce: for each direction, every val image of the source domain
is translated with ``n_styles`` random style codes; FID compares those fakes with the target domain's *train*
images, LPIPS measures the spread among the ``n_styles`` outputs of each input. One pass of the generators feeds
every requested metric, so asking for more metrics never re-translates.

A metric is one module of this package that defines a :class:`Scorer` subclass decorated with
:func:`register_metric` (after stylegan2-ada's ``register_metric``); :func:`registry` imports every module of the
package once, so a new module is found without being listed anywhere.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Hashable, Iterator, Mapping, Protocol as Interface, Sequence

if TYPE_CHECKING:  # torch is imported where it is used: command lines read this module's registry cheaply
    import torch
    from torch.utils.data import Dataset

from ..config import SYNTHETIC

DIRECTION_NAMES = ("a2b", "b2a")
MEAN = "mean"

# Which metrics run when nobody names them. DEFAULT_METRICS: what one evaluation of a checkpoint computes
# (`munit evaluate`, evaluate(), evaluate_checkpoint()) -- StarGAN v2's three, on any data. default_objective and
# default_metrics: what a study optimises and logs beside it, which depends on the data (only the synthetic set
# has paired ground truth).
DEFAULT_METRICS = ("fid", "lpips", "acc")


def default_objective(data_source: str) -> str:
    """The metric key a study optimises by default: on the synthetic set the worse direction of the normalised
    fit error (``fitn/worst``: < 1 only when a translator beats every no-learning reference both ways), FID on
    real images."""
    return "fitn/worst" if data_source == SYNTHETIC else f"fid/{MEAN}"


def default_metrics(data_source: str) -> tuple[str, ...]:
    """The metrics a study computes beside its objective by default: the raw fit and content errors (synthetic set
    only), then translation accuracy and the classifier's Frechet distance, which need no downloaded weights."""
    return ("fit", "content", "acc", "fcd") if data_source == SYNTHETIC else ("acc", "fcd")


class MetricError(RuntimeError):
    """A metric that cannot be computed as asked: an unknown name, missing backbone weights (the message names
    the file, its URL, the option that supplies it and where to put it), too few images, a dataset the metric
    does not apply to."""


@dataclass
class Protocol:
    """Sizes of one evaluation. Defaults = the full StarGAN v2 protocol (all val inputs, 10 styles, all real
    train images). Subsets are evenly spaced over the dataset's order, so a smaller protocol still spans it."""

    n_val: int | None = None      # source val images per direction (None = all)
    n_styles: int = 10            # random style codes per source image
    n_real: int | None = None     # real target-domain train images for FID/FCD statistics (None = all)
    batch_size: int = 50          # generated images per forward (and per feature-extractor batch)
    seed: int = 0                 # style codes come from torch.Generator(seed): never the global RNG

    def __post_init__(self) -> None:
        for name in ("n_val", "n_real"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise MetricError(f"Protocol.{name} must be None (all) or >= 1, got {v}")
        if self.n_styles < 1:
            raise MetricError(f"Protocol.n_styles must be >= 1, got {self.n_styles}")
        if self.batch_size < 1:
            raise MetricError(f"Protocol.batch_size must be >= 1, got {self.batch_size}")
        if self.seed < 0:
            raise MetricError(f"Protocol.seed must be >= 0, got {self.seed}")

    @property
    def inputs_per_batch(self) -> int:
        """Source images per generator batch: all styles of one input stay in one batch (LPIPS pairs them)."""
        return max(1, self.batch_size // self.n_styles)


@dataclass
class EvalData:
    """The four image sets of one evaluation (datasets of uint8 [3, S, S] tensors)."""

    train_a: Dataset
    train_b: Dataset
    val_a: Dataset
    val_b: Dataset


@dataclass(frozen=True)
class Direction:
    """One translation direction. ``a2b``: inputs from val_a, decoded by gen_b, judged against domain B (real
    set train_b, classifier label 1, synthetic content recovered as a B image)."""

    name: str                    # "a2b" | "b2a"
    index: int                   # 0 | 1 (style-code stream, classifier label of the target)
    src: torch.nn.Module
    dst: torch.nn.Module
    val: Dataset                 # source-domain val images
    real: Dataset                # target-domain train images
    target_domain: str           # "B" | "A"

    @property
    def target_label(self) -> int:
        return 1 if self.target_domain == "B" else 0


def directions(gen_a: torch.nn.Module, gen_b: torch.nn.Module, data: EvalData) -> tuple[Direction, Direction]:
    return (Direction("a2b", 0, gen_a, gen_b, data.val_a, data.train_b, "B"),
            Direction("b2a", 1, gen_b, gen_a, data.val_b, data.train_a, "A"))


@dataclass
class Batch:
    """Translations of ``k`` source images with ``n`` styles each: ``images`` float [k, n, 3, S, S] in [-1, 1];
    ``idx`` the source images' indices in the val set (paired ground truth lives there)."""

    images: torch.Tensor
    idx: torch.Tensor

    @property
    def flat(self) -> torch.Tensor:
        return self.images.flatten(0, 1)

    @cached_property
    def uint8(self) -> torch.Tensor:
        """[k*n, 3, S, S] uint8: the fakes as images, as Inception-style extractors expect (and as a saved file
        would be); converted once per batch for all metrics."""
        from ..data import to_uint8

        return to_uint8(self.flat)


# ------------------------------------------------------------------------------------------- image streams

def evenly_spaced(total: int, n: int | None) -> torch.Tensor:
    """``n`` indices spread evenly over ``range(total)`` (all of them when ``n`` is None or >= total)."""
    import torch

    if total < 1:
        raise MetricError("an evaluation image set is empty")
    if n is None or n >= total:
        return torch.arange(total)
    return torch.linspace(0, total - 1, n).round().long().unique()


def style_codes(d: Direction, protocol: Protocol, n_total: int, style_dim: int) -> torch.Tensor:
    """[n_total, n_styles, style_dim] N(0, I) codes from a generator seeded by (seed, direction): image i
    gets the same codes whatever subset is evaluated, and training's global RNG is never touched."""
    import torch

    g = torch.Generator().manual_seed(protocol.seed * 2 + d.index)
    return torch.randn(n_total, protocol.n_styles, style_dim, generator=g)


def _style_dim(gen: torch.nn.Module) -> int:
    cfg = getattr(gen, "cfg", None)
    if cfg is None or not hasattr(cfg, "style_dim"):
        raise MetricError(f"generator {type(gen).__name__} has no cfg.style_dim; evaluation needs "
                          "munit.model.Generator (or an object with .cfg.style_dim, .content_encoder, .decode)")
    return int(cfg.style_dim)


def translations(d: Direction, protocol: Protocol, device: torch.device) -> Iterator[Batch]:
    """The direction's fakes, ``protocol.inputs_per_batch`` source images (x n_styles outputs) at a time.

    Equivalent to :func:`munit.model.translate` on each (image, style) pair, but each input's content code is
    computed once and shared by its ``n_styles`` decodes."""
    from ..data import iterate_images, to_model_range

    n_total = len(d.val)  # type: ignore[arg-type]
    idx = evenly_spaced(n_total, protocol.n_val)
    codes = style_codes(d, protocol, n_total, _style_dim(d.dst))[idx]
    n, k = protocol.n_styles, protocol.inputs_per_batch
    lo = 0
    for x in iterate_images(d.val, k, device, indices=idx):
        b = x.shape[0]
        content = d.src.content_encoder(to_model_range(x))
        styles = codes[lo:lo + b].to(device).flatten(0, 1)
        out = d.dst.decode(content.repeat_interleave(n, dim=0), styles)
        yield Batch(images=out.float().view(b, n, *out.shape[1:]), idx=idx[lo:lo + b])
        lo += b


# ------------------------------------------------------------------------------------- what a metric may use

def plain(key: Mapping[str, Any]) -> dict[str, Any]:
    """A cache key as it reads back from JSON (tuples -> lists, paths -> str), so stored and asked keys compare."""
    return json.loads(json.dumps(key, sort_keys=True, default=str))


def digest(key: Mapping[str, Any]) -> str:
    """The short hash that names a cache entry (and identifies, e.g., a trained classifier in results)."""
    return hashlib.sha256(json.dumps(plain(key), sort_keys=True).encode()).hexdigest()[:16]


class Resources(Interface):
    """What a scorer may ask of the evaluation that runs it (implemented by :class:`munit.metrics.session.Session`):
    backbone files, a cache for what is computed once per dataset, and the trained domain classifier."""

    def weights(self, backbone: str, metric: str) -> Any:
        """The resolved and checked file of backbone ``backbone`` (a key of
        :data:`munit.metrics.weights.BACKBONES`), a :class:`~munit.metrics.weights.CheckedFile`: ``.path``,
        ``.digest``, ``.meta()`` (what a result records), ``.state_dict()`` (its tensors, read with
        ``weights_only=True`` and checked against the network). Raises :class:`MetricError` naming the file, URL
        and option when it is missing, and when it is not the official file (unless unverified files are
        allowed)."""
        ...

    def cached(self, kind: str, key: Mapping[str, Any] | None, compute: Callable[[], dict[str, Any]],
               memory_key: Hashable = None, prefix: str = "") -> tuple[dict[str, Any], str]:
        """``compute()``'s state dict, from memory, else the disk cache (file ``<kind>/<prefix><digest of key>``),
        else computed now and stored. ``key`` None: no stable identity, memory only (by ``memory_key``).
        Returns (state, "memory" | "disk cache" | "computed")."""
        ...

    def classifier(self, data: EvalData, device: torch.device) -> Any:
        """The domain classifier trained on ``data`` (a ``TrainedClassifier``), shared by the metrics that use it."""
        ...


class Scorer:
    """One metric over one evaluation. The session calls ``start`` once (networks, classifier), then per
    direction ``begin`` (real statistics of ``d.real``), ``update`` for every batch, ``end`` (-> the
    direction's value). Scorers persist across evaluations of an :class:`~munit.metrics.session.Evaluator`, so
    networks load once. Constructing one only resolves files (so missing weights fail early); networks are
    built in ``start``, inside the session's forked RNG.

    Class attributes set by :func:`register_metric`: ``spec`` (the registry entry); ``name`` and
    ``higher_is_better`` mirror it."""

    name: ClassVar[str]
    higher_is_better: ClassVar[bool]
    spec: ClassVar["MetricSpec"]

    def __init__(self, resources: Resources):
        self.res = resources

    def start(self, data: EvalData, protocol: Protocol, device: torch.device) -> None: ...
    def begin(self, d: Direction) -> None: ...
    def update(self, d: Direction, batch: Batch) -> None: ...
    def end(self, d: Direction) -> float:
        raise NotImplementedError
    def extra(self) -> dict[str, float]:
        """Further flat floats for the result (e.g. ``acc/classifier_val``)."""
        return {}
    def meta(self) -> dict[str, Any]:
        """What computed the numbers: backbone, weights file and digest, set sizes, cache use."""
        return {}


# ---------------------------------------------------------------------------------------------- the registry

@dataclass(frozen=True)
class MetricSpec:
    """A registry entry: how to build the metric, which backbone files it needs before it can run, which way is
    better and how to label it. Everything downstream (sweeps, tables, figures) reads these facts from here."""

    name: str
    build: Callable[[Resources], Scorer]
    weights: tuple[str, ...] = ()                # keys of munit.metrics.weights.BACKBONES
    higher_is_better: bool = False
    synthetic_only: bool = False
    label: str = ""                              # axis label / unit, e.g. "FID (Inception features)"
    doc: str = ""
    extra_keys: tuple[str, ...] = field(default=())
    rank: int = 100                              # column / listing order (lower first)

    @property
    def direction(self) -> str:
        """Optuna's word for it: "maximize" or "minimize"."""
        return "maximize" if self.higher_is_better else "minimize"

    def keys(self) -> tuple[str, ...]:
        return tuple(f"{self.name}/{k}" for k in (*DIRECTION_NAMES, MEAN)) + self.extra_keys

    def info(self) -> dict[str, Any]:
        """The JSON-able facts a study stores with itself, so analysis needs neither torch nor this registry."""
        return {"direction": self.direction, "label": self.label or self.name, "keys": list(self.keys()),
                "synthetic_only": self.synthetic_only, "doc": self.doc}


METRICS: dict[str, MetricSpec] = {}
_LOADED = False


def register_metric(*, weights: Sequence[str] = (), higher_is_better: bool = False, synthetic_only: bool = False,
                    label: str = "", doc: str = "", extra_keys: Sequence[str] = (), rank: int = 100):
    """Class decorator: add a :class:`Scorer` subclass (its ``name`` class attribute) to :data:`METRICS`."""
    def add(cls: type[Scorer]) -> type[Scorer]:
        name = cls.__dict__.get("name")
        if not isinstance(name, str) or not name or "/" in name:
            raise TypeError(f"{cls.__name__} needs a class attribute name = '<metric name without />'")
        if name in METRICS and METRICS[name].build is not cls:
            raise ValueError(f"metric {name!r} is registered twice ({METRICS[name].build.__name__}, {cls.__name__})")
        spec = MetricSpec(name, cls, tuple(weights), higher_is_better, synthetic_only, label, doc,
                          tuple(extra_keys), rank)
        cls.spec, cls.higher_is_better = spec, higher_is_better
        METRICS[name] = spec
        return cls
    return add


def registry() -> dict[str, MetricSpec]:
    """Every metric: imports each module of this package once (a metric module registers itself on import)."""
    global _LOADED
    if not _LOADED:
        package = __name__.rsplit(".", 1)[0]
        for m in pkgutil.iter_modules(importlib.import_module(package).__path__):
            importlib.import_module(f"{package}.{m.name}")
        ordered = sorted(METRICS.values(), key=lambda s: (s.rank, s.name))
        METRICS.clear()
        METRICS.update((s.name, s) for s in ordered)
        _LOADED = True
    return METRICS


def specs(names: Sequence[str] | str) -> list[MetricSpec]:
    """Validate metric names (a list or a comma-separated string), keep their order, drop duplicates."""
    known = registry()
    if isinstance(names, str):
        names = [n for n in names.split(",")]
    out: list[MetricSpec] = []
    for raw in names:
        n = raw.strip().lower()
        if not n:
            continue
        if n not in known:
            raise MetricError(f"unknown metric {raw!r}; choose from {', '.join(known)}")
        if known[n] not in out:
            out.append(known[n])
    if not out:
        raise MetricError(f"no metrics requested; choose from {', '.join(known)}")
    return out


def metric_info(names: Sequence[str] | str | None = None) -> dict[str, dict[str, Any]]:
    """:meth:`MetricSpec.info` of the named metrics (default: all), in registry order."""
    chosen = specs(names) if names is not None else list(registry().values())
    return {s.name: s.info() for s in chosen}


__all__ = ["MetricError", "Protocol", "EvalData", "Direction", "directions", "Batch", "evenly_spaced", "style_codes",
           "translations", "Resources", "Scorer", "MetricSpec", "METRICS", "register_metric", "registry", "specs",
           "metric_info", "DIRECTION_NAMES", "MEAN", "plain", "digest", "DEFAULT_METRICS",
           "default_objective", "default_metrics"]

"""The evaluation protocol: its sizes, the two translation directions, the batches every metric sees, and the
interface a metric implements.

StarGAN v2's protocol, which the defaults reproduce: for each direction, every val image of the source domain
is translated with ``n_styles`` random style codes; FID compares those fakes with the target domain's *train*
images, LPIPS measures the spread among the ``n_styles`` outputs of each input. One pass of the generators feeds
every requested metric, so asking for more metrics never re-translates.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, ClassVar

import torch
from torch.utils.data import Dataset

from ..data import to_uint8
from .errors import MetricError


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
        return to_uint8(self.flat)


class Scorer:
    """One metric over one evaluation. The session calls ``start`` once (networks, classifier), then per
    direction ``begin`` (real statistics of ``d.real``), ``update`` for every batch, ``end`` (-> the
    direction's value). Scorers persist across evaluations of an :class:`~munit.metrics.Evaluator`, so
    networks load once. Constructing one only resolves files (so missing weights fail early); networks are
    built in ``start``, inside the session's forked RNG."""

    name: ClassVar[str]
    higher_is_better: ClassVar[bool]

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


@dataclass(frozen=True)
class MetricSpec:
    """A registry entry: how to build the metric and which backbone files it needs before it can run."""

    name: str
    build: Callable[..., Scorer]                 # build(session) -> Scorer
    weights: tuple[str, ...] = ()                # keys of munit.metrics.weights.BACKBONES
    higher_is_better: bool = False
    synthetic_only: bool = False
    doc: str = ""
    extra_keys: tuple[str, ...] = field(default=())

    def keys(self) -> tuple[str, ...]:
        return tuple(f"{self.name}/{k}" for k in ("a2b", "b2a", "mean")) + self.extra_keys


__all__ = ["Protocol", "EvalData", "Direction", "directions", "Batch", "Scorer", "MetricSpec"]

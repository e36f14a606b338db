"""Reference generators that every score must be read against: a metric is trusted only once the trivial ones
lose on it and the paired oracle wins.

Each baseline is a pair of objects with the generator interface the evaluation uses (``cfg.style_dim``,
``content_encoder(x)``, ``decode(content, style)``; :func:`munit.metrics.protocol.translations`): generator A
encodes A images and decodes A images, generator B likewise, so ``a2b`` = ``gen_b.decode(gen_a.content_encoder(x))``.

* ``oracle``: the paired ground truth -- the input's content rendered by the target domain in a random style
  (the style code picks one of the renderer's styles); synthetic data only;
* ``identity``: the input itself;
* ``negation``: the input's pixels negated (255 - x);
* ``constant``: every output the target domain's mean colour;
* ``fixed_image``: every output one real target-domain image;
* ``random_init``: a MUNIT generator pair at its random initialisation;
* ``style_noise``: noise that depends on the style code only (diverse, content-blind);
* the no-learning programs of :mod:`munit.programs` (blur and recolour, mask painters, per-shape flattening and
  held-out variants): each generator decodes its domain from the other domain's images with the program;
* ``checkpoint``: a trained model, when one is given.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.nn as nn
from torch.utils.data import Dataset

from .config import ModelConfig
from .data import to_model_range
from .programs import HELD_OUT, NEEDS_MASKS, PROGRAMS, TUNED, DomainStats, Program

TRIVIAL = ("identity", "negation", "constant", "fixed_image", "random_init", "style_noise")


class _Baseline(nn.Module):
    """The generator interface of the evaluation, with the content code being the image itself (model range)."""

    def __init__(self, style_dim: int, decode: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]):
        super().__init__()
        self.cfg = SimpleNamespace(style_dim=style_dim)
        self.content_encoder = nn.Identity()
        self._decode = decode

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self._decode(content, style)


def _mean_colour(ds: Dataset, n: int = 256) -> torch.Tensor:
    images = getattr(ds, "images", None)
    if isinstance(images, torch.Tensor):
        x = images[:n]
    else:
        x = torch.stack([ds[i] for i in range(min(n, len(ds)))])  # type: ignore[arg-type]
    return to_model_range(x).mean((0, 2, 3))


def _domain_stats(ds: Dataset, n: int = 512) -> DomainStats:
    images = getattr(ds, "images", None)
    if isinstance(images, torch.Tensor):
        masks = getattr(ds, "masks", None)
        return DomainStats.of(images[:n], masks[:n] if isinstance(masks, torch.Tensor) else None)
    return DomainStats.of(torch.stack([ds[i] for i in range(min(n, len(ds)))]))  # type: ignore[arg-type]


def _style_index(style: torch.Tensor, salt: int) -> list[int]:
    """A renderer style (>= 1: 0 is the dataset's own) chosen by each style code, reproducibly."""
    out = []
    for s in style.detach().float().cpu().numpy():
        h = hashlib.sha256(s.tobytes() + salt.to_bytes(4, "little")).digest()
        out.append(1 + int.from_bytes(h[:4], "little") % 1_000_000)
    return out


class _Oracle:
    """The paired ground truth of a synthetic val set: the source image is looked up among the source domain's
    val images (exactly: the content code is the image), and its content rendered by the target domain."""

    def __init__(self, source: Dataset, target_domain: str):
        from .synthetic import SyntheticDomain
        if not isinstance(source, SyntheticDomain):
            raise ValueError("the oracle needs the synthetic data set (its paired ground truth)")
        self.keys = to_model_range(source.images)
        self.source, self.target = source, target_domain

    def __call__(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        from .synthetic import render_batch

        keys = self.keys.to(content.device)
        idx = (content[:, None] - keys[None]).abs().flatten(2).amax(-1).argmin(1).tolist()
        styles = _style_index(style, salt=ord(self.target))
        out = torch.empty_like(content)
        for k, (i, s) in enumerate(zip(idx, styles)):
            img, _ = render_batch([i], self.target, self.source.image_size, self.source.seed, self.source.split, s)
            out[k] = to_model_range(img[0].to(content.device))
        return out


@dataclass
class Baselines:
    """Builds the baseline generator pairs for one evaluation's data."""

    train_a: Dataset
    train_b: Dataset
    val_a: Dataset
    val_b: Dataset
    model: ModelConfig
    seed: int = 0

    def names(self, synthetic: bool) -> list[str]:
        programs = [p for p in PROGRAMS if synthetic or p not in NEEDS_MASKS]
        return (["oracle"] if synthetic else []) + list(TRIVIAL) + programs

    def pair(self, name: str) -> tuple[nn.Module, nn.Module]:
        sd = self.model.style_dim
        if name == "identity":
            return _Baseline(sd, lambda c, s: c), _Baseline(sd, lambda c, s: c)
        if name == "negation":
            return _Baseline(sd, lambda c, s: -c), _Baseline(sd, lambda c, s: -c)
        if name == "constant":
            means = [_mean_colour(ds) for ds in (self.train_a, self.train_b)]
            return tuple(_Baseline(sd, lambda c, s, m=m: m.to(c.device).view(1, 3, 1, 1).expand_as(c).clone())
                         for m in means)  # type: ignore[return-value]
        if name == "fixed_image":
            images = [to_model_range(ds[len(ds) // 2].unsqueeze(0)) for ds in (self.train_a, self.train_b)]  # type: ignore[arg-type]
            return tuple(_Baseline(sd, lambda c, s, im=im: im.to(c.device).expand_as(c).clone())
                         for im in images)  # type: ignore[return-value]
        if name == "style_noise":
            size = self.model.image_size
            g = torch.Generator().manual_seed(self.seed + 7)
            proj = torch.randn(sd, 3 * size * size, generator=g) / sd ** 0.5
            return tuple(_Baseline(sd, lambda c, s: torch.tanh(2 * s.float() @ proj.to(s.device)).view_as(c))
                         for _ in range(2))  # type: ignore[return-value]
        if name == "random_init":
            from .model import Generator
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                return Generator(self.model), Generator(self.model)
        if name in PROGRAMS:
            from .synthetic import SyntheticDomain
            domain = {True: ("A", "B"), False: (None, None)}[isinstance(self.val_a, SyntheticDomain)]
            stats = [_domain_stats(ds) for ds in (self.train_a, self.train_b)]
            size = self.model.image_size
            # gen_a decodes A from B inputs (b2a), gen_b decodes B from A inputs (a2b)
            to_a, to_b = (Program(name, stats[1], stats[0], domain[1], size),
                          Program(name, stats[0], stats[1], domain[0], size))
            return _Baseline(sd, lambda c, s: to_a(c)), _Baseline(sd, lambda c, s: to_b(c))
        if name == "oracle":
            # a2b decodes with gen_b: B renderings of val_a's contents; b2a with gen_a: A renderings of val_b's
            return (_Baseline(sd, _Oracle(self.val_b, "A")), _Baseline(sd, _Oracle(self.val_a, "B")))
        raise ValueError(f"unknown baseline {name!r}; choose from oracle, {', '.join(TRIVIAL + PROGRAMS)}")


def evaluate_baselines(data, model: ModelConfig, metrics: Sequence[str] | str, protocol=None,
                       device: torch.device | str = "cpu", cache_dir=None, weights=None, classifier=None,
                       allow_unverified: bool = False, names: Sequence[str] | None = None,
                       extra: Sequence[tuple[str, nn.Module, nn.Module]] = (), seed: int = 0
                       ) -> Iterator[dict[str, Any]]:
    """Score every baseline (default: all that apply to ``data``, an EvalData) and then each ``extra``
    (name, gen_a, gen_b) -- e.g. a checkpoint's generators -- with the same metrics, protocol and style codes
    in one metric session (the classifier is trained once, real statistics computed once). Yields one result per
    generator: ``{"generator": name, <metric keys>..., "meta": ...}``."""
    from .metrics.protocol import Protocol
    from .metrics.session import Session
    from .synthetic import SyntheticDomain

    device = torch.device(device)
    synthetic = all(isinstance(ds, SyntheticDomain) for ds in (data.train_a, data.train_b, data.val_a, data.val_b))
    maker = Baselines(data.train_a, data.train_b, data.val_a, data.val_b, model, seed)
    session = Session(metrics, cache_dir, weights, classifier, allow_unverified=allow_unverified)
    protocol = protocol or Protocol()
    chosen = list(names) if names is not None else maker.names(synthetic)
    pairs = [(n, lambda n=n: maker.pair(n)) for n in chosen] + [(n, lambda a=a, b=b: (a, b)) for n, a, b in extra]
    for name, build in pairs:
        gen_a, gen_b = build()
        result = session.run(gen_a.to(device), gen_b.to(device), data, protocol, device)
        yield {"generator": name, **result}


__all__ = ["Baselines", "TRIVIAL", "PROGRAMS", "TUNED", "HELD_OUT", "evaluate_baselines"]

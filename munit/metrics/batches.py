"""How an evaluation reads its image sets and produces its fakes, batched on the device.

* :func:`evenly_spaced` -- the subset a smaller protocol uses (spread over the set, no RNG involved);
* :func:`real_batches` -- uint8 batches of a dataset subset (in-memory sets are sliced; folders are decoded by
  DataLoader workers on CUDA hosts);
* :func:`translations` -- every selected source image translated with ``n_styles`` style codes, all styles of
  an input in the same batch.
"""
from __future__ import annotations

import os
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from ..data import to_model_range
from .errors import MetricError
from .protocol import Batch, Direction, Protocol


def evenly_spaced(total: int, n: int | None) -> torch.Tensor:
    """``n`` indices spread evenly over ``range(total)`` (all of them when ``n`` is None or >= total)."""
    if total < 1:
        raise MetricError("an evaluation image set is empty")
    if n is None or n >= total:
        return torch.arange(total)
    return torch.linspace(0, total - 1, n).round().long().unique()


def real_batches(ds: Dataset, idx: torch.Tensor, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    """uint8 [<=B, 3, S, S] batches of ``ds[idx]`` on ``device``, in order."""
    images = getattr(ds, "images", None)
    if isinstance(images, torch.Tensor):
        for lo in range(0, idx.numel(), batch_size):
            yield images[idx[lo:lo + batch_size]].to(device, non_blocking=True)
        return
    cuda = device.type == "cuda"
    workers = min(4, os.cpu_count() or 1) if cuda else 0
    # an own generator: a DataLoader without one draws its base seed from the global torch RNG
    loader = DataLoader(Subset(ds, idx.tolist()), batch_size=batch_size, shuffle=False, num_workers=workers,
                        pin_memory=cuda, generator=torch.Generator())
    for x in loader:
        yield x.to(device, non_blocking=True)


def style_codes(d: Direction, protocol: Protocol, n_total: int, style_dim: int) -> torch.Tensor:
    """[n_total, n_styles, style_dim] N(0, I) codes from a generator seeded by (seed, direction): image i
    gets the same codes whatever subset is evaluated, and training's global RNG is never touched."""
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
    n_total = len(d.val)  # type: ignore[arg-type]
    idx = evenly_spaced(n_total, protocol.n_val)
    codes = style_codes(d, protocol, n_total, _style_dim(d.dst))[idx]
    n, k = protocol.n_styles, protocol.inputs_per_batch
    lo = 0
    for x in real_batches(d.val, idx, k, device):
        b = x.shape[0]
        content = d.src.content_encoder(to_model_range(x))
        styles = codes[lo:lo + b].to(device).flatten(0, 1)
        out = d.dst.decode(content.repeat_interleave(n, dim=0), styles)
        yield Batch(images=out.float().view(b, n, *out.shape[1:]), idx=idx[lo:lo + b])
        lo += b


__all__ = ["evenly_spaced", "real_batches", "style_codes", "translations"]

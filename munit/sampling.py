"""Sample grids: the same inputs and the same fixed style codes at every step, so grids are comparable over
training and across runs (the blog's side-by-side comparison needs exactly that).

Grid layout, one per direction, one row per input:
    input | within-domain reconstruction | translation with fixed style 1..K | translation with a random style
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torchvision.utils import make_grid, save_image

from .model import Generator

GRID_PADDING = 2


def fixed_styles(k: int, style_dim: int, seed: int) -> torch.Tensor:
    """K style codes drawn once from N(0, I) with their own generator: the same seed gives the same codes in
    every run, and drawing them never disturbs the training RNG."""
    g = torch.Generator().manual_seed(10_007 * (seed + 1))
    return torch.randn(k, style_dim, generator=g)


@torch.no_grad()
def translation_grid(src: Generator, dst: Generator, inputs: torch.Tensor, styles: torch.Tensor,
                     random_style: torch.Tensor | None = None) -> torch.Tensor:
    """Rows of [input, reconstruction, translations...] as one image batch in [-1, 1] (row-major)."""
    n, k = inputs.shape[0], styles.shape[0]
    content, own_style = src.encode(inputs)
    cols = [inputs, src.decode(content, own_style)]
    cols_styles = [styles[j:j + 1].expand(n, -1) for j in range(k)]
    if random_style is not None:
        cols_styles.append(random_style)
    if cols_styles:
        # one batched decode for all style columns
        s = torch.cat(cols_styles).to(inputs.device, inputs.dtype)
        out = dst.decode(content.repeat(len(cols_styles), 1, 1, 1), s)
        cols += list(out.split(n))
    return torch.stack(cols, dim=1).flatten(0, 1)  # [n * cols, 3, H, W]


def save_grid(images: torch.Tensor, ncols: int, path: str | os.PathLike) -> Path:
    """Save a row-major batch in [-1, 1] as one PNG grid (atomic: temp name then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = make_grid(images.float().cpu().clamp(-1, 1) * 0.5 + 0.5, nrow=ncols, padding=GRID_PADDING, pad_value=1.0)
    tmp = path.with_name(f".{path.name}.tmp.png")
    save_image(grid, tmp)
    os.replace(tmp, path)
    return path


def grid_size(n_rows: int, n_cols: int, image_size: int) -> tuple[int, int]:
    """(width, height) in pixels of a grid written by :func:`save_grid`."""
    p = GRID_PADDING
    return n_cols * (image_size + p) + p, n_rows * (image_size + p) + p


__all__ = ["fixed_styles", "translation_grid", "save_grid", "grid_size"]

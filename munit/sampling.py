"""Sample grids: the same inputs and the same fixed style codes at every step, so grids are comparable over
training and across runs (the blog's side-by-side comparison needs exactly that).

Grid layout, one per direction, one row per input, under a header strip that names the columns:
    input | within-domain reconstruction | translation with fixed style 1..K | translation with a random style

A grid is enlarged by a whole factor (nearest neighbour: every pixel becomes a square block, nothing is blurred
or invented) to at least :data:`GRID_MIN_WIDTH` px, so a 32 px tile is not a thumbnail in MLflow or a viewer;
the padding and the header strip scale with it.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import torch
from torchvision.utils import make_grid

from .model import Generator

GRID_PADDING = 2
LABEL_HEIGHT = 14        # px of the header strip that names a labelled grid's columns
_LABEL_FONT_SIZE = 10
GRID_MIN_WIDTH = 512     # px: grids are enlarged (nearest neighbour, whole factor) to at least this width
_MAX_SCALE = 32


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


def translation_labels(n_styles: int, random_style: bool = True) -> list[str]:
    """Column names of a :func:`translation_grid`."""
    return ["input", "reconstruction", *[f"style {k + 1}" for k in range(n_styles)],
            *(["random style"] if random_style else [])]


_SHORT = {"input": "in", "reconstruction": "recon", "random style": "rand"}


def _fit(label: str, width: int, font) -> str:
    """The label, else its short form ('recon', 's3', 'rand'), else nothing: whatever fits a tile."""
    for text in (label, _SHORT.get(label, label.replace("style ", "s")), ""):
        if font.getlength(text) <= width - 2:
            return text
    return ""


def grid_scale(n_cols: int, image_size: int, min_width: int = GRID_MIN_WIDTH) -> int:
    """The whole factor :func:`save_grid` enlarges a grid of ``n_cols`` tiles by: the smallest that makes it at
    least ``min_width`` px wide (1 when it already is, or ``min_width`` is 0)."""
    native = n_cols * (image_size + GRID_PADDING) + GRID_PADDING
    return max(1, min(_MAX_SCALE, math.ceil(min_width / native)))


def save_grid(images: torch.Tensor, ncols: int, path: str | os.PathLike,
              labels: Sequence[str] | None = None, min_width: int = GRID_MIN_WIDTH) -> Path:
    """Save a row-major batch in [-1, 1] as one PNG grid (atomic: temp name then rename), enlarged by
    :func:`grid_scale` (nearest neighbour) to at least ``min_width`` px wide (0: as generated). ``labels``: one
    name per column, drawn in a header strip of :data:`LABEL_HEIGHT` x scale px (shortened to fit small tiles)."""
    from PIL import Image, ImageDraw, ImageFont

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = make_grid(images.float().cpu().clamp(-1, 1) * 0.5 + 0.5, nrow=ncols, padding=GRID_PADDING, pad_value=1.0)
    img = Image.fromarray(grid.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy())
    scale = grid_scale(ncols, images.shape[-1], min_width)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    if labels is not None:
        if len(labels) != ncols:
            raise ValueError(f"{len(labels)} labels for {ncols} columns")
        tile, pad, top = images.shape[-1] * scale, GRID_PADDING * scale, LABEL_HEIGHT * scale
        canvas = Image.new("RGB", (img.width, img.height + top), (255, 255, 255))
        canvas.paste(img, (0, top))
        draw = ImageDraw.Draw(canvas)
        font = ImageFont.load_default(size=min(_LABEL_FONT_SIZE * scale, 20))
        for c, label in enumerate(labels):
            text = _fit(label, tile, font)
            centre = pad + c * (tile + pad) + tile / 2
            draw.text((centre, top / 2 + 1), text, fill=(40, 40, 40), font=font, anchor="mm")
        img = canvas
    tmp = path.with_name(f".{path.name}.tmp.png")
    img.save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def grid_size(n_rows: int, n_cols: int, image_size: int, labelled: bool = False,
              min_width: int = GRID_MIN_WIDTH) -> tuple[int, int]:
    """(width, height) in pixels of a grid written by :func:`save_grid`."""
    p, s = GRID_PADDING, grid_scale(n_cols, image_size, min_width)
    return s * (n_cols * (image_size + p) + p), s * (n_rows * (image_size + p) + p + (LABEL_HEIGHT if labelled else 0))


def _layout(width: int, height: int, image_size: int, s: int) -> tuple[int, int, int, int] | None:
    step, p = (image_size + GRID_PADDING) * s, GRID_PADDING * s
    if width <= p or (width - p) % step:
        return None
    for top in (LABEL_HEIGHT * s, 0):
        if height - p - top > 0 and (height - p - top) % step == 0:
            return (height - p - top) // step, (width - p) // step, top, s
    return None


def grid_layout(width: int, height: int, image_size: int) -> tuple[int, int, int, int] | None:
    """(rows, cols, header px, scale) of a grid written by :func:`save_grid` with tiles of ``image_size`` px
    (``image_size`` x scale px in the file), or None when the size fits no such grid. Grids written before they
    were enlarged read with scale 1."""
    found = [f for s in range(_MAX_SCALE, 0, -1) if (f := _layout(width, height, image_size, s))]
    for f in found:   # the factor save_grid would have chosen for that many columns, else an unscaled grid
        if f[3] == grid_scale(f[1], image_size) or f[3] == 1:
            return f
    return None


__all__ = ["fixed_styles", "translation_grid", "translation_labels", "save_grid", "grid_size", "grid_layout",
           "grid_scale", "GRID_PADDING", "LABEL_HEIGHT", "GRID_MIN_WIDTH"]

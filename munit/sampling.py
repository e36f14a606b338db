"""Sample grids: the same inputs and the same fixed style codes at every step, so grids are comparable over
training and across runs (the blog's side-by-side comparison needs exactly that).

Grid layout, one per direction, one row per input, under a header strip that names the columns:
    input | within-domain reconstruction | translation with fixed style 1..K | translation with a random style
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch
from torchvision.utils import make_grid

from .model import Generator

GRID_PADDING = 2
LABEL_HEIGHT = 14        # px of the header strip that names a labelled grid's columns
_LABEL_FONT_SIZE = 10


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


def save_grid(images: torch.Tensor, ncols: int, path: str | os.PathLike,
              labels: Sequence[str] | None = None) -> Path:
    """Save a row-major batch in [-1, 1] as one PNG grid (atomic: temp name then rename). ``labels``: one name per
    column, drawn in a header strip of :data:`LABEL_HEIGHT` px (shortened to fit small tiles)."""
    from PIL import Image, ImageDraw, ImageFont

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = make_grid(images.float().cpu().clamp(-1, 1) * 0.5 + 0.5, nrow=ncols, padding=GRID_PADDING, pad_value=1.0)
    img = Image.fromarray(grid.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy())
    if labels is not None:
        if len(labels) != ncols:
            raise ValueError(f"{len(labels)} labels for {ncols} columns")
        tile = images.shape[-1]
        canvas = Image.new("RGB", (img.width, img.height + LABEL_HEIGHT), (255, 255, 255))
        canvas.paste(img, (0, LABEL_HEIGHT))
        draw, font = ImageDraw.Draw(canvas), ImageFont.load_default(size=_LABEL_FONT_SIZE)
        for c, label in enumerate(labels):
            text = _fit(label, tile, font)
            centre = GRID_PADDING + c * (tile + GRID_PADDING) + tile / 2
            draw.text((centre, LABEL_HEIGHT / 2 + 1), text, fill=(40, 40, 40), font=font, anchor="mm")
        img = canvas
    tmp = path.with_name(f".{path.name}.tmp.png")
    img.save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def grid_size(n_rows: int, n_cols: int, image_size: int, labelled: bool = False) -> tuple[int, int]:
    """(width, height) in pixels of a grid written by :func:`save_grid`."""
    p = GRID_PADDING
    return n_cols * (image_size + p) + p, n_rows * (image_size + p) + p + (LABEL_HEIGHT if labelled else 0)


def grid_layout(width: int, height: int, image_size: int) -> tuple[int, int, int] | None:
    """(rows, cols, header px) of a grid written by :func:`save_grid` with tiles of ``image_size`` px, or None
    when the size fits no such grid."""
    step, p = image_size + GRID_PADDING, GRID_PADDING
    if (width - p) % step:
        return None
    for top in (LABEL_HEIGHT, 0):
        if height - p - top > 0 and (height - p - top) % step == 0:
            return (height - p - top) // step, (width - p) // step, top
    return None


__all__ = ["fixed_styles", "translation_grid", "translation_labels", "save_grid", "grid_size", "grid_layout",
           "GRID_PADDING", "LABEL_HEIGHT"]

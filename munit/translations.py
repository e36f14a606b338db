"""Scoring a folder of translations made by any program (CycleGAN, StarGAN v2, a hand-written baseline) on this
project's protocol, against the embedded set's paired ground truth.

Layout, after ``munit data export`` (which writes the inputs ``A/val_0000.png``, ``B/val_0000.png``, ...)::

    DIR/a2b/val_0000_s0.png ... val_0000_s<K-1>.png   # K translations of A/val_0000.png into domain B
    DIR/b2a/val_0000_s0.png ...                       # translations of B/val_0000.png into domain A

Both folders hold the same inputs 0..N-1 with the same K styles each, every image S x S RGB; N, K and S are read
from the files. The inputs are the synthetic val split at ``--data-seed`` (export's ``--seed``), so the paired
ground truth of input i is known: every metric that fits (fit, fitn, content, acc, fcd, lpips, ...) applies.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn as nn

from .data import DataError

DIRECTIONS = ("a2b", "b2a")
_NAME = re.compile(r"^val_(\d{4,})_s(\d+)\.png$")


class TranslationsError(DataError):
    """A translations folder that does not follow the layout (the message names the file and what is wrong)."""


@dataclass(frozen=True)
class Folder:
    """A checked translations folder: ``files[direction][i][k]`` is input i's k-th translation."""

    root: Path
    n_inputs: int
    n_styles: int
    image_size: int
    files: dict[str, list[list[Path]]]


def _load(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode not in ("RGB", "RGBA", "L", "P"):
                raise TranslationsError(f"{path}: image mode {im.mode} (expected RGB)")
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        if isinstance(e, TranslationsError):
            raise
        raise TranslationsError(f"{path}: not a readable PNG ({type(e).__name__}: {e})") from None


def scan(root: str | Path) -> Folder:
    """Check the layout: both direction folders, contiguous inputs, the same styles per input, no other files,
    one image size. Reads only the first image's size (the rest are checked as they load)."""
    root = Path(root)
    if not root.is_dir():
        raise TranslationsError(f"--translations {root}: no such folder")
    found: dict[str, dict[int, set[int]]] = {}
    for d in DIRECTIONS:
        sub = root / d
        if not sub.is_dir():
            raise TranslationsError(f"{sub}: missing (expected {d}/val_0000_s0.png, ...; see 'munit evaluate --help')")
        found[d] = {}
        for p in sorted(sub.iterdir()):
            m = _NAME.match(p.name)
            if not m or not p.is_file():
                raise TranslationsError(f"{p}: unexpected file (names are val_<4-digit input>_s<style>.png)")
            found[d].setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    other = sorted(p.name for p in root.iterdir() if p.name not in DIRECTIONS)
    if other:
        raise TranslationsError(f"{root / other[0]}: unexpected entry (only a2b/ and b2a/ belong here)")
    n = max((max(v) + 1 for v in found.values() if v), default=0)
    if n == 0:
        raise TranslationsError(f"{root}: no translations (expected a2b/val_0000_s0.png, ...)")
    k = max(max(s) + 1 for v in found.values() for s in v.values())
    for d in DIRECTIONS:
        for i in range(n):
            for s in range(k):
                if s not in found[d].get(i, set()):
                    raise TranslationsError(f"{root / d / f'val_{i:04d}_s{s}.png'}: missing ({n} inputs x {k} styles "
                                            "per direction expected from the other files)")
    files = {d: [[root / d / f"val_{i:04d}_s{s}.png" for s in range(k)] for i in range(n)] for d in DIRECTIONS}
    first = _load(files["a2b"][0][0])
    if first.shape[0] != first.shape[1]:
        raise TranslationsError(f"{files['a2b'][0][0]}: {first.shape[1]}x{first.shape[0]} px; images must be square")
    return Folder(root, n, k, int(first.shape[0]), files)


class _FolderGenerator(nn.Module):
    """The evaluation's generator interface over stored files: the content code is the input image; ``decode``
    finds which val input it is (exact match) and returns that input's stored translations in style order."""

    def __init__(self, folder: Folder, direction: str, inputs: torch.Tensor):
        super().__init__()
        self.cfg = SimpleNamespace(style_dim=1)
        self.content_encoder = nn.Identity()
        self.folder, self.direction = folder, direction
        self.keys = inputs.float() / 127.5 - 1

    def _image(self, i: int, s: int) -> torch.Tensor:
        path = self.folder.files[self.direction][i][s]
        a = _load(path)
        if a.shape[:2] != (self.folder.image_size,) * 2:
            raise TranslationsError(f"{path}: {a.shape[1]}x{a.shape[0]} px, the other translations are "
                                    f"{self.folder.image_size} px")
        return torch.from_numpy(a.copy()).permute(2, 0, 1).float() / 127.5 - 1

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        keys = self.keys.to(content.device)
        idx = (content[:, None] - keys[None]).abs().flatten(2).amax(-1).argmin(1).tolist()
        n = self.folder.n_styles   # the protocol repeats each input n_styles times, styles in order
        return torch.stack([self._image(i, j % n) for j, i in enumerate(idx)]).to(content.device)


def generators(folder: Folder, val_a: torch.Tensor, val_b: torch.Tensor) -> tuple[nn.Module, nn.Module]:
    """(gen_a, gen_b) for :meth:`munit.metrics.session.Session.run`: a2b decodes with gen_b, b2a with gen_a."""
    return _FolderGenerator(folder, "b2a", val_b), _FolderGenerator(folder, "a2b", val_a)


__all__ = ["TranslationsError", "Folder", "scan", "generators", "DIRECTIONS"]

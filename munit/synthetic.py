"""The embedded synthetic data set (version :data:`VERSION`): two domains rendered from a seed, with nothing to
download, whose val image i shares its content with the other domain's image i -- so every translation has a paired
ground truth, which the style fit (:mod:`munit.synthetic_fit`) scores against.

Every image is content (1 to 3 shapes) x style (domain A: flat-shaded solids with a drop shadow; B: two-colour
stripes or dots), drawn so that no global statistic separates the domains. What each domain draws, the contrast
rules and the measurements behind them: docs/metrics.md, "The synthetic renderer".

The renderer's parameters and geometry below without a leading underscore are the fit's too: a new renderer
version changes :data:`VERSION` (logged with runs, part of metric cache keys) and these, and the fit follows.
Every image is seeded by ``(seed, split, index, stream)`` alone, so it does not depend on what else is generated.
"""
from __future__ import annotations

import functools
import math
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from .config import SYNTHETIC

VERSION = "2"
DOMAINS = ("A", "B")
SPLITS = {"train": 0, "val": 1, "test": 2}

# what the fit must know about the renderer (munit.synthetic_fit imports these)
RAMP = 0.08                              # A's shading ramp: max |deviation| over the shapes
SHADOW_ALPHAS = (0.3, 0.4, 0.5)          # A's shadow strengths
MIN_CONTRAST = 0.5                       # A |shape - background|, B |c1 - c2| (RGB distance): drawn and fitted
SEPARATION = 0.35                        # shape colours vs background: what content_mask segments by
PATTERN_MIN_VAR = 0.12                   # a B pattern must vary this much (variance of its fraction) in the shapes
LOWFREQ = tuple((u, v) for u in range(3) for v in range(3) if u + v <= 2)  # background basis (u, v); (0, 0) first

# the renderer's own
_SS = 4                                  # supersampling factor per axis for antialiasing
_COLOUR = (0.1, 0.9)                     # every colour channel, both domains
_TEX_AMP = (0.015, 0.05)                 # background texture: max |deviation| per channel
_CONTRAST_MARGIN = 0.02                  # the renderer keeps this much above MIN_CONTRAST
_STRIPES = dict(angles=12, periods=(0.12, 0.16, 0.21, 0.27), phases=8)
_DOTS = dict(angles=6, periods=(0.14, 0.19, 0.25), radii=(0.3, 0.38), phases=3)
_DEFAULT_N = {"train": 2000, "val": 100, "test": 100}


# --------------------------------------------------------------------------------------------- validation

def _split_id(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return SPLITS[split]


def check_domain(domain: str) -> int:
    """The index of a synthetic domain name; ValueError names the choices."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown synthetic domain {domain!r}; choose one of {', '.join(DOMAINS)}")
    return DOMAINS.index(domain)


def _rng(seed: int, split: str, i: int, stream: int) -> np.random.Generator:
    # stream 0 = content; 1 + domain + 2 * style = appearance: independent, and independent of other indices
    return np.random.default_rng([seed, _split_id(split), i, stream])


# ------------------------------------------------------------------- geometry shared with the fit (cached)

@functools.lru_cache(maxsize=16)
def lowfreq_basis(size: int) -> np.ndarray:
    """[6, S, S] low-frequency basis (constant first): the span of every background field."""
    c = (np.arange(size, dtype=np.float64) + 0.5) / size
    return np.stack([np.cos(math.pi * v * c)[:, None] * np.cos(math.pi * u * c)[None, :]
                     for u, v in LOWFREQ]).astype(np.float32)


@functools.lru_cache(maxsize=16)
def shadow_setup(size: int) -> tuple[tuple[tuple[int, int], ...], np.ndarray]:
    """The 8 diagonal shadow offsets (dx, dy) in pixels and the Gaussian blur taps, both scaled with the size."""
    u = max(1, round(size / 32))
    offsets = tuple((k * u * sx, k * u * sy) for k in (1, 2) for sy in (1, -1) for sx in (1, -1))
    sigma = max(0.5, 0.75 * size / 32)
    r = int(math.ceil(2 * sigma))
    taps = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return offsets, (taps / taps.sum()).astype(np.float32)


def _pattern_params() -> list[tuple]:
    out = []
    for a in range(_STRIPES["angles"]):
        for period in _STRIPES["periods"]:
            for ph in range(_STRIPES["phases"]):
                out.append(("stripes", a * math.pi / _STRIPES["angles"], period, ph / _STRIPES["phases"]))
    for a in range(_DOTS["angles"]):
        for period in _DOTS["periods"]:
            for rad in _DOTS["radii"]:
                for pa in range(_DOTS["phases"]):
                    for pb in range(_DOTS["phases"]):
                        out.append(("dots", a * math.pi / (2 * _DOTS["angles"]), period, rad,
                                    pa / _DOTS["phases"], pb / _DOTS["phases"]))
    return out


PATTERNS = _pattern_params()
_N_STRIPES = sum(p[0] == "stripes" for p in PATTERNS)


@functools.lru_cache(maxsize=8)
def pattern_bank(size: int) -> np.ndarray:
    """[G, S, S] float32: for each of B's patterns, the antialiased fraction of every pixel in pattern colour 1.

    The renderer draws its pattern from this bank and the fit searches all of it, so an oracle fits exactly.
    Built once per size; the projections are shared by all phases of an angle and period."""
    n = size * _SS
    c = (np.arange(n, dtype=np.float32) + 0.5) / n
    x, y = c[None, :], c[:, None]
    bank = np.empty((len(PATTERNS), size, size), dtype=np.float32)
    proj: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    for g, p in enumerate(PATTERNS):
        key = p[:3]
        if key not in proj:
            ca, sa = np.float32(math.cos(p[1])), np.float32(math.sin(p[1]))
            proj = {key: ((x * ca + y * sa) * np.float32(1 / p[2]), (y * ca - x * sa) * np.float32(1 / p[2]))}
        a, b = proj[key]
        if p[0] == "stripes":  # colour 1 on the even half-periods; the offset keeps q > 0, so int casts floor
            on = ((2 * a + np.float32(2 * (p[3] + 64))).astype(np.int32) & 1) == 0
        else:
            rad, pa, pb = p[3:]
            fa = a + np.float32(pa)
            fb = b + np.float32(pb)
            fa -= np.round(fa)
            fb -= np.round(fb)
            on = fa * fa + fb * fb <= np.float32(rad * rad)
        bank[g] = _downsample(on, size)
    return bank


# ------------------------------------------------------------------------------------------------- content

def _content(rng: np.random.Generator, size: int) -> np.ndarray:
    """1-3 shapes drawn into a supersampled boolean canvas [size*SS, size*SS] (shapes may overlap: union)."""
    n = size * _SS
    coords = (np.arange(n, dtype=np.float32) + 0.5) / n  # pixel centres in the unit square
    canvas = np.zeros((n, n), dtype=bool)
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(3))               # 0 circle, 1 square, 2 triangle
        r = float(rng.uniform(0.12, 0.28))
        theta = float(rng.uniform(0.0, 2 * math.pi))
        if kind == 1 and rng.random() < 0.5:
            theta = 0.0                            # half the squares axis-aligned
        extent = (r, r * 0.8 * math.sqrt(2), r * 1.25)[kind]  # circumradius of the shape
        # centre keeps >= 60% of the extent inside the frame: shapes are mostly, not always, fully visible
        cx, cy = rng.uniform(0.6 * extent, 1 - 0.6 * extent, size=2)
        x0, x1 = max(0, int((cx - extent) * n)), min(n, int(math.ceil((cx + extent) * n)) + 1)
        y0, y1 = max(0, int((cy - extent) * n)), min(n, int(math.ceil((cy + extent) * n)) + 1)
        xs = coords[None, x0:x1] - np.float32(cx)
        ys = coords[y0:y1, None] - np.float32(cy)
        c, s = math.cos(theta), math.sin(theta)
        if kind == 0:
            inside = xs * xs + ys * ys <= r * r
        elif kind == 1:
            half = r * 0.8
            inside = (np.abs(xs * c + ys * s) <= half) & (np.abs(ys * c - xs * s) <= half)
        else:  # equilateral triangle: three half-planes at the inradius (circumradius / 2)
            inside = np.ones((y1 - y0, x1 - x0), dtype=bool)
            for k in range(3):
                phi = theta + math.pi / 3 + 2 * math.pi * k / 3
                inside &= xs * math.cos(phi) + ys * math.sin(phi) <= extent / 2
        canvas[y0:y1, x0:x1] |= inside
    return canvas


def _downsample(canvas: np.ndarray, size: int) -> np.ndarray:
    """Supersampled boolean -> per-pixel coverage in [0, 1] (box filter). Sums strided views as uint8:
    several times faster than a 4-D ``sum(axis=(1, 3))``, which matters at 2000 images per build."""
    u = canvas.view(np.uint8).reshape(size, _SS, size * _SS)
    rows = sum(u[:, k] for k in range(1, _SS)) + u[:, 0]
    rows = rows.reshape(size, size, _SS)
    return (sum(rows[..., k] for k in range(1, _SS)) + rows[..., 0]).astype(np.float32) / _SS ** 2


def _edge_weight(cov: np.ndarray, inner: np.ndarray, outer: np.ndarray) -> np.ndarray:
    """Coverage -> compositing weight of the shape appearance.

    Monotone, fixing 0 and 1, crossing 1/2 midway between the coverage levels 8/16 and 9/16: the hard mask is
    ``coverage > 1/2`` and a pixel of coverage exactly 1/2 (common on axis-aligned edges) would otherwise be an
    even mix that no per-pixel rule can assign, so content_mask recovers the hard mask on edges too. Pixels
    whose 3x3 neighbourhood is all shape (all background) get weight 1 (0): the rare partly covered ones there
    (concave notches, a vertex grazing a pixel) would need the supersampled canvas, which the fit does not have."""
    knee = np.float32(0.5 + 0.5 / _SS ** 2)
    w = np.where(cov <= knee, cov * (np.float32(0.5) / knee), 0.5 + (cov - knee) * (np.float32(0.5) / (1 - knee)))
    return np.where(inner, np.float32(1.0), np.where(outer, np.float32(0.0), w)).astype(np.float32)


def _regions_np(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`munit.synthetic_fit._regions` for bool [..., S, S] numpy masks (the renderer's twin; booleans, so identical)."""
    pad = [(0, 0)] * (m.ndim - 2) + [(1, 1), (1, 1)]
    s = m.shape[-1]
    p = np.pad(m, pad, constant_values=False)
    rows = p[..., 0:s, :] | p[..., 1:s + 1, :] | p[..., 2:s + 2, :]
    dil = rows[..., 0:s] | rows[..., 1:s + 1] | rows[..., 2:s + 2]
    rows = p[..., 0:s, :] & p[..., 1:s + 1, :] & p[..., 2:s + 2, :]
    ero = rows[..., 0:s] & rows[..., 1:s + 1] & rows[..., 2:s + 2]
    return ero, ~dil


def _shadow_np(m: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """:func:`munit.synthetic_fit._shadows` for bool [N, S, S] numpy masks, one offset index per image: [N, S, S] float32."""
    size = m.shape[-1]
    offs, taps = shadow_setup(size)
    r = len(taps) // 2
    mo = max(max(abs(a), abs(b)) for a, b in offs)
    length = size + 2 * mo
    mp = np.pad(m.astype(np.float32), [(0, 0), (mo + r, mo + r), (mo + r, mo + r)])
    rows = sum(taps[k] * mp[:, k:k + length, :] for k in range(len(taps)))
    blur = sum(taps[k] * rows[:, :, k:k + length] for k in range(len(taps)))
    out = np.empty(m.shape, dtype=np.float32)
    for j, o in enumerate(offsets):
        dx, dy = offs[int(o)]
        out[j] = blur[j, mo - dy:mo - dy + size, mo - dx:mo - dx + size]
    return out


# --------------------------------------------------------------------------------------------------- style

def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(*_COLOUR, size=3)


def _seg_dist(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Distance from point p to the segment [a, b] in RGB."""
    d = b - a
    t = min(1.0, max(0.0, float(np.dot(p - a, d)) / max(float(np.dot(d, d)), 1e-12)))
    return float(np.linalg.norm(p - a - t * d))


def _texture_coef(rng: np.random.Generator) -> np.ndarray:
    """[5, 3] coefficients of the non-constant low-frequency basis per channel; |texture| <= amp everywhere
    (each basis function is bounded by 1)."""
    amp = rng.uniform(*_TEX_AMP)
    coef = rng.uniform(-1.0, 1.0, size=(len(LOWFREQ) - 1, 3))
    return coef * (amp / np.maximum(np.abs(coef).sum(0), 1e-6))


def _draw_a(rng: np.random.Generator, n_offsets: int, phi_out: np.ndarray, centre: np.ndarray, radius: float
            ) -> dict:
    """A's style: texture, shadow (strength, offset), ramp (direction, strength), colours.

    The colours are redrawn until the shape's mean colour is >= MIN_CONTRAST (+ margin) from the mean of the
    unshadowed background over the fitted background pixels (``phi_out``: mean of each basis function there) --
    the fit's constraint, measured on the same quantities -- and >= SEPARATION from every shadowed background."""
    coef = _texture_coef(rng)
    alpha = SHADOW_ALPHAS[int(rng.integers(len(SHADOW_ALPHAS)))]
    offset = int(rng.integers(n_offsets))
    theta, strength = rng.uniform(0.0, 2 * math.pi), rng.uniform(0.0, RAMP)
    tex_out = phi_out[1:] @ coef
    for _ in range(10000):
        bg, fg = _colour(rng), _colour(rng)
        if (np.linalg.norm(fg - bg - tex_out) >= MIN_CONTRAST + _CONTRAST_MARGIN
                and _seg_dist(fg, bg * (1 - max(SHADOW_ALPHAS)), bg) >= SEPARATION):
            break
    k = strength / radius  # the ramp spans +-strength over the shapes' neighbourhood, centred on the shapes
    kx, ky = k * math.cos(theta), k * math.sin(theta)
    return dict(coef=coef, bg=bg, fg=fg, alpha=alpha, offset=offset, ramp=(kx, ky, kx * centre[0] + ky * centre[1]))


def _pattern_var(bank: np.ndarray, inner: np.ndarray) -> Callable[[int], float]:
    """Variance of each pattern's fraction over the fitted shape pixels, on demand. Sums of multiples of 1/16
    (squares: 1/256) below 2**12 are exact in float32, so this equals the fit's matrix-product statistics."""
    idx = np.flatnonzero(inner)

    def var(g: int) -> float:
        if idx.size == 0:
            return 0.0
        v = bank[g].reshape(-1)[idx]
        n = float(idx.size)
        return float(np.sum(v * v)) / n - (float(np.sum(v)) / n) ** 2
    return var


def _draw_b(rng: np.random.Generator, var: Callable[[int], float]) -> dict:
    """B's style: texture, colours, pattern (stripes or dots, then one of them uniformly). The pattern is redrawn
    (up to 30 times, else the most varied of its kind) until it shows both colours inside the shapes (variance of
    its fraction over the fitted shape pixels >= PATTERN_MIN_VAR + margin): the fit only considers such patterns
    (or the most varied ones, when no pattern varies enough), so flat shapes cannot pass as B."""
    coef = _texture_coef(rng)
    for _ in range(10000):
        bg, c1, c2 = _colour(rng), _colour(rng), _colour(rng)
        if np.linalg.norm(c1 - c2) >= MIN_CONTRAST + _CONTRAST_MARGIN and _seg_dist(bg, c1, c2) >= SEPARATION:
            break
    lo, hi = (0, _N_STRIPES) if rng.random() < 0.5 else (_N_STRIPES, len(PATTERNS))
    for _ in range(30):
        g = int(rng.integers(lo, hi))
        if var(g) >= PATTERN_MIN_VAR + 0.01:
            break
    else:
        g = max(range(lo, hi), key=var)
    return dict(coef=coef, bg=bg, c1=c1, c2=c2, pattern=g)


def _stack(styles: list[dict], key: str) -> np.ndarray:
    return np.array([s[key] for s in styles], dtype=np.float32)


def _render_block(indices: range | list[int], domains: tuple[str, ...], size: int, seed: int, split: str,
                  style: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Images ``indices`` of each domain, uint8 [N, 3, S, S], and their shared masks bool [N, S, S].

    Content and style parameters are drawn per image from that image's own streams; the pixels are then composed
    for the block at once, element-wise (pattern statistics by exact sums), so an image never depends on its
    batch. numpy, not torch: single-threaded element-wise work on small blocks is fastest there on a busy CPU."""
    cov = np.stack([_downsample(_content(_rng(seed, split, i, 0), size), size) for i in indices])  # [N, S, S]
    m = cov > 0.5
    inner, outer = _regions_np(m)
    weight = _edge_weight(cov, inner, outer)[:, None]
    phi = lowfreq_basis(size)
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    images = []
    for d in domains:
        rngs = [_rng(seed, split, i, 1 + check_domain(d) + 2 * style) for i in indices]
        if d == "A":
            phi64 = phi.astype(np.float64)
            styles = []
            for j, rng in enumerate(rngs):
                dil = ~outer[j]
                region = inner[j] if inner[j].any() else dil if dil.any() else np.ones((size, size), bool)
                ys, xs = np.nonzero(region)
                centre = np.array([c[xs].mean(dtype=np.float64), c[ys].mean(dtype=np.float64)])
                dys, dxs = np.nonzero(dil | region)
                radius = max(float(np.sqrt((c[dxs] - centre[0]) ** 2 + (c[dys] - centre[1]) ** 2).max()), 1e-3)
                phi_out = phi64[:, outer[j]].mean(1) if outer[j].any() else np.zeros(len(LOWFREQ))
                styles.append(_draw_a(rng, len(shadow_setup(size)[0]), phi_out, centre, radius))
        else:
            bank = pattern_bank(size)
            styles = [_draw_b(rng, _pattern_var(bank, inner[j])) for j, rng in enumerate(rngs)]
        coef = _stack(styles, "coef")                                             # [N, 5, 3]
        tex = sum(phi[k + 1] * coef[:, k, :, None, None] for k in range(coef.shape[1]))  # [N, 3, S, S]
        if d == "A":
            alpha = _stack(styles, "alpha")[:, None, None, None]
            shadow = _shadow_np(m, np.array([s["offset"] for s in styles]))[:, None]
            background = (_stack(styles, "bg")[..., None, None] + tex) * (1 - alpha * shadow)
            ramp = _stack(styles, "ramp")[..., None, None]
            shape = (_stack(styles, "fg")[..., None, None]
                     + (c[None, :] * ramp[:, 0] + c[:, None] * ramp[:, 1] - ramp[:, 2])[:, None])
        else:
            background = _stack(styles, "bg")[..., None, None] + tex
            pattern = pattern_bank(size)[[s["pattern"] for s in styles]][:, None]
            c2 = _stack(styles, "c2")[..., None, None]
            shape = c2 + (_stack(styles, "c1")[..., None, None] - c2) * pattern
        img = background + weight * (shape - background)
        images.append((np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
    return images, m


_BLOCK = 64  # images composed at once (small: element-wise work stays in cache)


def _generate(domains: tuple[str, ...], size: int, indices: range | list[int], seed: int, split: str,
              style: int = 0) -> tuple[list[torch.Tensor], torch.Tensor]:
    """uint8 [N, 3, S, S] per domain and bool [N, 1, S, S] masks, rendered in blocks into preallocated arrays."""
    idx = list(indices)
    if size < 1 or seed < 0 or style < 0 or any(i < 0 for i in idx):
        raise ValueError(f"need size >= 1, indices >= 0, seed >= 0 and style >= 0 (got {size}, {seed}, {style})")
    for d in domains:
        check_domain(d)
    _split_id(split)
    images = [np.empty((len(idx), 3, size, size), dtype=np.uint8) for _ in domains]
    masks = np.empty((len(idx), 1, size, size), dtype=bool)
    for k in range(0, len(idx), _BLOCK):
        imgs, masks[k:k + _BLOCK, 0] = _render_block(idx[k:k + _BLOCK], domains, size, seed, split, style)
        for out, img in zip(images, imgs):
            out[k:k + _BLOCK] = img
    return [torch.from_numpy(x) for x in images], torch.from_numpy(masks)


def render(i: int, domain: str, size: int, seed: int = 0, split: str = "train", style: int = 0
           ) -> tuple[np.ndarray, np.ndarray]:
    """Image ``i`` of ``domain``: (uint8 [size, size, 3], bool content mask [size, size]).

    ``style`` > 0 renders the same content in another, independent style of the domain (the dataset uses
    style 0): ground truths for a translation "in some style" (the oracles of :func:`munit.synthetic_fit.fit_error`)."""
    (img,), mask = _generate((domain,), size, [i], seed, split, style)
    return img[0].permute(1, 2, 0).numpy(), mask[0, 0].numpy()


def render_batch(indices: range | list[int], domain: str, size: int, seed: int = 0, split: str = "train",
                 style: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`render` for many indices at once: (uint8 [N, 3, S, S], bool [N, 1, S, S])."""
    (img,), mask = _generate((domain,), size, indices, seed, split, style)
    return img, mask


class SyntheticDomain(Dataset):
    """One domain of one split, generated once at construction and held in memory as uint8.

    ``images`` is a single [N, 3, S, S] tensor so a training stream can move it to the GPU once and batch by
    indexing (see :class:`munit.data.DomainStream`). ``version`` names the renderer (logged with runs, part of
    metric cache keys): images of the same (domain, seed, split, index) differ between versions."""

    source = SYNTHETIC
    version = VERSION

    def __init__(self, domain: str, size: int, n: int, seed: int = 0, split: str = "train"):
        check_domain(domain)
        _split_id(split)
        (images,), masks = _generate((domain,), size, range(n), seed, split)
        self._set(domain, images, masks, seed, split)

    def _set(self, name: str, images: torch.Tensor, masks: torch.Tensor, seed: int, split: str) -> None:
        self.name, self.images, self.masks = name, images, masks
        self.seed, self.split, self.image_size = seed, split, images.shape[-1]
        self.skipped: list = []

    @classmethod
    def _from_tensors(cls, name: str, images: torch.Tensor, masks: torch.Tensor, seed: int, split: str
                      ) -> "SyntheticDomain":
        ds = cls.__new__(cls)
        ds._set(name, images, masks, seed, split)
        return ds

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]

    def __repr__(self) -> str:
        return (f"SyntheticDomain({self.name!r}, n={len(self)}, size={self.image_size}, seed={self.seed}, "
                f"split={self.split!r}, version={self.version!r})")


def synthetic_domains(size: int, split: str = "train", n: int | None = None, seed: int = 0
                      ) -> tuple[SyntheticDomain, SyntheticDomain]:
    """Domains A and B of one split, paired by index (same content masks). Default n: 2000 train, 100 val/test."""
    n = _DEFAULT_N[split] if n is None and split in _DEFAULT_N else n
    _split_id(split)
    if n is None or n < 1:
        raise ValueError(f"synthetic_domains needs n >= 1, got {n}")
    (a, b), masks = _generate(DOMAINS, size, range(n), seed, split)
    return (SyntheticDomain._from_tensors("A", a, masks, seed, split),
            SyntheticDomain._from_tensors("B", b, masks, seed, split))


__all__ = ["VERSION", "DOMAINS", "SPLITS", "MIN_CONTRAST", "SHADOW_ALPHAS", "render", "render_batch", "SyntheticDomain",
           "synthetic_domains"]

"""An embedded, deterministic two-domain dataset (no download, exact ground truth) and its paired objectives.

Version 2 (:data:`VERSION`; logged with runs and part of metric cache keys: v1 images differ). Every image is
the product of two independent factors:

* **content** -- 1 to 3 shapes (circle, square, triangle) forming a binary mask (``coverage > 1/2`` of a 4x4
  supersampled drawing). Image ``i`` of A and image ``i`` of B share it: every translation has a paired ground
  truth, up to the target's style.
* **style** -- the appearance of one domain, drawn per image and per domain. ``render(..., style=k)`` draws
  further independent styles of the same content.

The domains
-----------
Both draw a background of one colour plus a faint low-frequency colour texture (a random field in the span of
the 2-D cosines ``cos(pi u x) cos(pi v y)``, ``u + v <= 2``: smooth blotches and gradients, at most +-0.015 to
0.05 per channel). What differs is how the *shapes* are rendered:

* **A -- flat shading and a drop shadow.** One solid colour with a gentle linear shading ramp (random direction,
  at most +-0.08 over the shapes); the shapes cast a soft shadow -- the mask shifted by one of 8 diagonal offsets
  (1 or 2 px at 32 px, scaled with the size) and blurred -- that darkens the background by ``1 - alpha *
  shadow``, ``alpha`` in {0.3, 0.4, 0.5}.
* **B -- two-colour patterns, no shadow.** Stripes (12 angles, 4 periods of 12-27% of the image, 8 phases) or a
  square lattice of dots (6 angles, 3 periods, 2 dot sizes, 9 phases) in two colours.

Within-domain variation: every colour, the texture, A's shadow offset and strength and ramp, B's pattern kind,
angle, period, dot size and phase.

Why no global statistic separates them: every colour -- background, A's shape colour, each of B's two pattern
colours -- is drawn from the *same* distribution (uniform in [0.1, 0.9]^3) under contrast rules that do not
prefer a polarity: A's shape colour is >= 0.52 (RGB distance) from the background's mean; B's two pattern
colours are >= 0.52 apart; every shape colour is >= 0.35 from the background (A: from all its shadowed
versions; B: the background from the whole segment between the pattern colours, so that the shapes are
segmentable). So each domain has ~40-60% dark-on-light and light-on-dark images, a pixel inside a shape has about
the same colour distribution in both domains (a B pixel shows one pattern colour, itself drawn like A's colour),
and the luma spread matches (B's pattern contrast stands in for A's shape-background contrast on average).
Measured (bench/synthetic_bench.py, asserted <= 0.6 in tests/test_synthetic.py): logistic regression on mean
luma, luma std, channel means or a 3x4-bin colour histogram reaches 0.49-0.56 held-out accuracy; on
inside-shape texture, 0.998. A translator must turn flat shading + shadow into a pattern, or back.

Objectives
----------
:func:`fit_error` -- the objective to rank translators with: the paired error with the style marginalised. Fit
the target renderer, style free, to an output *given its input's content mask* and report the RMS residual in
[0, 1] pixel units (shapes and background weighted equally). The renderer is linear in its colours given a few
geometry parameters, so the fit is a small grid search times closed-form least squares, batched in torch:

* background (both): the low-frequency field, 6 coefficients per channel, fitted outside the mask's 3x3
  dilation -- low frequency only, so it cannot absorb shapes, patterns or edges;
* A: shapes = colour + linear ramp per channel, fitted inside the mask's 3x3 erosion, the ramp scaled down to
  the renderer's +-0.08 if steeper; background field times ``1 - alpha * shadow`` for each of the renderer's 24
  (alpha, offset) -- alpha >= 0.3, so a shadow is always demanded and can only darken -- with ``|shape mean -
  background mean| >= 0.5``;
* B: shapes = ``c2 + (c1 - c2) * P`` for each of the renderer's 708 patterns ``P`` (their sufficient statistics
  are three matrix products), with ``|c1 - c2| >= 0.5`` and only patterns that vary inside the shapes (variance
  of ``P`` there >= 0.12), so a flat or weakly textured region cannot pass as a pattern;
* the boundary band between erosion and dilation (every antialiased pixel) is not fitted: each band pixel must
  be a mix of the fitted background and shape there (the best mix in [0, 1] is taken), and the candidates (all
  shadows of A, B's 8 best patterns) are ranked with it.

The contrast constraints are exact: the channels share one design, so the constrained optimum is the radial
projection of the unconstrained one and costs its Schur complement times the squared shortfall. A rendering
of the content in *any* target style scores ~0.001 (uint8 rounding; max <= 0.003 at 24-256 px; unreliable below 24
px where shapes are mostly band). Trivial generators cannot produce the target's shape appearance at the input's
geometry and score 0.05-0.39 on average (style noise the worst), every single output >= 0.025: identity and negation keep the source's
rendering (flat where B needs a pattern, patterned where A needs flat shading, no shadow), a constant or blurred
input lacks the pattern contrast / shadow / sharp edges, noise fits nothing, and a real target image of other
content puts shapes where the mask says background.

:func:`content_mask` recovers the mask of any image of a known domain (IoU ~0.999 at 32-64 px; ~0.95 after a
1-px blur or 0.08 noise): pixels far from the border's median colour (in A, from its shadowed versions too) as a
coarse mask, refined twice by the fit above without its appearance constraints, each pixel going to whichever
of the fitted background and shape explains it (coverage > 1/2; the renderer's compositing weight crosses 1/2
exactly where coverage does). :func:`content_error` is 1 - IoU with the paired mask: geometry only -- a negated
input keeps its geometry; :func:`fit_error` is what rejects it.

Every image is seeded by ``(seed, split, index, stream)`` alone, so it is reproducible independently of the
others and of how many are generated.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .config import SYNTHETIC

VERSION = "2"
DOMAINS = ("A", "B")
SPLITS = {"train": 0, "val": 1, "test": 2}
LUMA = (0.299, 0.587, 0.114)  # Rec.601
THRESHOLD = 0.5               # v1's luma threshold; no longer used (kept for importers)

_SS = 4                                  # supersampling factor per axis for antialiasing
_COLOUR = (0.1, 0.9)                     # every colour channel, both domains
_TEX_AMP = (0.015, 0.05)                 # background texture: max |deviation| per channel
_RAMP = 0.08                             # A's shading ramp: max |deviation| over the shapes
SHADOW_ALPHAS = (0.3, 0.4, 0.5)          # A's shadow strengths
MIN_CONTRAST = 0.5                       # fit constraint: A |shape - background|, B |c1 - c2| (RGB distance)
_CONTRAST_MARGIN = 0.02                  # the renderer keeps this much above MIN_CONTRAST
_SEPARATION = 0.35                       # shape colours vs background, for content_mask
_PATTERN_MIN_VAR = 0.12                  # a B pattern must vary this much (variance of its fraction) in the shapes
_STRIPES = dict(angles=12, periods=(0.12, 0.16, 0.21, 0.27), phases=8)
_DOTS = dict(angles=6, periods=(0.14, 0.19, 0.25), radii=(0.3, 0.38), phases=3)
_LOWFREQ = tuple((u, v) for u in range(3) for v in range(3) if u + v <= 2)  # (0, 0) first
_RIDGE = 1e-7
_CHUNK_PIXELS = 2 ** 17                  # pixels per fit chunk (128 images at 32 px, 32 at 64): stays in cache
_TOPK = 8                                # B's patterns re-ranked with the boundary band
_DEFAULT_N = {"train": 2000, "val": 100, "test": 100}


# --------------------------------------------------------------------------------------------- validation

def _split_id(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return SPLITS[split]


def _check_domain(domain: str) -> int:
    if domain not in DOMAINS:
        raise ValueError(f"unknown synthetic domain {domain!r}; choose one of {', '.join(DOMAINS)}")
    return DOMAINS.index(domain)


def _rng(seed: int, split: str, i: int, stream: int) -> np.random.Generator:
    # stream 0 = content; 1 + domain + 2 * style = appearance: independent, and independent of other indices
    return np.random.default_rng([seed, _split_id(split), i, stream])


# ------------------------------------------------------------------------------------ shared geometry (cached)

@functools.lru_cache(maxsize=16)
def _lowfreq(size: int) -> np.ndarray:
    """[6, S, S] low-frequency basis (constant first): the span of every background field."""
    c = (np.arange(size, dtype=np.float64) + 0.5) / size
    return np.stack([np.cos(math.pi * v * c)[:, None] * np.cos(math.pi * u * c)[None, :]
                     for u, v in _LOWFREQ]).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _shadow_setup(size: int) -> tuple[tuple[tuple[int, int], ...], np.ndarray]:
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


_PATTERNS = _pattern_params()
_N_STRIPES = sum(p[0] == "stripes" for p in _PATTERNS)


@functools.lru_cache(maxsize=8)
def _pattern_bank(size: int) -> np.ndarray:
    """[G, S, S] float32: for each of B's patterns, the antialiased fraction of every pixel in pattern colour 1.

    The renderer draws its pattern from this bank and the fit searches all of it, so an oracle fits exactly.
    Built once per size (0.5 s at 64 px; the projections are shared by all phases of an angle and period)."""
    n = size * _SS
    c = (np.arange(n, dtype=np.float32) + 0.5) / n
    x, y = c[None, :], c[:, None]
    bank = np.empty((len(_PATTERNS), size, size), dtype=np.float32)
    proj: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    for g, p in enumerate(_PATTERNS):
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


_TCACHE: dict[tuple, torch.Tensor] = {}


def _tconst(name: str, size: int, device: torch.device) -> torch.Tensor:
    """Torch copies of the cached geometry per (size, device): the fit runs on the caller's device."""
    key = (name, size, str(device))
    if key not in _TCACHE:
        if name == "phi":
            t = torch.from_numpy(_lowfreq(size)).reshape(len(_LOWFREQ), -1)
        elif name == "phiphi":  # [P, K*K] products of basis pairs: one matmul gives every normal matrix
            p = torch.from_numpy(_lowfreq(size)).reshape(len(_LOWFREQ), -1)
            t = (p[:, None, :] * p[None, :, :]).reshape(-1, p.shape[1]).T.contiguous()
        elif name == "bank":
            t = torch.from_numpy(_pattern_bank(size)).reshape(len(_PATTERNS), -1)
        elif name == "bank2":
            t = torch.from_numpy(_pattern_bank(size)).reshape(len(_PATTERNS), -1) ** 2
        elif name == "coords":  # [2, P]: x, y of pixel centres in [0, 1]
            c = (torch.arange(size, dtype=torch.float32) + 0.5) / size
            t = torch.stack([c[None, :].expand(size, size), c[:, None].expand(size, size)]).reshape(2, -1)
        else:
            raise KeyError(name)
        _TCACHE[key] = t.to(device)
    return _TCACHE[key]


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
    """:func:`_regions` for bool [..., S, S] numpy masks (the renderer's twin; booleans, so identical)."""
    pad = [(0, 0)] * (m.ndim - 2) + [(1, 1), (1, 1)]
    s = m.shape[-1]
    p = np.pad(m, pad, constant_values=False)
    rows = p[..., 0:s, :] | p[..., 1:s + 1, :] | p[..., 2:s + 2, :]
    dil = rows[..., 0:s] | rows[..., 1:s + 1] | rows[..., 2:s + 2]
    rows = p[..., 0:s, :] & p[..., 1:s + 1, :] & p[..., 2:s + 2, :]
    ero = rows[..., 0:s] & rows[..., 1:s + 1] & rows[..., 2:s + 2]
    return ero, ~dil


def _shadow_np(m: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """:func:`_shadows` for bool [N, S, S] numpy masks, one offset index per image: [N, S, S] float32."""
    size = m.shape[-1]
    offs, taps = _shadow_setup(size)
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


def _regions(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(inner, outer) of bool [N, 1, S, S] masks: 3x3 erosion (outside the frame counts as background: a shape's
    edge may lie inside a frame pixel) and the complement of the 3x3 dilation. The band between them holds every
    antialiased pixel."""
    f = m.float()
    outer = F.max_pool2d(f, 3, 1, 1) < 0.5
    inner = F.max_pool2d(F.pad(1.0 - f, (1, 1, 1, 1), value=1.0), 3, 1) < 0.5
    return inner, outer


def _shadows(m: torch.Tensor) -> torch.Tensor:
    """[N, O, S, S]: A's shadow fields for every offset, for bool masks [N, 1, S, S]: the mask blurred once
    (separable Gaussian taps, element-wise, so an image's result does not depend on its batch), then shifted."""
    size = m.shape[-1]
    offsets, taps = _shadow_setup(size)
    r = len(taps) // 2
    mo = max(max(abs(a), abs(b)) for a, b in offsets)
    length = size + 2 * mo
    mp = F.pad(m.float(), (mo + r,) * 4)
    rows = sum(float(taps[k]) * mp[..., k:k + length, :] for k in range(len(taps)))
    blur = sum(float(taps[k]) * rows[..., k:k + length] for k in range(len(taps)))  # [N, 1, L, L]
    return torch.cat([blur[..., mo - dy:mo - dy + size, mo - dx:mo - dx + size] for dx, dy in offsets], 1)


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
    coef = rng.uniform(-1.0, 1.0, size=(len(_LOWFREQ) - 1, 3))
    return coef * (amp / np.maximum(np.abs(coef).sum(0), 1e-6))


def _draw_a(rng: np.random.Generator, n_offsets: int, phi_out: np.ndarray, centre: np.ndarray, radius: float
            ) -> dict:
    """A's style: texture, shadow (strength, offset), ramp (direction, strength), colours.

    The colours are redrawn until the shape's mean colour is >= MIN_CONTRAST (+ margin) from the mean of the
    unshadowed background over the fitted background pixels (``phi_out``: mean of each basis function there) --
    the fit's constraint, measured on the same quantities -- and >= _SEPARATION from every shadowed background."""
    coef = _texture_coef(rng)
    alpha = SHADOW_ALPHAS[int(rng.integers(len(SHADOW_ALPHAS)))]
    offset = int(rng.integers(n_offsets))
    theta, strength = rng.uniform(0.0, 2 * math.pi), rng.uniform(0.0, _RAMP)
    tex_out = phi_out[1:] @ coef
    for _ in range(10000):
        bg, fg = _colour(rng), _colour(rng)
        if (np.linalg.norm(fg - bg - tex_out) >= MIN_CONTRAST + _CONTRAST_MARGIN
                and _seg_dist(fg, bg * (1 - max(SHADOW_ALPHAS)), bg) >= _SEPARATION):
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
    its fraction over the fitted shape pixels >= _PATTERN_MIN_VAR + margin): the fit only considers such patterns
    (or the most varied ones, when no pattern varies enough), so flat shapes cannot pass as B."""
    coef = _texture_coef(rng)
    for _ in range(10000):
        bg, c1, c2 = _colour(rng), _colour(rng), _colour(rng)
        if np.linalg.norm(c1 - c2) >= MIN_CONTRAST + _CONTRAST_MARGIN and _seg_dist(bg, c1, c2) >= _SEPARATION:
            break
    lo, hi = (0, _N_STRIPES) if rng.random() < 0.5 else (_N_STRIPES, len(_PATTERNS))
    for _ in range(30):
        g = int(rng.integers(lo, hi))
        if var(g) >= _PATTERN_MIN_VAR + 0.01:
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
    phi = _lowfreq(size)
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    images = []
    for d in domains:
        rngs = [_rng(seed, split, i, 1 + _check_domain(d) + 2 * style) for i in indices]
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
                phi_out = phi64[:, outer[j]].mean(1) if outer[j].any() else np.zeros(len(_LOWFREQ))
                styles.append(_draw_a(rng, len(_shadow_setup(size)[0]), phi_out, centre, radius))
        else:
            bank = _pattern_bank(size)
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
            pattern = _pattern_bank(size)[[s["pattern"] for s in styles]][:, None]
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
        _check_domain(d)
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
    style 0): ground truths for a translation "in some style" (the oracles of :func:`fit_error`)."""
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
        _check_domain(domain)
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


# ------------------------------------------------------------------------------------------------- the fit

def _unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] or float model range [-1, 1] -> float [0, 1] (clamped: what an image file would hold)."""
    if images.dim() != 4 or images.shape[1] != 3 or images.shape[2] != images.shape[3]:
        raise ValueError(f"expected square [N, 3, S, S] images, got {tuple(images.shape)}")
    x = images.float() / 255.0 if images.dtype == torch.uint8 else (images.float() + 1.0) / 2.0
    return x.clamp(0.0, 1.0)


def _mask_arg(masks: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    m = masks.to(device=images.device, dtype=torch.bool)
    if m.dim() == 3:
        m = m.unsqueeze(1)
    if m.shape != (images.shape[0], 1, *images.shape[2:]):
        raise ValueError(f"masks {tuple(masks.shape)} do not match images {tuple(images.shape)}")
    return m


def _solve(h: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    k = h.shape[-1]
    eye = torch.eye(k, dtype=h.dtype, device=h.device)
    return torch.linalg.solve(h + _RIDGE * eye, rhs)


class _Candidates(NamedTuple):
    """Candidate renderings of one domain per image (A: every shadow; B: the ``_TOPK`` best patterns by the fit
    inside the shapes), to be ranked with the boundary band."""

    cost: torch.Tensor  # [N, K] float64: weighted SSE over inner + outer pixels, constraints included (inf: none)
    band_sse: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (pixels [N, T], their
    #   colours [N, T, 3], weights [N, T]) -> [N, K] weighted SSE there, each pixel the best background/shape mix
    dense: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # pick [N] -> background, shape [N, 3, P]


def _fit_b(y: torch.Tensor, wi: torch.Tensor, we: torch.Tensor, size: int, strict: bool = True) -> _Candidates:
    """B: background = low-frequency field, least squares outside the shapes; shapes = ``c2 + d * pattern`` for
    every pattern of the bank (sufficient statistics by three matrix products, closed-form two-parameter fits),
    with ``|d| >= MIN_CONTRAST`` and only patterns that vary inside the shapes."""
    n_img, _, p = y.shape
    phi, phiphi = _tconst("phi", size, y.device), _tconst("phiphi", size, y.device)
    k = phi.shape[0]
    wye = we[:, None, :] * y
    be = (wye @ phi.T).transpose(1, 2).double()                   # [N, K, 3]
    th_e = _solve((we @ phiphi).view(n_img, k, k).double(), be)
    sse_out = (wye * y).sum((1, 2)).double() - (be * th_e).sum((1, 2))
    background = th_e.float().transpose(1, 2) @ phi                # [N, 3, P]
    bank, bank2 = _tconst("bank", size, y.device), _tconst("bank2", size, y.device)
    n = wi.sum(1).double()[:, None]                               # [N, 1]
    nn = n.clamp_min(1e-12)
    # centred on the shapes' mean colour (exact: the model has a constant), so the float32 products below do not
    # lose the residual to cancellation
    mu = ((wi[:, None, :] * y).sum(-1).double() / nn).float()[..., None]  # [N, 3, 1]
    yc = y - mu
    wy = wi[:, None, :] * yc
    s1 = (wi @ bank.T).double()                                   # [N, G]
    s2 = (wi @ bank2.T).double()
    t0 = wy.sum(-1).double()[..., None]                           # [N, 3, 1]
    t1 = (wy.reshape(-1, p) @ bank.T).view(n_img, 3, -1).double()  # [N, 3, G]
    y2 = (wy * yc).sum(-1).double()[..., None]
    det = n * s2 - s1 * s1                                        # [N, G]
    ok = det > 1e-9 * nn ** 2
    dets = torch.where(ok, det, torch.ones_like(det))[:, None]
    d = torch.where(ok[:, None], (n[:, None] * t1 - s1[:, None] * t0) / dets, torch.zeros_like(t1))
    c = torch.where(ok[:, None], (s2[:, None] * t0 - s1[:, None] * t1) / dets, t0 / nn[:, None])
    sse = (y2 - c * t0 - d * t1).sum(1)                           # [N, G]
    # |d| >= MIN_CONTRAST: the channels share one design, so the constrained optimum is the radial projection of
    # d and costs its Schur complement (det / n) times the squared shortfall
    contrast, min_var = (MIN_CONTRAST, _PATTERN_MIN_VAR) if strict else (0.0, 0.0)
    sse = sse + (dets[:, 0] / nn) * (contrast - d.norm(dim=1)).clamp_min(0) ** 2
    var = s2 / nn - (s1 / nn) ** 2
    admissible = ok & (var >= torch.minimum(var.new_tensor(min_var), 0.5 * var.amax(1, True)))
    cost, g = torch.where(admissible, sse, torch.full_like(sse, math.inf)).topk(_TOPK, 1, largest=False)
    idx3 = g[:, None].expand(-1, 3, -1)                           # [N, 3, K]
    dg = d.gather(2, idx3)
    norm = dg.norm(dim=1, keepdim=True)
    unit = torch.where(norm > 1e-9, dg / norm.clamp_min(1e-12), torch.full_like(dg, 1 / math.sqrt(3)))
    dg = torch.where(norm >= contrast, dg, contrast * unit)
    cg = torch.where(n[:, None] > 0, (t0 - dg * s1.gather(1, g)[:, None]) / nn[:, None], torch.full_like(dg, 0.5))
    c2, dd = (cg.float() + mu).transpose(1, 2), dg.float().transpose(1, 2)  # [N, K, 3]: best c2 given d, d

    def band_sse(pix: torch.Tensor, yb: torch.Tensor, wt: torch.Tensor) -> torch.Tensor:
        bg = background.gather(2, pix[:, None].expand(-1, 3, -1)).transpose(1, 2)[:, :, None]  # [N, T, 1, 3]
        pat = bank[g[:, None, :], pix[:, :, None]]                                           # [N, T, K]
        diff = c2[:, None] + dd[:, None] * pat[..., None] - bg
        r = yb[:, :, None] - bg
        cov = ((r * diff).sum(-1) / (diff * diff).sum(-1).clamp_min(1e-12)).clamp(0.0, 1.0)
        r = r - cov[..., None] * diff
        return (wt[..., None] * (r * r).sum(-1)).sum(1)

    def dense(pick: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.arange(n_img, device=y.device)
        return background, c2[rows, pick][..., None] + dd[rows, pick][..., None] * bank[g[rows, pick]][:, None]

    return _Candidates(cost + sse_out[:, None], band_sse, dense)


def _fit_a(y: torch.Tensor, m: torch.Tensor, outer: torch.Tensor, wi: torch.Tensor, we: torch.Tensor, size: int,
           strict: bool = True) -> _Candidates:
    """A: shapes = colour + linear ramp per channel (at most +-_RAMP over the shapes); background = low-frequency field times ``1 - alpha *
    shadow`` for every (alpha, offset) of the renderer -- normal equations from three shadow moments, one batched
    solve -- with ``|shape mean - background mean| >= MIN_CONTRAST``."""
    n_img, _, p = y.shape
    dev = y.device
    phi, phiphi = _tconst("phi", size, dev), _tconst("phiphi", size, dev)
    k = phi.shape[0]
    # inside: [1, x - mean x, y - mean y] (centred on the fitted pixels, so the first coefficient is the mean)
    xy = _tconst("coords", size, dev)
    centre = (wi @ xy.T) / wi.sum(1, keepdim=True).clamp_min(1e-12)  # [N, 2]
    basis = torch.cat([torch.ones(n_img, 1, p, device=dev), xy[None] - centre[..., None]], 1)  # [N, 3, P]
    wb = wi[:, None, :] * basis
    bi = (wb @ y.transpose(1, 2)).double()                         # [N, 3 basis, 3 channels]
    e0 = torch.zeros(n_img, 3, 1, dtype=torch.float64, device=dev)
    e0[:, 0] = 1.0
    sol = _solve((wb @ basis.transpose(1, 2)).double(), torch.cat([bi, e0], 2))
    th_in, hinv_e0 = sol[..., :3], sol[..., 3]                     # [N, 3, 3], [N, 3]
    q_in = hinv_e0[:, 0]
    sse_in = (wi[:, None, :] * y * y).sum((1, 2)).double() - (bi * th_in).sum((1, 2))
    # the renderer's ramp spans at most +-_RAMP over the shapes' neighbourhood: scale stronger ramps down to it
    # (a projection, not the constrained optimum: the reported error can only be higher, never cheated lower;
    # it is common to all shadow candidates, so their ranking by sse_in + ... is unaffected up to a constant)
    ramp = (th_in[:, 1:].transpose(1, 2).float() @ basis[:, 1:]).abs()   # [N, 3, P]
    span = torch.where(outer[:, None], 0.0, ramp).amax(-1)                # [N, 3]: over the dilated mask
    th_in = th_in.clone()
    if strict:
        th_in[:, 1:] *= (_RAMP * 1.05 / span.clamp_min(1e-12)).clamp(max=1.0).double()[:, None]
    contrast = MIN_CONTRAST if strict else 0.0
    # outside: moments sum(w s^j phi phi') and sum(w s^j phi y), j = 0, 1, 2, by matrix products
    sh = _shadows(m).flatten(2)                                    # [N, O, P]
    n_off = sh.shape[1]
    sw = sh * we[:, None, :]                                       # [N, O, P]
    k0 = (we @ phiphi).view(n_img, 1, k, k).double()
    # (float32 moments blur near-ties between shadows by ~1e-7; every shadow is re-ranked with the band, where
    # they differ)
    k1 = (sw.reshape(-1, p) @ phiphi).view(n_img, n_off, k, k).double()
    k2 = ((sw * sh).reshape(-1, p) @ phiphi).view(n_img, n_off, k, k).double()
    yphi = (y[:, :, None, :] * phi).reshape(n_img, 3 * k, p)      # [N, 3K, P]
    b0 = (yphi @ we[..., None]).view(n_img, 1, 3, k).double()
    b1 = (sw @ yphi.transpose(1, 2)).view(n_img, n_off, 3, k).double()
    a = ((we @ phi.T) / we.sum(1, keepdim=True).clamp_min(1e-12)).double()  # [N, K]: mean of unshadowed field
    y2_out = (we[:, None, :] * y * y).sum((1, 2)).double()
    n_al = len(SHADOW_ALPHAS)
    alphas = torch.tensor(SHADOW_ALPHAS, dtype=torch.float64, device=dev).view(-1, 1, 1, 1, 1)
    h = k0[None] - 2 * alphas * k1[None] + alphas ** 2 * k2[None]            # [A, N, O, K, K]
    b = (b0[None] - alphas * b1[None]).transpose(-1, -2)                     # [A, N, O, K, 3]
    sol = _solve(h, torch.cat([b, a[None, :, None, :, None].expand(n_al, -1, n_off, -1, 1)], -1))
    th_out, hinv_a = sol[..., :3], sol[..., 3]                               # [A, N, O, K, 3], [A, N, O, K]
    sse_out = y2_out[None, :, None] - (b * th_out).sum((-1, -2))             # [A, N, O]
    q = q_in[None, :, None] + (a[None, :, None] * hinv_a).sum(-1)
    v = th_in[None, :, None, 0, :] - (a[None, :, None, :, None] * th_out).sum(-2)  # [A, N, O, 3]
    vn = v.norm(dim=-1)
    cost = sse_in[None, :, None] + sse_out + (contrast - vn).clamp_min(0) ** 2 / q.clamp_min(1e-12)
    # every (alpha, offset) stays a candidate: on dark backgrounds the shadow hardly shows outside the band
    cost = cost.permute(1, 0, 2).reshape(n_img, -1)                          # [N, A * O]
    best = torch.arange(cost.shape[1], device=dev).expand(n_img, -1)
    ia, io = best // n_off, best % n_off
    rows = torch.arange(n_img, device=dev)[:, None]
    th_o, ha, vb, vnb, qb = (th_out[ia, rows, io], hinv_a[ia, rows, io], v[ia, rows, io], vn[ia, rows, io],
                             q[ia, rows, io])                                # [N, K, ...]
    # the contrast constraint: move the shape and background means apart along v to |v| = MIN_CONTRAST
    unit = torch.where(vnb[..., None] > 1e-9, vb / vnb.clamp_min(1e-12)[..., None],
                       torch.full_like(vb, 1 / math.sqrt(3)))
    lam = torch.where(vnb[..., None] < contrast, (vb - contrast * unit) / qb.clamp_min(1e-12)[..., None],
                      torch.zeros_like(vb))                                  # [N, K, 3]
    th_i = (th_in[:, None] - hinv_e0[:, None, :, None] * lam[:, :, None, :]).float()  # [N, K, 3 basis, 3]
    th_o = (th_o + ha[..., None] * lam[:, :, None, :]).float()               # [N, K, K_phi, 3]
    alpha = alphas.view(-1).float()[ia]                                      # [N, K]

    def band_sse(pix: torch.Tensor, yb: torch.Tensor, wt: torch.Tensor) -> torch.Tensor:
        # every inner product of y, the unshadowed field f and the shape s, for all candidates at once, as
        # (per-pixel products of basis values) @ (per-candidate products of coefficients); the shadow factor
        # then scales them: no [N, T, candidates, 3] tensor is formed
        n_c, t = th_o.shape[1], pix.shape[1]
        ph = phi.T[pix]                                                              # [N, T, K_phi]
        bs = torch.cat([torch.ones_like(pix, dtype=y.dtype)[..., None], xy.T[pix] - centre[:, None]], -1)  # [N,T,3]

        def outer(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            return (u[..., :, None] * v[..., None, :]).flatten(-2)

        def coef(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:              # [N, C, a, 3] x [N, C, b, 3]
            return torch.einsum("njac,njbc->nabj", u, v).flatten(1, 2)              # -> [N, a*b, C]

        yf = outer(ph, yb) @ th_o.flatten(2).transpose(1, 2)                         # <y, f>  [N, T, C]
        ys = outer(bs, yb) @ th_i.flatten(2).transpose(1, 2)                         # <y, s>
        ff = outer(ph, ph) @ coef(th_o, th_o)                                        # <f, f>
        fs = outer(ph, bs) @ coef(th_o, th_i)                                        # <f, s>
        ss = outer(bs, bs) @ coef(th_i, th_i)                                        # <s, s>
        shade = 1.0 - alpha[:, None] * sh.gather(2, pix[:, None].expand(-1, n_off, -1))[rows, io].transpose(1, 2)
        yf, fs, ff = shade * yf, shade * fs, shade * shade * ff                      # background = shade * f
        rd = ys - yf - fs + ff                                                       # <y - bg, s - bg>
        dd = (ss - 2 * fs + ff).clamp_min(1e-12)                                     # |s - bg|^2
        rr = (yb * yb).sum(-1, keepdim=True) - 2 * yf + ff                           # |y - bg|^2
        cov = (rd / dd).clamp(0.0, 1.0)
        return (wt[..., None] * (rr - 2 * cov * rd + cov * cov * dd).clamp_min(0)).sum(1)

    def dense(pick: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = rows[:, 0]
        shade = 1.0 - alpha[r, pick][:, None] * sh[r, io[r, pick]]           # [N, P]
        return ((th_o[r, pick].transpose(1, 2) @ phi) * shade[:, None],
                th_i[r, pick].transpose(1, 2) @ basis)

    return _Candidates(cost, band_sse, dense)


class StyleFit(NamedTuple):
    """The best rendering of a domain for given images and content masks (see :func:`style_fit`)."""

    error: torch.Tensor           # [N] RMS residual in [0, 1] pixel units, shapes and background weighted 1:1
    reconstruction: torch.Tensor  # [N, 3, S, S] the fitted rendering, in [0, 1] (not clamped)
    coverage: torch.Tensor        # [N, 1, S, S] per-pixel shape weight that best explains each pixel, in [0, 1]


def _fit_chunk(x: torch.Tensor, m: torch.Tensor, domain: str, strict: bool = True) -> StyleFit:
    """The fit of one chunk; ``strict=False`` drops the constraints that only keep non-renderings from fitting
    (contrasts, pattern variance, ramp range): content_mask's segmentation of imperfect outputs."""
    n_img, _, size, _ = x.shape
    p = size * size
    y = x.reshape(n_img, 3, p)
    inner, outer = _regions(m)
    mf = m.reshape(n_img, p)
    n1 = mf.sum(1).float()
    n0 = p - n1
    share = torch.where((n1 > 0) & (n0 > 0), 0.5, 1.0)
    w1 = torch.where(n1 > 0, share / n1.clamp_min(1), 0.0)
    w0 = torch.where(n0 > 0, share / n0.clamp_min(1), 0.0)
    inner, outer = inner.reshape(n_img, p), outer.reshape(n_img, p)
    wi, we = inner * w1[:, None], outer * w0[:, None]
    cands = (_fit_a(y, m, outer, wi, we, size, strict) if domain == "A" else _fit_b(y, wi, we, size, strict))
    # rank the candidates with the band: each band pixel must be a mix of the fitted background and shape
    # (band pixels first in each row, padded to the longest band; padding weighs 0)
    band = ~(inner | outer)
    t = max(1, int(band.sum(1).max()))
    pix = torch.sort(band.to(torch.uint8), dim=1, descending=True, stable=True).indices[:, :t]  # [N, T]
    yb = y.gather(2, pix[:, None].expand(-1, 3, -1)).transpose(1, 2)             # [N, T, 3]
    wt = torch.where(mf.gather(1, pix), w1[:, None], w0[:, None]) * band.gather(1, pix)  # [N, T]
    pick = (cands.cost + cands.band_sse(pix, yb, wt).double()).argmin(1)
    # the chosen rendering, dense: reconstruction, per-pixel coverage, error
    background, shape = cands.dense(pick)                          # [N, 3, P]
    diff = shape - background
    cov = (((y - background) * diff).sum(1) / (diff * diff).sum(1).clamp_min(1e-12)).clamp(0.0, 1.0)
    recon = background + torch.where(inner, 1.0, torch.where(outer, 0.0, cov))[:, None] * diff
    res = y - recon
    w = torch.where(mf, w1[:, None], w0[:, None])[:, None]
    err = ((w * res * res).sum((1, 2)) / 3).clamp_min(0).sqrt()
    return StyleFit(err, recon.view(n_img, 3, size, size), cov.view(n_img, 1, size, size))


def _chunk(x: torch.Tensor) -> int:
    """Images per fit chunk: cache-sized on CPU; 16x larger on an accelerator, where launches cost, not memory."""
    pixels = _CHUNK_PIXELS * (1 if x.device.type == "cpu" else 16)
    return max(1, pixels // (x.shape[-1] * x.shape[-2]))


@torch.no_grad()
def style_fit(images: torch.Tensor, masks: torch.Tensor, domain: str) -> StyleFit:
    """Fit ``domain``'s renderer, style free, to ``images`` (uint8 or float [-1, 1], [N, 3, S, S]) whose content
    is ``masks`` (bool [N, 1, S, S] or [N, S, S]). Runs on the images' device, in chunks of 2**17 pixels (CPU)
    or 2**21 (accelerators)."""
    _check_domain(domain)
    x = _unit(images)
    m = _mask_arg(masks, images)
    if x.shape[0] == 0:
        return StyleFit(x.new_zeros(0), x.clone(), x[:, :1].clone())
    step = _chunk(x)
    parts = [_fit_chunk(x[i:i + step], m[i:i + step], domain) for i in range(0, x.shape[0], step)]
    return StyleFit(*(torch.cat(t) for t in zip(*parts)))


def fit_error(images: torch.Tensor, masks: torch.Tensor, domain: str) -> torch.Tensor:
    """Per-image paired error with the style marginalised: the RMS residual of the best ``domain`` rendering of
    content ``masks`` (the translation's *input* masks) in any style. Lower is better: ~0.001 = exactly such a
    rendering (uint8 rounding); trivial outputs (identity, negation, constants, blur, noise, other content)
    average 0.05-0.39. NaN outputs give NaN."""
    return style_fit(images, masks, domain).error


# -------------------------------------------------------------------------------------------- content

def _coarse_mask(x: torch.Tensor, domain: str) -> torch.Tensor:
    """Pixels far from the background colour (the border's median; in A, also its shadowed versions)."""
    border = torch.cat([x[..., 0, :], x[..., -1, :], x[..., 1:-1, 0], x[..., 1:-1, -1]], -1)
    bg = border.median(-1).values[..., None, None]                 # [N, 3, 1, 1]
    if domain == "A":
        s = (x * bg).sum(1, keepdim=True) / (bg * bg).sum(1, keepdim=True).clamp_min(1e-6)
        bg = bg * s.clamp(1 - max(SHADOW_ALPHAS) - 0.1, 1.05)
    return ((x - bg).norm(dim=1, keepdim=True) > _SEPARATION / 2)


@torch.no_grad()
def content_mask(images: torch.Tensor, domain: str, iterations: int = 2) -> torch.Tensor:
    """Shape mask of images rendered by ``domain``'s renderer: [N, 3, S, S] -> bool [N, 1, S, S].

    Float images are taken in [-1, 1] (model range), uint8 in [0, 255]. A coarse mask (colour distance from the
    background) is refined ``iterations`` times: fit the domain given the current mask, then give each pixel to
    whichever of the fitted background and shape colours explains it (coverage > 1/2). The fit here drops the
    appearance constraints of :func:`fit_error` (contrasts, pattern variance, ramp range): it segments, it does
    not judge, so imperfect outputs (blurred, low-contrast, half translated) keep most of their geometry."""
    _check_domain(domain)
    x = _unit(images)
    step = _chunk(x)
    out = [torch.zeros(0, 1, *x.shape[2:], dtype=torch.bool, device=x.device)]
    for i in range(0, x.shape[0], step):
        xc = x[i:i + step]
        m = _coarse_mask(xc, domain)
        for _ in range(iterations):
            m = _fit_chunk(xc, m, domain, strict=False).coverage > 0.5
        out.append(m)
    return torch.cat(out)


def content_error(images: torch.Tensor, target_masks: torch.Tensor, domain: str) -> torch.Tensor:
    """Per-image 1 - IoU between the content recovered from ``images`` (as ``domain``) and ``target_masks``.

    For translations A->B, pass the B images, ``"B"`` and the A inputs' masks: 0 means geometry kept exactly.
    Geometry only: pair it with :func:`fit_error`, which also judges the appearance."""
    pred = content_mask(images, domain)
    tgt = target_masks.to(device=pred.device, dtype=torch.bool)
    if tgt.dim() == 3:
        tgt = tgt.unsqueeze(1)
    if tgt.shape != pred.shape:
        raise ValueError(f"target masks {tuple(target_masks.shape)} do not match images {tuple(images.shape)}")
    inter = (pred & tgt).flatten(1).sum(1).float()
    union = (pred | tgt).flatten(1).sum(1).float()
    iou = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))
    return 1.0 - iou


__all__ = ["VERSION", "DOMAINS", "SPLITS", "THRESHOLD", "MIN_CONTRAST", "SHADOW_ALPHAS", "render",
           "render_batch", "SyntheticDomain", "synthetic_domains", "StyleFit", "style_fit", "fit_error", "content_mask",
           "content_error"]

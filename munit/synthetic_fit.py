"""The style fit of the synthetic set: its answer to "is this output *some* target-domain rendering of the
input's content?" -- :func:`fit_error` (the default objective on synthetic data) and :func:`content_error` (geometry
only), both against the paired content masks of :mod:`munit.synthetic`.

The renderer is linear in its colours given a few geometry parameters, so fitting it with the style free is a small
grid search (A: every shadow; B: every pattern) times closed-form least squares under the renderer's own contrast
rules, batched in torch on the images' device. The method and its margins: docs/metrics.md, "The style fit".
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F

from .synthetic import (LOWFREQ, MIN_CONTRAST, PATTERN_MIN_VAR, PATTERNS, RAMP, SEPARATION, SHADOW_ALPHAS,
                        check_domain, lowfreq_basis, pattern_bank, shadow_setup)

_RIDGE = 1e-7                            # Tikhonov term of every normal-equation solve
_CHUNK_PIXELS = 2 ** 17                  # pixels per fit chunk on a CPU (128 images at 32 px): stays in cache
_TOPK = 8                                # B's patterns re-ranked with the boundary band


# ------------------------------------------------------------------------------- the renderer's geometry in torch

_TCACHE: dict[tuple, torch.Tensor] = {}


def _tconst(name: str, size: int, device: torch.device) -> torch.Tensor:
    """Torch copies of the renderer's cached geometry per (size, device), the fit running on the caller's device:

    * ``lowfreq`` [K, P]: the background basis, one row per (u, v) of LOWFREQ;
    * ``lowfreq_pairs`` [P, K*K]: products of every pair of basis rows, so that one matmul gives every normal matrix;
    * ``patterns`` [G, P]: B's pattern bank (fraction of each pixel in pattern colour 1);
    * ``patterns_squared`` [G, P]: its squares (the patterns' second moments);
    * ``pixel_xy`` [2, P]: x and y of the pixel centres in [0, 1]."""
    key = (name, size, str(device))
    if key not in _TCACHE:
        if name == "lowfreq":
            t = torch.from_numpy(lowfreq_basis(size)).reshape(len(LOWFREQ), -1)
        elif name == "lowfreq_pairs":
            p = torch.from_numpy(lowfreq_basis(size)).reshape(len(LOWFREQ), -1)
            t = (p[:, None, :] * p[None, :, :]).reshape(-1, p.shape[1]).T.contiguous()
        elif name == "patterns":
            t = torch.from_numpy(pattern_bank(size)).reshape(len(PATTERNS), -1)
        elif name == "patterns_squared":
            t = torch.from_numpy(pattern_bank(size)).reshape(len(PATTERNS), -1) ** 2
        elif name == "pixel_xy":
            c = (torch.arange(size, dtype=torch.float32) + 0.5) / size
            t = torch.stack([c[None, :].expand(size, size), c[:, None].expand(size, size)]).reshape(2, -1)
        else:
            raise KeyError(name)
        _TCACHE[key] = t.to(device)
    return _TCACHE[key]


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
    offsets, taps = shadow_setup(size)
    r = len(taps) // 2
    mo = max(max(abs(a), abs(b)) for a, b in offsets)
    length = size + 2 * mo
    mp = F.pad(m.float(), (mo + r,) * 4)
    rows = sum(float(taps[k]) * mp[..., k:k + length, :] for k in range(len(taps)))
    blur = sum(float(taps[k]) * rows[..., k:k + length] for k in range(len(taps)))  # [N, 1, L, L]
    return torch.cat([blur[..., mo - dy:mo - dy + size, mo - dx:mo - dx + size] for dx, dy in offsets], 1)


# ---------------------------------------------------------------------------------------------------- the fit

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
    phi, phi_pairs = _tconst("lowfreq", size, y.device), _tconst("lowfreq_pairs", size, y.device)
    k = phi.shape[0]
    wye = we[:, None, :] * y
    be = (wye @ phi.T).transpose(1, 2).double()                   # [N, K, 3]
    th_e = _solve((we @ phi_pairs).view(n_img, k, k).double(), be)
    sse_out = (wye * y).sum((1, 2)).double() - (be * th_e).sum((1, 2))
    background = th_e.float().transpose(1, 2) @ phi                # [N, 3, P]
    bank, bank_sq = _tconst("patterns", size, y.device), _tconst("patterns_squared", size, y.device)
    n = wi.sum(1).double()[:, None]                               # [N, 1]
    nn = n.clamp_min(1e-12)
    # centred on the shapes' mean colour (exact: the model has a constant), so the float32 products below do not
    # lose the residual to cancellation
    mu = ((wi[:, None, :] * y).sum(-1).double() / nn).float()[..., None]  # [N, 3, 1]
    yc = y - mu
    wy = wi[:, None, :] * yc
    s1 = (wi @ bank.T).double()                                   # [N, G]
    s2 = (wi @ bank_sq.T).double()
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
    contrast, min_var = (MIN_CONTRAST, PATTERN_MIN_VAR) if strict else (0.0, 0.0)
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
    """A: shapes = colour + linear ramp per channel (at most +-RAMP over the shapes); background = low-frequency
    field times ``1 - alpha * shadow`` for every (alpha, offset) of the renderer -- normal equations from three
    shadow moments, one batched solve -- with ``|shape mean - background mean| >= MIN_CONTRAST``."""
    n_img, _, p = y.shape
    dev = y.device
    phi, phi_pairs = _tconst("lowfreq", size, dev), _tconst("lowfreq_pairs", size, dev)
    k = phi.shape[0]
    # inside: [1, x - mean x, y - mean y] (centred on the fitted pixels, so the first coefficient is the mean)
    xy = _tconst("pixel_xy", size, dev)
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
    # the renderer's ramp spans at most +-RAMP over the shapes' neighbourhood: scale stronger ramps down to it
    # (a projection, not the constrained optimum: the reported error can only be higher, never cheated lower;
    # it is common to all shadow candidates, so their ranking by sse_in + ... is unaffected up to a constant)
    ramp = (th_in[:, 1:].transpose(1, 2).float() @ basis[:, 1:]).abs()   # [N, 3, P]
    span = torch.where(outer[:, None], 0.0, ramp).amax(-1)                # [N, 3]: over the dilated mask
    th_in = th_in.clone()
    if strict:
        th_in[:, 1:] *= (RAMP * 1.05 / span.clamp_min(1e-12)).clamp(max=1.0).double()[:, None]
    contrast = MIN_CONTRAST if strict else 0.0
    # outside: moments sum(w s^j phi phi') and sum(w s^j phi y), j = 0, 1, 2, by matrix products
    sh = _shadows(m).flatten(2)                                    # [N, O, P]
    n_off = sh.shape[1]
    sw = sh * we[:, None, :]                                       # [N, O, P]
    k0 = (we @ phi_pairs).view(n_img, 1, k, k).double()
    # (float32 moments blur near-ties between shadows by ~1e-7; every shadow is re-ranked with the band, where
    # they differ)
    k1 = (sw.reshape(-1, p) @ phi_pairs).view(n_img, n_off, k, k).double()
    k2 = ((sw * sh).reshape(-1, p) @ phi_pairs).view(n_img, n_off, k, k).double()
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
    check_domain(domain)
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
    rendering (uint8 rounding); what trivial outputs score: docs/metrics.md, "The style fit". NaN outputs give
    NaN."""
    return style_fit(images, masks, domain).error


# -------------------------------------------------------------------------------------------- content

def _coarse_mask(x: torch.Tensor, domain: str) -> torch.Tensor:
    """Pixels far from the background colour (the border's median; in A, also its shadowed versions)."""
    border = torch.cat([x[..., 0, :], x[..., -1, :], x[..., 1:-1, 0], x[..., 1:-1, -1]], -1)
    bg = border.median(-1).values[..., None, None]                 # [N, 3, 1, 1]
    if domain == "A":
        s = (x * bg).sum(1, keepdim=True) / (bg * bg).sum(1, keepdim=True).clamp_min(1e-6)
        bg = bg * s.clamp(1 - max(SHADOW_ALPHAS) - 0.1, 1.05)
    return ((x - bg).norm(dim=1, keepdim=True) > SEPARATION / 2)


@torch.no_grad()
def content_mask(images: torch.Tensor, domain: str, iterations: int = 2) -> torch.Tensor:
    """Shape mask of images rendered by ``domain``'s renderer: [N, 3, S, S] -> bool [N, 1, S, S].

    Float images are taken in [-1, 1] (model range), uint8 in [0, 255]. A coarse mask (colour distance from the
    background) is refined ``iterations`` times: fit the domain given the current mask, then give each pixel to
    whichever of the fitted background and shape colours explains it (coverage > 1/2). The fit here drops the
    appearance constraints of :func:`fit_error` (contrasts, pattern variance, ramp range): it segments, it does
    not judge, so imperfect outputs (blurred, low-contrast, half translated) keep most of their geometry."""
    check_domain(domain)
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


__all__ = ["StyleFit", "style_fit", "fit_error", "content_mask", "content_error"]

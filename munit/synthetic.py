"""An embedded, deterministic two-domain dataset: no download, exact ground truth.

Each image is the product of two independent factors:
  * content -- 1 to 3 shapes (circle, square, triangle) forming a binary foreground mask;
  * style   -- the appearance of one domain, drawn independently per image and per domain.

Domain A ("day") has a bright background and dark solid shapes with faint noise; domain B ("night") has a dark
background and bright shapes filled with two-colour stripes at a random angle and period. Image ``i`` of A and
image ``i`` of B share their content and nothing else, so a translator must invert polarity and invent texture
while keeping geometry, and a style encoder has real within-domain variation (hues, stripe angle and period).

The domains are separated by a *luminance gap*: every background and foreground colour is pushed into a band on
its side of ``THRESHOLD`` (Rec.601 luma), so thresholding recovers the content mask of any image of a known
domain (:func:`content_mask`), and a translation's geometry can be scored exactly against the paired mask
(:func:`content_error`). Only antialiased edge pixels can fall on the wrong side.

Every image is seeded by ``(seed, split, index, stream)`` alone, so it is reproducible independently of the
others and of how many are generated.
"""
from __future__ import annotations

import colorsys
import math

import numpy as np
import torch
from torch.utils.data import Dataset

DOMAINS = ("A", "B")
SPLITS = {"train": 0, "val": 1, "test": 2}
THRESHOLD = 0.5
LUMA = (0.299, 0.587, 0.114)  # Rec.601

_SS = 4                  # supersampling factor per axis for antialiasing
_A_BG_MIN_Y = 0.62       # day background luma floor (HSV V >= 0.75 alone only guarantees ~0.52 for blue hues)
_A_FG_MAX_Y = 0.35       # day shapes: V <= 0.35 already bounds luma
_A_NOISE = (0.02, 0.05)  # day noise: std, clip; keeps both A bands >= 0.07 away from the threshold
_B_BG_MAX_Y = 0.22       # night background: V <= 0.22 already bounds luma
_B_FG_MIN_Y = 0.65       # night stripes luma floor (a saturated blue at V = 1 has luma 0.11 without it)
_DEFAULT_N = {"train": 2000, "val": 100, "test": 100}


def _split_id(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return SPLITS[split]


def _check_domain(domain: str) -> int:
    if domain not in DOMAINS:
        raise ValueError(f"unknown synthetic domain {domain!r}; choose one of {', '.join(DOMAINS)}")
    return DOMAINS.index(domain)


def _rng(seed: int, split: str, i: int, stream: int) -> np.random.Generator:
    # stream 0 = content, 1 = style of A, 2 = style of B: independent, and independent of other indices
    return np.random.default_rng([seed, _split_id(split), i, stream])


def _luma(rgb: np.ndarray) -> float:
    return float(np.dot(rgb, LUMA))


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32)


def _at_least(rgb: np.ndarray, y_min: float) -> np.ndarray:
    """Blend towards white just enough to reach luma ``y_min`` (luma is linear, so this is exact); keeps hue."""
    y = _luma(rgb)
    if y >= y_min:
        return rgb
    t = (y_min - y) / (1.0 - y)
    return rgb + (1.0 - rgb) * t


def _at_most(rgb: np.ndarray, y_max: float) -> np.ndarray:
    y = _luma(rgb)
    return rgb if y <= y_max else rgb * (y_max / y)


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


def _edge_remap(cov: np.ndarray, y_bg: np.ndarray | float, y_fg: np.ndarray | float) -> np.ndarray:
    """Warp coverage so a pixel's luma crosses THRESHOLD exactly where the hard mask (coverage > 0.5) flips.

    Linear blending would put the crossing at coverage (T - y_bg) / (y_fg - y_bg), which depends on the style;
    this piecewise-linear warp (monotone, fixing 0 and 1) keeps the antialiasing but moves the crossing to
    midway between the coverage levels 8/16 and 9/16, so the luma-recovered mask equals the hard mask on edge
    pixels too and a perfect translation scores content_error ~0."""
    knee = 0.5 + 0.5 / _SS ** 2
    cross = (THRESHOLD - y_bg) / (y_fg - y_bg)
    return np.where(cov <= knee, cov * (cross / knee), cross + (cov - knee) * ((1 - cross) / (1 - knee))
                    ).astype(np.float32)


def _style_a(rng: np.random.Generator, cov: np.ndarray) -> np.ndarray:
    bg = _at_least(_hsv(rng.random(), rng.uniform(0.05, 0.35), rng.uniform(0.75, 1.0)), _A_BG_MIN_Y)
    fg = _at_most(_hsv(rng.random(), rng.uniform(0.5, 1.0), rng.uniform(0.1, 0.35)), _A_FG_MAX_Y)
    c = _edge_remap(cov, _luma(bg), _luma(fg))[..., None]
    clean = bg * (1 - c) + fg * c
    # noise never carries a pixel across the threshold: a pixel's luma noise is at most its largest channel
    # noise (luma weights sum to 1), so clip each channel to the pixel's distance from the threshold, less a
    # margin for uint8 rounding
    std, clip = _A_NOISE
    room = np.clip(np.abs(clean @ np.asarray(LUMA, dtype=np.float32) - THRESHOLD) - 0.005, 0.0, clip)[..., None]
    noise = rng.standard_normal((*cov.shape, 3), dtype=np.float32) * np.float32(std)
    return clean + np.clip(noise, -room, room)


def _style_b(rng: np.random.Generator, canvas: np.ndarray, cov: np.ndarray) -> np.ndarray:
    size = cov.shape[0]
    bg = _at_most(_hsv(rng.random(), rng.uniform(0.2, 0.8), rng.uniform(0.03, 0.22)), _B_BG_MAX_Y)
    h1 = rng.random()
    h2 = h1 + rng.uniform(0.25, 0.75)              # a clearly different second hue
    c1 = _at_least(_hsv(h1, rng.uniform(0.4, 0.9), rng.uniform(0.75, 1.0)), _B_FG_MIN_Y)
    c2 = _at_least(_hsv(h2, rng.uniform(0.4, 0.9), rng.uniform(0.75, 1.0)), _B_FG_MIN_Y)
    angle = rng.uniform(0.0, math.pi)
    period = rng.uniform(0.04, 0.12) * size         # in output pixels
    phase = rng.random()
    # stripe parity = floor(2 * (projection / period + phase)); the offset keeps it positive so the integer cast
    # floors (|projection / period| <= sqrt(2) / 0.04 < 36), ~40x faster than a float modulo
    coords = (np.arange(size * _SS, dtype=np.float32) + 0.5) / _SS  # output-pixel units
    proj = (coords[None, :] * np.float32(2 * math.cos(angle) / period)
            + coords[:, None] * np.float32(2 * math.sin(angle) / period) + np.float32(2 * (phase + 64)))
    first = canvas & ((proj.astype(np.int32) & 1) == 0)
    f1 = _downsample(first, size)
    f2 = cov - f1
    y_fg = (f1 * _luma(c1) + f2 * _luma(c2)) / np.maximum(cov, 1e-6)
    scale = _edge_remap(cov, _luma(bg), np.where(cov > 0, y_fg, 1.0)) / np.maximum(cov, 1e-6)
    f1, f2 = f1 * scale, f2 * scale
    return bg * (1 - f1 - f2)[..., None] + c1 * f1[..., None] + c2 * f2[..., None]


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _render_many(i: int, domains: tuple[str, ...], size: int, seed: int, split: str
                 ) -> tuple[list[np.ndarray], np.ndarray]:
    """Image i of each requested domain (content computed once) and the shared hard mask."""
    if size < 1 or i < 0 or seed < 0:
        raise ValueError(f"need size >= 1, index >= 0 and seed >= 0 (got {size}, {i}, {seed})")
    canvas = _content(_rng(seed, split, i, 0), size)
    cov = _downsample(canvas, size)
    images = []
    for d in domains:
        rng = _rng(seed, split, i, _check_domain(d) + 1)
        images.append(_to_uint8(_style_a(rng, cov) if d == "A" else _style_b(rng, canvas, cov)))
    return images, cov > 0.5


def render(i: int, domain: str, size: int, seed: int = 0, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Image ``i`` of ``domain``: (uint8 [size, size, 3], bool content mask [size, size])."""
    (img,), mask = _render_many(i, (domain,), size, seed, split)
    return img, mask


def _generate(domains: tuple[str, ...], size: int, n: int, seed: int, split: str
              ) -> tuple[list[torch.Tensor], torch.Tensor]:
    images = [np.empty((n, size, size, 3), dtype=np.uint8) for _ in domains]
    masks = np.empty((n, size, size), dtype=bool)
    for i in range(n):
        imgs, masks[i] = _render_many(i, domains, size, seed, split)
        for out, img in zip(images, imgs):
            out[i] = img
    return ([torch.from_numpy(x).permute(0, 3, 1, 2).contiguous() for x in images],
            torch.from_numpy(masks).unsqueeze(1))


class SyntheticDomain(Dataset):
    """One domain of one split, generated once at construction and held in memory as uint8.

    ``images`` is a single [N, 3, S, S] tensor so a training stream can move it to the GPU once and batch by
    indexing (see :class:`munit.data.DomainStream`)."""

    source = "synthetic"

    def __init__(self, domain: str, size: int, n: int, seed: int = 0, split: str = "train"):
        _check_domain(domain)
        _split_id(split)
        (images,), masks = _generate((domain,), size, n, seed, split)
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
        return f"SyntheticDomain({self.name!r}, n={len(self)}, size={self.image_size}, seed={self.seed}, split={self.split!r})"


def synthetic_domains(size: int, split: str = "train", n: int | None = None, seed: int = 0
                      ) -> tuple[SyntheticDomain, SyntheticDomain]:
    """Domains A and B of one split, paired by index (same content masks). Default n: 2000 train, 100 val/test."""
    n = _DEFAULT_N[split] if n is None and split in _DEFAULT_N else n
    _split_id(split)
    if n is None or n < 1:
        raise ValueError(f"synthetic_domains needs n >= 1, got {n}")
    (a, b), masks = _generate(DOMAINS, size, n, seed, split)
    return (SyntheticDomain._from_tensors("A", a, masks, seed, split),
            SyntheticDomain._from_tensors("B", b, masks, seed, split))


def content_mask(images: torch.Tensor, domain: str, threshold: float = THRESHOLD) -> torch.Tensor:
    """Foreground mask of images of a known domain by luma threshold: [N,3,H,W] -> bool [N,1,H,W].

    Float images are taken in [-1, 1] (model range), uint8 in [0, 255]. A's shapes are darker than the
    threshold, B's brighter."""
    _check_domain(domain)
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"content_mask expects [N, 3, H, W] images, got {tuple(images.shape)}")
    x = images.float() / 255.0 if images.dtype == torch.uint8 else (images.float() + 1.0) / 2.0
    w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    y = (x * w).sum(1, keepdim=True)
    return y < threshold if domain == "A" else y > threshold


def content_error(images: torch.Tensor, target_masks: torch.Tensor, domain: str,
                  threshold: float = THRESHOLD) -> torch.Tensor:
    """Per-image 1 - IoU between the content recovered from ``images`` (as ``domain``) and ``target_masks``.

    For translations A->B, pass the B images, ``"B"`` and the A inputs' masks: 0 means geometry kept exactly."""
    pred = content_mask(images, domain, threshold)
    tgt = target_masks.to(device=pred.device, dtype=torch.bool)
    if tgt.dim() == 3:
        tgt = tgt.unsqueeze(1)
    if tgt.shape != pred.shape:
        raise ValueError(f"target masks {tuple(target_masks.shape)} do not match images {tuple(images.shape)}")
    inter = (pred & tgt).flatten(1).sum(1).float()
    union = (pred | tgt).flatten(1).sum(1).float()
    iou = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))
    return 1.0 - iou


__all__ = ["DOMAINS", "THRESHOLD", "render", "SyntheticDomain", "synthetic_domains", "content_mask",
           "content_error"]

"""Datasets and training streams: real image folders (AFHQ or any two folders) or the embedded synthetic pair.

Datasets return *uint8* [3, S, S] tensors already resized to the model size; normalisation to [-1, 1] and the
random horizontal flip are applied to whole batches on the target device (:func:`to_model_range`,
:class:`DomainStream`), so the per-sample work on the host is only decode + resize, and in-memory datasets
never leave the GPU.

:class:`DomainStream` is an infinite stream of unpaired batches whose order is a pure function of
``(seed, epoch, position)``; its ``state_dict`` therefore resumes a run exactly, mid-epoch or not.
"""
from __future__ import annotations

import hashlib
import logging
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import DataLoader, Dataset, Subset

from .config import SYNTHETIC
from .synthetic import SyntheticDomain, synthetic_domains

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
SPLITS = ("train", "val")


class DataError(ValueError):
    """Data that cannot be used: a missing or empty folder, unreadable images, a bad split. The message names
    the path and the layout that was expected."""


@dataclass
class DataConfig:
    """Where images come from. ``source`` is :data:`SYNTHETIC` or a root folder (see :func:`load_domains`).

    The image size is not a data setting: it belongs to the model (:class:`munit.config.ModelConfig`), and
    :func:`load_domains` takes it as an argument, so the two can never disagree."""

    source: str = SYNTHETIC
    domains: tuple[str, str] = ("dog", "cat")
    synthetic_train: int = 2000
    synthetic_val: int = 100
    seed: int = 0
    val_fraction: float = 0.1      # held-out share of plain two-folder layouts (AFHQ has its own val split)
    max_images: int | None = None  # cap per domain and split, e.g. for quick runs

    def __post_init__(self) -> None:
        self.domains = tuple(self.domains)  # JSON round trips give lists
        if len(self.domains) != 2 or not all(isinstance(d, str) and d for d in self.domains):
            raise DataError(f"DataConfig.domains must be two non-empty names or paths, got {self.domains!r}")
        for name in ("synthetic_train", "synthetic_val"):
            if getattr(self, name) < 1:
                raise DataError(f"DataConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise DataError(f"DataConfig.seed must be >= 0, got {self.seed}")
        if not 0.0 < self.val_fraction < 1.0:
            raise DataError(f"DataConfig.val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.max_images is not None and self.max_images < 1:
            raise DataError(f"DataConfig.max_images must be None or >= 1, got {self.max_images}")

    @classmethod
    def from_saved(cls, d: dict) -> "DataConfig":
        """A DataConfig from a saved dict (a checkpoint's or config.json's); checkpoints written before the image
        size moved to the model config carry an ``image_size`` here, which is ignored."""
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names - {"image_size"}
        if unknown:
            raise DataError(f"unknown DataConfig field(s) in a saved config: {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in d.items() if k in names})


# ----------------------------------------------------------------------------------------------- image files

def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (not recursive), sorted by name; hidden files ignored."""
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file())


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit RGB. Transparency is composited on white; 16/32-bit integer images are scaled
    from their full 16-bit range (PIL's own convert would clip them to 255, turning most pixels white)."""
    if img.getexif().get(0x0112, 1) != 1:  # camera photos store their rotation in EXIF Orientation
        img = ImageOps.exif_transpose(img)
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(img, dtype=np.float64)  # "I" is how PIL opens some 16-bit PNG/TIFF files
        img = Image.fromarray(np.clip(a / 257.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif mode == "F":
        a = np.asarray(img, dtype=np.float64)
        a = a * 255.0 if np.nanmax(a) <= 1.0 else a  # float images are [0, 1] or already [0, 255]
        img = Image.fromarray(np.clip(np.nan_to_num(a) + 0.5, 0, 255).astype(np.uint8), "L")
    elif mode == "1":
        img = img.convert("L")
    if img.mode in ("RGBA", "LA", "RGBa", "La", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


# What load_image does to a file, as a name: part of every metric cache key of a folder data set, so cached real-set
# statistics made by another transform are never reused. Change it whenever load_image or _to_rgb changes.
LOADER = "pil: exif-rotate, 16-bit->8-bit, alpha on white, RGB; squash-resize bilinear (v1)"


def load_image(path: Path, size: int) -> torch.Tensor:
    """Decode, convert to RGB, squash-resize to size x size (bilinear): uint8 [3, size, size]. See LOADER."""
    with Image.open(path) as img:
        img = _to_rgb(img)
        if img.size != (size, size):
            img = img.resize((size, size), Image.Resampling.BILINEAR)
        return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def why_unreadable(e: Exception) -> str:
    if isinstance(e, Image.DecompressionBombError):
        return (f"over PIL's pixel limit ({e}); if the file is trusted, raise PIL.Image.MAX_IMAGE_PIXELS "
                f"(now {Image.MAX_IMAGE_PIXELS})")
    return f"{type(e).__name__}: {e}"


_CHECKED: dict[tuple[str, int, int, int | None], str | None] = {}


def _unreadable(path: Path) -> str | None:
    """Why ``path`` cannot be used as an image (None: it can). Memoised by path, size, mtime and PIL's pixel
    limit, so the train and val splits of one folder are checked once."""
    try:
        st = path.stat()
    except OSError as e:
        return f"{type(e).__name__}: {e}"
    key = (str(path), st.st_size, st.st_mtime_ns, Image.MAX_IMAGE_PIXELS)
    if key not in _CHECKED:
        try:
            with Image.open(path) as img:
                img.verify()  # header and (PNG) chunk CRCs; a truncated JPEG can still pass, see __getitem__
            _CHECKED[key] = None
        except Exception as e:  # PIL raises many types for bad files (OSError, SyntaxError, ValueError, ...)
            _CHECKED[key] = why_unreadable(e)
    return _CHECKED[key]


def readable_images(paths: Sequence[Path], cap: int | None = None) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The readable files of ``paths`` (in order, at most ``cap``) and the skipped ones with the reason. A cheap
    check (header, PNG CRCs), in threads: it is I/O and zlib work, which release the GIL; in chunks, so a small
    cap on a large folder only opens what it needs."""
    cap = len(paths) if cap is None else cap
    good: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        for lo in range(0, len(paths), 256):
            chunk = paths[lo:lo + 256]
            for p, why in zip(chunk, pool.map(_unreadable, chunk)):
                if len(good) < cap:
                    if why is None:
                        good.append(p)
                    else:
                        skipped.append((p, why))
            if len(good) >= cap:
                break
    return good, skipped


def _warn_skipped(skipped: Sequence[tuple[Path, str]], where: str) -> None:
    shown = "\n  ".join(f"{p} ({why})" for p, why in skipped[:20])
    more = f"\n  ... and {len(skipped) - 20} more" if len(skipped) > 20 else ""
    warnings.warn(f"skipped {len(skipped)} unreadable image file(s) {where}:\n  {shown}{more}", stacklevel=3)


class ImageFolderDomain(Dataset):
    """One domain as a list of image files; items are uint8 [3, S, S].

    Unreadable files are found by a cheap check at construction (dropped, listed in ``skipped`` and reported
    in one warning with the reason). A file that passes the check but fails to decode later is replaced by the
    next readable index, deterministically; the first such failure warns once, later ones only extend
    ``skipped`` (in DataLoader worker processes, their copy of it). ``verify=False``: the caller has checked
    the files already (and passes what it skipped as ``skipped``)."""

    def __init__(self, paths: Sequence[Path | str], image_size: int, name: str | None = None,
                 source: Path | str | None = None, verify: bool = True, max_images: int | None = None,
                 skipped: Sequence[Path] = ()):
        paths = [Path(p) for p in paths]
        self.image_size = image_size
        self.name = name or (paths[0].parent.name if paths else "images")
        self.source = Path(source) if source is not None else (paths[0].parent if paths else None)
        self.skipped: list[Path] = list(skipped)
        cap = len(paths) if max_images is None else max_images
        if verify and paths:
            paths, bad = readable_images(paths, cap)
            self.skipped += [p for p, _ in bad]
            if bad:
                _warn_skipped(bad, f"in domain {self.name!r} ({self.source})")
        if not paths:
            raise DataError(f"no readable images in domain {self.name!r} ({self.source}); "
                            f"{len(self.skipped)} file(s) failed to open")
        self.paths: list[Path] = paths[:cap]
        self._bad: set[int] = set()
        self._warned = False

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        n = len(self.paths)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for domain {self.name!r} of {n} images")
        i = int(i) % n
        for k in range(n):
            j = (i + k) % n
            if j in self._bad:
                continue
            try:
                return load_image(self.paths[j], self.image_size)
            except Exception as e:  # noqa: BLE001 -- any decode failure means "skip this file"
                self._bad.add(j)
                self.skipped.append(self.paths[j])
                if not self._warned:
                    self._warned = True
                    warnings.warn(f"unreadable image {self.paths[j]} ({e}); substituting the next readable one. "
                                  f"Further failures in domain {self.name!r} are skipped silently "
                                  "(see its .skipped)", stacklevel=2)
        raise DataError(f"no readable images left in domain {self.name!r} ({self.source})")

    def __repr__(self) -> str:
        return f"ImageFolderDomain({self.name!r}, n={len(self)}, size={self.image_size}, source={str(self.source)!r})"


# ------------------------------------------------------------------------------------------- layout resolving

def _layouts(root: Path | str, a: str, b: str) -> str:
    return (f"Expected {root}/{{train,val}}/{{{a},{b}}}/*.jpg|png (AFHQ layout), two image folders "
            f"{root}/{a} and {root}/{b}, or data domains given as two image folder paths")


def _domain_paths(folder: Path, layout: str) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"domain folder not found: {folder}. {layout}")
    paths = list_images(folder)
    if not paths:
        raise DataError(f"no images in domain folder {folder} (extensions: "
                        f"{' '.join(sorted(e[1:] for e in IMAGE_EXTENSIONS))}). {layout}")
    return paths


def _held_out(paths: list[Path], split: str, val_fraction: float, folder: Path) -> list[Path]:
    """Deterministic split of a sorted list: the last ``val_fraction`` (at least one) is val."""
    if len(paths) < 2:
        raise DataError(f"domain folder {folder} has {len(paths)} image; a train/val split needs at least 2")
    n_val = min(len(paths) - 1, max(1, round(len(paths) * val_fraction)))
    return paths[-n_val:] if split == "val" else paths[:-n_val]


@dataclass(frozen=True)
class _DomainFiles:
    """One domain of one split of a folder data set: its readable files (capped) and the skipped ones."""

    name: str
    folder: Path
    paths: list[Path]
    skipped: list[tuple[Path, str]]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


def _synthetic_count(cfg: DataConfig, split: str) -> int:
    n = cfg.synthetic_train if split == "train" else cfg.synthetic_val
    return min(n, cfg.max_images) if cfg.max_images else n


def _domain_files(cfg: DataConfig, split: str, warn: bool = False) -> tuple[_DomainFiles, _DomainFiles]:
    """The two domains' files of ``split`` of a folder source, resolved as :func:`load_domains` describes:
    listed, checked (header and PNG CRCs, memoised per file by :func:`_unreadable`), split and capped. No image is
    decoded. ``warn``: one warning per domain that lists its unreadable files."""
    a, b = cfg.domains
    cap = cfg.max_images
    root = Path(cfg.source).expanduser()
    layout = _layouts(root, a, b)
    as_paths = [Path(d).expanduser() for d in cfg.domains]
    if root.exists() and not root.is_dir() and not all(p.is_dir() for p in as_paths):
        raise DataError(f"data root {root} is a file, not a folder. {layout}")
    if root.is_dir() and any((root / s).is_dir() for s in SPLITS):  # 2. AFHQ
        split_dir = root / split
        if not split_dir.is_dir():
            raise DataError(f"AFHQ split folder not found: {split_dir}. {layout}")
        folders = [split_dir / a, split_dir / b]
        for f in folders:
            if not f.is_dir():
                raise DataError(f"AFHQ domain folder not found: {f}. {layout}")
        out = []
        for f, name in zip(folders, (a, b)):
            good, bad = readable_images(_domain_paths(f, layout), cap)
            if warn and bad:
                _warn_skipped(bad, f"in domain {name!r} ({f})")
            if not good:
                raise DataError(f"no readable images in domain {name!r} ({f}); {len(bad)} file(s) failed to open")
            out.append(_DomainFiles(name, f, good, bad))
        return out[0], out[1]
    names = [a, b]
    if root.is_dir() and (root / a).is_dir() and (root / b).is_dir():  # 3. two folders under root
        folders = [root / a, root / b]
    elif all(p.is_dir() for p in as_paths):  # 4. two folder paths
        folders = as_paths
        names = [f.name for f in folders] if folders[0].name != folders[1].name else [str(f) for f in folders]
    elif not root.is_dir():
        raise DataError(f"data root not found: {root}. {layout}")
    else:
        missing = next(f for f in (root / a, root / b) if not f.is_dir())
        raise DataError(f"domain folder not found: {missing}. {layout}")
    out = []
    for f, name in zip(folders, names):
        # the held-out share is taken from the readable files, so unreadable ones never empty (or shrink) val
        good, bad = readable_images(_domain_paths(f, layout))
        if warn and bad:
            _warn_skipped(bad, f"in domain {name!r} ({f})")
        held = _held_out(good, split, cfg.val_fraction, f)
        out.append(_DomainFiles(name, f, held[:cap] if cap else held, bad))
    return out[0], out[1]


def count_images(cfg: DataConfig, split: str) -> tuple[int, int]:
    """How many images each domain of ``split`` has -- what :func:`load_domains` would return, without building
    or decoding anything: the synthetic sizes from the config; for folders the same listing and file check as
    load_domains (each file is checked once per process, so counting first and loading later costs one check)."""
    _check_split(split)
    if cfg.source == SYNTHETIC:
        n = _synthetic_count(cfg, split)
        return n, n
    fa, fb = _domain_files(cfg, split)
    return len(fa.paths), len(fb.paths)


def load_domains(cfg: DataConfig, split: str, image_size: int) -> tuple[Dataset, Dataset]:
    """The two domains of ``split`` ("train" or "val") at ``image_size`` px (the model's), resolved in this order:

    1. ``source == SYNTHETIC``: the embedded pair A/B (``cfg.domains`` ignored);
    2. AFHQ layout: ``source/{train,val}/{domain}/*`` (v1 jpg, v2 png);
    3. two folders ``source/{domain_a}`` and ``source/{domain_b}``, with a held-out val split;
    4. ``cfg.domains`` as two existing folder paths (absolute or relative to the working directory), split
       as in 3.

    Unreadable files are skipped with one warning per domain that lists them (see :class:`ImageFolderDomain`).
    """
    _check_split(split)
    if image_size < 1:
        raise DataError(f"image_size must be >= 1, got {image_size}")
    if cfg.source == SYNTHETIC:
        return synthetic_domains(image_size, split, _synthetic_count(cfg, split), cfg.seed)
    datasets = []
    for f in _domain_files(cfg, split, warn=True):
        datasets.append(ImageFolderDomain(f.paths, image_size, name=f.name, source=f.folder, verify=False,
                                          skipped=[p for p, _ in f.skipped]))
    for ds in datasets:
        log.info("domain %s", describe(ds))
    return datasets[0], datasets[1]


def describe(dataset: Dataset) -> dict:
    """Name, size and provenance of a domain, for logs and run metadata."""
    source = getattr(dataset, "source", None)
    if isinstance(dataset, SyntheticDomain):
        source = f"{SYNTHETIC}(seed={dataset.seed}, split={dataset.split})"
    return {"name": getattr(dataset, "name", type(dataset).__name__), "count": len(dataset),  # type: ignore[arg-type]
            "skipped": len(getattr(dataset, "skipped", ())), "source": str(source) if source is not None else None,
            "image_size": getattr(dataset, "image_size", None)}


_DIGESTS: dict[tuple, str] = {}


def _file_digest(path: Path) -> str:
    """A file's content hash (blake2b), memoised by path, size, mtime and ctime: an edit that keeps the size and
    restores the mtime still changes the ctime, and a new process hashes again anyway."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in _DIGESTS:
        h = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def dataset_identity(ds: Dataset) -> dict | None:
    """A JSON-able description that changes whenever the dataset's images may change (what metric caches key
    on); None when unknown (such datasets are cached in memory only)."""
    size = getattr(ds, "image_size", None)
    if isinstance(ds, SyntheticDomain):
        return {"type": SYNTHETIC, "version": getattr(ds, "version", "1"), "domain": ds.name, "seed": ds.seed,
                "split": ds.split, "count": len(ds), "image_size": size}
    if isinstance(ds, ImageFolderDomain):
        h = hashlib.sha256()
        for p in ds.paths:
            h.update(f"{p.resolve()}\0{_file_digest(p)}\n".encode())
        return {"type": "folder", "source": str(Path(ds.source).resolve()) if ds.source else None,
                "name": ds.name, "count": len(ds), "image_size": size, "loader": LOADER, "files": h.hexdigest()[:16]}
    images = getattr(ds, "images", None)
    if isinstance(images, torch.Tensor):  # any in-memory set: its bytes are its identity
        h = hashlib.sha256(images.detach().cpu().contiguous().numpy().tobytes())
        return {"type": type(ds).__name__, "count": len(ds), "image_size": size, "bytes": h.hexdigest()[:16]}
    return None


# ------------------------------------------------------------------------------------------ batch transforms

def to_model_range(batch_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1], on the tensor's device."""
    return batch_uint8.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255] (clamped, rounded): inverse of :func:`to_model_range`."""
    return images.detach().float().add(1.0).mul_(127.5).clamp_(0, 255).round_().to(torch.uint8)


def _flip(x: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    return torch.where(flips.view(-1, 1, 1, 1), x.flip(-1), x)


# ------------------------------------------------------------------------------------------------ streams

def _epoch_seed(seed: int, epoch: int) -> int:
    # SeedSequence mixes (seed, epoch) well and is stable across Python/NumPy versions, unlike hash()
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, np.uint64)[0])


def batches_per_epoch(n_images: int, batch_size: int) -> int:
    """Full batches in one pass over ``n_images``: the partial last batch is dropped (static shapes for a CUDA
    graph, and every batch weighs the same). At least 1, so that an epoch is never empty."""
    return max(1, n_images // batch_size)


class _Batches(torch.utils.data.Sampler):
    """The remaining index batches of one epoch, as a DataLoader batch_sampler."""

    def __init__(self, batches: list[list[int]]):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class DomainStream:
    """Infinite, shuffled, deterministic batches of one domain: float [B, 3, S, S] in [-1, 1] on ``device``.

    Epoch ``e`` visits ``torch.randperm(n)`` from a generator seeded by ``(seed, e)`` in
    :func:`batches_per_epoch` full batches (the remainder is dropped), each sample flipped horizontally by a coin from the same
    generator. The stream's position is ``(epoch, pos)`` = the next batch to return, so ``load_state_dict``
    continues exactly where an uninterrupted stream would be.

    With ``preload`` (default when the dataset has an in-memory ``images`` tensor), the whole domain lives on
    ``device`` as one uint8 tensor and a batch is an index_select there; otherwise one DataLoader per epoch
    decodes files with ``num_workers`` processes (pinned memory and non-blocking copies on CUDA).
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int, flip: bool = True,
                 device: torch.device | str = "cpu", num_workers: int = 0, preload: bool | None = None):
        n = len(dataset)  # type: ignore[arg-type]
        name = getattr(dataset, "name", type(dataset).__name__)
        if batch_size < 1:
            raise DataError(f"batch_size must be >= 1, got {batch_size}")
        if n < batch_size:
            raise DataError(f"domain {name!r} has {n} image(s), fewer than batch_size {batch_size}")
        self.dataset, self.batch_size, self.seed, self.flip = dataset, batch_size, seed, flip
        self.device = torch.device(device)
        self.num_workers = num_workers
        self.n = n
        self.batches_per_epoch = batches_per_epoch(n, batch_size)
        self.epoch, self.pos = 0, 0
        images = getattr(dataset, "images", None)
        self.preload = isinstance(images, torch.Tensor) if preload is None else preload
        self._images: torch.Tensor | None = None
        if self.preload:
            if not isinstance(images, torch.Tensor):
                images = torch.stack([dataset[i] for i in range(n)])
            self._images = images.to(self.device)
        self._order: tuple[int, torch.Tensor, torch.Tensor] | None = None  # (epoch, perm, flips)
        self._loader: Iterator[torch.Tensor] | None = None

    # -- order ---------------------------------------------------------------------------------------------
    def _epoch_order(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._order is None or self._order[0] != self.epoch:
            g = torch.Generator().manual_seed(_epoch_seed(self.seed, self.epoch))
            perm = torch.randperm(self.n, generator=g)
            flips = torch.rand(self.n, generator=g) < 0.5
            if self.preload:  # move once per epoch; batches are then sliced on the device without host syncs
                perm, flips = perm.to(self.device), flips.to(self.device)
            self._order = (self.epoch, perm, flips)
        return self._order[1], self._order[2]

    def _start_loader(self, perm: torch.Tensor) -> None:
        b = self.batch_size
        idx = perm[self.pos * b:self.batches_per_epoch * b].view(-1, b).tolist()
        cuda = self.device.type == "cuda"
        # an own generator: a DataLoader without one draws its worker base seed from the global torch RNG,
        # which would make the training stream depend on when loaders happen to be created (breaks resume)
        g = torch.Generator().manual_seed(_epoch_seed(self.seed, self.epoch) ^ 0x5EED)
        loader = DataLoader(self.dataset, batch_sampler=_Batches(idx), num_workers=self.num_workers,
                            pin_memory=cuda, persistent_workers=False, generator=g,
                            prefetch_factor=4 if self.num_workers > 0 else None)
        self._loader = iter(loader)

    # -- iteration -----------------------------------------------------------------------------------------
    def __iter__(self) -> "DomainStream":
        return self

    def __next__(self) -> torch.Tensor:
        perm, flips = self._epoch_order()
        b, lo = self.batch_size, self.pos * self.batch_size
        if self._images is not None:
            x = self._images.index_select(0, perm[lo:lo + b])
        else:
            if self._loader is None:
                self._start_loader(perm)
            x = next(self._loader).to(self.device, non_blocking=True)  # type: ignore[arg-type]
        x = to_model_range(x)
        if self.flip:
            x = _flip(x, flips[lo:lo + b].to(self.device, non_blocking=True))
        self.pos += 1
        if self.pos == self.batches_per_epoch:
            self.epoch, self.pos, self._loader = self.epoch + 1, 0, None
        return x

    # -- resume --------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict[str, int]) -> None:
        epoch, pos = int(state["epoch"]), int(state["pos"])
        if epoch < 0 or not 0 <= pos < self.batches_per_epoch:
            raise DataError(f"stream state {state} is out of range for {self.batches_per_epoch} batches per epoch "
                            "(was the checkpoint made with another dataset or batch size?)")
        self.epoch, self.pos, self._loader = epoch, pos, None


def iterate_images(dataset: Dataset, batch_size: int, device: torch.device | str = "cpu",
                   indices: torch.Tensor | Sequence[int] | None = None, num_workers: int | None = None
                   ) -> Iterator[torch.Tensor]:
    """``dataset[indices]`` (default: every image) once, in order, unflipped, as uint8 [<=B, 3, S, S] batches on
    ``device``; the last batch may be partial. In-memory sets are sliced; folders are decoded by a DataLoader
    (``num_workers`` processes; default: up to 4 on CUDA hosts, none on CPU). Apply :func:`to_model_range` for
    the model's [-1, 1]."""
    device = torch.device(device)
    idx = torch.arange(len(dataset)) if indices is None else torch.as_tensor(indices, dtype=torch.long)  # type: ignore[arg-type]
    images = getattr(dataset, "images", None)
    if isinstance(images, torch.Tensor):
        for lo in range(0, idx.numel(), batch_size):
            yield images[idx[lo:lo + batch_size]].to(device, non_blocking=True)
        return
    cuda = device.type == "cuda"
    workers = (min(4, os.cpu_count() or 1) if cuda else 0) if num_workers is None else num_workers
    # an own generator: a DataLoader without one draws its base seed from the global torch RNG
    loader = DataLoader(Subset(dataset, idx.tolist()), batch_size=batch_size, shuffle=False, num_workers=workers,
                        pin_memory=cuda, generator=torch.Generator())
    for x in loader:
        yield x.to(device, non_blocking=True)


__all__ = ["SYNTHETIC", "DataError", "DataConfig", "count_images", "batches_per_epoch", "IMAGE_EXTENSIONS", "list_images", "load_image", "ImageFolderDomain",
           "readable_images", "load_domains", "describe", "dataset_identity", "LOADER", "to_model_range", "to_uint8",
           "DomainStream", "iterate_images"]

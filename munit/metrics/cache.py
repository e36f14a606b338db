"""On-disk cache for what a study computes once: real-set feature statistics and the trained domain classifier.

Layout under the cache root (``cache_dir`` argument, else ``$MUNIT_CACHE``, else ``~/.cache/munit-ablate``)::

    real_stats/<metric>-<digest>.pt    sum, cov_sum, n of a real set's features (+ the key that made them)
    classifier/<digest>.pt             the domain classifier's state_dict, its val accuracy (+ key)

``<digest>`` hashes a JSON key that names everything the content depends on: the dataset's identity (synthetic
seed/split/count/size, or a folder's file list with sizes and mtimes), the image size, the subset size, the
backbone and its weights digest. Files are written atomically and read with ``weights_only=True``; a file whose
stored key differs (a hash collision, an edited file) or that fails to load is recomputed, never trusted.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from ..checkpoint import save_checkpoint
from ..data import ImageFolderDomain
from ..synthetic import SyntheticDomain

log = logging.getLogger(__name__)

CACHE_ENV = "MUNIT_CACHE"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "munit-ablate"


def dataset_identity(ds: Dataset) -> dict[str, Any] | None:
    """A JSON-able description that changes whenever the dataset's images may change; None when unknown
    (such datasets are cached in memory only)."""
    size = getattr(ds, "image_size", None)
    if isinstance(ds, SyntheticDomain):
        return {"type": "synthetic", "domain": ds.name, "seed": ds.seed, "split": ds.split, "count": len(ds),
                "image_size": size}
    if isinstance(ds, ImageFolderDomain):
        h = hashlib.sha256()
        for p in ds.paths:
            st = p.stat()
            h.update(f"{p.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return {"type": "folder", "source": str(Path(ds.source).resolve()) if ds.source else None,
                "name": ds.name, "count": len(ds), "image_size": size, "files": h.hexdigest()[:16]}
    images = getattr(ds, "images", None)
    if isinstance(images, torch.Tensor):  # any in-memory set: its bytes are its identity
        h = hashlib.sha256(images.detach().cpu().contiguous().numpy().tobytes())
        return {"type": type(ds).__name__, "count": len(ds), "image_size": size, "bytes": h.hexdigest()[:16]}
    return None


def _plain(key: dict[str, Any]) -> dict[str, Any]:
    """The key as it reads back from JSON (tuples -> lists, paths -> str), so stored and asked keys compare."""
    return json.loads(json.dumps(key, sort_keys=True, default=str))


def digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(_plain(key), sort_keys=True).encode()).hexdigest()[:16]


class DiskCache:
    """Keyed tensors under one root; ``enabled=False`` makes every lookup miss and every store a no-op."""

    def __init__(self, root: str | os.PathLike | None = None, enabled: bool = True):
        self.root = cache_root(root)
        self.enabled = enabled

    def path(self, kind: str, key: dict[str, Any], prefix: str = "") -> Path:
        return self.root / kind / f"{prefix}{digest(key)}.pt"

    def load(self, kind: str, key: dict[str, Any], prefix: str = "") -> dict[str, Any] | None:
        if not self.enabled:
            return None
        p = self.path(kind, key, prefix)
        if not p.is_file():
            return None
        try:
            obj = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:  # truncated or foreign file: recompute
            log.warning("ignoring unreadable cache file %s (%s)", p, e)
            return None
        if not isinstance(obj, dict) or obj.get("key") != _plain(key):
            log.warning("ignoring cache file %s: its key does not match", p)
            return None
        return obj

    def store(self, kind: str, key: dict[str, Any], value: dict[str, Any], prefix: str = "") -> Path | None:
        if not self.enabled:
            return None
        p = self.path(kind, key, prefix)
        try:
            save_checkpoint(p, {"key": _plain(key), **value})
        except OSError as e:  # a read-only cache must not fail an evaluation
            log.warning("could not write cache file %s (%s)", p, e)
            return None
        return p


__all__ = ["CACHE_ENV", "cache_root", "dataset_identity", "digest", "DiskCache"]

"""Pretrained backbone files: where they are looked for, when they may be downloaded, what the error says.

Both backbones are the files their libraries would fetch themselves, looked up where those libraries look (the
torch hub cache, ``torch.hub.get_dir()/checkpoints``) or given as a path. When a file is missing, it is
downloaded there only if downloads are allowed (``MUNIT_ALLOW_DOWNLOAD`` unset or truthy) and the host is
reachable; otherwise :class:`MetricError` names the file, its URL, the option and the cache path. There is no
fallback to another backbone: a metric computed with the wrong network is not the metric.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

import torch

from .errors import MetricError

ALLOW_DOWNLOAD_ENV = "MUNIT_ALLOW_DOWNLOAD"
_CONNECT_TIMEOUT_S = 5.0
_DOWNLOAD_TIMEOUT_S = 60.0  # per socket operation, not for the whole file


# The URLs the libraries themselves download from (torch_fidelity.feature_extractor_inceptionv3.URL_INCEPTION_V3,
# torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url), spelled out so importing munit stays light; a test
# checks they still match the installed libraries.
INCEPTION_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                 "weights-inception-2015-12-05-6726825d.pth")
ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"


@dataclass(frozen=True)
class WeightsFile:
    """One backbone file as its library names it. ``hash_prefix``: the sha256 prefix the library checks on
    download (None where the library does not check)."""

    key: str                 # "inception" | "alexnet"
    backbone: str            # what computes the metric, recorded with every result
    filename: str
    url: str
    option: str              # CLI option
    kwarg: str               # Python keyword
    hash_prefix: str | None

    def hub_path(self) -> Path:
        """Where torch.hub (hence torch-fidelity and torchvision) caches this file."""
        return Path(torch.hub.get_dir()) / "checkpoints" / self.filename


def _file_from_url(url: str) -> str:
    return os.path.basename(urlparse(url).path)


INCEPTION = WeightsFile(
    key="inception",
    backbone="inception-v3-compat (torch-fidelity port of the TF FID Inception 2015-12-05), pool3 2048-d",
    filename=_file_from_url(INCEPTION_URL), url=INCEPTION_URL,
    option="--inception-weights", kwarg="inception_weights", hash_prefix=None)
ALEXNET = WeightsFile(
    key="alexnet",
    backbone="alexnet (torchvision IMAGENET1K_V1) + LPIPS v0.1 linear heads (bundled with torchmetrics)",
    filename=_file_from_url(ALEXNET_URL), url=ALEXNET_URL,
    option="--alexnet-weights", kwarg="alexnet_weights", hash_prefix="7be5be79")
BACKBONES = {w.key: w for w in (INCEPTION, ALEXNET)}


def downloads_allowed() -> bool:
    """False when ``MUNIT_ALLOW_DOWNLOAD`` is 0/false/no/off (tests and offline clusters set it)."""
    return os.environ.get(ALLOW_DOWNLOAD_ENV, "1").strip().lower() not in ("0", "false", "no", "off", "")


def missing_message(w: WeightsFile, metric: str, reason: str) -> str:
    return (f"metric '{metric}' needs {w.filename} ({w.backbone}); {reason}. Download it from {w.url} and put "
            f"it in the torch hub cache as {w.hub_path()} (or set TORCH_HOME), or pass its path with "
            f"{w.option} PATH (Python: {w.kwarg}=PATH). No other backbone is substituted.")


def _download(w: WeightsFile, dst: Path) -> None:
    """Fetch ``w`` into ``dst`` with torch.hub's downloader; fail within seconds when the host is unreachable
    (a firewalled host would otherwise hang the run before training)."""
    host = urlparse(w.url).hostname or ""
    with socket.create_connection((host, 443), timeout=_CONNECT_TIMEOUT_S):
        pass
    dst.parent.mkdir(parents=True, exist_ok=True)
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
    try:
        torch.hub.download_url_to_file(w.url, str(dst), w.hash_prefix, progress=True)
    finally:
        socket.setdefaulttimeout(old)


def resolve(w: WeightsFile, path: str | os.PathLike | None = None, metric: str = "") -> Path:
    """The file to load for ``w``: ``path`` if given, else the hub cache copy (downloaded there first when
    allowed). Raises :class:`MetricError` when neither exists."""
    metric = metric or w.key
    if path:
        p = Path(path).expanduser()
        if not p.is_file():
            raise MetricError(missing_message(w, metric, f"the file given with {w.option} does not exist: {p}"))
        return p
    p = w.hub_path()
    if p.is_file():
        return p
    if not downloads_allowed():
        raise MetricError(missing_message(w, metric, f"it is not in the torch hub cache ({p}) and downloads are "
                                                     f"disabled ({ALLOW_DOWNLOAD_ENV}=0)"))
    try:
        _download(w, p)
    except Exception as e:  # DNS, refused, timeout, HTTP error, hash mismatch: all mean "not available"
        raise MetricError(missing_message(w, metric, f"it is not in the torch hub cache ({p}) and the download "
                                                     f"failed ({type(e).__name__}: {e})")) from e
    return p


_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """sha256 prefix of a weights file (memoised by path, size and mtime): results and caches record exactly
    which weights computed them, so a stand-in or a different release can never be mistaken for the real file."""
    st = path.stat()
    k = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if k not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _DIGESTS[k] = h.hexdigest()[:16]
    return _DIGESTS[k]


@contextlib.contextmanager
def hub_dir_holding(w: WeightsFile, path: Path) -> Iterator[None]:
    """Make ``path`` visible to a library that only loads ``w`` from the hub cache (torchvision's alexnet inside
    torchmetrics' LPIPS): a temporary hub dir whose ``checkpoints/<filename>`` links to ``path``. A no-op when
    ``path`` already is the hub copy."""
    hub = w.hub_path()
    if hub.exists() and hub.resolve() == path.resolve():
        yield
        return
    with tempfile.TemporaryDirectory(prefix="munit-hub-") as tmp:
        ckpt = Path(tmp) / "checkpoints"
        ckpt.mkdir()
        link = ckpt / w.filename
        try:
            link.symlink_to(path.resolve())
        except OSError:  # filesystems without symlinks
            import shutil
            shutil.copyfile(path, link)
        old = getattr(torch.hub, "_hub_dir", None)  # set_dir has no getter for "unset"; restore exactly
        torch.hub.set_dir(tmp)
        try:
            yield
        finally:
            torch.hub._hub_dir = old  # type: ignore[attr-defined]


__all__ = ["INCEPTION_URL", "ALEXNET_URL", "WeightsFile", "INCEPTION", "ALEXNET", "BACKBONES", "ALLOW_DOWNLOAD_ENV",
           "downloads_allowed", "resolve", "missing_message", "file_digest", "hub_dir_holding"]

"""Pretrained backbone files: where they are looked for, when they may be downloaded, what the error says, and
random-weight stand-ins for offline tests.

Both backbones are the files their libraries would fetch themselves, looked up where those libraries look (the
torch hub cache, ``torch.hub.get_dir()/checkpoints``) or given as a path. When a file is missing, it is
downloaded there only if downloads are allowed (``MUNIT_ALLOW_DOWNLOAD`` unset or truthy) and the host is
reachable; otherwise :class:`MetricError` names the file, its URL, the option and the cache path. There is no
fallback to another backbone: a metric computed with the wrong network is not the metric.

Paths travel as one mapping keyed by backbone name (``{"inception": PATH, "alexnet": PATH}``) from the command
line (:func:`add_weight_options`, :func:`weights_from_args`) to the scorer. This module's table imports no torch,
so command lines can build their options from it cheaply.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping
from urllib.parse import urlparse

from .protocol import MetricError

WeightPaths = Mapping[str, "str | os.PathLike | None"]

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
        import torch

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
    import torch

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
    import torch

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


# ------------------------------------------------------------------------------------------- command lines

def add_weight_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """One ``--<backbone>-weights PATH`` option per backbone file (``--inception-weights``, ``--alexnet-weights``)."""
    for w in BACKBONES.values():
        parser.add_argument(w.option, default=None, metavar="PATH", dest=f"{w.key}_weights",
                            help=f"{w.filename} for {w.key} (default: the torch hub cache)")


def weights_from_args(args: argparse.Namespace) -> dict[str, str]:
    """The backbone paths given on a command line (see :func:`add_weight_options`), keyed by backbone."""
    return {k: v for k in BACKBONES if (v := getattr(args, f"{k}_weights", None))}


def check_keys(paths: WeightPaths | None) -> dict[str, "str | os.PathLike"]:
    """``paths`` without empty entries; an unknown backbone name is an error (a typo must not pass silently)."""
    paths = dict(paths or {})
    unknown = set(paths) - set(BACKBONES)
    if unknown:
        raise MetricError(f"unknown backbone(s) {', '.join(sorted(unknown))} in the weights mapping; "
                          f"known: {', '.join(BACKBONES)}")
    return {k: v for k, v in paths.items() if v}


# ---------------------------------------------------------------------------------------------- stand-ins
# Random-weight stand-ins for the backbone files: the exact architectures, saved under the exact file names, so
# offline tests and timing runs exercise the real loading path (hub cache -> torch-fidelity / torchvision ->
# torchmetrics) without the real weights. Numbers computed with them mean nothing; ``weights_sha256`` in every
# result's metadata tells them apart from the real files.

def inception_state_dict(seed: int = 0) -> dict:
    """A randomly initialised state_dict of torch-fidelity's ``FeatureExtractorInceptionV3`` (convs re-drawn
    kaiming-normal so activations stay O(1) through the 2048-d pool instead of vanishing)."""
    import torch
    import torch.nn as nn
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class _Skeleton(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):  # keep the random init
            return None

    with tempfile.TemporaryDirectory() as tmp, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        empty = Path(tmp) / "empty.pth"
        torch.save({}, empty)
        net = _Skeleton("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty))
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        return {k: v.detach().clone() for k, v in net.state_dict().items()}


def alexnet_state_dict(seed: int = 0) -> dict:
    """A randomly initialised state_dict of torchvision's ``alexnet``."""
    import torch
    from torchvision.models import alexnet

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return alexnet(weights=None).state_dict()


STAND_INS = {"inception": inception_state_dict, "alexnet": alexnet_state_dict}


def write_stand_ins(hub_dir: str | Path, keys: Iterable[str] = ("inception", "alexnet"), seed: int = 0
                    ) -> dict[str, Path]:
    """Save stand-ins as ``hub_dir/checkpoints/<real file name>``; returns their paths by backbone key."""
    import torch

    out = {}
    for key in keys:
        p = Path(hub_dir) / "checkpoints" / BACKBONES[key].filename
        p.parent.mkdir(parents=True, exist_ok=True)
        torch.save(STAND_INS[key](seed), p)
        out[key] = p
    return out


__all__ = ["INCEPTION_URL", "ALEXNET_URL", "WeightsFile", "INCEPTION", "ALEXNET", "BACKBONES", "ALLOW_DOWNLOAD_ENV",
           "WeightPaths", "downloads_allowed", "resolve", "missing_message", "file_digest", "hub_dir_holding",
           "add_weight_options", "weights_from_args", "check_keys", "write_stand_ins", "inception_state_dict",
           "alexnet_state_dict", "STAND_INS"]

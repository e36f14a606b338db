"""Pretrained backbone files: where they are looked for, when they may be downloaded, what the error says, how
they are checked and loaded safely into their networks, and random-weight stand-ins for offline tests.

Both backbones are the files their libraries would fetch themselves, looked up where those libraries look (the
torch hub cache, ``torch.hub.get_dir()/checkpoints``) or given as a path. When a file is missing, it is
downloaded there only if downloads are allowed (``MUNIT_ALLOW_DOWNLOAD`` unset or truthy) and the host is
reachable; otherwise :class:`MetricError` names the file, its URL, the option and the cache path. There is no
fallback to another backbone: a metric computed with the wrong network is not the metric.

No code runs from a weights file. torch-fidelity and torchvision would unpickle these files with
``torch.load(weights_only=False)``, so a crafted file (a ``__reduce__`` payload) would run as soon as FID or LPIPS
starts. Here every file is first compared with the official file's sha256 (a file with another digest is refused
unless ``allow_unverified``, which the results then record), then read with ``torch.load(weights_only=True)``
(tensors and plain containers only), checked key by key and shape by shape against the network, and loaded into
a network built here (:func:`inception_network`, :func:`alexnet_features`); the libraries never open the file.

Paths travel as one mapping keyed by backbone name (``{"inception": PATH, "alexnet": PATH}``) from the command
line (:func:`add_weight_options`, :func:`weights_from_args`) to the scorer. This module's table imports no torch,
so command lines can build their options from it cheaply.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping
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
    """One backbone file as its library names it. ``hash_prefix``: the sha256 prefix in the file name, checked on
    download. ``sha256``: the official file's full digest, checked before every use."""

    key: str                 # "inception" | "alexnet"
    backbone: str            # what computes the metric, recorded with every result
    filename: str
    url: str
    option: str              # CLI option
    kwarg: str               # Python keyword
    hash_prefix: str | None
    sha256: str | None = None
    size: int | None = None  # bytes of the official file

    def hub_path(self) -> Path:
        """Where torch.hub (hence torch-fidelity and torchvision) caches this file."""
        import torch

        return Path(torch.hub.get_dir()) / "checkpoints" / self.filename


def _file_from_url(url: str) -> str:
    return os.path.basename(urlparse(url).path)


# The official digests. Both file names carry the first 8 hex digits of the file's sha256 (torch.hub's
# convention; torchvision checks it on download). The full digests are not published by torch-fidelity or
# torchvision; they are the values that independent projects pinning these exact files agree on (the Inception
# file is byte-identical to pytorch-fid's pt_inception-2015-12-05-6726825d.pth), and both start with the
# prefix in the file name. docs/metrics.md says how to check a downloaded file with sha256sum.
INCEPTION = WeightsFile(
    key="inception",
    backbone="inception-v3-compat (torch-fidelity port of the TF FID Inception 2015-12-05), pool3 2048-d",
    filename=_file_from_url(INCEPTION_URL), url=INCEPTION_URL,
    option="--inception-weights", kwarg="inception_weights", hash_prefix="6726825d",
    sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2", size=95_628_359)
ALEXNET = WeightsFile(
    key="alexnet",
    backbone="alexnet (torchvision IMAGENET1K_V1) + LPIPS v0.1 linear heads (bundled with torchmetrics)",
    filename=_file_from_url(ALEXNET_URL), url=ALEXNET_URL,
    option="--alexnet-weights", kwarg="alexnet_weights", hash_prefix="7be5be79",
    sha256="7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02", size=244_408_911)
BACKBONES = {w.key: w for w in (INCEPTION, ALEXNET)}
ALLOW_UNVERIFIED_OPTION = "--allow-unverified-weights"


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


def sha256_file(path: Path) -> str:
    """The sha256 of a file (memoised by path, size and mtime)."""
    st = path.stat()
    k = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if k not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _DIGESTS[k] = h.hexdigest()
    return _DIGESTS[k]


@dataclass(frozen=True)
class CheckedFile:
    """A backbone file whose digest was compared with the official one. ``verified`` False: another file, used
    only because the caller allowed it (``allow_unverified``); every result computed with it says so."""

    spec: WeightsFile
    path: Path
    sha256: str
    verified: bool

    @property
    def digest(self) -> str:
        """The sha256 prefix results and caches record, so that a stand-in or another release of the file can never
        be mistaken for the official one."""
        return self.sha256[:16]

    @property
    def backbone(self) -> str:
        """What computed a metric, as results and the MLflow tag ``munit.backbone.<metric>`` record it."""
        if self.verified:
            return self.spec.backbone
        return (f"{self.spec.backbone} -- UNVERIFIED weights file (sha256 {self.digest}..., not the official "
                f"{self.spec.filename}; allowed by {ALLOW_UNVERIFIED_OPTION})")

    def meta(self) -> dict[str, object]:
        return {"backbone": self.backbone, "weights": str(self.path), "weights_sha256": self.digest,
                "weights_verified": self.verified}

    def state_dict(self) -> dict:
        """The file's tensors, read with ``torch.load(weights_only=True)`` and checked against the network's keys
        and shapes; :class:`MetricError` (one line) for a file that holds anything else."""
        import torch

        try:
            sd = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as e:  # UnpicklingError for code in the file, zip/EOF errors for broken files
            lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            why = next((ln for ln in lines if "global" in ln.lower() and "weights_only" not in ln),
                       lines[0] if lines else type(e).__name__)
            raise MetricError(f"{self.path} is not a plain weights file and is refused ({why}); weights are read "
                              "with torch.load(weights_only=True), which never runs code from a file") from None
        if not isinstance(sd, Mapping) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                  for k, v in sd.items()):
            raise MetricError(f"{self.path} does not hold a state dict (names -> tensors); it is not "
                              f"{self.spec.filename}")
        problems = _mismatches(expected_shapes(self.spec.key), sd)
        if problems:
            raise MetricError(f"{self.path} is not {self.spec.filename} ({self.spec.backbone}): {problems}")
        return dict(sd)


def check(w: WeightsFile, path: Path, metric: str = "", allow_unverified: bool = False) -> CheckedFile:
    """Compare ``path`` with the official file's sha256; refuse another file unless ``allow_unverified``."""
    digest = sha256_file(path)
    verified = w.sha256 is not None and digest == w.sha256
    if not verified and not allow_unverified:
        size = path.stat().st_size
        raise MetricError(
            f"metric '{metric or w.key}': {path} is not the official {w.filename} (sha256 {digest[:16]}..., "
            f"{size:,} bytes; the official file has sha256 {w.sha256} and {w.size:,} bytes). It is refused: a "
            f"weights file from elsewhere can carry code or other weights. Download it again from {w.url}, or "
            f"pass {ALLOW_UNVERIFIED_OPTION} (Python: allow_unverified=True) to use this file anyway -- every result "
            "then records it as unverified")
    return CheckedFile(w, path, digest, verified)


def _mismatches(expected: Mapping[str, tuple[int, ...]], sd: Mapping) -> str:
    """What makes ``sd`` unfit for a network with ``expected`` {key: shape}; "" if nothing. BatchNorm's
    ``num_batches_tracked`` may be absent (older files; PyTorch fills it in)."""
    missing = [k for k in expected if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in expected]
    shapes = [f"{k} {tuple(sd[k].shape)} instead of {expected[k]}" for k in expected
              if k in sd and tuple(sd[k].shape) != expected[k]]
    parts = []
    for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
        if keys:
            parts.append(f"{len(keys)} {what} (e.g. {', '.join(keys[:3])})")
    return "; ".join(parts)


# ------------------------------------------------------------------------------------------- networks

@functools.lru_cache(maxsize=None)
def _inception_class():
    """torchmetrics' ``NoTrainInceptionV3`` (torch-fidelity's TF-FID Inception with its TF1 resize) that takes its
    weights from a state dict. Its constructor insists on loading a weights file itself, with
    ``weights_only=False``: it is handed an empty placeholder written here, whose load is skipped."""
    from torchmetrics.image.fid import NoTrainInceptionV3

    class StateDictInceptionV3(NoTrainInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):  # type: ignore[override]
            if not state_dict:   # the constructor's placeholder
                return None
            return super().load_state_dict(state_dict, strict=strict, assign=assign)

    return StateDictInceptionV3


def _inception_skeleton(antialias: bool = False):
    import torch

    with tempfile.TemporaryDirectory(prefix="munit-inception-") as tmp:
        placeholder = Path(tmp) / "empty.pth"
        torch.save({}, placeholder)
        net = _inception_class()("inception-v3-compat", ["2048"], str(placeholder), antialias)
    net.num_features = 2048   # what torchmetrics' FID reads from a feature module
    return net


def inception_network(state_dict: Mapping | None, antialias: bool = False):
    """FID's and KID's feature extractor: torch-fidelity's Inception (2048-d pool features, uint8 input, TF1
    bilinear resize to 299 unless ``antialias``) with ``state_dict`` loaded (None: random weights)."""
    net = _inception_skeleton(antialias)
    if state_dict is not None:
        net.load_state_dict(dict(state_dict), strict=False)   # keys checked by CheckedFile.state_dict
    return net.eval()


def alexnet_features(state_dict: Mapping) -> dict:
    """The ``features.*`` tensors of a torchvision AlexNet state dict (what LPIPS uses of it)."""
    return {k[len("features."):]: v for k, v in state_dict.items() if k.startswith("features.")}


@functools.lru_cache(maxsize=None)
def expected_shapes(key: str) -> dict[str, tuple[int, ...]]:
    """{name: shape} of the network a backbone file must fit (built on the meta device: no memory, no init)."""
    import torch

    with torch.device("meta"):
        if key == INCEPTION.key:
            net = _inception_skeleton()
        elif key == ALEXNET.key:
            from torchvision.models import alexnet
            net = alexnet(weights=None)
        else:
            raise KeyError(key)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


# ------------------------------------------------------------------------------------------- command lines

def add_weight_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """One ``--<backbone>-weights PATH`` option per backbone file (``--inception-weights``, ``--alexnet-weights``),
    and ``--allow-unverified-weights``."""
    for w in BACKBONES.values():
        parser.add_argument(w.option, default=None, metavar="PATH", dest=f"{w.key}_weights",
                            help=f"{w.filename} for {w.key} (default: the torch hub cache)")
    parser.add_argument(ALLOW_UNVERIFIED_OPTION, action="store_true", dest="allow_unverified_weights",
                        help="use backbone files whose sha256 is not the official one (e.g. your own conversion); "
                             "still loaded as plain tensors, and every result records them as unverified")


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

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = inception_network(None)
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
           "ALLOW_UNVERIFIED_OPTION", "WeightPaths", "downloads_allowed", "resolve", "missing_message", "sha256_file",
           "CheckedFile", "check", "inception_network", "alexnet_features", "expected_shapes",
           "add_weight_options", "weights_from_args", "check_keys", "write_stand_ins", "inception_state_dict",
           "alexnet_state_dict", "STAND_INS"]

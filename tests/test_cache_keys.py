"""Metric caches: every input that changes a cached number is part of its key, so a change is never served stale.

Each case first shows the unchanged inputs hit the disk cache (so a miss means something), then changes exactly
one input and checks that the value is computed afresh. FCD (classifier features: cheap, no downloads) covers
the data and classifier inputs; FID with two different stand-in Inception files covers the weights' sha256.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torchmetrics
from PIL import Image

import munit.data
from munit.data import ImageFolderDomain
from munit.metrics import ClassifierConfig, Protocol
from munit.metrics import weights as W
from munit.metrics.protocol import EvalData
from munit.metrics.session import Session
from munit.synthetic import SyntheticDomain, synthetic_domains

CLF = ClassifierConfig(epochs=1, width=8, batch_size=8, min_steps=0)
SIZE = 16


class Identity(torch.nn.Module):
    """Evaluation's generator interface, translating nothing: the outputs are the inputs."""

    def __init__(self):
        super().__init__()
        self.cfg = type("Cfg", (), {"style_dim": 8})()
        self.content_encoder = torch.nn.Identity()

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return content


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv(W.ALLOW_DOWNLOAD_ENV, "0")


@pytest.fixture
def folders(tmp_path):
    """The synthetic images as BMP files (uncompressed: an edit keeps the file size exactly)."""
    root = tmp_path / "data"
    for split, n in (("train", 6), ("val", 2)):
        for ds in synthetic_domains(SIZE, split, n=n):
            d = root / split / ds.name
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(ds[i].permute(1, 2, 0).numpy()).save(d / f"{i}.bmp")
    return root


def folder_data(root, size: int = SIZE) -> EvalData:
    def dom(split, name):
        return ImageFolderDomain(sorted((root / split / name).glob("*.bmp")), size, name=name)
    return EvalData(dom("train", "A"), dom("train", "B"), dom("val", "A"), dom("val", "B"))


def fcd(cache, data: EvalData, n_real: int | None = None, clf: ClassifierConfig = CLF) -> dict:
    """One FCD evaluation in a fresh session (empty memory): what it scored, where its real statistics came from."""
    gen = Identity()
    r = Session(["fcd"], cache, classifier=clf).run(gen, gen, data, Protocol(n_styles=1, n_real=n_real), "cpu")
    return {"value": r["fcd/a2b"], "stats": r["meta"]["fcd"]["real_stats"]["a2b"],
            "classifier": r["meta"]["fcd"]["classifier_source"]}


def test_folder_inputs_are_in_the_key(folders, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = fcd(cache, folder_data(folders))
    assert first["stats"] == "computed" and first["classifier"] == "trained"
    again = fcd(cache, folder_data(folders))
    assert again == {**first, "stats": "disk cache", "classifier": "disk cache"}   # the cache does work

    # an image edited in place, its size and mtime kept (what a size+mtime key would serve stale)
    p = folders / "train" / "B" / "0.bmp"
    st = p.stat()
    pixels = np.array(Image.open(p))
    Image.fromarray(255 - pixels).save(p)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (p.stat().st_size, p.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    edited = fcd(cache, folder_data(folders))
    assert edited["stats"] == "computed" and edited["classifier"] == "trained"
    assert edited["value"] != first["value"]

    # the loader's transform
    monkeypatch.setattr(munit.data, "LOADER", munit.data.LOADER + " (changed)")
    assert fcd(cache, folder_data(folders))["stats"] == "computed"
    assert fcd(cache, folder_data(folders))["stats"] == "disk cache"

    # the image size
    assert fcd(cache, folder_data(folders, size=12))["stats"] == "computed"

    # n_real: a subset of the real set has other statistics
    assert fcd(cache, folder_data(folders), n_real=4)["stats"] == "computed"

    # the classifier's settings (FCD's feature network)
    other = fcd(cache, folder_data(folders), clf=ClassifierConfig(epochs=1, width=8, batch_size=8, seed=1, min_steps=0))
    assert other["classifier"] == "trained" and other["stats"] == "computed"
    assert other["value"] != edited["value"]

    # the libraries that compute the numbers
    monkeypatch.setattr(torch, "__version__", torch.__version__ + "+other")
    assert fcd(cache, folder_data(folders))["stats"] == "computed"
    monkeypatch.setattr(torchmetrics, "__version__", torchmetrics.__version__ + ".post1")
    assert fcd(cache, folder_data(folders))["stats"] == "computed"


def test_synthetic_version_is_in_the_key(tmp_path, monkeypatch):
    cache = tmp_path / "cache"

    def data():
        return EvalData(*synthetic_domains(SIZE, "train", n=6), *synthetic_domains(SIZE, "val", n=2))
    assert fcd(cache, data())["stats"] == "computed"
    assert fcd(cache, data())["stats"] == "disk cache"
    monkeypatch.setattr(SyntheticDomain, "version", "renderer-v-next")
    assert fcd(cache, data())["stats"] == "computed"


def test_weights_digest_is_in_the_key(stand_ins, tmp_path):
    """Two different Inception files (both accepted as unverified stand-ins; the same file hitting the cache is
    shown in test_metrics): the second never reads the first's real statistics."""
    first = stand_ins / W.INCEPTION.filename
    state = torch.load(first, weights_only=True)
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name] = state[name] + 1e-3            # another file: one tensor differs
    second = tmp_path / W.INCEPTION.filename
    torch.save(state, second)
    data = EvalData(*synthetic_domains(SIZE, "train", n=2), *synthetic_domains(SIZE, "val", n=1))
    gen = Identity()
    sources = []
    for f in (first, second):
        s = Session(["fid"], tmp_path / "cache", weights={"inception": f}, allow_unverified=True)
        sources.append(s.run(gen, gen, data, Protocol(n_styles=2), "cpu")["meta"]["fid"]["real_stats"]["a2b"])
    assert sources == ["computed", "computed"]

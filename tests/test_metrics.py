"""munit.metrics: every test runs offline on CPU through the code path the real metrics use.

Inception and AlexNet are random-weight stand-ins saved under the real file names in a temporary torch hub
dir; the production code finds and loads them from there exactly as it would load the downloaded files. Their
sha256 is not the official files', so the tests pass ``allow_unverified`` -- the same path a user's
``--allow-unverified-weights`` takes -- and check that the results record it.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn as nn

from munit.config import TrainConfig, model_preset
from munit.data import DataConfig, to_model_range
from munit.metrics import METRICS, ClassifierConfig, Evaluator, MetricError, Protocol, check_available, evaluate
from munit.metrics import weights as W
from munit.metrics.classifier import train_classifier
from munit.metrics.frechet import FrechetDistance
from munit.metrics.protocol import EvalData
from munit.model import Generator
from munit.synthetic import synthetic_domains
from conftest import use_torch_home as _use_torch_home

ALL_KEYS = {f"{m}/{d}" for m in METRICS for d in ("a2b", "b2a", "mean")} | {"acc/classifier_val"}


# ---------------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Never touch the network (downloads forbidden) nor the user's cache (MUNIT_CACHE in tmp)."""
    monkeypatch.setenv(W.ALLOW_DOWNLOAD_ENV, "0")
    monkeypatch.setenv("MUNIT_CACHE", str(tmp_path / "munit_cache"))


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread for this module: on a shared 2-core host, LAPACK's eigvals (torchmetrics' FID) and
    the 299 px Inception convs run 3-5x slower with two OpenMP threads spin-waiting for a busy core; with one
    the module's time stays ~25 s whatever else runs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def empty_hub(monkeypatch, tmp_path):
    _use_torch_home(monkeypatch, tmp_path / "torch_home")
    return tmp_path / "torch_home" / "hub" / "checkpoints"


@pytest.fixture(scope="session")
def data32():
    return EvalData(*synthetic_domains(32, "train", n=48), *synthetic_domains(32, "val", n=8))


@pytest.fixture
def tiny_gens():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return Generator(model_preset("tiny")), Generator(model_preset("tiny"))


class StubGenerator(nn.Module):
    """The generator interface evaluation uses (cfg.style_dim, content_encoder, decode); content = the image.
    ``mode``: "ignore" returns the content (identity translation), "style" tints it by the style code,
    "oracle" returns the paired image of the other domain by looking the input up in ``keys``, "replay" returns
    ``values`` in order (one batch of n_val x n_styles outputs = exactly the images in ``values``)."""

    def __init__(self, mode: str, keys: torch.Tensor | None = None, values: torch.Tensor | None = None):
        super().__init__()
        self.cfg = SimpleNamespace(style_dim=8)
        self.mode = mode
        self.content_encoder = nn.Identity()
        self.register_buffer("keys", to_model_range(keys) if keys is not None else torch.zeros(0))
        self.register_buffer("values", to_model_range(values) if values is not None else torch.zeros(0))

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        if self.mode == "style":
            return torch.tanh(content + style[:, :3, None, None])
        if self.mode == "oracle":
            idx = (content[:, None] - self.keys[None]).abs().flatten(2).sum(-1).argmin(1)
            return self.values[idx]
        if self.mode == "replay":
            assert content.shape[0] == self.values.shape[0], "replay needs all outputs in one batch"
            return self.values
        if self.mode == "negate":
            return -content
        if self.mode == "flat":   # one flat colour per style code: nothing like a real image
            return torch.tanh(2 * style[:, :3, None, None]).expand_as(content).clone()
        return content


# --------------------------------------------------------------------------------------------------- weights

def test_weight_files_are_the_libraries_own():
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
    from torchvision.models import AlexNet_Weights

    assert W.INCEPTION.url == URL_INCEPTION_V3
    assert W.INCEPTION.filename == "weights-inception-2015-12-05-6726825d.pth"
    assert W.ALEXNET.url == AlexNet_Weights.IMAGENET1K_V1.url
    assert W.ALEXNET.filename == "alexnet-owt-7be5be79.pth"


@pytest.mark.parametrize("metric,w", [("fid", W.INCEPTION), ("lpips", W.ALEXNET)])
def test_missing_weights_error_names_file_url_and_option(empty_hub, metric, w):
    with pytest.raises(MetricError) as e:
        check_available([metric])
    msg = str(e.value)
    for part in (w.filename, w.url, w.option, str(empty_hub / w.filename), W.ALLOW_DOWNLOAD_ENV):
        assert part in msg
    with pytest.raises(MetricError, match=w.option):  # the trainer's evaluator fails at construction
        Evaluator([metric])
    with pytest.raises(MetricError, match="does not exist"):
        check_available([metric], weights={w.key: str(empty_hub / "nowhere.pth")})


def test_download_failure_is_reported_not_hidden(empty_hub, monkeypatch):
    monkeypatch.setenv(W.ALLOW_DOWNLOAD_ENV, "1")

    def unreachable(w, dst):
        raise OSError("network is unreachable")

    monkeypatch.setattr(W, "_download", unreachable)  # the network itself is never touched
    with pytest.raises(MetricError, match="download failed.*unreachable") as e:
        check_available(["fid"])
    assert W.INCEPTION.url in str(e.value) and "--inception-weights" in str(e.value)


def test_metrics_without_downloads_need_no_weights(empty_hub):
    check_available(["acc", "fcd", "content"])


class Payload:
    """What a hostile weights file holds: unpickling it runs os.mkdir(marker)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_weight_files_are_checked_and_never_run_code(stand_ins, tmp_path, data32, capsys, monkeypatch):
    """A file whose sha256 is not the official one is refused unless allowed; a file with code in it is refused
    even then, and its code never runs (torch-fidelity and torchvision would unpickle it with
    weights_only=False); a loadable file of another network is a one-line error."""
    from munit.cli import main
    from munit.metrics.session import Session

    inception, alexnet = stand_ins / W.INCEPTION.filename, stand_ins / W.ALEXNET.filename
    for metric in ("fid", "lpips"):
        with pytest.raises(MetricError, match="is not the official .*--allow-unverified-weights"):
            check_available([metric])
    check_available(["fid", "lpips"], allow_unverified=True)

    marker = tmp_path / "code-ran"
    evil = tmp_path / "evil.pth"
    torch.save({"features.0.weight": Payload(marker)}, evil)
    gen = StubGenerator("style")
    for metric, key in (("fid", "inception"), ("lpips", "alexnet"), ("kid", "inception")):
        with pytest.raises(MetricError, match="not a plain weights file and is refused"):
            evaluate(gen, gen, data32.train_a, data32.train_b, data32.val_a, data32.val_b, [metric],
                     Protocol(n_val=2, n_styles=2), weights={key: evil}, allow_unverified=True)
    assert not marker.exists()

    capsys.readouterr()
    rc = main(["evaluate", "--checkpoint", str(tmp_path / "unused.pt"), "--metrics", "fid",
               "--inception-weights", str(alexnet), "--allow-unverified-weights"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0]
    assert f"is not {W.INCEPTION.filename}" in err[0] and "missing" in err[0]

    # the official digest is accepted without the flag (here: pretend the stand-in is the official file)
    monkeypatch.setitem(W.BACKBONES, "inception", dataclasses.replace(W.INCEPTION, sha256=W.sha256_file(inception)))
    assert Session(["fid"]).scorers[0].file.meta()["weights_verified"] is True


def test_safe_loading_builds_the_libraries_own_networks(stand_ins):
    """The networks built from checked state dicts compute exactly what torchmetrics' own (unsafe) loading of
    the same files computes."""
    from torchmetrics.image.fid import NoTrainInceptionV3
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    from munit.metrics.lpips import lpips_metric

    inception, alexnet = (W.check(w, stand_ins / w.filename, allow_unverified=True) for w in (W.INCEPTION, W.ALEXNET))
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    theirs = NoTrainInceptionV3("inception-v3-compat", ["2048"], str(inception.path), antialias=False)
    assert torch.equal(W.inception_network(inception.state_dict())(x), theirs(x))
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    theirs = LearnedPerceptualImagePatchSimilarity(net_type="alex")   # torchvision loads the hub file
    assert lpips_metric(alexnet.state_dict())(a, b) == pytest.approx(float(theirs(a, b)), abs=1e-6)


def test_bad_names_and_sizes():
    with pytest.raises(MetricError, match="unknown metric 'fidd'"):
        check_available(["fidd"])
    with pytest.raises(MetricError, match="no metrics"):
        check_available([])
    with pytest.raises(MetricError, match="n_styles"):
        Protocol(n_styles=0)
    with pytest.raises(MetricError, match="n_val"):
        Protocol(n_val=0)


# ----------------------------------------------------------------------------------------- Fréchet distance

class IdentityFeatures(nn.Module):
    """A custom torchmetrics feature extractor: the 'images' already are d-dim features."""

    def __init__(self, d: int):
        super().__init__()
        self.num_features = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _exact_gaussian_sample(n: int, mean: np.ndarray, cov: np.ndarray, seed: int) -> torch.Tensor:
    """n samples whose sample mean and (unbiased) sample covariance are exactly ``mean`` and ``cov``."""
    z = np.random.default_rng(seed).standard_normal((n, len(mean)))
    z -= z.mean(0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T  # whitened: sample cov = I
    return torch.from_numpy(mean + z @ np.linalg.cholesky(cov).T)


def test_frechet_distance_matches_closed_form():
    rng = np.random.default_rng(0)
    d = 6
    m1, m2 = rng.normal(size=d), rng.normal(size=d) + 1.0
    a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    s1, s2 = a @ a.T + 0.5 * np.eye(d), b @ b.T + 0.1 * np.eye(d)
    real, fake = _exact_gaussian_sample(400, m1, s1, 1), _exact_gaussian_sample(300, m2, s2, 2)
    expected = float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real))

    fd = FrechetDistance(IdentityFeatures(d))
    stats = fd.real_stats(real.split(64))  # accumulated batch by batch, as real sets are
    assert stats.n == 400
    assert fd.distance(stats, fake.split(50)) == pytest.approx(expected, rel=1e-6)
    assert abs(fd.distance(stats, real.split(100))) < 1e-8  # FD(x, x) = 0
    # swapping real statistics in and out (one metric, two target domains) changes nothing
    other = fd.real_stats(fake.split(64))
    assert fd.distance(stats, fake.split(50)) == pytest.approx(expected, rel=1e-6)
    assert abs(fd.distance(other, fake.split(50))) < 1e-8


# ----------------------------------------------------------------------------------- FID and LPIPS, end to end

def test_fid_and_lpips_end_to_end_with_stand_in_weights(stand_ins, tmp_path):
    """One evaluation through the production path (hub cache -> checked state dicts -> torch-fidelity's Inception /
    torchvision's AlexNet -> torchmetrics). a2b replays the real target set exactly (2 inputs x 2 styles = the 4
    train_b images): FID(x, x) ~ 0 and distinct outputs per input (LPIPS > 0); b2a is the identity (B images
    scored as A): FID > 0, LPIPS = 0."""
    train_a, train_b = synthetic_domains(32, "train", n=4)
    val_a, val_b = synthetic_domains(32, "val", n=2)
    gen_a, gen_b = StubGenerator("ignore"), StubGenerator("replay", values=train_b.images)
    r = evaluate(gen_a, gen_b, train_a, train_b, val_a, val_b, ["fid", "lpips"], Protocol(n_styles=2, batch_size=4),
                 cache_dir=tmp_path / "cache", allow_unverified=True)
    assert set(r) == {k for k in ALL_KEYS if k.split("/")[0] in ("fid", "lpips")} | {"meta"}
    for k, v in r.items():
        if k != "meta":
            assert isinstance(v, float) and math.isfinite(v), k
    assert abs(r["fid/a2b"]) < 1e-3 * r["fid/b2a"] and r["fid/b2a"] > 1.0
    assert r["fid/mean"] == pytest.approx((r["fid/a2b"] + r["fid/b2a"]) / 2)
    assert r["lpips/a2b"] > 1e-3 and r["lpips/b2a"] == pytest.approx(0.0, abs=1e-7)
    fid, lp = r["meta"]["fid"], r["meta"]["lpips"]
    assert fid["weights"] == str(stand_ins / W.INCEPTION.filename) and fid["backbone"].startswith(W.INCEPTION.backbone)
    assert fid["weights_sha256"] == W.sha256_file(stand_ins / W.INCEPTION.filename)[:16]
    for m in (fid, r["meta"]["lpips"]):   # the stand-ins are not the official files, and every result says so
        assert m["weights_verified"] is False and "UNVERIFIED" in m["backbone"]
    assert fid["n_real"] == {"a2b": 4, "b2a": 4} and fid["n_fake"] == {"a2b": 4, "b2a": 4}
    assert fid["real_stats"] == {"a2b": "computed", "b2a": "computed"}
    assert lp["weights"] == str(stand_ins / W.ALEXNET.filename) and lp["backbone"].startswith(W.ALEXNET.backbone)
    assert lp["pairs_per_image"] == 1 and lp["n_pairs"] == {"a2b": 2, "b2a": 2}
    assert len(list((tmp_path / "cache" / "real_stats").glob("fid-*.pt"))) == 2


def test_alexnet_from_an_explicit_path(stand_ins, data32, empty_hub):
    """--alexnet-weights PATH: the file is read from there; nothing is copied into the hub cache."""
    gen = StubGenerator("style")
    r = evaluate(gen, gen, data32.train_a, data32.train_b, data32.val_a, data32.val_b, ["lpips"],
                 Protocol(n_val=2, n_styles=2), weights={"alexnet": stand_ins / W.ALEXNET.filename},
                 allow_unverified=True)
    assert r["lpips/mean"] > 0 and r["meta"]["lpips"]["weights"] == str(stand_ins / W.ALEXNET.filename)
    assert not empty_hub.exists() or not any(empty_hub.iterdir())
    assert torch.hub.get_dir() == str(empty_hub.parent)  # the hub dir is restored


def test_lpips_diversity_zero_iff_style_ignored(stand_ins, data32):
    protocol = Protocol(n_val=3, n_styles=4, batch_size=8)
    same = StubGenerator("ignore")
    r0 = evaluate(same, same, data32.train_a, data32.train_b, data32.val_a, data32.val_b, ["lpips"], protocol,
                  allow_unverified=True)
    assert r0["lpips/a2b"] == pytest.approx(0.0, abs=1e-7) and r0["lpips/b2a"] == pytest.approx(0.0, abs=1e-7)
    styled = StubGenerator("style")
    r1 = evaluate(styled, styled, data32.train_a, data32.train_b, data32.val_a, data32.val_b, ["lpips"], protocol,
                  allow_unverified=True)
    assert r1["lpips/a2b"] > 1e-3 and r1["lpips/b2a"] > 1e-3
    assert r1["meta"]["lpips"]["n_pairs"] == {"a2b": 3 * 6, "b2a": 3 * 6}


def test_lpips_features_once_equals_the_pairwise_metric():
    """The diversity path (AlexNet once per output, pairs from Gram matrices) against torchmetrics' own update
    (both images of every pair through the network): equal to 1e-6 per pair and in the mean, for unrelated,
    nearly equal and equal outputs."""
    from munit.metrics.lpips import lpips_metric, pair_scores
    metric = lpips_metric(W.alexnet_state_dict(1))
    g = torch.Generator().manual_seed(0)
    k, n = 3, 5
    base = torch.rand(k, 1, 3, 48, 48, generator=g) * 2 - 1
    x = torch.cat([torch.rand(k, 2, 3, 48, 48, generator=g) * 2 - 1,                           # unrelated
                   (base + 1e-2 * torch.randn(k, 1, 3, 48, 48, generator=g)).clamp(-1, 1),      # nearly equal
                   base, base], dim=1)                                                          # equal
    i, j = torch.triu_indices(n, n, offset=1)
    with torch.no_grad():
        once = pair_scores(metric.net, x, i, j)
        metric.update(x[:, i].flatten(0, 1), x[:, j].flatten(0, 1))
        pairwise = metric.all_scores[0].view(k, -1)
        assert once.shape == (k, 10) and pairwise.shape == (k, 10)
        assert (once - pairwise).abs().max() < 1e-6
        assert abs(float(once.mean()) - float(metric.compute())) < 1e-6
        assert once[:, -1].abs().max() < 1e-9 and pairwise[:, 0].min() > 1e-3   # equal: 0; unrelated: not


# ------------------------------------------------------------------------------ classifier: acc, fcd, content

CLF = ClassifierConfig(epochs=8, min_steps=0)


@pytest.fixture(scope="session")
def data32_clf():
    """Enough train images for the domain classifier to learn the domains' appearance (v2: no global cue)."""
    return EvalData(*synthetic_domains(32, "train", n=800), *synthetic_domains(32, "val", n=20))


def test_translation_accuracy_oracle_vs_identity(empty_hub, data32_clf, tmp_path):
    d = data32_clf
    oracle_a = StubGenerator("oracle", keys=d.val_b.images, values=d.val_a.images)  # decodes B inputs as A
    oracle_b = StubGenerator("oracle", keys=d.val_a.images, values=d.val_b.images)
    identity, negation = StubGenerator("ignore"), StubGenerator("negate")
    protocol = Protocol(n_styles=2)
    metrics = ["acc", "fcd", "content", "fit"]
    kw = dict(cache_dir=tmp_path / "cache", classifier=CLF)
    good = evaluate(oracle_a, oracle_b, d.train_a, d.train_b, d.val_a, d.val_b, metrics, protocol, **kw)
    bad = evaluate(identity, identity, d.train_a, d.train_b, d.val_a, d.val_b, metrics, protocol, **kw)
    neg = evaluate(negation, negation, d.train_a, d.train_b, d.val_a, d.val_b, ["acc", "fit"], protocol, **kw)

    assert good["acc/classifier_val"] >= 0.95
    assert good["acc/a2b"] >= 0.95 and good["acc/b2a"] >= 0.95
    assert bad["acc/a2b"] <= 0.15 and bad["acc/b2a"] <= 0.15       # no polarity shortcut: the input's look
    assert neg["acc/mean"] <= 0.6                                   # inverted inputs are not the other domain
    assert good["fcd/mean"] < bad["fcd/mean"]
    assert good["content/mean"] < 0.02 and bad["content/mean"] < 0.5   # identity keeps the geometry ...
    assert good["fit/mean"] < 0.005 < 0.05 < min(bad["fit/mean"], neg["fit/mean"])   # ... the fit sees through it
    assert good["meta"]["acc"]["classifier_source"] == "trained"
    assert bad["meta"]["acc"]["classifier_source"] == "disk cache"  # trained once per dataset and settings
    assert good["meta"]["acc"]["classifier"] == bad["meta"]["fcd"]["classifier"]
    assert good["meta"]["acc"]["n_fake"] == {"a2b": 40, "b2a": 40}
    assert len(list((tmp_path / "cache" / "classifier").glob("*.pt"))) == 1


def test_classifier_training_is_deterministic_and_leaves_global_rng(data32):
    cfg = ClassifierConfig(epochs=1, batch_size=16, width=8, min_steps=0)
    state = torch.get_rng_state()
    a, b = train_classifier(data32, cfg, torch.device("cpu")), train_classifier(data32, cfg, torch.device("cpu"))
    assert torch.equal(state, torch.get_rng_state())
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(va, vb), k
    assert a.val_acc == b.val_acc


def test_a_small_train_set_still_gets_min_steps_of_classifier_training(data32):
    """5 epochs of 96 images at batch 64 are 10 steps; the default trains at least ``min_steps`` (300) instead,
    and an explicit ``min_steps=0`` keeps exactly the epochs asked for (the CLI's --classifier-epochs)."""
    cfg = ClassifierConfig(width=8, min_steps=40)       # 2 steps per epoch here: 20 epochs
    assert train_classifier(data32, cfg, torch.device("cpu")).info["epochs"] == 20
    assert ClassifierConfig().min_steps == 300 and ClassifierConfig().epochs == 5
    exact = ClassifierConfig(epochs=3, width=8, min_steps=0)
    assert train_classifier(data32, exact, torch.device("cpu")).info["epochs"] == 3
    with pytest.raises(MetricError, match="min_steps"):
        ClassifierConfig(min_steps=-1)


def test_content_needs_the_synthetic_pairs(data32, tiny_gens):
    class Plain(torch.utils.data.Dataset):
        def __init__(self, ds):
            self.ds = ds

        def __len__(self):
            return len(self.ds)

        def __getitem__(self, i):
            return self.ds[i]

    d = data32
    with pytest.raises(MetricError, match="synthetic"):
        evaluate(*tiny_gens, d.train_a, d.train_b, Plain(d.val_a), Plain(d.val_b), ["content"], Protocol(n_val=2))
    with pytest.raises(MetricError, match="synthetic"):
        check_available(["content"], data_source="/data/afhq")


def test_evaluation_leaves_rng_and_train_mode_alone(data32, tiny_gens):
    gen_a, gen_b = tiny_gens
    d = data32
    torch.manual_seed(123)
    state = torch.get_rng_state()
    r1 = evaluate(gen_a, gen_b, d.train_a, d.train_b, d.val_a, d.val_b, ["content"], Protocol(n_val=3, n_styles=2))
    assert torch.equal(state, torch.get_rng_state())
    assert gen_a.training and gen_b.training
    torch.manual_seed(999)  # the style codes come from Protocol.seed alone
    r2 = evaluate(gen_a, gen_b, d.train_a, d.train_b, d.val_a, d.val_b, ["content"], Protocol(n_val=3, n_styles=2))
    assert r1["content/a2b"] == r2["content/a2b"]
    r3 = evaluate(gen_a, gen_b, d.train_a, d.train_b, d.val_a, d.val_b, ["content"],
                  Protocol(n_val=3, n_styles=2, seed=1))
    assert r3["content/a2b"] != r1["content/a2b"]


# ---------------------------------------------------------------------------------- trainer callback and CLI

def test_trainer_callback_and_cli(empty_hub, tmp_path, capsys):
    from munit.cli import main
    from munit.trainer import Trainer

    cache = tmp_path / "cache"
    ev = Evaluator(["acc", "content"], Protocol(n_val=2, n_styles=2), cache_dir=cache,
                   classifier=ClassifierConfig(epochs=1, min_steps=0))
    tcfg = TrainConfig(iters=2, eval_every=2, progress=False, sample_every=0, checkpoint_every=0, device="cpu")
    dcfg = DataConfig(synthetic_train=32, synthetic_val=4)
    result = Trainer(model_preset("tiny"), tcfg, data_cfg=dcfg, out_dir=tmp_path / "run", evaluator=ev).fit()
    assert set(result.last_metrics) == {"acc/a2b", "acc/b2a", "acc/mean", "acc/classifier_val", "content/a2b",
                                        "content/b2a", "content/mean"}
    assert all(isinstance(v, float) for v in result.last_metrics.values())
    meta = result.last_meta  # provenance travels with the values: to the callbacks and into the result
    assert "domain classifier" in meta["acc"]["backbone"] and meta["acc"]["protocol"]["seed"] == tcfg.seed

    ckpt = str(result.checkpoint)
    capsys.readouterr()
    rc = main(["evaluate", "--checkpoint", ckpt, "--metrics", "acc,fcd,content", "--n-val", "4", "--n-styles", "2",
               "--cache-dir", str(cache), "--classifier-epochs", "1", "--device", "cpu"])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 0 and len(out) == 1
    r = json.loads(out[0])
    assert {k for k in ALL_KEYS if k.split("/")[0] in ("acc", "fcd", "content")} <= set(r)
    assert r["checkpoint"] == {"path": ckpt, "step": 2}
    assert r["meta"]["fcd"]["n_fake"] == {"a2b": 8, "b2a": 8}
    assert r["meta"]["acc"]["classifier_source"] == "disk cache"  # the training run's classifier

    rc = main(["evaluate", "--checkpoint", ckpt, "--metrics", "fid", "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: ")
    assert W.INCEPTION.filename in err[0] and "--inception-weights" in err[0]

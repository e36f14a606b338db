"""KID, one module of munit/metrics and listed nowhere else (the metric recipe of docs/architecture.md): it computes
through the real code path with stand-in Inception weights, and a study that logs it shows it in analysis' table,
figures and report with no line of analysis/ naming it."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from munit.metrics import METRICS, Protocol, evaluate
from munit.metrics import weights as W
from munit.synthetic import synthetic_domains
from test_metrics import StubGenerator

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv(W.ALLOW_DOWNLOAD_ENV, "0")
    monkeypatch.setenv("MUNIT_CACHE", str(tmp_path / "munit_cache"))


def test_kid_is_registered_with_fids_weights_and_direction():
    spec = METRICS["kid"]
    assert spec.weights == ("inception",) and not spec.higher_is_better and spec.direction == "minimize"
    assert spec.keys() == ("kid/a2b", "kid/b2a", "kid/mean")


def test_kid_end_to_end_with_stand_in_weights(stand_ins, tmp_path):
    """a2b replays the real target set (KID ~ 0), b2a decodes flat colours (another distribution: KID > 0)."""
    train_a, train_b = synthetic_domains(32, "train", n=16)
    val_a, val_b = synthetic_domains(32, "val", n=8)
    gen_a, gen_b = StubGenerator("flat"), StubGenerator("replay", values=train_b.images)
    state = torch.get_rng_state()
    kw = dict(metrics=["kid"], protocol=Protocol(n_styles=2, batch_size=16), cache_dir=tmp_path / "cache",
              allow_unverified=True)
    r = evaluate(gen_a, gen_b, train_a, train_b, val_a, val_b, **kw)
    assert torch.equal(state, torch.get_rng_state())                   # seeded subsets, global RNG untouched
    assert all(math.isfinite(r[k]) for k in ("kid/a2b", "kid/b2a", "kid/mean"))
    assert abs(r["kid/a2b"]) < 0.2 * r["kid/b2a"] and r["kid/b2a"] > 0
    meta = r["meta"]["kid"]
    assert meta["weights"] == str(stand_ins / W.INCEPTION.filename)
    assert meta["subset_size"] == {"a2b": 16, "b2a": 16} and meta["real_features"] == {"a2b": "computed",
                                                                                    "b2a": "computed"}
    again = evaluate(gen_a, gen_b, train_a, train_b, val_a, val_b, **kw)   # same numbers, real features cached
    assert again["kid/mean"] == r["kid/mean"]
    assert again["meta"]["kid"]["real_features"] == {"a2b": "disk cache", "b2a": "disk cache"}
    assert len(list((tmp_path / "cache" / "real_features").glob("kid-*.pt"))) == 2


def test_a_study_logging_kid_shows_it_in_analysis_without_naming_it_there(stand_in_home, tmp_path, monkeypatch,
                                                                           capsys):
    monkeypatch.setenv("TORCH_HOME", str(stand_in_home))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    from experiments import sweep
    from test_sweep_helpers import tiny_args

    root = tmp_path / "mlruns"
    args = tiny_args(root, iters=4, eval_every=4, metrics="kid", trials=1)   # no baselines: 7 Inception passes
    args[args.index("--eval-real") + 1] = "8"
    assert sweep.main(args + ["--objective", "kid/mean", "--allow-unverified-weights"]) == 0
    from test_sweep_helpers import runs
    (run,) = runs(root, "trial")   # the MLflow tag says what computed the metric, stand-in included
    assert "UNVERIFIED" in run.data.tags["munit.backbone.kid"]

    from analysis.cli import main as analysis
    from analysis.figures import metric_curves
    from analysis.load import load_study
    from analysis.report import make_report
    from analysis.tables import compare_table, eval_columns

    capsys.readouterr()
    uri, storage = f"sqlite:///{root / 'mlflow.db'}", str(root / "optuna.journal")
    assert analysis(["compare", "--experiment", "munit-sweep", "--tracking-uri", uri, "--storage", storage,
                     "--sort", "kid"]) == 0
    out = capsys.readouterr().out
    assert "kid/mean best" in out and "kid/a2b final" in out
    study = load_study("munit-sweep", uri, storage)
    assert eval_columns(study)[:3] == ["kid/a2b", "kid/b2a", "kid/mean"]
    assert study.catalog.higher_is_better("kid/mean best") is False and "KID" in study.catalog.unit("kid/mean")
    table = compare_table(study)
    assert math.isfinite(table.loc[0, "kid/mean final"]) and table.loc[0, "objective"] == table.loc[0, "kid/mean final"]
    assert metric_curves(study, [0], tmp_path / "m.png") is not None
    report = make_report(study, tmp_path / "report", log_to_mlflow=False)
    assert "kid/mean" in report.html.read_text()
    # ... and nothing in analysis/ knows the metric by name
    assert not [p for p in (ROOT / "analysis").rglob("*.py") if "kid" in p.read_text().lower()]

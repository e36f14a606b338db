"""analysis/: tables equal what MLflow stores, every format renders, every figure is a real image, bad input
gives one clear error line. The study comes from tests/analysis_fixtures.py (written per docs/tracking.md)."""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analysis_fixtures import assert_png, study_report, study_store  # noqa: F401  (session fixtures)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
# the seed blog's loss weights (experiments/presets.py); their StepLR step depends on the study's scale
BLOG_LAMBDAS = {1: dict(lambda_x=10.0, lambda_s=1.0, lambda_c=1.0, lambda_cyc=0.0),
                2: dict(lambda_x=7.0, lambda_s=3.0, lambda_c=3.0, lambda_cyc=3.0),
                3: dict(lambda_x=7.0, lambda_s=3.0, lambda_c=3.0, lambda_cyc=10.0)}


@pytest.fixture(scope="module")
def study(study_store):
    from analysis.load import load_study

    return load_study(study_store.main, study_store.tracking_uri, study_store.storage)


@pytest.fixture(scope="module")
def table(study):
    from analysis.tables import compare_table

    return compare_table(study)


def _history(client, run_id: str, key: str) -> list:
    return sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))


# ---------------------------------------------------------------------------------------------- values
def test_table_values_equal_mlflow(study_store, study, table):
    """Every metric cell equals what MlflowClient.get_metric_history returns for that run and key."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=study_store.tracking_uri)
    hib = {"fid": False, "fcd": False, "content": False, "acc": True, "lpips": True}
    checked = 0
    for _, row in table.iterrows():
        n = int(row["trial"])
        run_id = study_store.run_ids[n]
        for col in table.columns:
            if not (col.endswith(" best") or col.endswith(" final")):
                continue
            key, kind = col.rsplit(" ", 1)
            hist = _history(client, run_id, key)
            if not hist:
                assert math.isnan(row[col]), (n, col)
                continue
            values = [m.value for m in hist]
            want = hist[-1].value if kind == "final" else (max(values) if hib[key.split("/")[0]] else min(values))
            assert row[col] == pytest.approx(want, rel=1e-12, abs=0), (n, col)
            checked += 1
        for key, col in (("wall_s", "wall_s"), ("acc/classifier_val", "acc/classifier_val")):
            hist = _history(client, run_id, key)
            assert (math.isnan(row[col]) if not hist else row[col] == pytest.approx(hist[-1].value)), (n, col)
        hist = _history(client, run_id, "it_per_s")
        assert row["it_per_s"] == pytest.approx(np.mean([m.value for m in hist]))
        iters = _history(client, run_id, "iters_reached")
        want_iters = iters[-1].value if iters else max(m.step for m in _history(client, run_id, "loss/g"))
        assert row["iters"] == want_iters
    assert checked > 50


def test_table_matches_optuna(study_store, study, table):
    """Status, params and objective come from the Optuna storage."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    ost = optuna.load_study(study_name=study_store.main,
                            storage=JournalStorage(JournalFileBackend(study_store.storage)))
    words = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}
    assert sorted(table["trial"]) == [t.number for t in ost.trials]
    for t in ost.trials:
        row = table[table["trial"] == t.number].iloc[0]
        assert row["status"] == words[t.state.name]
        for p, v in t.params.items():
            assert row[p] == pytest.approx(v)
        assert (math.isnan(row["objective"]) if t.value is None else row["objective"] == pytest.approx(t.value))
    assert dict(zip(table["trial"], table["status"]))[study_store.pruned] == "pruned"
    assert dict(zip(table["trial"], table["status"]))[study_store.failed] == "failed"
    for k, n in study_store.blog.items():
        assert int(table.loc[table["trial"] == n, "blog_trial"].iloc[0]) == k
        assert study.label(n) == f"{n} (blog trial {k})"
        lambdas = {p: table.loc[table["trial"] == n, p].iloc[0] for p in BLOG_LAMBDAS[k]}
        assert lambdas == BLOG_LAMBDAS[k]


def test_only_present_metric_columns(study_store, table):
    from analysis.load import load_study
    from analysis.tables import compare_table

    # the real CPU sweep computed content/acc/fcd only: no wall of empty FID/LPIPS columns
    assert {"fcd/mean best", "fcd/a2b final", "content/b2a best", "acc/mean final", "acc/classifier_val"} <= set(table)
    assert not [c for c in table.columns if c.startswith(("fid", "lpips"))]
    multi = compare_table(load_study(study_store.multi, study_store.tracking_uri, study_store.storage))
    assert not [c for c in multi.columns if c.startswith(("fcd", "acc", "content"))]
    assert {"fid/mean best", "lpips/mean best", "objective_0", "objective_1"} <= set(multi.columns)


# ---------------------------------------------------------------------------------------------- formats
def test_every_format_renders(study_store, study, table):
    from analysis.tables import render

    md = render(table, study, "markdown")
    assert md.splitlines()[0].startswith("| trial") and f"{study_store.blog[1]} (blog trial 1)" in md
    csv = render(table, study, "csv")
    back = pd.read_csv(io.StringIO(csv))
    assert list(back.columns) == list(table.columns)
    num = [c for c in table.columns if c != "status"]
    pd.testing.assert_frame_equal(back[num].astype("float64"), table[num].astype("float64"), rtol=1e-9)
    tex = render(table, study, "latex")
    assert "\\begin{tabular}" in tex and "lambda\\_x" in tex and "—" in tex
    html = render(table, study, "html")
    assert "<table" in html and "blog trial 3" in html and "—" in html


def test_gaps_show_as_dash(study_store, study, table):
    from analysis.tables import display_table

    disp = display_table(table, study).set_index("trial")
    failed = disp.loc[str(study_store.failed)]
    assert failed["status"] == "failed"
    assert failed["fcd/mean best"] == "—" and failed["objective"] == "—"
    pruned = disp.loc[study.label(study_store.pruned)]
    # pruned at its first evaluation: that evaluation's values are there, the rest of the run is not
    assert pruned["status"] == "pruned" and pruned["fcd/mean final"] != "—" and pruned["objective"] != "—"
    done = table.loc[table["status"] == "complete", "iters"]
    assert int(pruned["iters"]) < done.min()
    csv_row = pd.read_csv(io.StringIO(__import__("analysis.tables", fromlist=["render"]).render(table, study, "csv")))
    assert csv_row.loc[csv_row["trial"] == study_store.failed, "fcd/mean best"].isna().all()


def test_sort(study, table):
    from analysis.tables import sort_table

    by_fcd = sort_table(table, "fcd", None, study)
    vals = by_fcd["fcd/mean best"].tolist()
    present = [v for v in vals if not math.isnan(v)]
    assert present == sorted(present) and all(math.isnan(v) for v in vals[len(present):])
    by_acc = sort_table(table, "acc/mean final", None, study)
    accs = [v for v in by_acc["acc/mean final"] if not math.isnan(v)]
    assert accs == sorted(accs, reverse=True)
    asc = sort_table(table, "acc/mean final", True, study)
    assert [v for v in asc["acc/mean final"] if not math.isnan(v)] == sorted(accs)
    assert sort_table(table, "objective", None, study)["objective"].iloc[0] == table["objective"].min()


# ---------------------------------------------------------------------------------------------- CLI
def _cli(capsys, *args: str) -> tuple[int, str, str]:
    from analysis.cli import main

    rc = main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_compare_every_format(study_store, tmp_path, capsys):
    common = ["--experiment", study_store.main, "--tracking-uri", study_store.tracking_uri,
              "--storage", study_store.storage]
    for fmt, ext in (("markdown", "md"), ("csv", "csv"), ("latex", "tex"), ("html", "html")):
        rc, out, err = _cli(capsys, "compare", *common, "--format", fmt, "--out", str(tmp_path), "--sort", "fcd")
        assert rc == 0, err
        assert (tmp_path / f"compare.{ext}").read_text(encoding="utf-8").strip() == out.strip()
    rc, out, _ = _cli(capsys, "compare", *common, "--brief")
    assert rc == 0 and "fcd/mean best" in out and "fcd/a2b" not in out


def test_baselines_are_reference_rows(study_store, study, table, capsys):
    """The sweep scored the reference generators with the study's metrics; compare sorts them among the trials
    and says which trials beat them, from the same numbers."""
    import pandas as pd

    from analysis.tables import baseline_verdicts, sort_table, with_baselines
    from munit.programs import PROGRAMS
    names = ["oracle", "identity", "negation", "constant", "fixed_image", "random_init", "style_noise", *PROGRAMS]
    assert list(study.baselines.index) == names
    full = sort_table(with_baselines(table, study), "objective", None, study)
    refs = full[full["status"] == "baseline"].set_index("baseline")
    assert len(refs) == len(names) and refs["trial"].isna().all() and len(full) == len(table) + len(names)
    for name, r in study.baselines.iterrows():
        assert refs.at[name, "objective"] == r["metrics.fcd/mean"] == refs.at[name, "fcd/mean final"]
    assert list(full["objective"].dropna()) == sorted(full["objective"].dropna())   # sorted together
    done = table[(table["status"] == "complete")]["objective"]
    bar = refs.drop("oracle")["objective"].min()
    said = baseline_verdicts(full, study)
    assert said[0].startswith(f"{int((done < bar).sum())} of {len(done)} complete trials beat every "
                              "reference row on fcd/mean")
    rc, out, _ = _cli(capsys, "compare", "--experiment", study_store.main, "--tracking-uri",
                      study_store.tracking_uri, "--storage", study_store.storage)
    assert rc == 0 and "| baseline: identity" in out and "| baseline: oracle" in out and said[0][:40] in out
    rc, out, _ = _cli(capsys, "compare", "--experiment", study_store.main, "--tracking-uri",
                      study_store.tracking_uri, "--storage", study_store.storage, "--format", "csv")
    csv = pd.read_csv(__import__("io").StringIO(out))
    assert sorted(csv["baseline"].dropna()) == sorted(study.baselines.index)


def test_cli_unknown_experiment(study_store, capsys):
    rc, out, err = _cli(capsys, "compare", "--experiment", "no-such-study", "--tracking-uri", study_store.tracking_uri,
                        "--storage", study_store.storage)
    assert rc == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown experiment 'no-such-study'")
    assert study_store.main in lines[0] and study_store.multi in lines[0]


def test_cli_empty_study(study_store, capsys):
    rc, _, err = _cli(capsys, "report", "--experiment", study_store.empty, "--tracking-uri",
                      study_store.tracking_uri, "--storage", study_store.storage, "--out", "/nonexistent/x")
    assert rc == 2
    assert err.startswith("error: study 'munit-test-empty' is empty") and "experiments/sweep.py" in err


def test_cli_missing_store(tmp_path, capsys):
    rc, _, err = _cli(capsys, "compare", "--experiment", "x", "--tracking-uri", f"sqlite:///{tmp_path}/none.db")
    assert rc == 2 and err.startswith("error: no MLflow tracking store") and not (tmp_path / "none.db").exists()


def test_default_output_folder_stays_under_out():
    """An experiment name is made one safe folder name: '--experiment /abs' must not write to /abs/report."""
    from argparse import Namespace

    from analysis.cli import _out

    for name in ("/abs/x", "../../x", "munit-sweep", ".hidden"):
        path = _out(Namespace(out=None, experiment=name, command="report"))
        assert path.parts[0] == "out" and len(path.parts) == 3 and ".." not in path.parts, path
        assert not path.parts[1].startswith(".")


def test_cli_bad_sort(study_store, capsys):
    rc, _, err = _cli(capsys, "compare", "--experiment", study_store.main, "--tracking-uri",
                      study_store.tracking_uri, "--storage", study_store.storage, "--sort", "nonsense")
    assert rc == 2 and "cannot sort by 'nonsense'" in err and "fcd/mean best" in err


def test_without_optuna_storage_falls_back_to_mlflow(study_store, table, tmp_path):
    """No Optuna storage: states from the optuna.state tags, params from MLflow params, a note says so."""
    from analysis.load import load_study
    from analysis.tables import compare_table

    s = load_study(study_store.main, study_store.tracking_uri, str(tmp_path / "missing.journal"))
    assert s.optuna is None and any("not found" in n for n in s.notes)
    assert not (tmp_path / "missing.journal").exists()
    t2 = compare_table(s)
    assert t2["status"].tolist() == table["status"].tolist()
    cols = [c for c in table.columns if c not in ("status", "objective", "blog_trial")]
    # MLflow holds 3-significant-digit display values of the swept floats; the exact ones live in the study
    pd.testing.assert_frame_equal(t2[cols], table[cols], check_exact=False, rtol=5e-3)
    done = table["status"] == "complete"
    assert t2.loc[done, "objective"].tolist() == pytest.approx(table.loc[done, "objective"].tolist())


# ---------------------------------------------------------------------------------------------- figures
def test_blog(study_store, study, tmp_path):
    from analysis.blog import make_blog

    res = make_blog(study, tmp_path)
    pngs = sorted(p.name for p in res.files if p.suffix == ".png")
    assert pngs == ["blog_metrics.png", "blog_samples_a2b.png", "blog_samples_b2a.png", "blog_training.png"]
    for p in res.files:
        if p.suffix == ".png":
            assert_png(p)
    assert list(res.table["blog_trial"]) == [1, 2, 3]
    assert not res.missing
    md = (tmp_path / "blog.md").read_text()
    assert "blog trial 2" in md and "blog_samples_a2b.png" in md
    # the three trials' final grids side by side: wider than the three grids together
    from analysis.samples import final_image

    widths = [final_image(study, study_store.run_ids[n], "samples/a2b")[1].width for n in study_store.blog.values()]
    with Image.open(tmp_path / "blog_samples_a2b.png") as im:
        assert im.width > sum(widths)


def test_blog_with_a_missing_trial(study_store, tmp_path):
    from analysis.blog import make_blog
    from analysis.load import load_study

    s = load_study(study_store.main, study_store.tracking_uri, study_store.storage)
    s.trials = s.trials.drop(index=study_store.blog[2])
    s.runs = s.runs.drop(index=study_store.blog[2])
    res = make_blog(s, tmp_path)
    assert res.missing == [f"blog trial 2 is not in study '{study_store.main}'"]
    assert list(res.table["blog_trial"]) == [1, 3]
    assert_png(tmp_path / "blog_samples_b2a.png")


def test_report(study_store, study, study_report):
    from mlflow import MlflowClient

    res = study_report
    names = {p.name for p in res.files}
    assert {"report.html", "metrics.png", "training.png", "parallel_coordinates.png", "importances.png",
            "best_samples_a2b.png", "best_samples_b2a.png", "trials.csv", "trials.md"} <= names
    assert "pareto_front.png" not in names
    for p in res.files:
        if p.suffix == ".png":
            assert_png(p)
    html = res.html.read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') >= 6 and "src=\"http" not in html and "<table" in html
    for n in study_store.run_ids:
        assert f">{study.label(n)}<" in html
    assert ">baseline: identity<" in html and "complete trials beat every reference row" in html
    # the verdict comes first: above the facts and the trials table
    verdict = html.index("complete trials beat every reference row")
    assert html.index('id="verdict"') < verdict < html.index("<dl") < html.index("<table")
    assert html.index("Best trial: ") < html.index("<table")
    logged = {Path(f.path).name for f in MlflowClient(tracking_uri=study_store.tracking_uri)
              .list_artifacts(study_store.parent_run_id, "report")}
    assert names <= logged
    assert res.logged_to == study_store.parent_run_id


def test_report_multi_objective(study_store, tmp_path):
    from analysis.load import load_study
    from analysis.report import make_report

    s = load_study(study_store.multi, study_store.tracking_uri, study_store.storage)
    assert s.is_multi_objective and s.objective_keys == ["fid/mean", "lpips/mean"]
    res = make_report(s, tmp_path, log_to_mlflow=False)
    assert_png(tmp_path / "pareto_front.png")
    assert_png(tmp_path / "importances.png")
    assert "no samples" in res.html.read_text(encoding="utf-8")  # this study logged no images: said, not crashed


def test_importances_need_two_complete_trials(study_store, tmp_path):
    import optuna

    from analysis.figures import importances
    from analysis.load import load_study

    s = load_study(study_store.main, study_store.tracking_uri, study_store.storage)
    one = optuna.create_study()
    t = one.ask()
    t.suggest_float("lambda_x", 1, 20)
    one.tell(t, 1.0)
    s.optuna = one
    path, why = importances(s, tmp_path / "imp.png")
    assert path is None and why.startswith("not enough trials")


def test_colours_are_per_trial_and_distinct():
    from analysis.colours import trial_colour

    assert trial_colour(7) == trial_colour(7) == trial_colour(27)
    assert len({trial_colour(n) for n in range(20)}) == 20


def test_image_artifact_names():
    from analysis.samples import parse_image_artifact

    p = parse_image_artifact("images/samples~a2b+step+40+timestamp+17+0a-b.png")
    assert p and p.key == "samples/a2b" and p.step == 40
    old = parse_image_artifact("images/samples#b2a%step%7%timestamp%1%abc.png")
    assert old and old.key == "samples/b2a" and old.step == 7
    assert parse_image_artifact("images/samples~a2b+step+40+timestamp+17+0a-b+compressed.webp") is None
    assert parse_image_artifact("images/other.png") is None


def test_compare_fits_the_terminal_says_which_value_optuna_sees_and_wide_shows_all(study_store, capsys,
                                                                                     monkeypatch):
    """Without --brief the table fits the terminal (120 columns off a terminal, $COLUMNS where set) and
    says what it left out; --wide shows every column; the notes say the objective column is what Optuna ranks."""
    common = ["compare", "--experiment", study_store.main, "--tracking-uri", study_store.tracking_uri,
              "--storage", study_store.storage]
    monkeypatch.delenv("COLUMNS", raising=False)
    rc, out, _ = _cli(capsys, *common)
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert rc == 0 and max(map(len, table)) <= 120 and "(--wide for every column)" in out
    assert "objective = fcd/mean at the trial's last evaluation: the value Optuna ranks" in out.replace("\n", " ")
    rc, wide, _ = _cli(capsys, *common, "--wide")
    assert rc == 0 and max(len(line) for line in wide.splitlines() if line.startswith("|")) > 120
    assert "fcd/a2b" in wide and "--wide for every column" not in wide
    monkeypatch.setenv("COLUMNS", "90")
    rc, out, _ = _cli(capsys, *common)
    assert max(len(line) for line in out.splitlines()) <= 90


def test_a_missing_mean_gets_no_interval():
    """A failed multi-seed trial has no mean; the half width left by its seed runs must not stand alone
    ('— ± 0.066')."""
    from types import SimpleNamespace

    from analysis.tables import CI, display_table

    study = SimpleNamespace(label=lambda n: f"trial {n}", param_names=[], int_params=[])
    df = pd.DataFrame({"trial": [0, 1], "fit/mean": [float("nan"), 0.125], f"fit/mean{CI}": [0.066, 0.01]})
    assert list(display_table(df, study)["fit/mean"]) == ["—", "0.125 ± 0.01"]

"""The learning rate, swept by one line in experiments/space.yaml: it reaches the trainer, the trial's params and
MLflow run, and analysis' table, parallel coordinates and importances. What a study fixes for all its trials cannot
be swept, and a parameter cannot take the name of another MLflow param."""
from __future__ import annotations

import json

import pytest

from experiments.space import STUDY_FIXED, load_space
from munit.config import ConfigError


def test_space_yaml_sweeps_the_learning_rate_log_uniformly():
    p = load_space().params["lr"]
    assert (p.sets, p.log, p.is_int) == ("train.lr", True, False)
    assert p.contains(1e-4) and p.contains(1e-3)          # the paper's and the CPU preset's


def test_swept_lr_reaches_trainer_tracking_and_analysis(tmp_path, monkeypatch):
    from experiments import sweep
    from experiments.presets import BLOG_TRIALS, blog_params
    from experiments.settings import StudySettings
    from test_sweep_helpers import client, journal_study, runs, tiny_args

    root = tmp_path / "mlruns"
    assert sweep.main(tiny_args(root, iters=4, eval_every=4, trials=4, metrics="content") +
                      ["--blog", "--pruner", "none", "--sampler", "random", "--sampler-seed", "1"]) == 0
    study = journal_study(root)
    trials = study.get_trials()
    settings = study.user_attrs["settings"]
    # the blog's trials don't set a learning rate: they run at the study's (tiny preset: 1e-3)
    assert trials[0].params["lr"] == settings["lr"] == 1e-3
    st = StudySettings.from_dict(settings)
    assert trials[0].params == blog_params(BLOG_TRIALS[0], st.schedule, st.search_space, st.configs())
    sampled = trials[3]
    assert sampled.params["lr"] != 1e-3 and 5e-5 <= sampled.params["lr"] <= 3e-3
    c = client(root)
    for run in runs(root, "trial"):
        t = trials[int(run.data.tags["optuna.trial_number"])]
        assert run.data.params["lr"] == f"{t.params['lr']:.3g}"               # MLflow: the display value
        folder = root / "trials" / "munit-sweep" / str(t.number)
        assert json.loads((folder / "config.json").read_text())["train"]["lr"] == t.params["lr"]   # trained with it
        first = c.get_metric_history(run.info.run_id, "lr")[0]                  # the optimiser's, at the first log
        assert first.value == pytest.approx(t.params["lr"] * 0.5 ** (first.step // t.params["lr_step"]))

    from analysis import figures
    from analysis.load import load_study
    from analysis.tables import compare_table, render

    drawn = {}

    def keep(fig, path):
        drawn[path.name] = [t.get_text() for ax in fig.axes for t in [*ax.get_xticklabels(), *ax.get_yticklabels()]]
        return path

    monkeypatch.setattr(figures, "_save", keep)
    s = load_study("munit-sweep", f"sqlite:///{root / 'mlflow.db'}", str(root / "optuna.journal"))
    assert s.param_names[-1] == "lr"
    table = compare_table(s)
    assert list(table["lr"]) == [t.params["lr"] for t in trials]
    assert " lr " in render(table, s, "markdown").splitlines()[0]
    figures.parallel_coordinates(s, table, tmp_path / "pc.png")
    assert "lr" in drawn["pc.png"]
    path, why = figures.importances(s, tmp_path / "imp.png")
    assert path is not None, why
    assert "lr" in drawn["imp.png"]


@pytest.mark.parametrize("target", sorted(STUDY_FIXED))
def test_what_the_study_fixes_cannot_be_swept(tmp_path, target):
    path = tmp_path / "space.yaml"
    path.write_text(f"fixed: {{low: 1, high: 8, sets: {target}}}\n")
    with pytest.raises(ConfigError, match=f"sets {target}, which a study fixes for all its trials; set it with "
                                          f"{STUDY_FIXED[target]}"):
        load_space(path)


@pytest.mark.parametrize("entry, needle", [
    ("iters: {low: 1, high: 3, sets: weights.cyc}", "a trial's MLflow param 'iters' is train.iters"),
    ("lambda_s: {sets: weights.c}", "a trial's MLflow param 'lambda_s' is weights.s"),
    ("preset: {low: 1, high: 3, sets: weights.cyc}", "a trial's MLflow param 'preset' is a study setting"),
])
def test_a_parameter_cannot_take_another_logged_params_name(tmp_path, entry, needle):
    path = tmp_path / "space.yaml"
    path.write_text(entry + "\n")
    with pytest.raises(ConfigError, match=needle):
        load_space(path)


def test_a_sweep_over_the_batch_size_ends_with_one_line(tmp_path, capsys):
    from experiments import sweep
    from test_sweep_helpers import tiny_args

    space = tmp_path / "space.yaml"
    space.write_text("batch: {low: 2, high: 8, sets: train.batch_size}\n")
    root = tmp_path / "mlruns"
    assert sweep.main(tiny_args(root, trials=1, store=False) + ["--space", str(space)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: search space parameter 'batch' sets train.batch_size, which a study fixes for all its "
                   "trials; set it with --batch-size and run one study per value"]
    assert not (root / "mlflow.db").exists()


def test_the_summary_finds_the_swept_lr_by_its_target():
    """Even before any trial completes, the summary says the lr is swept (space.yaml sets train.lr)."""
    from pathlib import Path

    from experiments import sweep
    from experiments.settings import new_settings

    settings = new_settings({}, cuda=False)
    assert settings.search_space.sweeps("train.lr") and not settings.search_space.sweeps("train.beta1")
    summary = sweep.format_summary(sweep.SweepSummary("s", "j", "sqlite:///m.db", "1", "r", Path("t"), settings, 3,
                                                      {}, [], 1.0))
    assert "lr swept (space.yaml)" in summary and "note:" not in summary

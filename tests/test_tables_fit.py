"""Tables that fit a screen and figures that stay readable, on a study shaped like the default CPU sweep:
20 trials (3 of them the blog's, some pruned, one failed), the default search space, content/acc/fcd logged
every evaluation, objective content/mean. Written through the real MLflow and Optuna APIs as docs/tracking.md
specifies (a CPU test cannot afford 20 real trials; the real sweep's tables are tested in test_analysis)."""
from __future__ import annotations

import math

import numpy as np
import pytest


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    import optuna
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    from experiments import contract
    from experiments.settings import new_settings
    from munit.metrics.protocol import metric_info

    root = tmp_path_factory.mktemp("crowd")
    uri, journal = contract.tracking_uri(root), str(contract.journal_path(root))
    client = MlflowClient(tracking_uri=uri)
    settings = new_settings({}, cuda=False)            # exactly the default study's settings
    exp = client.create_experiment("crowd", artifact_location=(root / "artifacts").as_uri())
    parent = client.create_run(exp, run_name="crowd", tags={contract.TAG_ROLE: contract.ROLE_STUDY,
                                                            contract.TAG_STUDY: "crowd",
                                                            contract.TAG_DIRECTIONS: "minimize",
                                                            contract.TAG_OBJECTIVE: "content/mean"}).info.run_id
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    study = optuna.create_study(study_name="crowd", storage=storage, direction="minimize",
                                sampler=optuna.samplers.RandomSampler(seed=3))
    for k, v in ((contract.ATTR_SETTINGS, settings.to_dict()), (contract.ATTR_OBJECTIVE, "content/mean"),
                 (contract.ATTR_METRICS, metric_info(settings.metrics)), (contract.ATTR_PARENT_RUN_ID, parent)):
        study.set_user_attr(k, v)
    rng = np.random.default_rng(0)
    space = settings.search_space
    for i in range(20):
        trial = study.ask()
        params = space.suggest(trial)
        tags = {contract.TAG_PARENT: parent, contract.TAG_ROLE: contract.ROLE_TRIAL, contract.TAG_STUDY: "crowd",
                contract.TAG_TRIAL_NUMBER: str(i)}
        if i < 3:
            tags[contract.TAG_BLOG] = str(i + 1)
            trial.set_user_attr(contract.ATTR_BLOG, i + 1)
        run = client.create_run(exp, run_name=contract.run_name(i, tags.get(contract.TAG_BLOG)), tags=tags).info.run_id
        trial.set_user_attr(contract.ATTR_RUN_ID, run)
        state = "FAIL" if i == 7 else ("PRUNED" if i % 5 == 4 else "COMPLETE")
        steps = [40] if state == "PRUNED" else ([] if state == "FAIL" else [40, 80, 120])
        ms = [Metric(f"loss/{k}", float(rng.random()), 0, s) for s in (10, 20, 30) for k in ("d", "g", "x")]
        value = math.nan
        for s in steps:
            value = float(rng.uniform(0.35, 1.0))
            for m in ("content", "fcd"):
                for d in ("a2b", "b2a", "mean"):
                    ms.append(Metric(f"{m}/{d}", value if m == "content" else value * 3, 0, s))
            ms += [Metric(f"acc/{d}", 1.0, 0, s) for d in ("a2b", "b2a", "mean")]
            ms += [Metric("acc/classifier_val", 1.0, 0, s), Metric("objective", value, 0, s)]
            trial.report(value, s)
        ms += [Metric("wall_s", 16.0, 0, 120), Metric("iters_reached", float(steps[-1] if steps else 10), 0, 120),
               Metric("it_per_s", 8.1, 0, 10)]
        client.log_batch(run, metrics=ms, params=[Param(k, str(v)) for k, v in params.items()])
        client.set_tag(run, contract.TAG_STATE, state)
        client.set_terminated(run, contract.RUN_STATUS[state])
        if state == "COMPLETE":
            study.tell(trial, value)
        elif state == "PRUNED":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            trial.set_user_attr(contract.ATTR_FAIL_REASON, "RuntimeError: boom")
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
    from analysis.load import load_study
    return load_study("crowd", uri, journal)


def test_compare_brief_fits_120_columns_best_first(crowd, capsys):
    from analysis.cli import main

    assert main(["compare", "-e", "crowd", "--tracking-uri", crowd.tracking_uri, "--storage", crowd.storage,
                 "--brief"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("|")]
    assert max(len(line) for line in out.splitlines()) <= 120, out
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    assert header[:3] == ["trial", "objective", "status"]                  # objective first after the trial
    objectives = [float(r.split("|")[2]) for r in rows[2:] if r.split("|")[2].strip() not in ("—", "")]
    assert objectives == sorted(objectives) and "★" in rows[2]              # sorted, best first and marked
    assert "acc/mean" not in rows[0] and "acc/mean final = 1" in out        # constant columns dropped, said so
    # the wide table keeps every varying column, in the same order of importance
    assert main(["compare", "-e", "crowd", "--tracking-uri", crowd.tracking_uri, "--storage", crowd.storage,
                 "--wide"]) == 0
    full = capsys.readouterr().out.splitlines()[0]
    assert "content/a2b best" in full and "fcd/mean final" in full and full.index("objective") < full.index("lambda_x")


def test_crowded_figures_grey_all_but_the_best_few(crowd, tmp_path, monkeypatch):
    from analysis import figures
    from analysis.tables import compare_table

    drawn = {}

    def keep(fig, path):
        ax = fig.axes[0]
        drawn[path.name] = ([ln.get_color() for ln in ax.get_lines()], [t.get_text() for t in fig.legends[0].texts]
                            if fig.legends else [t.get_text() for t in ax.get_legend().texts])
        return path

    monkeypatch.setattr(figures, "_save", keep)
    numbers = [int(n) for n in crowd.trials.index]
    figures.metric_curves(crowd, numbers, tmp_path / "m.png")
    colours, legend = drawn["m.png"]
    assert sum(c == figures.GREY for c in colours) >= 10 and len(set(colours) - {figures.GREY}) == figures.HIGHLIGHT
    assert legend[-1].endswith("other trials") and len(legend) == figures.HIGHLIGHT + 1
    best = figures.highlighted(crowd, numbers)
    done = crowd.trials[crowd.trials["status"] == "complete"].sort_values("objective")
    assert best == set(done.index[:figures.HIGHLIGHT])
    figures.parallel_coordinates(crowd, compare_table(crowd), tmp_path / "pc.png")
    assert drawn["pc.png"][1][-1].endswith("other trials")


def test_fitn_verdict_counts_trials_below_one_in_each_direction():
    """On fitn/worst the bar that means "beats every reference in each direction" is 1, not the best reference
    row's own fitn/worst (its worse direction is above 1): the verdict says how many complete trials are below 1."""
    from types import SimpleNamespace

    import pandas as pd

    from analysis.tables import baseline_verdicts
    df = pd.DataFrame({"status": ["baseline", "baseline", "complete", "complete", "complete"],
                       "baseline": ["oracle", "flatten", None, None, None],
                       "objective": [0.0, 1.25, 0.9, 1.1, 3.0]})
    study = SimpleNamespace(is_multi_objective=False, objective_columns=["objective"], directions=["minimize"],
                            objective_keys=["fitn/worst"])
    said = baseline_verdicts(df, study)
    assert said[0].startswith("2 of 3 complete trials beat every reference row on fitn/worst")
    assert "1 of 3 complete trials beat every reference in each direction (fitn/worst < 1)." in said
    study.objective_keys = ["fit/mean"]
    assert not any("each direction" in s for s in baseline_verdicts(df, study))

"""The saved MLflow views the sweep links to list the study's baseline runs beside its trials (issue 21): their
filters, run through MLflow's own search (SQLite store), keep trials and baselines and drop the parent and the
per-seed runs; the outcome view groups by ``optuna.state``, where baselines are ``BASELINE``."""
import json

from experiments import contract
from experiments.mlflow_ui import TAG_VIEW, VIEW_BY_OBJECTIVE, VIEW_BY_OUTCOME, describe_experiment


def test_views_show_baselines_beside_the_trials(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    exp = client.create_experiment("s")
    role, state = contract.TAG_ROLE, contract.TAG_STATE
    for name, tags in {"parent": {role: contract.ROLE_STUDY},
                       "trial-000 · fit 0.5": {role: contract.ROLE_TRIAL, state: "COMPLETE"},
                       "trial-001 · pruned@8": {role: contract.ROLE_TRIAL, state: "PRUNED"},
                       "trial-002 · failed": {role: contract.ROLE_TRIAL, state: "FAIL"},
                       "trial-003": {role: contract.ROLE_TRIAL, state: "RUNNING"},
                       "trial-000 seed 1": {role: contract.ROLE_SEED, state: "COMPLETE"},
                       "baseline · identity": {role: contract.ROLE_BASELINE, state: contract.STATE_BASELINE},
                       "baseline · oracle": {role: contract.ROLE_BASELINE, state: contract.STATE_BASELINE}}.items():
        client.create_run(exp, run_name=name, tags=tags)
    describe_experiment(client, exp, "s", ["fit/mean"], ["minimize"], ["lambda_x"], {"lambda_x": "1..10"})
    tags = client.get_experiment(exp).tags

    def listed(view: str) -> tuple[list[str], dict]:
        st = json.loads(json.loads(tags[TAG_VIEW + view])["state"])
        return sorted(r.info.run_name for r in client.search_runs([exp], st["searchFilter"])), st

    names, st = listed(VIEW_BY_OUTCOME)
    assert names == ["baseline · identity", "baseline · oracle", "trial-000 · fit 0.5", "trial-001 · pruned@8",
                     "trial-002 · failed", "trial-003"]
    assert st["groupBy"]["groupByKeys"] == [{"mode": "tag", "groupByData": contract.TAG_STATE}]
    names, st = listed(VIEW_BY_OBJECTIVE)
    assert names == ["baseline · identity", "baseline · oracle", "trial-000 · fit 0.5"]
    assert st["groupBy"] is None and st["orderByKey"] == "metrics.`objective`"
    assert "BASELINE" in tags["mlflow.note.content"]

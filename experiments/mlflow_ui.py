"""What the MLflow UI (3.x) shows of a study, set from the client side so that runs read without opening them: run
names that say the outcome (``trial-017 · content 0.395``, ``trial-008 · pruned@80``), the experiment's
description, two saved views of the runs table, and the URLs that land on them. What each looks like and why a
pruned trial ends FINISHED: docs/tracking.md.
"""
from __future__ import annotations

import json
import time
from typing import Any, Sequence

from . import contract
from .console import fmt

SEP = " · "
VIEW_BY_OUTCOME = "munit-trials-by-outcome"
VIEW_BY_OBJECTIVE = "munit-trials-by-objective"
TAG_NOTE = "mlflow.note.content"
TAG_VIEW = "mlflow.sharedViewState."
TAG_KIND = "mlflow.experimentKind"
DEFAULT_UI = "http://127.0.0.1:5000"
# MLflow 3.17 applies a shared view from a link whose URL has no filters yet; once loaded, the view writes its
# filters into the URL, so a reload keeps the filter but drops the columns and the grouping (tests/test_browser.py)
RELOAD_HINT = ("(a browser reload drops this view's columns: open the link again, or click 'Override saved view' "
               "on the page once to keep the view in that browser)")


def _short(key: str) -> str:
    """``content/mean`` -> ``content``; other keys as they are."""
    return key[:-len("/mean")] if key.endswith("/mean") else key


def trial_label(base: str, state: str, objective: Sequence[str], values: Sequence[float] | None,
                step: int | None) -> str:
    """The name a trial's run ends with (``base`` is its run name)."""
    if state == "COMPLETE" and values:
        return base + SEP + SEP.join(f"{_short(k)} {fmt(v)}" for k, v in zip(objective, values))
    if state == "PRUNED":
        return f"{base}{SEP}pruned@{step}" if step is not None else f"{base}{SEP}pruned"
    if state == "FAIL":
        return f"{base}{SEP}failed@{step}" if step else f"{base}{SEP}failed"
    return base


def view_filter(by_outcome: bool) -> str:
    """The runs a view lists: the trials and the study's baseline runs (reference rows), not the parent or the
    per-seed runs. MLflow 3.17's filter has no OR and no IN for tags, and ``!=`` drops runs without the tag, so
    both are phrased as exclusions; baselines carry ``optuna.state = BASELINE``, which also groups them apart.
    ``by_outcome=False``: complete trials (a pruned trial's objective is an early one) and the baselines."""
    roles = " and ".join(f"tags.`{contract.TAG_ROLE}` != '{r}'" for r in (contract.ROLE_STUDY, contract.ROLE_SEED))
    if by_outcome:
        return roles
    return roles + "".join(f" and tags.`{contract.TAG_STATE}` != '{s}'" for s in ("RUNNING", "PRUNED", "FAIL"))


def _view_state(objective: Sequence[str], directions: Sequence[str], params: Sequence[str],
                by_outcome: bool) -> dict[str, Any]:
    """A runs-page state as MLflow 3.17 saves it (search facets + UI state; column ids ``<type>.`<key>```)."""
    keys = contract.objective_metric_keys(len(objective))
    # the objective and the swept params first and narrow: at 1600 px all of them fit beside the run names while
    # MLflow's Assistant panel is closed, and the first ones while it is open (tests/test_browser.py)
    swept = [f"params.`{p}`" for p in params]
    cols = [*[f"metrics.`{k}`" for k in keys], *swept, f"metrics.`{contract.ITERS_REACHED}`",
            f"tags.`{contract.TAG_STATE}`", "attributes.`Duration`", f"tags.`{contract.TAG_FAIL_REASON}`"]
    search = view_filter(by_outcome)
    state: dict[str, Any] = {
        "searchFilter": search, "orderByKey": f"metrics.`{keys[0]}`", "orderByAsc": directions[0] == "minimize",
        "startTime": "ALL", "lifecycleFilter": "Active", "modelVersionFilter": "All Runs", "datasetsFilter": [],
        "selectedColumns": cols, "columnOrder": ["attributes.`Run Name`", *cols],
        "columnWidths": {"attributes.`Run Name`": 220, **{c: 80 for c in swept}}, "groupBy": None, "groupsExpanded": {},
        "runsHiddenMode": "SHOW_ALL"}
    if by_outcome:
        state["groupBy"] = {"aggregateFunction": "min" if directions[0] == "minimize" else "max",
                            "groupByKeys": [{"mode": "tag", "groupByData": contract.TAG_STATE}]}
    return state


def _saved_view(name: str, state: dict[str, Any]) -> str:
    now = int(time.time() * 1000)
    value = json.dumps({"name": name, "createdAt": now, "updatedAt": now, "state": json.dumps(state)})
    if len(value) > 20000:   # MLflow's tag value limit for these
        raise ValueError(f"saved view {name!r} is {len(value)} characters; MLflow's limit is 20000")
    return value


def describe_experiment(client, experiment_id: str, study_name: str, objective: Sequence[str],
                        directions: Sequence[str], params: Sequence[str], space: dict[str, str]) -> None:
    """The experiment's description and saved views (idempotent: every worker may call it)."""
    goal = ", ".join(f"{'minimise' if d == 'minimize' else 'maximise'} `{k}`" for k, d in zip(objective, directions))
    rows = "\n".join(f"| `{k}` | {v} |" for k, v in space.items())
    note = (f"**Optuna study `{study_name}`** over MUNIT's loss weights and schedule; objective: {goal}.\n\n"
            f"Every trial is a run nested under the study run `{study_name}`; its name says the outcome: "
            f"`trial-017 · content 0.395` (complete: the final objective), `trial-008 · pruned@80` (stopped by the "
            f"pruner at iteration 80: a green check, like complete), `trial-009 · failed@40` (a red cross). "
            f"The baselines (reference rows, `baseline · identity · ...`) are listed beside the trials, grouped "
            f"as `BASELINE`. Views menu: *Trials by outcome*, *Trials by objective*.\n\n| swept | range |\n|---|---|\n{rows}\n")
    tags = {TAG_NOTE: note, TAG_KIND: "custom_model_development"}
    for view_id, name, by_outcome in ((VIEW_BY_OUTCOME, "Trials by outcome", True),
                                      (VIEW_BY_OBJECTIVE, "Trials by objective", False)):
        tags[f"{TAG_VIEW}{view_id}"] = _saved_view(name, _view_state(objective, directions, params, by_outcome))
    for k, v in tags.items():
        client.set_experiment_tag(experiment_id, k, v)


def ui_base(tracking_uri: str) -> str:
    """The UI of a tracking server is the server; a local store's is what ``mlflow ui`` serves by default."""
    return tracking_uri.rstrip("/") if tracking_uri.startswith(("http://", "https://")) else DEFAULT_UI


def runs_url(tracking_uri: str, experiment_id: str, view: str | None = VIEW_BY_OUTCOME) -> str:
    """The experiment's runs table in the classic-ML UI, with a saved view applied."""
    url = f"{ui_base(tracking_uri)}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
    return url + (f"&viewStateShareKey={view}" if view else "")


__all__ = ["trial_label", "describe_experiment", "view_filter", "runs_url", "ui_base", "RELOAD_HINT",
           "VIEW_BY_OUTCOME", "VIEW_BY_OBJECTIVE", "SEP"]

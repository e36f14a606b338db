"""The study's reference rows: every baseline generator of :mod:`munit.baselines` scored once per study, with the
study's own metrics, protocol and data, and logged as a nested MLflow run (role ``baseline``) beside the trials.

So the MLflow UI, ``analysis compare`` and the report show, next to the trials, what the paired oracle scores and
what identity, negation, a constant colour, one fixed image, a random-init MUNIT and style noise score: a trial
that does not beat identity is visibly no translation at all.

Done once per study, by the first process through the study's setup: the study's user attr
``baselines`` records it, and a rerun or another worker finds the runs already there.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, RunTag

from . import contract

log = logging.getLogger(__name__)


def run_name(name: str, objective_key: str, value: float) -> str:
    from .mlflow_ui import _short   # the trial runs' spelling of the key: "fit" for fit/mean, "fitn/worst"
    return f"baseline · {name} · {_short(objective_key)} {value:.4g}"


def existing(client: MlflowClient, experiment_id: str, study_name: str) -> dict[str, str]:
    """{baseline name: run id} of the study's baseline runs (the oldest of each name)."""
    runs = client.search_runs([experiment_id],
                              filter_string=f"tags.`{contract.TAG_ROLE}` = '{contract.ROLE_BASELINE}' and "
                                            f"tags.`{contract.TAG_STUDY}` = '{study_name}'",
                              order_by=["attributes.start_time ASC"])
    out: dict[str, str] = {}
    for r in runs:
        out.setdefault(r.data.tags.get(contract.TAG_BASELINE, ""), r.info.run_id)
    return out


def log_baselines(client: MlflowClient, experiment_id: str, parent_run_id: str, study: Any, settings: Any,
                  device: Any, cache_dir: str | None = None, weights: Any = None,
                  allow_unverified: bool = False) -> dict[str, dict[str, float]]:
    """Score the baselines that apply to the study's data and log each as a finished nested run; skip those
    already logged. Returns {name: values} of the ones logged now."""
    from munit.baselines import Baselines, evaluate_baselines
    from munit.data import load_domains
    from munit.metrics.protocol import EvalData, Protocol
    from munit.synthetic import SyntheticDomain

    done = existing(client, experiment_id, study.study_name)
    mcfg = settings.model_config()
    dcfg = settings.data_config()
    data = EvalData(*load_domains(dcfg, "train", mcfg.image_size), *load_domains(dcfg, "val", mcfg.image_size))
    synthetic = isinstance(data.val_a, SyntheticDomain)
    names = [n for n in Baselines(data.train_a, data.train_b, data.val_a, data.val_b, mcfg).names(synthetic)
             if n not in done]
    if not names:
        return {}
    objective = list(settings.objective_keys)
    logged: dict[str, dict[str, float]] = {}
    t0 = time.perf_counter()
    for result in evaluate_baselines(data, mcfg, list(settings.metrics), Protocol(**settings.protocol), device,
                                     cache_dir=cache_dir, weights=weights, allow_unverified=allow_unverified,
                                     names=names, seed=settings.seed):
        name, meta = result.pop("generator"), result.pop("meta")
        values = {k: float(v) for k, v in result.items()}
        objective_values = [values.get(k, float("nan")) for k in objective]
        values.update(zip(contract.objective_metric_keys(len(objective)), objective_values))
        run = client.create_run(experiment_id, run_name=run_name(name, objective[0], objective_values[0]),
                                tags={contract.TAG_PARENT: parent_run_id, contract.TAG_ROLE: contract.ROLE_BASELINE,
                                      contract.TAG_STUDY: study.study_name, contract.TAG_BASELINE: name,
                                      contract.TAG_STATE: contract.STATE_BASELINE,   # own group in the views
                                      **{f"{contract.TAG_BACKBONE}{m}": str(v.get("backbone", ""))
                                         for m, v in meta.items() if v.get("backbone")}})
        now = int(time.time() * 1000)
        client.log_batch(run.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in values.items()],
                         tags=[RunTag("mlflow.note.content", DESCRIPTIONS.get(name, name))])
        client.set_terminated(run.info.run_id, "FINISHED")
        logged[name] = values
    study.set_user_attr(contract.ATTR_BASELINES, sorted({*done, *logged}))
    log.info("baselines scored in %.1f s", time.perf_counter() - t0)
    return logged


DESCRIPTIONS = {
    "oracle": "Reference row: the paired ground truth (the input's content rendered by the target domain in a "
              "random style). The best a translator can score.",
    "identity": "Reference row: the input returned unchanged. A trial that does not beat it translates nothing.",
    "negation": "Reference row: the input's pixels negated (255 - x).",
    "constant": "Reference row: every output the target domain's mean colour.",
    "fixed_image": "Reference row: every output one real target-domain image, whatever the input.",
    "random_init": "Reference row: a MUNIT generator pair at its random initialisation (the study's model).",
    "style_noise": "Reference row: noise that depends on the style code only (diverse, blind to the input).",
}

__all__ = ["log_baselines", "existing", "run_name", "DESCRIPTIONS"]

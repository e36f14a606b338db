"""MLflow glue: the study's experiment and parent run, one nested run per trial, and the trainer callback that
logs a trial and reports it to Optuna (pruning included). What is written follows docs/tracking.md, the contract
with ``analysis/``.

All writes go through one :class:`mlflow.MlflowClient` with explicit run ids (no fluent active-run stack), and
training scalars are sent once per trainer log interval in one ``log_batch`` call, so tracking never paces
training.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import optuna
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from munit.checkpoint import RunFolder
from munit.trainer import Callback

from . import contract
from .contract import RUN_STATUS, sqlite_path
from .storage import file_lock

log = logging.getLogger(__name__)

MAX_TAG = 5000   # MLflow's tag value limit is 8000 characters; keep reasons readable anyway


def default_artifact_location(tracking_uri: str, experiment_name: str) -> str | None:
    """``<folder of mlflow.db>/artifacts/<experiment>`` as a file URI for a SQLite store; None (the server's or
    MLflow's default) otherwise."""
    db = sqlite_path(tracking_uri)
    if db is None:
        return None
    return (db.expanduser().resolve().parent / contract.ARTIFACTS / experiment_name).as_uri()


def open_client(tracking_uri: str) -> MlflowClient:
    """A client for ``tracking_uri``; a SQLite database (and its folder) is created under a file lock, so two
    workers starting together do not both run MLflow's schema migration."""
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    client = MlflowClient(tracking_uri=tracking_uri)
    db = sqlite_path(tracking_uri)
    if db is not None:
        with file_lock(db.with_name(db.name + ".lock")):
            client.search_experiments(max_results=1)   # creates the schema now, under the lock
    return client


def open_experiment(client: MlflowClient, name: str, artifact_location: str | None) -> str:
    """The id of experiment ``name``, created if missing (a concurrent creation by another worker is fine)."""
    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return client.create_experiment(name, artifact_location=artifact_location)
        except MlflowException:
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    if exp.lifecycle_stage == "deleted":
        client.restore_experiment(exp.experiment_id)
    return exp.experiment_id


def _study_runs(client: MlflowClient, experiment_id: str, study_name: str):
    return client.search_runs([experiment_id],
                              filter_string=f"tags.`{contract.TAG_ROLE}` = '{contract.ROLE_STUDY}' and "
                                            f"tags.`{contract.TAG_STUDY}` = '{study_name}'",
                              order_by=["attributes.start_time ASC"], max_results=50)


def study_parent_run(client: MlflowClient, experiment_id: str, study_name: str, tags: dict[str, str],
                     params: dict[str, Any]) -> str:
    """The study's parent run: found by tags, else created. Two workers creating it at once both search again
    afterwards; the oldest wins and the other deletes its own."""
    runs = _study_runs(client, experiment_id, study_name)
    if runs:
        run_id = runs[0].info.run_id
        client.update_run(run_id, status="RUNNING")
        return run_id
    run = client.create_run(experiment_id, run_name=study_name,
                            tags={contract.TAG_ROLE: contract.ROLE_STUDY, contract.TAG_STUDY: study_name, **tags})
    mine = run.info.run_id
    oldest = _study_runs(client, experiment_id, study_name)[0].info.run_id
    if oldest != mine:
        client.delete_run(mine)
        return oldest
    client.log_batch(mine, params=[Param(k, _param(v)) for k, v in params.items()])
    return mine


def _param(v: Any) -> str:
    s = ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
    return s[:6000]


def create_trial_run(client: MlflowClient, experiment_id: str, parent_run_id: str, run_name: str,
                     tags: dict[str, str], params: dict[str, Any]) -> str:
    run = client.create_run(experiment_id, run_name=run_name,
                            tags={contract.TAG_PARENT: parent_run_id, contract.TAG_ROLE: contract.ROLE_TRIAL,
                                  contract.TAG_STATE: "RUNNING", **tags})
    client.log_batch(run.info.run_id, params=[Param(k, _param(v)) for k, v in params.items()])
    return run.info.run_id


def create_seed_run(client: MlflowClient, experiment_id: str, trial_run_id: str, trial_tags: dict[str, str],
                    seed: int, params: dict[str, Any]) -> str:
    """One seed of a multi-seed trial: a run nested under the trial's run (same study/trial tags)."""
    shared = (contract.TAG_STUDY, contract.TAG_TRIAL_NUMBER, contract.TAG_TRIAL_ID, contract.TAG_BLOG)
    tags = {k: v for k, v in trial_tags.items() if k in shared}
    name = f"{contract.run_name(int(trial_tags[contract.TAG_TRIAL_NUMBER]))}-seed{seed}"
    run = client.create_run(experiment_id, run_name=name,
                            tags={contract.TAG_PARENT: trial_run_id, contract.TAG_ROLE: contract.ROLE_SEED,
                                  contract.TAG_STATE: "RUNNING", contract.TAG_SEED: str(seed), **tags})
    params = {**params, contract.PARAM_SEED: seed}
    client.log_batch(run.info.run_id, params=[Param(k, _param(v)) for k, v in params.items()])
    return run.info.run_id


def end_run(client: MlflowClient, run_id: str, state: str, reason: str | None = None,
            status: str | None = None, name: str | None = None) -> None:
    """Mark a trial run finished: tag ``optuna.state`` (and ``munit.fail_reason``), its final ``name`` (the
    outcome, see experiments.mlflow_ui.trial_label), then the run status that the Optuna state maps to
    (``status`` overrides it)."""
    tags = [RunTag(contract.TAG_STATE, state)]
    if reason:
        tags.append(RunTag(contract.TAG_FAIL_REASON, reason[:MAX_TAG]))
    client.log_batch(run_id, tags=tags)
    if name:
        client.update_run(run_id, name=name)
    client.set_terminated(run_id, status or RUN_STATUS[state])


def log_trial_files(client: MlflowClient, run_id: str, folder: RunFolder, checkpoint: bool = True) -> None:
    """The run folder's config and logs, at the same relative paths; with ``checkpoint``, the tag
    ``munit.checkpoint`` = the absolute path of its last checkpoint. The checkpoint itself is stored once, in the
    run folder (``trials/<study>/<number>/checkpoints/last.pt``, what a retry resumes from), not copied into
    MLflow's artifacts (a second copy of every trial's weights: most of ``mlruns/``'s size)."""
    for path in (folder.config, folder.log, folder.metrics):
        if path.is_file():
            client.log_artifact(run_id, str(path))
    if checkpoint and folder.has_checkpoint():
        client.set_tag(run_id, contract.TAG_CHECKPOINT, str(Path(folder.checkpoint).resolve()))


def _now_ms() -> int:
    return int(time.time() * 1000)


class TrialLogger(Callback):
    """The trainer callback of one trial: training scalars, evaluation metrics, the objective and sample grids
    to the trial's MLflow run; the objective to Optuna (``trial.report``), whose pruner may stop training.

    ``objective`` is the metric key (single objective: reported and pruned) or keys (multi-objective: logged
    as ``objective_0``, ``objective_1``, ...; Optuna cannot prune those)."""

    def __init__(self, client: MlflowClient, run_id: str, trial: optuna.Trial, objective: Sequence[str],
                 report: bool = True, sample_runs: Sequence[str] = ()):
        self.client, self.run_id, self.trial = client, run_id, trial
        self.objective = list(objective)
        self.report = report          # False for one seed of several: the trial reports their mean
        self.sample_runs = [run_id, *sample_runs]
        self.prune_reason: str | None = None
        self._backbones_logged = False

    def _metrics(self, step: int, values: dict[str, float]) -> None:
        ts = _now_ms()
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), ts, step) for k, v in values.items()])

    def on_log(self, step: int, scalars: dict[str, float]) -> None:
        self._metrics(step, scalars)

    def on_evaluate(self, step: int, metrics: dict[str, float], meta: Mapping[str, Any]) -> None:
        missing = [k for k in self.objective if k not in metrics]
        if missing:
            raise KeyError(f"objective {', '.join(missing)} not among the evaluated metrics "
                           f"({', '.join(sorted(metrics))})")
        values = [float(metrics[k]) for k in self.objective]
        logged = dict(metrics)
        logged.update(zip(contract.objective_metric_keys(len(values)), values))
        self._metrics(step, logged)
        self._log_backbones(meta)
        if self.report and len(values) == 1 and values[0] == values[0]:   # no pruning for several objectives
            self.trial.report(values[0], step)
            if self.trial.should_prune():
                self.prune_reason = f"pruned at iteration {step}: {self.objective[0]} = {values[0]:.6g}"

    def _log_backbones(self, meta: Mapping[str, Any]) -> None:
        """What computed each metric (once per run): tag ``munit.backbone.<metric>``."""
        if self._backbones_logged or not meta:
            return
        tags = [RunTag(f"{contract.TAG_BACKBONE}{m}", str(info.get("backbone", "?"))[:MAX_TAG])
                for m, info in meta.items()]
        self.client.log_batch(self.run_id, tags=tags)
        self._backbones_logged = True

    def on_samples(self, step: int, paths: dict[str, Path]) -> None:
        from PIL import Image
        self.last_samples = (step, dict(paths))
        for name, path in paths.items():
            with Image.open(path) as img:
                rgb = img.convert("RGB")
            for run_id in self.sample_runs:
                self.client.log_image(run_id, rgb, key=contract.SAMPLE_KEY.format(direction=name), step=step)

    def should_stop(self, step: int) -> bool | str:
        return self.prune_reason or False

    def on_train_end(self, trainer, result) -> None:
        """The run's final grids once more as ``samples/final_<direction>``, one step each: MLflow's image card
        opens at step 0 and moves by itself only for a key with a single step, so this one shows at once. A run
        stopped between sample steps (pruned) gets a grid of the step it stopped at first."""
        from munit.trainer import StopReason
        if result.stopped is StopReason.PAUSED or not trainer.cfg.sample_every:
            return
        if getattr(self, "last_samples", (None,))[0] != result.step:
            trainer.save_samples()   # -> on_samples: also samples/<direction> at this step
        from PIL import Image
        step, paths = self.last_samples
        for name, path in paths.items():
            with Image.open(path) as img:
                rgb = img.convert("RGB")
            for run_id in self.sample_runs:
                self.client.log_image(run_id, rgb, key=contract.SAMPLE_KEY.format(direction=f"final_{name}"), step=step)


__all__ = ["default_artifact_location", "open_client", "open_experiment",
           "study_parent_run", "create_trial_run", "create_seed_run", "end_run", "log_trial_files", "TrialLogger"]

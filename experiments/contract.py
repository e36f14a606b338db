"""The names a study writes and ``analysis/`` reads: MLflow tags, params and metric keys, Optuna attributes, and
the layout of the stores under ``--root``. docs/tracking.md describes the same contract in prose.

Torch-free and mlflow-free on purpose: analysis imports it without loading either.
"""
from __future__ import annotations

import re
from pathlib import Path

# ------------------------------------------------------------------------------------------- store layout
DEFAULT_ROOT = "mlruns"
TRACKING_DB = "mlflow.db"            # ROOT/mlflow.db: the MLflow tracking store (SQLite)
JOURNAL = "optuna.journal"           # ROOT/optuna.journal: the default Optuna storage
ARTIFACTS = "artifacts"              # ROOT/artifacts/<experiment>/<run id>/artifacts/...
TRIALS = "trials"                    # ROOT/trials/<study>/<trial number>/: the trainer's run folders
SQLITE_PREFIX = "sqlite:///"


def tracking_uri(root: str | Path = DEFAULT_ROOT) -> str:
    return f"{SQLITE_PREFIX}{Path(root) / TRACKING_DB}"


def journal_path(root: str | Path = DEFAULT_ROOT) -> Path:
    return Path(root) / JOURNAL


DEFAULT_TRACKING_URI = tracking_uri()
DEFAULT_STORAGE = str(journal_path())


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (relative paths stay relative), else None."""
    return Path(uri[len(SQLITE_PREFIX):]) if uri.startswith(SQLITE_PREFIX) else None


def is_url(storage: str) -> bool:
    """An Optuna storage given as a database URL (else: a journal file path)."""
    return "://" in storage


def lock_dir(storage: str, root: str | Path, study: str) -> Path:
    """Where the workers of ``study`` keep their trial locks: beside a storage file (journal, SQLite), so every
    worker of that storage on this machine sees them whatever its --root; under ROOT/trials/<study> for a
    database server (a lock is only seen on its own machine; the heartbeat covers the others)."""
    db = sqlite_path(storage)
    if not is_url(storage) or db is not None:
        return Path(str(Path(db or storage).expanduser()) + ".locks") / study
    return Path(root) / TRIALS / study / ".locks"


# A study name is also a folder name (ROOT/trials/<study>, ROOT/artifacts/<study>) and a value in MLflow search
# filters: only these characters, so that it can never leave --root nor break a query.
NAME_CHARS = "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def valid_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name))


def folder_name(name: str) -> str:
    """``name`` as one safe path component (for names made elsewhere, e.g. an MLflow experiment to analyse):
    other characters become '_', so '/abs' or '../x' stays inside the folder it is joined to."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")
    return safe[:128] or "_"


_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:@/?#\s]*):(?P<pw>[^?#\s]*)@")
_SECRET_QUERY = re.compile(r"(?P<head>[?&;](?:password|passwd|pwd|pass|secret|token|api_key|apikey|access_token|"
                           r"sslpassword|key)=)[^&;#\s]*", re.IGNORECASE)


def mask_url(text: str) -> str:
    """``text`` (a storage or tracking URL, or a command line holding one) with every password replaced by ***:
    ``user:PASSWORD@`` -- up to the last '@' before the query, so passwords containing '@' or '/' are masked
    whole -- and ``?password=...`` style query parameters. The one masking function for logs, MLflow tags, the
    summary and the command printed after Ctrl-C."""
    text = _USERINFO.sub(lambda m: f"{m['head']}:***@", text)
    return _SECRET_QUERY.sub(lambda m: f"{m['head']}***", text)


# ------------------------------------------------------------------------------------------- MLflow runs
TAG_ROLE = "munit.role"              # "study" (the parent run) | "trial" (one nested run per trial) | "seed" | "baseline"
ROLE_STUDY, ROLE_TRIAL, ROLE_SEED = "study", "trial", "seed"   # seed: one run per seed of a multi-seed trial
ROLE_BASELINE = "baseline"           # one run per reference generator (experiments.baselines), nested in the parent
TAG_BASELINE = "munit.baseline"      # its name: oracle, identity, negation, constant, ...
TAG_SEED = "munit.seed"              # a seed run's training seed
TAG_PARENT = "mlflow.parentRunId"
TAG_RUN_NAME = "mlflow.runName"
TAG_STUDY = "optuna.study_name"
TAG_TRIAL_NUMBER = "optuna.trial_number"
TAG_TRIAL_ID = "optuna.trial_id"
TAG_STATE = "optuna.state"           # RUNNING, then COMPLETE | PRUNED | FAIL
STATE_BASELINE = "BASELINE"          # TAG_STATE of a baseline run: its own group in the MLflow views, beside trials
TAG_STORAGE = "optuna.storage"       # password masked
TAG_DIRECTIONS = "optuna.directions"  # "minimize" or "minimize,maximize"
TAG_OBJECTIVE = "optuna.objective"   # metric key(s), comma-separated
TAG_DATA = "munit.data"
TAG_PRESET = "munit.preset"
TAG_BLOG = "munit.blog_trial"        # 1 | 2 | 3 for the seed blog's presets
TAG_FAIL_REASON = "munit.fail_reason"
TAG_CHECKPOINT = "munit.checkpoint"  # absolute path of the run's last checkpoint (trials/...); not an artifact copy
TAG_WORKER = "munit.worker"
TAG_RETRY_OF = "munit.retry_of"
TAG_RESUMED_AT = "munit.resumed_at"
TAG_BACKBONE = "munit.backbone."     # + metric name: what computed it

# Optuna trial state -> MLflow run status. PRUNED is FINISHED (a green check), not KILLED: the MLflow UI draws
# KILLED and FAILED with the same red cross, and a pruned trial is a normal outcome (tag optuna.state and the run
# name say "pruned"); see experiments/mlflow_ui.py
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED", "FAIL": "FAILED", "RUNNING": "RUNNING"}

# metric keys besides the trainer's scalars and the evaluation metrics (``<metric>/<a2b|b2a|mean>``)
OBJECTIVE_METRIC = "objective"       # the value reported to Optuna; ``objective_<i>`` for multi-objective
STD_SUFFIX = "_std"                  # <key>_std: spread over evaluation repeats (a seed run) or seeds (a trial run)
SEED_FOLDER = "seed-{seed}"          # a multi-seed trial's run folder holds one run folder per seed
WALL_S = "wall_s"
ITERS_REACHED = "iters_reached"
SAMPLE_KEY = "samples/{direction}"   # log_image key of the sample grids

# ------------------------------------------------------------------------------------------- MLflow run params
# The study's parent run: these settings (experiments.settings.StudySettings, as the study stores them), then
# ``protocol.<field>`` (munit.metrics.Protocol) and ``space.<param>`` (each swept parameter's range and target).
STUDY_PARAMS = ("preset", "image_size", "iters", "batch_size", "lr", "seed", "data", "scale", "epoch_iters",
                "eval_every", "sample_every", "precision", "objective", "metrics")
PROTOCOL_PARAM_PREFIX = "protocol."
SPACE_PARAM_PREFIX = "space."
# A trial's run: each swept parameter by its name, every other loss weight it trains with as ``lambda_<field>``,
# what its configs say (param -> ``<config>.<field>``, the targets a search space names), the study settings
# below, and ``seeds`` when it trains several. A seed run: its trial's params with its own ``seed``.
WEIGHT_PARAM_PREFIX = "lambda_"
TRIAL_CONFIG_PARAMS = {"image_size": "model.image_size", "iters": "train.iters", "batch_size": "train.batch_size",
                       "lr": "train.lr", "seed": "train.seed"}
TRIAL_STUDY_PARAMS = ("preset", "data", "precision", "scale", "epoch_iters")
PARAM_FAST_PATH = "fast_path"        # the worker's speed levers (munit.fastpath.LEVERS)
PARAM_SEEDS = "seeds"                # a multi-seed trial's seeds, comma-separated
PARAM_SEED = "seed"                  # read by analysis: different seeds draw different sample inputs and styles
PARAM_IMAGE_SIZE = "image_size"      # read by analysis: the tile size of the sample grids


def objective_metric_keys(n_objectives: int) -> list[str]:
    """The metric keys holding the values reported to Optuna (one per objective)."""
    return [OBJECTIVE_METRIC] if n_objectives == 1 else [f"{OBJECTIVE_METRIC}_{i}" for i in range(n_objectives)]


def run_name(number: int, blog: int | str | None = None) -> str:
    return f"trial-{number:03d}" + (f"-blog{blog}" if blog else "")


# ------------------------------------------------------------------------------------------- Optuna attrs
# study.user_attrs
ATTR_SETTINGS = "settings"           # everything the study fixes (experiments.settings.StudySettings)
ATTR_OPTIONS = "options"             # the options that created the study (re-resolved to check a rerun's)
ATTR_OBJECTIVE = "objective"         # metric key(s), comma-separated
ATTR_METRICS = "metric_info"         # {metric: {direction, label, keys, ...}} from munit's metric registry
ATTR_EXPERIMENT_ID = "mlflow_experiment_id"
ATTR_PARENT_RUN_ID = "mlflow_parent_run_id"
ATTR_BASELINES = "baselines"         # the reference generators logged for the study (names)
# trial.user_attrs
ATTR_RUN_ID = "mlflow_run_id"
ATTR_BLOG = "blog_trial"
ATTR_FAIL_REASON = "fail_reason"
ATTR_WORKER = "worker"
ATTR_SKIPPED = "skipped"
ATTR_SEEDS = "seeds"                 # the trial's training seeds
# trial.system_attrs written by Optuna's RetryHeartbeatStaleTrialCallback
ATTR_RETRY_HISTORY = "retry_history"


__all__ = [n for n in dir() if n.isupper() or n in ("tracking_uri", "journal_path", "sqlite_path", "is_url",
                                                     "lock_dir", "valid_name", "folder_name", "mask_url",
                                                     "objective_metric_keys", "run_name")]

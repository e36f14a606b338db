"""Read one study: its MLflow experiment (runs via ``mlflow.search_runs``, curves via
``MlflowClient.get_metric_history``) and the Optuna study of the same name, joined per trial number.

Everything downstream (tables, figures, report, blog) reads through :class:`Study`, so every number shown
comes from the stores as written by ``experiments/`` (see docs/tracking.md) and nothing is recomputed.
"""
from __future__ import annotations

import contextlib
import logging
import math
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from experiments import contract
from experiments.contract import DEFAULT_STORAGE, DEFAULT_TRACKING_URI

from .metrics import Catalog

HOW_TO_RUN = "start trials with `python experiments/sweep.py --study-name NAME --trials N` (--blog: the blog's trials)"

# Optuna TrialState names / MLflow run statuses -> the table's status words
_STATE_WORDS = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running",
                "WAITING": "waiting"}
_RUN_STATUS_WORDS = {"FINISHED": "complete", "KILLED": "pruned", "FAILED": "failed", "RUNNING": "running",
                     "SCHEDULED": "waiting"}


class AnalysisError(Exception):
    """A problem the user can fix (unknown experiment, empty study, missing store): the CLI prints
    ``error: <message>`` and exits with status 2 instead of a traceback."""


@contextlib.contextmanager
def using_tracking_uri(uri: str) -> Iterator[None]:
    """``mlflow.search_runs`` reads the global tracking URI: set it for the block, then restore it."""
    import mlflow

    old = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        if old is not None:
            mlflow.set_tracking_uri(old)


def check_tracking_store(uri: str) -> None:
    """Refuse a SQLite store that does not exist: MLflow would silently create an empty one."""
    path = contract.sqlite_path(uri)
    if path is not None and not path.is_file():
        raise AnalysisError(f"no MLflow tracking store at {path} (tracking URI {uri}); run a study first "
                            f"({HOW_TO_RUN}), or pass --tracking-uri")


def open_optuna_study(storage: str, name: str) -> tuple[Any, str | None]:
    """The Optuna study ``name`` in ``storage`` (journal file path or database URL), or (None, why not).

    A missing storage is not fatal: the MLflow side still carries states, params and metrics."""
    import optuna

    from experiments.storage import open_journal

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if contract.is_url(storage):
        path = contract.sqlite_path(storage)
        if path is not None and not path.is_file():
            return None, f"Optuna storage {storage} not found; trial states and objectives come from MLflow tags"
        st: Any = storage
    else:
        path = Path(storage)
        if not path.is_file():
            return None, (f"Optuna storage {path} not found; trial states and objectives come from MLflow tags "
                          "(pass --storage)")
        st = open_journal(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.load_study(study_name=name, storage=st), None
    except KeyError:
        return None, f"no Optuna study named {name!r} in {storage}; trial states come from MLflow tags"
    except Exception as e:  # unreachable database, bad URL, ...
        return None, f"cannot open Optuna storage {storage}: {type(e).__name__}: {e}"


def _num(v: Any) -> float:
    """MLflow params are strings; missing values become NaN."""
    if v is None:
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _str_or_none(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return None
    return str(v)


@dataclass
class Study:
    """One study as the stores hold it.

    ``runs``: the trial runs' ``search_runs`` rows, indexed by trial number. ``trials``: one row per trial
    (Optuna's trials joined with the MLflow runs): number, run_id, run_name, status, blog_trial, the swept
    params (``param_names``), objective value(s), fail_reason. ``catalog``: the evaluation metrics and their
    directions, as the study stored them. ``notes``: what could not be read, for the user to see.
    """

    name: str
    tracking_uri: str
    storage: str
    client: Any
    experiment: Any
    parent: dict[str, Any] | None
    runs: pd.DataFrame
    optuna: Any
    trials: pd.DataFrame
    param_names: list[str] = field(default_factory=list)
    int_params: set[str] = field(default_factory=set)
    seed_runs: pd.DataFrame = field(default_factory=pd.DataFrame)   # multi-seed trials' seed runs (role seed)
    baselines: pd.DataFrame = field(default_factory=pd.DataFrame)   # reference generators' runs, by name
    catalog: Catalog = field(default_factory=Catalog)
    notes: list[str] = field(default_factory=list)
    _hist: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ study-level facts
    @property
    def parent_run_id(self) -> str | None:
        return self.parent["run_id"] if self.parent else None

    @cached_property
    def directions(self) -> list[str]:
        """'minimize' / 'maximize' per objective (Optuna's, else the parent run's tag)."""
        if self.optuna is not None:
            return [d.name.lower() for d in self.optuna.directions]
        tag = (self.parent or {}).get(f"tags.{contract.TAG_DIRECTIONS}")
        return [d.strip().lower() for d in str(tag).split(",")] if _str_or_none(tag) else ["minimize"]

    @cached_property
    def objective_keys(self) -> list[str]:
        """The metric key(s) each objective reports (study user attr, else the parent's tag)."""
        raw = None
        if self.optuna is not None:
            raw = self.optuna.user_attrs.get(contract.ATTR_OBJECTIVE)
        raw = raw or _str_or_none((self.parent or {}).get(f"tags.{contract.TAG_OBJECTIVE}"))
        keys = [k.strip() for k in str(raw).split(",")] if raw else []
        return keys if len(keys) == len(self.directions) else keys + [""] * (len(self.directions) - len(keys))

    @cached_property
    def settings(self) -> dict[str, Any]:
        """What the study fixed (its stored settings); without Optuna, what the parent run's tags say."""
        if self.optuna is not None and self.optuna.user_attrs.get(contract.ATTR_SETTINGS):
            return dict(self.optuna.user_attrs[contract.ATTR_SETTINGS])
        data = _str_or_none((self.parent or {}).get(f"tags.{contract.TAG_DATA}"))
        return {"data": data} if data else {}

    @property
    def is_multi_objective(self) -> bool:
        return len(self.directions) > 1

    @property
    def objective_columns(self) -> list[str]:
        return contract.objective_metric_keys(len(self.directions))

    def label(self, number: int) -> str:
        """'2 (blog trial 1)' for the seed blog's presets, else '5'."""
        row = self.trials.loc[number] if number in self.trials.index else None
        blog = row["blog_trial"] if row is not None else pd.NA
        return f"{number} (blog trial {int(blog)})" if pd.notna(blog) else str(number)

    def run_id(self, number: int) -> str | None:
        return _str_or_none(self.trials.loc[number, "run_id"]) if number in self.trials.index else None

    # ------------------------------------------------------------------ metrics
    def metric_keys(self) -> list[str]:
        """Metric keys that at least one trial run (or seed run) has logged (search_runs columns)."""
        keys = {}
        for df in (self.runs, self.seed_runs):
            keys.update(dict.fromkeys(c[len("metrics."):] for c in df.columns
                                      if c.startswith("metrics.") and df[c].notna().any()))
        return list(keys)

    # ------------------------------------------------------------------ seeds
    def seeds_of(self, number: int) -> pd.DataFrame:
        """The seed runs of a multi-seed trial (empty for a single-seed trial), by seed."""
        if not len(self.seed_runs) or "_number" not in self.seed_runs.columns:
            return self.seed_runs.iloc[:0]
        return self.seed_runs[self.seed_runs["_number"] == number].sort_values("_seed")

    def n_seeds(self, number: int) -> int:
        return max(1, len(self.seeds_of(number)))

    def seed_values(self, number: int, key: str) -> list[float]:
        """The final value of ``key`` for each seed of a trial: its seed runs' values, or -- one seed -- the trial
        run's own. NaN where a seed has none (failed before that evaluation)."""
        seeds = self.seeds_of(number)
        col = f"metrics.{key}"
        if len(seeds):
            return [_num(v) for v in (seeds[col] if col in seeds.columns else [math.nan] * len(seeds))]
        v = self.final(number, key)
        return [] if math.isnan(v) else [v]

    def seed_curves(self, number: int, key: str) -> list[pd.DataFrame]:
        """Each seed's ``key`` over iterations (one per seed run; empty for a single-seed trial)."""
        return [self.history(rid, key).drop_duplicates("step", keep="last")
                for rid in self.seeds_of(number)["run_id"]]

    def final(self, number: int, key: str) -> float:
        """The run's latest value of ``key`` as MLflow reports it (``search_runs``: value at the last step)."""
        col = f"metrics.{key}"
        if number not in self.runs.index or col not in self.runs.columns:
            return math.nan
        return _num(self.runs.at[number, col])

    def history(self, run_id: str, key: str) -> pd.DataFrame:
        """Every stored value of ``key`` (columns step, value, timestamp), ordered by step then time. A step
        logged twice (a resumed run) appears twice; :meth:`curve` keeps the latest."""
        cache_key = (run_id, key)
        if cache_key not in self._hist:
            ms = self.client.get_metric_history(run_id, key)
            df = pd.DataFrame([(m.step, m.value, m.timestamp) for m in ms], columns=["step", "value", "timestamp"])
            self._hist[cache_key] = df.sort_values(["step", "timestamp"], kind="stable").reset_index(drop=True)
        return self._hist[cache_key]

    def trial_history(self, number: int, key: str) -> pd.DataFrame:
        run_id = self.run_id(number)
        if run_id is None or not _has(self.runs, number, f"metrics.{key}"):
            return pd.DataFrame({"step": pd.Series(dtype="int64"), "value": pd.Series(dtype="float64"),
                                 "timestamp": pd.Series(dtype="int64")})
        return self.history(run_id, key)

    def curve(self, number: int, key: str) -> pd.DataFrame:
        """A trial's ``key`` over iterations for plotting: one value per step (the latest logged). A key only its
        seeds logged (a multi-seed trial's losses) is the mean of the seeds' curves."""
        own = self.trial_history(number, key).drop_duplicates("step", keep="last")
        if len(own):
            return own
        curves = [c for c in self.seed_curves(number, key) if len(c)]
        if not curves:
            return own
        both = pd.concat(curves).groupby("step", as_index=False)["value"].mean()
        return both.assign(timestamp=0)


def _has(runs: pd.DataFrame, number: int, col: str) -> bool:
    return number in runs.index and col in runs.columns and pd.notna(runs.at[number, col])


def _search(experiment_id: str, role: str) -> pd.DataFrame:
    import mlflow

    return mlflow.search_runs(experiment_ids=[experiment_id], filter_string=f"tags.`{contract.TAG_ROLE}` = '{role}'",
                              output_format="pandas")


def _state_from_run(row: pd.Series) -> str:
    tag = _str_or_none(row.get(f"tags.{contract.TAG_STATE}"))
    if tag and tag.upper() in _STATE_WORDS:
        return _STATE_WORDS[tag.upper()]
    return _RUN_STATUS_WORDS.get(str(row.get("status")), str(row.get("status")).lower())


def load_study(name: str, tracking_uri: str = DEFAULT_TRACKING_URI, storage: str = DEFAULT_STORAGE,
               allow_empty: bool = False) -> Study:
    """Load experiment ``name`` and Optuna study ``name``; :class:`AnalysisError` if either the experiment is
    unknown or the study has no trials (unless ``allow_empty``)."""
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    check_tracking_store(tracking_uri)
    from mlflow import MlflowClient

    from mlflow.exceptions import MlflowException

    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        exp = client.get_experiment_by_name(name)
        names = sorted(e.name for e in client.search_experiments()) if exp is None or \
            exp.lifecycle_stage != "active" else []
    except MlflowException as e:  # unreachable server, file store refused by MLflow 3, bad URI...
        raise AnalysisError(f"cannot read MLflow tracking store {tracking_uri}: {e.message}") from e
    if exp is None or exp.lifecycle_stage != "active":
        known = ", ".join(repr(n) for n in names) if names else "none"
        gone = " (it was deleted)" if exp is not None else ""
        raise AnalysisError(f"unknown experiment {name!r}{gone} in {tracking_uri}; experiments there: {known}")

    notes: list[str] = []
    with using_tracking_uri(tracking_uri):
        parents = _search(exp.experiment_id, contract.ROLE_STUDY)
        runs = _search(exp.experiment_id, contract.ROLE_TRIAL)
        seed_runs = _search(exp.experiment_id, contract.ROLE_SEED)
        baselines = _search(exp.experiment_id, contract.ROLE_BASELINE)

    study_col, number_col = f"tags.{contract.TAG_STUDY}", f"tags.{contract.TAG_TRIAL_NUMBER}"
    parent = None
    if len(parents):
        if study_col in parents.columns:
            same = parents[parents[study_col].fillna(name) == name]
            parents = same if len(same) else parents
        parent = parents.sort_values("start_time").iloc[0].to_dict()
    else:
        notes.append(f"no parent run (tag {contract.TAG_ROLE}={contract.ROLE_STUDY}) in experiment {name!r}")

    study, why = open_optuna_study(storage, name)
    if why:
        notes.append(why)
    opt_trials = study.get_trials(deepcopy=False) if study is not None else []
    linked = {t.user_attrs.get(contract.ATTR_RUN_ID) for t in opt_trials} - {None}

    # trial runs of this study, one per trial number
    if len(runs) and study_col in runs.columns:
        runs = runs[runs[study_col].fillna(name) == name]
    if len(runs):
        if number_col not in runs.columns:
            runs = runs.assign(**{number_col: None})
        nums = pd.to_numeric(runs[number_col], errors="coerce")
        if nums.isna().any():
            notes.append(f"{int(nums.isna().sum())} trial run(s) without tag {contract.TAG_TRIAL_NUMBER} were ignored")
        runs = runs.assign(_number=nums, _linked=runs["run_id"].isin(linked)).dropna(subset=["_number"])
        runs = runs.sort_values(["_number", "_linked", "start_time"]).drop_duplicates("_number", keep="last")
        runs.index = runs.pop("_number").astype(int)
        runs = runs.drop(columns="_linked")
    else:
        runs = pd.DataFrame(columns=["run_id"])
    runs.index.name = "number"

    if study is not None:
        n_obj = len(study.directions)
    else:
        tag = _str_or_none((parent or {}).get(f"tags.{contract.TAG_DIRECTIONS}"))
        n_obj = len(tag.split(",")) if tag else 1
    names, ints = _params(study, opt_trials, parent, runs)
    trials = _join_trials(runs, opt_trials, n_obj, names)
    if not len(trials) and not allow_empty:
        raise AnalysisError(f"study {name!r} is empty: experiment {name!r} exists but has no trial runs "
                            f"(tag {contract.TAG_ROLE}={contract.ROLE_TRIAL}) and no Optuna trials; {HOW_TO_RUN}")
    logged = [c[len("metrics."):] for c in runs.columns if c.startswith("metrics.")]
    if len(seed_runs):
        seed_runs = seed_runs[seed_runs["tags." + contract.TAG_PARENT].isin(set(runs["run_id"]))] if len(runs) else \
            seed_runs.iloc[:0]
        seed_runs = seed_runs.assign(_number=pd.to_numeric(seed_runs[number_col], errors="coerce"),
                                     _seed=pd.to_numeric(seed_runs["tags." + contract.TAG_SEED], errors="coerce"))
        logged += [c[len("metrics."):] for c in seed_runs.columns if c.startswith("metrics.")]
    catalog = Catalog.build(study.user_attrs.get(contract.ATTR_METRICS) if study is not None else None, logged)
    return Study(name=name, tracking_uri=tracking_uri, storage=storage, client=client, experiment=exp,
                 parent=parent, runs=runs, optuna=study, trials=trials, param_names=names, int_params=ints,
                 seed_runs=seed_runs, baselines=_baseline_runs(baselines, name), catalog=catalog, notes=notes)


def _baseline_runs(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """The study's reference-generator runs, one per name (the oldest), indexed by name in the logged order."""
    col, study_col = f"tags.{contract.TAG_BASELINE}", f"tags.{contract.TAG_STUDY}"
    if not len(df) or col not in df.columns:
        return pd.DataFrame()
    if study_col in df.columns:
        df = df[df[study_col].fillna(name) == name]
    df = df.dropna(subset=[col]).sort_values("start_time", kind="stable").drop_duplicates(col, keep="first")
    return df.set_index(col, drop=False).rename_axis(None)


def _params(study: Any, opt_trials: list[Any], parent: dict[str, Any] | None, runs: pd.DataFrame
            ) -> tuple[list[str], set[str]]:
    """The swept parameters, in the study's order, and which are integers: the search space the study stored,
    else the Optuna trials' params, else the parent run's ``space.<name>`` params."""
    from experiments.space import SearchSpace

    space = ((study.user_attrs.get(contract.ATTR_SETTINGS) or {}).get("space") if study is not None else None)
    if space:
        try:
            s = SearchSpace.from_dict(space)
            return s.names, {n for n, p in s.params.items() if p.is_int}
        except Exception:  # noqa: BLE001 -- a space stored by another version: fall back to the trials
            pass
    names: dict[str, None] = {}
    for t in opt_trials:
        names.update(dict.fromkeys(t.params or t.system_attrs.get("fixed_params") or {}))
    if not names and parent:
        prefix = f"params.{contract.SPACE_PARAM_PREFIX}"
        names.update(dict.fromkeys(k[len(prefix):] for k in parent if k.startswith(prefix)))
    ints = {n for n in names if any(n in t.params for t in opt_trials)
            and all(isinstance(t.params[n], int) for t in opt_trials if n in t.params)}
    return list(names), ints



def _join_trials(runs: pd.DataFrame, opt_trials: list[Any], n_obj: int, param_names: list[str]) -> pd.DataFrame:
    """One row per trial number: Optuna's view where it exists, the MLflow tags/params otherwise."""
    by_number = {t.number: t for t in opt_trials}
    rows = []
    for number in sorted(set(by_number) | set(runs.index)):
        t = by_number.get(number)
        r = runs.loc[number] if number in runs.index else None
        row: dict[str, Any] = {"number": number,
                               "run_id": _str_or_none(r["run_id"]) if r is not None else
                               (t.user_attrs.get(contract.ATTR_RUN_ID) if t is not None else None),
                               "run_name": (_str_or_none(r.get(f"tags.{contract.TAG_RUN_NAME}")) if r is not None
                                            else None)}
        row["status"] = _STATE_WORDS.get(t.state.name, t.state.name.lower()) if t is not None else _state_from_run(r)
        blog = t.user_attrs.get(contract.ATTR_BLOG) if t is not None else None
        if blog is None and r is not None:
            blog = _str_or_none(r.get(f"tags.{contract.TAG_BLOG}"))
        row["blog_trial"] = int(blog) if blog not in (None, "") else pd.NA
        # a trial still waiting in the queue (enqueue_trial) has its params in system_attrs["fixed_params"]
        params = (t.params or t.system_attrs.get("fixed_params") or {}) if t is not None else {}
        for p in param_names:
            v = params.get(p)
            row[p] = float(v) if v is not None else (_num(r.get(f"params.{p}")) if r is not None else math.nan)
        if t is not None:
            values = list(t.values or [])
        elif row["status"] == "complete":  # no Optuna: what MLflow logged as the objective (complete runs only)
            values = [_num(r.get(f"metrics.{k}")) for k in contract.objective_metric_keys(n_obj)]
        else:
            values = []
        for i, col in enumerate(contract.objective_metric_keys(n_obj)):
            row[col] = float(values[i]) if i < len(values) and values[i] is not None else math.nan
        reason = t.user_attrs.get(contract.ATTR_FAIL_REASON) if t is not None else None
        if reason is None and r is not None:
            reason = _str_or_none(r.get(f"tags.{contract.TAG_FAIL_REASON}"))
        row["fail_reason"] = reason
        rows.append(row)
    df = pd.DataFrame(rows)
    if not len(df):
        return pd.DataFrame(columns=["number", "run_id", "run_name", "status", "blog_trial", *param_names,
                                     "objective", "fail_reason"]).set_index("number")
    df["blog_trial"] = df["blog_trial"].astype("Int64")
    return df.set_index("number", drop=False).rename_axis(None)


__all__ = ["AnalysisError", "Study", "load_study", "open_optuna_study", "check_tracking_store",
           "DEFAULT_TRACKING_URI", "DEFAULT_STORAGE", "HOW_TO_RUN"]

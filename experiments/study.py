"""Setting a study up: its sampler and pruner, its stored settings, its MLflow experiment and parent run, and the
blog's trials queued first. Every worker runs :func:`resolve_settings` then :func:`setup_study`; the first one
creates what the others join.

Optuna is imported inside the functions, so the sweep's command line (which lists the samplers and pruners)
answers ``--help`` without loading it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from munit.config import ConfigError

from . import contract
from .presets import BLOG_TRIALS, blog_params
from .settings import StudySettings, check_same, new_settings, stored_options

if TYPE_CHECKING:
    import optuna
    from .console import BudgetPrior


def _tpe(seed):  # constant_liar: parallel workers do not all draw near the same running trial
    import optuna
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def _sampler(name: str) -> Callable[[int | None], Any]:
    def make(seed):
        import optuna
        return getattr(optuna.samplers, name)(seed=seed)
    return make


SAMPLERS: dict[str, Callable[[int | None], Any]] = {
    "tpe": _tpe, "random": _sampler("RandomSampler"), "qmc": _sampler("QMCSampler"), "gp": _sampler("GPSampler"),
    "nsga2": _sampler("NSGAIISampler")}


MEDIAN_STARTUP = 5   # the median pruner's start-up trials: never pruned


def _median(s: StudySettings):
    import optuna
    return optuna.pruners.MedianPruner(n_startup_trials=MEDIAN_STARTUP, n_warmup_steps=0)


def _hyperband(s: StudySettings):
    import optuna
    return optuna.pruners.HyperbandPruner(min_resource=s.eval_every, max_resource=s.iters)


def _sha(s: StudySettings):
    import optuna
    return optuna.pruners.SuccessiveHalvingPruner(min_resource=s.eval_every)


def _patient(s: StudySettings):
    """Optuna's PatientPruner around the median pruner: the median pruner is asked only once a trial's objective
    has not improved for two evaluations; a trial that is still getting better runs on even when it is below the
    median. For objectives that jitter from evaluation to evaluation (GAN scores, small evaluation sets), where
    the plain median pruner stops trials on one unlucky evaluation."""
    import optuna
    return optuna.pruners.PatientPruner(_median(s), patience=1)


def _nop(s: StudySettings):
    import optuna
    return optuna.pruners.NopPruner()


PRUNERS: dict[str, Callable[[StudySettings], Any]] = {"median": _median, "patient": _patient,
                                                      "hyperband": _hyperband, "sha": _sha, "none": _nop}


def make_sampler(name: str, seed: int | None):
    if name not in SAMPLERS:
        raise ConfigError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")
    return SAMPLERS[name](seed)


def run_seed(seed: int | None, n_trials: int) -> int | None:
    """The sampler seed of a run that joins a study holding ``n_trials`` trials: ``seed`` itself for a new study
    (a seeded single-worker study is reproducible), else a seed derived from both. A rerun with the same
    ``--sampler-seed`` would otherwise replay the first run's draws and repeat its trials exactly."""
    if seed is None or n_trials == 0:
        return seed
    import hashlib
    return int.from_bytes(hashlib.sha256(f"{seed}:{n_trials}".encode()).digest()[:4], "little")


def make_pruner(name: str | None, s: StudySettings):
    if len(s.objective_keys) > 1:
        if name not in (None, "none"):
            raise ConfigError(f"--pruner {name}: Optuna cannot prune a multi-objective study "
                              f"({','.join(s.objective_keys)}); leave --pruner out")
        return _nop(s)
    name = name or "median"
    if name not in PRUNERS:
        raise ConfigError(f"unknown pruner {name!r}; choose one of {', '.join(PRUNERS)}")
    return PRUNERS[name](s)


def budget_prior(name: str | None, s: StudySettings) -> "BudgetPrior":
    """What the ETA expects of trials under pruner ``name`` until ended trials show its real rate: the median
    pruners never stop their start-up trials and are expected to stop half of the rest at the first evaluation
    (a trial is below the median half the time); Hyperband and successive halving stop most trials at the first
    rung; no pruner (or a multi-objective study): the full budget."""
    from .console import BudgetPrior   # the console imports the trainer (torch): not at the sweep's --help

    name = (name or "median") if len(s.objective_keys) == 1 else "none"
    if name in ("median", "patient"):
        return BudgetPrior(MEDIAN_STARTUP, (s.eval_every, s.iters))
    if name in ("hyperband", "sha"):
        return BudgetPrior(0, (s.eval_every, s.eval_every, s.iters))
    return BudgetPrior(0, (s.iters,))


def direction(key: str) -> str:
    """"maximize" or "minimize" for an objective key (``fid/mean`` -> fid's direction in munit's registry)."""
    from munit.metrics.protocol import registry
    name = key.split("/")[0]
    metrics = registry()
    if name not in metrics:
        raise ConfigError(f"unknown metric {name!r} in objective {key!r}; choose from {', '.join(metrics)}")
    return metrics[name].direction


# ------------------------------------------------------------------------------------------- stored settings

def stored(storage, name: str) -> tuple[StudySettings, dict[str, Any]] | None:
    """The settings and creating options an existing study stores, or None for a new study."""
    import optuna
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None
    settings = study.user_attrs.get(contract.ATTR_SETTINGS)
    if not settings:
        return None
    return StudySettings.from_dict(settings), dict(study.user_attrs.get(contract.ATTR_OPTIONS) or {})


def resolve_settings(requested: Mapping[str, Any], storage, study_name: str, cuda: bool,
                     weights: Mapping[str, str] | None = None, allow_unverified: bool = False
                     ) -> tuple[StudySettings, dict[str, Any]]:
    """The study's stored settings (checked against the options given), or new ones; fails before the study or
    any MLflow run exists when a metric cannot run (missing or foreign weights, a synthetic-only metric on real
    data), the protocol is bad, or -- for a new study -- its trials could not train (:func:`check_trainable`).
    Returns (settings, the options to store with a new study)."""
    from munit.metrics.protocol import Protocol
    from munit.metrics.session import check_available

    have = stored(storage, study_name)
    if have is not None:
        settings, options = have
        check_same(requested, settings, options, study_name, cuda)
    else:
        settings = new_settings(requested, cuda=cuda)
        options = stored_options(requested, settings)
    check_available(settings.metrics, weights, data_source=settings.data, allow_unverified=allow_unverified)
    Protocol(**settings.protocol)   # validates the protocol sizes
    if have is None:
        check_trainable(settings)
    return settings, options


def check_trainable(s: StudySettings) -> None:
    """What would fail every trial, found before a study stores its settings: the configs at both ends of every
    swept range, the data of both splits (missing, empty or unreadable folders fail with the loader's message), a
    batch larger than a domain."""
    from munit.data import count_images

    base = s.configs()
    space = s.search_space
    for end in ("low", "high"):
        params = {name: getattr(p, end) for name, p in space.params.items()}
        space.apply(params, base)   # dataclasses validate every field they get
    names = ("A", "B") if s.synthetic else s.domains
    sizes = {split: list(zip(names, count_images(s.data_config(), split))) for split in ("train", "val")}
    for name, n in sizes["train"]:
        if n < s.batch_size:
            raise ConfigError(f"--batch-size {s.batch_size} is larger than domain {name!r}'s {n} train image(s); "
                              "every trial would fail. Use a smaller batch or more images")


# ------------------------------------------------------------------------------------------- the study

@dataclass
class OpenStudy:
    """A study with its MLflow side, as every worker sees it after setup."""

    study: "optuna.Study"
    settings: StudySettings
    client: Any                 # mlflow.MlflowClient
    experiment_id: str
    parent_run_id: str


def open_study(name: str, storage, settings: StudySettings, options: Mapping[str, Any], sampler: str,
               sampler_seed: int | None, pruner: str | None) -> "optuna.Study":
    """Create or load the study with this worker's sampler and pruner; store the settings, the creating options
    and the metrics' facts (direction, label, keys: what analysis reads) on creation."""
    import optuna

    from munit.metrics.protocol import metric_info

    want = [direction(k) for k in settings.objective_keys]
    study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True, directions=want,
                                sampler=make_sampler(sampler, sampler_seed), pruner=make_pruner(pruner, settings))
    n = len(study.get_trials(deepcopy=False))
    if sampler_seed is not None and n:   # joining a study that has trials: draw new configurations
        study.sampler = make_sampler(sampler, run_seed(sampler_seed, n))
    have = [d.name.lower() for d in study.directions]
    if have != want:
        raise ConfigError(f"study {name!r} optimises {','.join(have)}, the objective "
                          f"{','.join(settings.objective_keys)} needs {','.join(want)}; use another --study-name")
    if contract.ATTR_SETTINGS not in study.user_attrs:
        study.set_user_attr(contract.ATTR_SETTINGS, settings.to_dict())
        study.set_user_attr(contract.ATTR_OPTIONS, dict(options))
        study.set_user_attr(contract.ATTR_OBJECTIVE, ",".join(settings.objective_keys))
        study.set_user_attr(contract.ATTR_METRICS, metric_info(settings.metrics))
    return study


def enqueue_blog(study: "optuna.Study", settings: StudySettings) -> None:
    """The blog's three trials first (skipped if the study already has them: resume never re-enqueues)."""
    space = settings.search_space
    base = settings.configs()
    for bt in BLOG_TRIALS:
        params = blog_params(bt, settings.schedule, space, base)
        outside = space.outside(params)
        if outside:
            raise ConfigError(f"blog trial {bt.number} is outside the search space: {'; '.join(outside)}")
        study.enqueue_trial(params, user_attrs={contract.ATTR_BLOG: bt.number}, skip_if_exists=True)


def parent_tags(storage_url: str, s: StudySettings) -> dict[str, str]:
    return {contract.TAG_STORAGE: contract.mask_url(storage_url),
            contract.TAG_DIRECTIONS: ",".join(direction(k) for k in s.objective_keys),
            contract.TAG_OBJECTIVE: ",".join(s.objective_keys), contract.TAG_DATA: s.data,
            contract.TAG_PRESET: s.preset}


def parent_params(s: StudySettings) -> dict[str, Any]:
    stored = {**s.to_dict(), "image_size": s.image_size}
    out: dict[str, Any] = {k: stored[k] for k in contract.STUDY_PARAMS}
    out.update({f"{contract.PROTOCOL_PARAM_PREFIX}{k}": v for k, v in s.protocol.items()})
    out.update({f"{contract.SPACE_PARAM_PREFIX}{k}": p.describe() for k, p in s.search_space.params.items()})
    return out


def setup_lock_path(root: str | Path, storage_url: str) -> Path:
    if not contract.is_url(storage_url):
        return Path(storage_url + ".setup.lock")
    return Path(root) / ".sweep.setup.lock"


def setup_study(name: str, root: str | Path, storage_url: str, storage, settings: StudySettings,
                options: Mapping[str, Any], tracking_uri: str, artifact_location: str | None, sampler: str,
                sampler_seed: int | None, pruner: str | None, blog: bool) -> OpenStudy:
    """Create or join the study, its MLflow experiment and parent run, and queue the blog's trials; under a
    file lock, so that workers starting together on this machine do it one after the other."""
    from .storage import file_lock
    from .tracking import default_artifact_location, open_client, open_experiment, study_parent_run

    with file_lock(setup_lock_path(root, storage_url)):
        study = open_study(name, storage, settings, options, sampler, sampler_seed, pruner)
        settings = StudySettings.from_dict(study.user_attrs[contract.ATTR_SETTINGS])   # a racing creator's, if it won
        client = open_client(tracking_uri)
        experiment_id = open_experiment(client, name, artifact_location
                                        or default_artifact_location(tracking_uri, name))
        parent_run_id = study_parent_run(client, experiment_id, name, parent_tags(storage_url, settings),
                                         parent_params(settings))
        from .mlflow_ui import describe_experiment
        space = settings.search_space
        describe_experiment(client, experiment_id, name, settings.objective_keys,
                            [direction(k) for k in settings.objective_keys], space.names,
                            {k: p.describe() for k, p in space.params.items()})
        for key, value in ((contract.ATTR_EXPERIMENT_ID, experiment_id), (contract.ATTR_PARENT_RUN_ID, parent_run_id)):
            if study.user_attrs.get(key) != value:
                study.set_user_attr(key, value)
        if blog:
            enqueue_blog(study, settings)
    return OpenStudy(study, settings, client, experiment_id, parent_run_id)


def close_parent(client, study: "optuna.Study", parent_run_id: str, interrupted: bool) -> None:
    """The parent run ends with the last worker: FINISHED (KILLED after Ctrl-C) once no trial is running."""
    import logging

    import optuna
    if study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        return
    try:
        client.set_terminated(parent_run_id, "KILLED" if interrupted else "FINISHED")
    except Exception as e:  # noqa: BLE001 -- never hide the sweep's own outcome behind a tracking error
        logging.getLogger(__name__).warning("could not close the parent run %s: %s", parent_run_id, e)


def best_trials(study: "optuna.Study") -> list:
    try:
        return [study.best_trial] if len(study.directions) == 1 else list(study.best_trials)
    except ValueError:   # no complete trial yet
        return []


__all__ = ["SAMPLERS", "PRUNERS", "make_sampler", "run_seed", "make_pruner", "budget_prior", "direction", "stored",
           "resolve_settings", "check_trainable",
           "OpenStudy", "open_study", "enqueue_blog", "parent_tags", "parent_params", "setup_lock_path",
           "setup_study", "close_parent", "best_trials"]

"""An Optuna study over MUNIT's loss weights and StepLR step, tracked in MLflow.

    python experiments/sweep.py --trials 20                    # synthetic data, tiny preset, CPU: minutes
    python experiments/sweep.py --data /data/afhq --blog       # AFHQ dog<->cat, paper preset on a GPU

``--trials N`` is the study's total: a rerun of the same command continues the study (same settings, read back
from the study) until it has N trials, and runs nothing if it already has them. Several workers -- ``--workers K``
here, or more ``sweep.py`` processes on the same ``--storage`` (on several machines with PostgreSQL) -- share
one budget of N trials. See docs/sweeps.md.
"""
from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import optuna  # noqa: E402
import torch  # noqa: E402

from experiments.budget import TrialBudget, counted  # noqa: E402
from experiments.objective import Objective, TrialContext, direction  # noqa: E402
from experiments.presets import BLOG_TRIALS, SWEEP_PRESETS, blog_params  # noqa: E402
from experiments.recovery import TrialRecovery  # noqa: E402
from experiments.settings import StudySettings, check_same, new_settings  # noqa: E402
from experiments.space import SearchSpace  # noqa: E402
from experiments.storage import DEFAULT_JOURNAL_NAME, file_lock, is_url, mask_url, open_storage  # noqa: E402
from experiments.tracking import (default_artifact_location, open_client, open_experiment,  # noqa: E402
                                  study_parent_run)
from munit.config import ConfigError  # noqa: E402
from munit.trainer import resolve_device  # noqa: E402

log = logging.getLogger("experiments.sweep")

DEFAULT_ROOT = "mlruns"
DEFAULT_STUDY = "munit-sweep"
SAMPLERS = ("tpe", "random", "qmc", "gp", "nsga2")
PRUNERS = ("median", "hyperband", "sha", "none")
# options stored with the study (None = not given); see experiments.settings
SETTING_OPTIONS = ("data", "domains", "max_images", "synthetic_train", "synthetic_val", "preset", "image_size",
                   "batch_size", "lr", "precision", "seed", "iters", "scale", "eval_every", "eval_images",
                   "eval_styles", "eval_real", "metrics", "objective", "space")

EXAMPLES = """examples:
  python experiments/sweep.py --trials 20                       # CPU demo on the embedded synthetic data
  python experiments/sweep.py --trials 30                       # continue the same study up to 30 trials
  python experiments/sweep.py --trials 20 --workers 2           # two worker processes on this machine
  python experiments/sweep.py --data /data/afhq --blog --trials 40 --scale 0.1
  python experiments/sweep.py --objective fid/mean,lpips/mean   # Pareto study (no pruning)
  python experiments/sweep.py --storage postgresql://user:pw@db/optuna --tracking-uri http://mlflow:5000
  python experiments/reproduce_blog.py --data /data/afhq --scale 0.1   # the blog's three trials only
"""


@dataclass
class SweepConfig:
    """A worker's options. ``settings`` holds the ones a study stores (None = the study's or preset's value)."""

    trials: int = 20
    study_name: str = DEFAULT_STUDY
    root: str = DEFAULT_ROOT
    storage: str | None = None
    tracking_uri: str | None = None
    artifact_location: str | None = None
    sampler: str = "tpe"
    sampler_seed: int | None = None
    pruner: str | None = None
    device: str = "auto"
    workers: int = 1
    worker_index: int = 0
    threads: int | None = None
    blog: bool = False
    heartbeat: int = 60
    cache_dir: str | None = None
    inception_weights: str | None = None
    alexnet_weights: str | None = None
    progress: bool | None = None
    argv: list[str] = field(default_factory=list)          # to spawn identical workers
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def storage_url(self) -> str:
        return self.storage or str(Path(self.root) / DEFAULT_JOURNAL_NAME)

    @property
    def tracking(self) -> str:
        return self.tracking_uri or f"sqlite:///{Path(self.root) / 'mlflow.db'}"

    @property
    def trials_dir(self) -> Path:
        return Path(self.root) / "trials" / self.study_name


@dataclass
class SweepSummary:
    study_name: str
    storage: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    trials_dir: Path
    settings: StudySettings
    n_trials: int
    states: dict[str, int]
    best: list[optuna.trial.FrozenTrial]
    wall_s: float
    interrupted: bool = False


# ------------------------------------------------------------------------------------------------ study setup

def make_sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    if name == "tpe":   # constant_liar: parallel workers do not all draw near the same running trial
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    raise ConfigError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")


def make_pruner(name: str | None, s: StudySettings) -> optuna.pruners.BasePruner:
    if len(s.objective) > 1:
        if name not in (None, "none"):
            raise ConfigError(f"--pruner {name}: Optuna cannot prune a multi-objective study "
                              f"({','.join(s.objective)}); leave --pruner out")
        return optuna.pruners.NopPruner()
    name = name or "median"
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=s.eval_every, max_resource=s.iters)
    if name == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=s.eval_every)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"unknown pruner {name!r}; choose one of {', '.join(PRUNERS)}")


def _stored_settings(storage, name: str) -> StudySettings | None:
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None
    stored = study.user_attrs.get("settings")
    return StudySettings.from_dict(stored) if stored else None


def open_study(cfg: SweepConfig, storage, settings: StudySettings) -> optuna.Study:
    """Create or load the study with this worker's sampler and pruner; store the settings on creation."""
    sampler_seed = None if cfg.sampler_seed is None else cfg.sampler_seed + cfg.worker_index
    study = optuna.create_study(study_name=cfg.study_name, storage=storage, load_if_exists=True,
                                directions=[direction(k) for k in settings.objective],
                                sampler=make_sampler(cfg.sampler, sampler_seed),
                                pruner=make_pruner(cfg.pruner, settings))
    want = [direction(k) for k in settings.objective]
    have = [d.name.lower() for d in study.directions]
    if have != want:
        raise ConfigError(f"study {cfg.study_name!r} optimises {','.join(have)}, the objective "
                          f"{','.join(settings.objective)} needs {','.join(want)}; use another --study-name")
    if "settings" not in study.user_attrs:
        study.set_user_attr("settings", settings.to_dict())
        study.set_user_attr("objective", ",".join(settings.objective))
    return study


def enqueue_blog(study: optuna.Study, settings: StudySettings) -> None:
    """The blog's three trials first (skipped if the study already has them: resume never re-enqueues)."""
    space = SearchSpace.from_dict(settings.space)
    for bt in BLOG_TRIALS:
        params = blog_params(bt, settings.schedule)
        outside = space.outside(params)
        if outside:
            raise ConfigError(f"blog trial {bt.number} is outside the search space: {'; '.join(outside)}")
        study.enqueue_trial(params, user_attrs={"blog_trial": bt.number}, skip_if_exists=True)


def _parent_tags(cfg: SweepConfig, s: StudySettings) -> dict[str, str]:
    return {"optuna.storage": mask_url(cfg.storage_url),
            "optuna.directions": ",".join(direction(k) for k in s.objective),
            "optuna.objective": ",".join(s.objective), "munit.data": s.data, "munit.preset": s.preset}


def _parent_params(s: StudySettings) -> dict[str, Any]:
    keep = ("preset", "image_size", "iters", "batch_size", "lr", "seed", "data", "scale", "epoch_iters",
            "eval_every", "sample_every", "precision", "objective", "metrics")
    out: dict[str, Any] = {k: getattr(s, k) for k in keep}
    out.update({f"protocol.{k}": v for k, v in s.protocol.items()})
    out.update({f"space.{k}": SearchSpace.from_dict(s.space).params[k].describe() for k in s.space})
    return out


def _setup_lock_path(cfg: SweepConfig) -> Path:
    if not is_url(cfg.storage_url):
        return Path(cfg.storage_url + ".setup.lock")
    return Path(cfg.root) / ".sweep.setup.lock"


# ------------------------------------------------------------------------------------------------ running

def _print_trial(budget: TrialBudget, s: StudySettings):
    def callback(study: optuna.Study, t: optuna.trial.FrozenTrial) -> None:
        if t.user_attrs.get("skipped"):
            return
        p = t.params
        conf = (f"x {p.get('lambda_x', 0):.3g} s {p.get('lambda_s', 0):.3g} c {p.get('lambda_c', 0):.3g} "
                f"cyc {p.get('lambda_cyc', 0):.3g} step {p.get('lr_step', '?')}")
        blog = f" [blog {t.user_attrs['blog_trial']}]" if t.user_attrs.get("blog_trial") else ""
        if t.state == optuna.trial.TrialState.COMPLETE:
            what = " ".join(f"{k} {v:.4f}" for k, v in zip(s.objective, t.values))
        else:
            what = t.user_attrs.get("fail_reason", "")
        took = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else 0.0
        print(f"trial {t.number}{blog} {t.state.name}: {what}  ({conf}; {took:.0f} s; "
              f"{budget.used(study)}/{budget.n_trials})", flush=True)
    return callback


def _dead_trials_callback(recovery: TrialRecovery):
    def callback(study: optuna.Study, t: optuna.trial.FrozenTrial) -> None:
        recovery.fail_dead_local_trials(study)
    return callback


def default_threads(workers: int) -> int:
    """CPU threads per worker: half the cores it has to itself. PyTorch's CPU thread pool collapses when its
    threads compete for cores (2 cores, tiny preset: 8 it/s with 1 thread, 0.6 it/s with 2 while another process
    runs), and a sweep always has company: evaluation, MLflow, other workers."""
    return max(1, (os.cpu_count() or 1) // workers // 2)


def _spawn_workers(cfg: SweepConfig) -> int:
    """Run ``cfg.workers`` copies of this command (each one worker) and wait for them."""
    procs = []
    threads = cfg.threads or default_threads(cfg.workers)
    for i in range(cfg.workers):
        cmd = [sys.executable, "-m", "experiments.sweep", *cfg.argv, "--workers", "1", "--worker-index", str(i),
               "--threads", str(threads), "--no-summary"]
        procs.append(subprocess.Popen(cmd, cwd=os.getcwd()))
    interrupted = False
    while True:
        try:
            codes = [p.wait() for p in procs]
            break
        except KeyboardInterrupt:   # Ctrl-C reached the workers too; let them close their trials
            interrupted = True
    if interrupted or any(c == 130 for c in codes):
        raise KeyboardInterrupt
    bad = [c for c in codes if c]
    return bad[0] if bad else 0


@dataclass
class OpenStudy:
    """A study with its MLflow side, as every worker sees it after setup."""

    study: optuna.Study
    settings: StudySettings
    client: Any                 # mlflow.MlflowClient
    experiment_id: str
    parent_run_id: str


def resolve_settings(cfg: SweepConfig, storage, device: torch.device) -> StudySettings:
    """The study's stored settings (checked against the options given), or new ones; fails before any training
    when a metric cannot run (missing weights, a synthetic-only metric on real data) or the device cannot."""
    stored = _stored_settings(storage, cfg.study_name)
    if stored is not None:
        check_same(cfg.settings, stored, cfg.study_name)
        settings = stored
    else:
        settings = new_settings(cfg.settings, cuda=device.type == "cuda")
    if settings.precision != "fp32" and device.type != "cuda":
        raise ConfigError(f"study precision {settings.precision} needs a CUDA device; this worker has {device}")
    from munit.metrics import Protocol, check_available
    check_available(settings.metrics, cfg.inception_weights, cfg.alexnet_weights, data_source=settings.data)
    Protocol(**settings.protocol)   # validates the protocol sizes
    return settings


def setup_study(cfg: SweepConfig, storage, settings: StudySettings) -> OpenStudy:
    """Create or join the study, its MLflow experiment and parent run, and queue the blog's trials; under a
    file lock, so that workers starting together on this machine do it one after the other."""
    with file_lock(_setup_lock_path(cfg)):
        study = open_study(cfg, storage, settings)
        settings = StudySettings.from_dict(study.user_attrs["settings"])   # a racing creator's, if it won
        client = open_client(cfg.tracking)
        experiment_id = open_experiment(client, cfg.study_name, cfg.artifact_location
                                        or default_artifact_location(cfg.tracking, cfg.study_name))
        parent_run_id = study_parent_run(client, experiment_id, cfg.study_name, _parent_tags(cfg, settings),
                                         _parent_params(settings))
        for key, value in (("mlflow_experiment_id", experiment_id), ("mlflow_parent_run_id", parent_run_id)):
            if study.user_attrs.get(key) != value:
                study.set_user_attr(key, value)
        if cfg.blog:
            enqueue_blog(study, settings)
    return OpenStudy(study, settings, client, experiment_id, parent_run_id)


def run_sweep(cfg: SweepConfig) -> SweepSummary:
    """Run (or continue) a study until it has ``cfg.trials`` trials; returns what the study holds then."""
    t0 = time.perf_counter()
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.ERROR)   # one line per trial is printed here instead
    if cfg.trials < 0:
        raise ConfigError(f"--trials must be >= 0, got {cfg.trials}")
    if cfg.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {cfg.workers}")
    device = resolve_device(cfg.device)
    if cfg.threads or device.type == "cpu":
        torch.set_num_threads(cfg.threads or default_threads(cfg.workers))
    Path(cfg.root).mkdir(parents=True, exist_ok=True)
    recovery = TrialRecovery(cfg.tracking)
    storage = open_storage(cfg.storage_url, heartbeat_interval=cfg.heartbeat, on_stale=recovery)
    settings = resolve_settings(cfg, storage, device)
    s = setup_study(cfg, storage, settings)
    recovery.fail_dead_local_trials(s.study)

    budget = TrialBudget(cfg.trials)
    interrupted = False
    try:
        if budget.remaining(s.study) > 0:
            if cfg.workers > 1:
                code = _spawn_workers(cfg)
                if code:
                    raise RuntimeError(f"a worker exited with status {code}")
            else:
                _work(cfg, s, device, budget, recovery)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        _close_parent(s.client, s.study, s.parent_run_id, interrupted)
    states: dict[str, int] = {}
    for t in counted(s.study.get_trials(deepcopy=False)):
        states[t.state.name] = states.get(t.state.name, 0) + 1
    return SweepSummary(cfg.study_name, cfg.storage_url, cfg.tracking, s.experiment_id, s.parent_run_id,
                        cfg.trials_dir, s.settings, cfg.trials, states, _best(s.study), time.perf_counter() - t0,
                        interrupted)


def _work(cfg: SweepConfig, s: OpenStudy, device: torch.device, budget: TrialBudget,
          recovery: TrialRecovery) -> None:
    """This process's share of the trials: ``study.optimize`` until the budget is used up."""
    from munit.metrics import Protocol, make_evaluator
    evaluator = make_evaluator(list(s.settings.metrics), Protocol(**s.settings.protocol), cache_dir=cfg.cache_dir,
                               inception_weights=cfg.inception_weights, alexnet_weights=cfg.alexnet_weights)
    progress = cfg.progress if cfg.progress is not None else (sys.stderr.isatty() and cfg.workers == 1)
    ctx = TrialContext(s.settings, SearchSpace.from_dict(s.settings.space), evaluator, s.client, s.experiment_id,
                       s.parent_run_id, cfg.trials_dir, str(device), budget, recovery, progress)
    study_callbacks = [_print_trial(budget, s.settings), _dead_trials_callback(recovery), budget]
    s.study.optimize(Objective(ctx), catch=(Exception,), gc_after_trial=False, callbacks=study_callbacks)


def _close_parent(client, study: optuna.Study, parent_run_id: str, interrupted: bool) -> None:
    """The parent run ends with the last worker: FINISHED (KILLED after Ctrl-C) once no trial is running."""
    if study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        return
    try:
        client.set_terminated(parent_run_id, "KILLED" if interrupted else "FINISHED")
    except Exception as e:  # noqa: BLE001 -- never hide the sweep's own outcome behind a tracking error
        log.warning("could not close the parent run %s: %s", parent_run_id, e)


def _best(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    try:
        return [study.best_trial] if len(study.directions) == 1 else list(study.best_trials)
    except ValueError:   # no complete trial yet
        return []


# ------------------------------------------------------------------------------------------------ CLI

def format_summary(r: SweepSummary) -> str:
    s = r.settings
    states = ", ".join(f"{n} {k.lower()}" for k, n in sorted(r.states.items())) or "none"
    lines = [f"study {r.study_name!r}: {sum(r.states.values())}/{r.n_trials} trials ({states}); "
             f"{r.wall_s:.0f} s in this run",
             f"  setup: {s.data} data, preset {s.preset} ({s.image_size} px), batch {s.batch_size}, lr {s.lr:g}, "
             f"{s.iters} iterations per trial (scale {s.scale:.4g} of the blog's 30 epochs), evaluation every "
             f"{s.eval_every}, objective {', '.join(s.objective)}"]
    preset = SWEEP_PRESETS.get(s.preset)
    if preset is not None and preset.note and s.lr == preset.lr:
        lines.append(f"  note: {preset.note}")
    for t in r.best[:5]:
        vals = ", ".join(f"{k} = {v:.4f}" for k, v in zip(s.objective, t.values))
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items())
        label = "best" if len(s.objective) == 1 else "Pareto"
        blog = f" (blog trial {t.user_attrs['blog_trial']})" if t.user_attrs.get("blog_trial") else ""
        lines.append(f"{label}: trial {t.number}{blog}: {vals}; {params}; MLflow run "
                     f"{t.user_attrs.get('mlflow_run_id', '?')}")
    lines += ["results:",
              f"  MLflow tracking URI  {r.tracking_uri}  (experiment {r.study_name!r}, id {r.experiment_id}; "
              f"parent run {r.parent_run_id})",
              f"  Optuna storage       {mask_url(r.storage)}  (study {r.study_name!r})",
              f"  trial folders        {r.trials_dir}/<trial number>/"]
    if r.tracking_uri.startswith(("http://", "https://")):
        lines.append(f"open the MLflow UI:    {r.tracking_uri}")
    else:
        lines.append(f"open the MLflow UI:    mlflow ui --backend-store-uri {r.tracking_uri} --port 5000   "
                     "(then http://127.0.0.1:5000)")
    lines.append(f"Optuna dashboard:      optuna-dashboard {shlex.quote(mask_url(r.storage))}   "
                 "(pip install optuna-dashboard)")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python experiments/sweep.py", description=__doc__.split("\n\n")[0],
                                 epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_argument_group("study")
    g.add_argument("--trials", type=int, default=20, help="the study's total number of trials (default 20); a "
                   "rerun continues up to it, all workers together run exactly this many")
    g.add_argument("--study-name", default=DEFAULT_STUDY, help=f"Optuna study = MLflow experiment "
                   f"(default {DEFAULT_STUDY})")
    g.add_argument("--root", default=DEFAULT_ROOT, help="folder of the default stores: ROOT/mlflow.db, "
                   "ROOT/optuna.journal, ROOT/artifacts, ROOT/trials (default mlruns)")
    g.add_argument("--storage", default=None, help="Optuna storage: a journal file path (default "
                   "ROOT/optuna.journal), postgresql://user:pw@host/db, or sqlite:///file.db")
    g.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default sqlite:///ROOT/mlflow.db; "
                   "http://host:5000 for a shared server)")
    g.add_argument("--artifact-location", default=None, help="artifact root of a new MLflow experiment "
                   "(default ROOT/artifacts/STUDY for a SQLite store, the server's otherwise)")
    g.add_argument("--objective", default=None, help="metric key(s) to optimise, e.g. fid/mean or "
                   "fid/mean,lpips/mean (Pareto study); default content/mean (synthetic) or fid/mean")
    g.add_argument("--metrics", default=None, help="metrics computed at each evaluation besides the objective's "
                   "(default content,acc,fcd on synthetic data, acc,fcd otherwise)")
    g.add_argument("--sampler", choices=SAMPLERS, default="tpe")
    g.add_argument("--sampler-seed", type=int, default=None, help="seed the sampler (reproducible "
                   "single-worker studies; --workers adds the worker index)")
    g.add_argument("--pruner", choices=PRUNERS, default=None, help="default median (single objective), none "
                   "(multi-objective)")
    g.add_argument("--space", default=None, help="YAML/JSON file overriding parameters of experiments/space.yaml")
    g.add_argument("--blog", action="store_true", help="run the blog's trials 1-3 first (enqueued once)")

    g = ap.add_argument_group("data and model (stored with the study)")
    g.add_argument("--data", default=None, metavar="synthetic|PATH", help="'synthetic' (default: the embedded "
                   "two-domain set), an AFHQ root, or a folder with two domain folders")
    g.add_argument("--domains", nargs=2, default=None, metavar=("A", "B"), help="source and target domain "
                   "(default dog cat); one epoch = one pass over A")
    g.add_argument("--max-images", type=int, default=None, help="at most this many images per domain")
    g.add_argument("--synthetic-train", type=int, default=None, help="synthetic train images per domain")
    g.add_argument("--synthetic-val", type=int, default=None, help="synthetic val images per domain")
    g.add_argument("--preset", choices=list(SWEEP_PRESETS), default=None, help="model and study size; default "
                   "tiny (synthetic), paper (real data on CUDA), small (real data on CPU)")
    g.add_argument("--image-size", type=int, default=None, help="override the preset's image size")
    g.add_argument("--batch-size", type=int, default=None)
    g.add_argument("--lr", type=float, default=None, help="Adam learning rate (preset default: paper 1e-4, "
                   "tiny 1e-3)")
    g.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default=None)
    g.add_argument("--seed", type=int, default=None, help="training seed of every trial (same fixed style codes "
                   "in every trial's sample grids); default 0")

    g = ap.add_argument_group("iterations and evaluation (stored with the study)")
    g.add_argument("--scale", type=float, default=None, help="share of the blog's protocol (30 epochs, StepLR "
                   "every 10/3 epochs): multiplies every iteration count; default per preset (paper 1)")
    g.add_argument("--iters", type=int, default=None, help="iterations per trial (instead of --scale: sets the "
                   "scale to ITERS / 30 epochs)")
    g.add_argument("--eval-every", type=int, default=None, help="evaluate (and report to the pruner) every N "
                   "iterations; default per preset (a fixed number of evaluations per trial)")
    g.add_argument("--eval-images", type=int, default=None, help="val images per direction per evaluation")
    g.add_argument("--eval-styles", type=int, default=None, help="random styles per val image")
    g.add_argument("--eval-real", type=int, default=None, help="real images for FID/FCD statistics")

    g = ap.add_argument_group("this worker")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (one GPU per worker: "
                   "CUDA_VISIBLE_DEVICES)")
    g.add_argument("--workers", type=int, default=1, help="worker processes to run on this machine")
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads per worker (default on CPU: half "
                   "the cores per worker, at least 1)")
    g.add_argument("--heartbeat", type=int, default=60, help="seconds between heartbeats (RDB storages; a trial "
                   "silent for twice that is failed and retried)")
    g.add_argument("--cache-dir", default=None, help="metric cache (real-set statistics, domain classifier); "
                   "default $MUNIT_CACHE or ~/.cache/munit-ablate")
    g.add_argument("--inception-weights", default=None, help="FID Inception weights file (offline use)")
    g.add_argument("--alexnet-weights", default=None, help="LPIPS AlexNet weights file (offline use)")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="per-trial progress bar (default: on a terminal with one worker)")
    g.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    g.add_argument("--no-summary", action="store_true", help=argparse.SUPPRESS)
    return ap


def config_from_args(args: argparse.Namespace, argv: Sequence[str]) -> SweepConfig:
    settings = {k: getattr(args, k) for k in SETTING_OPTIONS if getattr(args, k) is not None}
    return SweepConfig(trials=args.trials, study_name=args.study_name, root=args.root, storage=args.storage,
                       tracking_uri=args.tracking_uri, artifact_location=args.artifact_location,
                       sampler=args.sampler, sampler_seed=args.sampler_seed, pruner=args.pruner,
                       device=args.device, workers=args.workers, worker_index=args.worker_index,
                       threads=args.threads, blog=args.blog, heartbeat=args.heartbeat, cache_dir=args.cache_dir,
                       inception_weights=args.inception_weights, alexnet_weights=args.alexnet_weights,
                       progress=args.progress, argv=list(argv), settings=settings)


def _user_errors() -> tuple[type[BaseException], ...]:
    from munit.checkpoint import CheckpointError
    from munit.data import DataError
    from munit.metrics import MetricError
    return (ConfigError, DataError, MetricError, CheckpointError, FileNotFoundError, NotADirectoryError,
            PermissionError)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cfg = config_from_args(args, argv)
    try:
        summary = run_sweep(cfg)
    except _user_errors() as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # a second Ctrl-C must not cut the message short
        again = shlex.join(["python", "experiments/sweep.py", *argv])
        if not args.no_summary:
            print(f"\nstopped by Ctrl-C; the running trial saved a checkpoint and is queued to resume. "
                  f"Continue with: {again}", file=sys.stderr)
        return 130
    if not args.no_summary:
        print(format_summary(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""An Optuna study over MUNIT's loss weights and StepLR step, tracked in MLflow.

    python experiments/sweep.py --trials 20                    # synthetic data, tiny preset, CPU: minutes
    python experiments/sweep.py --data /data/afhq --blog       # AFHQ dog<->cat, paper preset on a GPU

``--trials N`` is the study's total: a rerun of the same command continues the study (same settings, read back
from the study) until it has N trials, and runs nothing if it already has them. Several workers -- ``--workers K``
here, or more ``sweep.py`` processes on the same ``--storage`` (on several machines with PostgreSQL) -- share
one budget of N trials. See docs/sweeps.md.

This module is the command line (one option table drives the parser and what a study stores), the run loop and
the summary; the study's setup is in :mod:`experiments.study`, worker processes in :mod:`experiments.workers`.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shlex
import signal
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from munit.threads import prefer_passive_wait  # noqa: E402

prefer_passive_wait()   # before torch loads, in this process and (inherited) in every worker it spawns

from experiments import contract  # noqa: E402
from experiments.presets import SWEEP_PRESETS  # noqa: E402
from experiments.study import PRUNERS, SAMPLERS  # noqa: E402
from munit.config import ConfigError  # noqa: E402
from munit.fastpath import CUDA_DEFAULT, LEVERS, PRECISIONS, cuda_default  # noqa: E402

log = logging.getLogger("experiments.sweep")

DEFAULT_STUDY = "munit-sweep"

EXAMPLES = """examples:
  python experiments/sweep.py --trials 20                       # CPU demo on the embedded synthetic data
  python experiments/sweep.py --trials 30                       # continue the same study up to 30 trials
  python experiments/sweep.py --trials 20 --workers 2           # two worker processes on this machine
  python experiments/sweep.py --data /data/afhq --blog --trials 40 --scale 0.1
  python experiments/sweep.py --objective fid/mean,lpips/mean   # Pareto study (no pruning)
  python experiments/sweep.py --storage postgresql://user:pw@db/optuna --tracking-uri http://mlflow:5000
  python experiments/reproduce_blog.py --data /data/afhq --scale 0.1   # the blog's three trials only
"""


# ------------------------------------------------------------------------------------------------ options

@dataclass(frozen=True)
class Option:
    """One command-line option. ``stored``: a study setting -- stored with the study when it is created, and a
    later run may not contradict it (:func:`experiments.settings.check_same`); otherwise it concerns this run or
    worker only and may differ between runs."""

    name: str
    help: str
    group: str
    stored: bool = False
    kw: dict[str, Any] = field(default_factory=dict)    # argparse keywords: type, default, choices, ...

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


STUDY, DATA, ITERS, WORKER = ("study", "data and model (stored with the study)",
                              "iterations and evaluation (stored with the study)", "this worker")
OPTIONS: tuple[Option, ...] = (
    Option("trials", "the study's total number of trials (default 20); a rerun continues up to it, all workers "
           "together run exactly this many", STUDY, kw=dict(type=int, default=20)),
    Option("study_name", f"Optuna study = MLflow experiment = folder name: {contract.NAME_CHARS} (default "
           f"{DEFAULT_STUDY})", STUDY, kw=dict(default=DEFAULT_STUDY)),
    Option("root", "folder of the default stores: ROOT/mlflow.db, ROOT/optuna.journal, ROOT/artifacts, ROOT/trials "
           f"(default {contract.DEFAULT_ROOT})", STUDY, kw=dict(default=contract.DEFAULT_ROOT)),
    Option("storage", "Optuna storage: a journal file path (default ROOT/optuna.journal), "
           "postgresql://user:pw@host/db, or sqlite:///file.db", STUDY),
    Option("tracking_uri", "MLflow tracking URI (default sqlite:///ROOT/mlflow.db; http://host:5000 for a shared "
           "server)", STUDY),
    Option("artifact_location", "artifact root of a new MLflow experiment (default ROOT/artifacts/STUDY for a "
           "SQLite store, the server's otherwise)", STUDY),
    Option("objective", "metric key(s) to optimise, e.g. fid/mean or fid/mean,lpips/mean (Pareto study); default "
           "fitn/worst (synthetic: the paired fit error normalised per direction, 1 = the best no-learning "
           "program; docs/metrics.md) or fid/mean", STUDY, stored=True),
    Option("metrics", "metrics computed at each evaluation besides the objective's (default fit,content,acc,fcd on "
           "synthetic data, acc,fcd otherwise)", STUDY, stored=True),
    Option("sampler", "Optuna sampler (default tpe)", STUDY, kw=dict(choices=list(SAMPLERS), default="tpe")),
    Option("sampler_seed", "seed the sampler (reproducible single-worker studies; --workers adds the worker "
           "index)", STUDY, kw=dict(type=int)),
    Option("pruner", "default median (single objective), none (multi-objective); patient = the median pruner "
           "asked only once a trial stopped improving for two evaluations (jittery objectives)", STUDY,
           kw=dict(choices=list(PRUNERS))),
    Option("space", "YAML/JSON file overriding or adding parameters of experiments/space.yaml", STUDY, stored=True),
    Option("blog", "run the blog's trials 1-3 first (enqueued once)", STUDY, kw=dict(action="store_true")),
    Option("baselines", "score the reference generators (oracle, identity, negation, constant colour, fixed image, "
           "random init, style noise) once per study and log them beside the trials (default: on)", STUDY,
           kw=dict(action=argparse.BooleanOptionalAction, default=True)),

    Option("data", "'synthetic' (default: the embedded two-domain set), an AFHQ root, or a folder with two domain "
           "folders", DATA, stored=True, kw=dict(metavar="synthetic|PATH")),
    Option("domains", "source and target domain (default dog cat); one epoch = one pass over A", DATA, stored=True,
           kw=dict(nargs=2, metavar=("A", "B"))),
    Option("max_images", "at most this many images per domain", DATA, stored=True, kw=dict(type=int)),
    Option("synthetic_train", "synthetic train images per domain", DATA, stored=True, kw=dict(type=int)),
    Option("synthetic_val", "synthetic val images per domain", DATA, stored=True, kw=dict(type=int)),
    Option("preset", "model and study size; default tiny (synthetic), paper (real data on CUDA), small (real data "
           "on CPU)", DATA, stored=True, kw=dict(choices=list(SWEEP_PRESETS))),
    Option("image_size", "override the preset's image size", DATA, stored=True, kw=dict(type=int)),
    Option("batch_size", "batch size", DATA, stored=True, kw=dict(type=int)),
    Option("lr", "Adam learning rate (preset default: paper 1e-4, tiny 1e-3)", DATA, stored=True,
           kw=dict(type=float)),
    Option("precision", f"fp32, bf16 or fp16 (autocast; CUDA). Default: {cuda_default().precision} on CUDA (the "
           f"speed setting {CUDA_DEFAULT}, docs/speed.md), fp32 on CPU", DATA, stored=True,
           kw=dict(choices=list(PRECISIONS))),
    Option("seed", "training seed of every trial (same fixed style codes in every trial's sample grids); "
           "default 0", DATA, stored=True, kw=dict(type=int)),

    Option("scale", "share of the blog's protocol (30 epochs, StepLR every 10/3 epochs): multiplies every "
           "iteration count; default per preset (paper 1)", ITERS, stored=True, kw=dict(type=float)),
    Option("iters", "iterations per trial (instead of --scale: sets the scale to ITERS / 30 epochs)", ITERS,
           stored=True, kw=dict(type=int)),
    Option("eval_every", "evaluate (and report to the pruner) every N iterations; default per preset (a fixed "
           "number of evaluations per trial)", ITERS, stored=True, kw=dict(type=int)),
    Option("eval_images", "val images per direction per evaluation", ITERS, stored=True, kw=dict(type=int)),
    Option("eval_styles", "random styles per val image", ITERS, stored=True, kw=dict(type=int)),
    Option("eval_real", "real images for FID/FCD statistics", ITERS, stored=True, kw=dict(type=int)),
    Option("eval_repeats", "repeat each evaluation R times with fresh random styles and log the mean and std of "
           "every metric (default 1)", ITERS, stored=True, kw=dict(type=int)),
    Option("seeds", "train each trial's configuration with K seeds (seed, seed+1, ...); the trial's objective is "
           "their mean, each seed a nested MLflow run (default 1)", ITERS, stored=True, kw=dict(type=int)),
    Option("seed_workers", "seeds of a trial trained side by side (threads; pays with several GPUs: seed i on "
           "GPU i); default 1", WORKER, kw=dict(type=int, default=1)),

    Option("device", "auto, cpu, cuda or cuda:N (one GPU per worker: CUDA_VISIBLE_DEVICES)", WORKER,
           kw=dict(default="auto")),
    Option("workers", "worker processes to run on this machine. Default: on CUDA one per visible GPU (device auto "
           "or cuda; worker i gets GPU i through CUDA_VISIBLE_DEVICES, within the list already set; more workers "
           "than GPUs share them round robin; --device cuda:N puts every worker on GPU N); on CPU as many as pay: "
           "one per core for the tiny preset, per 2 cores for small, 1 for paper", WORKER, kw=dict(type=int)),
    Option("fast_path", f"speed levers of this worker's training step (munit.fastpath; no effect on what is "
           f"computed beyond rounding): {', '.join(LEVERS)}. Default: {cuda_default().levers_name} on CUDA (the "
           f"speed setting {CUDA_DEFAULT}), eager on CPU", WORKER, kw=dict(choices=list(LEVERS), metavar="LEVERS")),
    Option("threads", "torch CPU threads per worker (default on CPU: the cores this process may use, shared "
           "among the workers)", WORKER, kw=dict(type=int)),
    Option("heartbeat", "seconds between heartbeats (RDB storages; a trial silent for twice that is failed and "
           "retried)", WORKER, kw=dict(type=int, default=60)),
    Option("cache_dir", "metric cache (real-set statistics, domain classifier); default $MUNIT_CACHE or "
           "~/.cache/munit-ablate", WORKER),
    Option("progress", "the trainer's per-trial progress bar besides the study's (default: off)", WORKER,
           kw=dict(action=argparse.BooleanOptionalAction, default=None)),
    Option("worker_index", argparse.SUPPRESS, WORKER, kw=dict(type=int, default=None)),
    Option("no_summary", argparse.SUPPRESS, WORKER, kw=dict(action="store_true")),
)
GROUP_ORDER = (STUDY, DATA, ITERS, WORKER)


@dataclass
class SweepConfig:
    """A run's options: the worker ones as fields, the study settings asked for in ``settings`` (absent = the
    study's or the preset's value), the backbone files in ``weights``."""

    trials: int = 20
    study_name: str = DEFAULT_STUDY
    root: str = contract.DEFAULT_ROOT
    storage: str | None = None
    tracking_uri: str | None = None
    artifact_location: str | None = None
    sampler: str = "tpe"
    sampler_seed: int | None = None
    pruner: str | None = None
    blog: bool = False
    baselines: bool = True
    device: str = "auto"
    workers: int | None = None         # None: one per GPU on CUDA, as many as pay on CPU (auto_workers)
    fast_path: str | None = None       # None: the CUDA default's levers on CUDA, eager elsewhere
    threads: int | None = None
    heartbeat: int = 60
    cache_dir: str | None = None
    progress: bool | None = None
    seed_workers: int = 1
    worker_index: int = 0
    no_summary: bool = False
    argv: list[str] = field(default_factory=list)          # to spawn identical workers
    settings: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, str] = field(default_factory=dict)
    allow_unverified_weights: bool = False

    @property
    def storage_url(self) -> str:
        return self.storage or str(contract.journal_path(self.root))

    @property
    def tracking(self) -> str:
        return self.tracking_uri or contract.tracking_uri(self.root)

    @property
    def trials_dir(self) -> Path:
        return Path(self.root) / contract.TRIALS / self.study_name


def build_parser() -> argparse.ArgumentParser:
    from munit.metrics.weights import add_weight_options

    ap = argparse.ArgumentParser(prog="python experiments/sweep.py", description=__doc__.split("\n\n")[0],
                                 epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    groups = {name: ap.add_argument_group(name) for name in GROUP_ORDER}
    for o in OPTIONS:
        groups[o.group].add_argument(o.flag, dest=o.name, help=o.help, **o.kw)
    add_weight_options(groups[WORKER])
    return ap


def array_worker_index(env: Mapping[str, str] | None = None) -> int:
    """A job-array task's worker index: ``SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN`` (``--array=1-4`` gives
    0..3), so task 0 scores the baselines and each task offsets a seeded sampler; 0 outside an array."""
    env = os.environ if env is None else env
    task = env.get("SLURM_ARRAY_TASK_ID", "")
    if not task.isdigit():
        return 0
    low = env.get("SLURM_ARRAY_TASK_MIN", "0")
    return max(int(task) - (int(low) if low.isdigit() else 0), 0)


def config_from_args(args: argparse.Namespace, argv: Sequence[str]) -> SweepConfig:
    from munit.metrics.weights import weights_from_args

    worker = {o.name: getattr(args, o.name) for o in OPTIONS if not o.stored}
    if worker["worker_index"] is None:   # a spawned worker gets --worker-index; a Slurm array task its index
        worker["worker_index"] = array_worker_index()
    settings = {o.name: getattr(args, o.name) for o in OPTIONS if o.stored and getattr(args, o.name) is not None}
    return SweepConfig(**worker, argv=list(argv), settings=settings, weights=weights_from_args(args),
                       allow_unverified_weights=args.allow_unverified_weights)


# ------------------------------------------------------------------------------------------------ running

@dataclass
class SweepSummary:
    study_name: str
    storage: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    trials_dir: Path
    settings: Any                  # StudySettings
    n_trials: int
    states: dict[str, int]
    best: list                     # optuna FrozenTrials
    wall_s: float
    interrupted: bool = False
    verdict: Any = None            # experiments.verdict.Verdict (single objective, a complete trial)
    synthetic: bool = True         # the study's data: the translate command's example input


def run_sweep(cfg: SweepConfig) -> SweepSummary:
    """Run (or continue) a study until it has ``cfg.trials`` trials; returns what the study holds then."""
    import optuna
    import torch

    from experiments.budget import TrialBudget, counted
    from experiments.console import StudyConsole, header
    from experiments.storage import open_storage, probe
    from experiments.mlflow_ui import runs_url
    from experiments.study import best_trials, budget_prior, close_parent, direction, resolve_settings, setup_study
    from experiments.workers import TrialRecovery, auto_workers, default_threads, default_workers, spawn_workers
    from munit.cli import make_dir
    from munit.trainer import resolve_device

    t0 = time.perf_counter()
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.ERROR)   # one line per trial is printed here instead
    if not contract.valid_name(cfg.study_name):
        raise ConfigError(f"--study-name {cfg.study_name!r}: a study name is also a folder name; use only "
                          f"{contract.NAME_CHARS}")
    if cfg.trials < 0:
        raise ConfigError(f"--trials must be >= 0, got {cfg.trials}")
    if cfg.workers is not None and cfg.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {cfg.workers}")
    if cfg.threads is not None and cfg.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {cfg.threads}")
    device = resolve_device(cfg.device)
    if cfg.threads or device.type == "cpu":
        torch.set_num_threads(cfg.threads or default_threads(cfg.workers or 1))
    make_dir(Path(cfg.root), "--root")
    for url in dict.fromkeys((cfg.storage_url, cfg.tracking)):   # a server that is down: one line, now
        probe(url)
    local = not contract.is_url(cfg.storage_url) or cfg.storage_url.startswith("sqlite:")
    recovery = TrialRecovery(cfg.tracking, contract.lock_dir(cfg.storage_url, cfg.root, cfg.study_name), local=local)
    storage = open_storage(cfg.storage_url, heartbeat_interval=cfg.heartbeat, on_stale=recovery)
    settings, options = resolve_settings(cfg.settings, storage, cfg.study_name, device.type == "cuda", cfg.weights,
                                         cfg.allow_unverified_weights)
    if device.type != "cuda":   # before any trial: every one of them would fail the same way
        if settings.precision != "fp32":
            raise ConfigError(f"study {cfg.study_name!r} trains in {settings.precision} (autocast), which needs a "
                              f"CUDA device; this worker's device is {device}")
        if cfg.fast_path and LEVERS[cfg.fast_path].cuda_graph:
            raise ConfigError(f"--fast-path {cfg.fast_path} captures CUDA graphs, which need a CUDA device; on "
                              f"{device} use eager, cl or cl-compile")
    s = setup_study(cfg.study_name, cfg.root, cfg.storage_url, storage, settings, options, cfg.tracking,
                    cfg.artifact_location, cfg.sampler,
                    None if cfg.sampler_seed is None else cfg.sampler_seed + cfg.worker_index, cfg.pruner, cfg.blog)
    recovery.fail_dead_local_trials(s.study)

    budget = TrialBudget(cfg.trials)
    directions = [direction(k) for k in s.settings.objective_keys]
    states = _states(s.study)
    console = StudyConsole(cfg.trials, sum(states.values()), s.settings.objective_keys, directions,
                           enabled=not cfg.no_summary, iters=s.settings.iters,
                           prior=budget_prior(cfg.pruner, s.settings))
    for line in header(cfg.study_name, s.settings, states, cfg.trials, cfg.tracking, cfg.storage_url, directions,
                       runs_url(cfg.tracking, s.experiment_id)):
        console.print(line)
    workers = cfg.workers
    if workers is None:
        if device.type == "cuda":
            workers = default_workers(device)
        else:
            per = SWEEP_PRESETS[s.settings.preset].cpu_worker_threads
            workers = auto_workers(per, cfg.threads, budget.remaining(s.study))
    console.workers = workers   # the ETA: trials that run at a time
    interrupted = False
    try:
        if budget.remaining(s.study) > 0:
            if workers > 1:
                console.follow(s.study)
                spawn_workers(cfg.argv, workers, cfg.threads, device)
            else:
                if cfg.baselines and cfg.worker_index == 0:   # the process that trains (not a spawning parent)
                    _baselines(cfg, s, device)
                _work(cfg, s, device, budget, recovery, console)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        console.close(s.study)
        close_parent(s.client, s.study, s.parent_run_id, interrupted)
    states = _states(s.study)
    best = best_trials(s.study)
    verdict = None if cfg.no_summary else _verdict(cfg, s, best, directions, states)
    return SweepSummary(cfg.study_name, cfg.storage_url, cfg.tracking, s.experiment_id, s.parent_run_id,
                        cfg.trials_dir, s.settings, cfg.trials, states, best,
                        time.perf_counter() - t0, interrupted, verdict, s.settings.synthetic)


def _verdict(cfg: SweepConfig, s, best: list, directions: list[str], states: dict[str, int]):
    """The best trial against the study's reference rows (read back from MLflow: in the default multi-worker
    mode a worker logged them), and the descriptions of the parent run and the best trial's run."""
    import optuna

    from experiments.verdict import Verdict, baseline_values, best_checkpoint, describe_runs

    keys = s.settings.objective_keys
    if len(keys) != 1:
        return None
    minimize = directions[0] == "minimize"
    complete = [t for t in s.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                if t.values]
    verdict = None
    try:
        refs = baseline_values(s.client, s.experiment_id, cfg.study_name, keys[0])
        if best:
            verdict = Verdict(keys[0], minimize, best[0].values[0], [t.values[0] for t in complete], refs)
        describe_runs(s.client, s.parent_run_id, best[0] if best else None, cfg.study_name, keys[0], minimize,
                      complete, verdict, best_checkpoint(cfg.trials_dir, best[0]) if best else None, states)
    except Exception as e:  # noqa: BLE001 -- the summary must not fail on a tracking hiccup
        log.warning("could not compare the best trial with the baselines: %s", e)
    return verdict


def _baselines(cfg: SweepConfig, s, device) -> None:
    """The study's reference rows (experiments.baselines), once per study; under the setup lock, so workers
    starting together on this machine score them once."""
    from experiments.baselines import log_baselines
    from experiments.storage import file_lock
    from experiments.study import setup_lock_path

    if contract.ATTR_BASELINES in s.study.user_attrs:   # scored already (a rerun, another worker)
        return
    with file_lock(setup_lock_path(cfg.root, cfg.storage_url)):
        t0 = time.perf_counter()
        logged = log_baselines(s.client, s.experiment_id, s.parent_run_id, s.study, s.settings, device,
                               cache_dir=cfg.cache_dir, weights=cfg.weights,
                               allow_unverified=cfg.allow_unverified_weights)
    if logged and not cfg.no_summary:
        key = s.settings.objective_keys[0]
        shown = ", ".join(f"{n} {v.get(key, float('nan')):.4g}" for n, v in logged.items())
        from experiments.console import fit
        print(fit(f"baselines ({key}, {time.perf_counter() - t0:.0f} s): {shown}", indent="  "), flush=True)


def _states(study) -> dict[str, int]:
    """How many of the study's counted trials are in each state."""
    from experiments.budget import counted

    states: dict[str, int] = {}
    for t in counted(study.get_trials(deepcopy=False)):
        states[t.state.name] = states.get(t.state.name, 0) + 1
    return states


def _work(cfg: SweepConfig, s, device, budget, recovery, console) -> None:
    """This process's share of the trials: ``study.optimize`` until the budget is used up."""
    from experiments.trial import TrialContext, TrialRunner
    from experiments.workers import dead_trials_callback
    from munit.metrics.protocol import Protocol
    from munit.metrics.session import Evaluator

    evaluator = Evaluator(list(s.settings.metrics), Protocol(**s.settings.protocol), cache_dir=cfg.cache_dir,
                          weights=cfg.weights, repeats=s.settings.eval_repeats,
                          allow_unverified=cfg.allow_unverified_weights)
    progress = bool(cfg.progress)   # the trainer's own bar; the study bar shows the running trial's iteration
    fast_path = cfg.fast_path or (cuda_default().levers_name if device.type == "cuda" else "eager")
    ctx = TrialContext(s.settings, s.settings.search_space, evaluator, s.client, s.experiment_id, s.parent_run_id,
                       cfg.trials_dir, str(device), budget, recovery, progress, console, cfg.seed_workers, fast_path)
    runner = TrialRunner(ctx)
    study_callbacks = [console.on_trial, dead_trials_callback(recovery), budget, runner.after_trial]
    try:
        s.study.optimize(runner, catch=(Exception,), gc_after_trial=False, callbacks=study_callbacks)
    finally:
        runner.release()


# ------------------------------------------------------------------------------------------------ summary

def format_summary(r: SweepSummary) -> str:
    from experiments.contract import mask_url

    s = r.settings
    states = ", ".join(f"{n} {k.lower()}" for k, n in sorted(r.states.items())) or "none"
    lr_swept = s.search_space.sweeps("train.lr")         # then the preset's lr is not used
    lr = "lr swept (space.yaml)" if lr_swept else f"lr {s.lr:g}"
    lines = [f"study {r.study_name!r}: {sum(r.states.values())}/{r.n_trials} trials ({states}); "
             f"{r.wall_s:.0f} s in this run",
             f"  setup: {s.data} data, preset {s.preset} ({s.image_size} px), batch {s.batch_size}, {lr}, "
             f"{s.iters} iterations per trial (scale {s.scale:.4g} of the blog's 30 epochs), evaluation every "
             f"{s.eval_every}, objective {', '.join(s.objective_keys)}"]
    preset = SWEEP_PRESETS.get(s.preset)
    if preset is not None and preset.note and s.lr == preset.lr and not lr_swept:
        lines.append(f"  note: {preset.note}")
    from experiments.verdict import best_checkpoint, final_vs_best, next_commands
    single = len(s.objective_keys) == 1
    for t in r.best[:5]:
        vals = ", ".join(f"{k} = {v:.4f}" for k, v in zip(s.objective_keys, t.values))
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items())
        label = "best" if single else "Pareto"
        blog = f" (blog trial {t.user_attrs[contract.ATTR_BLOG]})" if t.user_attrs.get(contract.ATTR_BLOG) else ""
        lines.append(f"{label}: trial {t.number}{blog}: {vals}; {params}; MLflow run "
                     f"{t.user_attrs.get(contract.ATTR_RUN_ID, '?')}")
    verdict: list[str] = []
    if r.best and single:
        from experiments.study import direction
        t = r.best[0]
        minimize = direction(s.objective_keys[0]) == "minimize"
        ckpt = best_checkpoint(r.trials_dir, t)
        verdict.append(f"did it work? {r.verdict.sentence() if r.verdict is not None else 'no baselines to compare'}")
        if r.verdict is not None and r.verdict.ceiling():
            verdict.append(f"  {r.verdict.ceiling()}")
        verdict += [f"  trial {t.number}: {final_vs_best(t, s.objective_keys[0], minimize)}",
                  f"  its checkpoint: {ckpt}",
                  "next:", *(f"  {c}" for c in next_commands(r.study_name, r.tracking_uri, r.storage, ckpt,
                                                             r.synthetic))]
    lines += ["results:",
              f"  MLflow tracking URI  {mask_url(r.tracking_uri)}  (experiment {r.study_name!r}, "
              f"id {r.experiment_id}; "
              f"parent run {r.parent_run_id})",
              f"  Optuna storage       {mask_url(r.storage)}  (study {r.study_name!r})",
              f"  trial folders        {r.trials_dir}/<trial number>/"]
    from experiments.mlflow_ui import RELOAD_HINT, runs_url
    if not r.tracking_uri.startswith(("http://", "https://")):
        lines.append(f"open the MLflow UI:    MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri "
                     f"{mask_url(r.tracking_uri)} --port 5000")
    lines.append(f"the study's runs:      {runs_url(mask_url(r.tracking_uri), r.experiment_id)}")
    lines.append(f"  {RELOAD_HINT}")
    lines.append(f"Optuna dashboard:      optuna-dashboard {shlex.quote(mask_url(r.storage))}   "
                 "(pip install optuna-dashboard)")
    from experiments.console import fit
    # prose wrapped to the terminal; a command (what is pasted) or a URL stays on one line
    paste = ("open the MLflow UI:", "the study's runs:", "Optuna dashboard:", "  python ", "  its checkpoint:")
    return "\n".join(line if line.startswith(paste) else fit(line, indent="    ") for line in lines + verdict)


def mask_log_records() -> None:
    """Mask passwords in every log record from now on, whichever logger and handler (ours, MLflow's own,
    SQLAlchemy's, Optuna's): at the record's creation, its message and any traceback it carries."""
    make = logging.getLogRecordFactory()
    if getattr(make, "masks_passwords", False):
        return

    def masked(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 -- a bad format string: logging reports it itself
            return record
        if contract.mask_url(text) != text:
            record.msg, record.args = contract.mask_url(text), None
        if record.exc_info and record.exc_info[1] is not None:
            import traceback
            record.exc_text = contract.mask_url("".join(traceback.format_exception(*record.exc_info)).rstrip())
        return record

    masked.masks_passwords = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(masked)


def continue_command(argv: Sequence[str]) -> str:
    """The command that continues a stopped sweep, passwords masked."""
    return shlex.join(["python", "experiments/sweep.py", *(contract.mask_url(a) for a in argv)])


def main(argv: Sequence[str] | None = None) -> int:
    from munit.checkpoint import DiskFullError, disk_full
    from munit.stopping import exit_status, signal_name, signum_of, terminate_like_interrupt

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    mask_log_records()
    cfg = config_from_args(args, argv)
    terminate_like_interrupt()   # SIGTERM (kill, docker stop): the same checkpoint-and-stop as Ctrl-C
    from experiments.workers import WorkerFailed, watch_parent
    watch_parent()               # a spawned worker stops when the sweep that started it is gone
    from munit.cli import one_line, user_errors
    try:
        from munit.compat import check_torchvision
        check_torchvision()      # a mismatched pair: one line at the start, not a traceback 5 s into a trial
        summary = run_sweep(cfg)
    except user_errors() as e:
        print(f"error: {contract.mask_url(one_line(e))}", file=sys.stderr)
        return 2
    except WorkerFailed as e:
        print(f"error: {e}. Continue with: {continue_command(argv)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        # a second signal must not cut the message short
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        if not cfg.no_summary:
            what = str(e) or "no trial was running"
            print(f"\nstopped by {signal_name(signum_of(e))}: {what}. Continue with: {continue_command(argv)}",
                  file=sys.stderr)
        for s, h in old.items():
            signal.signal(s, h)
        return exit_status(signum_of(e))
    except Exception as e:
        if not disk_full(e):
            # an error nobody foresaw: its traceback, with every password masked (library messages quote URLs)
            import traceback
            print(contract.mask_url(traceback.format_exc()).rstrip(), file=sys.stderr)
            return 1
        full = DiskFullError(getattr(e, "filename", None) or cfg.root)
        print(f"error: {full} ({type(e).__name__}: {e})", file=sys.stderr)
        return 2
    if not cfg.no_summary:
        print(format_summary(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

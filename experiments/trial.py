"""One Optuna trial: one MUNIT configuration trained with each seed of the study's seed list, logged to MLflow,
its objective (the mean over the seeds at the last evaluation) returned to Optuna. Every outcome (complete, pruned,
failed, NaN, interrupted, full disk) is closed in one place, :meth:`TrialRunner._train`; what each one records:
docs/sweeps.md, "Faults".
"""
from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from mlflow import MlflowClient
from mlflow.entities import Metric

from munit.checkpoint import CheckpointError, DiskFullError, RunFolder, disk_full
from munit.fastpath import apply_levers
from munit.stopping import Interrupted, StopRequest, signal_name, signum_of
from munit.trainer import NonFiniteLossError, StopReason, Trainer, TrainResult

from . import contract
from .budget import TrialBudget, counted
from .settings import StudySettings
from .space import SearchSpace
from .tracking import TrialLogger, create_seed_run, create_trial_run, end_run, log_trial_files
from .workers import TrialLock, TrialRecovery, resume_source, worker_id

log = logging.getLogger(__name__)


@dataclass
class TrialContext:
    """What every trial of a worker shares."""

    settings: StudySettings
    space: SearchSpace
    evaluator: Any
    client: MlflowClient
    experiment_id: str
    parent_run_id: str
    trials_dir: Path
    device: str
    budget: TrialBudget
    recovery: TrialRecovery
    progress: bool = False
    console: Any = None          # experiments.console.StudyConsole: the study bar shows the running iteration
    seed_workers: int = 1        # seeds of one trial trained side by side (threads)
    fast_path: str = "eager"     # speed levers (munit.fastpath.LEVERS) of this worker's trainers


@dataclass
class SeedRun:
    """One seed of a trial. A trial with one seed trains it in the trial's own folder and MLflow run; with several,
    each seed has a folder ``seed-<n>/`` and a run nested under the trial's, and the trial reports their mean."""

    seed: int
    folder: RunFolder                  # where its trainer writes its checkpoint: a retry resumes each seed from it
    run_id: str                        # its MLflow run (the trial's own when the trial has one seed)
    logger: TrialLogger                # reports to Optuna itself only when it is the trial's one seed
    configs: dict[str, Any]            # the trial's configs with this seed (and its device)
    trainer: Trainer | None = None
    result: TrainResult | None = None  # of its last ``fit``

    @property
    def step(self) -> int:
        return self.trainer.step if self.trainer is not None else 0


class TrialRunner:
    """The callable ``study.optimize`` runs once per trial."""

    def __init__(self, ctx: TrialContext):
        self.ctx = ctx
        self.lock: TrialLock | None = None
        self.stop: BaseException | None = None    # raised by after_trial, once the trial's outcome is stored
        self._evaluating = threading.Lock()       # one evaluation at a time: the seeds share the metric session

    def release(self) -> None:
        """Let go of the last trial's lock (its outcome is stored by now)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """The last study callback: stop the sweep after a full disk, or after a stop signal that came when the
        trial's training was over (its outcome is stored by now)."""
        if self.stop is not None:
            stop, self.stop = self.stop, None
            raise stop

    # ------------------------------------------------------------------ the trial
    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        self.release()
        self.lock = TrialLock.acquire(self.ctx.recovery.lock_dir, trial.number)   # first: the trial lives from now
        stop = StopRequest()   # a stop signal outside the trainer's own handling waits until the trial is closed
        interrupted = False
        try:
            with stop:
                return self._run(trial)
        except KeyboardInterrupt:   # the trainer stopped at a checkpoint: the trial is closed and queued already
            interrupted = True
            raise
        finally:
            if stop.signum is not None and not interrupted and self.stop is None:
                self.stop = Interrupted(f"trial {trial.number} had finished training when {stop.name} came; its "
                                        "outcome is stored and no further trial starts", stop.signum)

    def _run(self, trial: optuna.Trial) -> float | list[float]:
        n_obj = len(self.ctx.settings.objective_keys)
        blog = trial.user_attrs.get(contract.ATTR_BLOG)
        skip = self._skip_reason(trial.study, trial, blog)
        if skip:
            trial.set_user_attr(contract.ATTR_SKIPPED, True)
            trial.set_user_attr(contract.ATTR_FAIL_REASON, skip)
            log.warning("trial %d not run: %s", trial.number, skip)
            # NaN closes the trial as FAIL without a traceback in the log; it never reaches the sampler
            return float("nan") if n_obj == 1 else [float("nan")] * n_obj
        trial.set_user_attr(contract.ATTR_WORKER, worker_id())
        params = self.ctx.space.suggest(trial)
        folder, source = self._folder(trial)
        configs = self.configs(params)
        run_id = self._start_run(trial, params, configs, blog, source)
        seeds = self.ctx.settings.seed_list
        if len(seeds) > 1:
            trial.set_user_attr(contract.ATTR_SEEDS, seeds)
        return self._train(trial, configs, folder, run_id, seeds)

    def configs(self, params: dict[str, Any]) -> dict[str, Any]:
        """The trial's configs: the study's base configs with each parameter written where the space says."""
        base = self.ctx.settings.configs(self.ctx.device, self.ctx.progress)
        base["train"] = apply_levers(base["train"], self.ctx.fast_path)
        return self.ctx.space.apply(params, base)

    def _folder(self, trial: optuna.Trial) -> tuple[RunFolder, int | None]:
        """The trial's run folder; for a retry, a copy of the dead trial's (its checkpoint to resume from)."""
        trials_dir = self.ctx.trials_dir
        out_dir = trials_dir / str(trial.number)
        if out_dir.exists():   # left by an earlier study of the same name: never resume someone else's run
            if RunFolder(out_dir).is_marked():   # a trainer's run folder: ours to replace
                log.warning("trial %d: removing the stale run folder %s", trial.number, out_dir)
                shutil.rmtree(out_dir)
            else:                                # not made by munit: never deleted
                stamp = time.strftime("%Y%m%d-%H%M%S")
                aside = next(p for i in count() if not (p := out_dir.with_name(
                    f"{out_dir.name}.moved-{stamp}" + (f"-{i}" if i else ""))).exists())
                log.warning("trial %d: %s was not made by munit; moved aside to %s", trial.number, out_dir, aside)
                out_dir.rename(aside)
        source = resume_source(trial.study, trial)
        if source is not None and _has_checkpoints(RunFolder(trials_dir / str(source))):
            shutil.copytree(trials_dir / str(source), out_dir)
            (out_dir / "error.txt").unlink(missing_ok=True)
        return RunFolder(out_dir), source

    def _start_run(self, trial: optuna.Trial, params: dict[str, Any], configs: dict[str, Any], blog: Any,
                   source: int | None) -> str:
        ctx = self.ctx
        tags = {contract.TAG_STUDY: trial.study.study_name, contract.TAG_TRIAL_NUMBER: str(trial.number),
                contract.TAG_TRIAL_ID: str(trial._trial_id), contract.TAG_WORKER: worker_id()}
        if blog:
            tags[contract.TAG_BLOG] = str(blog)
        if source is not None:
            tags[contract.TAG_RETRY_OF] = str(source)
        run_params = trial_params(params, configs, ctx.space, ctx.settings, ctx.fast_path)
        run_id = create_trial_run(ctx.client, ctx.experiment_id, ctx.parent_run_id,
                                  contract.run_name(trial.number, blog), tags, run_params)
        trial.set_user_attr(contract.ATTR_RUN_ID, run_id)
        self._run_tags, self._run_params = tags, run_params
        return run_id

    # ------------------------------------------------------------------ training and its outcome
    def _train(self, trial: optuna.Trial, configs: dict[str, Any], folder: RunFolder, run_id: str,
               seeds: list[int]) -> float | list[float]:
        """Train every seed, then close the trial with its outcome (see the module docstring)."""
        t0 = time.perf_counter()
        runs = [self._seed_run(trial, configs, folder, run_id, seeds, i) for i in range(len(seeds))]
        # what reports to Optuna: the one seed's own logger, or one that logs the seeds' mean to the trial's run
        reporter = (runs[0].logger if len(runs) == 1
                    else TrialLogger(self.ctx.client, run_id, trial, self.ctx.settings.objective_keys))
        try:
            for r in runs:
                r.trainer = self._resumed_trainer(trial, r)
                if r is runs[0] and self.ctx.console is not None:   # the study bar follows the first seed
                    from .console import TrialProgress
                    r.trainer.callbacks.append(TrialProgress(self.ctx.console, trial.number,
                                                             r.configs["train"].iters))
                if r.trainer.step:
                    self._replay(trial, r)
            state, reason = self._advance(runs, reporter)
        except KeyboardInterrupt as e:
            step = min((r.step for r in runs if r.trainer is not None), default=0)
            self._close(trial, run_id, folder, runs, "FAIL",
                        f"interrupted at iteration {step} ({signal_name(signum_of(e))})", t0, checkpoint=False)
            self.ctx.recovery.queue_retry(trial.study, _frozen(trial.study, trial.number))
            raise Interrupted(f"trial {trial.number} was stopped; {_kept(runs, step)} and it is queued to resume",
                              signum_of(e)) from None
        except Exception as e:
            if disk_full(e):
                self._disk_full(trial, run_id, folder, runs, t0, e)
            reason = self._failure(trial, folder, e)
            self._close(trial, run_id, folder, runs, "FAIL", reason, t0, checkpoint=False)
            raise
        if state == "PRUNED":
            self._close(trial, run_id, folder, runs, "PRUNED", reason, t0)
            raise optuna.TrialPruned(reason)
        keys = self.ctx.settings.objective_keys
        values = [float(np.mean([r.trainer.last_metrics.get(k, math.nan) for r in runs])) for k in keys]
        bad = [k for k, v in zip(keys, values) if not math.isfinite(v)]
        if bad:
            reason = f"objective {', '.join(bad)} is not a finite number at the end of training"
            self._close(trial, run_id, folder, runs, "FAIL", reason, t0)
            raise ValueError(reason)
        self._close(trial, run_id, folder, runs, "COMPLETE", None, t0, values=values)
        return values[0] if len(values) == 1 else values

    def _seed_run(self, trial: optuna.Trial, configs: dict[str, Any], folder: RunFolder, run_id: str,
                  seeds: list[int], i: int) -> SeedRun:
        seed, keys = seeds[i], self.ctx.settings.objective_keys
        cfgs = {**configs, "train": dataclasses.replace(configs["train"], seed=seed,
                                                        device=self._device(i, len(seeds)))}
        if len(seeds) == 1:
            return SeedRun(seed, folder, run_id, TrialLogger(self.ctx.client, run_id, trial, keys), cfgs)
        seed_run = create_seed_run(self.ctx.client, self.ctx.experiment_id, run_id, self._run_tags, seed,
                                   self._run_params)
        logger = TrialLogger(self.ctx.client, seed_run, trial, keys, report=False,
                             sample_runs=(run_id,) if i == 0 else ())   # the first seed's grids on the trial too
        return SeedRun(seed, RunFolder(folder.root / contract.SEED_FOLDER.format(seed=seed)), seed_run, logger, cfgs)

    def _advance(self, runs: list[SeedRun], reporter: TrialLogger) -> tuple[str, str | None]:
        """Train every seed to the end: ("COMPLETE", None) or ("PRUNED", reason). One seed trains in this thread
        and reports its own evaluations (its trainer stops when pruned, and handles stop signals itself). Several
        advance in lockstep from evaluation to evaluation (side by side with ``seed_workers`` > 1), and the mean of
        their metrics is logged to the trial's run and reported to Optuna, whose pruner may stop them all."""
        s = self.ctx.settings
        several = len(runs) > 1
        pool = ThreadPoolExecutor(max_workers=max(1, min(self.ctx.seed_workers, len(runs)))) if several else None
        try:
            for point in _evaluation_points(s.iters, s.eval_every) if several else [s.iters]:
                def fit(r: SeedRun) -> TrainResult:
                    return r.trainer.fit(until=point)
                for r, result in zip(runs, pool.map(fit, runs) if pool else map(fit, runs)):
                    r.result = result
                if several:
                    self._report_mean(point, runs, reporter)
                    if reporter.prune_reason:
                        return "PRUNED", reporter.prune_reason
                stopped = [r.result for r in runs if r.result.stopped is StopReason.STOPPED]
                if stopped:
                    return "PRUNED", reporter.prune_reason or stopped[0].stop_detail
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        return "COMPLETE", None

    @staticmethod
    def _report_mean(point: int, runs: list[SeedRun], reporter: TrialLogger) -> None:
        """The seeds' mean metrics (and their spread, ``<key>_std``) at evaluation ``point``, logged to the trial's
        run and reported to Optuna."""
        # each seed's evaluation at ``point`` itself: a seed resumed from a later checkpoint holds a later result
        metrics = [_metrics_at(r, point) for r in runs]
        if any(m is None for m in metrics) or not metrics[0]:
            return
        keys = [k for k in metrics[0] if all(k in m for m in metrics)]
        values = {k: float(np.mean([m[k] for m in metrics])) for k in keys}
        values.update({f"{k}{contract.STD_SUFFIX}": float(np.std([m[k] for m in metrics], ddof=1))
                       for k in keys if not k.endswith(contract.STD_SUFFIX)})
        reporter.on_evaluate(point, values, runs[0].trainer.last_meta)

    def _device(self, i: int, n_seeds: int) -> str:
        """Seed i's device: several seeds side by side spread over the visible GPUs, else the worker's device."""
        dev = self.ctx.device
        if n_seeds > 1 and dev.startswith("cuda") and ":" not in dev and self.ctx.seed_workers > 1:
            import torch
            n = torch.cuda.device_count()
            return f"cuda:{i % n}" if n > 1 else dev
        return dev

    def _resumed_trainer(self, trial: optuna.Trial, r: SeedRun) -> Trainer:
        """Seed run ``r``'s trainer, resumed from its folder's checkpoint if it has one. A checkpoint that cannot be
        read (torn by a crash) is moved aside, kept beside it, and the seed starts again from iteration 0. A seed
        that starts from 0 drops what an earlier attempt logged without a checkpoint, so its logs never repeat a
        step (a resumed one drops what came after its checkpoint: the trainer does)."""
        if r.folder.has_checkpoint():
            try:
                return self._trainer(r.configs, r.folder.root, r.logger, resume=True)
            except CheckpointError as e:
                aside = _aside(r.folder.checkpoint, "broken")
                r.folder.checkpoint.rename(aside)
                log.warning("trial %d: %s; moved aside to %s, and seed %d starts again from iteration 0",
                            trial.number, e, aside, r.seed)
        r.folder.truncate(0)
        return self._trainer(r.configs, r.folder.root, r.logger, resume=False)

    def _trainer(self, configs: dict[str, Any], out_dir: Path, logger: TrialLogger, resume: bool) -> Trainer:
        """One seed's trainer (the hook the tests wrap to plant faults)."""
        return Trainer(configs["model"], configs["train"], configs["weights"], configs["data"], out_dir,
                       callbacks=[logger], evaluator=self._evaluate, resume=resume)

    def _evaluate(self, trainer: Trainer):
        with self._evaluating:
            return self.ctx.evaluator(trainer)

    def _replay(self, trial: optuna.Trial, run: SeedRun) -> None:
        """A seed resumed from a dead trial's checkpoint: copy its logged history up to the checkpoint into its run
        (and, when it reports for the trial, its objective into Optuna's intermediate values); drop what came
        after."""
        step, keys = run.trainer.step, self.ctx.settings.objective_keys
        report = run.logger.report and len(keys) == 1
        metrics: list[Metric] = []
        for name, records in run.folder.truncate(step).items():
            for r in records:
                ts = int(time.time() * 1000)
                metrics += [Metric(k, float(v), ts, r["step"]) for k, v in r.items() if k != "step"]
                if report and name == RunFolder.METRICS and keys[0] in r:
                    trial.report(float(r[keys[0]]), r["step"])
                    metrics.append(Metric(contract.OBJECTIVE_METRIC, float(r[keys[0]]), ts, r["step"]))
        for i in range(0, len(metrics), 1000):   # MLflow's per-call limit
            self.ctx.client.log_batch(run.run_id, metrics=metrics[i:i + 1000])
        self.ctx.client.set_tag(run.run_id, contract.TAG_RESUMED_AT, str(step))

    @staticmethod
    def _failure(trial: optuna.Trial, folder: RunFolder, e: BaseException) -> str:
        """The failed trial's one-line reason; its traceback goes to the trial folder's error.txt."""
        try:
            folder.root.mkdir(parents=True, exist_ok=True)
            (folder.root / "error.txt").write_text(contract.mask_url(traceback.format_exc()))
        except OSError as write_error:
            log.warning("trial %d: could not write error.txt (%s)", trial.number, write_error)
        return contract.mask_url(str(e) if isinstance(e, NonFiniteLossError) else f"{type(e).__name__}: {e}")

    def _disk_full(self, trial: optuna.Trial, run_id: str, folder: RunFolder, runs: list[SeedRun], t0: float,
                   e: Exception) -> None:
        """A full disk: close the trial (as far as the stores can still be written), queue its retry (the last
        checkpoints are intact) and stop the sweep after this trial -- every further trial would fail alike."""
        full = e if isinstance(e, DiskFullError) else DiskFullError(getattr(e, "filename", None) or folder.root)
        for step in (lambda: self._close(trial, run_id, folder, runs, "FAIL", str(full), t0, checkpoint=False),
                     lambda: self.ctx.recovery.queue_retry(trial.study, _frozen(trial.study, trial.number))):
            try:
                step()
            except Exception as again:  # noqa: BLE001 -- the stores may sit on the full disk too
                log.warning("trial %d: %s (%s)", trial.number, full, again)
        self.stop = full
        raise full from e

    def _close(self, trial: optuna.Trial, run_id: str, folder: RunFolder, runs: list[SeedRun], state: str,
               reason: str | None, t0: float, checkpoint: bool = True, values: list[float] | None = None) -> None:
        """Everything that ends a trial: each seed's own run (several seeds), then the trial's run: reason in Optuna
        and MLflow, final metrics, artifacts, the run's name (its outcome: ``trial-017 · content 0.395``,
        ``trial-008 · pruned@80``), run status."""
        from .mlflow_ui import trial_label
        client = self.ctx.client
        for r in runs:
            if r.run_id == run_id:   # the trial's one seed: its run is the trial's
                continue
            try:
                client.log_batch(r.run_id, metrics=[Metric(contract.ITERS_REACHED, float(r.step),
                                                           int(time.time() * 1000), r.step)])
                log_trial_files(client, r.run_id, r.folder, checkpoint=checkpoint)
            finally:
                end_run(client, r.run_id, state, reason)
        step = min((r.step for r in runs if r.trainer is not None), default=0)
        name = trial_label(contract.run_name(trial.number, trial.user_attrs.get(contract.ATTR_BLOG)), state,
                           self.ctx.settings.objective_keys, values, step)
        try:
            if reason:
                trial.set_user_attr(contract.ATTR_FAIL_REASON, reason)
            ts = int(time.time() * 1000)
            client.log_batch(run_id, metrics=[Metric(contract.WALL_S, time.perf_counter() - t0, ts, step),
                                              Metric(contract.ITERS_REACHED, float(step), ts, step)])
            log_trial_files(client, run_id, folder, checkpoint=checkpoint)
            if (folder.root / "error.txt").is_file():
                client.log_artifact(run_id, str(folder.root / "error.txt"))
        finally:
            end_run(client, run_id, state, reason, name=name)

    # ------------------------------------------------------------------ helpers
    def _skip_reason(self, study: optuna.Study, trial: optuna.Trial, blog: Any) -> str | None:
        if not self.ctx.budget.admits(study, trial.number):
            return (f"the study already has its {self.ctx.budget.n_trials} trials (another worker took the last "
                    "slot)")
        if blog:
            twins = [t.number for t in counted(study.get_trials(deepcopy=False), waiting=True)
                     if t.user_attrs.get(contract.ATTR_BLOG) == blog and t.number < trial.number]
            if twins:
                return f"blog trial {blog} is already trial {twins[0]} (enqueued twice by workers starting together)"
        return None


def trial_params(params: dict[str, Any], configs: dict[str, Any], space: SearchSpace, settings: StudySettings,
                 fast_path: str) -> dict[str, Any]:
    """A trial run's MLflow params (their names: :mod:`experiments.contract`), from what its trainers train with.
    The swept floats as display values, 3 significant digits (``7.98e-05``, not ``7.98262191...`` cut off by the
    runs table's column); the exact value stays in the Optuna study, which analysis reads first."""
    out: dict[str, Any] = {k: display_value(v) for k, v in params.items()}
    for f in dataclasses.fields(configs["weights"]):   # the swept weights are there already, by their names
        if not space.sweeps(f"weights.{f.name}"):
            out.setdefault(f"{contract.WEIGHT_PARAM_PREFIX}{f.name}", getattr(configs["weights"], f.name))
    for name, target in contract.TRIAL_CONFIG_PARAMS.items():
        config, _, fname = target.partition(".")
        out[name] = getattr(configs[config], fname)
    out.update({k: display_value(v) for k, v in params.items() if k in out})   # swept: the display value
    out.update({name: getattr(settings, name) for name in contract.TRIAL_STUDY_PARAMS})
    out[contract.PARAM_FAST_PATH] = fast_path
    if len(settings.seed_list) > 1:
        out[contract.PARAM_SEEDS] = ",".join(map(str, settings.seed_list))
    return out


def display_value(v: Any) -> Any:
    """A swept parameter as the runs table shows it: floats with 3 significant digits, anything else as it is."""
    return f"{v:.3g}" if isinstance(v, float) else v


def _kept(runs: list[SeedRun], step: int) -> str:
    """What an interrupted trial keeps to resume from."""
    if len(runs) > 1:
        return "its seeds keep their checkpoints"
    trainer = runs[0].trainer
    return (f"its checkpoint at iteration {step} is kept" if trainer is not None and trainer.last_checkpoint
            else "it had no checkpoint yet")


def _metrics_at(run: SeedRun, step: int) -> dict[str, float] | None:
    """Seed ``run``'s evaluation at iteration ``step`` (None: it has none there)."""
    records = [r for r in run.folder.records(RunFolder.METRICS) if r["step"] == step]
    return {k: v for k, v in records[-1].items() if k != "step"} if records else None


def _aside(path: Path, what: str) -> Path:
    """A free name beside ``path`` to move it to: ``<name>.<what>-<time>[-i]``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return next(p for i in count() if not (p := path.with_name(f"{path.name}.{what}-{stamp}" + (f"-{i}" if i else "")))
                .exists())


def _has_checkpoints(folder: RunFolder) -> bool:
    """A trial folder worth resuming: its own checkpoint, or (several seeds) one of its seeds'."""
    return folder.has_checkpoint() or any(RunFolder(p).has_checkpoint() for p in folder.root.glob(
        contract.SEED_FOLDER.format(seed="*")))


def _evaluation_points(iters: int, eval_every: int) -> list[int]:
    """The iterations at which a trial is evaluated: every ``eval_every``, and the last one."""
    points = list(range(eval_every, iters + 1, eval_every)) if eval_every > 0 else []
    return points if points and points[-1] == iters else [*points, iters]


def _frozen(study: optuna.Study, number: int) -> optuna.trial.FrozenTrial:
    return next(t for t in study.get_trials(deepcopy=True) if t.number == number)


__all__ = ["TrialContext", "SeedRun", "TrialRunner", "trial_params", "display_value"]

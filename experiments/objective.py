"""One Optuna trial = one MUNIT training run: draw the swept parameters, write them into the study's base configs
(the search space says which field each one sets), train with the trainer's callbacks wired to MLflow and
Optuna, and return the objective measured at the last evaluation.

Outcomes (Optuna state / MLflow status / ``fail_reason``):
* finished            -> COMPLETE / FINISHED
* pruned              -> PRUNED / KILLED, "pruned at iteration k: <metric> = v"
* a loss went NaN/Inf -> FAIL / FAILED, the NonFiniteLossError text (which loss, which iteration). FAIL rather
  than PRUNED: a diverged run has no score, and a pruned trial would enter the sampler's model with one
* any other exception -> FAIL / FAILED, "<type>: <message>" (traceback in the trial folder's error.txt)
* Ctrl-C or SIGTERM   -> FAIL / FAILED, "interrupted at iteration k"; the trainer has saved a checkpoint and a
  retry is queued, so the next ``sweep.py`` continues the trial from there. A stop signal that comes when the
  training is over (the last iteration, the final evaluation, the closing of the run) lets the trial end as it
  would have (its outcome is stored as usual) and then stops the sweep; one that comes during the setup stops the
  trainer at its first iteration
* a full disk         -> FAIL / FAILED, "no space left on device while writing PATH"; a retry is queued (the
  last checkpoint is intact) and the sweep stops: every further trial would fail the same way

A study never stops because one trial failed: ``study.optimize(catch=(Exception,))`` goes on. The worker holds
the trial's lock (:class:`~experiments.workers.TrialLock`) from the first line of the trial until the next trial
starts or the worker ends, i.e. until after Optuna has stored the outcome.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import time
import traceback
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import optuna
from mlflow import MlflowClient
from mlflow.entities import Metric

from munit.checkpoint import DiskFullError, RunFolder, disk_full
from munit.fastpath import apply_levers
from munit.stopping import Interrupted, StopRequest, signal_name, signum_of
from munit.trainer import NonFiniteLossError, StopReason, Trainer

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


class Objective:
    def __init__(self, ctx: TrialContext):
        self.ctx = ctx
        self.lock: TrialLock | None = None
        self.stop: BaseException | None = None    # raised by after_trial, once the trial's outcome is stored

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
        n_obj = len(self.ctx.settings.objective)
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
            return self._train_seeds(trial, configs, folder, run_id, seeds)
        return self._train(trial, configs, folder, run_id)

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
        ctx, s = self.ctx, self.ctx.settings
        tags = {contract.TAG_STUDY: trial.study.study_name, contract.TAG_TRIAL_NUMBER: str(trial.number),
                contract.TAG_TRIAL_ID: str(trial._trial_id), contract.TAG_WORKER: worker_id()}
        if blog:
            tags[contract.TAG_BLOG] = str(blog)
        if source is not None:
            tags[contract.TAG_RETRY_OF] = str(source)
        run_params: dict[str, Any] = dict(params)
        # every loss weight the trial trains with, as lambda_<name> (the swept ones are already there by name)
        swept = {p.sets for p in ctx.space.params.values()}
        for f in dataclasses.fields(configs["weights"]):
            if f"weights.{f.name}" not in swept:
                run_params.setdefault(f"lambda_{f.name}", getattr(configs["weights"], f.name))
        run_params.update({"preset": s.preset, "image_size": s.image_size, "iters": s.iters,
                           "batch_size": s.batch_size, "lr": configs["train"].lr, "seed": s.seed, "data": s.data,
                           "precision": s.precision, "scale": s.scale, "epoch_iters": s.epoch_iters,
                           "fast_path": ctx.fast_path})
        if len(s.seed_list) > 1:
            run_params["seeds"] = ",".join(map(str, s.seed_list))
        run_id = create_trial_run(ctx.client, ctx.experiment_id, ctx.parent_run_id,
                                  contract.run_name(trial.number, blog),
                                  tags, run_params)
        trial.set_user_attr(contract.ATTR_RUN_ID, run_id)
        self._run_tags, self._run_params = tags, run_params
        return run_id

    def _train(self, trial: optuna.Trial, configs: dict[str, Any], folder: RunFolder, run_id: str
               ) -> float | list[float]:
        """Train, then close the trial with the outcome (see the module docstring)."""
        objective = self.ctx.settings.objective
        logger = TrialLogger(self.ctx.client, run_id, trial, objective)
        t0 = time.perf_counter()
        trainer = None
        try:
            trainer = self._trainer(configs, folder.root, logger, resume=folder.has_checkpoint())
            if trainer.step:
                self._replay(trainer, folder, run_id, trial)
            result = trainer.fit()
        except KeyboardInterrupt as e:
            step, by = (trainer.step if trainer is not None else 0), signal_name(signum_of(e))
            self._close(trial, run_id, folder, "FAIL", f"interrupted at iteration {step} ({by})", t0, trainer,
                        checkpoint=False)
            self.ctx.recovery.queue_retry(trial.study, _frozen(trial.study, trial.number))
            kept = (f"its checkpoint at iteration {step} is kept" if trainer is not None and trainer.last_checkpoint
                    else "it had no checkpoint yet")
            raise Interrupted(f"trial {trial.number} was stopped; {kept} and it is queued to resume",
                              signum_of(e)) from None
        except Exception as e:
            if disk_full(e):
                self._disk_full(trial, run_id, folder, t0, trainer, e)
            reason = self._failure(trial, folder, e)
            self._close(trial, run_id, folder, "FAIL", reason, t0, trainer, checkpoint=False)
            raise
        if result.stopped is StopReason.STOPPED:
            reason = logger.prune_reason or result.stop_detail
            self._close(trial, run_id, folder, "PRUNED", reason, t0, trainer)
            raise optuna.TrialPruned(reason)
        values = [result.last_metrics.get(k, float("nan")) for k in objective]
        bad = [k for k, v in zip(objective, values) if not math.isfinite(v)]
        if bad:
            reason = f"objective {', '.join(bad)} is not a finite number at the end of training"
            self._close(trial, run_id, folder, "FAIL", reason, t0, trainer)
            raise ValueError(reason)
        self._close(trial, run_id, folder, "COMPLETE", None, t0, trainer, values=values)
        return values[0] if len(values) == 1 else values

    def _train_seeds(self, trial: optuna.Trial, configs: dict[str, Any], folder: RunFolder, run_id: str,
                     seeds: list[int]) -> float | list[float]:
        """Train the configuration with every seed, in lockstep from evaluation to evaluation: each seed's
        trainer advances to the next evaluation point (side by side with ``seed_workers`` > 1), then the mean of
        their metrics is logged to the trial's run and reported to Optuna, whose pruner may stop them all. Each seed
        has its own run folder (checkpoint: a killed trial's retry resumes every seed) and nested MLflow run."""
        import threading
        from concurrent.futures import ThreadPoolExecutor

        import numpy as np

        ctx, s = self.ctx, self.ctx.settings
        objective = list(s.objective)
        t0 = time.perf_counter()
        lock = threading.Lock()   # one evaluation at a time: the metric session is shared by the seeds

        def evaluate(trainer):
            with lock:
                return ctx.evaluator(trainer)

        units = []
        trial_logger = TrialLogger(ctx.client, run_id, trial, objective)
        for i, seed in enumerate(seeds):
            sub = RunFolder(folder.root / contract.SEED_FOLDER.format(seed=seed))
            seed_run = create_seed_run(ctx.client, ctx.experiment_id, run_id, self._run_tags, seed, self._run_params)
            logger = TrialLogger(ctx.client, seed_run, trial, objective, report=False,
                                 sample_runs=(run_id,) if i == 0 else ())
            cfgs = {**configs, "train": dataclasses.replace(configs["train"], seed=seed, device=self._device(i))}
            callbacks: list = [logger]
            if i == 0 and ctx.console is not None:
                from .console import TrialProgress
                callbacks.append(TrialProgress(ctx.console, trial.number, cfgs["train"].iters))
            units.append({"seed": seed, "folder": sub, "run": seed_run, "logger": logger, "cfgs": cfgs,
                          "callbacks": callbacks, "trainer": None})
        evaluations = _evaluation_points(s.iters, s.eval_every)
        pool = ThreadPoolExecutor(max_workers=max(1, min(ctx.seed_workers, len(units))))
        state, reason, values = "FAIL", None, [math.nan] * len(objective)
        try:
            for u in units:
                u["trainer"] = Trainer(u["cfgs"]["model"], u["cfgs"]["train"], u["cfgs"]["weights"],
                                       u["cfgs"]["data"], u["folder"].root, callbacks=u["callbacks"],
                                       evaluator=evaluate, resume=u["folder"].has_checkpoint())
                if u["trainer"].step:
                    self._replay(u["trainer"], u["folder"], u["run"], trial, report=False)
            for point in evaluations:
                results = list(pool.map(lambda u: u["trainer"].fit(until=point), units))
                metrics = [u["trainer"].last_metrics for u in units]
                if point > min(u["trainer"].step for u in units) or not metrics[0]:
                    continue
                keys = [k for k in metrics[0] if all(k in m for m in metrics)]
                mean = {k: float(np.mean([m[k] for m in metrics])) for k in keys}
                mean.update({f"{k}{contract.STD_SUFFIX}": float(np.std([m[k] for m in metrics], ddof=1))
                             for k in keys if not k.endswith(contract.STD_SUFFIX)})
                trial_logger.on_evaluate(point, mean, units[0]["trainer"].last_meta)
                values = [mean.get(k, math.nan) for k in objective]
                if trial_logger.prune_reason:
                    state, reason = "PRUNED", trial_logger.prune_reason
                    break
                if any(r.stopped is StopReason.STOPPED for r in results):
                    break
            else:
                state = "COMPLETE"
        except KeyboardInterrupt as e:
            step = min((u["trainer"].step for u in units if u["trainer"]), default=0)
            self._close_seeds(trial, run_id, folder, units, "FAIL",
                              f"interrupted at iteration {step} ({signal_name(signum_of(e))})", t0, checkpoint=False)
            ctx.recovery.queue_retry(trial.study, _frozen(trial.study, trial.number))
            raise Interrupted(f"trial {trial.number} was stopped; its seeds keep their checkpoints and it is queued "
                              "to resume", signum_of(e)) from None
        except Exception as e:
            if disk_full(e):
                full = e if isinstance(e, DiskFullError) else DiskFullError(getattr(e, "filename", None)
                                                                            or folder.root)
                try:
                    self._close_seeds(trial, run_id, folder, units, "FAIL", str(full), t0, checkpoint=False)
                    ctx.recovery.queue_retry(trial.study, _frozen(trial.study, trial.number))
                except Exception as again:  # noqa: BLE001 -- the stores may sit on the full disk too
                    log.warning("trial %d: %s (%s)", trial.number, full, again)
                self.stop = full
                raise full from e
            reason = self._failure(trial, folder, e)
            self._close_seeds(trial, run_id, folder, units, "FAIL", reason, t0, checkpoint=False)
            raise
        finally:
            pool.shutdown(wait=True)
        if state == "PRUNED":
            self._close_seeds(trial, run_id, folder, units, "PRUNED", reason, t0)
            raise optuna.TrialPruned(reason)
        bad = [k for k, v in zip(objective, values) if not math.isfinite(v)]
        if state != "COMPLETE" or bad:
            reason = reason or f"objective {', '.join(bad)} is not a finite number at the end of training"
            self._close_seeds(trial, run_id, folder, units, "FAIL", reason, t0)
            raise ValueError(reason)
        self._close_seeds(trial, run_id, folder, units, "COMPLETE", None, t0, values=values)
        return values[0] if len(values) == 1 else values

    def _device(self, i: int) -> str:
        """Seed i's device: with several GPUs visible the seeds spread over them, else the worker's device."""
        dev = self.ctx.device
        if dev.startswith("cuda") and ":" not in dev and self.ctx.seed_workers > 1:
            import torch
            n = torch.cuda.device_count()
            return f"cuda:{i % n}" if n > 1 else dev
        return dev

    def _close_seeds(self, trial: optuna.Trial, run_id: str, folder: RunFolder, units: list[dict], state: str,
                     reason: str | None, t0: float, checkpoint: bool = True,
                     values: list[float] | None = None) -> None:
        """Close every seed's run with the trial's outcome, then the trial's own run."""
        client = self.ctx.client
        for u in units:
            trainer = u["trainer"]
            try:
                step = trainer.step if trainer is not None else 0
                client.log_batch(u["run"], metrics=[Metric(contract.ITERS_REACHED, float(step), int(time.time() * 1000),
                                                           step)])
                log_trial_files(client, u["run"], u["folder"], checkpoint=checkpoint)
            finally:
                end_run(client, u["run"], state, reason)
        steps = [u["trainer"].step for u in units if u["trainer"] is not None]
        stand_in = type("Steps", (), {"step": min(steps) if steps else 0})()
        self._close(trial, run_id, folder, state, reason, t0, stand_in, checkpoint=False, values=values)

    @staticmethod
    def _failure(trial: optuna.Trial, folder: RunFolder, e: BaseException) -> str:
        """The failed trial's one-line reason; its traceback goes to the trial folder's error.txt."""
        try:
            folder.root.mkdir(parents=True, exist_ok=True)
            (folder.root / "error.txt").write_text(traceback.format_exc())
        except OSError as write_error:
            log.warning("trial %d: could not write error.txt (%s)", trial.number, write_error)
        return str(e) if isinstance(e, NonFiniteLossError) else f"{type(e).__name__}: {e}"

    def _disk_full(self, trial: optuna.Trial, run_id: str, folder: RunFolder, t0: float, trainer: Trainer | None,
                   e: Exception) -> None:
        """A full disk: close the trial (as far as the stores can still be written), queue its retry (the last
        checkpoint is intact) and stop the sweep after this trial -- every further trial would fail alike."""
        full = e if isinstance(e, DiskFullError) else DiskFullError(getattr(e, "filename", None) or folder.root)
        for step in (lambda: self._close(trial, run_id, folder, "FAIL", str(full), t0, trainer, checkpoint=False),
                     lambda: self.ctx.recovery.queue_retry(trial.study, _frozen(trial.study, trial.number))):
            try:
                step()
            except Exception as again:  # noqa: BLE001 -- the stores may sit on the full disk too
                log.warning("trial %d: %s (%s)", trial.number, full, again)
        self.stop = full
        raise full from e

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

    def _trainer(self, configs: dict[str, Any], out_dir: Path, logger: TrialLogger, resume: bool) -> Trainer:
        callbacks: list = [logger]
        if self.ctx.console is not None:
            from .console import TrialProgress
            callbacks.append(TrialProgress(self.ctx.console, logger.trial.number, configs["train"].iters))
        return Trainer(configs["model"], configs["train"], configs["weights"], configs["data"], out_dir,
                       callbacks=callbacks, evaluator=self.ctx.evaluator, resume=resume)

    def _replay(self, trainer: Trainer, folder: RunFolder, run_id: str, trial: optuna.Trial,
                report: bool = True) -> None:
        """A trial resumed from a dead trial's checkpoint: copy its logged history up to the checkpoint into this
        run (and, ``report``, its objective into Optuna's intermediate values), drop what came after."""
        step, objective = trainer.step, self.ctx.settings.objective
        metrics: list[Metric] = []
        for name, records in folder.truncate(step).items():
            for r in records:
                ts = int(time.time() * 1000)
                metrics += [Metric(k, float(v), ts, r["step"]) for k, v in r.items() if k != "step"]
                if report and name == RunFolder.METRICS and len(objective) == 1 and objective[0] in r:
                    trial.report(float(r[objective[0]]), r["step"])
                    metrics.append(Metric(contract.OBJECTIVE, float(r[objective[0]]), ts, r["step"]))
        for i in range(0, len(metrics), 1000):   # MLflow's per-call limit
            self.ctx.client.log_batch(run_id, metrics=metrics[i:i + 1000])
        self.ctx.client.set_tag(run_id, contract.TAG_RESUMED_AT, str(step))

    def _close(self, trial: optuna.Trial, run_id: str, folder: RunFolder, state: str, reason: str | None,
               t0: float, trainer: Trainer | None, checkpoint: bool = True,
               values: list[float] | None = None) -> None:
        """Everything that ends a trial: reason in Optuna and MLflow, final metrics, artifacts, the run's name
        (its outcome: ``trial-017 · content 0.395``, ``trial-008 · pruned@80``), run status."""
        from .mlflow_ui import trial_label
        client = self.ctx.client
        step = trainer.step if trainer is not None else 0
        name = trial_label(contract.run_name(trial.number, trial.user_attrs.get(contract.ATTR_BLOG)), state,
                           self.ctx.settings.objective, values, step)
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


__all__ = ["TrialContext", "Objective"]

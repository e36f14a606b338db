"""Worker processes: spawning several on one machine (``--workers K``), their CPU share, and recovering from
workers that died mid-trial (kill -9, a crashed machine) or were interrupted (Ctrl-C).

A dead worker leaves its trial RUNNING. It is found in one of two ways:
* on one machine, by process id: every trial records its worker as ``host:pid`` (user attr ``worker``), and a
  RUNNING trial of this host whose process is gone is dead for sure (works with every storage, at once);
* across machines, by Optuna's heartbeat (RDB storages): a trial whose worker stopped beating for the grace
  period is failed by ``optuna.storages.fail_stale_trials``, which the next trial start of any worker runs.

Either way the trial is marked FAIL (user attr and MLflow tag ``fail_reason``), its MLflow run FAILED, and
Optuna's ``RetryHeartbeatStaleTrialCallback`` queues a copy (same params, ``retry_history``) that the next
worker runs first, continuing from the dead trial's last checkpoint (:func:`resume_source`).
"""
from __future__ import annotations

import copy
import logging
import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Sequence

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from munit.checkpoint import RunFolder

from . import contract as C
from .tracking import end_run, open_client

log = logging.getLogger(__name__)

INHERITED_ATTRS = (C.ATTR_BLOG,)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _dead_here(worker: str | None) -> bool:
    """True if ``worker`` (host:pid) ran on this host and its process no longer exists."""
    if not worker or ":" not in worker:
        return False
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:   # exists, owned by someone else
        return False
    return False


class TrialRecovery:
    """Closes dead trials (Optuna FAIL + reason, MLflow run FAILED) and queues their retries. Also the
    ``heartbeat_stale_trial_callback`` of RDB storages."""

    def __init__(self, tracking_uri: str):
        self.tracking_uri = tracking_uri
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self.retry = RetryHeartbeatStaleTrialCallback()

    def queue_retry(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Queue a copy of ``trial`` (Optuna's retry callback: same params, ``retry_history``). It inherits only
        the user attrs that describe the configuration, not the dead run's worker, run id or failure."""
        clean = copy.deepcopy(trial)
        clean.user_attrs = {k: v for k, v in trial.user_attrs.items() if k in INHERITED_ATTRS}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self.retry(study, clean)

    def close_run(self, trial: FrozenTrial, reason: str) -> None:
        run_id = trial.user_attrs.get(C.ATTR_RUN_ID)
        if not run_id:
            return
        try:
            end_run(open_client(self.tracking_uri), run_id, "FAIL", reason)
        except Exception as e:  # noqa: BLE001 -- recovery must go on even if MLflow is unreachable
            log.warning("could not mark MLflow run %s of trial %d FAILED: %s", run_id, trial.number, e)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Heartbeat path: Optuna has already marked ``trial`` FAIL."""
        reason = "worker stopped sending heartbeats (killed or lost) mid-trial; retried as a new trial"
        log.warning("trial %d: %s", trial.number, reason)
        self.close_run(trial, reason)
        self.queue_retry(study, trial)

    def fail_dead_local_trials(self, study: optuna.Study) -> list[int]:
        """Fail and retry the RUNNING trials whose worker process on this host is gone. Returns their numbers."""
        failed = []
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            worker = t.user_attrs.get(C.ATTR_WORKER)
            if not _dead_here(worker):
                continue
            reason = f"worker process {worker} died mid-trial; retried as a new trial"
            try:
                study._storage.set_trial_user_attr(t._trial_id, C.ATTR_FAIL_REASON, reason)
                # the same check-and-set as optuna.storages.fail_stale_trials: one worker wins
                if not study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                    continue
            except UpdateFinishedTrialError:
                continue
            log.warning("trial %d: %s", t.number, reason)
            self.close_run(t, reason)
            self.queue_retry(study, study._storage.get_trial(t._trial_id))
            failed.append(t.number)
        return failed


def resume_source(study: optuna.Study, trial: optuna.Trial) -> int | None:
    """For a retried trial, the number of the trial it replaces (whose folder holds the last checkpoint)."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.number == trial.number:
            history = t.system_attrs.get(C.ATTR_RETRY_HISTORY) or []
            return int(history[-1]) if history else None
    return None


def dead_trials_callback(recovery: TrialRecovery):
    """A study callback: after each trial, fail and retry the trials of dead workers on this machine."""
    def callback(study: optuna.Study, t: FrozenTrial) -> None:
        recovery.fail_dead_local_trials(study)
    return callback


# ------------------------------------------------------------------------------------------------ spawning

def default_threads(workers: int) -> int:
    """CPU threads per worker: half the cores it has to itself. PyTorch's CPU thread pool collapses when its
    threads compete for cores (2 cores, tiny preset: 8 it/s with 1 thread, 0.6 it/s with 2 while another process
    runs), and a sweep always has company: evaluation, MLflow, other workers."""
    return max(1, (os.cpu_count() or 1) // workers // 2)


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` entries (indices, or GPU-/MIG- UUIDs): the
    parent's own list when it has one (a job scheduler's allocation), else 0 .. n-1. Empty without CUDA."""
    import torch

    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is None:
        return [str(i) for i in range(n)]
    # CUDA ignores the list from its first invalid entry on; torch's count is how many it accepted
    return [e.strip() for e in given.split(",") if e.strip()][:n]


def default_workers(device) -> int:
    """``--workers`` when not given: one per visible GPU when the sweep trains on CUDA with the device ``auto`` or
    ``cuda`` (no index), else 1 (CPU, or a GPU pinned with ``cuda:N``)."""
    if device.type == "cuda" and device.index is None:
        return max(1, len(visible_gpus()))
    return 1


def worker_gpus(workers: int, device) -> list[str | None]:
    """Each worker's ``CUDA_VISIBLE_DEVICES``: worker i gets the i-th visible GPU, and with more workers than GPUs
    they share them round robin (worker i on GPU i mod n; a MUNIT at batch 1 leaves a big GPU room for two).
    None: the worker inherits this process's environment -- on CPU, and with ``--device cuda:N``, which puts every
    worker on that GPU as asked."""
    if device.type != "cuda" or device.index is not None:
        return [None] * workers
    gpus = visible_gpus()
    if not gpus:
        return [None] * workers
    if workers > len(gpus):
        log.warning("%d workers on %d GPU(s): round robin, up to %d workers per GPU", workers, len(gpus),
                    -(-workers // len(gpus)))
    return [gpus[i % len(gpus)] for i in range(workers)]


def spawn_workers(argv: Sequence[str], workers: int, threads: int | None, device=None) -> int:
    """Run ``workers`` copies of this sweep command (each one worker) and wait for them; their status. On CUDA
    (``device``), worker i sees only its GPU (:func:`worker_gpus`) and trains on it as ``cuda:0``."""
    procs = []
    threads = threads or default_threads(workers)
    gpus = worker_gpus(workers, device) if device is not None else [None] * workers
    for i in range(workers):
        cmd = [sys.executable, "-m", "experiments.sweep", *argv, "--workers", "1", "--worker-index", str(i),
               "--threads", str(threads), "--no-summary"]
        env = None if gpus[i] is None else {**os.environ, "CUDA_VISIBLE_DEVICES": gpus[i]}
        procs.append(subprocess.Popen(cmd, cwd=os.getcwd(), env=env))
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


__all__ = ["worker_id", "TrialRecovery", "resume_source", "dead_trials_callback", "default_threads",
           "visible_gpus", "default_workers", "worker_gpus", "spawn_workers"]

"""Worker processes: spawning several on one machine (``--workers K``), their CPU share, the signals the parent
forwards to them, and failing and retrying the trials of workers that died (an OS file lock per trial on one
machine, Optuna's heartbeat across machines: trusting neither host names nor process ids). How a dead worker is
recognised and what its retry resumes: docs/sweeps.md, "Faults".
"""
from __future__ import annotations

import copy
import datetime
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from munit.checkpoint import RunFolder
from munit.stopping import Interrupted, exit_status
from munit.threads import available_cores

from . import contract
from .parent import start_child, watch_parent  # noqa: F401 -- re-exported
from .tracking import end_run, open_client

log = logging.getLogger(__name__)

INHERITED_ATTRS = (contract.ATTR_BLOG,)
NO_LOCK_GRACE_S = 60.0    # a RUNNING trial without a lock file this old was abandoned between ask and lock


def worker_id() -> str:
    """Who runs a trial, for people (user attr and MLflow tag ``worker``); liveness never depends on it."""
    return f"{socket.gethostname()}:{os.getpid()}"


class TrialLock:
    """The OS lock a worker holds while it runs a trial (see the module docstring). The lock file appears
    already locked (created and locked under a temporary name, then renamed), so no other process can ever
    find it free while its owner lives."""

    def __init__(self, path: Path, fd: int):
        self.path, self._fd = path, fd

    @staticmethod
    def path_for(lock_dir: Path, number: int) -> Path:
        return Path(lock_dir) / str(number)

    @classmethod
    def acquire(cls, lock_dir: Path, number: int) -> "TrialLock":
        import fcntl

        path = cls.path_for(lock_dir, number)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{number}.", dir=path.parent)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, f"{worker_id()}\n".encode())
            os.replace(tmp, path)
        except BaseException:
            os.close(fd)
            Path(tmp).unlink(missing_ok=True)
            raise
        return cls(path, fd)

    def release(self) -> None:
        """After the trial's outcome is stored: remove the file, then let go of the lock."""
        import fcntl

        if self._fd < 0:
            return
        self.path.unlink(missing_ok=True)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = -1


def lock_state(lock_dir: Path, number: int) -> str:
    """"held" (its worker lives), "free" (its worker died) or "absent" (no lock file on this machine)."""
    import fcntl

    path = TrialLock.path_for(lock_dir, number)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return "absent"
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return "held"
        raise
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return "free"
    finally:
        os.close(fd)


class TrialRecovery:
    """Closes dead trials (Optuna FAIL + reason, MLflow run FAILED) and queues their retries. Also the
    ``heartbeat_stale_trial_callback`` of RDB storages. ``lock_dir``: where this study's trial locks live;
    ``local``: the storage is on this machine only (journal file, SQLite), so a RUNNING trial without a lock
    file here cannot be running elsewhere."""

    def __init__(self, tracking_uri: str, lock_dir: Path | None = None, local: bool = True):
        self.tracking_uri = tracking_uri
        self.lock_dir = Path(lock_dir) if lock_dir is not None else None
        self.local = local
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
        run_id = trial.user_attrs.get(contract.ATTR_RUN_ID)
        if not run_id:
            return
        try:
            client = open_client(self.tracking_uri)
            # a multi-seed trial's seed runs (nested under its run) die with it
            for run in seed_runs(client, run_id):
                if run.info.status == "RUNNING":
                    end_run(client, run.info.run_id, "FAIL", reason)
            end_run(client, run_id, "FAIL", reason)
        except Exception as e:  # noqa: BLE001 -- recovery must go on even if MLflow is unreachable
            log.warning("could not mark MLflow run %s of trial %d FAILED: %s", run_id, trial.number,
                        contract.mask_url(str(e)))

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Heartbeat path: Optuna has already marked ``trial`` FAIL."""
        reason = "worker stopped sending heartbeats (killed or lost) mid-trial; retried as a new trial"
        log.warning("trial %d: %s", trial.number, reason)
        self.close_run(trial, reason)
        self.queue_retry(study, trial)

    def dead_reason(self, t: FrozenTrial) -> str | None:
        """Why RUNNING trial ``t`` is dead (None: alive, or not decidable here)."""
        if self.lock_dir is None:
            return None
        state = lock_state(self.lock_dir, t.number)
        worker = t.user_attrs.get(contract.ATTR_WORKER, "?")
        if state == "free":
            return f"worker process {worker} died mid-trial (its trial lock is free); retried as a new trial"
        if state == "absent" and self.local and t.datetime_start is not None:
            age = (datetime.datetime.now() - t.datetime_start).total_seconds()
            if age >= NO_LOCK_GRACE_S:
                return (f"worker died mid-trial before it took the trial's lock (started {age:.0f} s ago); retried "
                        "as a new trial")
        return None

    def fail_dead_local_trials(self, study: optuna.Study) -> list[int]:
        """Fail and retry the RUNNING trials whose worker is gone (their lock is free, or they never got one).
        Returns their numbers."""
        failed = []
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            reason = self.dead_reason(t)
            if reason is None:
                continue
            try:
                study._storage.set_trial_user_attr(t._trial_id, contract.ATTR_FAIL_REASON, reason)
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


def seed_runs(client, run_id: str) -> list:
    """The seed runs nested under trial run ``run_id`` (none for a single-seed trial)."""
    exp = client.get_run(run_id).info.experiment_id
    return client.search_runs([exp], filter_string=f"tags.`mlflow.parentRunId` = '{run_id}'")


def resume_source(study: optuna.Study, trial: optuna.Trial) -> int | None:
    """For a retried trial, the number of the trial it replaces (whose folder holds the last checkpoint)."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.number == trial.number:
            history = t.system_attrs.get(contract.ATTR_RETRY_HISTORY) or []
            return int(history[-1]) if history else None
    return None


def dead_trials_callback(recovery: TrialRecovery):
    """A study callback: after each trial, fail and retry the trials of dead workers on this machine."""
    def callback(study: optuna.Study, t: FrozenTrial) -> None:
        recovery.fail_dead_local_trials(study)
    return callback


# ------------------------------------------------------------------------------------------------ spawning

def default_threads(workers: int) -> int:
    """CPU threads per worker: the cores this process may use (affinity, cgroup quota) shared among the workers.
    Safe with every core busy because the entry points set ``OMP_WAIT_POLICY=PASSIVE`` before torch loads (see
    :mod:`munit.threads`)."""
    return max(1, available_cores() // workers)


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


def auto_workers(threads_per_worker: int | None, threads: int | None, remaining: int) -> int:
    """How many CPU workers pay when ``--workers`` is left out: one per ``threads`` (``--threads``) or
    ``threads_per_worker`` (the study's preset) of the cores this process may use, at most one per remaining
    trial; 1 when the preset wants every core for one worker."""
    per = threads or threads_per_worker
    if not per:
        return 1
    return max(1, min(available_cores() // per, remaining))


class WorkerFailed(RuntimeError):
    """A worker process ended badly (killed by a signal, or an error it has printed): one line for the user."""


def spawn_workers(argv: Sequence[str], workers: int, threads: int | None, device=None) -> list[int]:
    """Run ``workers`` copies of this sweep command (each one worker) and wait for them; their exit statuses.

    On CUDA (``device``), worker i sees only its GPU (:func:`worker_gpus`) and trains on it as ``cuda:0``. The
    workers run in their own session, so a terminal's Ctrl-C reaches only this process, which forwards it -- and
    SIGTERM -- to every worker exactly once (a second one, again once: they stop at once). Raises
    :class:`~munit.stopping.Interrupted` after a forwarded signal and :class:`WorkerFailed` when a worker was
    killed or failed, each with a message that says what happened to the workers."""
    procs = []
    threads = threads or default_threads(workers)
    gpus = worker_gpus(workers, device) if device is not None else [None] * workers
    for i in range(workers):
        cmd = [sys.executable, "-m", "experiments.sweep", *argv, "--workers", "1", "--worker-index", str(i),
               "--threads", str(threads), "--no-summary"]
        env = None if gpus[i] is None else {**os.environ, "CUDA_VISIBLE_DEVICES": gpus[i]}
        procs.append(start_child(cmd, env=env))
    received: list[int] = []

    def forward(signum, frame):
        received.append(signum)
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        codes = [p.wait() for p in procs]
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        for p in procs:
            if p.poll() is not None:
                os.close(p._parent_pipe)
    check_exits(codes, [p.pid for p in procs], received[0] if received else None)
    return codes


def check_exits(codes: Sequence[int], pids: Sequence[int], signum: int | None) -> None:
    """Turn the workers' exit statuses into one true sentence (see :func:`spawn_workers`)."""
    stopped = [i for i, c in enumerate(codes) if c in (exit_status(signal.SIGINT), exit_status(signal.SIGTERM))]
    parts = [f"worker {i} (pid {pids[i]}) was killed by {signal.Signals(-c).name}; its trial is failed and retried "
             "by another worker or the next sweep run" for i, c in enumerate(codes) if c < 0]
    parts += [f"worker {i} (pid {pids[i]}) failed with exit status {c} (its error is printed above)"
              for i, c in enumerate(codes) if c > 0 and i not in stopped]
    if signum is not None:
        done = (f"{len(stopped)} of {len(codes)} workers stopped cleanly (a running trial keeps its checkpoint and "
                "is queued to resume)" if stopped else "no worker was left to stop")
        raise Interrupted("; ".join([done, *parts]), signum)
    if parts:
        raise WorkerFailed("; ".join(parts))


__all__ = ["worker_id", "NO_LOCK_GRACE_S", "TrialLock", "lock_state", "TrialRecovery", "resume_source",
           "dead_trials_callback", "default_threads", "auto_workers", "visible_gpus", "default_workers", "worker_gpus",
           "WorkerFailed", "spawn_workers", "start_child", "watch_parent", "check_exits"]

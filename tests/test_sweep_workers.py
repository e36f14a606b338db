"""Sweep workers as separate processes: two at once on one study, and one killed with SIGKILL mid-trial."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from optuna.trial import TrialState

from experiments import sweep
from test_sweep_helpers import ROOT, journal_study, pid_namespace, runs, tiny_args, worker


def _finish(procs, timeout=240):
    outs = []
    for p in procs:
        out, _ = p.communicate(timeout=timeout)
        outs.append(out)
    return outs


def test_two_concurrent_workers_share_one_budget(tmp_path):
    root = tmp_path / "mlruns"
    args = tiny_args(root, trials=4, metrics="content") + ["--blog"]
    procs = [worker(args), worker(args)]   # started together: both create the study, parent run, blog queue
    outs = _finish(procs)
    assert [p.returncode for p in procs] == [0, 0], "\n".join(outs)
    assert not any("database is locked" in o or "Traceback" in o for o in outs), "\n".join(outs)

    study = journal_study(root)
    trials = study.get_trials()
    done = [t for t in trials if not t.user_attrs.get("skipped")]
    assert len(done) == 4 and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in done)
    assert len({t.number for t in done}) == 4
    assert sorted(t.user_attrs.get("blog_trial", 0) for t in done) == [0, 1, 2, 3]   # enqueued once
    assert len({tuple(sorted(t.params.items())) for t in done}) == 4                   # no repeated config
    assert {t.user_attrs["mlflow_run_id"] for t in done} == {r.info.run_id for r in runs(root, "trial")}
    assert len(runs(root, "study")) == 1
    assert all(r.data.tags["mlflow.parentRunId"] == runs(root, "study")[0].info.run_id for r in runs(root, "trial"))


def _wait_for_checkpoint(root, proc, timeout=120):
    """The number of a RUNNING trial whose folder already holds a checkpoint."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        assert proc.poll() is None, proc.communicate()[0]
        if (root / "optuna.journal").is_file():
            try:
                study = journal_study(root)
            except KeyError:   # not created yet
                time.sleep(0.3)
                continue
            for t in study.get_trials(states=(TrialState.RUNNING,)):
                if (root / "trials" / "munit-sweep" / str(t.number) / "checkpoints" / "last.pt").is_file():
                    return t.number
        time.sleep(0.3)
    raise AssertionError("no checkpoint of a running trial appeared")


def test_a_worker_killed_mid_trial_is_recovered_by_the_next_run(tmp_path, monkeypatch):
    """kill -9 of a worker that is PID 1 of its PID namespace (as under docker run), a rerun under another host
    name, a torn last line in the dead trial's log, and a trial abandoned between Optuna's ask and its lock: the
    rerun fails and retries both dead trials (the lock of each is free, or it never got one) and resumes the
    first from its checkpoint."""
    import socket

    from experiments import workers

    root = tmp_path / "mlruns"
    args = tiny_args(root, trials=2, iters=24, eval_every=4, metrics="content")   # a checkpoint every 8 iterations
    prefix, why = pid_namespace()
    proc = worker(args, prefix=prefix)
    number = _wait_for_checkpoint(root, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)

    study = journal_study(root)
    dead = study.get_trials()[number]
    assert dead.state == TrialState.RUNNING   # what a dead worker leaves behind
    if prefix:
        assert dead.user_attrs["worker"].endswith(":1"), dead.user_attrs   # it was PID 1
    else:
        print(f"no PID namespace here ({why}): the worker ran as a plain process")
    with open(root / "trials" / "munit-sweep" / str(number) / "log.jsonl", "a") as f:
        f.write('{"step": 23, "loss/d": 0.')                               # torn by the kill
    orphan = study.ask().number                                            # killed between ask and lock
    monkeypatch.setattr(workers, "NO_LOCK_GRACE_S", 0.0)
    monkeypatch.setattr(socket, "gethostname", lambda: "another-host")     # e.g. a new container
    rerun = tiny_args(root, trials=1, iters=24, eval_every=4, metrics="content")   # just the first retry
    assert sweep.main(rerun) == 0                                         # the next run recovers both

    trials = journal_study(root).get_trials()
    assert trials[number].state == TrialState.FAIL and "died mid-trial" in trials[number].user_attrs["fail_reason"]
    assert trials[orphan].state == TrialState.FAIL
    assert "before it took the trial's lock" in trials[orphan].user_attrs["fail_reason"]
    retries = {t.system_attrs["retry_history"][-1]: t for t in trials if t.system_attrs.get("retry_history")}
    assert set(retries) == {number, orphan} and retries[orphan].state == TrialState.WAITING
    assert retries[number].state == TrialState.COMPLETE and retries[number].params == trials[number].params
    by_number = {r.data.tags["optuna.trial_number"]: r for r in runs(root, "trial")}
    assert by_number[str(number)].info.status == "FAILED"
    assert "died mid-trial" in by_number[str(number)].data.tags["munit.fail_reason"]
    resumed = by_number[str(retries[number].number)].data.tags
    assert resumed["munit.retry_of"] == str(number) and int(resumed["munit.resumed_at"]) >= 4
    assert runs(root, "study")[0].info.status == "FINISHED"


def _wait_for_logging_trials(root, proc, n, timeout=180):
    """{trial number: worker pid} once ``n`` RUNNING trials have written a log line."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            running = journal_study(root).get_trials(states=(TrialState.RUNNING,))
        except (KeyError, FileNotFoundError):
            running = []
        logging = {t.number: int(t.user_attrs["worker"].rpartition(":")[2]) for t in running
                   if "worker" in t.user_attrs and (root / "trials" / "munit-sweep" / str(t.number) / "log.jsonl")
                   .is_file()}
        if len(logging) >= n:
            return logging
        time.sleep(0.3)
    raise AssertionError(f"fewer than {n} trials started logging")


def test_signals_reach_the_workers_and_a_killed_worker_is_reported_in_one_line(tmp_path):
    """--workers 2: one worker is killed with SIGKILL, then the parent gets SIGTERM (docker stop, kill). The parent
    forwards it; the surviving worker checkpoints, fails its trial for retry and exits cleanly; the parent says
    exactly that, in one line each, without a traceback, and leaves no worker behind."""
    root = tmp_path / "mlruns"
    parent = worker(tiny_args(root, trials=4, iters=400, eval_every=200, metrics="content") + ["--workers", "2"])
    pids = []
    try:
        (victim, victim_pid), (survivor, survivor_pid) = sorted(_wait_for_logging_trials(root, parent, 2).items())
        pids = [victim_pid, survivor_pid]
        os.kill(victim_pid, signal.SIGKILL)
        parent.send_signal(signal.SIGTERM)
        out, _ = parent.communicate(timeout=180)
    finally:
        for pid in pids:   # never leave a worker running, whatever happened
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if parent.poll() is None:
            parent.kill()
    assert parent.returncode == 128 + signal.SIGTERM and "Traceback" not in out, out
    assert "stopped by SIGTERM: 1 of 2 workers stopped cleanly" in out, out
    assert f"pid {victim_pid}) was killed by SIGKILL" in out, out

    trials = journal_study(root).get_trials()
    stopped = trials[survivor]
    assert stopped.state == TrialState.FAIL and stopped.user_attrs["fail_reason"].startswith("interrupted at iteration")
    assert "(SIGTERM)" in stopped.user_attrs["fail_reason"]
    (retry,) = [t for t in trials if t.system_attrs.get("retry_history") == [survivor]]
    assert retry.state == TrialState.WAITING and retry.params == stopped.params
    assert (root / "trials" / "munit-sweep" / str(survivor) / "checkpoints" / "last.pt").is_file()
    (run,) = [r for r in runs(root, "trial") if r.data.tags["optuna.trial_number"] == str(survivor)]
    assert run.info.status == "FAILED"
    assert trials[victim].state == TrialState.RUNNING   # the next run fails and retries it (test above)


PARENT = """
import sys, time
from experiments.parent import start_child
child = start_child([sys.executable, "-c", "from experiments.parent import watch_parent; watch_parent(); "
                     "import time; time.sleep(120)"], pdeathsig=sys.argv[1] == "1")
print(child.pid, flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("pdeathsig", [True, False], ids=["parent-death-signal", "pipe-only"])
def test_workers_die_with_their_parent(pdeathsig, tmp_path):
    """SIGKILL of the sweep that spawned workers: they stop too (Linux's parent-death signal, and the pipe they
    watch where that is missing), instead of running on in their own session where Ctrl-C cannot reach them."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, "1" if pdeathsig else "0"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    time.sleep(0.5)   # (the pipe reads end-of-file whenever the child's watcher starts, before or after this)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)
    t0 = time.time()
    while time.time() - t0 < 30:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        try:
            with open(f"/proc/{child}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":   # exited, not yet reaped by init
                    return
        except FileNotFoundError:
            return
        time.sleep(0.2)
    os.kill(child, signal.SIGKILL)
    raise AssertionError("the worker outlived its parent by 30 s")

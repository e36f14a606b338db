"""Sweep workers as separate processes: two at once on one study, and one killed with SIGKILL mid-trial."""
from __future__ import annotations

import os
import signal
import time

from optuna.trial import TrialState

from experiments import sweep
from test_sweep_helpers import journal_study, runs, tiny_args, worker


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


def test_a_worker_killed_mid_trial_is_recovered_by_the_next_run(tmp_path):
    root = tmp_path / "mlruns"
    args = tiny_args(root, trials=2, iters=24, eval_every=4, metrics="content")   # a checkpoint every 8 iterations
    proc = worker(args)
    number = _wait_for_checkpoint(root, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)

    study = journal_study(root)
    assert study.get_trials()[number].state == TrialState.RUNNING   # what a dead worker leaves behind
    assert sweep.main(args) == 0                                     # the next run recovers it

    study = journal_study(root)
    trials = study.get_trials()
    dead = trials[number]
    assert dead.state == TrialState.FAIL and "died mid-trial" in dead.user_attrs["fail_reason"]
    retries = [t for t in trials if t.system_attrs.get("retry_history") == [number]]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE and retries[0].params == dead.params
    finished = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(finished) == 2
    by_number = {r.data.tags["optuna.trial_number"]: r for r in runs(root, "trial")}
    assert by_number[str(number)].info.status == "FAILED"
    assert "died mid-trial" in by_number[str(number)].data.tags["munit.fail_reason"]
    resumed = by_number[str(retries[0].number)].data.tags
    assert resumed["munit.retry_of"] == str(number) and int(resumed["munit.resumed_at"]) >= 4

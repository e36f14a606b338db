"""Seed replicates: a trial trains its configuration with K seeds in lockstep, each seed a run nested under the
trial's run, Optuna gets their mean; evaluation repeats log mean and std; analysis shows mean ± CI and says what is
significant; an interrupted multi-seed trial resumes every seed from its own checkpoint."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from optuna.trial import TrialState

from experiments import sweep
from experiments.trial import TrialRunner
from test_sweep_helpers import client, journal_study, runs, tiny_args


def _seed_runs(c, trial_run):
    exp = trial_run.info.experiment_id
    return sorted(c.search_runs([exp], filter_string=f"tags.`mlflow.parentRunId` = '{trial_run.info.run_id}'"),
                  key=lambda r: int(r.data.tags["munit.seed"]))


def test_seed_runs_nest_under_their_trial_and_optuna_gets_the_mean(tmp_path, capsys):
    root = tmp_path / "mlruns"
    assert sweep.main(tiny_args(root, iters=4, eval_every=2, trials=3, metrics="content", objective="fit/mean") +
                      ["--blog", "--seeds", "2", "--eval-repeats", "2", "--pruner", "none"]) == 0
    study, c = journal_study(root), client(root)
    assert study.user_attrs["settings"]["seeds"] == 2
    for run in runs(root, "trial"):
        trial = study.get_trials()[int(run.data.tags["optuna.trial_number"])]
        seeds = _seed_runs(c, run)
        assert [int(s.data.tags["munit.seed"]) for s in seeds] == [0, 1] == trial.user_attrs["seeds"]
        assert all(s.data.tags["munit.role"] == "seed" and s.info.status == "FINISHED" for s in seeds)
        per_seed = [s.data.metrics["fit/mean"] for s in seeds]
        assert trial.value == pytest.approx(np.mean(per_seed))                         # Optuna: the mean
        assert run.data.metrics["fit/mean"] == pytest.approx(np.mean(per_seed))
        assert run.data.metrics["fit/mean_std"] == pytest.approx(np.std(per_seed, ddof=1))
        assert sorted(trial.intermediate_values) == [2, 4]                            # reported in lockstep
        assert all("fit/mean_std" in s.data.metrics for s in seeds)                   # evaluation repeats' spread
        assert {"loss/g", "lr"} <= set(seeds[0].data.metrics) and "loss/g" not in run.data.metrics
        images = {a.path.split("+")[0] for a in c.list_artifacts(run.info.run_id, "images")}
        assert "images/samples~a2b" in images                                         # seed 0's grids on the trial
        # each seed's checkpoint is stored once, in its run folder, and named by a tag (not an artifact copy)
        assert c.list_artifacts(seeds[1].info.run_id, "checkpoints") == []
        ckpt = Path(seeds[1].data.tags["munit.checkpoint"])
        assert ckpt.is_file() and ckpt.parts[-4:] == (str(trial.number), "seed-1", "checkpoints", "last.pt")

    from analysis.cli import main as analysis
    capsys.readouterr()
    uri, storage = f"sqlite:///{root / 'mlflow.db'}", str(root / "optuna.journal")
    assert analysis(["blog", "-e", "munit-sweep", "--tracking-uri", uri, "--storage", storage, "--out",
                     str(tmp_path / "blog")]) == 0
    out = capsys.readouterr().out
    assert " ± " in out and "| seeds" in out and "measured verdict" in out and "blog trial 3 (#2)" in out
    assert "trial 2 vs trial 1: fit error (RMS, style marginalised) " in out and "2 seeds each" in out
    assert analysis(["compare", "-e", "munit-sweep", "--tracking-uri", uri, "--storage", storage]) == 0
    assert "Holm-corrected" in capsys.readouterr().out


def test_an_interrupted_multi_seed_trial_resumes_every_seed(tmp_path, monkeypatch, capsys):
    root = tmp_path / "mlruns"
    build = TrialRunner._train

    def interrupt_once(self, trial, configs, folder, run_id, seeds):
        if trial.number == 0 and not (root / "interrupted").exists():
            (root / "interrupted").touch()
            from munit.trainer import Trainer
            fit = Trainer.fit

            def fit_then_stop(tr, until=None):
                res = fit(tr, until)
                if tr.cfg.seed == 1 and tr.step == 4:
                    os.kill(os.getpid(), signal.SIGINT)   # Ctrl-C while the second seed trains
                    return fit(tr, until=tr.step + 1)
                return res
            monkeypatch.setattr(Trainer, "fit", fit_then_stop)
        return build(self, trial, configs, folder, run_id, seeds)

    monkeypatch.setattr(TrialRunner, "_train", interrupt_once)
    args = tiny_args(root, iters=8, eval_every=4, trials=1, metrics="content", objective="fit/mean") + ["--seeds", "2"]
    assert sweep.main(args) == 130
    monkeypatch.undo()
    study = journal_study(root)
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL, TrialState.WAITING]
    folder = root / "trials" / "munit-sweep" / "0"
    assert (folder / "seed-0" / "checkpoints" / "last.pt").is_file() and (folder / "seed-1" / "checkpoints").is_dir()

    assert sweep.main(args) == 0
    retry = journal_study(root).get_trials()[1]
    assert retry.state == TrialState.COMPLETE and retry.system_attrs["retry_history"] == [0]
    c = client(root)
    (run,) = [r for r in runs(root, "trial") if r.data.tags["optuna.trial_number"] == "1"]
    for s in _seed_runs(c, run):
        assert int(s.data.tags.get("munit.resumed_at", -1)) >= 4, (s.info.run_name, s.data.tags)                             # each seed from its checkpoint
        assert [m.step for m in c.get_metric_history(s.info.run_id, "fit/mean")] == [4, 8]


def test_patient_pruner_spares_a_trial_that_still_improves():
    import optuna

    from experiments.settings import new_settings
    from experiments.study import make_pruner

    def study_with(name):
        study = optuna.create_study(pruner=make_pruner(name, new_settings({}, cuda=False)))
        for v in (0.1, 0.2, 0.3, 0.4, 0.5):   # the median pruner's five start-up trials
            t = study.ask()
            for step in (1, 2, 3):
                t.report(v, step)
            study.tell(t, v)
        return study

    plain, patient = study_with("median"), study_with("patient")
    t = plain.ask()
    t.report(0.9, 1)
    assert t.should_prune()                # the median pruner: out at the first bad evaluation
    improving = patient.ask()
    for step, v in ((1, 0.9), (2, 0.8), (3, 0.7)):
        improving.report(v, step)
        assert not improving.should_prune()  # worse than the median, but still getting better
    stuck = patient.ask()
    for step, v in ((1, 0.9), (2, 0.95), (3, 0.97)):
        stuck.report(v, step)
    assert stuck.should_prune()            # no better for two evaluations and below the median: out


def _seed_sweep(root, *extra):
    return tiny_args(root, iters=12, eval_every=4, trials=1, metrics="content") + [
        "--seeds", "2", "--sampler-seed", "0", "--pruner", "none", *extra]


def test_a_retried_multi_seed_trial_is_bit_exact_and_averages_same_step_values(tmp_path, monkeypatch, capsys):
    """Ctrl-C while seed 1 trains towards the second evaluation, and seed 1's checkpoint lost (as after a kill
    before its first checkpoint, its log lines kept): the retry reports the same mean at every evaluation as the
    uninterrupted trial, bit for bit -- each seed has its own random stream, saved with its checkpoint; each mean
    averages the seeds' values of that evaluation; seed 1 starts again from 0 with its old log lines dropped."""
    from munit.trainer import Trainer

    plain = tmp_path / "plain"
    assert sweep.main(_seed_sweep(plain)) == 0
    (want,) = journal_study(plain).get_trials()

    root = tmp_path / "killed"
    fit = Trainer.fit

    def fit_then_stop(tr, until=None):
        res = fit(tr, until)
        if tr.cfg.seed == 1 and tr.step == 8:
            os.kill(os.getpid(), signal.SIGINT)   # Ctrl-C while seed 1 trains on from 8: seed 0 is at 8 already
            return fit(tr, until=tr.step + 1)
        return res
    monkeypatch.setattr(Trainer, "fit", fit_then_stop)
    assert sweep.main(_seed_sweep(root)) == 130
    monkeypatch.undo()
    seed1 = root / "trials" / "munit-sweep" / "0" / "seed-1"
    (seed1 / "checkpoints" / "last.pt").unlink()          # lost: seed 1 restarts from iteration 0
    assert sweep.main(_seed_sweep(root)) == 0
    retry = journal_study(root).get_trials()[1]
    assert retry.state == TrialState.COMPLETE
    assert retry.intermediate_values == want.intermediate_values, (retry.intermediate_values,
                                                                   want.intermediate_values)
    assert retry.value == want.value
    folder = root / "trials" / "munit-sweep" / "1"
    for name in ("log.jsonl", "metrics.jsonl"):
        steps = [json.loads(line)["step"] for line in (folder / "seed-1" / name).read_text().splitlines()]
        assert steps == sorted(set(steps)), (name, steps)   # no step twice

    # two seeds side by side in threads: the same numbers
    side = tmp_path / "side"
    assert sweep.main(_seed_sweep(side, "--seed-workers", "2")) == 0
    (got,) = journal_study(side).get_trials()
    assert got.intermediate_values == want.intermediate_values and got.value == want.value


def test_dead_worker_recovery_closes_the_trial_run_and_its_seed_runs(tmp_path):
    """A worker killed mid-trial leaves its trial run and every seed run RUNNING; recovery fails them all."""
    from types import SimpleNamespace

    from experiments.tracking import create_seed_run, create_trial_run
    from experiments.workers import TrialRecovery

    root = tmp_path / "mlruns"
    tiny_args(root)                                   # the migrated empty store
    c = client(root)
    exp = c.create_experiment("munit-sweep")
    parent = c.create_run(exp).info.run_id
    run_id = create_trial_run(c, exp, parent, "trial-000", {"optuna.trial_number": "0"}, {})
    seeds = [create_seed_run(c, exp, run_id, {"optuna.trial_number": "0"}, s, {}) for s in (0, 1, 2)]
    c.set_terminated(seeds[0], "FINISHED")            # a seed that had finished keeps its status
    dead = SimpleNamespace(number=0, user_attrs={"mlflow_run_id": run_id})
    TrialRecovery(f"sqlite:///{root / 'mlflow.db'}", tmp_path / "locks").close_run(dead, "worker died")
    assert c.get_run(run_id).info.status == "FAILED"
    assert [c.get_run(s).info.status for s in seeds] == ["FINISHED", "FAILED", "FAILED"]

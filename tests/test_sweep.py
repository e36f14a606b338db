"""The sweep in one process: what a study writes to Optuna and MLflow (docs/tracking.md), resume, failures, NaN,
Ctrl-C, the search space and the blog's protocol scaling."""
from __future__ import annotations

import json
import math
import os
import re
import signal
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from PIL import Image

from munit.programs import PROGRAMS

from experiments import sweep
from experiments.trial import TrialRunner
from experiments.presets import BLOG_TRIALS, blog_params
from experiments.schedule import Schedule
from experiments.settings import StudySettings
from experiments.space import load_space
from munit.config import ConfigError
from test_sweep_helpers import client, journal_study, journal_study_storage, runs, tiny_args



def _ctrl_c_at(monkeypatch, build, trial: str, step: int, fresh_only: bool = False) -> None:
    """SIGINT to this process when trial ``trial``'s trainer logs iteration ``step`` (``fresh_only``: not when the
    trial resumes), through the trainer factory ``build`` (TrialRunner._trainer before patching)."""
    def trainer(self, configs, out_dir, logger, resume):
        t = build(self, configs, out_dir, logger, resume)
        if out_dir.name == trial and not (fresh_only and resume):
            on_log = logger.on_log

            def log_then_interrupt(at, scalars):
                on_log(at, scalars)
                if at == step:
                    os.kill(os.getpid(), signal.SIGINT)
            logger.on_log = log_then_interrupt
        return t

    monkeypatch.setattr(TrialRunner, "_trainer", trainer)

def _by_number(study):
    return {t.number: t for t in study.get_trials()}


def test_sweep_tracks_trials_in_mlflow_and_resumes_without_duplicates(tmp_path, capsys):
    root = tmp_path / "mlruns"
    assert sweep.main(tiny_args(root, trials=3, baselines=True) + ["--blog"]) == 0
    out = capsys.readouterr().out
    assert f"mlflow ui --backend-store-uri sqlite:///{root}/mlflow.db" in out and "best: trial" in out
    # the answer to "did it work?", against the baselines read back from MLflow, then what to run next
    assert re.search(r"did it work\? best \S+ (beats|does NOT beat) every baseline \((next|best): \w+ \S+\); "
                     r"\d of \d complete trials? do", out), out
    assert "python -m munit translate --checkpoint " in out and "analysis compare --experiment munit-sweep" in out

    study = journal_study(root)
    trials = study.get_trials()
    assert [t.number for t in trials] == [0, 1, 2]
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert [t.user_attrs["blog_trial"] for t in trials] == [1, 2, 3]   # enqueued first, in order
    assert set(trials[0].params) == set(load_space().names)                # exactly the swept names
    assert {"lambda_x", "lambda_s", "lambda_c", "lambda_cyc", "lr_step"} <= set(trials[0].params)
    assert trials[0].params["lambda_cyc"] == 0.0 and trials[2].params["lambda_cyc"] == 10.0
    assert trials[2].params["lr_step"] < trials[1].params["lr_step"]   # 3 vs 10 epochs, scaled
    assert study.user_attrs["objective"] == "fitn/worst" and study.user_attrs["settings"]["iters"] == 8
    assert all(t.intermediate_values for t in trials)                  # reported at each evaluation

    parents, children = runs(root, "study"), runs(root, "trial")
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert study.user_attrs["mlflow_parent_run_id"] == parent.info.run_id
    assert parent.data.tags["optuna.directions"] == "minimize" and parent.info.status == "FINISHED"
    c = client(root)
    for run in children:
        tags, number = run.data.tags, int(run.data.tags["optuna.trial_number"])
        trial = _by_number(study)[number]
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert trial.user_attrs["mlflow_run_id"] == run.info.run_id          # linked both ways
        assert tags["optuna.state"] == trial.state.name and tags["munit.blog_trial"] == str(number + 1)
        base = f"trial-{number:03d}-blog{number + 1}"   # + the outcome: the runs table reads without a click
        if trial.state == TrialState.COMPLETE:
            assert run.info.run_name == f"{base} · fitn/worst {trial.value:.4g}"
        else:
            assert run.info.run_name == f"{base} · pruned@{max(trial.intermediate_values)}"
        # pruned is a normal outcome: a green FINISHED, told apart from a FAILED one (tag and name say pruned)
        assert run.info.status == {"COMPLETE": "FINISHED", "PRUNED": "FINISHED"}[trial.state.name]
        # a display value, 3 significant digits; the exact value is the study's
        assert run.data.params["lambda_x"] == f"{trial.params['lambda_x']:.3g}"
        assert run.data.params["lr_step"] == str(trial.params["lr_step"]) and run.data.params["iters"] == "8"
        assert tags["munit.backbone.content"]
        losses = c.get_metric_history(run.info.run_id, "loss/x")
        assert len(losses) >= 2 and all(math.isfinite(m.value) for m in losses)
        for key in ("lr", "it_per_s", "content/mean", "acc/mean", "fcd/mean", "objective", "wall_s"):
            assert key in run.data.metrics, key
        evals = c.get_metric_history(run.info.run_id, "content/mean")
        assert [m.step for m in evals][:1] == [4]
        artifacts = {a.path for a in c.list_artifacts(run.info.run_id)}
        assert {"config.json", "log.jsonl", "images"} <= artifacts
        # the checkpoint is stored once: in the trial's folder (what resume uses), named by a tag, not copied
        assert "checkpoints" not in artifacts
        ckpt = root / "trials" / study.study_name / str(number) / "checkpoints" / "last.pt"
        assert tags["munit.checkpoint"] == str(ckpt.resolve()) and ckpt.is_file()
        images = [a.path for a in c.list_artifacts(run.info.run_id, "images")]
        assert any("samples~a2b+step+" in p for p in images) and any("samples~b2a" in p for p in images)
        finals = [p for p in images if "samples~final_a2b+step+" in p and "compressed" not in p]
        assert len(finals) == 1   # the last grid once more, one step: MLflow's image card shows it at once

    # the reference rows: every baseline scored once, with the study's metrics, nested in the parent run
    baselines = runs(root, "baseline")
    from munit.programs import PROGRAMS
    assert [r.data.tags["munit.baseline"] for r in baselines] == ["oracle", "identity", "negation", "constant",
                                                                    "fixed_image", "random_init", "style_noise",
                                                                    *PROGRAMS]
    assert "baselines (fitn/worst" in out and study.user_attrs["baselines"] == sorted(
        r.data.tags["munit.baseline"] for r in baselines)
    for r in baselines:
        assert r.data.tags["mlflow.parentRunId"] == parent.info.run_id and r.info.status == "FINISHED"
        assert r.data.tags["optuna.state"] == "BASELINE"     # their own group in the linked view
        assert r.data.metrics["objective"] == r.data.metrics["fitn/worst"]
        assert {"content/mean", "acc/mean", "fcd/mean", "acc/classifier_val"} <= set(r.data.metrics)
        assert r.info.run_name == f"baseline · {r.data.tags['munit.baseline']} · fitn/worst {r.data.metrics['fitn/worst']:.4g}"
    fit = {r.data.tags["munit.baseline"]: r.data.metrics["fit/mean"] for r in baselines}
    assert fit["oracle"] < 0.01 < min(v for k, v in fit.items() if k != "oracle")
    worst = {r.data.tags["munit.baseline"]: r.data.metrics["fitn/worst"] for r in baselines}
    assert worst["oracle"] < 0.2 and min(v for k, v in worst.items() if k != "oracle") >= 1 - 1e-9

    # resume: a larger --trials adds the difference; the blog's trials are not enqueued again
    assert sweep.main(tiny_args(root, trials=5, baselines=True) + ["--blog"]) == 0
    study = journal_study(root)
    assert [t.number for t in study.get_trials()] == [0, 1, 2, 3, 4]
    assert sorted(t.user_attrs.get("blog_trial", 0) for t in study.get_trials()) == [0, 0, 1, 2, 3]
    assert len(runs(root, "trial")) == 5 and len(runs(root, "study")) == 1 and len(runs(root, "baseline")) == 7 + len(PROGRAMS)
    # a finished study runs nothing more, and stored settings need not be repeated
    assert sweep.main(["--root", str(root), "--trials", "5", "--no-progress"]) == 0
    assert len(journal_study(root).get_trials()) == 5
    # ... but may not be contradicted
    capsys.readouterr()
    assert sweep.main(["--root", str(root), "--trials", "6", "--lr", "0.1"]) == 2
    assert "already exists with other settings: --lr 0.1" in capsys.readouterr().err


@pytest.fixture
def faulty_trials(monkeypatch):
    """Trial 0 raises, trial 1's losses go NaN at iteration 3, the others train normally."""
    build = TrialRunner._trainer

    def trainer(self, configs, out_dir, logger, resume):
        t = build(self, configs, out_dir, logger, resume)
        number = int(out_dir.name)
        if number == 0:
            def boom(until=None):   # Trainer.fit's signature
                raise RuntimeError("boom: forced failure")
            t.fit = boom
        if number == 1:
            step = t.train_step

            def nan_step(x_a, x_b):
                losses = step(x_a, x_b)
                return losses * float("nan") if t.step >= 2 else losses
            t.train_step = nan_step
        return t

    monkeypatch.setattr(TrialRunner, "_trainer", trainer)


def test_failed_and_nan_trials_are_recorded_and_the_study_goes_on(tmp_path, faulty_trials, capsys):
    root = tmp_path / "mlruns"
    assert sweep.main(tiny_args(root, trials=3)) == 0
    study = journal_study(root)
    t = _by_number(study)
    assert t[0].state == TrialState.FAIL and t[0].user_attrs["fail_reason"] == "RuntimeError: boom: forced failure"
    assert t[1].state == TrialState.FAIL and "became NaN/Inf at iteration 3" in t[1].user_attrs["fail_reason"]
    assert t[2].state == TrialState.COMPLETE
    by_run = {r.data.tags["optuna.trial_number"]: r for r in runs(root, "trial")}
    for n in ("0", "1"):
        assert by_run[n].info.status == "FAILED" and by_run[n].data.tags["optuna.state"] == "FAIL"
        assert " · failed" in by_run[n].info.run_name
        assert by_run[n].data.tags["munit.fail_reason"] == t[int(n)].user_attrs["fail_reason"]
    assert "error.txt" in {a.path for a in client(root).list_artifacts(by_run["0"].info.run_id)}
    out = capsys.readouterr().out
    lines = {int(m.group(1)): m.group(2) for m in re.finditer(r"^trial +(\d+) +(.*)$", out, re.M)}
    assert lines[0].startswith("failed") and "RuntimeError: boom" in lines[0]
    assert lines[1].startswith("failed") and "loss" in lines[1] and lines[2].startswith("complete")


def test_ctrl_c_stops_cleanly_and_the_rerun_resumes_the_trial(tmp_path, monkeypatch, capsys):
    root = tmp_path / "mlruns"
    build = TrialRunner._trainer

    _ctrl_c_at(monkeypatch, build, "1", step=4, fresh_only=True)   # the user presses Ctrl-C during trial 1
    assert sweep.main(tiny_args(root, trials=2)) == 130
    err = capsys.readouterr().err
    assert "stopped by Ctrl-C" in err and "Continue with: python experiments/sweep.py" in err
    assert "Traceback" not in err
    study = journal_study(root)
    t1 = _by_number(study)[1]
    assert t1.state == TrialState.FAIL and t1.user_attrs["fail_reason"].startswith("interrupted at iteration")
    assert [t.state for t in study.get_trials()][2:] == [TrialState.WAITING]   # queued to resume
    (run1,) = [r for r in runs(root, "trial") if r.data.tags["optuna.trial_number"] == "1"]
    assert run1.info.status == "FAILED" and run1.data.tags["munit.fail_reason"].startswith("interrupted")
    assert runs(root, "study")[0].info.status == "KILLED"

    assert sweep.main(tiny_args(root, trials=2)) == 0
    study = journal_study(root)
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    retry = study.get_trials()[2]
    assert retry.params == t1.params and retry.system_attrs["retry_history"] == [1]
    (run2,) = [r for r in runs(root, "trial") if r.data.tags["optuna.trial_number"] == "2"]
    assert run2.data.tags["munit.retry_of"] == "1" and int(run2.data.tags["munit.resumed_at"]) > 0
    history = client(root).get_metric_history(run2.info.run_id, "loss/x")
    assert [m.step for m in history] == [4, 8]   # the dead run's curve up to the checkpoint, then the rest
    assert runs(root, "study")[0].info.status == "FINISHED"


def test_search_space_contains_blog_and_official_values_and_reads_overrides(tmp_path):
    space = load_space().in_iterations(Schedule(epoch_iters=4739, scale=1.0))
    for bt in BLOG_TRIALS:
        assert space.outside(blog_params(bt, Schedule(4739, 1.0))) == []
    for cyc in (0.0, 10.0):   # the official edges2shoes / summer2winter configs
        assert space.outside({"lambda_x": 10.0, "lambda_s": 1.0, "lambda_c": 1.0, "lambda_cyc": cyc}) == []
    assert space.params["lr_step"].low == round(2 * 4739) and space.params["lr_step"].unit == "iters"

    override = tmp_path / "space.yaml"
    override.write_text("lambda_cyc: {high: 5}\nlr_step: {low: 100, high: 1000, unit: iters}\n")
    custom = load_space(override)
    assert custom.params["lambda_cyc"].high == 5 and custom.params["lambda_cyc"].step == 0.5
    assert custom.in_iterations(Schedule(4739, 1.0)).params["lr_step"].high == 1000
    assert custom.outside({"lambda_cyc": 10.0}) != []
    bad = tmp_path / "bad.json"
    bad.write_text('{"lambda_q": {"low": 1, "high": 2}}')
    with pytest.raises(ConfigError, match="unknown parameter 'lambda_q'"):
        load_space(bad)
    bad.write_text('{"lambda_cyc": {"low": 0, "high": 2, "log": true}}')
    with pytest.raises(ConfigError, match="log: true needs low > 0"):
        load_space(bad)


def test_scale_shrinks_every_iteration_count_proportionally():
    full, tenth = Schedule(epoch_iters=4739, scale=1.0), Schedule(epoch_iters=4739, scale=0.1)
    assert full.total == 30 * 4739 and tenth.total == round(3 * 4739)
    assert blog_params(BLOG_TRIALS[0], full)["lr_step"] == 10 * 4739
    assert blog_params(BLOG_TRIALS[2], tenth)["lr_step"] == round(0.3 * 4739)
    assert Schedule.for_iters(160, 240).scale == pytest.approx(240 / 4800)


def test_reproduce_blog_runs_exactly_the_three_trials_with_the_same_styles(tmp_path):
    from experiments import reproduce_blog
    from munit.inference import load_generators

    root = tmp_path / "mlruns"
    assert reproduce_blog.main(tiny_args(root, iters=4, metrics="content")) == 0
    study = journal_study(root, "munit-blog")
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    settings = StudySettings.from_dict(study.user_attrs["settings"])
    sched = Schedule(**{k: study.user_attrs["settings"][k] for k in ("epoch_iters", "scale")})
    assert [t.params for t in trials] == [blog_params(bt, sched, settings.search_space, settings.configs())
                                          for bt in BLOG_TRIALS]
    styles = [load_generators(root / "trials" / "munit-blog" / str(t.number) / "checkpoints" / "last.pt")[3]
              ["fixed_styles"] for t in trials]
    assert all((s == styles[0]).all() for s in styles)
    assert reproduce_blog.main(tiny_args(root, iters=4) + ["--trials", "5"]) == 2   # the three, nothing else


# ----------------------------------------------------------------------------------- hardening

@pytest.mark.parametrize("extra, needle", [
    (["--batch-size", "500"], "--batch-size 500 is larger than domain"),
    (["--data", "AFHQ_WITHOUT_VAL", "--preset", "tiny", "--objective", "fcd"], "no images in domain folder"),
    (["--study-name", "VICTIM"], "a study name is also a folder name; use only letters, digits"),
    (["--study-name", "../escape"], "use only letters, digits"),
    (["--study-name", "it's"], "use only letters, digits"),
    (["--space", "BAD.yaml"], "is not valid YAML"),
    (["--space", "BAD.json"], "is not valid JSON"),
    (["--space", "ABC.yaml"], "bad search space entry 'lambda_x'"),
    (["--space", "LATIN1.yaml"], "is not UTF-8 text"),
    (["--space", "NUMBER.yaml"], "parameter name 123 must be letters"),
    (["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
    (["--synthetic-train", "0"], "--synthetic-train must be >= 1, got 0"),
    (["--lr", "0"], "--lr must be a finite number > 0, got 0"),
    (["--eval-every", "0"], "--eval-every must be >= 1, got 0"),
    (["--root", "A_FILE"], "is a file, not a folder"),
])
def test_bad_settings_and_names_fail_before_the_study_exists(tmp_path, capsys, extra, needle):
    """Settings that would fail every trial, and study names that would leave --root (an absolute path, '..') or
    break MLflow's queries (quotes), end with one line before the study or any MLflow run exists -- and nothing
    outside --root is touched."""
    root = tmp_path / "mlruns"
    victim = tmp_path / "victim"
    (victim / "0").mkdir(parents=True)
    (victim / "0" / "keep.txt").write_text("the user's file")
    afhq = tmp_path / "afhq"
    for split, dom, n in (("train", "dog", 4), ("train", "cat", 4), ("val", "dog", 2), ("val", "cat", 0)):
        (afhq / split / dom).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (8, 8), (i, 0, 0)).save(afhq / split / dom / f"{i}.png")
    (tmp_path / "BAD.yaml").write_text("lambda_x: {low: 1, high: [2\n")
    (tmp_path / "BAD.json").write_text('{"lambda_x": {"low": 1,}}')
    (tmp_path / "ABC.yaml").write_text("lambda_x: {low: abc}\n")
    (tmp_path / "LATIN1.yaml").write_bytes("# Gew\u00e4hlt\nlambda_x: {low: 1, high: 2}\n".encode("latin-1"))
    (tmp_path / "NUMBER.yaml").write_text("123: {low: 1, high: 2, sets: weights.x}\n")
    (tmp_path / "A_FILE").write_text("not a folder")
    names = {"VICTIM": str(victim), "AFHQ_WITHOUT_VAL": str(afhq), "A_FILE": str(tmp_path / "A_FILE")}
    extra = [names.get(a, str(tmp_path / a) if a.endswith((".yaml", ".json")) else a) for a in extra]

    assert sweep.main(tiny_args(root, trials=1, store=False) + extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err
    assert (victim / "0" / "keep.txt").read_text() == "the user's file"
    assert not (root / "mlflow.db").exists() and not (tmp_path / "escape").exists()
    assert not (root / "optuna.journal").exists() or not optuna.get_all_study_names(journal_study_storage(root))


def test_passwords_are_masked_everywhere():
    """One function masks storage and tracking passwords: with '@' or '/' in them, or as ?password=; in the parent
    run's tag, the summary and the command printed after Ctrl-C."""
    from experiments.contract import mask_url
    from experiments.settings import new_settings
    from experiments.study import parent_tags

    for url, secret in (("postgresql://u:pw@db/optuna", "pw"), ("postgresql://u:p@ss@db/optuna", "p@ss"),
                        ("postgresql://u:pa/ss@db:5432/optuna", "pa/ss"),
                        ("postgresql://u@db/optuna?sslmode=require&password=s3cret", "s3cret")):
        masked = mask_url(url)
        assert secret not in masked and "***" in masked and masked.endswith(("optuna", "***")), masked
    storage, tracking = "postgresql://u:p@ss/1@db/optuna", "http://u:t0ken@mlflow:5000"
    cmd = sweep.continue_command(["--storage", storage, "--tracking-uri", tracking, "--trials", "3"])
    settings = new_settings({}, cuda=False)
    summary = sweep.format_summary(sweep.SweepSummary("s", storage, tracking, "1", "r", Path("t"), settings, 3, {},
                                                      [], 1.0))
    for text in (cmd, parent_tags(storage, settings)["optuna.storage"], summary):
        assert "p@ss" not in text and "ss/1" not in text and "t0ken" not in text and "***" in text


def test_a_rerun_with_the_same_sampler_seed_draws_new_configurations(tmp_path):
    """--sampler-seed 7 --trials 2, then the same with --trials 4, must not replay trials 0-1 (a fresh study with
    the seed stays reproducible)."""
    from experiments.settings import new_settings, stored_options
    from experiments.storage import open_journal
    from experiments.study import open_study

    s = new_settings({}, cuda=False)

    def draw(storage):
        study = open_study("s", storage, s, stored_options({}, s), "tpe", 7, None)
        trial = study.ask()
        params = s.search_space.suggest(trial)
        study.tell(trial, 1.0)
        return params

    storage = open_journal(tmp_path / "a.journal")
    first, rerun = draw(storage), draw(storage)
    assert rerun != first and draw(open_journal(tmp_path / "b.journal")) == first


def test_a_stop_in_the_last_iteration_is_honoured_and_foreign_folders_are_moved_aside(tmp_path, monkeypatch, capsys):
    """Ctrl-C during a trial's last iteration (or final evaluation): the trial completes and the sweep stops. A
    folder in the trial's place that munit did not make is moved aside, never deleted."""
    root = tmp_path / "mlruns"
    trials = root / "trials" / "munit-sweep"
    (trials / "0").mkdir(parents=True)
    (trials / "0" / "keep.txt").write_text("the user's file")
    build = TrialRunner._trainer

    def trainer(self, configs, out_dir, logger, resume):
        t = build(self, configs, out_dir, logger, resume)
        on_log = logger.on_log

        def log_then_interrupt(step, scalars):
            on_log(step, scalars)
            if step == configs["train"].iters:
                os.kill(os.getpid(), signal.SIGINT)
        logger.on_log = log_then_interrupt
        return t

    monkeypatch.setattr(TrialRunner, "_trainer", trainer)
    assert sweep.main(tiny_args(root, trials=2, iters=4, metrics="content")) == 130
    err = capsys.readouterr().err
    assert "stopped by Ctrl-C: trial 0 had finished training when Ctrl-C came" in err and "Traceback" not in err
    assert [t.state for t in journal_study(root).get_trials()] == [TrialState.COMPLETE]
    (aside,) = trials.glob("0.moved-*")
    assert (aside / "keep.txt").read_text() == "the user's file" and (trials / "0" / ".munit-run").is_file()


def test_a_full_disk_stops_the_sweep_and_its_trial_resumes_later(tmp_path, small_disk, monkeypatch, capsys):
    """The disk of the trial folders fills up during trial 1: one line, exit status 2, trial 1 FAIL (MLflow FAILED)
    with the reason and queued to retry, no further trial burnt; after space is freed, the rerun runs the retry."""
    from conftest import fill_up

    root = tmp_path / "mlruns"
    disk = small_disk(root / "trials")   # the trial folders' own disk; the stores stay on another
    build = TrialRunner._trainer

    def trainer(self, configs, out_dir, logger, resume):
        if out_dir.name == "1":
            fill_up(disk, leave=256 << 10)
        return build(self, configs, out_dir, logger, resume)

    monkeypatch.setattr(TrialRunner, "_trainer", trainer)
    args = tiny_args(root, iters=4, metrics="content")
    assert sweep.main(args + ["--trials", "3"]) == 2
    err = capsys.readouterr().err
    assert "error: no space left on device while writing " + str(disk / "munit-sweep" / "1") in err
    assert "Traceback" not in err
    trials = journal_study(root).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING]
    assert trials[1].user_attrs["fail_reason"].startswith("no space left on device while writing")
    (run1,) = [r for r in runs(root, "trial") if r.data.tags["optuna.trial_number"] == "1"]
    assert run1.info.status == "FAILED" and run1.data.tags["munit.fail_reason"] == trials[1].user_attrs["fail_reason"]

    (disk / ".filler").unlink()
    assert sweep.main(args + ["--trials", "2"]) == 0
    trials = journal_study(root).get_trials()
    assert trials[2].state == TrialState.COMPLETE and trials[2].system_attrs["retry_history"] == [1]


def test_a_torn_checkpoint_is_kept_aside_and_its_configuration_restarts(tmp_path, monkeypatch, capsys):
    """The checkpoint of a stopped trial is truncated (a crash, a bad copy): the retry keeps the broken file beside
    it and trains the configuration from iteration 0 instead of failing it for good."""
    root = tmp_path / "mlruns"
    build = TrialRunner._trainer

    _ctrl_c_at(monkeypatch, build, "0", step=4)
    assert sweep.main(tiny_args(root, trials=1, metrics="content")) == 130
    monkeypatch.undo()
    ckpt = root / "trials" / "munit-sweep" / "0" / "checkpoints" / "last.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    assert sweep.main(tiny_args(root, trials=1, metrics="content")) == 0
    retry = journal_study(root).get_trials()[1]
    assert retry.state == TrialState.COMPLETE and sorted(retry.intermediate_values) == [4, 8]
    folder = root / "trials" / "munit-sweep" / "1"
    assert [p.stat().st_size for p in (folder / "checkpoints").glob("last.pt.broken-*")] == [1000]
    steps = [json.loads(line)["step"] for line in (folder / "log.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))


@pytest.mark.parametrize("option", ["--tracking-uri", "--storage"])
def test_an_unreachable_server_is_one_line_with_the_password_masked(option, tmp_path, capsys):
    url = {"--tracking-uri": "http://user:SECRET@127.0.0.1:9",
           "--storage": "postgresql://user:SECRET@127.0.0.1:9/optuna"}[option]
    assert sweep.main(tiny_args(tmp_path / "mlruns", trials=1, store=False) + [option, url]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot reach ") and "user:***@127.0.0.1:9" in err, err
    assert "SECRET" not in err and len(err.splitlines()) == 1


def test_unforeseen_errors_and_log_records_mask_passwords(tmp_path, monkeypatch, capsys):
    """What a library raises or logs quotes the URL whole: the traceback and the log lines come out masked."""
    import logging

    def fail(cfg):
        logging.getLogger("mlflow.utils.rest_utils").warning("API request to %s failed", cfg.tracking)
        raise RuntimeError(f"API request to {cfg.tracking}/api/2.0/mlflow/runs/create failed")

    monkeypatch.setattr(sweep, "run_sweep", fail)
    url = "http://user:SECRET@mlflow.example:5000"
    assert sweep.main(tiny_args(tmp_path / "mlruns", trials=1, store=False) + ["--tracking-uri", url]) == 1
    err = capsys.readouterr().err
    assert "RuntimeError: API request to http://user:***@mlflow.example:5000/api" in err, err
    assert "SECRET" not in err


def test_a_torn_journal_tail_is_moved_aside_and_a_damaged_middle_is_one_line(tmp_path, capsys, caplog):
    """A crash mid-append leaves the journal's last record incomplete: the next sweep moves those bytes to a file
    beside the journal (with a warning) instead of appending onto them; a bad record before the end is one error
    line with the file, line and byte offset."""
    root = tmp_path / "mlruns"
    assert sweep.main(tiny_args(root, trials=1, iters=4, metrics="content")) == 0
    journal = root / "optuna.journal"
    torn = b'{"op_code":5,"worker_id":"dead","trial_id":0,"va'
    size = journal.stat().st_size
    with open(journal, "ab") as f:
        f.write(torn)
    capsys.readouterr()
    assert sweep.main(tiny_args(root, trials=2, iters=4, metrics="content")) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert "its last record was incomplete" in caplog.text
    (aside,) = root.glob("optuna.journal.torn-*")
    assert aside.read_bytes() == torn and aside.name.endswith(f"-{size}")
    assert [t.state for t in journal_study(root).get_trials()] == [TrialState.COMPLETE] * 2

    lines = journal.read_bytes().split(b"\n")
    journal.write_bytes(b"\n".join([lines[0], b'{"op_code": 1, "worker', *lines[1:]]))
    assert sweep.main(tiny_args(root, trials=3, iters=4, metrics="content")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {journal} line 2 (byte {len(lines[0]) + 1})") and len(err.splitlines()) == 1


def test_a_read_only_root_is_one_line(tmp_path, monkeypatch, capsys):
    """--root on a read-only file system (simulated: tests may run as root, whom permissions do not stop)."""
    import errno

    mkdir = Path.mkdir

    def read_only(self, *a, **kw):
        if self == tmp_path / "ro" or tmp_path / "ro" in self.parents:
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return mkdir(self, *a, **kw)
    monkeypatch.setattr(Path, "mkdir", read_only)
    assert sweep.main(tiny_args(tmp_path / "ro" / "mlruns", trials=1, store=False)) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: --root {tmp_path / 'ro' / 'mlruns'}: cannot create the folder (Read-only file system)"

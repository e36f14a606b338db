"""The study answers "did it work?" where the user looks -- the console summary (also when the parent of
several workers prints it), the best trial's and the parent run's MLflow descriptions, final vs best value."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from experiments import sweep
from experiments.verdict import Verdict, best_trial_note, final_vs_best, next_commands, parent_note
from test_sweep_helpers import client, runs, tiny_args


def _trial(number: int, value: float, steps: dict[int, float]):
    t = create_trial(value=value, params={"lr": 0.000798262191}, distributions={"lr": FloatDistribution(1e-5, 1e-2)},
                     intermediate_values=steps, user_attrs={"mlflow_run_id": "abc"}, state=TrialState.COMPLETE)
    t.number = number
    return t


def test_the_verdict_speaks_of_the_best_baseline_generically_and_keeps_the_ceiling_apart():
    refs = {"oracle": 0.001, "identity": 5.8, "some_program": 1.27, "another": 2.4}
    v = Verdict("fitn/worst", True, 4.59, [4.59, 6.0, 7.1], refs)
    assert v.sentence() == ("best 4.59 does NOT beat every baseline (best: some_program 1.27); "
                            "0 of 3 complete trials do")
    assert v.rank_among_baselines == 3 and "oracle scores 0.001" in v.ceiling()
    w = Verdict("acc/mean", False, 0.9, [0.9, 0.5, 0.85], {"x": 0.8, "y": 0.1})
    assert w.sentence() == "best 0.9 beats every baseline (next: x 0.8); 2 of 3 complete trials do"
    assert "no baseline rows" in Verdict("k", True, 1.0, [1.0], {}).sentence()


def test_final_vs_best_says_which_one_optuna_sees():
    t = _trial(3, 0.0746, {40: 0.0710, 80: 0.0746})
    text = final_vs_best(t, "fitn/worst", True)
    assert text.startswith("fitn/worst final 0.0746 (the last evaluation: what Optuna ranks)")
    assert "best evaluation 0.071 at iteration 40" in text
    assert "best evaluation" not in final_vs_best(_trial(3, 0.07, {40: 0.08, 80: 0.07}), "k", True)


def test_descriptions_of_the_best_trial_and_the_parent_run():
    t = _trial(3, 0.0746, {40: 0.0710, 80: 0.0746})
    v = Verdict("fitn/worst", True, 0.0746, [0.0746, 0.2], {"paint": 0.076, "identity": 5.0})
    note = best_trial_note(t, "fitn/worst", True, 1, 2, v, Path("mlruns/trials/s/3/checkpoints/last.pt"))
    assert note.startswith("**Best trial of the study** (rank 1 of 2 complete trials")
    assert "beats every baseline (next: paint 0.076)" in note and "rank 1 among the 2 baselines" in note
    assert "`lr` = 0.000798" in note and "mlruns/trials/s/3/checkpoints/last.pt" in note
    parent = parent_note("s", t, "fitn/worst", v, {"COMPLETE": 2})
    assert "Best: **trial 3** (MLflow run `abc`)" in parent and "beats every baseline" in parent


def test_next_commands_spell_out_non_default_stores():
    cmds = next_commands("s", "sqlite:///x/mlflow.db", "x/optuna.journal", Path("x/trials/s/1/checkpoints/last.pt"),
                         synthetic=True)
    assert cmds[0] == "python -m munit data export --n 8 --out examples/"
    assert cmds[1] == ("python -m munit translate --checkpoint x/trials/s/1/checkpoints/last.pt --input examples/A "
                       "--out out/translate")
    assert cmds[2] == ("python -m analysis compare --experiment s --tracking-uri sqlite:///x/mlflow.db --storage "
                       "x/optuna.journal --brief")
    assert next_commands("s", "sqlite:///mlruns/mlflow.db", "mlruns/optuna.journal", Path("c"), False)[-1] == \
        "python -m analysis report --experiment s"


def test_the_parent_of_several_workers_prints_the_verdict_and_describes_the_runs(tmp_path, capsys, monkeypatch):
    """Default multi-worker mode: workers run with --no-summary; the parent still prints the comparison and the
    next commands, and sets the descriptions. The workers run in this process here (cheap)."""
    import experiments.workers as workers

    root = tmp_path / "mlruns"
    args = tiny_args(root, iters=4, eval_every=2, trials=1, metrics="fit")
    ran = []

    def spawn(argv, n, threads, device):
        ran.append(n)
        assert sweep.main([*argv, "--workers", "1", "--worker-index", "0", "--no-summary"]) == 0
    monkeypatch.setattr(workers, "spawn_workers", spawn)
    args[args.index("--workers") + 1] = "2"
    assert sweep.main(args) == 0 and ran == [2]
    out = capsys.readouterr().out
    assert "did it work? best" in out and "no baseline rows to compare with" in out, out
    assert "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri sqlite:///" in out   # lean UI
    from experiments.mlflow_ui import RELOAD_HINT     # how to get the view back (test_browser: both ways work)
    assert RELOAD_HINT in " ".join(out.split()), out
    ckpt = root / "trials" / "munit-sweep" / "0" / "checkpoints" / "last.pt"
    assert f"its checkpoint: {ckpt}" in out and ckpt.is_file()
    assert f"python -m munit translate --checkpoint {ckpt} --input examples/A --out out/translate" in out
    assert re.search(r"python -m analysis report --experiment munit-sweep --tracking-uri \S+ --storage \S+", out)
    parent, trial = runs(root, "study")[0], runs(root, "trial")[0]
    assert "Best: **trial 0**" in parent.data.tags["mlflow.note.content"]
    assert trial.data.tags["mlflow.note.content"].startswith("**Best trial of the study** (rank 1 of 1")


def test_swept_floats_are_logged_as_three_digit_display_values():
    from experiments.trial import display_value
    assert display_value(7.98262191e-05) == "7.98e-05" and display_value(12.3456) == "12.3"
    assert display_value(3) == 3 and display_value("adam") == "adam"


def test_trial_and_summary_lines_fit_the_terminal_but_commands_stay_whole(monkeypatch):
    from experiments.console import fit
    monkeypatch.setenv("COLUMNS", "60")
    long = "trial    3  complete   fitn/worst 4.59 (new best)   " + "  ".join(f"lambda_{i} 0.1234" for i in range(9))
    lines = fit(long, indent=" " * 17, fields=True).splitlines()
    assert len(lines) > 1 and max(map(len, lines)) <= 60 and lines[1].startswith(" " * 17 + "lambda_")
    url = "http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning&viewStateShareKey=x"
    assert url in fit(f"  runs: {url}").splitlines()[-1]   # never broken inside

"""What the terminal shows of a study: the header, the study bar and one readable line per trial."""
from __future__ import annotations

import datetime as dt
import io
import re

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from experiments.console import StudyConsole, eta_seconds, fmt, fmt_eta, header, trial_line


def _trial(number, state, value=None, reason=None, steps=None, blog=None):
    start = dt.datetime(2026, 1, 1)
    attrs = {k: v for k, v in (("fail_reason", reason), ("blog_trial", blog)) if v is not None}
    t = create_trial(state=state, value=value, params={"lambda_x": 7.123456, "lr_step": 115},
                     distributions={"lambda_x": FloatDistribution(1, 20),
                                    "lr_step": optuna.distributions.IntDistribution(1, 200)},
                     user_attrs=attrs, intermediate_values=steps or {})
    t.number, t.datetime_start, t.datetime_complete = number, start, start + dt.timedelta(seconds=16)
    return t


def test_one_number_format_and_readable_lines():
    assert [fmt(0.39504), fmt(115), fmt(1e-3), fmt(12.78)] == ["0.395", "115", "0.001", "12.78"]
    done = trial_line(_trial(17, TrialState.COMPLETE, 0.39504), ["content/mean"], best=17)
    assert re.match(r"trial +17  complete +content/mean 0\.395 \(new best\) +lambda_x 7\.123  lr_step 115  16 s$",
                    done), done
    pruned = trial_line(_trial(8, TrialState.PRUNED, steps={40: 0.7, 80: 0.6122}), ["content/mean"])
    assert "pruned@80" in pruned and "content/mean 0.6122" in pruned
    failed = trial_line(_trial(3, TrialState.FAIL, reason="RuntimeError: boom"), ["content/mean"])
    assert "failed" in failed and "RuntimeError: boom" in failed
    blog = trial_line(_trial(1, TrialState.COMPLETE, 0.5, blog=2), ["content/mean"])
    assert blog.endswith("[blog trial 2]")
    # the number format is the same on every line: no "0.3950" beside "0.395"
    assert "0.3950" not in done


def test_header_says_what_where_and_how_far():
    class S:  # the StudySettings fields the header reads
        data, preset, image_size, iters, eval_every = "synthetic", "tiny", 32, 120, 40
        objective_keys = ("content/mean",)
        search_space = type("Space", (), {"names": ["lambda_x", "lr_step"]})()

    lines = header("munit-sweep", S(), {"COMPLETE": 3, "PRUNED": 1}, 20, "sqlite:///mlruns/mlflow.db",
                   "postgresql://u:secret@db/optuna", ["minimize"], "http://127.0.0.1:5000/#/experiments/1/runs")
    text = "\n".join(lines)
    assert "study 'munit-sweep'" in text and "preset tiny (32 px)" in text and "content/mean (lower is better)" in text
    assert "trials 4/20 done (3 complete, 1 pruned)" in text
    assert "secret" not in text and "#/experiments/1/runs" in text


def test_study_bar_and_lines_on_a_terminal():
    out = io.StringIO()
    console = StudyConsole(3, 0, ["content/mean"], ["minimize"], stream=out, bar=True, iters=120)
    console.on_iteration(0, 40, 120)
    assert console.eta() is None                                         # nothing measured yet: "eta ?"
    console.on_trial(None, _trial(0, TrialState.COMPLETE, 0.6))
    console.on_trial(None, _trial(0, TrialState.COMPLETE, 0.6))       # shown once
    console.on_trial(None, _trial(1, TrialState.COMPLETE, 0.4))
    console.close()
    text = out.getvalue()
    assert text.count("trial    0  complete") == 1 and "trial    1  complete" in text
    assert "study: 2/3 trials" in text and "best 0.4 (trial 1)" in text and "trial 0: it 40/120" in text
    # 2 trials of 120 iterations in 16 s each: the third costs 16 s more
    assert "eta ?" in text and "eta 0:16" in text and console.eta() == 16


def test_eta_from_the_cost_per_iteration_and_the_pruners_expected_budget():
    # 0.5 s per iteration; ended trials reached 120, 40, 80 (pruned ones stop early): a new trial costs 80 its
    assert eta_seconds([], [], 5, 120) is None
    assert eta_seconds([(60, 120), (20, 40), (40, 80)], [], 2, 120) == 2 * 80 * 0.5
    # a running trial at 60: of the ended trials that got past 60 (120, 80), the mean rest is 40 iterations
    assert eta_seconds([(60, 120), (20, 40), (40, 80)], [60], 2, 120) == (160 + 40) * 0.5
    assert eta_seconds([(60, 120), (20, 40), (40, 80)], [60], 2, 120, workers=2) == (160 + 40) * 0.5 / 2
    assert eta_seconds([(60, 120), (20, 40), (40, 80)], [60, 100], 0, 120, workers=2) == 40 * 0.5  # the longest
    assert [fmt_eta(None), fmt_eta(274.4), fmt_eta(3723)] == ["eta ?", "eta 4:34", "eta 1:02:03"]


def test_eta_is_within_30_percent_once_3_trials_have_ended():
    """A synthetic 20-trial study on 2 workers: 3 s of start-up, 0.5 s/iteration +-15% per trial, 120 iterations
    with pruned trials stopping at 40 or 80. From the 3rd ended trial on, at 400 instants, the ETA is within 30%
    of the true remaining time (until the last 5% of the study: a few seconds, where it is within 10% of the
    study's wall time)."""
    import random

    pattern, iters, workers = [120, 40, 80, 120, 40, 40, 80, 120, 40, 80], 120, 2
    for seed in range(3):
        rng, free, sched = random.Random(seed), [0.0] * workers, []
        for i in range(20):
            reach, cost, start_up = pattern[i % len(pattern)], 0.5 * (1 + rng.uniform(-0.15, 0.15)), 3.0
            w = min(range(workers), key=lambda k: free[k])
            start = free[w]
            free[w] = end = start + start_up + reach * cost
            sched.append((start, end, reach, cost, start_up))
        wall = max(free)
        checked = 0
        for k in range(1, 400):
            t = wall * k / 400
            ended = [(e - s, r) for s, e, r, _, _ in sched if e <= t]
            if len(ended) < 3:
                continue
            running = [min(r, max(0, int((t - s - u) / c))) for s, e, r, c, u in sched if s <= t < e]
            eta = eta_seconds(ended, running, sum(s > t for s, *_ in sched), iters, workers)
            true = wall - t
            assert abs(eta - true) <= (0.3 * true if t < 0.95 * wall else 0.1 * wall), (seed, t, eta, true)
            checked += 1
        assert checked > 300


def test_no_bar_off_a_terminal_and_nothing_when_disabled():
    out = io.StringIO()
    StudyConsole(3, 0, ["content/mean"], ["minimize"], stream=out).on_trial(None, _trial(0, TrialState.COMPLETE, 1.0))
    assert out.getvalue().startswith("trial    0  complete") and "|" not in out.getvalue()
    quiet = io.StringIO()
    StudyConsole(3, 0, ["content/mean"], ["minimize"], stream=quiet, enabled=False).on_trial(
        None, _trial(0, TrialState.COMPLETE, 1.0))
    assert quiet.getvalue() == ""

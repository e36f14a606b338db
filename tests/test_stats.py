"""Seed statistics: confidence intervals equal scipy's, a planted difference is found, a null one is not flagged
(and Holm keeps a family's false alarms at 5%), sentences say it plainly."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from analysis.stats import compare, compare_family, sentence, summarize


def test_confidence_interval_matches_scipy_and_a_hand_computed_case():
    s = summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    # mean 3, sem sqrt(2.5 / 5), t(0.975, 4) = 2.776
    assert (s.mean, s.n) == (3.0, 5) and s.lo == pytest.approx(3 - 2.7764 * math.sqrt(0.5), abs=1e-3)
    x = np.random.default_rng(1).normal(0.4, 0.05, size=7)
    lo, hi = scipy.stats.t.interval(0.95, 6, loc=x.mean(), scale=scipy.stats.sem(x))
    got = summarize(list(x))
    assert (got.lo, got.hi) == pytest.approx((lo, hi), rel=1e-12)
    assert summarize([0.3, float("nan")]).n == 1 and math.isnan(summarize([0.3]).lo)   # a failed seed does not count


@pytest.mark.parametrize("test", ["welch", "permutation"])
def test_planted_difference_is_found_and_null_is_not_flagged(test):
    rng = np.random.default_rng(0)
    base = list(rng.normal(0.60, 0.04, size=5))
    better = list(rng.normal(0.40, 0.04, size=5))
    same = list(rng.normal(0.60, 0.04, size=5))
    found = compare(better, base, "content/mean", ("trial 3", "trial 1"), test=test)
    assert found.significant and found.diff < 0 and found.lo < found.diff < found.hi < 0
    null = compare(same, base, "content/mean", ("trial 2", "trial 1"), test=test)
    assert not null.significant and null.lo < 0 < null.hi
    if test == "welch":   # the same numbers as scipy's Welch test
        ref = scipy.stats.ttest_ind(better, base, equal_var=False)
        assert found.p == pytest.approx(ref.pvalue)


def test_holm_keeps_a_familys_false_alarms_at_five_percent(monkeypatch):
    import statsmodels.stats.multitest as mt

    monkeypatch.setattr(__import__("gc"), "collect", lambda *a: 0)   # statsmodels runs gc.collect() per call
    assert list(mt.multipletests([0.01, 0.04, 0.03], method="holm")[1]) == pytest.approx([0.03, 0.06, 0.06])
    rng = np.random.default_rng(7)
    flagged_any = 0
    for _ in range(200):   # three configurations with no real difference, compared pairwise
        groups = {k: list(rng.normal(0.5, 0.05, size=5)) for k in ("1", "2", "3")}
        family = compare_family(groups, [("2", "1"), ("3", "1"), ("3", "2")])
        assert all(c.p_adj >= c.p for c in family)
        flagged_any += any(c.significant for c in family)
    assert flagged_any / 200 <= 0.08   # familywise error rate ~5% (binomial noise allowed)


def test_sentences_are_plain():
    c = compare_family({"trial 3": [0.39, 0.41, 0.40, 0.42, 0.38], "trial 1": [0.60, 0.62, 0.61, 0.59, 0.63]},
                       [("trial 3", "trial 1")], "content/mean")[0]
    text = sentence(c, "content error")
    assert text.startswith("trial 3 vs trial 1: content error −0.21 [") and "(Holm), 5 seeds each" in text
    one = compare([0.4], [0.6], "content/mean", ("trial 3", "trial 1"))
    assert "no test" in sentence(one) and "1 seeds each" not in sentence(one, seeds_word="seed(s)")
    null = compare([0.5, 0.6, 0.55], [0.52, 0.58, 0.57], "x", ("a", "b"))
    assert "not significant" in sentence(null)

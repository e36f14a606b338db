"""Comparisons that say what is significant: GAN scores move from seed to seed, so configurations are compared on
their per-seed values (mean, 95% CI, n), with Welch's or a permutation test, Holm-corrected per family, and said
in one sentence. The statistics are scipy's and statsmodels'; the protocol: docs/analysis.md, "Seeds, confidence
intervals and tests".
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

LEVEL = 0.95
ALPHA = 0.05
TESTS = ("welch", "permutation")


@dataclass(frozen=True)
class Summary:
    """Per-seed values of one configuration: mean, the ``level`` CI of the mean (NaN below 2 values), n."""

    mean: float
    lo: float
    hi: float
    n: int
    std: float

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2


def summarize(values: Sequence[float], level: float = LEVEL) -> Summary:
    """Mean and t-interval of the finite ``values`` (a failed seed's NaN does not count)."""
    from scipy import stats

    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    n = int(x.size)
    if n == 0:
        return Summary(math.nan, math.nan, math.nan, 0, math.nan)
    mean = float(x.mean())
    if n < 2:
        return Summary(mean, math.nan, math.nan, 1, math.nan)
    sem = stats.sem(x)
    if sem == 0:
        return Summary(mean, mean, mean, n, 0.0)
    lo, hi = stats.t.interval(level, n - 1, loc=mean, scale=sem)
    return Summary(mean, float(lo), float(hi), n, float(x.std(ddof=1)))


@dataclass(frozen=True)
class Comparison:
    """``a`` minus ``b`` on ``key``: difference of means, its CI, the test's p-value (and Holm's, in a family)."""

    a: str
    b: str
    key: str
    diff: float
    lo: float
    hi: float
    p: float
    n_a: int
    n_b: int
    test: str
    p_adj: float = math.nan

    @property
    def p_reported(self) -> float:
        return self.p_adj if math.isfinite(self.p_adj) else self.p

    @property
    def significant(self) -> bool:
        return math.isfinite(self.p_reported) and self.p_reported < ALPHA


def compare(a: Sequence[float], b: Sequence[float], key: str = "", labels: tuple[str, str] = ("a", "b"),
            test: str = "welch", level: float = LEVEL, seed: int = 0) -> Comparison:
    """``a`` vs ``b`` (per-seed values). Below 2 finite values on either side there is no test (NaN)."""
    from scipy import stats

    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; choose one of {', '.join(TESTS)}")
    x = np.asarray([v for v in a if v is not None and math.isfinite(v)], dtype=np.float64)
    y = np.asarray([v for v in b if v is not None and math.isfinite(v)], dtype=np.float64)
    diff = float(x.mean() - y.mean()) if x.size and y.size else math.nan
    if x.size < 2 or y.size < 2:
        return Comparison(*labels, key, diff, math.nan, math.nan, math.nan, int(x.size), int(y.size), test)
    if test == "welch":
        if np.ptp(x) == 0 and np.ptp(y) == 0:   # two constant samples: no variance to test against
            p = 1.0 if diff == 0 else 0.0
            return Comparison(*labels, key, diff, diff, diff, p, int(x.size), int(y.size), test)
        res = stats.ttest_ind(x, y, equal_var=False)
        ci = res.confidence_interval(level)
        return Comparison(*labels, key, diff, float(ci.low), float(ci.high), float(res.pvalue), int(x.size),
                          int(y.size), test)
    # the permutation test's p-value; the interval is Welch's (a bootstrap interval is far too narrow at 5 seeds
    # a side and would disagree with the test)
    res = stats.permutation_test((x, y), lambda u, v, axis: np.mean(u, axis=axis) - np.mean(v, axis=axis),
                                 permutation_type="independent", vectorized=True, n_resamples=9999,
                                 rng=np.random.default_rng(seed))
    ci = stats.ttest_ind(x, y, equal_var=False).confidence_interval(level)
    return Comparison(*labels, key, diff, float(ci.low), float(ci.high), float(res.pvalue), int(x.size),
                      int(y.size), test)


def compare_family(groups: Mapping[str, Sequence[float]], pairs: Sequence[tuple[str, str]], key: str = "",
                   test: str = "welch", level: float = LEVEL) -> list[Comparison]:
    """Each pair compared, then the p-values Holm-corrected together (the family's error rate stays at 5%)."""
    from statsmodels.stats.multitest import multipletests

    out = [compare(groups[a], groups[b], key, (a, b), test, level) for a, b in pairs]
    tested = [i for i, c in enumerate(out) if math.isfinite(c.p)]
    if tested:
        adjusted = multipletests([out[i].p for i in tested], alpha=ALPHA, method="holm")[1]
        for i, p in zip(tested, adjusted):
            c = out[i]
            out[i] = Comparison(c.a, c.b, c.key, c.diff, c.lo, c.hi, c.p, c.n_a, c.n_b, c.test, float(p))
    return out


def _num(v: float) -> str:
    """Two decimals (two significant digits below 0.01), with a true minus sign."""
    if not math.isfinite(v):
        return "—"
    text = f"{v:.2f}" if abs(v) >= 0.01 or v == 0 else f"{v:.2g}"
    return text.replace("-", "−")


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}".rstrip("0").rstrip(".") if p < 0.1 else f"p = {p:.2f}"


def sentence(c: Comparison, label: str = "", seeds_word: str = "seeds") -> str:
    """The comparison in words: "trial 3 vs trial 1: content error −0.21 [−0.30, −0.12], p = 0.004 (Holm),
    5 seeds each" (``label``: what the key measures)."""
    what = label or c.key
    sizes = f"{c.n_a} {seeds_word} each" if c.n_a == c.n_b else f"{c.n_a} and {c.n_b} {seeds_word}"
    if not math.isfinite(c.p):
        return (f"{c.a} vs {c.b}: {what} {_num(c.diff)}, no test ({sizes}; a test needs at least 2 per "
                "configuration)")
    holm = " (Holm)" if math.isfinite(c.p_adj) else ""
    verdict = "" if c.significant else ", not significant"
    return (f"{c.a} vs {c.b}: {what} {_num(c.diff)} [{_num(c.lo)}, {_num(c.hi)}], {_p(c.p_reported)}{holm}"
            f"{verdict}, {sizes}")


__all__ = ["LEVEL", "ALPHA", "TESTS", "Summary", "summarize", "Comparison", "compare", "compare_family", "sentence"]

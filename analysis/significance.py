"""Which configurations of a study to compare, and what the comparison says, in words.

* the top of a study: its best trial by the objective against each of the next ones (one Holm family);
* the seed blog's three trials: every pair (one Holm family), plus a measured verdict per trial -- the blog's own
  words are quoted only on the data they were written about (AFHQ dog ↔ cat).

Every comparison is on the trials' per-seed values of the objective's metric (:meth:`analysis.load.Study.
seed_values`), by :mod:`analysis.stats`.
"""
from __future__ import annotations

import math
from typing import Mapping

import pandas as pd

from experiments import contract

from .load import Study
from .stats import Comparison, compare_family, sentence, summarize

TOP = 3


def objective_key(study: Study) -> str:
    """The metric key the (first) objective reports, e.g. ``content/mean``; ``objective`` when unknown."""
    return study.objective_keys[0] if study.objective_keys and study.objective_keys[0] else contract.OBJECTIVE_METRIC


def _values(study: Study, number: int, key: str) -> list[float]:
    values = study.seed_values(number, key)
    return values if values else study.seed_values(number, contract.OBJECTIVE_METRIC)


def top_comparisons(study: Study, table: pd.DataFrame, k: int = TOP, test: str = "welch") -> list[Comparison]:
    """The best complete trial against each of the next ``k - 1`` by the objective (single objective only)."""
    if study.is_multi_objective:
        return []
    col = study.objective_columns[0]
    done = table[(table["status"] == "complete") & table[col].notna()]
    done = done.sort_values([col, "trial"], ascending=[study.directions[0] == "minimize", True])
    numbers = [int(n) for n in done["trial"].iloc[:k]]
    if len(numbers) < 2:
        return []
    key = objective_key(study)
    groups = {f"trial {n}": _values(study, n, key) for n in numbers}
    best = f"trial {numbers[0]}"
    return compare_family(groups, [(best, f"trial {n}") for n in numbers[1:]], key, test)


def blog_comparisons(study: Study, blog: Mapping[int, int], test: str = "welch") -> list[Comparison]:
    """Every pair of the blog's trials present (``blog``: blog number -> trial number), later minus earlier,
    labelled with the blog's numbering."""
    key = objective_key(study)
    groups = {f"trial {b}": _values(study, n, key) for b, n in sorted(blog.items())}
    names = list(groups)
    pairs = [(names[j], names[i]) for i in range(len(names)) for j in range(i + 1, len(names))]
    return compare_family(groups, pairs, key, test)


def sentences(study: Study, comparisons: list[Comparison]) -> list[str]:
    if not comparisons:
        return []
    label = study.catalog.info.get(comparisons[0].key.split("/")[0], {}).get("label") or comparisons[0].key
    return [sentence(c, label) for c in comparisons]


def on_blog_data(study: Study) -> bool:
    """Whether the study ran on the blog's data (AFHQ dog ↔ cat), the only data its verdicts describe."""
    s = study.settings
    return s.get("data") not in (None, "synthetic") and set(s.get("domains") or ()) == {"dog", "cat"}


def measured_verdicts(study: Study, blog: Mapping[int, int], comparisons: list[Comparison]) -> dict[int, str]:
    """Per blog trial, what this study measured, in words: its mean ± CI and how it compares with the others."""
    key = objective_key(study)
    d = study.directions[0] if study.directions else "minimize"
    label = study.catalog.info.get(key.split("/")[0], {}).get("label") or key
    summaries = {b: summarize(_values(study, n, key)) for b, n in blog.items()}
    ranked = sorted((b for b in summaries if summaries[b].n), key=lambda b: summaries[b].mean,
                    reverse=d == "maximize")
    out = {}
    for b, s in summaries.items():
        if not s.n:
            out[b] = "no value (failed or not run)"
            continue
        rank = ranked.index(b)
        where = "best" if rank == 0 else ("worst" if rank == len(ranked) - 1 else "middle")
        text = f"{where} of the {len(ranked)} on {label}"
        notes = []
        for c in comparisons:
            if f"trial {b}" not in (c.a, c.b) or not math.isfinite(c.p):
                continue
            other = c.b if c.a == f"trial {b}" else c.a
            diff = c.diff if c.a == f"trial {b}" else -c.diff
            better = (diff < 0) == (d == "minimize")
            if c.significant:
                notes.append(f"{'better' if better else 'worse'} than {other}")
            else:
                notes.append(f"not distinguishable from {other}")
        if notes:
            text += " (" + "; ".join(notes) + ")"
        elif s.n < 2:
            text += " (one seed: no test)"
        out[b] = text
    return out


__all__ = ["TOP", "objective_key", "top_comparisons", "blog_comparisons", "sentences", "on_blog_data",
           "measured_verdicts"]

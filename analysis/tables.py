"""The comparison table: one row per trial, built from :class:`~analysis.load.Study` (MLflow + Optuna values as
stored) and rendered as markdown, csv, latex or html.

Per evaluation key (``fid/a2b`` ...): ``best`` is the best value over the run's metric history (min or max, by
the metric's direction as the study stored it), ``final`` is MLflow's latest value. Only metrics that some run
logged get columns; which metrics exist and their order come from the study (:class:`analysis.metrics.Catalog`).
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import pandas as pd

from experiments import contract

from .load import AnalysisError, Study
from .stats import summarize

FORMATS = ("markdown", "csv", "latex", "html")
EXTENSIONS = {"markdown": "md", "csv": "csv", "latex": "tex", "html": "html"}
MISSING = "—"
INT_COLUMNS = frozenset({"trial", "iters", "blog_trial", "seeds"})
CI = " ±"          # suffix of a column's companion: the half width of its 95% CI over seeds


def eval_columns(study: Study) -> list[str]:
    """Evaluation keys present in some run, in the catalog's order (metric x a2b, b2a, mean)."""
    present = set(study.metric_keys())
    return [k for m in study.catalog.present(present) for k in study.catalog.eval_keys(m) if k in present]


def extra_columns(study: Study) -> list[str]:
    """Further keys of the present metrics (e.g. ``acc/classifier_val``), shown with their final value."""
    present = set(study.metric_keys())
    return [k for m in study.catalog.present(present) for k in study.catalog.extra_keys(m) if k in present]


def _best(study: Study, number: int, key: str) -> float:
    h = study.trial_history(number, key)
    if not len(h):
        return math.nan
    hib = study.catalog.higher_is_better(key)
    if hib is None:  # a metric whose direction nobody recorded: no "best", the final value stands
        return float(h["value"].iloc[-1])
    return float(h["value"].max() if hib else h["value"].min())


def _iters(study: Study, number: int) -> float:
    """``iters_reached`` as logged at the end; a run that died before logging it: the last logged step."""
    v = study.final(number, contract.ITERS_REACHED)
    if not math.isnan(v):
        return v
    steps = [study.trial_history(number, k)["step"].max() for k in ("loss/g", "loss/d")]
    steps = [s for s in steps if pd.notna(s)]
    return float(max(steps)) if steps else math.nan


def _mean_history(study: Study, number: int, key: str) -> float:
    h = study.curve(number, key)
    return float(h["value"].mean()) if len(h) else math.nan


def compare_table(study: Study) -> pd.DataFrame:
    """One row per trial (numeric; NaN where a run has no value). Column ``trial`` is the Optuna number,
    ``blog_trial`` 1-3 for the seed blog's presets."""
    keys, extras = eval_columns(study), extra_columns(study)
    multi_seed = len(study.seed_runs) > 0
    rows = []
    for number, t in study.trials.iterrows():
        row: dict[str, object] = {"trial": int(number), "blog_trial": t["blog_trial"], "status": t["status"]}
        row.update({p: t[p] for p in study.param_names})
        row["iters"] = _iters(study, number)
        for k in keys:
            row[f"{k} best"] = _best(study, number, k)
            row[f"{k} final"] = study.final(number, k)
        for k in extras:
            row[k] = study.final(number, k)
        row["wall_s"] = study.final(number, contract.WALL_S)
        row["it_per_s"] = _mean_history(study, number, "it_per_s")
        for c in study.objective_columns:
            row[c] = t.get(c, math.nan)
        row["seeds"] = study.n_seeds(number)
        if multi_seed:   # the spread over seeds: half width of the 95% CI of the mean
            for c, key in zip(study.objective_columns, study.objective_keys):
                seed_key = contract.OBJECTIVE_METRIC if c == contract.OBJECTIVE_METRIC else key
                row[f"{c}{CI}"] = summarize(study.seed_values(number, seed_key)).half_width
            for k in keys:
                row[f"{k} final{CI}"] = summarize(study.seed_values(number, k)).half_width
        rows.append(row)
    df = pd.DataFrame(rows)
    df["blog_trial"] = df["blog_trial"].astype("Int64")
    df["seeds"] = df["seeds"].astype("int64")
    for c in df.columns:
        if c not in ("status", "blog_trial", "trial", "seeds"):
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    return df


def with_baselines(df: pd.DataFrame, study: Study) -> pd.DataFrame:
    """``df`` (a :func:`compare_table`) plus one reference row per baseline generator the study logged
    (experiments.baselines): status ``baseline``, ``trial`` empty, column ``baseline`` its name, and its values in
    the objective and metric columns (best = final: it is scored once). Sorted with the trials, a baseline row
    sits among them at its score, so the trials below identity are visibly no translation."""
    if not len(study.baselines):
        return df
    rows = []
    for name, r in study.baselines.iterrows():
        row: dict[str, object] = {"baseline": str(name), "status": "baseline", "seeds": 1}
        for c in df.columns:
            key = c[:-len(" best")] if c.endswith(" best") else c[:-len(" final")] if c.endswith(" final") else c
            if c in study.objective_columns or key != c or c in extra_columns(study):
                v = r.get(f"metrics.{key}")
                row[c] = float(v) if v is not None and pd.notna(v) else math.nan
        rows.append(row)
    ref = pd.DataFrame(rows)
    out = pd.concat([df.assign(baseline=pd.Series([None] * len(df), dtype="object")), ref], ignore_index=True)
    out["trial"] = out["trial"].astype("Int64")
    out["blog_trial"] = out["blog_trial"].astype("Int64")
    out["seeds"] = out["seeds"].astype("int64")
    return out


def value_note(study: Study) -> str | None:
    """Which value of a trial Optuna sees: the objective column is the final evaluation's (single objective)."""
    if study.is_multi_objective or not study.objective_keys or not study.objective_keys[0]:
        return None
    key = study.objective_keys[0]
    return (f"{study.objective_columns[0]} = {key} at the trial's last evaluation: the value Optuna ranks trials "
            f"by; '{key} best' = the best of its evaluations (a pruned trial's value is its last one before it "
            "stopped). Each trial keeps only its last checkpoint.")


def baseline_verdicts(df: pd.DataFrame, study: Study) -> list[str]:
    """Sentences on the trials against the reference rows (single objective): how many complete trials beat
    identity and every reference row (trivial generators and no-learning programs), and whether the best trial does."""
    if study.is_multi_objective or "baseline" not in df.columns:
        return []
    col = study.objective_columns[0]
    minimize = study.directions[0] == "minimize"
    ref = df[df["status"] == "baseline"].set_index("baseline")[col].dropna()
    trivial = ref.drop(labels=["oracle"], errors="ignore")
    done = df[(df["status"] == "complete") & df[col].notna()]
    if not len(trivial) or not len(done):
        return []

    def beats(v: float, ref_value: float) -> bool:
        return v < ref_value if minimize else v > ref_value
    bar = trivial.min() if minimize else trivial.max()
    bar_name = str(trivial.idxmin() if minimize else trivial.idxmax())
    best = done[col].min() if minimize else done[col].max()
    out = [f"{int(sum(beats(v, bar) for v in done[col]))} of {len(done)} complete trials beat every "
           f"reference row on {study.objective_keys[0] or col} (the best of them: {bar_name}, {bar:.4g}); the best "
           f"trial ({best:.4g}) {'does' if beats(best, bar) else 'does NOT'}."]
    if (study.objective_keys[0] or col).startswith("fitn/worst") and minimize:
        # fitn is 1 at each direction's best reference, so < 1 = better than every reference in each direction
        # (a reference row's own fitn/worst is its worse direction: no row sits at 1 in both)
        n = int(sum(v < 1 for v in done[col]))
        out.append(f"{n} of {len(done)} complete trials beat every reference in each direction (fitn/worst < 1).")
    if "identity" in trivial.index:
        worse = int(sum(not beats(v, trivial['identity']) for v in done[col]))
        if worse:
            out.append(f"{worse} complete trial(s) do not beat identity ({trivial['identity']:.4g}): no better "
                       "than returning the input unchanged.")
    if "oracle" in ref.index:
        out.append(f"The paired oracle scores {ref['oracle']:.4g}: the room left above the best trial.")
    return out


def resolve_sort(df: pd.DataFrame, key: str) -> str:
    """A column name, or a metric key ('fid/mean' -> 'fid/mean best', 'fid' -> 'fid/mean best')."""
    for cand in (key, f"{key} best", f"{key}/mean best"):
        if cand in df.columns:
            return cand
    sortable = [c for c in df.columns if c not in ("blog_trial",)]
    raise AnalysisError(f"cannot sort by {key!r}: no such column; choose one of {', '.join(sortable)}")


def sort_table(df: pd.DataFrame, key: str | None, ascending: bool | None, study: Study) -> pd.DataFrame:
    """Sort by ``key`` (see :func:`resolve_sort`); by default the better values first, gaps last."""
    if not key:
        return df.sort_values("trial", kind="stable").reset_index(drop=True)
    col = resolve_sort(df, key)
    if ascending is None:
        dirs = list(study.directions)
        if col in study.objective_columns:
            i = study.objective_columns.index(col)
            ascending = (dirs[i] if i < len(dirs) else "minimize") == "minimize"
        else:
            hib = study.catalog.higher_is_better(col)
            ascending = not hib if hib is not None else True
    return df.sort_values([col, "trial"], ascending=[ascending, True], na_position="last",
                          kind="stable").reset_index(drop=True)


def brief(df: pd.DataFrame) -> pd.DataFrame:
    """Drop the per-direction (a2b/b2a) metric columns, keeping the means: a table that fits a page."""
    return df[[c for c in df.columns if not any(f"/{d} " in c for d in ("a2b", "b2a"))]]


def default_sort(study: Study) -> str:
    """What a table is sorted by when nobody says: the (first) objective, best first."""
    return study.objective_columns[0]


def best_trials(study: Study, df: pd.DataFrame) -> set[int]:
    """The trials a table marks as best: the best complete trial by the objective (all Pareto-optimal trials of a
    multi-objective study, as Optuna says)."""
    if study.is_multi_objective:
        if study.optuna is not None:
            try:
                return {t.number for t in study.optuna.best_trials}
            except ValueError:
                return set()
        return set()
    col = study.objective_columns[0]
    done = df[(df["status"] == "complete") & df[col].notna()] if col in df.columns else df.iloc[:0]
    if not len(done):
        return set()
    asc = study.directions[0] == "minimize"
    return {int(done.sort_values([col, "trial"], ascending=[asc, True]).iloc[0]["trial"])}


def arrange(df: pd.DataFrame, study: Study) -> pd.DataFrame:
    """Columns in reading order: trial, the objective(s), status, the swept parameters, then the rest as built."""
    first = ["trial", "blog_trial", *[c for c in study.objective_columns if c in df.columns], "seeds", "status",
             *[p for p in study.param_names if p in df.columns]]
    return df[[c for c in first if c in df.columns] + [c for c in df.columns if c not in first]]


def drop_constant(df: pd.DataFrame, study: Study) -> tuple[pd.DataFrame, list[str]]:
    """Without the columns whose value is the same in every row (e.g. acc at 1.000, or a fixed seed): they say
    nothing about the comparison. Trial, objective and status always stay. Returns (table, dropped columns)."""
    keep = {"trial", "blog_trial", "status", *study.objective_columns}
    dropped = []
    if "seeds" in df.columns and df["seeds"].max() > 1:   # n goes with every mean ± CI
        keep.add("seeds")
    for c in df.columns:
        if c in keep or c.endswith(CI):
            continue
        shown = {fmt_number(v, c, study.param_names, study.int_params) for v in df[c]} - {MISSING}
        if len(shown) <= 1:   # gaps (a failed trial) don't make a column informative
            dropped.append(c)
    dropped_ci = [f"{c}{CI}" for c in dropped if f"{c}{CI}" in df.columns]
    return df.drop(columns=dropped + dropped_ci), dropped


# columns a brief table gives up first when it does not fit, most expendable first
_EXPENDABLE = ("it_per_s", "wall_s", "iters")


def screen(df: pd.DataFrame, study: Study, brief_table: bool = False, all_columns: bool = False,
           width: int = 120, fit: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """A comparison table for a screen: reading order, constant columns dropped (unless ``all_columns``),
    and for ``brief_table`` only the metric means' final values, then (``brief_table`` or ``fit``: if still wider
    than ``width`` characters in markdown) the least needed columns dropped until it fits. Returns (table, notes
    on what was left out)."""
    out = arrange(df, study)
    notes: list[str] = []
    if not all_columns:
        out, dropped = drop_constant(out, study)
        if dropped:
            def value(c: str) -> str:
                present = df[c].dropna()
                return fmt_number(present.iloc[0], c, study.param_names, study.int_params) if len(present) else MISSING
            shown = ", ".join(f"{c} = {value(c)}" for c in dropped)
            notes.append(f"the same in every trial (not shown): {shown}")
    if brief_table:
        out = brief(out)
        objective_metrics = {k for k in study.objective_keys if k}
        # of the objective's metric the best value (the objective column already is its final value), of the
        # others the final value
        out = out[[c for c in out.columns if not (c.endswith(" best") and c[:-5] not in objective_metrics)
                   and not (c.endswith(" final") and c[:-6] in objective_metrics)]]
    if brief_table or fit:
        objective_metrics = {k for k in study.objective_keys if k}
        cut = []
        protected = {"trial", "status", *study.objective_columns}
        protected |= {f"{c}{CI}" for c in protected}
        metrics = tuple(c for c in reversed(out.columns) if (" " in c or "/" in c) and c not in protected
                        and not c.endswith(CI) and c.split(" ")[0] not in objective_metrics)
        # a2b/b2a columns before the means
        metrics = tuple(sorted(metrics, key=lambda c: not any(f"/{d} " in c or c.endswith(f"/{d}")
                                                              for d in ("a2b", "b2a"))))
        last = tuple(c for c in out.columns if c.split(" ")[0] in objective_metrics and not c.endswith(CI))
        params = tuple(p for p in reversed(study.param_names) if p in out.columns) if fit else ()
        for c in (*_EXPENDABLE, *metrics, *last, *params):
            if _width(out, study, brief_table) <= width:
                break
            if c in out.columns and c not in protected:
                out = out.drop(columns=[c, *([f"{c}{CI}"] if f"{c}{CI}" in out.columns else [])])
                cut.append(c)
        if cut:
            notes.append(f"left out to fit {width} columns: {', '.join(cut)} (--wide for every column)")
    return out, notes


def _width(df: pd.DataFrame, study: Study, brief_labels: bool = True) -> int:
    return max(len(line) for line in render(df, study, "markdown", mark_best=True,
                                            brief_labels=brief_labels).splitlines())


def fmt_number(v: object, column: str = "", params: Iterable[str] = (), int_params: Iterable[str] = ()) -> str:
    """Four significant digits (``.4g``: plain for readable magnitudes, scientific below 1e-4); counts, integer
    parameters and whole-number parameter values as integers."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return MISSING
    if isinstance(v, str):
        return v
    x = float(v)  # type: ignore[arg-type]
    if column in INT_COLUMNS or column in set(int_params) or (column in set(params) and x.is_integer()):
        return f"{int(round(x))}"
    return f"{x:.4g}"   # the terminal's format too (experiments.console.fmt)


def display_table(df: pd.DataFrame, study: Study, mark_best: bool = False, brief_labels: bool = False,
                  star_column: bool = False) -> pd.DataFrame:
    """Strings for humans: trial labelled with its blog preset (and ★ for the best, with ``mark_best``), numbers
    rounded, gaps as '—'."""
    best = best_trials(study, df) if mark_best else set()

    def label(n: int) -> str:
        text = study.label(n)
        if brief_labels:
            text = text.replace(" (blog trial ", " (blog ")
        return f"{text} ★" if n in best and not star_column else text

    names = df["baseline"] if "baseline" in df.columns else pd.Series([None] * len(df), index=df.index)
    out = pd.DataFrame({"trial": [f"baseline: {b}" if isinstance(b, str) else label(int(n))
                                  for n, b in zip(df["trial"], names)]})
    spread = {c[:-len(CI)] for c in df.columns if c.endswith(CI)}
    if mark_best and star_column:   # the trial cell stays the bare label; the mark gets a column of its own
        out["best"] = ["★" if pd.notna(n) and int(n) in best else "" for n in df["trial"]]
    for c in df.columns:
        if c in ("trial", "blog_trial", "baseline"):
            continue
        if c.endswith(CI):
            continue
        out[c] = [fmt_number(v, c, study.param_names, study.int_params) for v in df[c]]
        if c in spread:   # mean ± CI half width, where there are seeds to have one and a mean to go with it
            out[c] = [f"{text} ± {hw:.2g}" if isinstance(hw, float) and math.isfinite(hw) and _finite(v) else text
                      for text, hw, v in zip(out[c], df[f"{c}{CI}"], df[c])]
    return out


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def render(df: pd.DataFrame, study: Study, fmt: str, mark_best: bool = False, brief_labels: bool = False) -> str:
    """``df`` (from :func:`compare_table`, or a :func:`screen` of it) in one of :data:`FORMATS`."""
    if fmt not in FORMATS:
        raise AnalysisError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "csv":  # machine-readable: raw numbers, empty cells for gaps, numeric trial + blog_trial columns
        return df.to_csv(index=False, na_rep="", float_format="%.10g")
    disp = display_table(df, study, mark_best, brief_labels, star_column=fmt in ("html", "latex"))
    if fmt == "markdown":
        import tabulate
        pad, tabulate.MIN_PADDING = tabulate.MIN_PADDING, 0   # no blank padding beyond the pipes' own spaces
        try:
            return disp.to_markdown(index=False, disable_numparse=True) + "\n"
        finally:
            tabulate.MIN_PADDING = pad
    if fmt == "latex":
        return disp.to_latex(index=False, escape=True, column_format="ll" + "r" * (len(disp.columns) - 2),
                             caption=f"Trials of study {study.name}", label=f"tab:{study.name}")
    return disp.to_html(index=False, border=0, classes="trials", escape=True)


__all__ = ["compare_table", "with_baselines", "baseline_verdicts", "value_note", "brief", "screen", "arrange", "drop_constant", "best_trials", "default_sort", "sort_table", "render", "display_table", "eval_columns", "extra_columns",
           "fmt_number", "FORMATS", "EXTENSIONS", "MISSING"]

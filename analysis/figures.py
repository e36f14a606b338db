"""Figures (matplotlib, headless Agg backend): curves, parallel coordinates, importances, Pareto front and
side-by-side sample grids. Every figure has a title, axis units and a legend; each trial keeps one colour
everywhere (:func:`analysis.colours.trial_colour`). Functions return the PNG path, or None when there is
nothing to draw (the caller says why)."""
from __future__ import annotations

import functools
import math
import warnings
from pathlib import Path
from typing import Callable, Mapping, ParamSpec, Sequence, TypeVar

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .colours import STATUS_LINESTYLE, trial_colour  # noqa: E402
from .load import Study  # noqa: E402
from .metrics import training_keys  # noqa: E402
from .samples import Panel, grid_shape  # noqa: E402
from .stats import summarize  # noqa: E402

P = ParamSpec("P")
R = TypeVar("R")
DPI = 110
_STYLE = {"figure.facecolor": "white", "axes.grid": True, "grid.alpha": 0.3, "font.size": 9, "axes.titlesize": 10,
          "figure.titlesize": 12}


def _styled(fn: Callable[P, R]) -> Callable[P, R]:
    """Apply the house style for one figure without touching the caller's global matplotlib settings."""
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with plt.rc_context(_STYLE):
            return fn(*args, **kwargs)
    return wrapper


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _legend_handles(study: Study, numbers: Sequence[int], labels: Mapping[int, str] | None = None) -> list[Line2D]:
    out = []
    for n in numbers:
        status = study.trials.at[n, "status"]
        seeds = study.n_seeds(n)
        name = (labels or {}).get(n) or f"trial {study.label(n)}"
        out.append(Line2D([], [], color=trial_colour(n), linestyle=STATUS_LINESTYLE.get(status, "-"), marker="o",
                          markersize=4, label=f"{name} [{status}" + (f", {seeds} seeds]" if seeds > 1 else "]")))
    return out


def _band(study: Study, number: int, key: str):
    """(steps, lo, hi) of the 95% CI of the mean over a trial's seeds at each logged step, or None (one seed)."""
    curves = [c for c in study.seed_curves(number, key) if len(c)]
    if len(curves) < 2:
        return None
    both = pd.concat(curves).groupby("step")["value"].apply(list)
    rows = [(step, summarize(vals)) for step, vals in both.items() if len(vals) >= 2]
    if not rows:
        return None
    return ([r[0] for r in rows], [r[1].lo if math.isfinite(r[1].lo) else r[1].mean for r in rows],
            [r[1].hi if math.isfinite(r[1].hi) else r[1].mean for r in rows])


HIGHLIGHT = 5          # with more than CROWD trials, only the best HIGHLIGHT keep their colour
CROWD = 8
GREY = "0.78"


def highlighted(study: Study, numbers: Sequence[int], k: int = HIGHLIGHT) -> set[int]:
    """The trials a crowded figure shows in colour: all of them when there are few, else the best ``k`` complete
    trials by the (first) objective."""
    if len(numbers) <= CROWD:
        return set(numbers)
    col = study.objective_columns[0]
    t = study.trials.loc[[n for n in numbers if n in study.trials.index]]
    done = t[(t["status"] == "complete") & t[col].notna()]
    asc = study.directions[0] == "minimize"
    return {int(n) for n in done.sort_values(col, ascending=asc).index[:k]}


def _curves(study: Study, numbers: Sequence[int], grid: list[list[str | None]], path: Path, title: str,
            labels: Mapping[int, str] | None = None) -> Path | None:
    """A grid of subplots (keys; None = empty cell), one line per trial, shared legend. With many trials the
    best few are drawn in colour on top and the rest in grey underneath, so the panels stay readable."""
    shown = highlighted(study, numbers)
    others = [n for n in numbers if n not in shown]
    order = others + [n for n in numbers if n in shown]   # grey first, colour on top
    nrows, ncols = len(grid), max(len(r) for r in grid)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 2.9 * nrows + 0.4), squeeze=False)
    drawn_any = False
    for i, row in enumerate(grid):
        for j in range(ncols):
            ax = axes[i][j]
            key = row[j] if j < len(row) else None
            if key is None:
                ax.set_visible(False)
                continue
            drawn = 0
            for n in order:
                h = study.curve(n, key)
                if not len(h):
                    continue
                status = study.trials.at[n, "status"]
                if n in shown:
                    ax.plot(h["step"], h["value"], color=trial_colour(n),
                            linestyle=STATUS_LINESTYLE.get(status, "-"), marker="o" if len(h) <= 30 else None,
                            markersize=3, linewidth=1.6, zorder=3)
                    band = _band(study, n, key)
                    if band is not None:   # several seeds: the mean's 95% confidence band
                        ax.fill_between(band[0], band[1], band[2], color=trial_colour(n), alpha=0.18, linewidth=0,
                                        zorder=2)
                else:
                    ax.plot(h["step"], h["value"], color=GREY, linewidth=0.8, zorder=1)
                drawn += 1
            ax.set_title(key)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("training iteration")
            ax.set_ylabel(study.catalog.unit(key))
            if not drawn:
                ax.text(0.5, 0.5, "not logged by these trials", ha="center", va="center", transform=ax.transAxes,
                        color="0.4")
            drawn_any |= bool(drawn)
    if not drawn_any:
        plt.close(fig)
        return None
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (2.9 * nrows + 0.4)))
    handles = _legend_handles(study, [n for n in numbers if n in shown], labels)
    if others:
        handles.append(Line2D([], [], color=GREY, linewidth=1.2, label=f"{len(others)} other trials"))
    what = "trial (line style = status)" if not others else f"best {len(shown)} trials (line style = status)"
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 0.95), title=what, frameon=False,
               ncols=1 + (len(handles) - 1) // 30)
    return _save(fig, path)


@_styled
def metric_curves(study: Study, numbers: Sequence[int], path: Path, title: str | None = None,
                  labels: Mapping[int, str] | None = None) -> Path | None:
    """Evaluation metrics over iterations: one row per metric present, columns a2b / b2a / mean."""
    present = set(study.metric_keys())
    grid = [[k if k in present else None for k in study.catalog.eval_keys(m)] for m in study.catalog.present(present)]
    if not grid:
        return None
    return _curves(study, numbers, grid, path, title or f"{study.name}: evaluation metrics per trial", labels)


@_styled
def training_curves(study: Study, numbers: Sequence[int], path: Path, title: str | None = None,
                    labels: Mapping[int, str] | None = None) -> Path | None:
    """Losses, learning rate and throughput over iterations, three panels per row."""
    present = training_keys(study.metric_keys())
    if not present:
        return None
    grid = [present[i:i + 3] for i in range(0, len(present), 3)]
    return _curves(study, numbers, grid, path, title or f"{study.name}: training losses, lr and throughput", labels)


@_styled
def parallel_coordinates(study: Study, table: pd.DataFrame, path: Path) -> Path | None:
    """Swept parameters -> objective(s), one polyline per trial with an objective; each axis scaled to its
    own min..max (labelled with the real values)."""
    axes_cols = [c for c in study.param_names if c in table.columns and table[c].notna().any()] + \
        [c for c in study.objective_columns if c in table.columns]
    obj_cols = [c for c in study.objective_columns if c in table.columns]
    # complete trials only: a pruned trial's Optuna value is an intermediate score, not comparable
    rows = table[(table["status"] == "complete") & table[obj_cols].notna().all(axis=1)] if obj_cols \
        else table.iloc[:0]
    if len(rows) < 1 or len(axes_cols) < 2:
        return None
    fig, ax = plt.subplots(figsize=(1.6 * len(axes_cols) + 3, 4.6))
    x = np.arange(len(axes_cols))
    lo, hi = rows[axes_cols].min(), rows[axes_cols].max()
    span = (hi - lo).replace(0, 1.0)
    shown = highlighted(study, [int(n) for n in rows["trial"]])
    for _, r in sorted(rows.iterrows(), key=lambda kv: int(kv[1]["trial"]) in shown):  # grey first, colour on top
        n = int(r["trial"])
        y = ((r[axes_cols] - lo) / span).astype(float).to_numpy()
        if n in shown:
            ax.plot(x, y, color=trial_colour(n), linestyle=STATUS_LINESTYLE.get(r["status"], "-"), marker="o",
                    linewidth=1.8, alpha=0.9, zorder=3)
        else:
            ax.plot(x, y, color=GREY, linewidth=0.9, zorder=1)
    for i, c in enumerate(axes_cols):
        ax.axvline(i, color="0.3", linewidth=0.8)
        for frac, va in ((0.0, "top"), (1.0, "bottom")):
            v = lo[c] + frac * (hi[c] - lo[c])
            ax.text(i, frac + (-0.03 if frac == 0 else 0.03), _short(v), ha="center", va=va, fontsize=8)
    labels = []
    for c in axes_cols:
        if c in obj_cols:
            i = obj_cols.index(c)
            key = study.objective_keys[i] if i < len(study.objective_keys) else ""
            arrow = "↓" if study.directions[i] == "minimize" else "↑"
            labels.append(f"{c}\n{key} {arrow}".strip())
        else:
            labels.append(c)
    ax.set_xticks(x, labels)
    ax.set_yticks([])
    ax.set_ylim(-0.15, 1.15)
    ax.grid(False)
    ax.set_title(f"{study.name}: parameters → objective ({len(rows)} complete trials; each axis min..max)")
    handles = _legend_handles(study, [int(n) for n in rows["trial"] if int(n) in shown])
    if len(shown) < len(rows):
        handles.append(Line2D([], [], color=GREY, linewidth=1.2, label=f"{len(rows) - len(shown)} other trials"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False,
              title="trial" if len(shown) == len(rows) else f"best {len(shown)} trials")
    return _save(fig, path)


def _short(v: float) -> str:
    if not math.isfinite(v):
        return "—"
    return f"{v:.3g}"


@_styled
def importances(study: Study, path: Path) -> tuple[Path | None, str]:
    """``optuna.importance.get_param_importances`` per objective as horizontal bars; (None, why) when Optuna
    cannot compute them (no study, fewer than two complete trials, a constant search space...)."""
    import optuna
    from optuna.trial import TrialState

    if study.optuna is None:
        return None, "parameter importances need the Optuna study (not found; see notes)"
    complete = study.optuna.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return None, f"not enough trials for parameter importances: {len(complete)} complete, need at least 2"
    results: list[tuple[str, dict[str, float]]] = []
    try:
        for i, d in enumerate(study.directions):
            key = study.objective_keys[i] if i < len(study.objective_keys) else ""
            # PED-ANOVA ranks for low target values: negate objectives to be maximised
            sign = -1.0 if d == "maximize" else 1.0
            target = None if len(study.directions) == 1 else (lambda t, i=i, s=sign: s * t.values[i])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                imp = optuna.importance.get_param_importances(study.optuna, target=target)
            results.append((f"objective {key} ({d})".replace("  ", " "), imp))
    except Exception as e:  # Optuna refuses some studies (e.g. dynamic search spaces): say so, keep the report
        return None, f"Optuna could not compute parameter importances: {type(e).__name__}: {e}"
    if not any(imp for _, imp in results):
        return None, "not enough trials for parameter importances (no parameter varies across complete trials)"
    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 0.5 * len(study.param_names) + 1.8),
                             squeeze=False)
    for ax, (name, imp) in zip(axes[0], results):
        names = list(imp)[::-1]
        vals = [imp[k] for k in names]
        bars = ax.barh(names, vals, color="#4c72b0")
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in vals], padding=2, fontsize=8)
        ax.set_xlim(0, max(vals + [0.01]) * 1.25)
        ax.set_xlabel("importance (fraction of objective variance, sums to 1)")
        ax.set_title(name)
    fig.suptitle(f"{study.name}: parameter importances (optuna.importance, {len(complete)} complete trials)")
    fig.tight_layout()
    return _save(fig, path), ""


@_styled
def pareto_front(study: Study, table: pd.DataFrame, path: Path) -> Path | None:
    """Two-objective studies: every complete trial in objective space, Optuna's Pareto-optimal trials
    (``study.best_trials``) ringed and joined."""
    if len(study.directions) != 2:
        return None
    c0, c1 = "objective_0", "objective_1"
    rows = table[table[c0].notna() & table[c1].notna()]
    if not len(rows):
        return None
    best = {t.number for t in study.optuna.best_trials} if study.optuna is not None else set()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for _, r in rows.iterrows():
        n = int(r["trial"])
        on = n in best
        ax.scatter(r[c0], r[c1], s=90 if on else 50, color=trial_colour(n), edgecolor="black" if on else "none",
                   linewidth=1.6, zorder=3, label=f"trial {study.label(n)}" + (" (Pareto)" if on else ""))
    front = rows[rows["trial"].isin(best)].sort_values(c0)
    if len(front) > 1:
        ax.plot(front[c0], front[c1], color="black", linewidth=1, linestyle="--", zorder=2)
    k = study.objective_keys
    ax.set_xlabel(f"{k[0] or c0} ({'↓' if study.directions[0] == 'minimize' else '↑'} better)")
    ax.set_ylabel(f"{k[1] or c1} ({'↓' if study.directions[1] == 'minimize' else '↑'} better)")
    ax.set_title(f"{study.name}: Pareto front ({len(best)} of {len(rows)} complete trials, ringed)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _save(fig, path)


@_styled
def sample_comparison(panels: Sequence[Panel], path: Path, title: str, image_size: int | None,
                      note: str = "") -> Path | None:
    """Sample grids side by side, one panel per trial, its title in the trial's colour; rows = the same
    inputs, columns = input | reconstruction | fixed styles 1..K | a random style."""
    if not any(p.image is not None for p in panels):
        return None
    sizes = [p.image.size for p in panels if p.image is not None]
    w0, h0 = max(s[0] for s in sizes), max(s[1] for s in sizes)
    scale = max(1.0, 360 / w0) if w0 < 360 else min(1.0, 900 / w0)
    pw, ph = w0 * scale / 100, h0 * scale / 100
    fig, axes = plt.subplots(1, len(panels), figsize=(len(panels) * (pw + 0.5) + 0.6, ph + 1.9), squeeze=False)
    for ax, p in zip(axes[0], panels):
        colour = trial_colour(p.number)
        ax.grid(False)
        for side in ax.spines.values():
            side.set_edgecolor(colour)
            side.set_linewidth(3)
        if p.image is None:
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_xlim(0, w0), ax.set_ylim(h0, 0), ax.set_aspect("equal")
            ax.text(w0 / 2, h0 / 2, p.missing or "no samples logged", ha="center", va="center", wrap=True,
                    color="0.35", fontsize=9)
            ax.set_title(f"trial {p.label}", color=colour, fontweight="bold")
            continue
        w, h = p.image.size
        ax.imshow(np.asarray(p.image), interpolation="nearest" if scale > 1 else "antialiased")
        shape = grid_shape(w, h, image_size)
        if shape:
            from munit.sampling import translation_labels
            rows, cols, top, k = shape
            tile = image_size * k
            pad = (w - cols * tile) / (cols + 1)
            centres = [pad + c * (tile + pad) + tile / 2 for c in range(cols)]
            names = translation_labels(cols - 3) if cols >= 3 else [""] * cols
            ax.set_xticks(centres, names, rotation=45, ha="right", fontsize=8)
            rc = [top + pad + r * (tile + pad) + tile / 2 for r in range(rows)]
            ax.set_yticks(rc, [f"input {r + 1}" for r in range(rows)], fontsize=8)
        else:
            ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(f"trial {p.label}" + (f"\nstep {p.step}" if p.step is not None else ""), color=colour,
                     fontweight="bold")
    fig.suptitle(title)
    if note:
        fig.text(0.5, 0.005, note, ha="center", va="bottom", fontsize=8, color="0.25", wrap=True)
    fig.tight_layout(rect=(0, 0.05 if note else 0, 1, 1))
    return _save(fig, path)


__all__ = ["metric_curves", "training_curves", "parallel_coordinates", "importances", "pareto_front",
           "sample_comparison", "Panel", "DPI"]

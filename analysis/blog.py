"""The seed blog's comparison, made rigorous: its three trials (tag ``munit.blog_trial``) side by side with
the same metrics table, metric curves and one image per direction showing each trial's final translations of
the same inputs with the same fixed style codes (the logged ``samples/a2b`` / ``samples/b2a`` grids)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from experiments.presets import BLOG_TRIALS

from .figures import metric_curves, sample_comparison, training_curves
from .load import AnalysisError, Study
from .significance import blog_comparisons, measured_verdicts, on_blog_data, sentences
from .samples import direction_label, final_panels, image_size, run_config
from .tables import compare_table, display_table, render, screen, sort_table

GRID_NOTE = ("rows: the same validation inputs; columns: input | within-domain reconstruction | fixed style codes "
             "1..K (drawn once from the seed, identical across trials with the same seed) | one random style")


@dataclass
class BlogResult:
    out: Path
    files: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    table: pd.DataFrame | None = None
    sentences: list[str] = field(default_factory=list)


def blog_numbers(study: Study) -> dict[int, int]:
    """Blog trial k (1-3) -> Optuna trial number (the first one, should a preset have run twice)."""
    out: dict[int, int] = {}
    for n, b in study.trials["blog_trial"].items():
        if pd.notna(b) and int(b) not in out:
            out[int(b)] = int(n)
    return dict(sorted(out.items()))


def make_blog(study: Study, out: Path, sort: str | None = None, ascending: bool | None = None,
              test: str = "welch") -> BlogResult:
    """Write blog_table.{md,csv}, blog_metrics.png, blog_training.png, blog_samples_{a2b,b2a}.png, blog.md."""
    blog = blog_numbers(study)
    if not blog:
        raise AnalysisError(f"study {study.name!r} has no blog trials (tag munit.blog_trial / user attr blog_trial); "
                            "run them with `python experiments/sweep.py --study-name NAME --blog --trials 3`")
    out.mkdir(parents=True, exist_ok=True)
    res = BlogResult(out=out)
    res.missing = [f"blog trial {k} is not in study {study.name!r}" for k in (1, 2, 3) if k not in blog]
    numbers = list(blog.values())

    labels = {n: f"blog trial {b} (#{n})" for b, n in blog.items()}   # the blog's numbering, everywhere
    full = compare_table(study)
    table = full[full["trial"].isin(numbers)].copy()
    table = sort_table(table, sort, ascending, study) if sort else \
        table.sort_values("blog_trial").reset_index(drop=True)
    table = table.dropna(axis=1, how="all")  # columns only other trials have (e.g. fid) add nothing here
    res.table = table
    (out / "blog_table.csv").write_text(render(table, study, "csv"))
    shown, table_notes = screen(table, study)
    disp = display_table(shown, study)
    disp["trial"] = [labels[int(n)] for n in shown["trial"]]
    comparisons = blog_comparisons(study, blog, test)
    res.sentences = sentences(study, comparisons)
    if on_blog_data(study):   # the blog's words describe AFHQ dog <-> cat, and nothing else
        verdicts = {bt.number: bt.verdict for bt in BLOG_TRIALS}
        column = "blog's verdict (AFHQ)"
    else:
        verdicts = measured_verdicts(study, blog, comparisons)
        column = "measured verdict"
    disp.insert(1, column, [verdicts.get(int(b), "") for b in shown["blog_trial"]])
    md = disp.to_markdown(index=False, disable_numparse=True) + "\n" + "".join(f"\n{n}\n" for n in table_notes)
    (out / "blog_table.md").write_text(md)
    res.files += [out / "blog_table.md", out / "blog_table.csv"]

    for fn, name, title in ((metric_curves, "blog_metrics.png", "the blog's trials: evaluation metrics"),
                            (training_curves, "blog_training.png", "the blog's trials: losses, lr, throughput")):
        p = fn(study, numbers, out / name, title=f"{study.name}: {title}", labels=labels)
        if p:
            res.files.append(p)
        else:
            res.notes.append(f"{name}: no such metrics logged by the blog trials")

    size = image_size(study, numbers)
    cfg = next((c for n in numbers if study.run_id(n) and (c := run_config(study, study.run_id(n)))), None)
    for d in ("a2b", "b2a"):
        panels, notes = final_panels(study, numbers, d)
        for p in panels:
            p.label = labels[p.number]
        res.notes += [n for n in notes if n not in res.notes]
        title = f"{study.name}: final translations {direction_label(d, cfg)}, blog trials side by side"
        p = sample_comparison(panels, out / f"blog_samples_{d}.png", title, size,
                              note=GRID_NOTE + ("" if not res.missing else "; " + "; ".join(res.missing)))
        if p:
            res.files.append(p)
        else:
            res.notes.append(f"blog_samples_{d}.png: none of the blog trials logged samples/{d}")

    seeds = sorted({study.n_seeds(n) for n in numbers})
    lines = [f"# The seed blog's three trials in study `{study.name}`", "",
             "Numbers read from MLflow and Optuna (best = best value over the run's evaluations, final = last; "
             "with several seeds: mean ± half width of the 95% confidence interval over seeds).", "", md]
    if res.sentences:
        lines += [f"Pairwise ({test} test on per-seed values of the objective, Holm-corrected; seeds per trial: "
                  f"{', '.join(map(str, seeds))}):", ""] + [f"- {x}" for x in res.sentences] + [""]
    for p in res.files:
        if p.suffix == ".png":
            lines += [f"![{p.stem}]({p.name})", ""]
    if res.missing or res.notes:
        lines += ["## Gaps", ""] + [f"- {m}" for m in res.missing + res.notes] + [""]
    (out / "blog.md").write_text("\n".join(lines))
    res.files.append(out / "blog.md")
    return res


__all__ = ["make_blog", "blog_numbers", "BlogResult"]

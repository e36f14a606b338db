"""The study report: one self-contained HTML page (figures base64-embedded) with the PNGs and tables beside it,
also logged to the study's parent MLflow run (``report/``), so the report travels with the tracking store."""
from __future__ import annotations

import base64
import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup

from experiments import contract

from .figures import importances, metric_curves, parallel_coordinates, pareto_front, sample_comparison, \
    training_curves
from .load import Study
from .samples import direction_label, final_panels, image_size, run_config
from .tables import baseline_verdicts, compare_table, default_sort, render, screen, sort_table, with_baselines

REPORT_ARTIFACT_DIR = "report"

_TEMPLATE = jinja2.Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1600px; }
 h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
 table.trials { border-collapse: collapse; font-size: 0.8em; }
 table.trials th, table.trials td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; white-space: nowrap; }
 table.trials th { background: #f3f3f3; position: sticky; top: 0; }
 table.trials td:first-child, table.trials td:nth-child(2) { text-align: left; }
 .scroll { overflow-x: auto; max-width: 100%; }
 figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
 figcaption { font-size: 0.85em; color: #555; }
 .note { color: #8a5a00; } .info { color: #555; font-size: 0.85em; } dl.facts { display: grid; grid-template-columns: max-content auto; gap: 2px 1em; }
 dt { font-weight: 600; } code { background: #f5f5f5; padding: 0 3px; }
</style></head>
<body>
<h1>{{ title }}</h1>
<section id="verdict"><h2>Did it work?</h2>
<ul>{% for v in verdict %}<li><strong>{{ v }}</strong></li>{% endfor %}</ul></section>
<dl class="facts">
{% for k, v in facts %}<dt>{{ k }}</dt><dd>{{ v }}</dd>
{% endfor %}</dl>
{% if notes %}<h2>Notes</h2><ul>{% for n in notes %}<li class="note">{{ n }}</li>{% endfor %}</ul>{% endif %}
<h2>Trials</h2>
<p>One row per trial, best objective first (★); best = best value over the run's evaluations (by each
metric's direction), final = the last logged value; — = not logged (e.g. pruned or failed before that
evaluation). Columns with the same value in every trial are listed below the table instead.</p>
<div class="scroll">{{ table_html }}</div>
{% for n in table_notes %}<p class="info">{{ n }}</p>{% endfor %}
{% if pruned %}<details><summary>{{ pruned|length }} pruned trial(s): stopped early by the pruner, a normal
outcome</summary><ul>{% for n in pruned %}<li>{{ n }}</li>{% endfor %}</ul></details>{% endif %}
{% for s in sections %}
<h2>{{ s.title }}</h2>
{% if s.image %}<figure><img src="data:image/png;base64,{{ s.image }}" alt="{{ s.alt }}">
<figcaption>{{ s.caption }}</figcaption></figure>{% else %}<p class="note">{{ s.caption }}</p>{% endif %}
{% endfor %}
<p><small>Generated {{ generated }} by <code>python -m analysis report</code> from {{ tracking_uri }}.</small></p>
</body></html>
""", autoescape=jinja2.select_autoescape(default=True))


@dataclass
class Section:
    title: str
    caption: str
    image: str = ""      # base64 PNG
    alt: str = ""
    path: Path | None = None


@dataclass
class ReportResult:
    html: Path
    files: list[Path] = field(default_factory=list)
    logged_to: str | None = None
    notes: list[str] = field(default_factory=list)


def _embed(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def best_trial(study: Study, table: pd.DataFrame) -> tuple[int | None, str]:
    """Optuna's best trial (single objective) or the Pareto trial best in the first objective."""
    if study.optuna is not None:
        try:
            if not study.is_multi_objective:
                t = study.optuna.best_trial
                return t.number, f"Optuna's best trial ({study.objective_keys[0] or 'objective'} = {t.value:.4g})"
            front = study.optuna.best_trials
            if front:
                sign = 1 if study.directions[0] == "minimize" else -1
                t = min(front, key=lambda t: sign * t.values[0])
                return t.number, (f"the Pareto-optimal trial best in {study.objective_keys[0] or 'objective 0'} "
                                  f"({len(front)} Pareto-optimal trials)")
        except ValueError:  # no complete trial
            return None, "no complete trial yet"
    col = study.objective_columns[0]
    done = table[(table["status"] == "complete") & table[col].notna()]
    if not len(done):
        return None, "no complete trial with an objective value"
    asc = study.directions[0] == "minimize"
    n = int(done.sort_values(col, ascending=asc).iloc[0]["trial"])
    return n, f"best {col} among complete trials (MLflow)"


def make_report(study: Study, out: Path, sort: str | None = None, ascending: bool | None = None,
                log_to_mlflow: bool = True) -> ReportResult:
    """Write ``report.html`` + PNGs + ``trials.{csv,md}`` into ``out`` and log them to the parent run."""
    out.mkdir(parents=True, exist_ok=True)
    table = sort_table(compare_table(study), sort or default_sort(study), ascending, study)
    with_refs = sort_table(with_baselines(table, study), sort or default_sort(study), ascending, study)
    shown, table_notes = screen(with_refs, study)
    verdict = baseline_verdicts(with_refs, study)   # first on the page, above the table
    numbers = [int(n) for n in study.trials.index]
    files: list[Path] = []
    (out / "trials.csv").write_text(render(with_refs, study, "csv"))
    (out / "trials.md").write_text(render(shown, study, "markdown", mark_best=True))
    files += [out / "trials.csv", out / "trials.md"]
    sections: list[Section] = []
    notes = list(study.notes)   # what could not be read, and failures: the things to look at
    pruned = []                 # a normal outcome of a study: listed, not flagged
    for n, t in study.trials.iterrows():
        reason = t["fail_reason"] if isinstance(t["fail_reason"], str) else ""
        if t["status"] == "failed" and reason:
            notes.append(f"trial {study.label(int(n))} failed: {reason}")
        elif t["status"] == "pruned":
            pruned.append(f"trial {study.label(int(n))}: {reason or 'pruned'}")

    def add(title: str, path: Path | None, caption: str, missing: str) -> None:
        if path is not None:
            files.append(path)
            sections.append(Section(title, caption, _embed(path), alt=title, path=path))
        else:
            sections.append(Section(title, missing))

    add("Evaluation metrics over training", metric_curves(study, numbers, out / "metrics.png"),
        "One line per trial (colour = trial, line style = status); x: training iteration.",
        "No evaluation metrics were logged by any trial.")
    add("Training losses, learning rate and throughput", training_curves(study, numbers, out / "training.png"),
        "Means over each log interval, as logged by the trainer.", "No training metrics were logged.")
    add("Parameters → objective (parallel coordinates)", parallel_coordinates(study, table,
                                                                                out / "parallel_coordinates.png"),
        "Each axis spans its own min..max over the trials shown; one line per trial with an objective value.",
        "No trial has an objective value yet.")
    imp_path, why = importances(study, out / "importances.png")
    add("Parameter importances", imp_path, "optuna.importance.get_param_importances over the complete trials.",
        why)
    if study.is_multi_objective:
        add("Pareto front", pareto_front(study, table, out / "pareto_front.png"),
            "Every complete trial in objective space; Optuna's Pareto-optimal trials ringed in black.",
            "No complete trial has both objective values.")

    best, how = best_trial(study, table)
    if best is not None:
        size = image_size(study, [best])
        cfg = run_config(study, study.run_id(best)) if study.run_id(best) else None
        for d in ("a2b", "b2a"):
            panels, pnotes = final_panels(study, [best], d)
            title = f"Best trial's final samples, {direction_label(d, cfg)}"
            p = sample_comparison(panels, out / f"best_samples_{d}.png", f"{study.name}: {title}", size)
            add(title, p, f"Trial {study.label(best)}: {how}. Rows: inputs; columns: input | reconstruction | "
                          "fixed styles | random style.", "; ".join(pnotes) or "no samples logged")
    else:
        sections.append(Section("Best trial's samples", how))

    counts = table["status"].value_counts()
    objective = ", ".join(f"{k or '?'} ({d})" for k, d in zip(study.objective_keys, study.directions))
    facts = [("study / experiment", study.name), ("objective", objective),
             ("trials", ", ".join(f"{v} {k}" for k, v in counts.items())),
             ("best trial", f"{study.label(best)}: {how}" if best is not None else how),
             ("MLflow parent run", study.parent_run_id or "none"), ("tracking URI", study.tracking_uri),
             ("Optuna storage", study.storage if study.optuna is not None else f"{study.storage} (not read)")]
    verdict = [f"Best trial: {facts[3][1]}.", *(verdict or ["No reference rows (baselines) to compare with: "
                                                            "the study logged none with a value of the objective."])]
    page = _TEMPLATE.render(title=f"Study report: {study.name}", facts=facts, notes=notes, pruned=pruned,
                            verdict=verdict,
                            table_notes=table_notes,
                            table_html=Markup(render(shown, study, "html", mark_best=True)), sections=sections,
                            generated=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
                            tracking_uri=study.tracking_uri)
    report = out / "report.html"
    report.write_text(page, encoding="utf-8")
    files.insert(0, report)
    res = ReportResult(html=report, files=files, notes=notes)
    if log_to_mlflow:
        if study.parent_run_id:
            for f in files:
                study.client.log_artifact(study.parent_run_id, str(f), REPORT_ARTIFACT_DIR)
            res.logged_to = study.parent_run_id
        else:
            res.notes.append(f"no parent run (tag {contract.TAG_ROLE}={contract.ROLE_STUDY}): the report was not "
                             "logged to MLflow")
    return res


__all__ = ["make_report", "best_trial", "ReportResult", "REPORT_ARTIFACT_DIR"]

"""``python -m analysis {compare,blog,report}``: argument parsing and error reporting only; the work is in
tables / blog / report. User errors print one ``error: ...`` line and exit with status 2."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from experiments.contract import DEFAULT_STORAGE, DEFAULT_TRACKING_URI


def _common(p: argparse.ArgumentParser, out_required: bool = False) -> None:
    p.add_argument("--experiment", "-e", required=True,
                   help="MLflow experiment name = Optuna study name (e.g. munit-sweep)")
    p.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI,
                   help=f"MLflow tracking URI (default: $MLFLOW_TRACKING_URI or {DEFAULT_TRACKING_URI})")
    p.add_argument("--storage", default=DEFAULT_STORAGE,
                   help=f"Optuna storage: journal file path or database URL (default: {DEFAULT_STORAGE})")
    p.add_argument("--sort", metavar="METRIC", default=None,
                   help="sort rows by a column or metric key (fid/mean -> 'fid/mean best', trial -> by number; "
                        "default: the objective, best first)")
    order = p.add_mutually_exclusive_group()
    order.add_argument("--ascending", dest="ascending", action="store_true", default=None,
                       help="smallest first (default: the better values first)")
    order.add_argument("--descending", dest="ascending", action="store_false", help="largest first")
    p.add_argument("--test", choices=("welch", "permutation"), default="welch",
                   help="test between configurations on per-seed values (default welch: Welch's t-test)")
    p.add_argument("--out", type=Path, required=out_required, default=None, help="output directory")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m analysis",
                                 description="Tables, figures and reports of munit-ablate studies (MLflow + Optuna).")
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare", help="one row per trial: params, status, metrics, throughput, objective")
    _common(c)
    c.add_argument("--format", "-f", choices=("markdown", "csv", "latex", "html"), default="markdown")
    width = c.add_mutually_exclusive_group()
    width.add_argument("--brief", action="store_true",
                       help="metric means' final values only (a2b/b2a and best columns left out, but the "
                            "objective's), least needed columns dropped if still wider than the terminal")
    width.add_argument("--wide", action="store_true",
                       help="every column, however wide (default: the least needed columns are left out until the "
                            "table fits the terminal, 120 columns when it is not one)")
    c.add_argument("--all-columns", action="store_true",
                   help="also the columns that are the same in every trial (left out by default)")
    c.add_argument("--top", type=int, default=3, help="trials with seeds: compare the best with the next of "
                                                      "the top K (default 3)")
    b = sub.add_parser("blog", help="the seed blog's trials 1-3: table, curves, side-by-side sample grids")
    _common(b)
    r = sub.add_parser("report", help="self-contained HTML report of a study (+ PNGs), logged to the parent run")
    _common(r)
    r.add_argument("--no-log", action="store_true", help="do not log the report to the study's parent MLflow run")
    return ap


def terminal_width() -> int:
    """The terminal's columns; 120 when the output is not a terminal ($COLUMNS wins where set)."""
    import shutil
    return max(40, shutil.get_terminal_size((120, 24)).columns)


def _out(args: argparse.Namespace) -> Path:
    """--out, else out/<experiment>/<command> -- the experiment name made one safe folder name, so that a name
    like '/abs' or '../x' never writes outside out/."""
    from experiments.contract import folder_name

    return args.out if args.out is not None else Path("out") / folder_name(args.experiment) / args.command


def run(args: argparse.Namespace) -> int:
    from .load import load_study

    study = load_study(args.experiment, args.tracking_uri, args.storage)
    for n in study.notes:
        print(f"note: {n}", file=sys.stderr)
    if args.command == "compare":
        from .tables import (EXTENSIONS, baseline_verdicts, compare_table, default_sort, render, screen, sort_table,
                             value_note, with_baselines)

        trials = compare_table(study)
        table = sort_table(with_baselines(trials, study), args.sort or default_sort(study), args.ascending, study)
        if args.format == "csv":   # machine-readable: every column, raw numbers
            text = render(table, study, "csv")
        else:
            cols = terminal_width()
            shown, notes = screen(table, study, args.brief, args.all_columns, width=cols, fit=not args.wide)
            notes = baseline_verdicts(table, study) + [n for n in [value_note(study)] if n] + notes
            text = render(shown, study, args.format, mark_best=True, brief_labels=args.brief)
            marks = "★ = best by the objective" if not study.is_multi_objective else "★ = Pareto-optimal"
            if args.format == "markdown":   # notes wrapped to the table's width, as markdown lines
                import textwrap
                text += "\n" + "\n".join(textwrap.fill(n, cols - 2) + "  " for n in [marks, *notes]) + "\n"
            else:
                for n in [marks, *notes]:
                    print(f"note: {n}", file=sys.stderr)
        if args.format == "markdown" and len(study.seed_runs):   # trials with seeds: say what is significant
            from .significance import sentences, top_comparisons
            said = sentences(study, top_comparisons(study, sort_table(trials, args.sort or default_sort(study),
                                                                      args.ascending, study), args.top, args.test))
            if said:
                text += (f"\nThe best {min(args.top, len(said) + 1)} trials by the objective ({args.test} test on "
                         "per-seed values, Holm-corrected, 95% intervals):\n\n" + "".join(f"- {x}\n" for x in said))
        print(text, end="" if text.endswith("\n") else "\n")
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            path = args.out / f"compare.{EXTENSIONS[args.format]}"
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}", file=sys.stderr)
        return 0
    if args.command == "blog":
        from .blog import make_blog

        res = make_blog(study, _out(args), args.sort, args.ascending, args.test)
        print((res.out / "blog_table.md").read_text())
        for x in res.sentences:
            print(x)
        for m in res.missing + res.notes:
            print(f"note: {m}", file=sys.stderr)
        for f in res.files:
            print(f"wrote {f}")
        return 0
    from .report import make_report

    res = make_report(study, _out(args), args.sort, args.ascending, log_to_mlflow=not args.no_log)
    for m in res.notes[len(study.notes):]:
        print(f"note: {m}", file=sys.stderr)
    for f in res.files:
        print(f"wrote {f}")
    if res.logged_to:
        print(f"logged {len(res.files)} files to MLflow run {res.logged_to} under report/")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # before any heavy import: --help and argument errors return at once
    from .load import AnalysisError

    try:
        return run(args)
    except AnalysisError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


__all__ = ["main", "build_parser"]

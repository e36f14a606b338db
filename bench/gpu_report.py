"""The GPU check's reading of its steps (bench/gpu_check.py): the JSON records a step's output holds, the facts of
the sweep's run folders and of the GPU tests' JUnit report, and the summary -- markdown rendered from the check's
results.json alone, so that a results.json brought back from the GPU machine can be re-rendered anywhere
(``bash bench/gpu_check.sh --render results.json``)."""
from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any, Mapping

GOALS = {1: 20.0, 8: 8.0}          # batch -> required multiple of the reference's fp32 rate
METRIC_GOAL_S = 60.0               # seconds a warm evaluation of the full metric protocol may take


# ------------------------------------------------------------------------------------------------ parsing

def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects of a step's output, one per line; other lines are ignored."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
    return out


def sweep_facts(root: Path, study: str) -> dict[str, Any]:
    """What the sweep's trials did, from their run folders: iterations, median it/s, the levers they trained with."""
    from experiments import contract
    from munit.checkpoint import RunFolder

    trials = []
    for folder in sorted((root / contract.TRIALS / study).glob("*"), key=lambda p: p.name):
        run = RunFolder(folder)
        if not run.config.is_file():
            continue
        cfg = json.loads(run.config.read_text())
        rates = [r["it_per_s"] for r in run.records(RunFolder.LOG) if r.get("it_per_s")]
        logs = run.records(RunFolder.LOG)
        train = cfg.get("train", {})
        trials.append({"trial": folder.name, "device": cfg.get("device"), "iters": logs[-1]["step"] if logs else 0,
                       "it_per_s_median": statistics.median(rates) if rates else None,
                       "precision": train.get("precision"), "channels_last": train.get("channels_last"),
                       "cudnn_benchmark": train.get("cudnn_benchmark"), "compile": train.get("compile"),
                       "cuda_graph": train.get("cuda_graph"), "checkpoint": run.has_checkpoint(),
                       "metrics": len(run.records(RunFolder.METRICS))})
    return {"what": "sweep-trials", "trials": trials}


def junit_facts(path: Path) -> dict[str, Any]:
    """Passed, skipped and failed (with the first line of why) test cases of a JUnit XML report."""
    import xml.etree.ElementTree as ET

    if not path.is_file():
        return {"what": "gpu-tests", "error": "no junit report"}
    cases = list(ET.parse(path).getroot().iter("testcase"))
    out: dict[str, Any] = {"what": "gpu-tests", "passed": 0, "failed": [], "skipped": 0}
    for c in cases:
        name = c.get("name")
        bad = c.find("failure") if c.find("failure") is not None else c.find("error")
        if bad is not None:
            first = ((bad.get("message") or "").splitlines() or [""])[0]
            out["failed"].append(f"{name}: {first[:200]}")
        elif c.find("skipped") is not None:
            out["skipped"] += 1
        else:
            out["passed"] += 1
    return out


# ------------------------------------------------------------------------------------------------ the summary

def _cell(v: Any, nd: int = 1) -> str:
    """A table cell: floats to ``nd`` decimals, a dash for nothing."""
    if v is None or v == "":
        return "—"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def env_facts(results: Mapping[str, Any]) -> dict[str, Any]:
    """The env step's record (torch, CUDA, GPU, packages); empty before that step ran."""
    return next((r for r in results["steps"]["env"]["records"] if "torch" in r), {})


def render(results: Mapping[str, Any]) -> str:
    """The summary (markdown) of a GPU check: what results.json holds, as tables."""
    steps = results["steps"]
    env = env_facts(results)
    dry = " — DRY RUN on CPU (tiny sizes: no figure means anything)" if results["dry_run"] else ""
    measured = "measured" if results["cuda_default_measured"] else "UNMEASURED prediction"
    lines = [f"# GPU check: {env.get('gpu', 'no GPU')}{dry}", "",
             f"{results['started']}; torch {env.get('torch', '?')}, CUDA {env.get('cuda', '—')}, "
             f"cuDNN {env.get('cudnn', '—')}, Python {env.get('python', '?')}, {env.get('cpu_count', '?')} CPUs; "
             f"nvidia-smi: {env.get('nvidia_smi', '—')}",
             f"Sweep default on CUDA: `{results['cuda_default']}` ({measured}).",
             "", "## Steps", "", "| step | status | s | note |", "|---|---|---|---|"]
    for name, s in steps.items():
        lines.append(f"| {name} | {s['status']} | {s['wall_s']:.1f} | {s['note']} |")

    # the training step, beside the reference
    recs = [r for n in ("bench", "bench-graph", "bench-compile") for r in steps[n]["records"]]
    refs = {r["batch"]: r for r in recs if r.get("what") == "blog_reference"}
    lines += ["", "## Training step beside blog_reference.py (fp32)", "",
              "Goal: batch 1 at least 20x the reference's fp32 it/s; batch 8 at least 8x its images/s. "
              "`first s`: the first step (compilation, cuDNN search); `h/1M it`: hours for 1,000,000 iterations at "
              "that rate (the paper trains 1M iterations of batch 1).", "",
              "| setting | levers | batch | it/s | img/s | x ref | goal | first s | peak GiB | h/1M it |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    if not results["reference_carried"]:
        lines.append("| blog_reference.py | reference: not carried | | | | | | | | |")
    for b, r in sorted(refs.items()):
        if "error" in r:
            lines.append(f"| blog_reference.py | fp32 | {b} | error: {r['error'][:120]} | | | | | | |")
        else:
            lines.append(f"| blog_reference.py | fp32 eager | {b} | {_cell(r['it_per_s'], 2)} | "
                         f"{_cell(r['img_per_s'], 1)} | 1.0 | | | | {_cell(r.get('hours_per_1m_iters'), 1)} |")
    for r in recs:
        if r.get("what") != "munit":
            continue
        name = r.get("setting") or "custom"
        if r.get("compile_cache_warm"):
            name += " (cache warm)"
        if "skipped" in r or "error" in r:
            why = r.get("skipped") or f"error: {r['error'][:160]}"
            lines.append(f"| {name} | {r.get('levers', '')} | {r.get('batch')} | {why} | | | | | | |")
            continue
        ref = refs.get(r["batch"], {})
        ratio = r["it_per_s"] / ref["it_per_s"] if ref.get("it_per_s") else None
        goal = GOALS.get(r["batch"])
        verdict = "" if ratio is None or goal is None else ("✓" if ratio >= goal else f"✗ (<{goal:g}x)")
        lines.append(f"| {name} | {r.get('levers', '')} | {r['batch']} | {_cell(r['it_per_s'], 2)} | "
                     f"{_cell(r['img_per_s'], 1)} | {_cell(ratio, 2)} | {verdict} | "
                     f"{_cell(r.get('first_step_s'), 2)} | {_cell(r.get('peak_mem_gib'), 2)} | "
                     f"{_cell(r.get('hours_per_1m_iters'), 1)} |")

    lines += ["", "## Metric protocol (stand-in weights: timing only)", "",
              "| preset | px | fakes | real/domain | cold s | warm s | goal < 60 s | peak GiB | metrics |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in steps["metrics"]["records"]:
        if r.get("what") == "metrics-protocol":
            ok = "✓" if r["warm_s"] < METRIC_GOAL_S else "✗"
            full = "" if r.get("full_protocol") else " (not the full protocol)"
            lines.append(f"| {r['preset']} | {r['image_size']} | {r['n_fake']}{full} | {r['n_real_per_domain']} | "
                         f"{r['cold_s']} | {r['warm_s']} | {ok} | {_cell(r.get('peak_mem_gib'), 2)} | "
                         f"{','.join(r['metrics'])} |")

    sweep = steps["sweep"]
    lines += ["", "## Main job: sweep.py end to end (MLflow + Optuna)", "",
              f"Status: {sweep['status']}; {sweep['wall_s']:.0f} s.", "",
              "| trial | device | iterations | it/s (median) | precision | channels_last | cuda_graph | compile | "
              "evaluations | checkpoint |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sweep["records"]:
        for t in r.get("trials", []):
            lines.append(f"| {t['trial']} | {t['device']} | {t['iters']} | {_cell(t['it_per_s_median'], 1)} | "
                         f"{t['precision']} | {t['channels_last']} | {t['cuda_graph']} | {t['compile']} | "
                         f"{t['metrics']} | {t['checkpoint']} |")

    lines += ["", "## GPU-marked tests (correctness guard)", ""]
    for r in steps["gpu-tests"]["records"]:
        if r.get("what") == "gpu-tests":
            lines.append(f"passed {r.get('passed', 0)}, skipped {r.get('skipped', 0)}, failed "
                         f"{len(r.get('failed', []))}" + "".join(f"\n- {f}" for f in r.get("failed", [])))
    return "\n".join(lines) + "\n"


__all__ = ["GOALS", "METRIC_GOAL_S", "json_lines", "sweep_facts", "junit_facts", "env_facts", "render"]

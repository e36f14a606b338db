"""The learning curve of `munit train --data synthetic` (docs/metrics.md, "What a CPU budget reaches"): fit per
direction at each evaluation of K seed runs, mean and 95% t-interval over the seeds, against the oracle and the
best no-learning reference of each direction (drawn as horizontal lines).

    # the runs (each ~270 CPU s on one core at the defaults; one at a time):
    for s in 0 1 2; do python -m munit train --data synthetic --out lc/s$s --seed $s --eval-every 500 \\
        --metrics fit,content,acc --eval-n-val 64 --quiet; done
    python bench/learning_curve.py lc/s0 lc/s1 lc/s2 --out docs/figures/learning_curve.png

Prints one JSON object (the table) and writes the figure.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def _curve(runs: list[Path]) -> dict[int, dict[str, list[float]]]:
    by_step: dict[int, dict[str, list[float]]] = {}
    for run in runs:
        last = {int(r["step"]): r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())}
        for step, r in last.items():   # one value per step and run
            for d in ("a2b", "b2a"):
                by_step.setdefault(step, {}).setdefault(d, []).append(float(r[f"fit/{d}"]))
    return dict(sorted(by_step.items()))


def _ci(v: list[float]) -> tuple[float, float]:
    from scipy import stats
    a = np.asarray(v)
    half = stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / np.sqrt(len(a)) if len(a) > 1 else float("nan")
    return float(a.mean()), float(half)


def main(argv: list[str] | None = None) -> int:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from munit.data import DataConfig, load_domains
    from munit.metrics.fitn import reference_fits
    from munit.metrics.protocol import EvalData

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run folders of `munit train` (one per seed)")
    ap.add_argument("--out", type=Path, default=Path("docs/figures/learning_curve.png"))
    ap.add_argument("--n-val", type=int, default=64, help="the runs' --eval-n-val")
    args = ap.parse_args(argv)

    cfg = json.loads((args.runs[0] / "config.json").read_text())
    dcfg = DataConfig.from_saved(cfg["data"])
    size = int(cfg["model"]["image_size"])
    data = EvalData(*load_domains(dcfg, "train", size), *load_domains(dcfg, "val", size))
    refs = reference_fits(data, args.n_val, "cpu")
    curve = _curve(args.runs)
    batch = int(cfg["train"]["batch_size"])
    table = {"runs": [str(r) for r in args.runs], "batch_size": batch, "references": refs, "curve": {}}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), sharey=False)
    for ax, d in zip(axes, ("a2b", "b2a")):
        steps = list(curve)
        stats_ = [_ci(curve[s][d]) for s in steps]
        for s, (m, h) in zip(steps, stats_):
            n = len(curve[s][d])
            table["curve"].setdefault(str(s), {})[d] = {"mean": round(m, 4), "ci95": round(h, 4), "seeds": n}
            table["curve"][str(s)][f"fitn_{d}"] = round((m - refs[d]["oracle"]) / (
                min(v for k, v in refs[d].items() if k != "oracle") - refs[d]["oracle"]), 2)
        m = np.array([x for x, _ in stats_])
        h = np.nan_to_num(np.array([x for _, x in stats_]))
        ax.errorbar(steps, m, yerr=h, marker="o", capsize=3, label=f"munit train (mean ± 95% CI, {len(args.runs)} seeds)")
        best_name = min((k for k in refs[d] if k != "oracle"), key=lambda k: refs[d][k])
        ax.axhline(refs[d][best_name], color="tab:red", ls="--", label=f"best no-learning: {best_name} {refs[d][best_name]:.4f}")
        ax.axhline(refs[d]["identity"], color="tab:gray", ls=":", label=f"identity {refs[d]['identity']:.4f}")
        ax.axhline(refs[d]["oracle"], color="tab:green", ls="-.", label=f"oracle {refs[d]['oracle']:.4f}")
        ax.set_title(f"{d}: fit error (lower is better)")
        ax.set_xlabel(f"iteration (batch {batch})")
        ax.set_ylim(0, max(0.13, float(m.max()) * 1.1))
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    table["figure"] = str(args.out)
    print(json.dumps(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

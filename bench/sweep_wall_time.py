"""Wall time of the main job, `python experiments/sweep.py --trials N`, for several checkouts of this repository,
run one after the other in alternation (A, B, A, B, ...) on the same machine, each from an empty store and an
empty metric cache, with the checkout's own defaults (no thread or worker options).

    python bench/sweep_wall_time.py --checkout before=/tmp/old --checkout after=. --trials 20

Prints one JSON line per run (wall seconds, trial states, the machine's load average around it) and a table.
Alternating spreads slow drifts of a shared machine's load over both sides; the load columns show what the
runs had to share the machine with.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(checkout: Path, trials: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="sweep-wall-") as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
        env.update(MUNIT_CACHE=str(Path(tmp) / "cache"), MUNIT_ALLOW_DOWNLOAD="0", PYTHONPATH=str(checkout))
        cmd = [sys.executable, "experiments/sweep.py", "--trials", str(trials), "--root", str(Path(tmp) / "mlruns"),
               "--no-progress", *extra]
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        summary = next((ln for ln in p.stdout.splitlines() if ln.startswith("study ")), "")
        return {"wall_s": round(wall, 1), "rc": p.returncode, "summary": summary,
                "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2),
                "stderr_tail": p.stderr.strip().splitlines()[-1:] if p.returncode else []}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkout", action="append", required=True, metavar="NAME=PATH")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("extra", nargs="*", help="more sweep options (after --), the same for every checkout")
    a = ap.parse_args(argv)
    checkouts = [(c.split("=", 1)[0], Path(c.split("=", 1)[1]).resolve()) for c in a.checkout]
    walls: dict[str, list[float]] = {name: [] for name, _ in checkouts}
    for r in range(a.repeats):
        for name, path in checkouts:
            res = run_once(path, a.trials, a.extra)
            walls[name].append(res["wall_s"])
            print(json.dumps({"checkout": name, "repeat": r, "trials": a.trials, **res}), flush=True)
    print(f"\n| checkout | runs (wall s) | median |\n|---|---|---|")
    for name, w in walls.items():
        print(f"| {name} | {', '.join(f'{x:.0f}' for x in w)} | {statistics.median(w):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

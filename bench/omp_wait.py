"""Forwards per second of the tiny preset's generator (batch 4, 32 px) with 1 thread, with all cores and the
default OpenMP wait policy, and with all cores and OMP_WAIT_POLICY=PASSIVE -- each in a fresh process (the
policy is read when torch loads), alternating, so a shared machine's load falls on all three alike.

    python bench/omp_wait.py --seconds 5 --repeats 3

On a machine where something else keeps a core busy, the default policy's spinning threads collapse the pool;
PASSIVE is what every entry point of this project sets (munit.threads).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import time, torch
from munit.config import model_preset
from munit.model import Generator
torch.manual_seed(0)
g = Generator(model_preset("tiny")).eval()
x = torch.randn(4, 3, 32, 32)
with torch.no_grad():
    for _ in range(5):
        g.decode(*g.encode(x))
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < {seconds}:
        g.decode(*g.encode(x)); n += 1
print(n / (time.perf_counter() - t0), torch.get_num_threads())
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    cores = str(len(os.sched_getaffinity(0)))
    settings = {"1 thread": {"OMP_NUM_THREADS": "1"},
                f"{cores} threads, default wait policy": {"OMP_NUM_THREADS": cores},
                f"{cores} threads, OMP_WAIT_POLICY=PASSIVE": {"OMP_NUM_THREADS": cores, "OMP_WAIT_POLICY": "PASSIVE"}}
    rates: dict[str, list[float]] = {k: [] for k in settings}
    for r in range(a.repeats):
        for name, extra in settings.items():
            env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
            env.update(extra, PYTHONPATH=str(ROOT))
            out = subprocess.run([sys.executable, "-c", PROBE.format(seconds=a.seconds)], env=env, cwd=ROOT,
                                 capture_output=True, text=True, check=True).stdout.split()
            rates[name].append(float(out[0]))
            print(json.dumps({"setting": name, "repeat": r, "forwards_per_s": round(float(out[0]), 1),
                              "threads": int(out[1]), "load": round(os.getloadavg()[0], 2)}), flush=True)
    print("\n| setting | forwards/s (median of runs) | runs |\n|---|---|---|")
    for name, v in rates.items():
        print(f"| {name} | {statistics.median(v):.0f} | {', '.join(f'{x:.0f}' for x in v)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every command line answers --help (and argument errors) before importing anything heavy: no torch, no mlflow."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import json, runpy, sys, time
target, argv = sys.argv[1], sys.argv[2:]
t = time.perf_counter()
sys.argv = [target, *argv]
try:
    if target.endswith(".py"):
        runpy.run_path(target, run_name="__main__")
    else:
        runpy.run_module(target, run_name="__main__", alter_sys=True)
except SystemExit as e:
    code = e.code
else:
    code = 0
heavy = sorted(m for m in ("torch", "mlflow", "optuna", "pandas", "matplotlib") if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy, "s": time.perf_counter() - t}), file=sys.stderr)
"""


@pytest.mark.parametrize("target, argv", [
    ("munit", ["--help"]), ("munit", ["train", "--help"]), ("munit", ["evaluate", "--help"]),
    ("munit", ["train", "--no-such-option"]),
    ("experiments/sweep.py", ["--help"]), ("experiments/sweep.py", ["--trials", "x"]),
    ("experiments/reproduce_blog.py", ["--help"]),
    ("analysis", ["--help"]), ("analysis", ["compare", "--help"]), ("analysis", ["report"]),
])
def test_help_and_argument_errors_import_nothing_heavy(target, argv):
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PROBE, target, *argv], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    wall = time.perf_counter() - t
    res = json.loads(out.stderr.strip().splitlines()[-1])
    assert res["code"] in (0, 2), out.stderr
    assert "usage:" in out.stdout + out.stderr
    assert res["heavy"] == [], f"{target} {' '.join(argv)} imported {res['heavy']}"
    assert res["s"] < 3.0 and wall < 15, (res["s"], wall)   # seconds: torch alone takes ~3 s to import

"""The prepared GPU check (bench/gpu_check.sh) in its CPU dry-run mode: every step at tiny sizes, the settings that
need CUDA reported as skipped, the benchmark run beside a stand-in of the seed blog's script, the sweep end to end
with a worker's levers reaching its trainers, and one summary under OUT."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# what blog_reference.py prints, at a made-up rate: the test checks the side-by-side arithmetic, not a speed
FAKE_REFERENCE = textwrap.dedent("""
    import argparse, json
    ap = argparse.ArgumentParser()
    for a in ("--iters", "--batch", "--size", "--warmup"):
        ap.add_argument(a, type=int)
    ap.add_argument("--mode")
    a = ap.parse_args()
    assert a.mode == "fp32"
    print(json.dumps({"mode": a.mode, "batch": a.batch, "size": a.size, "iters": a.iters, "it_per_s": 0.5,
                      "img_per_s": 0.5 * a.batch, "device": "cpu"}))
""")


def _check(out: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = ["bash", str(ROOT / "bench" / "gpu_check.sh"), "--dry-run", "--out", str(out), "--wheels",
           str(out / "no-wheels"), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHON": sys.executable})


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gpu-check")
    ref = tmp / "fake_reference.py"
    ref.write_text(FAKE_REFERENCE)
    out = tmp / "out"
    proc = _check(out, "--reference", str(ref))
    return proc, out


def test_the_dry_run_runs_every_step(dry_run):
    proc, out = dry_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["check.log", "results.json", "summary.md"]   # <= 8 files back
    res = json.loads((out / "results.json").read_text())
    steps = res["steps"]
    assert res["dry_run"] and res["cuda_default_measured"] is False
    assert steps["install"]["status"].startswith("skipped: no wheels")
    for name in ("env", "bench", "metrics", "sweep", "gpu-tests"):
        assert steps[name]["status"] == "ok", (name, steps[name]["status"])
    for name in ("bench-graph", "bench-compile"):          # every one of their settings needs CUDA
        assert steps[name]["status"] == "skipped: every setting needs CUDA"
    log = (out / "check.log").read_text()
    assert "munit.bench step --setting fp32 bf16 bf16-cl" in log and "experiments/sweep.py" in log


def test_the_step_benchmark_runs_beside_the_reference(dry_run):
    proc, out = dry_run
    recs = json.loads((out / "results.json").read_text())["steps"]["bench"]["records"]
    refs = {r["batch"]: r for r in recs if r["what"] == "blog_reference"}
    ours = {r["batch"]: r for r in recs if r["what"] == "munit" and r["setting"] == "fp32"}
    assert sorted(refs) == sorted(ours) == [1, 2]
    for b in (1, 2):
        assert ours[b]["speedup"] == pytest.approx(ours[b]["it_per_s"] / 0.5)
        assert ours[b]["first_step_s"] > 0 and ours[b]["hours_per_1m_iters"] > 0
    skipped = {(r["setting"], r["skipped"]) for r in recs if "skipped" in r}
    assert ("bf16", "bf16 autocast needs CUDA") in skipped
    summary = (out / "summary.md").read_text()
    assert "DRY RUN" in summary and "| blog_reference.py | fp32 eager | 1 | 0.50 |" in summary
    assert f"| fp32 | fp32 eager | 1 | {ours[1]['it_per_s']:.2f} |" in summary
    assert "| bf16-cl-graph |  | 1 | bf16 autocast needs CUDA |" in summary


def test_the_sweep_ran_end_to_end_with_the_workers_levers(dry_run):
    proc, out = dry_run
    steps = json.loads((out / "results.json").read_text())["steps"]
    trials = next(r for r in steps["sweep"]["records"] if r.get("what") == "sweep-trials")["trials"]
    assert len(trials) == 2
    for t in trials:   # --fast-path cl: channels_last and cudnn.benchmark in every trial's trainer
        assert t["device"] == "cpu" and t["iters"] == 2 and t["checkpoint"] and t["metrics"] == 1
        assert t["channels_last"] and t["cudnn_benchmark"] and not t["cuda_graph"] and t["precision"] == "fp32"
    tests = next(r for r in steps["gpu-tests"]["records"] if r.get("what") == "gpu-tests")
    assert tests["passed"] == 0 and tests["failed"] == [] and tests["skipped"] >= 10   # collected, skipped: no CUDA
    metrics = next(r for r in steps["metrics"]["records"] if r.get("what") == "metrics-protocol")
    assert metrics["n_fake"] == 2 * 2 * 2 and metrics["cold_s"] > 0 and metrics["warm_s"] > 0


def test_without_the_reference_it_says_so(tmp_path):
    proc = _check(tmp_path / "out", "--only", "bench", "--reference", str(tmp_path / "absent.py"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "reference: not carried" in summary
    recs = json.loads((tmp_path / "out" / "results.json").read_text())["steps"]["bench"]["records"]
    assert not any(r["what"] == "blog_reference" for r in recs) and any("it_per_s" in r for r in recs)


def _driver(*args: str) -> str:
    """bench/gpu_check.sh with ``args`` that start nothing (--plan, --render): its standard output."""
    proc = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _steps(**records: list) -> dict:
    """results.json's steps, every one not run, with these records."""
    names = ("install", "env", "bench", "bench-graph", "metrics", "sweep", "gpu-tests", "bench-compile")
    return {n: {"name": n, "status": "not run", "wall_s": 0.0, "commands": [], "note": "",
                "records": records.get(n.replace("-", "_"), [])} for n in names}


def test_the_gpu_plan_and_its_table(tmp_path):
    """What the GPU run would launch (no process started here), and the table it would write from GPU-like records:
    ratios to the reference at the same batch, the goals (20x at batch 1, 8x at batch 8, metrics < 60 s)."""
    (tmp_path / "ref.py").write_text("")
    plan = json.loads(_driver("--plan", "--out", str(tmp_path / "out"), "--reference", str(tmp_path / "ref.py"),
                              "--wheels", str(tmp_path / "whl"), "--python", "python3"))
    bench = plan["bench"]
    assert bench[bench.index("--setting") + 1:bench.index("--setting") + 4] == ["fp32", "bf16", "bf16-cl"]
    assert " --preset paper --image-size 256 --batch 1 8 " in " ".join(bench) and "--reference" in bench
    sweep = " ".join(plan["sweep"])
    assert "--preset paper --image-size 256 --iters 150" in sweep and "--trials 2" in sweep
    assert "--fast-path" not in sweep and "--precision" not in sweep and "--device" not in sweep   # CUDA defaults
    assert "--metrics" not in plan["metrics"]                                                      # full protocol

    steps = _steps(
        env=[{"torch": "2.11.0", "gpu": "NVIDIA H200", "cuda_available": True}],
        bench=[
            {"what": "blog_reference", "batch": 1, "it_per_s": 4.7, "img_per_s": 4.7, "hours_per_1m_iters": 59.1},
            {"what": "blog_reference", "batch": 8, "it_per_s": 2.475, "img_per_s": 19.8},
            {"what": "munit", "setting": "fp32", "levers": "fp32 eager", "batch": 1, "it_per_s": 9.4,
             "img_per_s": 9.4, "first_step_s": 1.2, "peak_mem_gib": 2.5, "hours_per_1m_iters": 29.6}],
        bench_graph=[
            {"what": "munit", "setting": "bf16-cl-graph", "levers": "bf16 + cuda_graph", "batch": 1,
             "it_per_s": 100.0, "img_per_s": 100.0, "first_step_s": 3.0, "peak_mem_gib": 1.9,
             "hours_per_1m_iters": 2.8},
            {"what": "munit", "setting": "bf16-cl-graph", "levers": "bf16 + cuda_graph", "batch": 8,
             "it_per_s": 19.0, "img_per_s": 152.0, "first_step_s": 3.0, "peak_mem_gib": 9.0,
             "hours_per_1m_iters": 14.6}],
        bench_compile=[{"what": "munit", "setting": "bf16-cl-compile", "batch": 1, "error": "RuntimeError: boom"}],
        metrics=[{"what": "metrics-protocol", "preset": "paper", "image_size": 256, "n_fake": 10000,
                  "full_protocol": True, "n_real_per_domain": 1000, "cold_s": 70.1, "warm_s": 31.5,
                  "peak_mem_gib": 12.0, "metrics": ["fid", "lpips"]}],
        gpu_tests=[{"what": "gpu-tests", "passed": 11, "skipped": 0,
                    "failed": ["test_fast_paths_track_fp32_losses[fp16-cl]: AssertionError"]}])
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"dry_run": False, "started": "2026-01-01 00:00 UTC", "budget_s": 390.0,
                                   "reference": str(tmp_path / "ref.py"), "reference_carried": True,
                                   "cuda_default": "bf16-cl-graph", "cuda_default_measured": False, "steps": steps}))
    table = _driver("--render", str(results))
    assert table.startswith("# GPU check: NVIDIA H200\n")
    assert "| fp32 | fp32 eager | 1 | 9.40 | 9.4 | 2.00 | ✗ (<20x) | 1.20 | 2.50 | 29.6 |" in table
    assert "| bf16-cl-graph | bf16 + cuda_graph | 1 | 100.00 | 100.0 | 21.28 | ✓ |" in table
    assert "| bf16-cl-graph | bf16 + cuda_graph | 8 | 19.00 | 152.0 | 7.68 | ✗ (<8x) |" in table
    assert "| bf16-cl-compile |  | 1 | error: RuntimeError: boom |" in table
    assert "| paper | 256 | 10000 | 1000 | 70.1 | 31.5 | ✓ |" in table
    assert "passed 11, skipped 0, failed 1\n- test_fast_paths_track_fp32_losses[fp16-cl]" in table

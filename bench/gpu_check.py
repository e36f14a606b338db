#!/usr/bin/env python3
"""The prepared GPU check: one call on a GPU machine measures what docs/speed.md needs.

    bash bench/gpu_check.sh                  # on the GPU machine (6.5 minutes at most); results in $OUT
    bash bench/gpu_check.sh --dry-run        # any machine: the same steps at tiny sizes on the CPU (CI)
    bash bench/gpu_check.sh --only bench-compile,sweep    # rerun some steps
    bash bench/gpu_check.sh --plan           # what the GPU run would launch, one JSON object; runs nothing
    bash bench/gpu_check.sh --render OUT/results.json     # the summary of a finished check, again

Steps, in order of what matters most if time runs short; each runs in its own process group with its own time
budget, inside one overall budget, and a step that fails or times out loses nothing of the others:

  install        the carried wheels (.whl/) into a target folder that every later step has on its PYTHONPATH
  env            torch, CUDA, the GPU (nvidia-smi), and the versions of mlflow, optuna, ... (gpu_env_probe.py)
  bench          the step benchmark (paper preset, 256 px, cycle loss on) for the eager settings, beside the seed
                 blog's step (blog_reference.py, fp32, same process, same GPU) at batch 1 and 8
  bench-graph    the same for the whole-step CUDA graph settings
  metrics        the full metric protocol (500 val x 10 styles x 2 directions, 256 px) with stand-in weights
  sweep          sweep.py end to end on CUDA (paper preset, 2 trials, MLflow + Optuna), and beside it
  gpu-tests      pytest -m gpu: the correctness guard of the fast paths (tests/test_gpu.py)
  bench-compile  the torch.compile settings, then one again in a fresh process (compile cache reused)

Writes OUT/summary.md (one markdown table per part), OUT/results.json (every step's status and records) and
OUT/check.log (every step's output), rewritten after each step, so a run cut short still returns what it did.
In a dry run the sizes are tiny, settings that need CUDA are listed as skipped, and no figure means anything.
This file runs the steps; gpu_report.py reads their output and renders the summary.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpu_report import json_lines, junit_facts, render, sweep_facts  # noqa: E402 (beside this file)
from munit.fastpath import CUDA_DEFAULT, CUDA_DEFAULT_MEASURED, parse_setting  # noqa: E402 (torch-free)

STEPS = ("install", "env", "bench", "bench-graph", "metrics", "sweep", "gpu-tests", "bench-compile")
EAGER = ("fp32", "bf16", "bf16-cl")
GRAPH = ("fp32-graph", "bf16-cl-graph")
COMPILED = ("bf16-cl-compile", "bf16-cl-compile-graph")
REFERENCE = ".bench/blog_reference.py"
SWEEP_STUDY = "gpu-check"
ENV_PROBE = "bench/gpu_env_probe.py"


# ------------------------------------------------------------------------------------------------ running steps

@dataclass
class Step:
    name: str
    status: str = "not run"
    wall_s: float = 0.0
    commands: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Proc:
    """A step's command in its own process group, its output in a file; killed whole at its deadline."""

    def __init__(self, cmd: list[str], env: dict[str, str], logdir: Path, name: str):
        self.cmd, self.name = cmd, name
        self.log = logdir / f"{name}.log"
        self.fh = open(self.log, "w")
        self.t0 = time.perf_counter()
        self.p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.fh, stderr=subprocess.STDOUT, text=True,
                                  start_new_session=True)

    def wait(self, timeout: float) -> tuple[str, float, str]:
        try:
            rc = self.p.wait(timeout=max(timeout, 0.1))
            status = "ok" if rc == 0 else f"failed (exit {rc})"
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)   # our own process group: the step and its children
            self.p.wait()
            status = f"timed out after {timeout:.0f} s"
        self.fh.close()
        return status, time.perf_counter() - self.t0, self.log.read_text(errors="replace")


def shown(cmd: list[str]) -> str:
    """A command as a shell line."""
    return shlex.join(cmd)


class Check:
    def __init__(self, args: argparse.Namespace):
        self.a = args
        self.dry = args.dry_run
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix="munit-gpu-check-"))
        self.t0 = time.perf_counter()
        self.deadline = self.t0 + args.budget
        self.steps: dict[str, Step] = {n: Step(n) for n in STEPS}
        self.only = set(args.only.split(",")) if args.only else set(STEPS)
        unknown = self.only - set(STEPS)
        if unknown:
            raise SystemExit(f"error: unknown step(s) {', '.join(sorted(unknown))}; steps: {', '.join(STEPS)}")
        self.py = args.python
        self.site: str | None = None
        self.ref = Path(args.reference) if args.reference else ROOT / REFERENCE
        self.cuda = False
        self.log_parts: list[str] = []
        self.started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    # -- environment of every step
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        paths = [str(ROOT)] + ([self.site] if self.site else []) + \
            ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        env.update(PYTHONPATH=os.pathsep.join(paths), PYTHONUNBUFFERED="1", MUNIT_ALLOW_DOWNLOAD="0",
                   HF_HUB_OFFLINE="1", MPLBACKEND="Agg", MUNIT_CACHE=str(self.tmp / "munit-cache"),
                   TORCHINDUCTOR_CACHE_DIR=env.get("TORCHINDUCTOR_CACHE_DIR") or str(self.tmp / "inductor"))
        if self.dry:
            env.setdefault("OMP_NUM_THREADS", "1")
            env["CUDA_VISIBLE_DEVICES"] = ""    # the dry run is the CPU path, also on a GPU machine
        return env

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def wanted(self, name: str) -> bool:
        return name in self.only

    def start(self, name: str, cmd: list[str]) -> Proc:
        step = self.steps[name]
        step.commands.append(shown(cmd))
        print(f"[{time.perf_counter() - self.t0:6.1f} s] {name}: {shown(cmd)}", flush=True)
        return Proc(cmd, self.env(), self.tmp, f"{name}-{len(step.commands)}")

    def finish(self, name: str, proc: Proc, budget: float) -> str:
        """Wait for ``proc`` within the step's budget and the overall deadline; record status, time, output."""
        step = self.steps[name]
        status, wall, text = proc.wait(min(budget, self.left()))
        step.wall_s += wall
        step.records += json_lines(text)
        if step.status in ("not run", "ok"):
            step.status = status
        self.log_parts.append(f"===== {name}: {shown(proc.cmd)}\n===== {status}, {wall:.1f} s\n{text}\n")
        print(f"[{time.perf_counter() - self.t0:6.1f} s] {name}: {status} ({wall:.1f} s)", flush=True)
        self.write()
        return status

    def run(self, name: str, cmd: list[str], budget: float) -> str:
        if self.left() < 10:
            self.skip(name, "out of time (overall budget)")
            return self.steps[name].status
        return self.finish(name, self.start(name, cmd), budget)

    def skip(self, name: str, why: str) -> None:
        self.steps[name].status = f"skipped: {why}"
        print(f"[{time.perf_counter() - self.t0:6.1f} s] {name}: skipped ({why})", flush=True)
        self.write()

    # -- the steps
    def step_install(self) -> None:
        wheels = sorted(Path(self.a.wheels).glob("*.whl")) if Path(self.a.wheels).is_dir() else []
        size = sum(w.stat().st_size for w in wheels) / 2**20
        if not wheels:
            self.skip("install", f"no wheels in {self.a.wheels}: the installed packages are used")
        elif self.dry:
            self.skip("install", f"dry run: {len(wheels)} wheels ({size:.1f} MiB) in {self.a.wheels} not installed")
        else:
            self.steps["install"].note = f"{len(wheels)} wheels ({size:.1f} MiB) into {self.a.site}"
            if self.run("install", [self.py, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                                    "--no-cache-dir", "--upgrade", "--target", self.a.site, *map(str, wheels)],
                        120) == "ok":
                self.site = self.a.site

    def step_env(self) -> None:
        self.run("env", [self.py, ENV_PROBE], 90)
        facts = self.facts()
        self.cuda = bool(facts.get("cuda_available")) and not self.dry
        missing = [m for m, v in facts.get("packages", {}).items() if str(v).startswith("MISSING")]
        if missing:
            self.steps["env"].note = "missing: " + ", ".join(missing)
        self.write()

    def facts(self) -> dict[str, Any]:
        return next((r for r in self.steps["env"].records if "torch" in r), {})

    def bench_cmd(self, settings: tuple[str, ...], reference: bool) -> list[str]:
        cmd = [self.py, "-m", "munit.bench", "step", "--setting", *settings]
        if self.dry:
            cmd += ["--device", "cpu", "--preset", "tiny", "--batch", "1", "2", "--iters", "2", "--warmup", "1",
                    "--repeats", "1"]
        else:
            cmd += ["--preset", "paper", "--image-size", "256", "--batch", "1", "8", "--target-s", "0.6",
                    "--repeats", "3", "--warmup", "5"]
        if reference:
            cmd += ["--reference", str(self.ref)]
            cmd += ["--reference-iters", "1", "--reference-warmup", "0"] if self.dry else \
                ["--reference-iters", "15", "--reference-warmup", "3"]
        return cmd

    def step_bench(self, name: str, settings: tuple[str, ...], budget: float) -> None:
        runnable = settings if self.cuda else tuple(s for s in settings if not parse_setting(s).needs_cuda())
        reference = name == "bench" and self.ref.is_file()
        if name == "bench" and not self.ref.is_file():
            self.steps[name].note = f"reference: not carried ({self.ref} is absent)"
        if not runnable:
            # nothing to time on this machine; record why, like the benchmark itself does
            self.steps[name].records += [{"what": "munit", "setting": s, "batch": b,
                                          "skipped": parse_setting(s).needs_cuda()}
                                         for s in settings for b in ((1, 2) if self.dry else (1, 8))]
            self.skip(name, "every setting needs CUDA")
            return
        # settings that need CUDA stay on the command line: the benchmark reports them as skipped
        self.run(name, self.bench_cmd(settings, reference), budget)

    def metrics_cmd(self) -> list[str]:
        cmd = [self.py, "-m", "munit.bench", "metrics", "--stand-in-weights", "--no-per-metric"]
        if self.dry:
            # FID's 2048 x 2048 matrix square roots cost ~10 CPU seconds at any size, and the backbones' stand-ins
            # (Inception, AlexNet: 330 MB written and read back) a few more: left out of the dry run
            self.steps["metrics"].note = "dry run: fid and lpips left out"
            cmd += ["--metrics", "acc,fcd,content", "--device", "cpu", "--preset", "tiny", "--n-val", "2",
                    "--n-styles", "2", "--n-real", "8", "--batch-size", "4", "--classifier-epochs", "1"]
        return cmd

    def sweep_cmd(self) -> list[str]:
        root = self.tmp / "sweep"
        cmd = [self.py, "experiments/sweep.py", "--root", str(root), "--study-name", SWEEP_STUDY, "--trials", "2",
               "--cache-dir", str(self.tmp / "metric-cache"), "--no-progress", "--sampler-seed", "0"]
        if self.dry:
            # channels_last runs on the CPU: the dry run checks that a worker's levers reach its trainers
            return cmd + ["--device", "cpu", "--preset", "tiny", "--iters", "2", "--eval-every", "2",
                          "--batch-size", "2", "--synthetic-train", "8", "--synthetic-val", "4", "--eval-images",
                          "4", "--eval-styles", "2", "--eval-real", "8", "--metrics", "content", "--threads", "1",
                          "--fast-path", "cl", "--no-baselines"]
        # the CUDA defaults (precision and levers of munit.fastpath.CUDA_DEFAULT): what a user gets
        return cmd + ["--preset", "paper", "--image-size", "256", "--iters", "150", "--eval-every", "75",
                      "--synthetic-train", "128", "--synthetic-val", "16", "--eval-images", "16",
                      "--eval-styles", "4", "--eval-real", "128"]

    def tests_cmd(self) -> list[str]:
        return [self.py, "-m", "pytest", "-q", "-m", "gpu", "tests/test_gpu.py", "-p", "no:cacheprovider",
                "--junitxml", str(self.tmp / "junit.xml")]

    def side_by_side(self, names: tuple[str, ...]) -> None:
        """Run these steps at the same time: the sweep and the GPU tests are no timings, and the GPU has room for
        both; in a dry run the metric step joins them (nothing there is a timing)."""
        commands = {"metrics": self.metrics_cmd, "sweep": self.sweep_cmd, "gpu-tests": self.tests_cmd}
        budgets = {"metrics": 150, "sweep": 240, "gpu-tests": 240}
        procs = {}
        for name in names:
            if not self.wanted(name):
                continue
            if self.left() < 10:
                self.skip(name, "out of time (overall budget)")
                continue
            procs[name] = self.start(name, commands[name]())
        for name, proc in procs.items():
            self.finish(name, proc, budgets[name] - (time.perf_counter() - proc.t0))
        if "sweep" in procs:
            self.steps["sweep"].records.append(sweep_facts(self.tmp / "sweep", SWEEP_STUDY))
        if "gpu-tests" in procs:
            self.steps["gpu-tests"].records.append(junit_facts(self.tmp / "junit.xml"))
        self.write()

    def step_compile(self) -> None:
        self.step_bench("bench-compile", COMPILED, 180)
        if self.cuda and self.steps["bench-compile"].records and self.left() > 30:
            # a fresh process compiles the same graphs: Inductor's caches (TORCHINDUCTOR_CACHE_DIR) answer
            cmd = [self.py, "-m", "munit.bench", "step", "--setting", COMPILED[0], "--preset", "paper",
                   "--image-size", "256", "--batch", "1", "--iters", "20", "--repeats", "1", "--warmup", "5"]
            proc = self.start("bench-compile", cmd)
            status, wall, text = proc.wait(min(90, self.left()))
            recs = json_lines(text)
            for r in recs:
                r["compile_cache_warm"] = True
            self.steps["bench-compile"].records += recs
            self.steps["bench-compile"].wall_s += wall
            self.log_parts.append(f"===== bench-compile (cache warm): {shown(cmd)}\n===== {status}, "
                                  f"{wall:.1f} s\n{text}\n")
            self.write()

    def main(self) -> int:
        print(f"GPU check{' (DRY RUN: CPU, tiny sizes)' if self.dry else ''}: budget {self.a.budget:.0f} s, "
              f"out {self.out}", flush=True)
        if self.wanted("install") or not self.dry:
            self.step_install()
        if self.wanted("env") or not self.dry:
            self.step_env()
        if not self.dry and not self.cuda:
            for name in STEPS[2:]:
                self.skip(name, "no CUDA device here (use --dry-run on a CPU machine)")
            print(render(self.results()), flush=True)
            return 1
        together = ("metrics", "sweep", "gpu-tests") if self.dry else ("sweep", "gpu-tests")
        plan: list[tuple[tuple[str, ...], Callable[[], None]]] = [
            (("bench",), lambda: self.step_bench("bench", EAGER, 180)),
            (("bench-graph",), lambda: self.step_bench("bench-graph", GRAPH, 120)),
            *([] if self.dry else [(("metrics",), lambda: self.run("metrics", self.metrics_cmd(), 150))]),
            (together, lambda: self.side_by_side(together)),
            (("bench-compile",), self.step_compile),
        ]
        for names, fn in plan:
            if any(self.wanted(n) for n in names):
                try:
                    fn()
                except Exception as e:  # noqa: BLE001 -- the driver's own bug must not lose the other steps
                    for n in names:
                        self.steps[n].status = f"failed (driver: {type(e).__name__}: {e})"
        self.write()
        print(render(self.results()), flush=True)
        failed = [s.name for s in self.steps.values() if not (s.ok or s.status.startswith("skipped")
                                                               or s.status == "not run")]
        return 1 if failed else 0

    def plan(self) -> dict[str, list[str]]:
        """The command of each step, as this machine's run would launch it (a dry run's or the GPU's)."""
        return {"env": [self.py, ENV_PROBE], "bench": self.bench_cmd(EAGER, self.ref.is_file()),
                "bench-graph": self.bench_cmd(GRAPH, False), "metrics": self.metrics_cmd(), "sweep": self.sweep_cmd(),
                "gpu-tests": self.tests_cmd(), "bench-compile": self.bench_cmd(COMPILED, False)}

    def results(self) -> dict[str, Any]:
        """What results.json holds: every step's status and records, and what the summary needs besides."""
        return {"dry_run": self.dry, "started": self.started, "wall_s": round(time.perf_counter() - self.t0, 1),
                "budget_s": self.a.budget, "reference": str(self.ref), "reference_carried": self.ref.is_file(),
                "cuda_default": CUDA_DEFAULT, "cuda_default_measured": CUDA_DEFAULT_MEASURED,
                "steps": {n: s.__dict__ for n, s in self.steps.items()}}

    def write(self) -> None:
        results = self.results()
        (self.out / "summary.md").write_text(render(results))
        (self.out / "check.log").write_text("".join(self.log_parts))
        (self.out / "results.json").write_text(json.dumps(results, indent=1, default=str))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bash bench/gpu_check.sh", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: check the steps, not the speed")
    ap.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / "out" / "gpu-check"),
                    help="where summary.md, results.json and check.log go (default $OUT, else out/gpu-check)")
    ap.add_argument("--budget", type=float, default=None, help="overall seconds (default 390: with the machine's "
                                                               "start, a rerun still fits in 15 minutes; dry run 600)")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the steps' scratch folder (sweep stores, logs)")
    ap.add_argument("--only", default=None, help=f"comma-separated steps of: {','.join(STEPS)}")
    ap.add_argument("--reference", default=None, help=f"blog_reference.py (default {REFERENCE})")
    ap.add_argument("--wheels", default=str(ROOT / ".whl"), help="folder of carried wheels (default .whl)")
    ap.add_argument("--site", default="/tmp/site", help="where the wheels are installed (put on PYTHONPATH)")
    ap.add_argument("--python", default=sys.executable, help="interpreter of every step (default this one)")
    ap.add_argument("--plan", action="store_true", help="print the command of each step (JSON) and run nothing")
    ap.add_argument("--render", default=None, metavar="RESULTS", help="print the summary of a results.json and run "
                                                                       "nothing")
    a = ap.parse_args(argv)
    if a.render:
        print(render(json.loads(Path(a.render).read_text())), end="")
        return 0
    a.budget = a.budget or (600.0 if a.dry_run else 390.0)
    check = Check(a)
    try:
        if a.plan:
            print(json.dumps(check.plan()))
            return 0
        return check.main()
    finally:
        if not a.keep_tmp:
            shutil.rmtree(check.tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

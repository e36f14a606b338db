"""Helpers shared by the sweep tests (no tests here): tiny sweep options, running workers, reading the stores."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
from mlflow import MlflowClient
from optuna.storages.journal import JournalFileBackend, JournalStorage

ROOT = Path(__file__).resolve().parents[1]
# the domain classifier of acc/fcd is trained once for these tiny sets and cached across tests and runs
CACHE = Path(tempfile.gettempdir()) / "munit-ablate-test-cache"


def tiny_args(root: Path, iters: int = 8, eval_every: int = 4, **extra: object) -> list[str]:
    """Sweep options for a few-second trial: tiny preset, 16 synthetic images, a 4-image evaluation."""
    args = ["--root", str(root), "--cache-dir", str(CACHE), "--iters", str(iters), "--eval-every",
            str(eval_every), "--batch-size", "2", "--synthetic-train", "16", "--synthetic-val", "4",
            "--eval-images", "4", "--eval-styles", "2", "--eval-real", "16", "--threads", "1", "--no-progress"]
    for k, v in extra.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    return args


def sweep_cmd(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "experiments" / "sweep.py"), *args]


def worker(args: list[str], **kw) -> subprocess.Popen:
    """A sweep worker process (cwd = the repository, like a user's shell)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(sweep_cmd(*args), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kw)


def journal_study(root: Path, name: str = "munit-sweep") -> optuna.Study:
    storage = JournalStorage(JournalFileBackend(str(root / "optuna.journal")))
    return optuna.load_study(study_name=name, storage=storage)


def client(root: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")


def runs(root: Path, role: str, name: str = "munit-sweep"):
    c = client(root)
    exp = c.get_experiment_by_name(name)
    return c.search_runs([exp.experiment_id], filter_string=f"tags.`munit.role` = '{role}'",
                         order_by=["attributes.start_time ASC"])

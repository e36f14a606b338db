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


def _store_template() -> Path:
    """An empty MLflow SQLite store, created once per MLflow version: creating one runs MLflow's ~50 schema
    migrations (~2.5 s), which every sweep test would otherwise repeat."""
    import mlflow

    path = CACHE / f"mlflow-empty-{mlflow.__version__}.db"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=CACHE)) / "mlflow.db"
        MlflowClient(f"sqlite:///{tmp}").search_experiments()
        os.replace(tmp, path)           # atomic: a concurrent test sees a complete file or none
    return path


def tiny_args(root: Path, iters: int = 8, eval_every: int = 4, baselines: bool = False, store: bool = True,
              **extra: object) -> list[str]:
    """Sweep options for a few-second trial: tiny preset, 16 synthetic images, a 4-image evaluation; the
    baseline reference rows only when a test is about them (they cost seven more evaluations). ``store``: start
    ROOT/mlflow.db from a copy of an empty, already migrated store (what the sweep would create)."""
    if store and not (Path(root) / "mlflow.db").exists():
        import shutil

        Path(root).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_store_template(), Path(root) / "mlflow.db")
    args = ["--root", str(root), "--cache-dir", str(CACHE), "--iters", str(iters), "--eval-every",
            str(eval_every), "--batch-size", "2", "--synthetic-train", "16", "--synthetic-val", "4",
            "--eval-images", "4", "--eval-styles", "2", "--eval-real", "16", "--threads", "1", "--workers", "1",
            "--no-progress", "--baselines" if baselines else "--no-baselines"]
    for k, v in extra.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    return args


def sweep_cmd(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "experiments" / "sweep.py"), *args]


def worker(args: list[str], prefix: list[str] = (), **kw) -> subprocess.Popen:
    """A sweep worker process (cwd = the repository, like a user's shell); ``prefix``: a command that runs it,
    e.g. :func:`pid_namespace`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([*prefix, *sweep_cmd(*args)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def pid_namespace() -> tuple[list[str], str]:
    """(the prefix that runs a command as PID 1 of a new PID namespace, as ``docker run`` does -- killing the
    prefix kills it --, or [] where that is not allowed, and why)."""
    prefix = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
    try:
        probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return [], str(e)
    return (prefix, "") if probe.returncode == 0 else ([], probe.stderr.strip() or "unshare failed")


def journal_study_storage(root: Path) -> JournalStorage:
    return JournalStorage(JournalFileBackend(str(root / "optuna.journal")))


def journal_study(root: Path, name: str = "munit-sweep") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=journal_study_storage(root))


def client(root: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")


def runs(root: Path, role: str, name: str = "munit-sweep"):
    c = client(root)
    exp = c.get_experiment_by_name(name)
    return c.search_runs([exp.experiment_id], filter_string=f"tags.`munit.role` = '{role}'",
                         order_by=["attributes.start_time ASC"])

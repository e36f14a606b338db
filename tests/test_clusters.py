"""Cluster recipes (docs/sweeps.md): a Slurm array task's index becomes the sweep's worker index, and compose.yaml
(PostgreSQL + an MLflow server) is valid under the Compose specification and wired to itself. Docker Compose itself
is not run here (no Docker on these machines)."""
from pathlib import Path

import yaml

from experiments.sweep import array_worker_index, build_parser, config_from_args

ROOT = Path(__file__).resolve().parents[1]


def test_the_array_index_is_the_worker_index(monkeypatch):
    assert array_worker_index({}) == 0
    assert array_worker_index({"SLURM_ARRAY_TASK_ID": "3"}) == 3
    assert array_worker_index({"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "5"}) == 2   # --array=5-8
    assert array_worker_index({"SLURM_ARRAY_TASK_ID": ""}) == 0
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "2")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "0")
    args = build_parser().parse_args([])
    assert config_from_args(args, []).worker_index == 2
    # a worker spawned with --worker-index keeps it
    args = build_parser().parse_args(["--worker-index", "0"])
    assert config_from_args(args, []).worker_index == 0


def test_compose_file_starts_postgres_and_an_mlflow_server_on_it():
    spec = yaml.safe_load((ROOT / "compose.yaml").read_text())
    pg, ml = spec["services"]["postgres"], spec["services"]["mlflow"]
    assert pg["image"].startswith("postgres:") and pg["environment"]["POSTGRES_DB"] == "optuna"
    init = next(v.split(":")[0] for v in pg["volumes"] if "docker-entrypoint-initdb.d" in v)
    assert "CREATE DATABASE mlflow" in (ROOT / init).read_text()
    user, pw = pg["environment"]["POSTGRES_USER"], pg["environment"]["POSTGRES_PASSWORD"]
    assert f"postgresql+psycopg2://{user}:{pw}@postgres/mlflow" in ml["command"]
    assert ml["depends_on"]["postgres"]["condition"] == "service_healthy" and "5000:5000" in ml["ports"]
    assert set(spec["volumes"]) >= {v.split(":")[0] for s in (pg, ml) for v in s["volumes"] if not v.startswith(".")}
    doc = (ROOT / "docs" / "sweeps.md").read_text()
    assert "compose.yaml" in doc and "#SBATCH --array" in doc and "--signal=B:TERM" in doc


def test_compose_file_is_valid_under_the_compose_specification():
    """compose_spec (the Rust parser of the Compose specification, Python bindings in the test extra) accepts
    compose.yaml and rejects the typos a hand-edited file gets: an unknown key, an unknown condition, a bad port."""
    import pytest

    compose_spec = pytest.importorskip("compose_spec", reason="pip install compose-spec (in the test extra)")
    src = (ROOT / "compose.yaml").read_text()
    spec = compose_spec.PyCompose.from_yaml(src).to_spec()
    assert sorted(spec.services) == ["mlflow", "postgres"]
    for bad in (src.replace("depends_on:", "depend_on:"), src.replace("service_healthy", "service_healty"),
                src.replace('"5000:5000"', '"5000:five"')):
        assert bad != src
        with pytest.raises(Exception):
            compose_spec.PyCompose.from_yaml(bad).to_spec()


def _slurm_recipe() -> str:
    """The job script of docs/sweeps.md (the bash block with the #SBATCH --array line)."""
    doc = (ROOT / "docs" / "sweeps.md").read_text()
    blocks = [b.split("\n", 1)[1] for b in doc.split("```")[1::2] if b.startswith("bash") and "#SBATCH --array" in b]
    assert len(blocks) == 1, "docs/sweeps.md: one Slurm job script expected"
    return blocks[0]


def test_the_slurm_recipe_runs_an_array_of_workers_that_stop_cleanly_on_the_schedulers_sigterm(tmp_path):
    """The docs' job script run as Slurm runs it (bash; one copy per array task, with SLURM_ARRAY_TASK_ID and
    SLURM_ARRAY_TASK_MIN; ``--signal=B:TERM`` signals the batch shell), with only its environment line and the
    sweep's options swapped for a tiny local study (no Slurm, PostgreSQL or AFHQ here). Both tasks work on one
    study as workers 0 and 1 (their samplers draw different first trials from one --sampler-seed); the script
    execs the sweep, so the batch shell the scheduler signals is the sweep: each task checkpoints its trial,
    queues it for retry and exits 143."""
    import os
    import shlex
    import signal
    import subprocess
    import sys
    import time

    from optuna.trial import TrialState
    from test_sweep_helpers import journal_study, tiny_args

    root = tmp_path / "mlruns"
    script = _slurm_recipe()
    activate = tmp_path / "activate"
    activate.write_text(f'export PATH="{Path(sys.executable).parent}:$PATH"\n')
    assert "source .venv/bin/activate" in script and "exec python experiments/sweep.py " in script
    head = script[:script.index("exec python experiments/sweep.py ")]
    opts = tiny_args(root, trials=2, iters=400, eval_every=200, metrics="content", sampler_seed=7)
    job = tmp_path / "job.sh"
    job.write_text(head.replace("source .venv/bin/activate", f"source {shlex.quote(str(activate))}")
                   + "exec python experiments/sweep.py " + shlex.join(opts) + "\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "SLURM_ARRAY_TASK_MIN": "0"}
    tasks = [subprocess.Popen(["bash", str(job)], cwd=ROOT, env={**env, "SLURM_ARRAY_TASK_ID": str(k)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for k in (0, 1)]
    try:
        deadline = time.time() + 180
        while True:     # both tasks have a trial that has logged an iteration
            for p in tasks:
                assert p.poll() is None, p.communicate()[0]
            try:
                running = journal_study(root).get_trials(states=(TrialState.RUNNING,))
            except (KeyError, FileNotFoundError):
                running = []
            logging = [t for t in running if "worker" in t.user_attrs
                       and (root / "trials" / "munit-sweep" / str(t.number) / "log.jsonl").is_file()]
            if len(logging) == 2:
                break
            assert time.time() < deadline, "the two array tasks did not both start a trial in 180 s"
            time.sleep(0.3)
        pids = {int(t.user_attrs["worker"].rpartition(":")[2]) for t in logging}
        assert pids == {p.pid for p in tasks}, "the sweep is not the batch shell (exec)"
        for p in tasks:
            p.send_signal(signal.SIGTERM)      # what --signal=B:TERM does before the time limit
        outs = [p.communicate(timeout=120)[0] for p in tasks]
    finally:
        for p in tasks:
            if p.poll() is None:
                p.kill()
    for p, out in zip(tasks, outs):
        assert p.returncode == 128 + signal.SIGTERM and "Traceback" not in out, out
        assert "stopped by SIGTERM" in out, out
    trials = journal_study(root).get_trials()
    stopped = [t for t in trials if t.number in {t.number for t in logging}]
    assert all(t.state == TrialState.FAIL and "(SIGTERM)" in t.user_attrs["fail_reason"] for t in stopped)
    assert all((root / "trials" / "munit-sweep" / str(t.number) / "checkpoints" / "last.pt").is_file()
               for t in stopped)
    assert stopped[0].params != stopped[1].params      # worker 0 and worker 1: two samplers, not one twice

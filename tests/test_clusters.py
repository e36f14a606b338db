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

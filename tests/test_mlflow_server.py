"""A study's runs as the MLflow server shows them: `mlflow server` on the sweep's SQLite store, read over REST."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from experiments import sweep
from experiments.tracking import open_client
from test_sweep_helpers import journal_study, tiny_args

# MLflow 3's server also starts a job runner (three huey consumers, for GenAI jobs): not needed to serve runs,
# and it takes CPU from the tests on a 2-core machine.
def server_env() -> dict:
    return {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(base: str, path: str, **query) -> dict:
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def _post(base: str, path: str, body: dict) -> dict:
    req = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_mlflow_server_serves_the_study_over_rest(tmp_path):
    root = tmp_path / "mlruns"
    open_client(f"sqlite:///{root / 'mlflow.db'}")   # the store exists before the server opens it
    port = _free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen([str(mlflow), "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True, env=server_env())   # own process group: stopped with its workers
    base = f"http://127.0.0.1:{port}"
    try:
        # the study runs while the server starts up
        assert sweep.main(tiny_args(root, trials=2, metrics="content")) == 0
        study = journal_study(root)
        t0 = time.time()
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, server.communicate()[0]
            assert time.time() - t0 < 90, "mlflow server did not answer /health"
            time.sleep(0.5)

        exp = _get(base, "/api/2.0/mlflow/experiments/get-by-name", experiment_name="munit-sweep")["experiment"]
        found = _post(base, "/api/2.0/mlflow/runs/search", {"experiment_ids": [exp["experiment_id"]]})["runs"]
        tags = [{t["key"]: t["value"] for t in r["data"]["tags"]} for r in found]
        parents = [r for r, t in zip(found, tags) if t["munit.role"] == "study"]
        trials = [(r, t) for r, t in zip(found, tags) if t["munit.role"] == "trial"]
        assert len(parents) == 1 and len(trials) == 2
        parent_id = parents[0]["info"]["run_id"]
        assert parent_id == study.user_attrs["mlflow_parent_run_id"]
        for run, t in trials:
            run_id = run["info"]["run_id"]
            assert t["mlflow.parentRunId"] == parent_id
            assert study.get_trials()[int(t["optuna.trial_number"])].user_attrs["mlflow_run_id"] == run_id
            history = _get(base, "/api/2.0/mlflow/metrics/get-history", run_id=run_id,
                           metric_key="content/mean")["metrics"]
            assert [m["step"] for m in history] == [4, 8]
            files = _get(base, "/api/2.0/mlflow/artifacts/list", run_id=run_id)["files"]
            assert {"config.json", "images"} <= {f["path"] for f in files}
            assert "checkpoints" not in {f["path"] for f in files}    # stored once: the trial folder's, by tag
            assert t["munit.checkpoint"].endswith("checkpoints/last.pt")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()

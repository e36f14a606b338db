"""Two sweep workers share one study through a real PostgreSQL server (the multi-machine storage), started here
on 127.0.0.1 from Debian's postgresql binaries (installed by .ci/run) and stopped afterwards."""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from experiments.storage import sqlalchemy_url
from test_sweep_helpers import runs, tiny_args, worker

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
pytestmark = pytest.mark.skipif(not BIN and not shutil.which("initdb"),
                                reason="PostgreSQL server binaries (initdb, postgres) are not installed; "
                                       "apt-get install postgresql")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres() -> dict:
    """Popen arguments: initdb and postgres refuse to run as root, so run them as the 'postgres' user then (the
    server is then our direct child, and a signal to it reaches the postmaster)."""
    if os.geteuid() != 0:
        return {}
    import pwd
    pw = pwd.getpwnam("postgres")
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": [], "env": {**os.environ, "HOME": pw.pw_dir}}


@pytest.fixture
def postgres_url():
    bindir = Path(BIN[-1]).parent if BIN else Path(shutil.which("initdb")).parent
    base = Path(tempfile.mkdtemp(prefix="munit-pg-"))   # not under pytest's root-only tmp folders
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        import pwd
        pw = pwd.getpwnam("postgres")
        os.chmod(base, 0o755)
        for p in (base, sock):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--no-sync"], check=True, capture_output=True, cwd=base, **_as_postgres())
    port = _free_port()
    server = subprocess.Popen([str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sock),
                               "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=base,
                              **_as_postgres())
    try:
        import psycopg2
        t0 = time.time()
        while True:
            try:
                conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
                break
            except psycopg2.OperationalError:
                if server.poll() is not None or time.time() - t0 > 60:
                    raise RuntimeError(f"postgres did not start: {server.communicate()[0]}")
                time.sleep(0.2)
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE optuna")
        conn.close()
        yield f"postgresql://postgres@127.0.0.1:{port}/optuna"
    finally:
        server.send_signal(signal.SIGINT)   # "fast" shutdown
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(base, ignore_errors=True)


def test_two_workers_share_a_study_through_postgresql(tmp_path, postgres_url):
    root = tmp_path / "mlruns"
    args = tiny_args(root, trials=3, metrics="content") + ["--storage", postgres_url, "--study-name", "pg-study",
                                                           "--heartbeat", "5"]
    procs = [worker(args), worker(args)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(outs)

    study = optuna.load_study(study_name="pg-study", storage=sqlalchemy_url(postgres_url))
    done = [t for t in study.get_trials() if not t.user_attrs.get("skipped")]
    assert len(done) == 3 and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in done)
    assert len({t.number for t in done}) == 3
    assert study.user_attrs["settings"]["iters"] == 8
    trial_runs = runs(root, "trial", name="pg-study")
    assert {t.user_attrs["mlflow_run_id"] for t in done} == {r.info.run_id for r in trial_runs}
    parent = runs(root, "study", name="pg-study")
    assert len(parent) == 1 and parent[0].data.tags["optuna.storage"] == postgres_url

"""CPU threads: every entry point chooses OpenMP's passive wait policy before torch loads, and threads and CPU
workers are sized to the cores this process may really use (affinity, cgroup quota), not the machine's."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_entry_points_choose_the_wait_policy_before_torch_loads():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = str(ROOT)
    report = "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)"
    for start in ("sys.argv = ['munit', '--help']\ntry:\n    runpy.run_module('munit', run_name='__main__')\n"
                  "except SystemExit:\n    pass",                                     # python -m munit
                  "import experiments.sweep"):                                        # sweep.py and its workers
        out = subprocess.run([sys.executable, "-c", f"import os, runpy, sys\n{start}\n{report}"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.stdout.split()[-2:] == ["PASSIVE", "False"], out.stdout + out.stderr


def test_threads_and_workers_follow_affinity_and_cgroup_quota(tmp_path, monkeypatch):
    from experiments.workers import auto_workers, default_threads
    from munit import threads

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5}, raising=False)
    monkeypatch.setattr(threads, "CGROUP", tmp_path)
    monkeypatch.setattr(threads, "_own_cgroups", lambda: ["0::/job"])
    assert threads.available_cores() == 6                         # affinity: 6 of the machine's cores
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "cpu.max").write_text("250000 100000\n")  # a container's --cpus 2.5
    assert threads.available_cores() == 3
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.available_cores() == 3
    assert default_threads(1) == 3 and default_threads(2) == 1
    assert auto_workers(1, None, remaining=20) == 3 and auto_workers(1, None, remaining=2) == 2
    assert auto_workers(None, None, remaining=20) == 1 and auto_workers(2, None, remaining=20) == 1


def test_the_test_setup_never_uses_the_users_cache(tmp_path):
    """A user's MUNIT_CACHE is replaced by a temporary folder while the tests run."""
    import subprocess
    import sys
    from pathlib import Path

    tests = Path(__file__).parent
    env = {**os.environ, "MUNIT_CACHE": str(tmp_path / "users-cache"), "PYTHONPATH": str(tests.parent)}
    out = subprocess.run([sys.executable, "-c", "import conftest, os; print(os.environ['MUNIT_CACHE'])"],
                         cwd=tests, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    cache = out.stdout.strip()
    assert cache != str(tmp_path / "users-cache") and Path(cache).name.startswith("munit-test-cache-")

"""Two commands: ``make sweep`` and ``make test`` set up and run, print each step, reuse the environment,
and ``.ci/run`` and the README name the same test command. Dry runs only (``make -n``): nothing is installed."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _dry(target: str, venv: Path, *extra: str) -> list[str]:
    # a make that runs these tests (`make test`, CI) passes MAKELEVEL/MAKEFLAGS down, and the inner make would
    # print "Entering directory" lines: the dry run gets a clean environment
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES")}
    out = subprocess.run(["make", "--no-print-directory", "-n", target, f"VENV={venv}", *extra], cwd=ROOT,
                         capture_output=True, text=True, check=True, env=env).stdout
    return out.splitlines()


def test_a_fresh_clone_sets_up_then_runs(tmp_path):
    venv = tmp_path / "venv"
    lines = _dry("sweep", venv, 'ARGS=--trials 5 --workers 1')
    text = "\n".join(lines)
    assert f"python3 -m venv {venv}" in text and "pip install -q torch==2.14.1 torchvision==0.29.1 ||" in text
    assert 'pip install -q -e ".[experiments,analysis]"' in text
    assert lines[-1] == f"{venv}/bin/python experiments/sweep.py --trials 20 --trials 5 --workers 1"
    assert sum(line.startswith('echo "==>') for line in lines) >= 4          # every step says what it does
    test = "\n".join(_dry("test", venv))
    assert 'pip install -q -e ".[test]"' in test and test.endswith("-m pytest -q -n 2 --dist loadfile")


def test_a_second_call_reuses_the_environment(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    later = time.time() + 5
    for stamp in ("-torch", "-run", "-test"):
        p = venv / f".munit-ablate{stamp}"
        p.write_text("")
        os.utime(p, (later, later))   # newer than pyproject.toml: nothing to install
    for target, last in (("sweep", "experiments/sweep.py --trials 20 "), ("test", "-m pytest -q -n 2 --dist loadfile")):
        lines = [line for line in _dry(target, venv) if not line.startswith("echo")]
        assert len(lines) == 1 and lines[0].startswith(str(venv / "bin" / "python")) and \
            lines[0].rstrip().endswith(last.rstrip()), lines


def test_ci_and_the_readme_name_the_same_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "\nmake test" in ci and "need+=(make)" in ci
    assert "make test " in readme and "make sweep " in readme
    run = "-m pytest -q -n 2 --dist loadfile"   # what make test runs is the README's step-by-step test command
    assert f"$(PY) {run}" in (ROOT / "Makefile").read_text() and f"python {run}" in readme

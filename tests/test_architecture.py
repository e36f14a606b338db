"""docs/architecture.md is true: every file it names exists, and following its metric and swept-parameter recipes
as written -- the example module, the example space entry -- makes a new metric and a new swept parameter reach a
study's MLflow runs and analysis, with no other file edited."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
LAYERS = ("munit", "experiments", "analysis", "tests", "bench", "docs")


def _section(title: str) -> str:
    """The text under ``### <title>`` up to the next heading."""
    text = DOC.read_text()
    start = text.index(f"### {title}\n")
    end = re.search(r"\n##+ ", text[start + 4:])
    return text[start:start + 4 + end.start()] if end else text[start:]


def _block(section: str, language: str) -> str:
    (code,) = re.findall(rf"```{language}\n(.*?)```", section, re.S)
    return code


def _paths(text: str) -> set[str]:
    """Repository paths in backticks (``munit/x.py``, ``experiments/tracking.py: TrialLogger``), placeholders
    (``<name>``) left out."""
    found = re.findall(rf"`((?:{'|'.join(LAYERS)})/[^`\s:]*)", text)
    return {p for p in found if "<" not in p}


def test_every_file_the_map_names_exists():
    paths = _paths(DOC.read_text())
    assert len(paths) > 20
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, missing
    for title in ("Add a metric", "Add a swept parameter", "Add a baseline generator", "Add a benchmark",
                  "Add a CLI command"):
        assert _paths(_section(title)) or "<name>" in _section(title), title   # each recipe names its files


def test_the_metric_recipe_is_one_new_module(tmp_path):
    """The example module, written where the recipe says into a copy of munit, is a metric a study computes,
    logs and shows in analysis' table."""
    section = _section("Add a metric")
    assert "`munit/metrics/<name>.py`" in section and "nothing else lists" in section
    code = _block(section, "python")
    target = code.splitlines()[0].removeprefix("# ").strip()
    assert re.fullmatch(r"munit/metrics/\w+\.py", target), target
    name = re.search(r'name = "(\w+)"', code)[1]
    shutil.copytree(ROOT / "munit", tmp_path / "lib" / "munit", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "lib" / target).write_text(code)
    probe = f"""
import sys
sys.path[:0] = [{str(tmp_path / 'lib')!r}, {str(ROOT)!r}, {str(ROOT / 'tests')!r}]
import munit
assert munit.__file__.startswith({str(tmp_path)!r}), munit.__file__
from munit.metrics.protocol import registry
assert {name!r} in registry()
from experiments import sweep
from test_sweep_helpers import tiny_args
root = {str(tmp_path / 'mlruns')!r}
from pathlib import Path
assert sweep.main(tiny_args(Path(root), iters=2, eval_every=2, trials=1, metrics={name!r})
                  + ["--objective", "{name}/mean"]) == 0
from analysis.cli import main as analysis
assert analysis(["compare", "--experiment", "munit-sweep", "--tracking-uri", f"sqlite:///{{root}}/mlflow.db",
                 "--storage", f"{{root}}/optuna.journal", "--out", {str(tmp_path / 'out')!r}]) == 0
"""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"{name}/mean" in res.stdout and f"{name}/a2b final" in res.stdout, res.stdout[-2000:]
    assert name not in (ROOT / "munit" / "metrics" / "__init__.py").read_text()   # listed nowhere


def test_the_swept_parameter_recipe_is_one_space_entry(tmp_path):
    """The example entry, as a --space file, is sampled, trained with, logged as the trial's MLflow param and shown
    in analysis' table."""
    from experiments import sweep
    from test_sweep_helpers import journal_study, runs, tiny_args

    section = _section("Add a swept parameter")
    assert "`experiments/space.yaml`" in section
    entry = yaml.safe_load(_block(section, "yaml"))
    ((name, spec),) = entry.items()
    config, _, field = spec["sets"].partition(".")
    space = tmp_path / "space.yaml"
    space.write_text(_block(section, "yaml"))
    root = tmp_path / "mlruns"
    assert sweep.main(tiny_args(root, iters=2, eval_every=2, trials=2, metrics="content") +
                      ["--space", str(space), "--pruner", "none", "--sampler", "random", "--sampler-seed", "3"]) == 0
    trials = journal_study(root).get_trials()
    for run in runs(root, "trial"):
        t = trials[int(run.data.tags["optuna.trial_number"])]
        value = t.params[name]
        assert spec["low"] <= value <= spec["high"]
        assert float(run.data.params[name]) == pytest.approx(value, rel=5e-3)                   # logged (3 digits)
        folder = root / "trials" / "munit-sweep" / str(t.number)
        assert json.loads((folder / "config.json").read_text())[config][field] == value        # trained with

    from analysis.load import load_study
    from analysis.tables import compare_table

    table = compare_table(load_study("munit-sweep", f"sqlite:///{root / 'mlflow.db'}", str(root / "optuna.journal")))
    assert list(table[name]) == [t.params[name] for t in trials]

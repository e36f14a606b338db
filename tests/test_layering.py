"""Layers import only downward: analysis -> experiments -> munit; munit never imports mlflow or optuna."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _loaded_after_importing(package: str) -> set[str]:
    code = (
        "import importlib, pkgutil, sys\n"
        f"import {package}\n"
        f"for m in pkgutil.walk_packages({package}.__path__, '{package}.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "print(' '.join(sorted({n.split('.')[0] for n in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_munit_needs_neither_mlflow_nor_optuna_nor_upper_layers():
    loaded = _loaded_after_importing("munit")
    assert not loaded & {"mlflow", "optuna", "experiments", "analysis"}, loaded & {"mlflow", "optuna",
                                                                                  "experiments", "analysis"}


def test_experiments_does_not_import_analysis():
    assert "analysis" not in _loaded_after_importing("experiments")

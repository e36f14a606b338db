"""Optuna studies over MUNIT's loss weights, tracked in MLflow (``python experiments/sweep.py``).

Modules: ``sweep`` (CLI, run_sweep), ``settings`` (what a study fixes), ``presets`` (the blog's protocol and
trials, sweep sizes), ``space`` (+ space.yaml, the search space), ``objective`` (one trial), ``tracking`` (MLflow),
``storage`` (Optuna storages), ``budget`` (--trials across workers), ``recovery`` (dead and interrupted workers),
``reproduce_blog`` (the blog's three trials). The ``munit`` package never imports this one.
"""

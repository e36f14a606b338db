"""Optuna studies over MUNIT's loss weights, tracked in MLflow (``python experiments/sweep.py``).

Modules: ``sweep`` (the command line, the run loop, the summary), ``study`` (sampler, pruner, the study's stored
settings, MLflow experiment and parent run), ``settings`` (what a study fixes), ``presets`` (the blog's protocol
and trials, sweep sizes), ``space`` (+ space.yaml, the search space and what each parameter sets), ``objective``
(one trial), ``tracking`` (MLflow), ``storage`` (Optuna storages), ``budget`` (--trials across workers),
``workers`` (worker processes, dead and interrupted workers), ``contract`` (the tag, attribute and store names
analysis reads), ``reproduce_blog`` (the blog's three trials). The ``munit`` package never imports this one.
"""

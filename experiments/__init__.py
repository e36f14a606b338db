"""Optuna studies over MUNIT's loss weights, tracked in MLflow (``python experiments/sweep.py``).

Modules: ``sweep`` (the command line, the run loop, the summary), ``study`` (sampler, pruner, the study's stored
settings, MLflow experiment and parent run), ``settings`` (what a study fixes), ``presets`` (the blog's trials,
sweep sizes), ``schedule`` (the blog's protocol in iterations), ``space`` (+ space.yaml, the search space and what
each parameter sets), ``trial`` (one trial: its seeds, training and outcome), ``tracking`` (MLflow), ``storage``
(Optuna storages), ``budget`` (--trials across workers), ``workers`` (worker processes, dead and interrupted
workers), ``contract`` (the tag, param, attribute and store names analysis reads), ``reproduce_blog`` (the blog's
three trials). The layers: docs/architecture.md.
"""

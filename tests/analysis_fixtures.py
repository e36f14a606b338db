"""A small, real study for the analysis tests, plus two hand-written ones for what a tiny CPU sweep cannot show.

* ``main`` is a REAL tiny sweep: ``experiments/sweep.py --blog --trials 5`` on the synthetic set (tiny preset,
  12 iterations, evaluation every 6 with content/acc/fcd, objective ``fcd/mean``). Two trials are steered
  through the sweep's own code paths: blog trial 2 is pruned at its first evaluation (a pruner that prunes it,
  plugged in where the sweep builds its pruner) and the first sampled trial raises after its first log
  interval (so it is FAILED with losses only). Order: 0, 1, 2 = blog trials 1, 2, 3 (enqueued first), 3 =
  failed, 4 = complete. No fid/lpips here: the study shows the table without those columns.
* ``multi`` (minimize ``fid/mean``, maximize ``lpips/mean``): four COMPLETE trials written through the real
  MLflow and Optuna APIs exactly as docs/tracking.md specifies, logging only fid/lpips (no images) -- a CPU
  test cannot train a model whose FID means anything, but the fid/lpips columns and the Pareto front can be
  checked on it.
* ``empty``: the experiment, its parent run and the Optuna study, no trials.

``run_ids[number]``: each main trial's MLflow run id; ``blog[k]``: the trial number of blog trial k;
``pruned`` / ``failed``: those trials' numbers; ``experiment_id`` / ``parent_run_id`` of ``main``.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

MAIN, MULTI, EMPTY = "munit-test-study", "munit-test-multi", "munit-test-empty"
IMAGE_SIZE, ITERS = 32, 12

@dataclass
class StudyStore:
    root: Path
    tracking_uri: str
    storage: str                      # Optuna journal file path
    main: str = MAIN
    multi: str = MULTI
    empty: str = EMPTY
    experiment_id: str = ""
    parent_run_id: str = ""
    run_ids: dict[int, str] = field(default_factory=dict)
    blog: dict[int, int] = field(default_factory=dict)
    pruned: int = 3
    failed: int = 1
    image_size: int = IMAGE_SIZE


def _suggest(trial) -> dict:
    """The sweep's search space (enqueued blog presets lie inside it)."""
    return dict(lambda_x=trial.suggest_float("lambda_x", 1.0, 20.0),
                lambda_s=trial.suggest_float("lambda_s", 0.1, 10.0, log=True),
                lambda_c=trial.suggest_float("lambda_c", 0.1, 10.0, log=True),
                lambda_cyc=trial.suggest_float("lambda_cyc", 0.0, 20.0),
                lr_step=trial.suggest_int("lr_step", 10, 400, log=True))


def _parent(client, exp_id: str, name: str, storage: str, directions: str, objective: str) -> str:
    from mlflow.entities import Param

    run = client.create_run(exp_id, run_name=name, tags={
        "munit.role": "study", "optuna.study_name": name, "optuna.storage": storage,
        "optuna.directions": directions, "optuna.objective": objective, "munit.data": "synthetic",
        "munit.preset": "tiny"})
    client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in dict(
        preset="tiny", image_size=IMAGE_SIZE, iters=ITERS, batch_size=1, seed=0, data="synthetic",
        scale=1.0).items()])
    return run.info.run_id


def _real_sweep(root: Path, out: StudyStore) -> None:
    """``main``: the real sweep, with blog trial 2 pruned and the first sampled trial failing, on purpose."""
    import optuna
    from mlflow import MlflowClient

    from experiments import study as study_setup
    from experiments import sweep
    from experiments.trial import TrialRunner

    class PruneBlogTrial2(optuna.pruners.BasePruner):
        def prune(self, study, trial) -> bool:
            return trial.user_attrs.get("blog_trial") == 2

    build = TrialRunner._trainer

    def trainer(self, configs, out_dir, logger, resume):
        t = build(self, configs, out_dir, logger, resume)
        if out_dir.name == "3":
            on_log = logger.on_log

            def log_then_fail(step, scalars):
                on_log(step, scalars)
                raise RuntimeError("forced failure after the first log interval")
            logger.on_log = log_then_fail
        return t

    args = ["--root", str(root), "--study-name", MAIN, "--trials", "5", "--blog", "--objective", "fcd/mean",
            "--metrics", "content,acc,fcd", "--iters", str(ITERS), "--eval-every", str(ITERS // 2),
            "--batch-size", "2", "--synthetic-train", "16", "--synthetic-val", "4", "--eval-images", "4",
            "--eval-styles", "2", "--eval-real", "16", "--threads", "1", "--workers", "1", "--no-progress",
            "--cache-dir", str(Path(tempfile.gettempdir()) / "munit-ablate-test-cache")]
    threads = __import__("torch").get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(study_setup, "make_pruner", lambda name, s: PruneBlogTrial2())
        mp.setattr(TrialRunner, "_trainer", trainer)
        assert sweep.main(args) == 0
    __import__("torch").set_num_threads(threads)
    study = optuna.load_study(study_name=MAIN, storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(root / "optuna.journal"))))
    for t in study.get_trials():
        out.run_ids[t.number] = t.user_attrs["mlflow_run_id"]
        if "blog_trial" in t.user_attrs:
            out.blog[int(t.user_attrs["blog_trial"])] = t.number
    out.pruned, out.failed = out.blog[2], 3
    states = {t.number: t.state.name for t in study.get_trials()}
    assert states == {0: "COMPLETE", 1: "PRUNED", 2: "COMPLETE", 3: "FAIL", 4: "COMPLETE"}, states
    exp = MlflowClient(tracking_uri=out.tracking_uri).get_experiment_by_name(MAIN)
    out.experiment_id, out.parent_run_id = exp.experiment_id, study.user_attrs["mlflow_parent_run_id"]



def build_study_store(root: Path) -> StudyStore:
    """Write the three studies under ``root`` (about 10 s, most of it MLflow creating its SQLite schema)."""
    import logging

    import optuna
    from mlflow import MlflowClient
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    journal = str(root / "optuna.journal")
    client = MlflowClient(tracking_uri=uri)
    storage = JournalStorage(JournalFileBackend(journal))
    out = StudyStore(root=root, tracking_uri=uri, storage=journal)

    # ---- main: a real tiny sweep with one pruned and one failed trial
    _real_sweep(root, out)

    # ---- multi-objective: 4 complete trials with fid and lpips
    exp_m = client.create_experiment(MULTI, artifact_location=(root / "artifacts").as_uri())
    parent_m = _parent(client, exp_m, MULTI, journal, "minimize,maximize", "fid/mean,lpips/mean")
    study_m = optuna.create_study(study_name=MULTI, storage=storage, directions=["minimize", "maximize"],
                                  sampler=optuna.samplers.RandomSampler(seed=1))
    for k, v in {"mlflow_experiment_id": exp_m, "mlflow_parent_run_id": parent_m,
                 "objective": "fid/mean,lpips/mean"}.items():
        study_m.set_user_attr(k, v)
    from mlflow.entities import Metric, Param

    for fid, lp in ((120.0, 0.30), (90.0, 0.20), (150.0, 0.40), (130.0, 0.10)):
        trial = study_m.ask()
        params = _suggest(trial)
        run = client.create_run(exp_m, run_name=f"trial-{trial.number:03d}", tags={
            "mlflow.parentRunId": parent_m, "munit.role": "trial", "optuna.study_name": MULTI,
            "optuna.trial_number": str(trial.number), "optuna.trial_id": str(trial._trial_id),
            "optuna.state": "COMPLETE"})
        rid = run.info.run_id
        trial.set_user_attr("mlflow_run_id", rid)
        ms = [Metric("loss/g", 1.0 / s, 0, s) for s in (10, 20)]
        for step, f in ((20, fid * 1.3), (40, fid)):
            l_ = lp if step == 40 else lp * 0.8
            ms += [Metric("fid/a2b", f, 0, step), Metric("fid/b2a", f, 0, step), Metric("fid/mean", f, 0, step),
                   Metric("lpips/a2b", l_, 0, step), Metric("lpips/b2a", l_, 0, step),
                   Metric("lpips/mean", l_, 0, step), Metric("objective_0", f, 0, step),
                   Metric("objective_1", l_, 0, step)]
        ms += [Metric("wall_s", 3.0, 0, 40), Metric("iters_reached", 40.0, 0, 40)]
        client.log_batch(rid, metrics=ms, params=[Param(k, str(v)) for k, v in params.items()])
        client.set_terminated(rid, "FINISHED")
        study_m.tell(trial, [fid, lp])
    client.set_terminated(parent_m, "FINISHED")

    # ---- empty: experiment + parent + Optuna study, no trials
    exp_e = client.create_experiment(EMPTY, artifact_location=(root / "artifacts").as_uri())
    client.set_terminated(_parent(client, exp_e, EMPTY, journal, "minimize", "fcd/mean"), "FINISHED")
    optuna.create_study(study_name=EMPTY, storage=storage, direction="minimize")
    return out


def assert_png(path: Path, min_std: float = 8.0) -> None:
    """A PNG that decodes, has a sensible size and is not blank (pixel spread, and not all background)."""
    from PIL import Image

    assert path.is_file() and path.stat().st_size > 0, path
    with Image.open(path) as im:
        assert im.format == "PNG", path
        im.verify()
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.float32)
    assert arr.shape[0] >= 100 and arr.shape[1] >= 100, (path, arr.shape)
    assert arr.std() > min_std, f"{path} looks blank (pixel std {arr.std():.2f})"
    ink = (arr.min(axis=2) < 235).mean()
    assert ink > 0.02, f"{path} is almost all background ({ink:.1%} non-white pixels)"


_CACHE: dict[str, StudyStore] = {}


@pytest.fixture(scope="session")
def study_store(tmp_path_factory) -> StudyStore:
    """The three studies, built once per test session (shared by test_analysis*.py and test_browser.py)."""
    if "store" not in _CACHE:
        os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
        _CACHE["store"] = build_study_store(tmp_path_factory.mktemp("study"))
    return _CACHE["store"]


@pytest.fixture(scope="session")
def study_report(study_store, tmp_path_factory):
    """The main study's report (``analysis.report.make_report``, logged to the parent run), made once and
    shared by the report checks and the browser test."""
    if "report" not in _CACHE:
        from analysis.load import load_study
        from analysis.report import make_report

        study = load_study(study_store.main, study_store.tracking_uri, study_store.storage)
        _CACHE["report"] = make_report(study, tmp_path_factory.mktemp("report"))
    return _CACHE["report"]


__all__ = ["study_report", "StudyStore", "build_study_store", "study_store", "assert_png", "MAIN", "MULTI", "EMPTY"]

"""A small, real study written exactly as docs/tracking.md specifies, through the real MLflow and Optuna APIs.

The analysis tests read it; the browser test serves it with ``mlflow server``. It stands in for a tiny
``experiments`` sweep: the body of :func:`build_study_store` can be swapped for a real sweep as long as the
returned :class:`StudyStore` keeps these guarantees (the tests rely on each of them):

* one MLflow SQLite store and one Optuna journal file under ``root``, holding three studies:
  - ``main`` (single objective, minimize ``fcd/mean``), five trials, in this order here:
      0 sampled, COMPLETE (content/acc/fcd only: no fid/lpips)
      1 sampled, FAIL after the first log interval (training losses only: no evaluation, no images, no
        objective; here also no wall_s/iters_reached)
      2 blog trial 1, COMPLETE, with fid/lpips as well
      3 blog trial 2, PRUNED at its first evaluation (fcd/acc/content at one step, no fid; fewer iterations
        than the complete trials; its samples logged once)
      4 blog trial 3, COMPLETE, with fid/lpips as well
    needed: some runs with fid and some without, >= 2 complete trials (importances), ``it_per_s`` and
    ``loss/g`` histories on every run, ``samples/a2b`` + ``samples/b2a`` grids (``log_image`` with steps) on
    every blog trial, ``config.json`` / ``log.jsonl`` / ``checkpoints/last.pt`` artifacts, run names
    ``trial-NNN[-blogK]``, a parent run (tag ``munit.role=study``);
  - ``multi`` (minimize ``fid/mean``, maximize ``lpips/mean``): >= 2 COMPLETE trials logging only fid/lpips
    (no fcd/acc/content) and no images;
  - ``empty``: the experiment, its parent run and the Optuna study, no trials.
* ``run_ids[number]``: each main trial's MLflow run id; ``blog[k]``: the trial number of blog trial k;
  ``pruned`` / ``failed``: those trials' numbers; ``experiment_id`` / ``parent_run_id`` of ``main``.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

MAIN, MULTI, EMPTY = "munit-test-study", "munit-test-multi", "munit-test-empty"
IMAGE_SIZE, N_INPUTS, N_STYLES, ITERS = 32, 2, 2, 40
LOSSES = ("d", "g", "g_adv", "x", "s", "c")
BLOG = {1: dict(lambda_x=10.0, lambda_s=1.0, lambda_c=1.0, lambda_cyc=0.0, lr_step=40),
        2: dict(lambda_x=7.0, lambda_s=3.0, lambda_c=3.0, lambda_cyc=3.0, lr_step=40),
        3: dict(lambda_x=7.0, lambda_s=3.0, lambda_c=3.0, lambda_cyc=10.0, lr_step=12)}


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


def _grids(seed: int):
    """Real a2b/b2a sample grids from tiny generators (weights differ per trial, inputs and fixed styles not)."""
    import torch
    from PIL import Image
    from munit.config import model_preset
    from munit.data import to_model_range
    from munit.model import Generator
    from munit.sampling import fixed_styles, save_grid, translation_grid
    from munit.synthetic import synthetic_domains

    mcfg = model_preset("tiny")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convs: threads only add contention on a busy 2-core box
    torch.manual_seed(1000 + seed)
    gen_a, gen_b = Generator(mcfg).eval(), Generator(mcfg).eval()
    val_a, val_b = synthetic_domains(IMAGE_SIZE, "val", n=N_INPUTS, seed=0)
    styles = fixed_styles(N_STYLES, mcfg.style_dim, seed=0)
    rnd = torch.randn(N_INPUTS, mcfg.style_dim, generator=torch.Generator().manual_seed(seed))
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, src, dst, ds in (("a2b", gen_a, gen_b, val_a), ("b2a", gen_b, gen_a, val_b)):
            x = to_model_range(torch.stack([ds[i] for i in range(N_INPUTS)]))
            path = save_grid(translation_grid(src, dst, x, styles, rnd), 2 + N_STYLES + 1, Path(tmp) / f"{name}.png")
            out[name] = Image.open(path).convert("RGB").copy()
    torch.set_num_threads(threads)
    state = {"gen_a": gen_a.state_dict(), "gen_b": gen_b.state_dict(), "step": ITERS, "fixed_styles": styles,
             "config": {"model": __import__("dataclasses").asdict(mcfg)}}
    return out, state


def _log_trial(client, exp_id: str, parent_id: str, study_name: str, trial, params: dict, *, blog: int | None,
               kind: str, with_fid: bool, rng: np.random.Generator, tmp: Path) -> tuple[str, float | None]:
    """One nested run + the Optuna side of one trial (kind: complete | pruned | fail); returns the run id
    and the last objective value reported."""
    import optuna
    from mlflow.entities import Metric, Param
    from munit.checkpoint import save_checkpoint

    name = f"trial-{trial.number:03d}" + (f"-blog{blog}" if blog else "")
    tags = {"mlflow.parentRunId": parent_id, "munit.role": "trial", "optuna.study_name": study_name,
            "optuna.trial_number": str(trial.number), "optuna.trial_id": str(trial._trial_id),
            "optuna.state": "RUNNING", "munit.backbone.fcd": "domain-classifier (test)",
            "munit.backbone.acc": "domain-classifier (test)", "munit.backbone.content": "synthetic masks"}
    if with_fid:
        tags["munit.backbone.fid"] = "inception-v3-compat (test)"
        tags["munit.backbone.lpips"] = "alexnet (test)"
    if blog:
        tags["munit.blog_trial"] = str(blog)
        trial.set_user_attr("blog_trial", blog)
    run = client.create_run(exp_id, run_name=name, tags=tags)
    rid = run.info.run_id
    trial.set_user_attr("mlflow_run_id", rid)
    all_params = {**params, "lambda_gan": 1.0, "preset": "tiny", "image_size": IMAGE_SIZE, "iters": ITERS,
                  "batch_size": 1, "lr": 1e-4, "seed": 0, "data": "synthetic", "precision": "fp32"}
    client.log_batch(rid, params=[Param(k, str(v)) for k, v in all_params.items()])

    last = {"complete": ITERS, "pruned": 20, "fail": 10}[kind]
    evals = [s for s in (20, 40) if s <= last] if kind != "fail" else []
    metrics, t0, log_lines, objective = [], int(time.time() * 1000), [], None
    for i, step in enumerate(range(10, last + 1, 10)):
        vals = {f"loss/{k}": float(rng.uniform(0.2, 2.0) / (1 + i)) for k in LOSSES}
        if params["lambda_cyc"] > 0:
            vals["loss/cyc"] = float(rng.uniform(0.1, 1.0))
        vals.update({"lr": 1e-4 * 0.5 ** (step // params["lr_step"]), "it_per_s": float(rng.uniform(20, 30))})
        vals["img_per_s"] = vals["it_per_s"]
        metrics += [Metric(k, v, t0 + step, step) for k, v in vals.items()]
        log_lines.append(json.dumps({"step": step, **vals}))
    for j, step in enumerate(evals):
        ev = {}
        for d in ("a2b", "b2a"):
            ev[f"fcd/{d}"] = float(rng.uniform(50, 200) / (1 + j))
            ev[f"content/{d}"] = float(rng.uniform(0.3, 0.9) / (1 + j))
            ev[f"acc/{d}"] = float(rng.uniform(0.2, 0.9))
            if with_fid:
                ev[f"fid/{d}"] = float(rng.uniform(100, 300) / (1 + j))
                ev[f"lpips/{d}"] = float(rng.uniform(0.05, 0.4))
        for m in {k.split("/")[0] for k in ev}:
            ev[f"{m}/mean"] = (ev[f"{m}/a2b"] + ev[f"{m}/b2a"]) / 2
        ev["acc/classifier_val"] = 0.97
        ev["objective"] = ev["fcd/mean"]
        metrics += [Metric(k, v, t0 + 1000 + step, step) for k, v in ev.items()]
        trial.report(ev["fcd/mean"], step)
        objective = ev["fcd/mean"]
    if kind != "fail":
        metrics += [Metric("wall_s", float(rng.uniform(5, 9)), t0 + 5000, last),
                    Metric("iters_reached", float(last), t0 + 5000, last)]
    for i in range(0, len(metrics), 900):
        client.log_batch(rid, metrics=metrics[i:i + 900])

    if kind != "fail":
        grids = None
        for step in (20, 40):
            if step > last:
                break
            grids, state = _grids(trial.number * 10 + step)
            for key in ("a2b", "b2a"):
                client.log_image(rid, grids[key], key=f"samples/{key}", step=step)
        d = tmp / name
        (d / "checkpoints").mkdir(parents=True)
        save_checkpoint(d / "checkpoints" / "last.pt", state)
        (d / "config.json").write_text(json.dumps({"model": state["config"]["model"], "weights": params,
                                                   "data": {"source": "synthetic", "domains": ["dog", "cat"]}}))
        (d / "log.jsonl").write_text("\n".join(log_lines) + "\n")
        client.log_artifact(rid, str(d / "config.json"))
        client.log_artifact(rid, str(d / "log.jsonl"))
        client.log_artifact(rid, str(d / "checkpoints" / "last.pt"), "checkpoints")

    state_name, status = {"complete": ("COMPLETE", "FINISHED"), "pruned": ("PRUNED", "KILLED"),
                          "fail": ("FAIL", "FAILED")}[kind]
    reason = {"pruned": f"pruned at step {last} (fcd/mean={objective})",
              "fail": "loss 'g' became NaN/Inf at iteration 12"}.get(kind)
    if reason:
        trial.set_user_attr("fail_reason", reason)
        client.set_tag(rid, "munit.fail_reason", reason)
    client.set_tag(rid, "optuna.state", state_name)
    client.set_terminated(rid, status=status)
    return rid, objective


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


def build_study_store(root: Path) -> StudyStore:
    """Write the three studies under ``root`` (about 10 s, most of it MLflow creating its SQLite schema)."""
    import logging

    import optuna
    from mlflow import MlflowClient
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    journal = str(root / "optuna.journal")
    client = MlflowClient(tracking_uri=uri)
    storage = JournalStorage(JournalFileBackend(journal))
    out = StudyStore(root=root, tracking_uri=uri, storage=journal)
    tmp = root / "staging"
    rng = np.random.default_rng(0)

    # ---- main: single objective, 5 trials
    exp_id = client.create_experiment(MAIN, artifact_location=(root / "artifacts").as_uri())
    parent = _parent(client, exp_id, MAIN, journal, "minimize", "fcd/mean")
    study = optuna.create_study(study_name=MAIN, storage=storage, direction="minimize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    for k, v in {"mlflow_experiment_id": exp_id, "mlflow_parent_run_id": parent, "objective": "fcd/mean"}.items():
        study.set_user_attr(k, v)
    out.experiment_id, out.parent_run_id = exp_id, parent
    plan = [(None, "complete", False), (None, "fail", False), (1, "complete", True), (2, "pruned", False),
            (3, "complete", True)]
    for blog, kind, with_fid in plan:
        if blog:
            study.enqueue_trial(BLOG[blog], user_attrs={"blog_trial": blog}, skip_if_exists=True)
        trial = study.ask()
        params = _suggest(trial)
        rid, objective = _log_trial(client, exp_id, parent, MAIN, trial, params, blog=blog, kind=kind,
                                    with_fid=with_fid, rng=rng, tmp=tmp)
        out.run_ids[trial.number] = rid
        if blog:
            out.blog[blog] = trial.number
        if kind == "complete":
            study.tell(trial, objective)
        else:
            study.tell(trial, state=TrialState.PRUNED if kind == "pruned" else TrialState.FAIL)
    client.set_terminated(parent, "FINISHED")

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


__all__ = ["study_report", "StudyStore", "build_study_store", "study_store", "assert_png", "MAIN", "MULTI", "EMPTY",
           "BLOG"]

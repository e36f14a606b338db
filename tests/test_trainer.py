"""Trainer: exact resume across processes (learning: tests/test_benchmark.py), NaN handling, callbacks, checkpoints."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from munit.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from munit.config import LossWeights, TrainConfig, model_preset
from munit.data import DataConfig
from munit.trainer import Callback, NonFiniteLossError, StopReason, Trainer

ROOT = Path(__file__).resolve().parents[1]
TRAIN_ARGS = ["train", "--data", "synthetic", "--preset", "tiny", "--max-images", "20", "--batch-size", "4", "--lr", "1e-4",
              "--lr-step", "5", "--lambda-cyc", "2", "--log-every", "1", "--sample-every", "0",
              "--checkpoint-every", "100", "--quiet", "--seed", "3"]


def _run_cli(args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "munit", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, **kw)


def _losses(out: Path):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_exact_resume_in_a_new_process(tmp_path):
    n, m = 7, 6  # 5 batches per epoch: the split is mid-epoch and the resumed part crosses an epoch boundary
    straight, split = tmp_path / "straight", tmp_path / "split"
    # all three runs in fresh processes with the same environment (thread count etc.), as a user would run them
    r0 = _run_cli([*TRAIN_ARGS, "--iters", str(n + m), "--out", str(straight)])
    assert r0.returncode == 0, r0.stderr
    r1 = _run_cli([*TRAIN_ARGS, "--iters", str(n), "--out", str(split)])
    assert r1.returncode == 0, r1.stderr
    r2 = _run_cli([*TRAIN_ARGS, "--iters", str(n + m), "--out", str(split), "--resume"])
    assert r2.returncode == 0, r2.stderr
    assert "resuming" in r2.stderr and f"iteration {n}" in r2.stderr

    a = load_checkpoint(straight / "checkpoints" / "last.pt")
    b = load_checkpoint(split / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == n + m
    for key in ("gen_a", "gen_b", "dis_a", "dis_b"):
        for name, t in a[key].items():
            assert (t - b[key][name]).abs().max().item() < 1e-6, f"{key}.{name} differs after resume"
    assert a["sched_g"]["last_epoch"] == b["sched_g"]["last_epoch"] == n + m
    la, lb = _losses(straight), _losses(split)
    assert [r["step"] for r in la] == [r["step"] for r in lb] == list(range(1, n + m + 1))
    for ra, rb in zip(la, lb):
        for k in ra:
            if k.startswith("loss/") or k == "lr":
                assert ra[k] == rb[k], (ra["step"], k)
    assert la[-1]["lr"] == pytest.approx(1e-4 * 0.5 ** ((n + m) // 5))


class _Recorder(Callback):
    def __init__(self, stop_at=None):
        self.logs, self.evals, self.samples, self.ckpts, self.stop_at = [], [], [], [], stop_at
        self.metas = []

    def on_log(self, step, scalars):
        self.logs.append((step, scalars))

    def on_evaluate(self, step, metrics, meta):
        self.evals.append((step, metrics))
        self.metas.append(meta)

    def on_samples(self, step, paths):
        self.samples.append((step, paths))

    def on_checkpoint(self, step, path):
        self.ckpts.append((step, path))

    def should_stop(self, step):
        return "enough" if self.stop_at and step >= self.stop_at else False


def _tiny_trainer(out, callbacks=(), evaluator=None, **kw):
    cfg = dict(iters=8, batch_size=2, progress=False, sample_every=4, checkpoint_every=4, log_every=2, eval_every=4)
    cfg.update(kw)
    return Trainer(model_preset("tiny"), TrainConfig(**cfg), LossWeights(cyc=1),
                   DataConfig(synthetic_train=16, synthetic_val=4), out, callbacks=callbacks, evaluator=evaluator)


def test_callbacks_samples_and_should_stop(tmp_path):
    from PIL import Image

    from munit.sampling import grid_size

    rec = _Recorder(stop_at=6)
    calls = []

    def evaluator(trainer):  # an evaluator returns its values and what computed them
        calls.append(trainer.step)
        return {"toy/metric": float(trainer.step)}, {"toy": {"backbone": "the step counter"}}

    res = _tiny_trainer(tmp_path, [rec], evaluator).fit()
    assert res.step == 6 and res.stopped is StopReason.STOPPED and res.stop_detail == "enough"
    assert rec.metas == [{"toy": {"backbone": "the step counter"}}] and res.last_meta == rec.metas[0]
    assert [s for s, _ in rec.logs] == [2, 4, 6]
    assert set(rec.logs[0][1]) >= {"loss/d", "loss/g", "loss/g_adv", "loss/x", "loss/s", "loss/c", "loss/cyc", "lr",
                                   "it_per_s", "img_per_s"}
    assert calls == [4] and rec.evals == [(4, {"toy/metric": 4.0})]
    assert [s for s, _ in rec.samples] == [4]
    png = rec.samples[0][1]["a2b"]
    # 4 inputs x (input, recon, 4 fixed styles, 1 random) at 32 px
    assert Image.open(png).size == grid_size(4, 7, 32, labelled=True)
    assert [s for s, _ in rec.ckpts] == [4, 6]  # interval, then the stop
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 6
    assert json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0]) == {"step": 4, "toy/metric": 4.0}


def test_fixed_styles_identical_across_runs_and_resume(tmp_path):
    t1 = _tiny_trainer(tmp_path / "a")
    t2 = _tiny_trainer(tmp_path / "b", lr=1e-3)
    assert torch.equal(t1.styles, t2.styles)
    t1.fit()
    t3 = Trainer(t1.model_cfg, t1.cfg, t1.weights, t1.data_cfg, tmp_path / "a", resume=True)
    assert t3.step == 8 and torch.equal(t3.styles, t1.styles)


def test_nan_loss_stops_with_reason_and_resumable_checkpoint(tmp_path, monkeypatch):
    import munit.trainer as trainer_mod

    tr = _tiny_trainer(tmp_path, iters=12, checkpoint_every=3, log_every=1, eval_every=0, sample_every=0)
    real_l1 = trainer_mod.l1
    calls = {"n": 0}

    def poisoned_l1(a, b):  # l1 calls per iteration: x, x, s, s, c, c, cyc, cyc; iteration 5 s goes NaN
        calls["n"] += 1
        out = real_l1(a, b)
        return out * float("nan") if calls["n"] == 4 * 8 + 3 else out

    monkeypatch.setattr(trainer_mod, "l1", poisoned_l1)
    with pytest.raises(NonFiniteLossError) as e:
        tr.fit()
    assert e.value.loss == "s" and e.value.iteration == 5
    assert "loss 's'" in str(e.value) and "iteration 5" in str(e.value) and "last.pt" in str(e.value)
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert state["step"] == 3
    assert all(torch.isfinite(t).all() for t in state["gen_a"].values())
    monkeypatch.setattr(trainer_mod, "l1", real_l1)
    resumed = _tiny_trainer(tmp_path, iters=12, checkpoint_every=3, log_every=1, eval_every=0, sample_every=0)
    resumed = Trainer(resumed.model_cfg, resumed.cfg, resumed.weights, resumed.data_cfg, tmp_path, resume=True)
    assert resumed.step == 3
    assert resumed.fit().step == 12


def test_checkpoint_atomic_and_weights_only(tmp_path, monkeypatch):
    tr = _tiny_trainer(tmp_path, iters=2, sample_every=0, eval_every=0)
    tr.fit()
    path = tmp_path / "checkpoints" / "last.pt"
    before = path.read_bytes()
    # loads with weights_only=True: no pickled code
    state = torch.load(path, weights_only=True)
    assert state["step"] == 2 and "rng" in state and state["data"]["a"] == tr.stream_a.state_dict()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint(path, tr.state_dict())
    assert path.read_bytes() == before
    assert not [p for p in path.parent.iterdir() if p.name != "last.pt"]  # no temp file left behind
    monkeypatch.undo()
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_resume_refuses_a_different_model(tmp_path):
    from munit.config import ConfigError

    _tiny_trainer(tmp_path, iters=2, sample_every=0, eval_every=0).fit()
    with pytest.raises(ConfigError, match="different model config"):
        Trainer(model_preset("tiny", dim=16), TrainConfig(iters=4, progress=False),
                data_cfg=DataConfig(synthetic_train=16, synthetic_val=4), out_dir=tmp_path, resume=True)


def test_ctrl_c_stops_cleanly_with_checkpoint(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-m", "munit", *TRAIN_ARGS, "--iters", "100000", "--out", str(out),
                          "--log-every", "1"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    log = out / "log.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and not (log.exists() and len(log.read_text().splitlines()) >= 3):
        time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "interrupted at iteration" in err
    state = load_checkpoint(out / "checkpoints" / "last.pt")
    assert state["step"] >= 3


def test_fit_until_pauses_and_continues_exactly(tmp_path):
    """fit(until=k) stops at k with a checkpoint (PAUSED); fitting on continues bit for bit like one fit."""
    straight = _tiny_trainer(tmp_path / "straight", eval_every=0, sample_every=0)
    straight.fit()
    chunked = _tiny_trainer(tmp_path / "chunked", eval_every=0, sample_every=0)
    first = chunked.fit(until=3)
    assert first.step == 3 and first.stopped is StopReason.PAUSED
    assert load_checkpoint(tmp_path / "chunked" / "checkpoints" / "last.pt")["step"] == 3
    assert chunked.fit(until=3).step == 3                     # nothing left below the mark
    last = chunked.fit()
    assert last.step == 8 and last.stopped is StopReason.COMPLETED
    for name, t in straight.gen_a.state_dict().items():
        assert torch.equal(t, chunked.gen_a.state_dict()[name]), name

"""Train MUNIT on the synthetic set with one or more CPU recipes and score each at checkpoints on the default
synthetic objective (fit) and content, beside the baselines scored by the same code on the same protocol.

    python bench/recipe_probe.py '{"model": {"dim": 16}, "train": {"iters": 300}, "evals": [100, 300]}'
    python bench/recipe_probe.py --baselines '{}' '{"train": {"lr": 2e-3}}'

Each config is JSON: ``preset`` (default tiny), ``model`` (ModelConfig overrides), ``train`` (TrainConfig
overrides; defaults: 600 iterations, batch 4, lr 1e-3, constant lr), ``weights`` (LossWeights overrides),
``evals`` (iterations at which to evaluate; default the last), ``n`` (synthetic train images per domain, 400),
``threads`` (torch threads, 1), ``grid`` (a path prefix for the a2b / b2a sample grids at the end).
Prints one line per evaluation: iterations, training seconds (evaluation excluded), it/s, fit/mean (a2b, b2a),
content/mean. Timings are of whatever else the machine runs too.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import torch

from munit.baselines import Baselines
from munit.config import LossWeights, TrainConfig, model_preset
from munit.data import DataConfig
from munit.metrics.protocol import EvalData, Protocol
from munit.metrics.session import Session
from munit.trainer import Trainer

PROTOCOL = Protocol(n_val=64, n_styles=4, batch_size=64)


def fmt(r: dict) -> str:
    return (f"fit {r['fit/mean']:.4f} (a2b {r['fit/a2b']:.4f} b2a {r['fit/b2a']:.4f}) "
            f"content {r['content/mean']:.3f}")


def probe(cfg: dict, session: Session, show_baselines: bool) -> list[dict]:
    torch.set_num_threads(int(cfg.get("threads", 1)))
    mc = model_preset(cfg.get("preset", "tiny"), **cfg.get("model", {}))
    tcfg = dict(iters=600, batch_size=4, lr=1e-3, lr_step=10 ** 9, progress=False, sample_every=0,
                checkpoint_every=0, log_every=100, device="cpu", seed=0)
    tcfg.update(cfg.get("train", {}))
    weights = LossWeights(**cfg.get("weights", {}))
    evals = cfg.get("evals", [tcfg["iters"]])
    out = []
    with tempfile.TemporaryDirectory() as d:
        tr = Trainer(mc, TrainConfig(**tcfg), weights,
                     DataConfig(synthetic_train=cfg.get("n", 400), synthetic_val=64), d)
        data = EvalData(tr.train_a, tr.train_b, tr.val_a, tr.val_b)
        if show_baselines:
            b = Baselines(tr.train_a, tr.train_b, tr.val_a, tr.val_b, mc)
            for name in b.names(synthetic=True):
                ga, gb = b.pair(name)
                print(f"  baseline {name:12s} {fmt(session.run(ga, gb, data, PROTOCOL, torch.device('cpu')))}",
                      flush=True)
        train_s = 0.0
        for e in evals:
            t = time.perf_counter()
            res = tr.fit(until=e)
            train_s += time.perf_counter() - t
            r = session.run(tr.gen_a, tr.gen_b, data, PROTOCOL, torch.device("cpu"))
            row = {"it": e, "train_s": round(train_s, 1), **{k: r[k] for k in r if k.startswith(("fit", "content"))}}
            out.append(row)
            print(f"  it {e:5d} train {train_s:6.1f} s ({e / train_s:5.1f} it/s): {fmt(r)} "
                  f"[loss x {res.last_losses.get('loss/x', float('nan')):.3f}, d {res.last_losses.get('loss/d', float('nan')):.3f}]", flush=True)
        if cfg.get("grid"):  # the trainer's own a2b / b2a grids, copied to <grid>-a2b.png, <grid>-b2a.png
            import shutil
            for name, path in tr.save_samples().items():
                shutil.copy(path, f"{cfg['grid']}-{name}.png")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("configs", nargs="+", help="JSON recipe(s)")
    ap.add_argument("--baselines", action="store_true", help="score the baselines first (same data, protocol)")
    a = ap.parse_args(argv)
    session = Session(["fit", "content"])
    for i, c in enumerate(a.configs):
        print(c, flush=True)
        probe(json.loads(c), session, a.baselines and i == 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())

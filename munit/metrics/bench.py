"""Time the evaluation protocol: ``python -m munit.metrics.bench``.

Runs :class:`~munit.metrics.session.Session` on randomly initialised generators of a preset and the synthetic
dataset at the preset's size, twice: *cold* (metric networks built, real-set statistics computed, classifier
trained) and *warm* (what every further evaluation of a run or study costs), then each metric alone (warm).
Prints one JSON line. Default sizes: the full protocol (500 val images x 10 styles x 2 directions, paper preset,
256 px) on CUDA; a reduced one on CPU (say which with --n-val etc.).

    python -m munit.metrics.bench                           # needs the real weights in the hub cache
    python -m munit.metrics.bench --stand-in-weights        # offline: random weights, same cost, numbers void
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import torch

from ..config import PRESETS, model_preset
from ..model import Generator
from ..synthetic import synthetic_domains
from .classifier import ClassifierConfig
from .protocol import EvalData, Protocol
from .session import Session


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m munit.metrics.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metrics", default="fid,lpips,acc,fcd,content")
    ap.add_argument("--preset", choices=list(PRESETS), default=None, help="default: paper on CUDA, small on CPU")
    ap.add_argument("--n-val", type=int, default=None, help="default: 500 on CUDA, 20 on CPU")
    ap.add_argument("--n-styles", type=int, default=10)
    ap.add_argument("--n-real", type=int, default=None, help="real train images per domain (default: 1000 on CUDA, "
                                                             "50 on CPU)")
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--classifier-epochs", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--stand-in-weights", action="store_true",
                    help="write random-weight Inception/AlexNet files into a temporary hub dir (timing only)")
    ap.add_argument("--per-metric", action=argparse.BooleanOptionalAction, default=True,
                    help="also time each metric alone (warm)")
    args = ap.parse_args(argv)

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    cuda = device.type == "cuda"
    preset = args.preset or ("paper" if cuda else "small")
    n_val = args.n_val or (500 if cuda else 20)
    n_real = args.n_real or (1000 if cuda else 50)
    mcfg = model_preset(preset)
    protocol = Protocol(n_val=n_val, n_styles=args.n_styles, n_real=n_real, batch_size=args.batch_size)
    metrics = [m for m in args.metrics.split(",") if m]

    with tempfile.TemporaryDirectory(prefix="munit-bench-") as tmp:
        old_hub = getattr(torch.hub, "_hub_dir", None)
        if args.stand_in_weights:
            from .standins import write_stand_ins
            write_stand_ins(os.path.join(tmp, "hub"))
            torch.hub.set_dir(os.path.join(tmp, "hub"))
        try:
            t = time.perf_counter()
            data = EvalData(*synthetic_domains(mcfg.image_size, "train", n_real),
                            *synthetic_domains(mcfg.image_size, "val", n_val))
            data_s = time.perf_counter() - t
            with torch.random.fork_rng(devices=[device] if cuda else []):
                torch.manual_seed(0)
                gen_a, gen_b = Generator(mcfg).to(device), Generator(mcfg).to(device)
            clf = ClassifierConfig(epochs=args.classifier_epochs)
            session = Session(metrics, cache_dir=os.path.join(tmp, "cache"), classifier=clf)

            def timed(s: Session) -> tuple[float, dict]:
                _sync(device)
                t0 = time.perf_counter()
                r = s.run(gen_a, gen_b, data, protocol, device)
                _sync(device)
                return time.perf_counter() - t0, r

            cold_s, _ = timed(session)
            warm_s, result = timed(session)
            per_metric = {}
            if args.per_metric and len(metrics) > 1:
                for m in metrics:
                    s = Session([m], cache_dir=os.path.join(tmp, "cache"), classifier=clf)
                    timed(s)  # builds networks, loads cached statistics
                    per_metric[m] = round(timed(s)[0], 3)
        finally:
            torch.hub._hub_dir = old_hub  # type: ignore[attr-defined]

    out = {"what": "metrics-protocol", "device": torch.cuda.get_device_name(device) if cuda else "cpu",
           "threads": torch.get_num_threads(), "torch": torch.__version__, "preset": preset,
           "image_size": mcfg.image_size, "metrics": metrics, "n_val": n_val, "n_styles": args.n_styles,
           "directions": 2, "n_fake": 2 * n_val * args.n_styles, "n_real_per_domain": n_real,
           "batch_size": args.batch_size, "full_protocol": n_val == 500 and args.n_styles == 10,
           "weights": "random stand-ins (timing only)" if args.stand_in_weights else "hub cache",
           "cold_s": round(cold_s, 3), "warm_s": round(warm_s, 3), "per_metric_warm_s": per_metric,
           "data_s": round(data_s, 3), "values": {k: v for k, v in result.items() if k != "meta"}}
    if cuda:
        out["peak_mem_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

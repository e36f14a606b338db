"""Benchmarks: ``python -m munit.bench [step|metrics] ...``; one JSON line per result.

``step`` (the default): times ``Trainer`` iterations (data batch from the device-resident stream, D update, G
update, both optimiser steps, both schedulers), warm-up excluded (its first step -- compilation, cuDNN's algorithm
search -- is reported apart), CUDA-synchronised, median over repeats, one line per lever setting and batch size.
``--setting`` names lever settings (:mod:`munit.fastpath`); a setting that fails prints an ``error`` line and the
others still run; one that needs CUDA prints a ``skipped`` line on CPU. With ``--reference PATH`` it also runs the
seed blog's step (``blog_reference.py``) in a subprocess on the same device in the same invocation, once per batch
size, and prints the ratio, so figures are only ever compared side by side.

``metrics``: times the evaluation protocol (:class:`munit.metrics.session.Session`) on randomly initialised
generators and the synthetic set: *cold* (metric networks built, real statistics computed, classifier trained)
and *warm* (what every further evaluation costs), then each metric alone (warm). Default sizes: the full protocol
(500 val images x 10 styles x 2 directions, paper preset, 256 px) on CUDA; a reduced one on CPU.

    python -m munit.bench                                  # CUDA: paper preset at 256 px; CPU: small preset
    python -m munit.bench --batch 1 8 --precision bf16 --channels-last --reference .bench/blog_reference.py
    python -m munit.bench --batch 1 8 --setting fp32 bf16-cl bf16-cl-graph --reference .bench/blog_reference.py
    python -m munit.bench metrics --stand-in-weights       # offline: random weights, same cost, numbers void
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from .config import (COMPILE_MODES, PRESETS, SYNTHETIC, ConfigError, LossWeights, TrainConfig, default_preset,
                     model_preset)
from .data import DataConfig
from .fastpath import PRECISIONS, describe, parse_setting
from .graph import StepGraph
from .trainer import Trainer, resolve_device


# The benchmarks time the model a machine trains on real images (munit.config.default_preset), on synthetic
# batches: the step's cost does not depend on what the pixels show.
REAL_DATA = "real images"
PRESET_HELP = (f"default: what training on real data uses here ({default_preset(True, REAL_DATA)} on CUDA, "
               f"{default_preset(False, REAL_DATA)} on a CPU)")


def bench_setting(preset: str, image_size: int | None, batch: int, iters: int | None, warmup: int, repeats: int,
                  device: str, tcfg: TrainConfig, weights: LossWeights, target_s: float = 1.0) -> dict:
    """Time ``Trainer.train_step`` with the levers of ``tcfg`` (its precision, channels_last, compile, ...; batch
    size and device come from the arguments). ``iters=None``: as many per repeat as take ``target_s`` seconds."""
    mcfg = model_preset(preset, **({"image_size": image_size} if image_size else {}))
    tcfg = dataclasses.replace(tcfg, iters=10**9, batch_size=batch, device=device, progress=False, sample_every=0,
                               checkpoint_every=0, num_fixed_styles=1, num_sample_inputs=1)
    dcfg = DataConfig(source=SYNTHETIC, synthetic_train=max(4 * batch, 16), synthetic_val=2)
    with tempfile.TemporaryDirectory() as tmp:
        tr = Trainer(mcfg, tcfg, weights, dcfg, tmp)
    cuda = tr.device.type == "cuda"
    sync = (lambda: torch.cuda.synchronize(tr.device)) if cuda else (lambda: None)

    def run(n: int) -> float:
        sync()
        t = time.perf_counter()
        for _ in range(n):
            losses = tr.train_step(next(tr.stream_a), next(tr.stream_b))
        sync()
        dt = time.perf_counter() - t
        if n and not torch.isfinite(losses).all():
            raise RuntimeError(f"non-finite losses in benchmark: {losses.tolist()}")
        return dt

    if cuda:
        torch.cuda.reset_peak_memory_stats(tr.device)
    # the first step pays for compilation, cuDNN's algorithm search and first allocations; a CUDA graph is
    # captured at step StepGraph.WARMUP + 1: all inside the warm-up, reported apart from the steady rate
    warmup = max(warmup, StepGraph.WARMUP + 2) if tcfg.cuda_graph else max(warmup, 1)
    first_s = run(1)
    warm_s = first_s + run(warmup - 1)
    if iters is None:
        per_iter = run(3) / 3
        iters = max(3, min(1000, math.ceil(target_s / max(per_iter, 1e-6))))
    times = [run(iters) for _ in range(repeats)]
    sec = statistics.median(times)
    it_per_s = iters / sec
    res = {"what": "munit", "setting": None, "levers": describe(tr.cfg), "preset": preset,
           "image_size": mcfg.image_size, "batch": batch, "precision": tcfg.precision,
           "channels_last": tcfg.channels_last, "cudnn_benchmark": tcfg.cudnn_benchmark, "compile": tcfg.compile,
           "compile_mode": tcfg.compile_mode if tcfg.compile else None, "cuda_graph": tcfg.cuda_graph,
           "preload": bool(tr.stream_a.preload), "iters": iters, "repeats": repeats, "it_per_s": it_per_s,
           "img_per_s": it_per_s * batch, "hours_per_1m_iters": 1e6 / it_per_s / 3600,
           "first_step_s": round(first_s, 3), "warmup_steps": warmup, "warmup_s": round(warm_s, 3),
           "device": torch.cuda.get_device_name(tr.device) if cuda else "cpu", "torch": torch.__version__,
           "threads": torch.get_num_threads(), "cycle_loss": weights.cyc > 0}
    if cuda:
        res["peak_mem_gib"] = round(torch.cuda.max_memory_allocated(tr.device) / 2**30, 2)
    if tcfg.compile:
        res["compile_cache"] = _inductor_cache_dir()   # FX-graph and autotuning caches: a later process reuses them
    return res


def _inductor_cache_dir() -> str | None:
    if os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
        return os.environ["TORCHINDUCTOR_CACHE_DIR"]
    try:   # a private module that moves between torch versions: never let it cost a measurement
        from torch._inductor.runtime.cache_dir_utils import cache_dir
        return cache_dir()
    except Exception:  # noqa: BLE001
        return None


def run_reference(path: str, batch: int, iters: int, size: int, warmup: int = 5) -> dict:
    """Run the seed blog's step (``blog_reference.py``, fp32) in a subprocess on this machine; its JSON result."""
    out = subprocess.run([sys.executable, path, "--mode", "fp32", "--batch", str(batch), "--iters", str(iters),
                          "--size", str(size), "--warmup", str(warmup)], capture_output=True, text=True)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"the reference script failed at size {size}, batch {batch}: {last}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["what"] = "blog_reference"
    res["hours_per_1m_iters"] = 1e6 / res["it_per_s"] / 3600
    return res


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def metrics_main(argv: list[str] | None = None) -> int:
    """``python -m munit.bench metrics``: time the evaluation protocol."""
    from .metrics.classifier import ClassifierConfig
    from .metrics.protocol import EvalData, Protocol
    from .metrics.session import Session
    from .model import Generator
    from .synthetic import synthetic_domains

    ap = argparse.ArgumentParser(prog="python -m munit.bench metrics", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metrics", default="fid,lpips,acc,fcd,content")
    ap.add_argument("--preset", choices=list(PRESETS), default=None, help=PRESET_HELP)
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

    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    preset = args.preset or default_preset(cuda, REAL_DATA)
    n_val = args.n_val or (500 if cuda else 20)
    n_real = args.n_real or (1000 if cuda else 50)
    mcfg = model_preset(preset)
    protocol = Protocol(n_val=n_val, n_styles=args.n_styles, n_real=n_real, batch_size=args.batch_size)
    metrics = [m for m in args.metrics.split(",") if m]

    with tempfile.TemporaryDirectory(prefix="munit-bench-") as tmp:
        old_hub = getattr(torch.hub, "_hub_dir", None)
        if args.stand_in_weights:
            from .metrics.protocol import registry
            from .metrics.weights import write_stand_ins
            specs = registry()
            needed = sorted({k for m in metrics if m in specs for k in specs[m].weights})
            write_stand_ins(os.path.join(tmp, "hub"), keys=needed)
            torch.hub.set_dir(os.path.join(tmp, "hub"))
        try:
            t = time.perf_counter()
            data = EvalData(*synthetic_domains(mcfg.image_size, "train", n_real),
                            *synthetic_domains(mcfg.image_size, "val", n_val))
            data_s = time.perf_counter() - t
            with torch.random.fork_rng(devices=[device] if cuda else []):
                torch.manual_seed(0)
                gen_a, gen_b = Generator(mcfg).to(device), Generator(mcfg).to(device)
            clf = ClassifierConfig(epochs=args.classifier_epochs, min_steps=0)
            # stand-ins are not the official files: allowed here, and recorded as unverified in the results
            session = Session(metrics, cache_dir=os.path.join(tmp, "cache"), classifier=clf,
                              allow_unverified=args.stand_in_weights)

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
                    s = Session([m], cache_dir=os.path.join(tmp, "cache"), classifier=clf,
                                allow_unverified=args.stand_in_weights)
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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["metrics"]:
        return metrics_main(argv[1:])
    if argv[:1] == ["step"]:
        argv = argv[1:]
    ap = argparse.ArgumentParser(prog="python -m munit.bench [step]", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, nargs="+", default=[1])
    ap.add_argument("--preset", choices=list(PRESETS), default=None, help=PRESET_HELP)
    ap.add_argument("--image-size", type=int, default=None, help="override the preset's image size")
    ap.add_argument("--iters", type=int, default=None,
                    help="timed iterations per repeat (default: CUDA as many as take --target-s, CPU 10)")
    ap.add_argument("--target-s", type=float, default=1.0, help="seconds per timed repeat when --iters is not given")
    ap.add_argument("--warmup", type=int, default=5, help="untimed first steps (at least StepGraph.WARMUP + 2 "
                                                          "with a CUDA graph)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--setting", nargs="+", default=None, metavar="NAME",
                    help="named lever settings (munit.fastpath), e.g. fp32 bf16-cl bf16-cl-graph; each is timed at "
                         "every --batch in this one process. Default: one setting made of the flags below")
    lv = ap.add_argument_group("levers (without --setting)")
    lv.add_argument("--precision", choices=list(PRECISIONS), default="fp32")
    lv.add_argument("--channels-last", action="store_true")
    lv.add_argument("--cudnn-benchmark", action="store_true")
    lv.add_argument("--compile", action="store_true")
    lv.add_argument("--compile-mode", choices=list(COMPILE_MODES), default="default")
    lv.add_argument("--cuda-graph", action="store_true")
    ap.add_argument("--no-cycle", action="store_true", help="cycle loss off (default on: the blog's trial 3 weights)")
    ap.add_argument("--reference", default=None, help="path to blog_reference.py: run it beside, same device "
                                                      "(once per batch size)")
    ap.add_argument("--reference-iters", type=int, default=None, help="its timed iterations (default: --iters or 20)")
    ap.add_argument("--reference-warmup", type=int, default=5)
    a = ap.parse_args(argv)
    cuda = torch.cuda.is_available() and a.device != "cpu"
    preset = a.preset or default_preset(cuda, REAL_DATA)
    iters = a.iters if a.iters is not None else (None if cuda else 10)
    # the blog's trial-3 weights, the same the reference script uses
    weights = LossWeights(x=7, s=3, c=3, cyc=0 if a.no_cycle else 10)
    try:
        if a.setting:
            runs = [(st.name, st.apply(TrainConfig()), st.needs_cuda()) for st in map(parse_setting, a.setting)]
        else:
            tcfg = TrainConfig(precision=a.precision, channels_last=a.channels_last,
                               cudnn_benchmark=a.cudnn_benchmark, compile=a.compile, compile_mode=a.compile_mode,
                               cuda_graph=a.cuda_graph)
            runs = [(None, tcfg, None)]
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    size = model_preset(preset, **({"image_size": a.image_size} if a.image_size else {})).image_size
    references: dict[int, dict] = {}
    failed = False
    for name, tcfg, needs in runs:
        for b in a.batch:
            if a.reference and b not in references:
                try:
                    references[b] = run_reference(a.reference, b, a.reference_iters or a.iters or 20, size,
                                                  a.reference_warmup)
                except (RuntimeError, OSError, ValueError) as e:
                    references[b] = {"what": "blog_reference", "batch": b, "size": size, "error": str(e)}
                print(json.dumps(references[b]), flush=True)
            if needs and not cuda:
                print(json.dumps({"what": "munit", "setting": name, "batch": b, "skipped": needs}), flush=True)
                continue
            try:
                res = bench_setting(preset, a.image_size, b, iters, a.warmup, a.repeats, a.device, tcfg, weights,
                                    a.target_s)
            except Exception as e:  # noqa: BLE001 -- one failing setting must not lose the others' figures
                failed = True
                print(json.dumps({"what": "munit", "setting": name, "batch": b, "levers": describe(tcfg),
                                  "error": f"{type(e).__name__}: {e}"}), flush=True)
                continue
            res["setting"] = name
            ref = references.get(b)
            if ref and "it_per_s" in ref:
                res["reference_it_per_s"] = ref["it_per_s"]
                res["reference_img_per_s"] = ref["img_per_s"]
                res["speedup"] = res["it_per_s"] / ref["it_per_s"]
            print(json.dumps(res), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

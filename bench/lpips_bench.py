"""LPIPS diversity: AlexNet once per output (the metric's path) vs twice per pair (torchmetrics' update), side by side.

    python bench/lpips_bench.py                       # 64 and 128 px, 4 inputs x 10 styles, 2 repeats
    python bench/lpips_bench.py --sizes 256 --inputs 2 --device cuda

Both paths score the same outputs with the same network (random-weight AlexNet stand-in: speed and arithmetic do
not depend on the weights' values). Prints, per image size: seconds per input for each path (the best of
``--repeat``; process CPU seconds next to wall time, as the CPU may be shared), the ratio, and the largest
difference of the per-pair scores and of the means. The load average is printed alongside.
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from munit.metrics.lpips import lpips_metric, pair_scores
from munit.metrics.weights import alexnet_state_dict


def best_time(fn, repeat: int, sync) -> tuple[float, float, torch.Tensor]:
    runs, out = [], None
    for _ in range(repeat):
        sync()
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        sync()
        runs.append((time.perf_counter() - t, time.process_time() - c))
    wall, cpu = min(runs)
    return wall, cpu, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--inputs", type=int, default=4, help="source images (k); each has --styles outputs")
    ap.add_argument("--styles", type=int, default=10)
    ap.add_argument("--pairs-per-call", type=int, default=180, help="pairs per network call, pairwise path")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    metric = lpips_metric(alexnet_state_dict(0)).to(device)
    net = metric.net
    k, n = args.inputs, args.styles
    i, j = torch.triu_indices(n, n, offset=1, device=device)
    per_call = max(1, args.pairs_per_call // k)
    print(f"LPIPS diversity, {k} inputs x {n} styles = {i.numel()} pairs per input; device {device}, "
          f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f}")
    print(f"{'size':>5} {'pairwise s/input':>17} {'features-once s/input':>22} {'ratio':>6} "
          f"{'max |pair diff|':>16} {'|mean diff|':>12}")
    g = torch.Generator().manual_seed(0)
    for size in args.sizes:
        x = (torch.rand(k, n, 3, size, size, generator=g) * 2 - 1).to(device)

        def pairwise() -> torch.Tensor:   # what torchmetrics' update does: both images of every pair through AlexNet
            with torch.no_grad():
                out = []
                for lo in range(0, i.numel(), per_call):
                    pi, pj = i[lo:lo + per_call], j[lo:lo + per_call]
                    out.append(net(x[:, pi].flatten(0, 1), x[:, pj].flatten(0, 1)).view(k, -1))
                return torch.cat(out, dim=1)

        def once() -> torch.Tensor:
            with torch.no_grad():
                return pair_scores(net, x, i, j)

        tp, cp, sp = best_time(pairwise, args.repeat, sync)
        to, co, so = best_time(once, args.repeat, sync)
        print(f"{size:>5} {tp / k:>10.3f} ({cp / k:.2f} cpu) {to / k:>14.3f} ({co / k:.2f} cpu) {tp / to:>6.1f}x "
              f"{(sp - so).abs().max().item():>16.2e} {(sp.mean() - so.mean()).abs().item():>12.2e}")


if __name__ == "__main__":
    main()

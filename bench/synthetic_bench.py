"""Benchmark and report card of the synthetic dataset (munit.synthetic, v2).

    python bench/synthetic_bench.py            # everything, 32 and 64 px (~1-2 min on 2 cores)
    python bench/synthetic_bench.py --sizes 32 --skip-speed

Prints, per image size:
  * generation speed: synthetic_domains(size, "train", 2000) (both domains), images/s per domain;
  * fit speed: fit_error on 1000 outputs per target domain, fits/s; content_mask speed likewise;
  * fit_error / content_error of the oracle (paired content in random target styles) and of trivial generators
    (identity, negation, constant mean colour, one fixed real target image, uniform noise, blurred input) in
    both directions, 50 val inputs x 4 styles;
  * held-out accuracy of a logistic regression on global statistics (400 train / 200 test images per domain)
    and on inside-shape texture.
Timings are the best of ``--repeat`` runs (the CPU may be shared); the load average is printed alongside.
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from munit.synthetic import DOMAINS, VERSION, render_batch, synthetic_domains
from munit.synthetic_checks import LUMA, blur, global_features, logistic_accuracy, texture_feature
from munit.synthetic_fit import content_error, content_mask, fit_error


def best_time(fn, repeat: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of the fastest of ``repeat`` runs: on a shared CPU the wall time
    swings with other processes' load, the CPU time much less."""
    runs = []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        runs.append((time.perf_counter() - t, time.process_time() - c))
    return min(runs)


def speed(size: int, repeat: int) -> None:
    t, c = best_time(lambda: synthetic_domains(size, "train", 2000), repeat)
    print(f"  generation: 2000 images per domain (A and B) in {t:.2f} s ({c:.2f} CPU-s) = {2000 / t:,.0f} "
          f"images/s per domain")
    a, b = synthetic_domains(size, "train", 1000)
    for ds in (a, b):
        fit_error(ds.images[:8], ds.masks[:8], ds.name)  # warm the per-size caches (pattern bank)
        tf, cf = best_time(lambda: fit_error(ds.images, ds.masks, ds.name), repeat)
        tc, cc = best_time(lambda: content_mask(ds.images, ds.name), repeat)
        print(f"  target {ds.name}: fit_error 1000 outputs in {tf:.2f} s ({cf:.2f} CPU-s) = {1000 / tf:,.0f} fits/s; "
              f"content_mask 1000 in {tc:.2f} s ({cc:.2f} CPU-s) = {1000 / tc:,.0f} images/s")


def baselines(size: int, n: int = 50, styles: int = 4) -> None:
    a, b = synthetic_domains(size, "val", n + 1)
    print(f"  {'direction':9s} {'output':22s} {'fit mean':>9s} {'fit min':>8s} {'fit max':>8s} {'content':>8s}")
    for src, tgt, source, target in (("A", "B", a, b), ("B", "A", b, a)):
        x, m = source.images[:n], source.masks[:n]
        noise = torch.randint(0, 256, x.shape, generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
        mean_colour = target.images.float().mean((0, 2, 3)).round().to(torch.uint8).view(1, 3, 1, 1)
        outputs = {
            f"oracle ({styles} styles)": torch.cat([render_batch(range(n), tgt, size, split="val", style=k)[0]
                                                    for k in range(1, styles + 1)]),
            "identity": x,
            "negation 255-x": 255 - x,
            "constant mean colour": mean_colour.expand(n, 3, size, size),
            "fixed real target": target.images[n:n + 1].expand(n, -1, -1, -1),
            "uniform noise": noise,
            f"blurred (sigma {size / 32:g} px)": blur(x, size / 32),
        }
        for name, y in outputs.items():
            mm = m.repeat(len(y) // n, 1, 1, 1)
            fe, ce = fit_error(y, mm, tgt), content_error(y, mm, tgt)
            print(f"  {src}->{tgt:6s} {name:22s} {fe.mean():9.4f} {fe.min():8.4f} {fe.max():8.4f} {ce.mean():8.4f}")


def features(images: torch.Tensor, masks: torch.Tensor) -> dict[str, torch.Tensor]:
    out = global_features(images)
    out["all global together"] = torch.cat(list(out.values()), 1)
    out["inside-shape texture (local)"] = texture_feature(images, masks)
    return out


def classifiers(size: int) -> None:
    a, b = synthetic_domains(size, "train", 400)
    ta, tb = synthetic_domains(size, "test", 200)
    fa, fb, ga, gb = (features(d.images, d.masks) for d in (a, b, ta, tb))
    labels = lambda k: torch.cat([torch.zeros(k), torch.ones(k)])  # noqa: E731
    for family in fa:
        acc = logistic_accuracy(torch.cat([fa[family], fb[family]]), labels(400),
                                torch.cat([ga[family], gb[family]]), labels(200))
        print(f"  {family:30s} held-out accuracy {acc:.3f}")
    for ds in (a, b):
        y = (ds.images.float() * LUMA).sum(1)
        m = ds.masks[:, 0]
        darker = ((y * m).sum((1, 2)) / m.sum((1, 2)) < (y * ~m).sum((1, 2)) / (~m).sum((1, 2))).float().mean()
        print(f"  domain {ds.name}: {darker:.0%} dark-on-light, {1 - darker:.0%} light-on-dark")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--skip-speed", action="store_true")
    args = p.parse_args()
    print(f"munit.synthetic VERSION {VERSION}; domains {DOMAINS}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    for size in args.sizes:
        print(f"\n=== {size} px")
        if not args.skip_speed:
            speed(size, args.repeat)
        baselines(size)
        classifiers(size)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

"""Diagnose a checkpoint that does not translate (issue ladder, docs/metrics.md "What a CPU budget reaches"):

  2. do the autoencoders reconstruct?   recon L1 of x -> encode -> decode (own style) per domain, beside the L1
                                          of the input blurred (sigma 1 px at 32 px), a no-learning "reconstruction";
  3. are the content codes of A and B aligned?   val image i of A and of B share their content: retrieval accuracy
                                          of B's code for i among all A codes (chance 1/N), and the paired vs
                                          unpaired distance ratio;
  +  style codes: the encoded styles' mean and std per dimension against the N(0, I) prior that translation
     samples from (a mismatch makes random-style translations off-distribution);
  +  translation with encoded (not random) target styles: fit per direction, beside the random-style fit.

    python bench/ladder.py runs/demo/checkpoints/last.pt [--n 64]

Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json

import torch


def main(argv: list[str] | None = None) -> int:
    from munit.data import to_model_range
    from munit.inference import load_generators
    from munit.programs import gaussian_blur
    from munit.synthetic import synthetic_domains
    from munit.synthetic_fit import fit_error

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--n", type=int, default=64, help="val images per domain")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    gen_a, gen_b, mcfg, meta = load_generators(args.checkpoint, "cpu")
    seed = int(meta["config"]["data"].get("seed", 0))
    va, vb = synthetic_domains(mcfg.image_size, "val", args.n, seed)
    xa, xb = to_model_range(va.images), to_model_range(vb.images)
    out: dict = {"checkpoint": args.checkpoint, "step": int(meta["step"]), "n": args.n}
    with torch.no_grad():
        ca, sa = gen_a.encode(xa)
        cb, sb = gen_b.encode(xb)
        sigma = mcfg.image_size / 32
        for name, g, x, c, s in (("A", gen_a, xa, ca, sa), ("B", gen_b, xb, cb, sb)):
            rec = g.decode(c, s)
            out[f"recon_l1_{name}"] = round(float((rec - x).abs().mean() / 2), 4)          # [0, 1] units
            out[f"blur_l1_{name}"] = round(float((gaussian_blur(x, sigma) - x).abs().mean() / 2), 4)
            out[f"style_{name}"] = {"mean_abs_mean": round(float(s.mean(0).abs().mean()), 3),
                                    "mean_std": round(float(s.std(0).mean()), 3), "prior_std": 1.0}
        fa, fb = ca.flatten(1), cb.flatten(1)
        d = torch.cdist(fb, fa)
        out["content_retrieval_acc"] = round(float((d.argmin(1) == torch.arange(args.n)).float().mean()), 3)
        out["content_retrieval_chance"] = round(1 / args.n, 3)
        paired = d.diagonal().mean()
        unpaired = (d.sum() - d.diagonal().sum()) / (args.n * (args.n - 1))
        out["content_paired_over_unpaired_distance"] = round(float(paired / unpaired), 3)
        perm = torch.roll(torch.arange(args.n), 1)   # a target style encoded from another target image
        for dname, c, dec, s_target, masks, target in (("a2b", ca, gen_b, sb[perm], va.masks, "B"),
                                                       ("b2a", cb, gen_a, sa[perm], vb.masks, "A")):
            enc = dec.decode(c, s_target)
            rnd = dec.decode(c, torch.randn_like(s_target))
            out[f"fit_{dname}_encoded_style"] = round(float(fit_error(enc, masks, target).mean()), 4)
            out[f"fit_{dname}_random_style"] = round(float(fit_error(rnd, masks, target).mean()), 4)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

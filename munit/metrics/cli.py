"""``python -m munit evaluate``: score a checkpoint, print one JSON line (the metrics, their metadata and the
checkpoint's path and step). Errors raise MetricError/DataError/CheckpointError, which ``munit.cli.main`` turns
into one ``error: ...`` line and exit status 2."""
from __future__ import annotations

import argparse
import json

EXAMPLES = """examples:
  python -m munit evaluate --checkpoint runs/demo/checkpoints/last.pt --metrics acc,fcd,content
  python -m munit evaluate --checkpoint runs/afhq/checkpoints/last.pt --metrics fid,lpips,acc   # full protocol
  python -m munit evaluate --checkpoint C --metrics fid --n-val 100 --n-real 1000 --inception-weights W.pth
offline: put weights-inception-2015-12-05-6726825d.pth and alexnet-owt-7be5be79.pth in $TORCH_HOME/hub/checkpoints
(see docs/metrics.md) or pass --inception-weights / --alexnet-weights; MUNIT_ALLOW_DOWNLOAD=0 forbids downloads.
"""


def add_evaluate_parser(subparsers) -> None:
    from ..cli import add_data_args
    from .registry import METRICS

    p = subparsers.add_parser("evaluate", help="score a checkpoint (FID, LPIPS, translation accuracy, ...)",
                              description="Score a checkpoint with StarGAN v2's protocol; prints one JSON line.",
                              epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    add_data_args(p, default=None)
    p.add_argument("--metrics", default="fid,lpips,acc", help=f"comma-separated, from: {', '.join(METRICS)}")
    g = p.add_argument_group("protocol (defaults: StarGAN v2's full protocol)")
    g.add_argument("--n-val", type=int, default=None, help="source val images per direction (default: all)")
    g.add_argument("--n-styles", type=int, default=10, help="random styles per source image")
    g.add_argument("--n-real", type=int, default=None, help="real target train images for FID/FCD (default: all)")
    g.add_argument("--batch-size", type=int, default=50, help="generated images per batch")
    g.add_argument("--seed", type=int, default=0, help="seed of the style codes")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--cache-dir", default=None, help="real statistics and classifier cache "
                                                     "(default: $MUNIT_CACHE or ~/.cache/munit-ablate)")
    p.add_argument("--inception-weights", default=None, metavar="PATH",
                   help="weights-inception-2015-12-05-6726825d.pth (default: the torch hub cache)")
    p.add_argument("--alexnet-weights", default=None, metavar="PATH",
                   help="alexnet-owt-7be5be79.pth (default: the torch hub cache)")
    p.add_argument("--classifier-epochs", type=int, default=None, help="domain classifier epochs (acc, fcd)")


def cmd_evaluate(args) -> int:
    from .classifier import ClassifierConfig
    from .evaluate import check_available, evaluate_checkpoint
    from .protocol import Protocol

    protocol = Protocol(n_val=args.n_val, n_styles=args.n_styles, n_real=args.n_real, batch_size=args.batch_size,
                        seed=args.seed)
    check_available(args.metrics, args.inception_weights, args.alexnet_weights, data_source=args.data)
    overrides = {k: v for k, v in (("source", args.data), ("domains", tuple(args.domains) if args.domains else None),
                                   ("max_images", args.max_images)) if v is not None}
    clf = ClassifierConfig(epochs=args.classifier_epochs) if args.classifier_epochs else None
    result = evaluate_checkpoint(args.checkpoint, metrics=args.metrics, protocol=protocol, device=args.device,
                                 cache_dir=args.cache_dir, inception_weights=args.inception_weights,
                                 alexnet_weights=args.alexnet_weights, classifier=clf, data_overrides=overrides)
    print(json.dumps(result))
    return 0


__all__ = ["add_evaluate_parser", "cmd_evaluate"]

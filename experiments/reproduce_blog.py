"""Reproduce the seed blog's experiment: exactly its three configurations (experiments/presets.py), same seed and
the same fixed style codes for all three, at a chosen scale of its protocol (30 epochs, StepLR every 10 or 3
epochs).

    python experiments/reproduce_blog.py --data /data/afhq --scale 0.1     # AFHQ dog<->cat, 3 epochs each
    python experiments/reproduce_blog.py                                   # synthetic data, CPU-sized

It is a sweep (experiments/sweep.py) of three enqueued trials with pruning off, in its own study (default
``munit-blog``); every sweep option applies. Compare the trials with the analysis package afterwards.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import sweep  # noqa: E402

DEFAULT_STUDY = "munit-blog"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__.strip() + "\n\nOptions are those of experiments/sweep.py (--trials and --pruner are fixed "
              "here):\n")
        sweep.build_parser().print_help()
        return 0
    for fixed in ("--trials", "--pruner", "--blog"):
        if any(a == fixed or a.startswith(fixed + "=") for a in argv):
            print(f"error: {fixed} is fixed by reproduce_blog.py (the blog's three trials, unpruned)",
                  file=sys.stderr)
            return 2
    if not any(a == "--study-name" or a.startswith("--study-name=") for a in argv):
        argv = ["--study-name", DEFAULT_STUDY, *argv]
    return sweep.main([*argv, "--blog", "--trials", "3", "--pruner", "none"])


if __name__ == "__main__":
    sys.exit(main())

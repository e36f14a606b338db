"""Command line: ``python -m munit {train,translate,sample,evaluate} ...``.

Wrong arguments and bad inputs end with one ``error: ...`` line and exit status 2, never a traceback. Heavy
libraries (torch) are imported after the arguments are parsed, so ``--help`` and argument errors return at once.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from .config import (COMPILE_MODES, CPU_DEFAULTS, PAPER_DEFAULTS, PRESET_RULE, PRESETS, SYNTHETIC, ConfigError,
                     LossWeights, TrainConfig, default_lr_step, default_preset, default_run, model_preset)

EXAMPLES = """examples:
  python -m munit train --data synthetic --iters 2000 --out runs/demo
  python -m munit train --data /data/afhq --domains dog cat --preset paper --iters 1000000 --out runs/afhq
  python -m munit train --out runs/demo --iters 4000 --resume
  python -m munit translate --checkpoint runs/demo/checkpoints/last.pt --input img.png --styles 8 --out out/
  python -m munit sample --checkpoint runs/demo/checkpoints/last.pt --out grids/
  python -m munit evaluate --checkpoint runs/demo/checkpoints/last.pt --metrics acc,fcd,content
  python -m munit data export --n 8 --out examples/          # example inputs: examples/A/*.png, examples/B/*.png
"""
EVALUATE_EXAMPLES = """examples:
  python -m munit evaluate --checkpoint runs/demo/checkpoints/last.pt --metrics acc,fcd,content
  python -m munit evaluate --checkpoint runs/afhq/checkpoints/last.pt --metrics fid,lpips,acc   # full protocol
  python -m munit evaluate --checkpoint C --metrics fid --n-val 100 --n-real 1000 --inception-weights W.pth
  python -m munit data export --n 64 --out inputs/ && <your translator> && \
      python -m munit evaluate --translations outputs/ --baselines     # outputs/a2b/val_0000_s0.png, ...
offline: put weights-inception-2015-12-05-6726825d.pth and alexnet-owt-7be5be79.pth in $TORCH_HOME/hub/checkpoints
(see docs/metrics.md) or pass --inception-weights / --alexnet-weights; MUNIT_ALLOW_DOWNLOAD=0 forbids downloads.
"""


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions every command line of the project prints as one ``error: ...`` line (exit status 2): bad
    configs, data, checkpoints, metrics and paths, a full disk -- things the user can fix."""
    from .checkpoint import CheckpointError, DiskFullError
    from .data import DataError
    from .metrics.protocol import MetricError
    from .trainer import NonFiniteLossError
    return (ConfigError, DataError, CheckpointError, NonFiniteLossError, MetricError, DiskFullError,
            FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)


def one_line(e: BaseException) -> str:
    """An error's message as one line (a library's text may run to several)."""
    return " ".join(str(e).split("\n")).strip() or type(e).__name__


def add_data_args(p: argparse.ArgumentParser, default: str | None = SYNTHETIC) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", default=default, metavar="synthetic|PATH",
                   help=f"'{SYNTHETIC}' (embedded two-domain set, no download), an AFHQ root "
                        "(ROOT/{train,val}/{dog,cat}/*), or a folder holding two domain folders")
    g.add_argument("--domains", nargs=2, default=None, metavar=("A", "B"),
                   help="the two domain folder names (AFHQ default: dog cat) or two folder paths")
    g.add_argument("--max-images", type=int, default=None, help="use at most this many images per domain")


def data_options(args: argparse.Namespace) -> dict[str, Any]:
    """The DataConfig fields given on the command line (see :func:`add_data_args`)."""
    return {k: v for k, v in (("source", args.data), ("domains", tuple(args.domains) if args.domains else None),
                              ("max_images", args.max_images)) if v is not None}


def data_config(args: argparse.Namespace, saved: dict[str, Any] | None = None):
    """The DataConfig of a command: the saved one (a checkpoint's) with the options given applied, or the
    options alone."""
    import dataclasses

    from .data import DataConfig
    base = DataConfig.from_saved(saved) if saved is not None else DataConfig()
    return dataclasses.replace(base, **data_options(args))


def build_parser() -> argparse.ArgumentParser:
    from .metrics.protocol import DEFAULT_METRICS
    from .metrics.weights import add_weight_options

    ap = argparse.ArgumentParser(prog="python -m munit", description="MUNIT: train, translate, sample, evaluate.",
                                 epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="{train,translate,sample,evaluate,data}")

    t = sub.add_parser("train", help="train a MUNIT model", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(t, default=None)
    t.add_argument("--out", required=True, help="run folder: config.json, log.jsonl, samples/, checkpoints/")
    t.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoints/last.pt if it exists; options left out keep the checkpoint's "
                        "values, and a different optimiser, schedule or data is refused")
    t.add_argument("--preset", choices=list(PRESETS), default=None,
                   help=f"model size; default: {PRESET_RULE}")
    t.add_argument("--image-size", type=int, default=None, help="override the preset's image size")
    t.add_argument("--iters", type=int, default=None, help="training iterations (default: 1,000,000 for paper, "
                                                           "2,000 otherwise)")
    t.add_argument("--batch-size", type=int, default=None,
                   help=f"default {PAPER_DEFAULTS.batch_size} (paper), {CPU_DEFAULTS.batch_size} otherwise")
    t.add_argument("--lr", type=float, default=None,
                   help=f"Adam learning rate; default {PAPER_DEFAULTS.lr:g} (paper), {CPU_DEFAULTS.lr:g} otherwise")
    t.add_argument("--lr-step", type=int, default=None, help="StepLR step size in iterations (gamma 0.5); "
                                                             "default 100,000 (paper) or iters/6")
    cpu_w = dict(CPU_DEFAULTS.weights)
    for f in fields(LossWeights):  # one option per loss weight, named and defaulted by LossWeights itself
        on_cpu = f"; {cpu_w[f.name]:g} with any other preset (docs/metrics.md)" if f.name in cpu_w else ""
        t.add_argument(f"--lambda-{f.name}", type=float, default=None, dest=f"lambda_{f.name}",
                       help=f"loss weight (default {f.default:g}, the paper's, with --preset paper{on_cpu})")
    t.add_argument("--vgg-weights", default=None, help="path to vgg16-397923af.pth (only for --lambda-vgg > 0)")
    t.add_argument("--seed", type=int, default=None, help="default 0")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    t.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    t.add_argument("--channels-last", action="store_true")
    t.add_argument("--cudnn-benchmark", action="store_true", help="cuDNN times its algorithms once per shape (CUDA)")
    t.add_argument("--compile", action="store_true", help="torch.compile each network")
    t.add_argument("--compile-mode", choices=list(COMPILE_MODES), default="default")
    t.add_argument("--cuda-graph", action="store_true", help="the whole step as one CUDA graph (CUDA; fp32/bf16); "
                                                             "speed settings: docs/speed.md")
    t.add_argument("--log-every", type=int, default=10)
    t.add_argument("--sample-every", type=int, default=None, help="default: iters/10")
    t.add_argument("--checkpoint-every", type=int, default=None, help="default: iters/10")
    t.add_argument("--eval-every", type=int, default=0, help="evaluate --metrics every N iterations (0: at the "
                                                             "end only, if --metrics is given)")
    t.add_argument("--metrics", default="", help="comma-separated metrics to evaluate, e.g. acc,fcd,content")
    t.add_argument("--eval-n-val", type=int, default=None, help="val images per direction for --metrics (default: all)")
    t.add_argument("--eval-n-real", type=int, default=None, help="real train images for FID/FCD stats (default: all)")
    add_weight_options(t)
    t.add_argument("--metrics-cache", default=None, help="cache dir for real statistics and the domain classifier")
    t.add_argument("--num-workers", type=int, default=-1)
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    tr = sub.add_parser("translate", help="translate images with a trained checkpoint")
    tr.add_argument("--checkpoint", required=True)
    tr.add_argument("--input", required=True, help="an image file or a folder of images")
    tr.add_argument("--out", required=True, help="output folder")
    tr.add_argument("--direction", choices=["a2b", "b2a"], default="a2b")
    tr.add_argument("--styles", type=int, default=4, help="random style codes per input")
    tr.add_argument("--reference", default=None, help="use this target-domain image's style instead of random ones")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--device", default="auto")
    tr.add_argument("--overwrite", action="store_true",
                    help="replace outputs of an earlier run in OUT (default: refuse to write over them)")

    sa = sub.add_parser("sample", help="write sample grids (fixed style codes of the run) for a checkpoint")
    sa.add_argument("--checkpoint", required=True)
    sa.add_argument("--out", required=True, help="output folder")
    add_data_args(sa, default=None)
    sa.add_argument("--inputs", type=int, default=8, help="inputs per direction")
    sa.add_argument("--device", default="auto")

    da = sub.add_parser("data", help="the embedded synthetic data set: export its images",
                        description="Write images of the embedded two-domain set as PNG files, e.g. as inputs for "
                                    "'translate'.")
    dsub = da.add_subparsers(dest="data_cmd", required=True, metavar="{export}")
    ex = dsub.add_parser("export", help="write N images per domain as PNG (OUT/A/*.png, OUT/B/*.png)")
    ex.add_argument("--out", required=True, help="output folder")
    ex.add_argument("--n", type=int, default=8, help="images per domain (default 8)")
    ex.add_argument("--split", choices=["train", "val", "test"], default="val")
    ex.add_argument("--image-size", type=int, default=None,
                    help=f"pixels (default: the {default_preset(False, SYNTHETIC)} preset's, what 'munit train' uses "
                         "on this data)")
    ex.add_argument("--seed", type=int, default=0)

    ev = sub.add_parser("evaluate", help="score a checkpoint (FID, LPIPS, translation accuracy, ...)",
                        description="Score a checkpoint with StarGAN v2's protocol; prints one JSON line.",
                        epilog=EVALUATE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ev.add_argument("--checkpoint", default=None, help="the training checkpoint to score (required unless "
                                                       "--baselines)")
    ev.add_argument("--baselines", action="store_true",
                    help="also score the reference generators (oracle on synthetic data, identity, negation, "
                         "constant colour, one fixed image, random init, style noise): one JSON line each, then "
                         "the checkpoint's if given")
    ev.add_argument("--translations", default=None, metavar="DIR",
                    help="score a folder of translations made by any program instead of a checkpoint: "
                         "DIR/a2b/val_0000_s0.png is style 0 of the translation of 'munit data export''s A/val_0000.png "
                         "into B, DIR/b2a/... the other way (N inputs x K styles each; docs/metrics.md)")
    ev.add_argument("--data-seed", type=int, default=0,
                    help="--translations: the synthetic set's seed the inputs were exported with (export's --seed)")
    add_data_args(ev, default=None)
    ev.add_argument("--metrics", default=None,
                    help="comma-separated metric names (fid, fcd, lpips, acc, content, fit, ...; see "
                         f"docs/metrics.md). Default: {','.join(DEFAULT_METRICS)}; with --baselines every metric "
                         "that applies")
    ev.add_argument("--preset", default=None, help=f"--baselines without --checkpoint: the model preset whose "
                                                   f"image size and random init to use (default: what 'munit "
                                                   f"train' uses: {PRESET_RULE})")
    g = ev.add_argument_group("protocol (defaults: StarGAN v2's full protocol)")
    g.add_argument("--n-val", type=int, default=None, help="source val images per direction (default: all)")
    g.add_argument("--n-styles", type=int, default=10, help="random styles per source image")
    g.add_argument("--n-real", type=int, default=None, help="real target train images for FID/FCD (default: all)")
    g.add_argument("--batch-size", type=int, default=50, help="generated images per batch")
    g.add_argument("--seed", type=int, default=0, help="seed of the style codes")
    ev.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    ev.add_argument("--cache-dir", default=None, help="real statistics and classifier cache "
                                                      "(default: $MUNIT_CACHE or ~/.cache/munit-ablate)")
    add_weight_options(ev)
    ev.add_argument("--classifier-epochs", type=int, default=None, help="domain classifier epochs (acc, fcd); default 5 and at least 300 optimiser steps, "
                         "given: exactly this many")
    return ap


def _resumed_config(args) -> dict[str, Any] | None:
    """The saved configs of the checkpoint ``--resume`` continues (None: no resume or no checkpoint yet)."""
    from .checkpoint import RunFolder, load_checkpoint

    folder = RunFolder(args.out)
    if not (args.resume and folder.has_checkpoint()):
        return None
    return load_checkpoint(folder.checkpoint)["config"]


def _cuda(device: str) -> bool:
    """Whether ``--device`` means a CUDA device here (``auto``: one is available)."""
    import torch
    return (device == "auto" and torch.cuda.is_available()) or device.startswith("cuda")


def _refuse_a_used_run_folder(args) -> None:
    """A fresh run never writes into another run's folder: it would replace that run's checkpoint and interleave
    the two runs' log lines (a second process on the same --out did exactly that)."""
    from .checkpoint import RunFolder

    folder = RunFolder(args.out)
    if not args.resume and (folder.has_checkpoint() or folder.log.is_file()):
        what = "checkpoints/last.pt" if folder.has_checkpoint() else "log.jsonl"
        raise ConfigError(f"--out {args.out} already holds a run ({what}): pass --resume to continue it, or choose "
                          "another --out")


def cmd_train(args) -> int:
    from .config import ModelConfig, from_dict
    from .metrics.weights import weights_from_args
    from .trainer import Trainer

    _refuse_a_used_run_folder(args)
    saved = _resumed_config(args)   # on --resume, options left out keep the checkpoint's values
    data = data_config(args, saved=dict(saved["data"]) if saved else None)
    defaults = default_run(_cuda(args.device), data.source)
    if saved and not (args.preset or args.image_size):
        mcfg = from_dict(ModelConfig, dict(saved["model"]))
        preset = "saved"
    else:
        preset = args.preset or defaults.preset
        overrides = {"image_size": args.image_size} if args.image_size else {}
        mcfg = model_preset(preset, **overrides)
    if preset == PAPER_DEFAULTS.preset:
        defaults = PAPER_DEFAULTS
    old = dict(saved["train"]) if saved else {}
    iters = args.iters if args.iters is not None else old.get("iters", 1_000_000 if preset == "paper" else 2_000)
    every = lambda v, k: v if v is not None else old.get(k, max(1, iters // 10))  # noqa: E731
    given = lambda v, k, default: v if v is not None else old.get(k, default)  # noqa: E731
    tcfg = TrainConfig(iters=iters, batch_size=given(args.batch_size, "batch_size", defaults.batch_size),
                       lr=given(args.lr, "lr", defaults.lr),
                       lr_step=given(args.lr_step, "lr_step", default_lr_step(preset, iters)),
                       seed=given(args.seed, "seed", 0), device=args.device, precision=args.precision,
                       channels_last=args.channels_last, cudnn_benchmark=args.cudnn_benchmark,
                       compile=args.compile, compile_mode=args.compile_mode, cuda_graph=args.cuda_graph,
                       log_every=args.log_every,
                       sample_every=every(args.sample_every, "sample_every"),
                       checkpoint_every=every(args.checkpoint_every, "checkpoint_every"),
                       eval_every=args.eval_every, num_workers=args.num_workers, progress=not args.quiet)
    old_w = dict(saved["weights"]) if saved else {}
    base = defaults.loss_weights(**old_w)     # a resumed run keeps its own weights
    weights = LossWeights(**{f.name: v if (v := getattr(args, f"lambda_{f.name}")) is not None
                             else getattr(base, f.name) for f in fields(LossWeights)})
    evaluator = None
    if args.metrics:
        from .metrics.protocol import Protocol
        from .metrics.session import Evaluator, check_available
        names = [m for m in args.metrics.split(",") if m]
        backbones = weights_from_args(args)
        # missing, unverified or unloadable Inception/AlexNet weights fail here, before any training
        check_available(names, backbones, data_source=data.source, allow_unverified=args.allow_unverified_weights)
        evaluator = Evaluator(names, Protocol(n_val=args.eval_n_val, n_real=args.eval_n_real),
                              cache_dir=args.metrics_cache, weights=backbones,
                              allow_unverified=args.allow_unverified_weights)
        if not tcfg.eval_every:
            tcfg.eval_every = iters  # once, at the end
    trainer = Trainer(mcfg, tcfg, weights, data, args.out, evaluator=evaluator, resume=args.resume,
                      vgg_weights=args.vgg_weights)
    if args.resume and trainer.step:
        print(f"resuming {args.out} at iteration {trainer.step}", file=sys.stderr)
    result = trainer.fit()
    if result.interrupted:
        from .stopping import signal_name
        print(f"{signal_name(result.interrupted)} came during the last iteration: the run is complete",
              file=sys.stderr)
    print(json.dumps({"out": str(args.out), "step": result.step, "stopped": result.stopped.value,
                      "checkpoint": str(result.checkpoint), "wall_s": round(result.wall_s, 2),
                      "it_per_s": round(result.it_per_s, 3), **result.last_losses, **result.last_metrics}))
    return 0


def _image_files(path: Path) -> list[Path]:
    from .data import list_images
    if path.is_file():
        return [path]
    if path.is_dir():
        files = list_images(path)
        if not files:
            raise FileNotFoundError(f"no images in {path}")
        return files
    raise FileNotFoundError(f"input not found: {path}")


def output_names(files: list[Path]) -> dict[Path, str]:
    """A distinct output name for each input: its stem, or where stems collide (``cat.png``, ``cat.jpg``) the stem
    and extension (``cat-png``), with ``-2``, ``-3`` ... if that is taken too. Compared case-insensitively, as some
    file systems do."""
    stems: dict[str, int] = {}
    for f in files:
        stems[f.stem.lower()] = stems.get(f.stem.lower(), 0) + 1
    taken: set[str] = set()
    names = {}
    for f in files:
        base = f.stem if stems[f.stem.lower()] == 1 else f"{f.stem}-{f.suffix.lstrip('.')}"
        name, i = base, 1
        while name.lower() in taken:
            i += 1
            name = f"{base}-{i}"
        taken.add(name.lower())
        names[f] = name
    return names


def _load_image(path: Path, size: int):
    from .data import DataError, load_image, to_model_range, why_unreadable
    try:
        return to_model_range(load_image(path, size).unsqueeze(0))
    except Exception as e:  # PIL raises many types for bad files (OSError, SyntaxError, ValueError, bombs, ...)
        raise DataError(f"cannot read image {path}: {why_unreadable(e)}") from None


MAX_STYLES = 4096          # translate --styles: one batch of style codes (and files) per input
MAX_EXPORT_SIZE = 2048     # data export --image-size
MAX_EXPORT_BYTES = 2**31   # data export: the raw pixels it renders in memory, both domains


def check_out_dir(path: Path, option: str) -> None:
    """Refuse an output folder that cannot be one (an existing file, or a path through one), before any work."""
    for p in (path, *path.parents):
        if p.exists() or p.is_symlink():
            if not p.is_dir():
                raise ConfigError(f"{option} {path}: {p} is a file, not a folder")
            break


def make_dir(path: Path, option: str) -> None:
    """``mkdir -p`` that ends in one ``error:`` line (a file in the way, a read-only file system, no permission)."""
    check_out_dir(path, option)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{option} {path}: cannot create the folder ({e.strerror or e})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: the folder is not writable")


def _generators(args):
    """What translate, sample and evaluate start with: the device and the checkpoint's generators."""
    from .inference import load_generators
    from .trainer import resolve_device

    device = resolve_device(args.device)
    gen_a, gen_b, mcfg, meta = load_generators(args.checkpoint, device)
    return device, gen_a, gen_b, mcfg, meta


def cmd_translate(args) -> int:
    import torch

    from .sampling import save_grid

    if not 1 <= args.styles <= MAX_STYLES:
        raise ConfigError(f"--styles must be in 1..{MAX_STYLES}, got {args.styles}")
    if args.reference is not None and not args.reference.strip():
        raise ConfigError("--reference is empty; give a target-domain image, or leave it out for random styles")
    files = _image_files(Path(args.input))
    out = Path(args.out)
    check_out_dir(out, "--out")
    with torch.no_grad():
        device, gen_a, gen_b, mcfg, _ = _generators(args)
        src, dst = (gen_a, gen_b) if args.direction == "a2b" else (gen_b, gen_a)
        make_dir(out, "--out")
        if args.reference:
            ref = _load_image(Path(args.reference), mcfg.image_size).to(device)
            styles = dst.encode(ref)[1]
        else:
            styles = torch.randn(args.styles, mcfg.style_dim,
                                 generator=torch.Generator().manual_seed(args.seed)).to(device)
        labels = ["input", *(["reference style"] if args.reference else
                             [f"style {j + 1}" for j in range(styles.shape[0])])]
        names = output_names(files)
        planned = [p for f in files for p in (*(out / f"{names[f]}_{args.direction}_{j}.png"
                                                for j in range(styles.shape[0])),
                                              out / "grids" / f"{names[f]}_{args.direction}.png")]
        existing = [p for p in planned if p.exists() or p.is_symlink()]
        if existing and not args.overwrite:
            raise ConfigError(f"{len(existing)} output file(s) exist already in {out} (e.g. {existing[0]}); pass "
                              "--overwrite to replace them, or choose another --out")
        translations, grids = [], []
        for f in files:
            x = _load_image(f, mcfg.image_size).to(device)
            y = dst.decode(src.content_encoder(x).expand(styles.shape[0], -1, -1, -1), styles)
            for j in range(y.shape[0]):
                translations.append(save_grid(y[j:j + 1], 1, out / f"{names[f]}_{args.direction}_{j}.png",
                                              min_width=0))   # the translation itself, at the model's size
            grids.append(save_grid(torch.cat([x, y]), y.shape[0] + 1,
                                   out / "grids" / f"{names[f]}_{args.direction}.png", labels))
    # every file written is counted once: the translations in OUT, one labelled input + translations row per input
    # in OUT/grids (names are unique within a run, so no file is written twice)
    written = len(set(translations) | set(grids))
    print(json.dumps({"inputs": len(files), "styles": int(styles.shape[0]), "translations": len(translations),
                      "grids": len(grids), "written": written, "out": str(out)}))
    return 0


def cmd_sample(args) -> int:
    import torch

    from .data import load_domains, to_model_range
    from .sampling import save_grid, translation_grid, translation_labels

    with torch.no_grad():
        device, gen_a, gen_b, mcfg, meta = _generators(args)
        dcfg = data_config(args, saved=dict(meta["config"]["data"]))
        val_a, val_b = load_domains(dcfg, "val", mcfg.image_size)
        styles = meta["fixed_styles"].to(device)
        out = Path(args.out)
        paths = {}
        for name, src, dst, ds in (("a2b", gen_a, gen_b, val_a), ("b2a", gen_b, gen_a, val_b)):
            x = to_model_range(torch.stack([ds[i] for i in range(min(args.inputs, len(ds)))]).to(device))
            rnd = torch.randn(x.shape[0], mcfg.style_dim,
                              generator=torch.Generator().manual_seed(meta["step"])).to(device)
            grid = translation_grid(src, dst, x, styles, rnd)
            labels = translation_labels(styles.shape[0])
            paths[name] = str(save_grid(grid, len(labels), out / f"{name}_{meta['step']:08d}.png", labels))
    print(json.dumps({"step": meta["step"], **paths}))
    return 0


def cmd_evaluate(args) -> int:
    """Score a checkpoint; one JSON line: the metrics, their metadata, the checkpoint's path and step. With
    --baselines, one line per reference generator first (each with "generator": its name)."""
    from .metrics.classifier import ClassifierConfig
    from .metrics.protocol import DEFAULT_METRICS, Protocol
    from .metrics.session import check_available, evaluate_checkpoint
    from .metrics.weights import weights_from_args

    if not (args.checkpoint or args.baselines or args.translations):
        raise ConfigError("give --checkpoint C, --translations DIR, --baselines, or --baselines with one of them")
    backbones = weights_from_args(args)
    clf = ClassifierConfig(epochs=args.classifier_epochs, min_steps=0) if args.classifier_epochs else None
    if args.translations:
        return _evaluate_translations(args, backbones, clf)
    protocol = Protocol(n_val=args.n_val, n_styles=args.n_styles, n_real=args.n_real, batch_size=args.batch_size,
                        seed=args.seed)
    if args.baselines:
        return _evaluate_baselines(args, protocol, backbones, clf)
    metrics = args.metrics or ",".join(DEFAULT_METRICS)
    check_available(metrics, backbones, data_source=args.data, allow_unverified=args.allow_unverified_weights)
    result = evaluate_checkpoint(args.checkpoint, metrics=metrics, protocol=protocol, device=args.device,
                                 cache_dir=args.cache_dir, weights=backbones, classifier=clf,
                                 data_overrides=data_options(args), allow_unverified=args.allow_unverified_weights)
    print(json.dumps(result))
    return 0


def _evaluate_baselines(args, protocol, backbones, clf) -> int:
    """``evaluate --baselines``: the reference generators, then the checkpoint (if any), on the same data with the
    same metrics, protocol and style codes; one JSON line each."""
    from .baselines import evaluate_baselines
    from .data import load_domains
    from .metrics.protocol import EvalData
    from .inference import load_generators
    from .metrics.session import applicable_metrics, check_available
    from .trainer import resolve_device

    device = resolve_device(args.device)
    extra, saved = [], None
    if args.checkpoint:
        if args.preset:
            raise ConfigError("--preset is for --baselines without --checkpoint (the checkpoint has its model)")
        gen_a, gen_b, mcfg, meta = load_generators(args.checkpoint, device)
        extra, saved = [("checkpoint", gen_a, gen_b)], dict(meta["config"]["data"])
    dcfg = data_config(args, saved=saved)
    if not args.checkpoint:
        mcfg = model_preset(args.preset or default_preset(device.type == "cuda", dcfg.source))
    if args.metrics:
        metrics, skipped = args.metrics, {}
        check_available(metrics, backbones, data_source=dcfg.source, allow_unverified=args.allow_unverified_weights)
    else:
        names, skipped = applicable_metrics(dcfg.source, backbones, args.allow_unverified_weights)
        metrics = ",".join(names)
        for name, why in skipped.items():
            print(f"evaluate --baselines: skipping {name}: {why}", file=sys.stderr)
    data = EvalData(*load_domains(dcfg, "train", mcfg.image_size), *load_domains(dcfg, "val", mcfg.image_size))
    for result in evaluate_baselines(data, mcfg, metrics, protocol, device, cache_dir=args.cache_dir,
                                     weights=backbones, classifier=clf,
                                     allow_unverified=args.allow_unverified_weights, extra=extra, seed=args.seed):
        if result["generator"] == "checkpoint":
            result["checkpoint"] = {"path": str(args.checkpoint), "step": int(meta["step"])}
        print(json.dumps(result), flush=True)
    return 0


def _evaluate_translations(args, backbones, clf) -> int:
    """``evaluate --translations DIR``: a folder of translations of the exported synthetic val inputs, scored like
    a generator (every metric that applies by default); with --baselines the reference generators first."""
    from types import SimpleNamespace

    from .baselines import evaluate_baselines
    from .data import DataConfig, load_domains
    from .metrics.protocol import EvalData, Protocol
    from .metrics.session import applicable_metrics, check_available
    from .trainer import resolve_device
    from .translations import generators, scan

    if args.checkpoint:
        raise ConfigError("--translations scores a folder; leave out --checkpoint (score it on its own)")
    if args.data not in (None, SYNTHETIC):
        raise ConfigError("--translations is scored against the embedded set's paired ground truth; leave out --data")
    for name in ("n_val", "preset"):
        if getattr(args, name) is not None:
            raise ConfigError(f"--{name.replace('_', '-')} does not apply to --translations (the folder sets the "
                              "inputs, styles and image size)")
    folder = scan(args.translations)
    if args.data_seed < 0:
        raise ConfigError(f"--data-seed must be >= 0, got {args.data_seed}")
    device = resolve_device(args.device)
    dcfg = DataConfig(synthetic_val=folder.n_inputs, seed=args.data_seed)
    size = folder.image_size
    data = EvalData(*load_domains(dcfg, "train", size), *load_domains(dcfg, "val", size))
    if args.metrics:
        metrics = args.metrics
        check_available(metrics, backbones, data_source=SYNTHETIC, allow_unverified=args.allow_unverified_weights)
    else:
        names, skipped = applicable_metrics(SYNTHETIC, backbones, args.allow_unverified_weights)
        metrics = ",".join(n for n in names if not (folder.n_styles < 2 and n == "lpips"))
        for name, why in skipped.items():
            print(f"evaluate --translations: skipping {name}: {why}", file=sys.stderr)
    protocol = Protocol(n_val=None, n_styles=folder.n_styles, n_real=args.n_real, batch_size=args.batch_size,
                        seed=args.seed)
    gen_a, gen_b = generators(folder, data.val_a.images, data.val_b.images)  # type: ignore[attr-defined]
    sizes = SimpleNamespace(image_size=size, style_dim=8)   # the baselines need only a model's sizes
    names: list[str] = []
    if args.baselines:   # the folder's model is unknown: no random-init row
        from .baselines import Baselines
        every = Baselines(data.train_a, data.train_b, data.val_a, data.val_b, sizes).names(True)  # type: ignore[arg-type]
        names = [n for n in every if n != "random_init"]
    for result in evaluate_baselines(data, sizes, metrics, protocol, device,  # type: ignore[arg-type]
                                     cache_dir=args.cache_dir, weights=backbones, classifier=clf,
                                     allow_unverified=args.allow_unverified_weights, names=names,
                                     extra=[("translations", gen_a, gen_b)], seed=args.seed):
        if result["generator"] == "translations":
            result["translations"] = {"path": str(folder.root), "inputs": folder.n_inputs,
                                      "styles": folder.n_styles, "image_size": size, "data_seed": args.data_seed}
        print(json.dumps(result), flush=True)
    return 0


def cmd_data(args) -> int:
    """``data export``: the embedded set's images as PNG files, each domain in its own folder; the paired content
    of image i is the same in A and B (``i`` in the file name)."""
    from PIL import Image

    from .synthetic import synthetic_domains

    if args.n < 1:
        raise ConfigError(f"--n must be >= 1, got {args.n}")
    if args.seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {args.seed}")
    size = args.image_size if args.image_size is not None else model_preset(default_preset(False, SYNTHETIC)).image_size
    if not 8 <= size <= MAX_EXPORT_SIZE:
        raise ConfigError(f"--image-size must be in 8..{MAX_EXPORT_SIZE}, got {size}")
    need = 2 * args.n * 3 * size * size   # checked before anything is allocated
    if need > MAX_EXPORT_BYTES:
        raise ConfigError(f"--n {args.n} at {size} px needs {need / 2**30:.1f} GiB of memory (limit "
                          f"{MAX_EXPORT_BYTES / 2**30:.0f} GiB); export fewer images, or several --split/--seed sets")
    out = Path(args.out)
    make_dir(out, "--out")
    written: dict[str, int] = {}
    for ds in synthetic_domains(size, args.split, args.n, args.seed):
        folder = out / ds.name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(len(ds)):
            Image.fromarray(ds[i].permute(1, 2, 0).numpy()).save(folder / f"{args.split}_{i:04d}.png")
        written[ds.name] = len(ds)
    print(json.dumps({"out": str(out), "written": sum(written.values()), "domains": written, "image_size": size,
                      "split": args.split}))
    # the same for a person, on stderr (stdout stays one JSON line for scripts)
    first, last = f"{args.split}_0000.png", f"{args.split}_{args.n - 1:04d}.png"
    print(f"wrote {sum(written.values())} PNGs ({args.n} per domain, {size} px, {args.split} split): "
          + ", ".join(f"{out / d}/{first}..{last}" for d in written)
          + f"\ntranslate them: python -m munit translate --checkpoint CHECKPOINT --input {out / 'A'} "
            "--out out/translate", file=sys.stderr)
    return 0


COMMANDS = {"train": cmd_train, "translate": cmd_translate, "sample": cmd_sample, "evaluate": cmd_evaluate,
            "data": cmd_data}


def main(argv: list[str] | None = None) -> int:
    from .stopping import exit_status, signal_name, signum_of, terminate_like_interrupt

    args = build_parser().parse_args(argv)
    terminate_like_interrupt()   # SIGTERM: the same checkpoint-and-stop as Ctrl-C
    try:
        from .compat import check_torchvision
        check_torchvision()      # a mismatched pair: one line now, not a traceback from deep inside the command
        return COMMANDS[args.cmd](args)
    except user_errors() as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        by = signal_name(signum_of(e))
        print(f"stopped by {by}: {e}" if str(e) else f"stopped by {by}", file=sys.stderr)
        return exit_status(signum_of(e))


if __name__ == "__main__":
    sys.exit(main())

"""The MUNIT training loop, without a framework.

Each iteration makes a D update and then a G update, as the official trainer does, but computes the fakes once:
D is updated on them detached and the G step reuses the same graph (why this is the official update, and what it
saves: README.md, "Update order"). The core never knows it is tracked or tuned: it calls :class:`Callback` hooks
(log, evaluate, samples, checkpoint, should_stop), and ``experiments/`` plugs MLflow and Optuna into them.
"""
from __future__ import annotations

import contextlib
import enum
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import torch

from .checkpoint import (RunFolder, atomic_write_text, capture_rng, load_checkpoint, restore_rng, save_checkpoint,
                         writing)
from .config import ConfigError, LossWeights, ModelConfig, TrainConfig, to_dict
from .data import DataConfig, DomainStream, load_domains, to_model_range
from .graph import StepGraph
from .losses import VGGPerceptual, l1, lsgan_d_loss, lsgan_g_loss
from .model import Discriminator, Generator
from .sampling import fixed_styles, save_grid, translation_grid, translation_labels
from .stopping import Interrupted, StopRequest

# The losses one iteration computes, in the order train_step returns them (:func:`loss_vector`), logged as
# ``loss/<name>``, with what each one measures (figure labels). ``g`` is the weighted total; ``cyc`` and ``vgg`` are logged only when their
# LossWeights field of the same name is > 0.
LOSSES: dict[str, str] = {
    "d": "LSGAN loss (discriminators)", "g": "weighted total (generators)", "g_adv": "LSGAN loss (generators)",
    "x": "L1, image reconstruction", "s": "L1, style reconstruction", "c": "L1, content reconstruction",
    "cyc": "L1, style-augmented cycle", "vgg": "perceptual distance (VGG16)"}
LOSS_NAMES = tuple(LOSSES)
OPTIONAL_LOSSES = ("cyc", "vgg")


def loss_vector(losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """One iteration's losses, named as in :data:`LOSSES`, as the float device tensor the trainer accumulates (in
    LOSS_NAMES order: the one place that order is applied)."""
    if losses.keys() != LOSSES.keys():
        raise KeyError(f"losses {sorted(losses)} are not the trainer's {sorted(LOSSES)}")
    return torch.stack([losses[k] for k in LOSS_NAMES]).detach().float()


class NonFiniteLossError(RuntimeError):
    """A loss became NaN/Inf. Carries which loss, the first bad iteration and the last good checkpoint."""

    def __init__(self, loss: str, iteration: int, checkpoint: Path | None):
        self.loss, self.iteration, self.checkpoint = loss, iteration, checkpoint
        where = f"last good checkpoint: {checkpoint} (resume with --resume)" if checkpoint else \
            "no checkpoint was written before it"
        super().__init__(f"loss '{loss}' became NaN/Inf at iteration {iteration}; training stopped; {where}")


class Callback:
    """Hooks the trainer calls. Override what you need; every method is optional."""

    def on_train_start(self, trainer: "Trainer") -> None: ...
    def on_log(self, step: int, scalars: dict[str, float]) -> None: ...
    def on_evaluate(self, step: int, metrics: dict[str, float], meta: Mapping[str, Any]) -> None:
        """``meta``: what computed the metrics (the evaluator's provenance; empty if it gives none)."""
    def on_samples(self, step: int, paths: dict[str, Path]) -> None: ...
    def on_checkpoint(self, step: int, path: Path) -> None: ...
    def should_stop(self, step: int) -> bool | str:
        """Return True or a reason string to stop training (e.g. an Optuna pruning decision)."""
        return False
    def on_train_end(self, trainer: "Trainer", result: "TrainResult") -> None: ...


# An evaluator returns the metric values, or (values, provenance) when it can say what computed them.
Evaluation = Mapping[str, float] | tuple[Mapping[str, float], Mapping[str, Any]]
Evaluator = Callable[["Trainer"], Evaluation]


class StopReason(str, enum.Enum):
    """Why ``fit`` returned (a str enum: JSON-able as its value)."""

    COMPLETED = "completed"      # reached cfg.iters
    PAUSED = "paused"            # reached fit(until=...) before cfg.iters; fit again to continue
    STOPPED = "stopped"          # a callback's should_stop (e.g. an Optuna pruning decision); detail says why
    INTERRUPTED = "interrupted"  # Ctrl-C / SIGTERM after the checkpoint was written


@dataclass
class TrainResult:
    step: int
    stopped: StopReason
    checkpoint: Path | None
    wall_s: float
    it_per_s: float
    last_losses: dict[str, float]
    last_metrics: dict[str, float]
    stop_detail: str = ""    # for STOPPED: the callback's reason
    last_meta: dict[str, Any] = field(default_factory=dict)
    interrupted: int | None = None   # a stop signal (SIGINT, SIGTERM) that came during the last iteration or the
    #                                  final evaluation: training ended anyway; the caller should stop after it


# What a resumed run must share with its checkpoint: the optimiser and schedule (their state is the checkpoint's),
# the data and its order. Anything else (iters, intervals, device, loss weights) may change and is recorded as
# given. The model is compared separately (a different model cannot load the weights at all).
RESUME_FIXED = {"train": ("lr", "beta1", "beta2", "weight_decay", "lr_step", "lr_gamma", "batch_size", "seed"),
                "data": ("source", "domains", "synthetic_train", "synthetic_val", "seed", "val_fraction",
                         "max_images")}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda", "mps", "xpu"):
        raise ConfigError(f"device {name!r} is not supported; use auto, cpu, cuda or cuda:N")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available here; use --device cpu or auto")
    return dev


class Trainer:
    """Trains two MUNIT generators (domain A, domain B) and their discriminators.

    ``out_dir`` is a :class:`~munit.checkpoint.RunFolder`: ``config.json``, ``log.jsonl`` (one JSON line per log
    interval), ``metrics.jsonl``, ``samples/*.png`` and ``checkpoints/last.pt``. With ``resume=True`` an existing
    ``last.pt`` is loaded and training continues exactly where it stopped. The image size is the model's
    (``model_cfg.image_size``); the data config only says where images come from.
    """

    def __init__(self, model_cfg: ModelConfig, train_cfg: TrainConfig, weights: LossWeights | None = None,
                 data_cfg: DataConfig | None = None, out_dir: str | os.PathLike = "runs/munit",
                 callbacks: Iterable[Callback] = (), evaluator: Evaluator | None = None, resume: bool = False,
                 vgg_weights: str | None = None):
        self.model_cfg, self.cfg = model_cfg, train_cfg
        self.weights = weights or LossWeights()
        self.data_cfg = data_cfg or DataConfig()
        self.out_dir = Path(out_dir)
        self.run = RunFolder(self.out_dir)
        self.callbacks = list(callbacks)
        self.evaluator = evaluator
        self.device = resolve_device(train_cfg.device)
        if train_cfg.precision != "fp32" and self.device.type != "cuda":
            raise ConfigError(f"precision {train_cfg.precision} needs a CUDA device; on {self.device} use fp32")
        if train_cfg.cuda_graph and self.device.type != "cuda":
            raise ConfigError(f"cuda_graph needs a CUDA device; on {self.device} leave it off")
        if train_cfg.cudnn_benchmark and self.device.type == "cuda":
            # process-wide: every conv shape is timed once; the step's shapes never change (full batches only)
            torch.backends.cudnn.benchmark = True
        self.amp_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[train_cfg.precision]
        self.memory_format = torch.channels_last if train_cfg.channels_last else torch.contiguous_format

        torch.manual_seed(train_cfg.seed)
        # data first: bad paths fail before any model is built
        self.train_a, self.train_b = load_domains(self.data_cfg, "train", model_cfg.image_size)
        self.val_a, self.val_b = load_domains(self.data_cfg, "val", model_cfg.image_size)
        nw = train_cfg.num_workers if train_cfg.num_workers >= 0 else (min(4, os.cpu_count() or 1)
                                                                        if self.device.type == "cuda" else 0)
        self.stream_a, self.stream_b = (
            DomainStream(ds, train_cfg.batch_size, seed=train_cfg.seed * 2 + i, device=self.device, num_workers=nw,
                         preload=self._preload(ds)) for i, ds in enumerate((self.train_a, self.train_b)))

        self.gen_a, self.gen_b = Generator(model_cfg), Generator(model_cfg)
        self.dis_a, self.dis_b = Discriminator(model_cfg), Discriminator(model_cfg)
        for m in self.modules():
            m.to(self.device, memory_format=self.memory_format)
        self.gen_params = [p for g in (self.gen_a, self.gen_b) for p in g.parameters()]
        self.dis_params = [p for d in (self.dis_a, self.dis_b) for p in d.parameters()]
        fused = self.device.type == "cuda"
        adam = dict(lr=train_cfg.lr, betas=(train_cfg.beta1, train_cfg.beta2), weight_decay=train_cfg.weight_decay,
                    fused=fused, capturable=train_cfg.cuda_graph)
        self.opt_g = torch.optim.Adam(self.gen_params, **adam)
        self.opt_d = torch.optim.Adam(self.dis_params, **adam)
        self.sched_g = torch.optim.lr_scheduler.StepLR(self.opt_g, train_cfg.lr_step, train_cfg.lr_gamma)
        self.sched_d = torch.optim.lr_scheduler.StepLR(self.opt_d, train_cfg.lr_step, train_cfg.lr_gamma)
        self.scaler = torch.amp.GradScaler("cuda", enabled=train_cfg.precision == "fp16")
        self.vgg = VGGPerceptual(vgg_weights).to(self.device) if self.weights.vgg > 0 else None
        if train_cfg.compile:
            mode = None if train_cfg.compile_mode == "default" else train_cfg.compile_mode
            for m in (*self._gen_parts(), self.dis_a, self.dis_b):
                m.compile(mode=mode)

        # the trainer's own random stream (the style codes each step draws): several trainers in one process (the
        # seeds of a trial, side by side in threads) never share one, so neither their order nor thread timing
        # changes a result, and each checkpoint saves and restores its own. It starts where the global stream of
        # earlier versions stood (CPU: after the model's init; CUDA: the freshly seeded device stream).
        self.rng = torch.Generator(device=self.device)
        if self.device.type == "cuda":
            self.rng.manual_seed(train_cfg.seed)
        else:
            self.rng.set_state(torch.get_rng_state())
        self.step = 0
        self.styles = fixed_styles(train_cfg.num_fixed_styles, model_cfg.style_dim, train_cfg.seed).to(self.device)
        k = train_cfg.num_sample_inputs
        self.sample_a = torch.stack([self.val_a[i] for i in range(min(k, len(self.val_a)))])
        self.sample_b = torch.stack([self.val_b[i] for i in range(min(k, len(self.val_b)))])
        self.last_checkpoint: Path | None = None
        self.last_metrics: dict[str, float] = {}
        self.last_meta: dict[str, Any] = {}
        self._reset_accumulators()
        self.checkpoint_path = self.run.checkpoint
        self._graph: StepGraph | None = None
        if resume and self.checkpoint_path.is_file():
            self.load_state(load_checkpoint(self.checkpoint_path, map_location=self.device))
            self.last_checkpoint = self.checkpoint_path
            # the logs continue from the checkpoint: drop what came after it (and a torn last line left by a
            # crash or a full disk, which the next append would otherwise glue to a new record)
            self.run.truncate(self.step)
        if train_cfg.cuda_graph:
            self._graph = StepGraph(self)

    # ------------------------------------------------------------------ helpers
    def _preload(self, ds) -> bool | None:
        """Decode a folder domain once into device memory when on CUDA and it fits (AFHQ dog at 256 px: 0.9 GiB):
        batches are then an index_select on the GPU, and no loader process can starve it."""
        if self.cfg.preload is not None or isinstance(getattr(ds, "images", None), torch.Tensor):
            return self.cfg.preload
        size = len(ds) * 3 * self.model_cfg.image_size ** 2
        return self.device.type == "cuda" and size < 4 * 2**30

    def modules(self) -> tuple[torch.nn.Module, ...]:
        return self.gen_a, self.gen_b, self.dis_a, self.dis_b

    def _gen_parts(self):
        for g in (self.gen_a, self.gen_b):
            yield from (g.content_encoder, g.style_encoder, g.mlp, g.decoder)

    def _autocast(self, cache: bool = True):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        # no cast cache under CUDA graph capture: cached casts would outlive the graph's memory pool
        return torch.autocast(self.device.type, dtype=self.amp_dtype, cache_enabled=cache)

    @property
    def lr(self) -> float:
        """The generators' current learning rate (a host float, whatever the optimiser holds)."""
        return float(self.opt_g.param_groups[0]["lr"])

    def _reset_accumulators(self) -> None:
        self._acc = torch.zeros(len(LOSS_NAMES), device=self.device, dtype=torch.float64)
        self._acc_n = 0
        # first non-finite iteration per loss (-1 = none so far), tracked on device: no sync per step
        self._bad_at = torch.full((len(LOSS_NAMES),), -1, device=self.device, dtype=torch.long)

    # ------------------------------------------------------------------ one iteration
    def train_step(self, x_a: torch.Tensor, x_b: torch.Tensor) -> torch.Tensor:
        """One D update then one G update, then both schedulers. Returns the losses as one device tensor
        (LOSS_NAMES order). With ``cuda_graph`` the updates run as one CUDA graph (:class:`StepGraph`)."""
        losses = self._graph.step(x_a, x_b) if self._graph is not None else self._update(x_a, x_b)
        self.sched_g.step()
        self.sched_d.step()
        return losses

    def _update(self, x_a: torch.Tensor, x_b: torch.Tensor, capturing: bool = False) -> torch.Tensor:
        """The D and G updates of one iteration (no scheduler step): what a CUDA graph captures."""
        w, n = self.weights, x_a.shape[0]
        x_a = x_a.contiguous(memory_format=self.memory_format)
        x_b = x_b.contiguous(memory_format=self.memory_format)
        s_a = torch.randn(n, self.model_cfg.style_dim, device=self.device, generator=self.rng)
        s_b = torch.randn(n, self.model_cfg.style_dim, device=self.device, generator=self.rng)
        zero = torch.zeros((), device=self.device)
        cache = not capturing

        with self._autocast(cache):
            c_a, s_a_prime = self.gen_a.encode(x_a)
            c_b, s_b_prime = self.gen_b.encode(x_b)
            # one decode per generator: [own content with own style ; other content with random style]
            x_a_recon, x_ba = self.gen_a.decode(torch.cat([c_a, c_b]), torch.cat([s_a_prime, s_a])).split(n)
            x_b_recon, x_ab = self.gen_b.decode(torch.cat([c_b, c_a]), torch.cat([s_b_prime, s_b])).split(n)

            # ---- D update on detached fakes (real and fake in one batch per discriminator)
            out_a = self.dis_a(torch.cat([x_a, x_ba.detach()]))
            out_b = self.dis_b(torch.cat([x_b, x_ab.detach()]))
            loss_d = w.gan * (lsgan_d_loss([o[:n] for o in out_a], [o[n:] for o in out_a])
                              + lsgan_d_loss([o[:n] for o in out_b], [o[n:] for o in out_b]))
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(loss_d).backward()
        self.scaler.step(self.opt_d)

        # ---- G update, reusing the graph above; D now updated
        with self._autocast(cache):
            c_b_recon, s_a_recon = self.gen_a.encode(x_ba)
            c_a_recon, s_b_recon = self.gen_b.encode(x_ab)
            loss_adv = lsgan_g_loss(self.dis_a(x_ba)) + lsgan_g_loss(self.dis_b(x_ab))
            loss_x = l1(x_a_recon, x_a) + l1(x_b_recon, x_b)
            loss_s = l1(s_a_recon, s_a) + l1(s_b_recon, s_b)
            loss_c = l1(c_a_recon, c_a) + l1(c_b_recon, c_b)
            if w.cyc > 0:
                x_aba = self.gen_a.decode(c_a_recon, s_a_prime)
                x_bab = self.gen_b.decode(c_b_recon, s_b_prime)
                loss_cyc = l1(x_aba, x_a) + l1(x_bab, x_b)
            else:
                loss_cyc = zero
            if self.vgg is not None and w.vgg > 0:
                # domain-invariant perceptual loss: a translation keeps its content source's VGG features
                loss_vgg = self.vgg.loss(x_ba, x_b) + self.vgg.loss(x_ab, x_a)
            else:
                loss_vgg = zero
            loss_g = (w.gan * loss_adv + w.x * loss_x + w.s * loss_s + w.c * loss_c + w.cyc * loss_cyc
                      + w.vgg * loss_vgg)
        self.opt_g.zero_grad(set_to_none=True)
        # inputs=: only generator gradients are computed (D weight grads would be wasted work)
        self.scaler.scale(loss_g).backward(inputs=self.gen_params)
        self.scaler.step(self.opt_g)
        self.scaler.update()
        return loss_vector({"d": loss_d, "g": loss_g, "g_adv": loss_adv, "x": loss_x, "s": loss_s, "c": loss_c,
                            "cyc": loss_cyc, "vgg": loss_vgg})

    # ------------------------------------------------------------------ loop
    def fit(self, until: int | None = None) -> TrainResult:
        """Train up to ``cfg.iters`` -- or only up to iteration ``until`` (then the result says PAUSED, a
        checkpoint is written there, and a later ``fit`` continues exactly: how several seeds of one configuration
        advance in lockstep from evaluation to evaluation). The first SIGINT/SIGTERM finishes the iteration, writes
        a checkpoint and raises :class:`~munit.stopping.Interrupted`; one that comes during the last iteration or
        the final evaluation lets the run end normally and sets ``TrainResult.interrupted``. A full disk raises
        :class:`~munit.checkpoint.DiskFullError` naming the file (the last checkpoint stays intact)."""
        with writing(self.out_dir), StopRequest() as stop:
            return self._fit(stop, until)

    def _fit(self, stop: StopRequest, until: int | None) -> TrainResult:
        cfg = self.cfg
        stop_at = cfg.iters if until is None else min(int(until), cfg.iters)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.run.mark()
        self._write_config()
        for cb in self.callbacks:
            cb.on_train_start(self)
        bar = None
        if cfg.progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=cfg.iters, initial=self.step, desc="munit", unit="it", dynamic_ncols=True)
        t_start = time.perf_counter()
        start_step, stopped, detail, last_losses = self.step, StopReason.COMPLETED, "", {}
        t_log, step_log = time.perf_counter(), self.step
        try:
            while self.step < stop_at:
                if stop.requested:
                    stopped = StopReason.INTERRUPTED
                    self.save()
                    raise Interrupted(f"interrupted at iteration {self.step}; checkpoint {self.last_checkpoint}",
                                      stop.signum)  # type: ignore[arg-type]
                x_a, x_b = next(self.stream_a), next(self.stream_b)
                losses = self.train_step(x_a, x_b)
                self.step += 1
                self._acc += losses.double()
                self._acc_n += 1
                bad = ~torch.isfinite(losses)
                self._bad_at = torch.where((self._bad_at < 0) & bad, self.step, self._bad_at)
                if bar is not None:
                    bar.update(1)
                at = lambda every: every > 0 and self.step % every == 0  # noqa: E731
                final = self.step == cfg.iters
                pause = self.step == stop_at and not final
                if at(cfg.log_every) or final or pause:
                    self._check_finite()  # one host sync per log interval
                    now = time.perf_counter()
                    last_losses = self._log(now - t_log, self.step - step_log, bar)
                    t_log, step_log = now, self.step
                if at(cfg.sample_every) or (final and cfg.sample_every):
                    self.save_samples()
                if (at(cfg.eval_every) or (final and cfg.eval_every)) and self.evaluator is not None:
                    self.run_evaluation()
                if at(cfg.checkpoint_every) or final or pause:
                    self.save()
                reason = self._should_stop() if (at(cfg.log_every) or at(cfg.eval_every)) else None
                if reason:
                    stopped, detail = StopReason.STOPPED, reason
                    self.save()
                    break
        finally:
            if bar is not None:
                bar.close()
        wall = time.perf_counter() - t_start
        if stopped is StopReason.COMPLETED and self.step < cfg.iters:
            stopped = StopReason.PAUSED
        result = TrainResult(step=self.step, stopped=stopped, checkpoint=self.last_checkpoint, wall_s=wall,
                             it_per_s=(self.step - start_step) / wall if wall > 0 else 0.0,
                             last_losses=last_losses, last_metrics=dict(self.last_metrics), stop_detail=detail,
                             last_meta=dict(self.last_meta), interrupted=stop.signum)
        for cb in self.callbacks:
            cb.on_train_end(self, result)
        return result

    def _check_finite(self) -> None:
        bad_at = self._bad_at.tolist()
        firsts = [(it, LOSS_NAMES[i]) for i, it in enumerate(bad_at) if it >= 0]
        if firsts:
            it = min(f[0] for f in firsts)
            # name the culprit, not the total it poisons: 'g' (the weighted sum) only if nothing else is bad
            names = [n for i, n in firsts if i == it]
            name = next((n for n in names if n != "g"), "g")
            raise NonFiniteLossError(name, it, self.last_checkpoint)

    def _log(self, dt: float, n_steps: int, bar) -> dict[str, float]:
        means = (self._acc / max(self._acc_n, 1)).tolist()
        scalars = {f"loss/{k}": v for k, v in zip(LOSS_NAMES, means)
                   if k not in OPTIONAL_LOSSES or getattr(self.weights, k) > 0}
        scalars["lr"] = self.lr
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        scalars["it_per_s"] = n_steps / dt if dt > 0 else 0.0
        scalars["img_per_s"] = scalars["it_per_s"] * self.cfg.batch_size
        self._acc.zero_()
        self._acc_n = 0
        self.run.append(RunFolder.LOG, {"step": self.step, **scalars})
        if bar is not None:
            bar.set_postfix({"d": f"{scalars['loss/d']:.3f}", "g": f"{scalars['loss/g']:.3f}"}, refresh=False)
        for cb in self.callbacks:
            cb.on_log(self.step, scalars)
        return scalars

    def _should_stop(self) -> str | None:
        for cb in self.callbacks:
            r = cb.should_stop(self.step)
            if r:
                return r if isinstance(r, str) else type(cb).__name__
        return None

    # ------------------------------------------------------------------ samples, evaluation, checkpoints
    @torch.no_grad()
    def save_samples(self) -> dict[str, Path]:
        """Write the a2b and b2a grids for the current step; returns their paths."""
        paths = {}
        g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + self.step)
        for name, src, dst, inputs in (("a2b", self.gen_a, self.gen_b, self.sample_a),
                                       ("b2a", self.gen_b, self.gen_a, self.sample_b)):
            x = to_model_range(inputs.to(self.device))
            rnd = torch.randn(x.shape[0], self.model_cfg.style_dim, generator=g).to(self.device)
            with self._autocast():
                imgs = translation_grid(src, dst, x, self.styles, rnd)
            labels = translation_labels(self.styles.shape[0])
            paths[name] = save_grid(imgs, len(labels), self.run.sample(name, self.step), labels)
        for cb in self.callbacks:
            cb.on_samples(self.step, paths)
        return paths

    def run_evaluation(self) -> dict[str, float]:
        # evaluation draws its own random numbers; fork so the training stream is unaffected (exact resume)
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            out = self.evaluator(self)
        values, meta = (out if isinstance(out, tuple) else (out, {}))
        metrics = {k: float(v) for k, v in values.items()}
        self.last_metrics, self.last_meta = dict(metrics), dict(meta)
        self.run.append(RunFolder.METRICS, {"step": self.step, **metrics})
        for cb in self.callbacks:
            cb.on_evaluate(self.step, metrics, self.last_meta)
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {
            "gen_a": self.gen_a.state_dict(), "gen_b": self.gen_b.state_dict(),
            "dis_a": self.dis_a.state_dict(), "dis_b": self.dis_b.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "sched_g": self.sched_g.state_dict(), "sched_d": self.sched_d.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "rng": {**capture_rng(), "trainer": self.rng.get_state()},
            "data": {"a": self.stream_a.state_dict(), "b": self.stream_b.state_dict()},
            "fixed_styles": self.styles.cpu(),
            "config": {"model": to_dict(self.model_cfg), "train": to_dict(self.cfg),
                       "weights": to_dict(self.weights), "data": _plain(to_dict(self.data_cfg))},
            "last_metrics": dict(self.last_metrics),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        if self._graph is not None and self._graph.captured:
            raise RuntimeError("cannot load a state into a trainer whose step is already a captured CUDA graph (the "
                               "graph holds the current tensors); build a new Trainer with resume=True instead")
        saved_model = state["config"]["model"]
        if saved_model != to_dict(self.model_cfg):
            diff = {k: (v, getattr(self.model_cfg, k)) for k, v in saved_model.items()
                    if getattr(self.model_cfg, k) != v}
            raise ConfigError(f"checkpoint was trained with a different model config (saved, now): {diff}")
        self._check_resumable(state["config"])
        for name in ("gen_a", "gen_b", "dis_a", "dis_b", "opt_g", "opt_d", "sched_g", "sched_d", "scaler"):
            getattr(self, name).load_state_dict(state[name])
        self.step = int(state["step"])
        self.stream_a.load_state_dict(state["data"]["a"])
        self.stream_b.load_state_dict(state["data"]["b"])
        self.styles = state["fixed_styles"].to(self.device)
        self.last_metrics = dict(state.get("last_metrics", {}))
        restore_rng(state["rng"])
        self.rng.set_state(_own_rng_state(state["rng"], self.device))

    def _check_resumable(self, saved: Mapping[str, Any]) -> None:
        """Refuse to resume with another optimiser, schedule or data: the checkpoint's optimiser and scheduler
        state would silently win over the new values while config.json recorded them."""
        now = {"train": to_dict(self.cfg), "data": _plain(to_dict(self.data_cfg))}
        diffs = []
        for part, names in RESUME_FIXED.items():
            for name in names:
                old, new = saved.get(part, {}).get(name), now[part].get(name)
                if isinstance(old, (list, tuple)) or isinstance(new, (list, tuple)):
                    old, new = list(old or []), list(new or [])
                if old != new:
                    diffs.append(f"{part}.{name} {old!r} -> {new!r}")
        if diffs:
            raise ConfigError(f"cannot resume {self.out_dir}: its checkpoint was trained with other settings "
                              f"({'; '.join(diffs)}); resuming would keep the checkpoint's optimiser, schedule "
                              "and data order. Leave these options out to continue with the checkpoint's, or "
                              "train into a new folder")

    def save(self) -> Path:
        self._check_finite()  # never overwrite the last good checkpoint with a NaN state
        path = save_checkpoint(self.checkpoint_path, self.state_dict())
        self.last_checkpoint = path
        for cb in self.callbacks:
            cb.on_checkpoint(self.step, path)
        return path

    def _write_config(self) -> None:
        cfg = {"model": to_dict(self.model_cfg), "train": to_dict(self.cfg), "weights": to_dict(self.weights),
               "data": _plain(to_dict(self.data_cfg)), "device": str(self.device), "torch": torch.__version__}
        atomic_write_text(self.run.config, json.dumps(cfg, indent=2))


def _own_rng_state(rng: Mapping[str, Any], device: torch.device) -> torch.Tensor:
    """A checkpoint's state of the trainer's own generator; a checkpoint from before trainers had one: the global
    stream its steps drew from (the CPU's, or the device's CUDA stream)."""
    if "trainer" in rng:
        return rng["trainer"].cpu()
    if device.type == "cuda" and rng.get("cuda"):
        return rng["cuda"][device.index or 0].cpu()
    return rng["torch"].cpu()


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    """Tuples -> lists so the config round-trips through JSON and weights_only loading identically."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


__all__ = ["Trainer", "TrainResult", "StopReason", "Callback", "NonFiniteLossError", "LOSSES", "LOSS_NAMES",
           "OPTIONAL_LOSSES", "loss_vector", "Evaluator", "Evaluation", "resolve_device"]

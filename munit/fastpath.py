"""The training step's speed levers and the named settings that switch them (benchmark, sweep, GPU tests).

A *setting* is a precision plus a set of levers, named ``<precision>[-<levers>]``: ``fp32`` is the exact path
(fp32, eager, contiguous tensors: what the trainer does by default), ``bf16-cl-graph`` is bf16 autocast with the
``cl-graph`` levers. Each lever is a :class:`munit.config.TrainConfig` field; :meth:`Setting.apply` writes them.

* precision (``precision``): bf16 / fp16 autocast; losses, norm statistics and Adam stay fp32. Needs CUDA.
* ``cl`` (``channels_last``, ``cudnn_benchmark``): NHWC activations and weights, so tensor-core convolutions run
  without layout transposes; cuDNN times its algorithms once per shape (the step's shapes never change). Without
  CUDA channels_last still runs and cudnn_benchmark does nothing.
* ``graph`` (``cuda_graph``): the whole update (D and G forward/backward, both fused Adam steps) captured once into a
  CUDA graph and replayed (:class:`munit.graph.StepGraph`): one launch per step instead of thousands. Needs CUDA;
  fp32 or bf16 (fp16's loss scaler syncs with the host).
* ``compile`` (``compile``, ``compile_mode``): ``torch.compile`` of each network; Inductor fuses each norm with its
  activation, residual add and AdaIN affine. Runs anywhere (slow to compile on a CPU).

Two more are always on and need no switch: no host synchronisation per step (losses and NaN/Inf checks stay on
the device, one sync per log interval) and device-resident data (``TrainConfig.preload``, automatic on CUDA).

:data:`CUDA_DEFAULT` is the setting a sweep trains with on CUDA unless told otherwise. It should be the fastest
setting that passes the correctness guard (``tests/test_gpu.py``); until the GPU check (``bench/gpu_check.sh``) has
measured them it is a *prediction* (docs/speed.md): flip it here once the figures are in.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .config import COMPILE_MODES, CUDAGRAPH_COMPILE_MODES, ConfigError, TrainConfig

PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Levers:
    """The speed levers besides precision. ``compile``: a torch.compile mode, or None for eager."""

    channels_last: bool = False
    cudnn_benchmark: bool = False
    compile: str | None = None
    cuda_graph: bool = False


LEVERS: dict[str, Levers] = {
    "eager": Levers(),
    "cl": Levers(channels_last=True, cudnn_benchmark=True),
    "graph": Levers(cudnn_benchmark=True, cuda_graph=True),
    "cl-graph": Levers(channels_last=True, cudnn_benchmark=True, cuda_graph=True),
    "cl-compile": Levers(channels_last=True, cudnn_benchmark=True, compile="default"),
    "cl-compile-graph": Levers(channels_last=True, cudnn_benchmark=True, compile="default", cuda_graph=True),
    "cl-autotune-graph": Levers(channels_last=True, cudnn_benchmark=True, compile="max-autotune-no-cudagraphs",
                                cuda_graph=True),
    "cl-reduce-overhead": Levers(channels_last=True, cudnn_benchmark=True, compile="reduce-overhead"),
}


@dataclass(frozen=True)
class Setting:
    """A precision and a lever set, e.g. ``bf16-cl-graph``."""

    precision: str
    levers_name: str

    @property
    def name(self) -> str:
        return self.precision if self.levers_name == "eager" else f"{self.precision}-{self.levers_name}"

    @property
    def levers(self) -> Levers:
        return LEVERS[self.levers_name]

    def needs_cuda(self) -> str | None:
        """Why this setting cannot run without CUDA (None: it can)."""
        if self.precision != "fp32":
            return f"{self.precision} autocast needs CUDA"
        if self.levers.cuda_graph:
            return "CUDA graphs need CUDA"
        return None

    def apply(self, cfg: TrainConfig) -> TrainConfig:
        """``cfg`` with this setting's precision and levers (every other field kept)."""
        return apply_levers(dataclasses.replace(cfg, precision=self.precision), self.levers_name)


def parse_setting(name: str) -> Setting:
    """``fp32``, ``bf16``, ``bf16-cl-graph``, ...: a precision, then optionally a lever set of :data:`LEVERS`."""
    precision, _, levers = name.partition("-")
    levers = levers or "eager"
    if precision not in PRECISIONS or levers not in LEVERS:
        raise ConfigError(f"unknown speed setting {name!r}: write <precision>[-<levers>] with precision one of "
                          f"{', '.join(PRECISIONS)} and levers one of {', '.join(LEVERS)} (e.g. bf16-cl-graph)")
    return Setting(precision, levers)


def apply_levers(cfg: TrainConfig, levers_name: str) -> TrainConfig:
    """``cfg`` with the levers of ``LEVERS[levers_name]`` (precision kept)."""
    if levers_name not in LEVERS:
        raise ConfigError(f"unknown lever set {levers_name!r}; choose one of {', '.join(LEVERS)}")
    lv = LEVERS[levers_name]
    return dataclasses.replace(cfg, channels_last=lv.channels_last, cudnn_benchmark=lv.cudnn_benchmark,
                               compile=lv.compile is not None, compile_mode=lv.compile or "default",
                               cuda_graph=lv.cuda_graph)


def describe(cfg: TrainConfig) -> str:
    """The levers a TrainConfig turns on, for logs and tables (``fp32 eager`` when none)."""
    on = [cfg.precision]
    if cfg.channels_last:
        on.append("channels_last")
    if cfg.cudnn_benchmark:
        on.append("cudnn.benchmark")
    if cfg.compile:
        on.append(f"compile({cfg.compile_mode})")
    if cfg.cuda_graph:
        on.append("cuda_graph")
    return " + ".join(on) if len(on) > 1 else f"{on[0]} eager"


# The settings the GPU check measures, in the order that adds one lever at a time (each row's gain over the row
# it extends is that lever's contribution).
CHECK_SETTINGS = ("fp32", "bf16", "bf16-cl", "fp32-graph", "bf16-cl-graph", "bf16-cl-compile",
                  "bf16-cl-compile-graph")

# UNMEASURED: the prediction of docs/speed.md (no GPU has run this project yet). The sweep's default on CUDA:
# its precision becomes a new study's precision, its levers every CUDA worker's. Flip it to the fastest setting
# that passes tests/test_gpu.py once bench/gpu_check.sh has measured them.
CUDA_DEFAULT = "bf16-cl-graph"
CUDA_DEFAULT_MEASURED = False


def cuda_default() -> Setting:
    return parse_setting(CUDA_DEFAULT)


__all__ = ["PRECISIONS", "COMPILE_MODES", "CUDAGRAPH_COMPILE_MODES", "Levers", "LEVERS", "Setting",
           "parse_setting", "apply_levers", "describe", "CHECK_SETTINGS", "CUDA_DEFAULT", "CUDA_DEFAULT_MEASURED",
           "cuda_default"]

"""Dataclass configs. Defaults are the MUNIT paper / official code's (edges2shoes config).

Three presets name the sizes people actually use:
  * ``paper`` -- the official architecture at 256 px (15,026,187 generator parameters);
  * ``small`` -- a CPU-sized MUNIT (64 px, 16 base channels) for demos and CPU sweeps;
  * ``tiny``  -- the smallest config that still exercises every layer (tests).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from typing import Any


class ConfigError(ValueError):
    """A configuration that cannot work; the message says which field and why."""


# torch.compile modes (TrainConfig.compile_mode); those that capture CUDA graphs themselves cannot be combined with
# the whole-step graph (TrainConfig.cuda_graph). The named lever settings are in munit.fastpath.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
CUDAGRAPH_COMPILE_MODES = ("reduce-overhead", "max-autotune")


def _min_size_for_downsampling(n_down: int) -> int:
    # Every stride-2 conv uses reflect padding 1, which needs an input of at least 2 pixels;
    # the last of n_down such convs therefore needs size / 2**(n_down-1) >= 2.
    return 2 ** n_down


@dataclass
class ModelConfig:
    """Generator and discriminator sizes (official MUNIT defaults)."""

    image_size: int = 256
    input_dim: int = 3
    # generator
    dim: int = 64                 # channels of the first conv; doubles at each content downsampling
    style_dim: int = 8
    n_downsample: int = 2         # content encoder / decoder
    style_n_downsample: int = 4   # style encoder (first two double channels, the rest keep them)
    n_res: int = 4                # residual blocks in content encoder and decoder
    mlp_dim: int = 256
    mlp_blocks: int = 3           # linear layers in the style MLP
    # discriminator
    dis_dim: int = 64
    dis_n_layer: int = 4
    dis_num_scales: int = 3

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for name in ("image_size", "input_dim", "dim", "style_dim", "mlp_dim", "dis_dim", "dis_n_layer",
                     "dis_num_scales", "n_res"):
            if getattr(self, name) < 1:
                raise ConfigError(f"ModelConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.n_downsample < 0 or self.style_n_downsample < 2:
            raise ConfigError("ModelConfig needs n_downsample >= 0 and style_n_downsample >= 2 "
                              f"(got {self.n_downsample}, {self.style_n_downsample})")
        if self.mlp_blocks < 2:
            raise ConfigError(f"ModelConfig.mlp_blocks must be >= 2, got {self.mlp_blocks}")
        s = self.image_size
        if s % (2 ** self.n_downsample):
            raise ConfigError(f"image_size {s} must be divisible by 2**n_downsample = {2 ** self.n_downsample} "
                              "so that decode(encode(x)) has the input's size")
        need_g = max(_min_size_for_downsampling(self.n_downsample),
                     _min_size_for_downsampling(self.style_n_downsample), 4)
        if s < need_g:
            raise ConfigError(f"image_size {s} is too small for the generator: its {self.style_n_downsample} "
                              f"style downsamplings need at least {need_g} px")
        smallest = s // (2 ** (self.dis_num_scales - 1))
        need_d = _min_size_for_downsampling(self.dis_n_layer)
        if smallest < need_d:
            raise ConfigError(
                f"image_size {s} is too small for the discriminator: its coarsest of {self.dis_num_scales} scales "
                f"sees {smallest} px, but {self.dis_n_layer} stride-2 layers need >= {need_d} px. "
                f"Use image_size >= {need_d * 2 ** (self.dis_num_scales - 1)}, fewer dis_num_scales or fewer "
                "dis_n_layer.")

    @property
    def content_dim(self) -> int:
        return self.dim * 2 ** self.n_downsample

    @property
    def num_adain_params(self) -> int:
        # n_res blocks x 2 AdaIN layers x content_dim channels x (mean, std)
        return self.n_res * 2 * 2 * self.content_dim


@dataclass
class LossWeights:
    """Generator loss weights (official names: gan_w, recon_x_w, recon_s_w, recon_c_w, recon_x_cyc_w, vgg_w)."""

    gan: float = 1.0
    x: float = 10.0
    s: float = 1.0
    c: float = 1.0
    cyc: float = 0.0
    vgg: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"LossWeights.{f.name} must be a finite number >= 0, got {v!r}")
            setattr(self, f.name, float(v))


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping. Iteration counts (incl. the StepLR step) are in iterations."""

    iters: int = 1_000_000
    batch_size: int = 1
    lr: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 1e-4
    lr_step: int = 100_000
    lr_gamma: float = 0.5
    seed: int = 0
    device: str = "auto"            # auto | cpu | cuda | cuda:N
    precision: str = "fp32"         # fp32 | bf16 | fp16 (autocast; CUDA only)
    # speed levers (named combinations: munit.fastpath); none changes what is computed beyond rounding
    channels_last: bool = False
    cudnn_benchmark: bool = False   # cuDNN picks the fastest algorithm per shape (CUDA; a no-op elsewhere)
    compile: bool = False           # torch.compile each network
    compile_mode: str = "default"   # its mode: default | reduce-overhead | max-autotune | max-autotune-no-cudagraphs
    cuda_graph: bool = False        # capture the whole step in one CUDA graph (CUDA; fp32 or bf16)
    log_every: int = 10
    sample_every: int = 1000        # 0 disables
    eval_every: int = 0             # 0 disables; the evaluate callback decides what to compute
    checkpoint_every: int = 1000    # 0: only at the end
    num_sample_inputs: int = 4      # inputs per direction in sample grids
    num_fixed_styles: int = 4       # fixed style columns in sample grids
    num_workers: int = -1           # data loader workers; -1 = auto (0 on CPU)
    preload: bool | None = None     # decode the whole domain once into device memory; None = auto (CUDA, < 4 GiB)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.iters < 0:
            raise ConfigError(f"TrainConfig.iters must be >= 0, got {self.iters}")
        if self.batch_size < 1:
            raise ConfigError(f"TrainConfig.batch_size must be >= 1, got {self.batch_size}")
        for name, hi, what in (("lr", math.inf, "a finite number > 0"), ("lr_gamma", 1.0, "in (0, 1]")):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not (0 < v <= hi and math.isfinite(v)):
                raise ConfigError(f"TrainConfig.{name} must be {what}, got {v!r}")
        for name in ("beta1", "beta2"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0.0 <= v < 1.0:
                raise ConfigError(f"TrainConfig.{name} must be in [0, 1), got {v!r}")
        if not isinstance(self.weight_decay, (int, float)) or not (math.isfinite(self.weight_decay)
                                                                   and self.weight_decay >= 0):
            raise ConfigError(f"TrainConfig.weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if self.lr_step < 1:
            raise ConfigError(f"TrainConfig.lr_step (StepLR step size, iterations) must be >= 1, got {self.lr_step}")
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ConfigError(f"TrainConfig.precision must be fp32, bf16 or fp16, got {self.precision!r}")
        if self.compile_mode not in COMPILE_MODES:
            raise ConfigError(f"TrainConfig.compile_mode must be one of {', '.join(COMPILE_MODES)}, "
                              f"got {self.compile_mode!r}")
        if self.cuda_graph and self.precision == "fp16":
            raise ConfigError("TrainConfig.cuda_graph cannot run fp16: its loss scaler checks for overflow on the "
                              "host every step; use bf16 (no scaler) or fp32")
        if self.cuda_graph and self.compile and self.compile_mode in CUDAGRAPH_COMPILE_MODES:
            raise ConfigError(f"TrainConfig.cuda_graph captures the whole step; compile mode {self.compile_mode!r} "
                              "captures CUDA graphs itself. Use compile_mode default or max-autotune-no-cudagraphs "
                              "with cuda_graph, or cuda_graph=False")
        for name in ("log_every", "sample_every", "eval_every", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"TrainConfig.{name} must be >= 0")
        if self.log_every == 0:
            self.log_every = 1


PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "small": dict(image_size=64, dim=16, mlp_dim=64, n_res=2, dis_dim=16, dis_n_layer=3, dis_num_scales=2),
    "tiny": dict(image_size=32, dim=8, mlp_dim=32, n_res=1, dis_dim=8, dis_n_layer=3, dis_num_scales=2),
}


@dataclass(frozen=True)
class RunDefaults:
    """What a run trains with when nobody says: the model preset, batch size, learning rate and the loss weights
    that differ from :class:`LossWeights`' (the paper's)."""

    preset: str
    batch_size: int
    lr: float
    weights: tuple[tuple[str, float], ...] = ()

    def loss_weights(self, **given: float) -> LossWeights:
        """These defaults' weights, with ``given`` (field -> value) on top."""
        return LossWeights(**{**dict(self.weights), **given})


# The paper's recipe, and the CPU's: a MUNIT small enough to learn the synthetic set in minutes, with ten times the
# paper's lr and the loss weights of the best trial of the default CPU study. Why these values, with the figures:
# docs/metrics.md, "What a CPU budget reaches".
PAPER_DEFAULTS = RunDefaults("paper", 1, 1e-4)
CPU_DEFAULTS = RunDefaults("tiny", 4, 1e-3, weights=(("x", 3.43), ("s", 7.0), ("c", 8.8), ("cyc", 12.5)))

# DataConfig.source of the embedded synthetic set (munit.synthetic); any other source is a folder of real images.
# Spelled here, the torch-free bottom of the package, so that command lines can use it before importing torch;
# munit.data re-exports it.
SYNTHETIC = "synthetic"
PRESET_RULE = "paper on CUDA with real data, tiny on synthetic data, small on a CPU with real data"


def default_preset(cuda: bool, data_source: str) -> str:
    """The model preset a machine trains when nobody names one: the paper's model where it can train it (CUDA, real
    data), the smallest that learns the synthetic set on any device, a CPU-sized one for real images on a CPU.
    ``data_source``: :data:`SYNTHETIC` or anything else (real images). The rule, for help texts: :data:`PRESET_RULE`."""
    if data_source == SYNTHETIC:
        return CPU_DEFAULTS.preset
    return PAPER_DEFAULTS.preset if cuda else "small"


def default_run(cuda: bool, data_source: str) -> RunDefaults:
    """The run defaults of :func:`default_preset`'s preset: the paper's recipe for the paper preset, the CPU
    recipe (:data:`CPU_DEFAULTS`' batch size, lr and loss weights) for the others."""
    preset = default_preset(cuda, data_source)
    if preset == PAPER_DEFAULTS.preset:
        return PAPER_DEFAULTS
    return dataclasses.replace(CPU_DEFAULTS, preset=preset)


def default_lr_step(preset: str, iters: int) -> int:
    """The StepLR step (gamma 0.5) when nobody says: the official 100k for the paper preset; otherwise a sixth of
    the run, because a small model at the CPU recipe's lr gets worse if it keeps training at full rate (the
    evidence: docs/metrics.md, "What a CPU budget reaches")."""
    return 100_000 if preset == "paper" else max(1, iters // 6)


def model_preset(name: str, **overrides: Any) -> ModelConfig:
    """ModelConfig for a named preset, with field overrides."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return ModelConfig(**{**PRESETS[name], **overrides})


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def from_dict(cls: type, d: dict[str, Any]):
    """Build a dataclass from a dict, refusing unknown keys (a typo must not pass silently)."""
    names = {f.name for f in fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} field(s): {', '.join(sorted(unknown))}")
    return cls(**d)


__all__ = ["ConfigError", "COMPILE_MODES", "CUDAGRAPH_COMPILE_MODES", "ModelConfig", "LossWeights", "TrainConfig",
           "PRESETS", "model_preset", "to_dict", "from_dict", "field", "RunDefaults", "PAPER_DEFAULTS", "CPU_DEFAULTS",
           "SYNTHETIC", "PRESET_RULE", "default_preset", "default_run", "default_lr_step"]

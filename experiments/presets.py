"""The seed blog's three trials, and the sweep presets that size a study to its hardware. The blog's protocol (30
epochs, StepLR every 10 or 3 of them) in iterations: :mod:`experiments.schedule`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from munit.config import CPU_DEFAULTS

from .schedule import Schedule


@dataclass(frozen=True)
class BlogTrial:
    """One of the seed blog's hand-tuned configurations: the loss weights it sets (LossWeights fields), its StepLR
    step in epochs of the protocol, and the blog's own verdict on its samples (AFHQ dog ↔ cat)."""

    number: int
    weights: dict[str, float]
    lr_step_epochs: int
    verdict: str

    def targets(self, schedule: Schedule) -> dict[str, float | int]:
        """What the trial sets, by config field (the targets of the search space's ``sets:``)."""
        return {**{f"weights.{k}": v for k, v in self.weights.items()},
                "train.lr_step": schedule.iters(self.lr_step_epochs)}


BLOG_TRIALS: tuple[BlogTrial, ...] = (
    BlogTrial(1, {"x": 10.0, "s": 1.0, "c": 1.0, "cyc": 0.0}, 10, "blurry, eyes vanish, no translation"),
    BlogTrial(2, {"x": 7.0, "s": 3.0, "c": 3.0, "cyc": 3.0}, 10, "dog→cat plausible; cat→dog still looks like a cat"),
    BlogTrial(3, {"x": 7.0, "s": 3.0, "c": 3.0, "cyc": 10.0}, 3, "cat→dog more natural; dog→cat as in trial 2"),
)


def blog_params(trial: BlogTrial, schedule: Schedule, space=None, base: dict[str, Any] | None = None
                ) -> dict[str, float | int]:
    """The Optuna params of a blog trial in ``space`` (default: the default space): each parameter gets the value
    the blog sets for its target (``lr_step`` in iterations of ``schedule``); a parameter the blog does not set
    (e.g. a swept lr) gets the study's base value (``base`` configs: {"weights": ..., "train": ..., "model": ...};
    default: the configs' own defaults). A blog setting the space cannot carry is an error."""
    from munit.config import ConfigError, LossWeights, ModelConfig, TrainConfig

    from .space import load_space
    space = space or load_space()
    base = base or {"weights": LossWeights(), "train": TrainConfig(), "model": ModelConfig()}
    targets = trial.targets(schedule)
    lost = [t for t in targets if not space.sweeps(t)]
    if lost:
        raise ConfigError(f"blog trial {trial.number} sets {', '.join(lost)}, which the search space does not sweep")
    defaults = space.values_of(base)
    return {name: targets.get(p.sets, defaults[name]) for name, p in space.params.items()}


@dataclass(frozen=True)
class SweepPreset:
    """Defaults of a study for one model preset (munit.config.PRESETS): what fits the hardware it targets."""

    model: str                     # munit model preset
    batch_size: int
    lr: float
    scale: float                   # share of the blog's 30-epoch protocol trained per trial
    evals: int                     # evaluations per trial (they are also the pruning points)
    samples: int                   # sample grids per trial
    checkpoints: int               # checkpoints per trial (what a killed trial's retry resumes from)
    log_every: int
    synthetic_train: int           # synthetic set sizes per domain (real data: all images, or --max-images)
    synthetic_val: int
    protocol: dict[str, Any] = field(default_factory=dict)   # munit.metrics.Protocol fields
    note: str = ""
    # On CPU, torch threads per worker process when --workers is left out: the sweep runs one worker per this many
    # cores (None: one worker with every core). A small model gains more from a second worker than from a second
    # thread (the figures: docs/sweeps.md, "CPU use").
    cpu_worker_threads: int | None = None


SWEEP_PRESETS: dict[str, SweepPreset] = {
    # The CPU default (its cost: docs/sweeps.md, "Cost of the default"). lr 1e-3, ten times the paper's: at this
    # budget 1e-4 has barely started to translate, and trials would not differ.
    "tiny": SweepPreset(CPU_DEFAULTS.preset, batch_size=CPU_DEFAULTS.batch_size, lr=CPU_DEFAULTS.lr, scale=0.04,
                        evals=3, samples=2, checkpoints=3, log_every=10,
                        synthetic_train=400, synthetic_val=64,
                        protocol=dict(n_val=64, n_styles=4, n_real=400, batch_size=64),
                        note="lr 1e-3, ten times the paper's 1e-4, so that short CPU trials learn",
                        cpu_worker_threads=1),
    "small": SweepPreset("small", batch_size=4, lr=2e-4, scale=0.1, evals=5, samples=5, checkpoints=10,
                         log_every=50,
                         synthetic_train=2000, synthetic_val=100,
                         protocol=dict(n_val=100, n_styles=10, n_real=2000, batch_size=50),
                         note="a CPU-sized MUNIT; lr 2e-4", cpu_worker_threads=2),
    # The paper's model and optimiser on the blog's protocol (scale 1 = 30 epochs of batch 1).
    "paper": SweepPreset("paper", batch_size=1, lr=1e-4, scale=1.0, evals=10, samples=30, checkpoints=30,
                         log_every=100,
                         synthetic_train=2000, synthetic_val=100,
                         protocol=dict(n_val=None, n_styles=10, n_real=None, batch_size=50),
                         note="official architecture and optimiser; StarGAN v2 evaluation protocol"),
}


__all__ = ["BlogTrial", "BLOG_TRIALS", "blog_params", "SweepPreset", "SWEEP_PRESETS"]

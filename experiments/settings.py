"""What a study fixes for all its trials: data, model, optimiser, iteration counts, evaluation protocol,
objective and the search space. Stored in the study (user attr ``settings``) when it is created, together with
the options that asked for it (user attr ``options``), so that every worker and every later ``sweep.py`` on the
same study trains the same way without repeating the options.

An option given again must resolve to the same settings: :func:`check_same` re-resolves the stored options with
each given option in turn and names those that would change anything -- no per-option comparison code, so a new
study option is one row in the sweep's option table plus the field it resolves to here.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from munit.config import (SYNTHETIC, ConfigError, LossWeights, ModelConfig, TrainConfig, default_preset,
                          from_dict, model_preset)
from munit.fastpath import cuda_default
from munit.metrics.protocol import default_metrics, default_objective

from .presets import SWEEP_PRESETS
from .schedule import Schedule
from .space import SearchSpace, load_space


@dataclass(frozen=True)
class StudySettings:
    data: str
    domains: tuple[str, str]
    max_images: int | None
    synthetic_train: int
    synthetic_val: int
    preset: str
    model: dict[str, Any]     # the full ModelConfig (the one owner of the image size)
    batch_size: int
    lr: float
    precision: str
    seed: int
    epoch_iters: int          # iterations per epoch of the source domain (domain A)
    scale: float              # share of the blog's 30-epoch protocol
    iters: int
    eval_every: int
    sample_every: int
    checkpoint_every: int
    log_every: int
    objective_keys: tuple[str, ...]   # the evaluation metric key(s) the study optimises, e.g. fitn/worst
    metrics: tuple[str, ...]
    protocol: dict[str, Any]  # munit.metrics.Protocol fields
    space: dict[str, Any]     # SearchSpace.to_dict(), iteration counts in iterations
    seeds: int = 1            # seed replicates per trial (seed, seed + 1, ...); Optuna gets their mean
    eval_repeats: int = 1     # evaluations per evaluation point with fresh style draws; mean and std logged

    @property
    def seed_list(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.epoch_iters, self.scale)

    @property
    def synthetic(self) -> bool:
        return self.data == SYNTHETIC

    @property
    def image_size(self) -> int:
        return int(self.model["image_size"])

    @property
    def search_space(self) -> SearchSpace:
        return SearchSpace.from_dict(self.space)

    def model_config(self) -> ModelConfig:
        return from_dict(ModelConfig, dict(self.model))

    def data_config(self):
        """The munit DataConfig of every trial (munit.data, hence torch, is imported only here)."""
        from munit.data import DataConfig

        return DataConfig(source=self.data, domains=self.domains, synthetic_train=self.synthetic_train,
                          synthetic_val=self.synthetic_val, seed=0, max_images=self.max_images)

    def configs(self, device: str = "auto", progress: bool = False) -> dict[str, Any]:
        """The base configs of every trial ({"model", "train", "weights", "data"}), before the search space
        writes a trial's parameters into them (:meth:`SearchSpace.apply`)."""
        train = TrainConfig(iters=self.iters, batch_size=self.batch_size, lr=self.lr, seed=self.seed, device=device,
                            precision=self.precision, log_every=self.log_every, sample_every=self.sample_every,
                            eval_every=self.eval_every, checkpoint_every=self.checkpoint_every, progress=progress)
        return {"model": self.model_config(), "train": train, "weights": LossWeights(), "data": self.data_config()}

    def to_dict(self) -> dict[str, Any]:
        d = {_stored_name(k): v for k, v in asdict(self).items()}
        d["domains"], d["metrics"] = list(self.domains), list(self.metrics)
        d[_stored_name("objective_keys")] = list(self.objective_keys)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "StudySettings":
        d = {f.name: d[_stored_name(f.name)] for f in fields(cls) if _stored_name(f.name) in d}
        missing = [_stored_name(f.name) for f in fields(cls) if f.name not in d and f.default is dataclasses.MISSING]
        if missing:
            raise ConfigError(f"the study's stored settings lack {', '.join(missing)} (made by another version?); "
                              "use a new --study-name")
        return cls(**{**d, "domains": tuple(d["domains"]), "objective_keys": tuple(d["objective_keys"]),
                      "metrics": tuple(d["metrics"])})


# Field names as the study stores them (user attr ``settings``), where they differ: every existing study spells
# ``objective_keys`` "objective", as the --objective option does.
_STORED_AS = {"objective_keys": "objective"}


def _stored_name(field_name: str) -> str:
    return _STORED_AS.get(field_name, field_name)


def parse_objective(text: str | None, data: str) -> tuple[str, ...]:
    """Metric keys from ``--objective`` ("fid/mean" or "fid/mean,lpips/mean"; a bare name means its mean)."""
    if not text:
        return (default_objective(data),)
    keys = []
    for k in (p.strip() for p in text.split(",") if p.strip()):
        keys.append(k if "/" in k else f"{k}/mean")
    if len(set(keys)) != len(keys):
        raise ConfigError(f"--objective lists a metric twice: {text}")
    return tuple(keys)


def _metric_names(objective: tuple[str, ...], extra: str | None, data: str) -> tuple[str, ...]:
    names = [k.split("/")[0] for k in objective]
    if extra is None:
        extra_names = list(default_metrics(data))
    else:
        extra_names = [m.strip() for m in extra.split(",") if m.strip()]
    return tuple(dict.fromkeys(names + extra_names))


def new_settings(req: Mapping[str, Any], cuda: bool) -> StudySettings:
    """Settings of a new study from the requested options (absent or None = the preset's default)."""
    from munit.data import DataConfig, batches_per_epoch, count_images   # torch: not on the --help path

    data = req.get("data") or SYNTHETIC
    preset_name = req.get("preset") or default_preset(cuda, data)
    if preset_name not in SWEEP_PRESETS:
        raise ConfigError(f"unknown preset {preset_name!r}; choose one of {', '.join(SWEEP_PRESETS)}")
    p = SWEEP_PRESETS[preset_name]
    given = lambda name, default: default if req.get(name) is None else req[name]  # noqa: E731 -- 0 is given
    for name in ("image_size", "batch_size", "synthetic_train", "synthetic_val"):
        if req.get(name) is not None and req[name] < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {req[name]}")
    model = model_preset(p.model, **({"image_size": req["image_size"]} if req.get("image_size") is not None else {}))
    batch = given("batch_size", p.batch_size)
    domains = tuple(req.get("domains") or ("dog", "cat"))
    syn_train = given("synthetic_train", p.synthetic_train)
    syn_val = given("synthetic_val", p.synthetic_val)
    n_source, _ = count_images(DataConfig(source=data, domains=domains, synthetic_train=syn_train,
                                          max_images=req.get("max_images")), "train")
    per_epoch = batches_per_epoch(n_source, batch)   # one epoch = one pass over the source domain
    if req.get("iters") is not None and req.get("scale") is not None:
        raise ConfigError("give --iters (the total per trial) or --scale (a share of the blog's 30 epochs), "
                          "not both")
    if req.get("iters") is not None:
        if req["iters"] < 1:
            raise ConfigError(f"--iters must be >= 1, got {req['iters']}")
        schedule = Schedule.for_iters(per_epoch, req["iters"])
    else:
        scale = req.get("scale") if req.get("scale") is not None else p.scale
        if not scale > 0:
            raise ConfigError(f"--scale must be > 0, got {scale}")
        schedule = Schedule(per_epoch, scale)
    iters = schedule.total
    eval_every = given("eval_every", max(1, iters // p.evals))
    if eval_every < 1:
        raise ConfigError(f"--eval-every must be >= 1, got {eval_every}")
    objective = parse_objective(req.get("objective"), data)
    protocol = dict(p.protocol)
    for key, name in (("eval_images", "n_val"), ("eval_styles", "n_styles"), ("eval_real", "n_real")):
        if req.get(key) is not None:
            protocol[name] = req[key]
    space = load_space(req.get("space")).in_iterations(schedule)
    for name in ("seeds", "eval_repeats"):
        if req.get(name) is not None and req[name] < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {req[name]}")
    lr = given("lr", p.lr)
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ConfigError(f"--lr must be a finite number > 0, got {lr}")
    return StudySettings(
        data=data, domains=domains, max_images=req.get("max_images"), synthetic_train=syn_train,
        synthetic_val=syn_val, preset=preset_name, model=asdict(model), batch_size=batch,
        lr=float(lr), precision=req.get("precision") or default_precision(cuda), seed=req.get("seed") or 0,
        epoch_iters=per_epoch, scale=schedule.scale, iters=iters, eval_every=eval_every,
        sample_every=max(1, iters // p.samples), checkpoint_every=max(1, iters // p.checkpoints),
        log_every=max(1, min(p.log_every, eval_every)), objective_keys=objective,
        metrics=_metric_names(objective, req.get("metrics"), data), protocol=protocol,
        space=space.to_dict(), seeds=req.get("seeds") or 1, eval_repeats=req.get("eval_repeats") or 1)


def default_precision(cuda: bool) -> str:
    """A new study's precision when --precision is not given: the CUDA default setting's (munit.fastpath), fp32
    elsewhere."""
    return cuda_default().precision if cuda else "fp32"


def stored_options(req: Mapping[str, Any], settings: StudySettings) -> dict[str, Any]:
    """What a study stores about the options that created it: those given, plus the preset and precision it
    resolved to (their defaults depend on the creating worker's device)."""
    out = {k: (list(v) if isinstance(v, tuple) else v) for k, v in req.items() if v is not None}
    out["preset"] = settings.preset
    out["precision"] = settings.precision
    out["objective"] = ",".join(settings.objective_keys)
    out["metrics"] = ",".join(settings.metrics)
    return out


def _differences(a: StudySettings, b: StudySettings) -> list[str]:
    def same(x: Any, y: Any) -> bool:
        if isinstance(x, float) or isinstance(y, float):
            return math.isclose(float(x), float(y), rel_tol=1e-9)
        return x == y
    return [f"{_stored_name(f.name)}={getattr(b, f.name)!r}" for f in fields(StudySettings)
            if not same(getattr(a, f.name), getattr(b, f.name))]


def check_same(req: Mapping[str, Any], stored: StudySettings, options: Mapping[str, Any], study_name: str,
               cuda: bool) -> None:
    """Refuse options that would change an existing study's settings: each given option is resolved together with
    the options the study was created with, and compared with what the study stores."""
    conflicts = []
    # studies stored before the precision was recorded with their options resolved it on their own device; the
    # objective and metrics a study resolved stay its own when the defaults change (fit/mean -> fitn/worst)
    options = {"precision": stored.precision, "objective": ",".join(stored.objective_keys),
               "metrics": ",".join(stored.metrics), **options}
    for name, value in req.items():
        if value is None:
            continue
        try:
            again = new_settings({**options, name: value}, cuda)
        except ConfigError as e:
            conflicts.append(f"--{name.replace('_', '-')} {_show(value)} ({e})")
            continue
        diff = _differences(again, stored)
        if diff:
            conflicts.append(f"--{name.replace('_', '-')} {_show(value)} (study: {', '.join(diff)})")
    if conflicts:
        raise ConfigError(f"study {study_name!r} already exists with other settings: {'; '.join(conflicts)}. "
                          "Leave these options out to continue it, or start a new study with --study-name")


def _show(v: Any) -> str:
    return " ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)


__all__ = ["StudySettings", "parse_objective", "new_settings", "default_precision", "stored_options",
           "check_same"]

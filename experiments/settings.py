"""What a study fixes for all its trials: data, model preset, optimiser, iteration counts, evaluation protocol,
objective and the search space. Stored in the study (user attr ``settings``) when it is created, so that every
worker and every later ``sweep.py`` on the same study trains the same way without repeating the options; an
option given again must agree with the stored value.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from munit.config import ConfigError
from munit.data import DataConfig, load_domains

from .presets import SWEEP_PRESETS, Schedule, epoch_iters
from .space import load_space

SYNTHETIC = "synthetic"


@dataclass(frozen=True)
class StudySettings:
    data: str
    domains: tuple[str, str]
    max_images: int | None
    synthetic_train: int
    synthetic_val: int
    preset: str
    image_size: int
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
    objective: tuple[str, ...]
    metrics: tuple[str, ...]
    protocol: dict[str, Any]  # munit.metrics.Protocol fields
    space: dict[str, Any]     # SearchSpace.to_dict(), lr_step in iterations

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.epoch_iters, self.scale)

    @property
    def synthetic(self) -> bool:
        return self.data == SYNTHETIC

    def data_config(self) -> DataConfig:
        return DataConfig(source=self.data, domains=self.domains, image_size=self.image_size,
                          synthetic_train=self.synthetic_train, synthetic_val=self.synthetic_val, seed=0,
                          max_images=self.max_images)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["domains"], d["objective"], d["metrics"] = list(self.domains), list(self.objective), list(self.metrics)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "StudySettings":
        d = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        missing = [f.name for f in fields(cls) if f.name not in d]
        if missing:
            raise ConfigError(f"the study's stored settings lack {', '.join(missing)} (made by another version?); "
                              "use a new --study-name")
        return cls(**{**d, "domains": tuple(d["domains"]), "objective": tuple(d["objective"]),
                      "metrics": tuple(d["metrics"])})


def parse_objective(text: str | None, synthetic: bool) -> tuple[str, ...]:
    """Metric keys from ``--objective`` ("fid/mean" or "fid/mean,lpips/mean"; a bare name means its mean)."""
    if not text:
        return ("content/mean",) if synthetic else ("fid/mean",)
    keys = []
    for k in (p.strip() for p in text.split(",") if p.strip()):
        keys.append(k if "/" in k else f"{k}/mean")
    if len(set(keys)) != len(keys):
        raise ConfigError(f"--objective lists a metric twice: {text}")
    return tuple(keys)


def _metric_names(objective: tuple[str, ...], extra: str | None, synthetic: bool) -> tuple[str, ...]:
    names = [k.split("/")[0] for k in objective]
    if extra is None:
        extra_names = ["content", "acc", "fcd"] if synthetic else ["acc", "fcd"]
    else:
        extra_names = [m.strip() for m in extra.split(",") if m.strip()]
    return tuple(dict.fromkeys(names + extra_names))


def _source_count(data: str, domains: tuple[str, str], max_images: int | None, synthetic_train: int) -> int:
    if data == SYNTHETIC:
        return min(synthetic_train, max_images) if max_images else synthetic_train
    train_a, _ = load_domains(DataConfig(source=data, domains=domains, image_size=32, max_images=max_images),
                              "train")
    return len(train_a)


def new_settings(req: Mapping[str, Any], cuda: bool) -> StudySettings:
    """Settings of a new study from the requested options (None = not given: the preset's default)."""
    data = req.get("data") or SYNTHETIC
    synthetic = data == SYNTHETIC
    preset_name = req.get("preset") or ("tiny" if synthetic else ("paper" if cuda else "small"))
    if preset_name not in SWEEP_PRESETS:
        raise ConfigError(f"unknown preset {preset_name!r}; choose one of {', '.join(SWEEP_PRESETS)}")
    p = SWEEP_PRESETS[preset_name]
    from munit.config import PRESETS
    image_size = req.get("image_size") or PRESETS[p.model].get("image_size", 256)
    batch = req.get("batch_size") or p.batch_size
    domains = tuple(req.get("domains") or ("dog", "cat"))
    syn_train = req.get("synthetic_train") or p.synthetic_train
    syn_val = req.get("synthetic_val") or p.synthetic_val
    n_source = _source_count(data, domains, req.get("max_images"), syn_train)
    per_epoch = epoch_iters(n_source, batch)
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
    eval_every = req.get("eval_every") or max(1, iters // p.evals)
    if eval_every < 1:
        raise ConfigError(f"--eval-every must be >= 1, got {eval_every}")
    objective = parse_objective(req.get("objective"), synthetic)
    protocol = dict(p.protocol)
    for key, name in (("eval_images", "n_val"), ("eval_styles", "n_styles"), ("eval_real", "n_real")):
        if req.get(key) is not None:
            protocol[name] = req[key]
    space = load_space(req.get("space")).in_iterations(schedule)
    return StudySettings(
        data=data, domains=domains, max_images=req.get("max_images"), synthetic_train=syn_train,
        synthetic_val=syn_val, preset=preset_name, image_size=image_size, batch_size=batch,
        lr=req.get("lr") or p.lr, precision=req.get("precision") or "fp32", seed=req.get("seed") or 0,
        epoch_iters=per_epoch, scale=schedule.scale, iters=iters, eval_every=eval_every,
        sample_every=max(1, iters // p.samples), checkpoint_every=max(1, iters // p.checkpoints),
        log_every=max(1, min(p.log_every, eval_every)), objective=objective,
        metrics=_metric_names(objective, req.get("metrics"), synthetic), protocol=protocol,
        space=space.to_dict())


# options that map one-to-one onto a stored setting (the others -- space, metrics, protocol -- are compared
# through what they resolve to)
_DIRECT = ("data", "max_images", "synthetic_train", "synthetic_val", "preset", "image_size", "batch_size", "lr",
           "precision", "seed", "iters", "scale", "eval_every")


def check_same(req: Mapping[str, Any], stored: StudySettings, study_name: str) -> None:
    """Refuse an option that contradicts the stored settings of an existing study."""
    def differs(a: Any, b: Any) -> bool:
        if isinstance(a, float) or isinstance(b, float):
            return not math.isclose(float(a), float(b), rel_tol=1e-9)
        return a != b

    conflicts = [f"--{k.replace('_', '-')} {req[k]} (study: {getattr(stored, k)})"
                 for k in _DIRECT if req.get(k) is not None and differs(req[k], getattr(stored, k))]
    if req.get("domains") and tuple(req["domains"]) != stored.domains:
        conflicts.append(f"--domains {' '.join(req['domains'])} (study: {' '.join(stored.domains)})")
    if req.get("objective") and parse_objective(req["objective"], stored.synthetic) != stored.objective:
        conflicts.append(f"--objective {req['objective']} (study: {','.join(stored.objective)})")
    if req.get("metrics") is not None and \
            _metric_names(stored.objective, req["metrics"], stored.synthetic) != stored.metrics:
        conflicts.append(f"--metrics {req['metrics']} (study: {','.join(stored.metrics)})")
    for key, name in (("eval_images", "n_val"), ("eval_styles", "n_styles"), ("eval_real", "n_real")):
        if req.get(key) is not None and req[key] != stored.protocol.get(name):
            conflicts.append(f"--{key.replace('_', '-')} {req[key]} (study: {stored.protocol.get(name)})")
    if req.get("space") and load_space(req["space"]).in_iterations(stored.schedule).to_dict() != stored.space:
        conflicts.append(f"--space {req['space']} (differs from the study's space)")
    if conflicts:
        raise ConfigError(f"study {study_name!r} already exists with other settings: {'; '.join(conflicts)}. "
                          "Leave these options out to continue it, or start a new study with --study-name")


__all__ = ["SYNTHETIC", "StudySettings", "parse_objective", "new_settings", "check_same"]

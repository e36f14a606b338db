"""The search space: which parameters a study explores and what each one sets (``sets: <config>.<field>`` of
LossWeights, TrainConfig or ModelConfig), defined once in ``space.yaml`` and overridable with ``--space``, so that
a swept hyperparameter is one entry there. Epoch-valued bounds are converted with the study's
:class:`~experiments.schedule.Schedule`, and the study stores the converted space: every worker and every resume
samples from the same distributions. The format: space.yaml's header and docs/sweeps.md, "Search space".
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from munit.config import ConfigError, LossWeights, ModelConfig, TrainConfig

from . import contract
from .schedule import Schedule

DEFAULT_SPACE_FILE = Path(__file__).with_name("space.yaml")
# what ``sets: <config>.<field>`` may name
TARGETS: dict[str, type] = {"weights": LossWeights, "train": TrainConfig, "model": ModelConfig}
# Fields a study fixes for all its trials (the option that sets each): its schedule, evaluation points, data and
# logged params derive from them, so a trial cannot change them.
STUDY_FIXED: dict[str, str] = {"train.iters": "--iters", "train.batch_size": "--batch-size", "train.seed": "--seed",
                               "model.image_size": "--image-size", "train.eval_every": "--eval-every",
                               "train.log_every": "--iters", "train.sample_every": "--iters",
                               "train.checkpoint_every": "--iters"}
UNITS = ("value", "iters", "epochs")
FIELDS = ("low", "high", "log", "step", "unit", "sets")


def _field_type(target: str) -> type:
    """The Python type of a target field ('train.lr_step' -> int); ConfigError for an unknown target."""
    config, _, name = target.partition(".")
    if config not in TARGETS or not name:
        raise ConfigError(f"sets: {target!r} must be <config>.<field> with <config> one of {', '.join(TARGETS)}")
    cls = TARGETS[config]
    hints = typing.get_type_hints(cls)
    if name not in hints:
        known = ", ".join(f.name for f in dataclasses.fields(cls))
        raise ConfigError(f"sets: {target!r}: {cls.__name__} has no field {name!r} (fields: {known})")
    t = hints[name]
    if t not in (int, float):
        raise ConfigError(f"sets: {target!r} is a {t} field; only numeric fields can be swept")
    return t


def _logged_target(name: str) -> str | None:
    """What a trial's MLflow param of this name records besides a swept parameter (experiments.contract), if
    anything: a parameter may take that name only to set that very target."""
    if name in contract.TRIAL_CONFIG_PARAMS:
        return contract.TRIAL_CONFIG_PARAMS[name]
    if name.startswith(contract.WEIGHT_PARAM_PREFIX):
        return f"weights.{name[len(contract.WEIGHT_PARAM_PREFIX):]}"
    if name in (*contract.TRIAL_STUDY_PARAMS, contract.PARAM_FAST_PATH, contract.PARAM_SEEDS):
        return "a study setting"
    return None


@dataclass(frozen=True)
class Param:
    """One swept parameter: a range, sampled uniformly, on a log scale, or on a grid of ``step``, and the config
    field it sets."""

    name: str
    low: float
    high: float
    sets: str
    log: bool = False
    step: float | None = None
    unit: str = "value"            # integer iteration counts: "epochs" (converted) or "iters"/"value" (as is)

    def __post_init__(self) -> None:
        where = f"search space parameter {self.name!r}"
        t = _field_type(self.sets)
        if self.sets in STUDY_FIXED:
            raise ConfigError(f"{where} sets {self.sets}, which a study fixes for all its trials; set it with "
                              f"{STUDY_FIXED[self.sets]} and run one study per value")
        logged_as = _logged_target(self.name)
        if logged_as is not None and logged_as != self.sets:
            raise ConfigError(f"{where}: a trial's MLflow param {self.name!r} is {logged_as}, not {self.sets}; "
                              "give the parameter another name")
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise ConfigError(f"{where}: needs finite low <= high, got low={self.low}, high={self.high}")
        if self.low < 0:
            raise ConfigError(f"{where}: loss weights, rates and step sizes are >= 0, got low={self.low}")
        if self.log and self.low <= 0:
            raise ConfigError(f"{where}: log: true needs low > 0 (use step: for a range that includes 0)")
        if self.log and self.step is not None:
            raise ConfigError(f"{where}: give log or step, not both")
        if self.step is not None and self.step <= 0:
            raise ConfigError(f"{where}: step must be > 0, got {self.step}")
        if self.unit not in UNITS:
            raise ConfigError(f"{where}: unit must be one of {', '.join(UNITS)}, got {self.unit!r}")
        if self.unit == "epochs" and t is not int:
            raise ConfigError(f"{where}: unit: epochs converts iteration counts; {self.sets} is not one")
        if t is int and self.unit != "epochs" and self.low < 1 and self.sets.startswith("train."):
            raise ConfigError(f"{where}: the iteration count {self.sets} is at least 1, got low={self.low}")

    @property
    def is_int(self) -> bool:
        return _field_type(self.sets) is int

    def contains(self, value: float) -> bool:
        if not self.low - 1e-9 * max(1.0, abs(self.low)) <= value <= self.high + 1e-9 * max(1.0, abs(self.high)):
            return False
        if self.step is None:
            return True
        k = (value - self.low) / self.step
        return abs(k - round(k)) < 1e-6

    def describe(self) -> str:
        how = " log" if self.log else (f" step {self.step:g}" if self.step else "")
        unit = " epochs" if self.unit == "epochs" else (" iters" if self.is_int and self.unit == "iters" else "")
        return f"{self.name} in [{self.low:g}, {self.high:g}]{how}{unit} -> {self.sets}"

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in FIELDS}


@dataclass(frozen=True)
class SearchSpace:
    params: dict[str, Param]

    @property
    def names(self) -> list[str]:
        return list(self.params)

    def sweeps(self, target: str) -> bool:
        """Whether a parameter sets ``target`` (e.g. ``train.lr``)."""
        return any(p.sets == target for p in self.params.values())

    def in_iterations(self, schedule: Schedule) -> "SearchSpace":
        """The space with epoch-valued bounds converted to iterations of ``schedule`` (rounded)."""
        out = {}
        for name, p in self.params.items():
            if p.unit == "epochs":
                low, high = schedule.iters(p.low), schedule.iters(p.high)
                step = None if p.step is None else max(1, round(p.step * schedule.epoch_iters * schedule.scale))
                p = Param(name, low, max(low, high), p.sets, p.log, step, "iters")
            out[name] = p
        return SearchSpace(out)

    def suggest(self, trial) -> dict[str, float | int]:
        """Draw (or, for an enqueued trial, read back) every parameter through the Optuna trial."""
        out: dict[str, float | int] = {}
        for name, p in self.params.items():
            if p.unit == "epochs":
                raise ConfigError("convert the space with in_iterations(schedule) before sampling")
            if p.is_int:
                out[name] = trial.suggest_int(name, int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
            else:
                out[name] = trial.suggest_float(name, p.low, p.high, log=p.log, step=p.step)
        return out

    def apply(self, params: Mapping[str, float], configs: Mapping[str, Any]) -> dict[str, Any]:
        """``configs`` ({"weights": LossWeights, "train": TrainConfig, "model": ModelConfig, ...}) with every
        parameter's value written into the field it ``sets`` (dataclasses.replace: configs validate again)."""
        changes: dict[str, dict[str, Any]] = {}
        for name, value in params.items():
            if name not in self.params:
                raise ConfigError(f"parameter {name!r} is not in the search space ({', '.join(self.params)})")
            p = self.params[name]
            config, _, fname = p.sets.partition(".")
            changes.setdefault(config, {})[fname] = int(value) if p.is_int else float(value)
        out = dict(configs)
        for config, kw in changes.items():
            if config not in out:
                raise ConfigError(f"no {config!r} config to set {', '.join(kw)} in")
            out[config] = dataclasses.replace(out[config], **kw)
        return out

    def values_of(self, configs: Mapping[str, Any]) -> dict[str, float | int]:
        """What each parameter's target holds in ``configs`` (e.g. the study's fixed lr, for an enqueued trial
        that does not choose it)."""
        out = {}
        for name, p in self.params.items():
            config, _, fname = p.sets.partition(".")
            v = getattr(configs[config], fname)
            out[name] = int(v) if p.is_int else float(v)
        return out

    def outside(self, params: Mapping[str, float]) -> list[str]:
        """Descriptions of the parameters whose value the space cannot produce (empty: all inside)."""
        return [f"{k}={v:g} is outside {self.params[k].describe()}" for k, v in params.items()
                if k in self.params and not self.params[k].contains(v)]

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {k: p.to_dict() for k, p in self.params.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Mapping[str, Any]]) -> "SearchSpace":
        return cls({k: _param(k, v, "a stored search space") for k, v in d.items()})

    def describe(self) -> str:
        return "; ".join(p.describe() for p in self.params.values())


def _param(name: str, entry: Mapping[str, Any], where: str) -> Param:
    unknown = set(entry) - set(FIELDS)
    if unknown:
        raise ConfigError(f"bad search space entry {name!r} in {where}: unknown field(s) "
                          f"{', '.join(sorted(unknown))} (fields: {', '.join(FIELDS)})")
    for f in ("low", "high", "sets"):
        if f not in entry:
            raise ConfigError(f"search space entry {name!r} in {where} lacks {f!r} (needs low, high, sets)")
    try:
        kw = {k: v for k, v in entry.items()}
        kw["low"], kw["high"] = float(kw["low"]), float(kw["high"])
        if kw.get("step") is not None:
            kw["step"] = float(kw["step"])
        if not isinstance(kw.get("log", False), bool):
            raise ValueError(f"log must be true or false, got {kw['log']!r}")
        if not isinstance(kw["sets"], str):
            raise ValueError(f"sets must be a string like weights.cyc, got {kw['sets']!r}")
    except (TypeError, ValueError) as e:
        raise ConfigError(f"bad search space entry {name!r} in {where}: {e}") from None
    return Param(name, **kw)


PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"search space file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"search space file {path} is not UTF-8 text (byte {e.start}: {e.reason})") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml
            data = yaml.safe_load(text)
    except Exception as e:  # yaml.YAMLError, json.JSONDecodeError: say where, in one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"search space file {path} is not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}"
                          f": {first}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError(f"search space file {path} must map parameter names to {{low, high, sets, ...}}")
    for name in data:
        if not (isinstance(name, str) and PARAM_NAME.fullmatch(name)):
            raise ConfigError(f"search space file {path}: parameter name {name!r} must be letters, digits and "
                              "'_', not starting with a digit (e.g. lambda_x)")
    return data


def load_space(path: str | Path | None = None) -> SearchSpace:
    """The default space (space.yaml), with the parameters of ``path`` (YAML or JSON) replacing their defaults
    field by field (``lambda_cyc: {high: 5}`` keeps the default's other fields). A new parameter needs ``sets``."""
    base = _read(DEFAULT_SPACE_FILE)
    if path is not None:
        for name, entry in _read(Path(path)).items():
            if name not in base and "sets" not in entry:
                raise ConfigError(f"unknown parameter {name!r} in {path}; the swept parameters are "
                                  f"{', '.join(base)} (a new one needs sets: <config>.<field>)")
            base[name] = {**base.get(name, {}), **entry}
    where = str(path) if path is not None else str(DEFAULT_SPACE_FILE)
    return SearchSpace({name: _param(name, entry, where) for name, entry in base.items()})


__all__ = ["Param", "SearchSpace", "load_space", "DEFAULT_SPACE_FILE", "TARGETS", "STUDY_FIXED"]

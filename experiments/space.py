"""The search space: the loss weights and the StepLR step a study explores, defined once in ``space.yaml`` and
overridable from a YAML/JSON file (``--space``).

``lr_step`` reaches Optuna as an integer number of iterations, because that is what the trainer uses and what a
trial's params must say; its bounds may be written in epochs of the blog's protocol and are converted with the
study's :class:`~experiments.presets.Schedule` (:meth:`SearchSpace.in_iterations`). A study stores the converted
space, so every worker and every resume samples from the same distributions.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

from munit.config import ConfigError

from .presets import Schedule

PARAMS = ("lambda_x", "lambda_s", "lambda_c", "lambda_cyc", "lr_step")
INT_PARAMS = ("lr_step",)
DEFAULT_SPACE_FILE = Path(__file__).with_name("space.yaml")
UNITS = ("value", "epochs", "iters")


@dataclass(frozen=True)
class Param:
    """One swept parameter: a range, sampled uniformly, on a log scale, or on a grid of ``step``."""

    name: str
    low: float
    high: float
    log: bool = False
    step: float | None = None
    unit: str = "value"            # lr_step only: "epochs" (converted) or "iters"

    def __post_init__(self) -> None:
        where = f"search space parameter {self.name!r}"
        if self.name not in PARAMS:
            raise ConfigError(f"unknown {where}; the swept parameters are {', '.join(PARAMS)}")
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise ConfigError(f"{where}: needs finite low <= high, got low={self.low}, high={self.high}")
        if self.low < 0:
            raise ConfigError(f"{where}: loss weights and step sizes are >= 0, got low={self.low}")
        if self.log and self.low <= 0:
            raise ConfigError(f"{where}: log: true needs low > 0 (use step: for a range that includes 0)")
        if self.log and self.step is not None:
            raise ConfigError(f"{where}: give log or step, not both")
        if self.step is not None and self.step <= 0:
            raise ConfigError(f"{where}: step must be > 0, got {self.step}")
        if self.unit not in UNITS or (self.unit != "value") != (self.name in INT_PARAMS):
            allowed = "epochs or iters" if self.name in INT_PARAMS else "value (the default)"
            raise ConfigError(f"{where}: unit must be {allowed}, got {self.unit!r}")
        if self.name == "lr_step" and self.unit == "iters" and self.low < 1:
            raise ConfigError(f"{where}: the StepLR step is at least 1 iteration, got low={self.low}")

    def contains(self, value: float) -> bool:
        if not self.low - 1e-9 <= value <= self.high + 1e-9:
            return False
        if self.step is None:
            return True
        k = (value - self.low) / self.step
        return abs(k - round(k)) < 1e-6

    def describe(self) -> str:
        how = " log" if self.log else (f" step {self.step:g}" if self.step else "")
        unit = f" {self.unit}" if self.unit != "value" else ""
        return f"{self.name} in [{self.low:g}, {self.high:g}]{how}{unit}"


@dataclass(frozen=True)
class SearchSpace:
    params: dict[str, Param]

    def in_iterations(self, schedule: Schedule) -> "SearchSpace":
        """The space with ``lr_step`` bounds in iterations of ``schedule`` (epochs converted, rounded)."""
        p = self.params["lr_step"]
        if p.unit == "epochs":
            low, high = schedule.iters(p.low), schedule.iters(p.high)
            step = None if p.step is None else max(1, round(p.step * schedule.epoch_iters * schedule.scale))
            p = Param("lr_step", low, max(low, high), p.log, step, "iters")
        return SearchSpace({**self.params, "lr_step": p})

    def suggest(self, trial) -> dict[str, float | int]:
        """Draw (or, for an enqueued trial, read back) every parameter through the Optuna trial."""
        out: dict[str, float | int] = {}
        for name in PARAMS:
            p = self.params[name]
            if name in INT_PARAMS:
                if p.unit != "iters":
                    raise ConfigError("convert the space with in_iterations(schedule) before sampling")
                out[name] = trial.suggest_int(name, int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
            else:
                out[name] = trial.suggest_float(name, p.low, p.high, log=p.log, step=p.step)
        return out

    def outside(self, params: Mapping[str, float]) -> list[str]:
        """Descriptions of the parameters whose value the space cannot produce (empty: all inside)."""
        return [f"{k}={v:g} is outside {self.params[k].describe()}" for k, v in params.items()
                if k in self.params and not self.params[k].contains(v)]

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {k: {f: v for f, v in asdict(p).items() if f != "name"} for k, p in self.params.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Mapping[str, Any]]) -> "SearchSpace":
        return cls({k: Param(k, **dict(v)) for k, v in d.items()})

    def describe(self) -> str:
        return "; ".join(self.params[k].describe() for k in PARAMS)


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"search space file not found: {path}")
    text = path.read_text()
    if path.suffix.lower() == ".json":
        data = json.loads(text)
    else:
        import yaml
        data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ConfigError(f"search space file {path} must map parameter names to {{low, high, ...}}")
    return data


def load_space(path: str | Path | None = None) -> SearchSpace:
    """The default space (space.yaml), with the parameters of ``path`` (YAML or JSON) replacing their defaults.
    A partial entry (e.g. ``lambda_cyc: {high: 5}``) keeps the default's other fields."""
    base = _read(DEFAULT_SPACE_FILE)
    if path is not None:
        for name, entry in _read(Path(path)).items():
            if name not in PARAMS:
                raise ConfigError(f"unknown parameter {name!r} in {path}; the swept parameters are "
                                  f"{', '.join(PARAMS)}")
            if not isinstance(entry, dict):
                raise ConfigError(f"{path}: {name} must be a mapping like {{low: 1, high: 20, log: true}}")
            base[name] = {**base.get(name, {}), **entry}
    try:
        return SearchSpace({name: Param(name, **{k: (float(v) if k in ("low", "high") else v)
                                                 for k, v in base[name].items()})
                            for name in PARAMS})
    except TypeError as e:  # an unknown field in an entry
        raise ConfigError(f"bad search space entry: {e} (fields: low, high, log, step, unit)") from None


__all__ = ["PARAMS", "Param", "SearchSpace", "load_space", "DEFAULT_SPACE_FILE"]

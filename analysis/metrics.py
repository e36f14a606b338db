"""What the tracked keys mean: which metrics exist, which way is better, and how to label their axes.

Kept in one place so the table's "best" column, the sort order and every figure's axis agree.
Keys follow docs/tracking.md (``<metric>/<direction>``, ``loss/<name>``).
"""
from __future__ import annotations

# evaluation metrics in table order; True = higher is better
HIGHER_IS_BETTER: dict[str, bool] = {"fid": False, "fcd": False, "lpips": True, "acc": True, "content": False}
EVAL_METRICS: tuple[str, ...] = tuple(HIGHER_IS_BETTER)
DIRECTIONS: tuple[str, ...] = ("a2b", "b2a", "mean")
SWEPT_PARAMS: tuple[str, ...] = ("lambda_x", "lambda_s", "lambda_c", "lambda_cyc", "lr_step")
INT_PARAMS: frozenset[str] = frozenset({"lr_step"})
LOSS_KEYS: tuple[str, ...] = ("loss/d", "loss/g", "loss/g_adv", "loss/x", "loss/s", "loss/c", "loss/cyc",
                              "loss/vgg")
TRAINING_KEYS: tuple[str, ...] = LOSS_KEYS + ("lr", "it_per_s")

_UNITS: dict[str, str] = {
    "fid": "FID (Inception features)",
    "fcd": "Fréchet distance (classifier features)",
    "lpips": "LPIPS distance",
    "acc": "accuracy (fraction)",
    "content": "1 − IoU",
    "loss/d": "LSGAN loss",
    "loss/g": "weighted total",
    "loss/g_adv": "LSGAN loss",
    "loss/x": "L1",
    "loss/s": "L1",
    "loss/c": "L1",
    "loss/cyc": "L1",
    "loss/vgg": "perceptual distance",
    "lr": "learning rate",
    "it_per_s": "iterations / s",
}


def metric_of(key: str) -> str:
    """'fid/a2b' -> 'fid'; 'acc/classifier_val' -> 'acc'."""
    return key.split("/", 1)[0]


def higher_is_better(key: str) -> bool | None:
    """Direction of a key or column ('fid/mean best', 'acc', 'it_per_s'); None when it has no 'better'."""
    base = key.split(" ", 1)[0]
    if base == "it_per_s":
        return True
    if base == "wall_s":
        return False
    return HIGHER_IS_BETTER.get(metric_of(base))


def unit(key: str) -> str:
    """Axis label for a key: its unit and which way is better."""
    label = _UNITS.get(key) or _UNITS.get(metric_of(key), key)
    hib = higher_is_better(key) if not key.startswith("loss/") else None
    return f"{label} {'↑' if hib else '↓'}" if hib is not None else label


def eval_keys(metric: str) -> list[str]:
    return [f"{metric}/{d}" for d in DIRECTIONS]


__all__ = ["HIGHER_IS_BETTER", "EVAL_METRICS", "DIRECTIONS", "SWEPT_PARAMS", "INT_PARAMS", "LOSS_KEYS",
           "TRAINING_KEYS", "metric_of", "higher_is_better", "unit", "eval_keys"]

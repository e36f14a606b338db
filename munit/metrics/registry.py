"""The metric registry: name -> :class:`MetricSpec` (one module per metric)."""
from __future__ import annotations

from typing import Sequence

from . import acc, content, fcd, fid, lpips
from .errors import MetricError
from .protocol import MetricSpec

METRICS: dict[str, MetricSpec] = {s.name: s for s in (fid.SPEC, lpips.SPEC, acc.SPEC, fcd.SPEC, content.SPEC)}


def specs(names: Sequence[str] | str) -> list[MetricSpec]:
    """Validate metric names (a list or a comma-separated string), keep their order, drop duplicates."""
    if isinstance(names, str):
        names = [n for n in names.split(",")]
    out: list[MetricSpec] = []
    for raw in names:
        n = raw.strip().lower()
        if not n:
            continue
        if n not in METRICS:
            raise MetricError(f"unknown metric {raw!r}; choose from {', '.join(METRICS)}")
        if METRICS[n] not in out:
            out.append(METRICS[n])
    if not out:
        raise MetricError(f"no metrics requested; choose from {', '.join(METRICS)}")
    return out


__all__ = ["METRICS", "specs"]

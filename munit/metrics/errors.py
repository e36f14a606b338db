"""The one exception type of the metrics package, so callers (CLI, sweeps) can turn it into a one-line error."""
from __future__ import annotations


class MetricError(RuntimeError):
    """A metric that cannot be computed as asked: an unknown name, missing backbone weights (the message names
    the file, its URL, the option that supplies it and where to put it), too few images, a dataset the metric
    does not apply to."""


__all__ = ["MetricError"]

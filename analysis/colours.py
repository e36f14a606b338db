"""One colour per trial, derived from the trial number alone, so trial 7 is the same colour in every figure
of every report (and a figure made later, with more trials, does not repaint the old ones)."""
from __future__ import annotations

from matplotlib import colormaps
from matplotlib.colors import to_hex

# tab20's strong shades first, then its light ones: the first ten trials get ten clearly distinct colours
_ORDER = [*range(0, 20, 2), *range(1, 20, 2)]


def trial_colour(number: int) -> str:
    """Hex colour of Optuna trial ``number``."""
    return to_hex(colormaps["tab20"](_ORDER[int(number) % 20]))


STATUS_LINESTYLE: dict[str, str] = {"complete": "-", "pruned": "--", "failed": ":", "running": "-."}


__all__ = ["trial_colour", "STATUS_LINESTYLE"]

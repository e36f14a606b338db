"""A study's iteration counts: the blog's protocol (30 epochs of the source domain) in iterations of this data and
batch, times one ``scale``. Its own module because the search space (epoch-valued bounds) and the presets (the
blog's StepLR steps) both convert with it."""
from __future__ import annotations

from dataclasses import dataclass

BLOG_EPOCHS = 30


@dataclass(frozen=True)
class Schedule:
    """Iteration counts of a study: the blog's epochs, measured in iterations of this data and batch, times
    ``scale``."""

    epoch_iters: int     # munit.data.batches_per_epoch of the source domain's train set at the study's batch
    scale: float = 1.0

    def iters(self, epochs: float) -> int:
        """``epochs`` of the (scaled) protocol in iterations, at least 1."""
        return max(1, round(epochs * self.epoch_iters * self.scale))

    @property
    def total(self) -> int:
        return self.iters(BLOG_EPOCHS)

    @classmethod
    def for_iters(cls, epoch_iters: int, iters: int) -> "Schedule":
        """The schedule whose 30 epochs are ``iters`` iterations (what ``--iters`` means)."""
        return cls(epoch_iters, iters / (BLOG_EPOCHS * epoch_iters))


__all__ = ["BLOG_EPOCHS", "Schedule"]

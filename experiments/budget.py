"""``--trials N``: the study's total number of trials, shared by all its workers.

A trial counts once it has started (RUNNING, COMPLETE, PRUNED or FAIL), except

* a trial whose worker died or was interrupted: it is retried as a new trial (``retry_history``) and only the
  retry counts;
* a trial a worker asked for although the budget was already taken (two workers racing for the last slot): it
  is closed at once as FAIL with user attr ``skipped`` and never trained.

So a rerun of a finished study runs nothing, a rerun with a larger N adds the difference, and K workers
together run exactly N trials.
"""
from __future__ import annotations

from typing import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from .contract import ATTR_RETRY_HISTORY, ATTR_SKIPPED


def retried_numbers(trials: Sequence[FrozenTrial]) -> set[int]:
    """Numbers of the trials that have been replaced by a retry."""
    return {n for t in trials for n in t.system_attrs.get(ATTR_RETRY_HISTORY, ())}


def counted(trials: Sequence[FrozenTrial], waiting: bool = False) -> list[FrozenTrial]:
    """The trials that use up the budget (``waiting``: also the queued ones)."""
    gone = retried_numbers(trials)
    return [t for t in trials
            if (waiting or t.state != TrialState.WAITING) and t.number not in gone
            and not t.user_attrs.get(ATTR_SKIPPED)]


class TrialBudget:
    """Stops a worker's ``study.optimize`` loop once the study has N counted trials (an Optuna callback), and
    tells a freshly asked trial whether it is within the budget."""

    def __init__(self, n_trials: int):
        self.n_trials = n_trials

    def used(self, study: optuna.Study) -> int:
        return len(counted(study.get_trials(deepcopy=False)))

    def remaining(self, study: optuna.Study) -> int:
        return max(0, self.n_trials - self.used(study))

    def admits(self, study: optuna.Study, number: int) -> bool:
        """Whether trial ``number`` (just asked) is within the budget: fewer than N counted or queued trials
        come before it. Trial numbers are assigned atomically by the storage, so racing workers agree."""
        ahead = [t for t in counted(study.get_trials(deepcopy=False), waiting=True) if t.number < number]
        return len(ahead) < self.n_trials

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self.remaining(study) == 0:
            study.stop()


__all__ = ["retried_numbers", "counted", "TrialBudget"]

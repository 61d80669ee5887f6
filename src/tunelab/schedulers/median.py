"""Median stopping (``early_stopping: auto``, SageMaker's rule).

At each step, a trial whose objective is worse than the median of the *running averages* of
earlier trials at that step is stopped, once it is past a grace period and enough earlier trials
have reached that step. A running average of a trial at step ``s`` is the mean of its objective
over steps ``1..s``; averaging smooths noisy curves, so a trial is compared with the typical
path of its predecessors rather than with their luckiest epoch.

The rule only looks at reported values, so it works with any strategy. It is a pure function of
the history: a restarted tuner takes the same decisions.

    >>> s = MedianStoppingScheduler(goal="maximize", grace_period=2, min_trials=3)
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import ClassVar

from tunelab.schedulers.base import Scheduler
from tunelab.schedulers.bookkeeping import Budget
from tunelab.trial import Decision, Goal, History, TrialState, TrialView, is_better

_IGNORED = (TrialState.FAILED, TrialState.TIMED_OUT)


def running_average(trial: TrialView, step: int) -> float | None:
    """Mean objective of ``trial`` over its steps ``<= step``, if it reached ``step``."""
    by_step: dict[int, float] = {}
    for s, v in trial.values:  # a re-run after a crash may repeat steps: the last one counts
        by_step[s] = v
    if step not in by_step:
        return None
    vals = [v for s, v in by_step.items() if s <= step]
    return sum(vals) / len(vals)


class MedianStoppingScheduler(Scheduler):
    """Stops a trial worse than the median running average of earlier trials at its step.

    Args:
        goal: ``minimize`` or ``maximize`` (the objective's goal).
        grace_period: no trial is stopped before this step (default 1: from the first report).
        min_trials: earlier trials that must have reached the step before the rule applies.
        max_epochs: optional budget in epochs summed over all trials; trials stop, and no new
            ones start, once it is spent.
    """

    name: ClassVar[str] = "median"

    def __init__(
        self,
        *,
        goal: Goal = "minimize",
        grace_period: int = 1,
        min_trials: int = 3,
        max_epochs: int | None = None,
        seed: int | None = None,  # unused: the rule is deterministic
    ) -> None:
        self.goal: Goal = goal
        self.grace_period = grace_period
        self.min_trials = min_trials
        self.max_epochs = max_epochs
        self._budget = Budget()

    def on_report(
        self, trial: TrialView, step: int, metrics: Mapping[str, float], history: History
    ) -> Decision:
        if not self._budget.allows(history, self.max_epochs, besides=trial.number):
            return Decision.stop(f"epoch budget ({self.max_epochs}) spent")
        if step < self.grace_period or not trial.values or trial.values[-1][0] != step:
            return Decision.cont()
        value = trial.values[-1][1]
        averages = [
            a for t in history.trials
            if t.number < trial.number and t.state not in _IGNORED
            and (a := running_average(t, step)) is not None
        ]
        if len(averages) < self.min_trials:
            return Decision.cont()
        median = statistics.median(averages)
        if is_better(median, value, self.goal):
            return Decision.stop(
                f"objective {value:.4g} at step {step} is worse than the median {median:.4g} "
                f"of {len(averages)} earlier trials' running averages"
            )
        return Decision.cont()

    def accepts_new_trials(self, history: History) -> bool:
        return self._budget.allows(history, self.max_epochs)

    def finished(self, history: History) -> str | None:
        return self._budget.spent(history, self.max_epochs)

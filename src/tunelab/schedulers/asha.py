"""Hyperband as asynchronous successive halving in brackets (ASHA, Li et al. 2020).

Resources are epochs. Bracket ``b`` has rungs at ``min_resource * eta**(b + k)`` epochs
(``k = 0, 1, ...``, below ``max_resource``), then ``max_resource``. When a trial reports at a
rung it continues if it is in the top ``1/eta`` of the trials that reached that rung so far;
otherwise it PAUSEs at its checkpoint. Whenever a slot is free, :meth:`next_resume` promotes the
best paused trial that has since entered the top ``1/eta`` of its rung (highest rung first): it
resumes from its own checkpoint, never from scratch. Trials never promoted stay paused.

Each trial's bracket is drawn from ``(seed, trial number)`` with Hyperband's bracket sizes as
weights; ``brackets: 1`` (the default) is plain ASHA, the most aggressive bracket. Everything is
derived from the history, so a restarted tuner promotes nobody twice. The rungs are kept in
step with the history trial by trial (:mod:`tunelab.schedulers.rungs`), not rescanned at each
report: a decision costs the same at trial 10,000 as at trial 10.

    >>> s = HyperbandScheduler(min_resource=1, max_resource=27, reduction_factor=3)
    >>> s.rungs(0)
    [1, 3, 9, 27]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import ClassVar

import numpy as np

from tunelab.schedulers.base import Resume, Scheduler
from tunelab.schedulers.bookkeeping import Budget
from tunelab.schedulers.rungs import Rungs
from tunelab.trial import Decision, Goal, History, TrialView


class HyperbandScheduler(Scheduler):
    """ASHA / asynchronous Hyperband with promotion from checkpoints.

    Args:
        min_resource: epochs of the first rung (SageMaker's MinResource), >= 1.
        max_resource: epochs of a full trial (SageMaker's MaxResource); the objective should
            train for this many epochs. A trial reporting past it is stopped.
        reduction_factor: ``eta``: the top ``1/eta`` of each rung is promoted (default 3).
        brackets: how many Hyperband brackets (1 = ASHA; at most ``s_max + 1``).
        goal: ``minimize`` or ``maximize``.
        seed: draws each trial's bracket.
        max_epochs: optional budget in epochs over all trials.
    """

    name: ClassVar[str] = "hyperband"
    needs_checkpoints: ClassVar[bool] = True

    def __init__(
        self,
        *,
        min_resource: int = 1,
        max_resource: int,
        reduction_factor: int = 3,
        brackets: int = 1,
        goal: Goal = "minimize",
        seed: int | None = None,
        max_epochs: int | None = None,
    ) -> None:
        self.min_resource = int(min_resource)
        self.max_resource = int(max_resource)
        self.eta = int(reduction_factor)
        self.s_max = self.max_brackets(self.min_resource, self.max_resource, self.eta) - 1
        self.brackets = int(brackets)
        self.goal: Goal = goal
        self.seed = 0 if seed is None else int(seed)
        self.max_epochs = max_epochs
        s = self.s_max
        weights = np.array(
            [(s + 1) / (s - b + 1) * self.eta ** (s - b) for b in range(self.brackets)]
        )
        self._p = weights / weights.sum()
        self._bracket = lru_cache(maxsize=None)(self._draw_bracket)
        self._budget = Budget()
        self._rungs = Rungs(self.bracket_of, lru_cache(maxsize=None)(self.rungs), self.eta)

    @staticmethod
    def max_brackets(min_resource: int, max_resource: int, eta: int) -> int:
        """``s_max + 1``: the number of distinct brackets for these resources."""
        return math.floor(math.log(max_resource / min_resource) / math.log(eta) + 1e-9) + 1

    # the rungs --------------------------------------------------------------------------------
    def rungs(self, bracket: int) -> list[int]:
        """Milestones (epochs) of ``bracket``, the last one being ``max_resource``."""
        out: list[int] = []
        k = bracket
        while (m := self.min_resource * self.eta**k) < self.max_resource:
            out.append(m)
            k += 1
        return [*out, self.max_resource]

    def _draw_bracket(self, number: int) -> int:
        if self.brackets == 1:
            return 0
        rng = np.random.default_rng([self.seed, number])
        return int(rng.choice(self.brackets, p=self._p))

    def bracket_of(self, number: int) -> int:
        """The bracket of trial ``number`` (a function of the seed and the number)."""
        b: int = self._bracket(number)
        return b

    # decisions --------------------------------------------------------------------------------
    def on_report(
        self, trial: TrialView, step: int, metrics: Mapping[str, float], history: History
    ) -> Decision:
        if not self._budget.allows(history, self.max_epochs, besides=trial.number):
            return Decision.stop(f"epoch budget ({self.max_epochs}) spent")
        if step > self.max_resource:
            return Decision.stop(f"reached max_resource ({self.max_resource} epochs)")
        bracket = self.bracket_of(trial.number)
        if step not in self.rungs(bracket)[:-1] or not trial.values \
                or trial.values[-1][0] != step:
            return Decision.cont()
        if any(s > step for s, _ in trial.values[:-1]):
            return Decision.cont()  # promoted from this rung before (a re-run after a crash)
        self._rungs.sync(history)
        key = (bracket, step)
        if self._rungs.in_top(key, trial.number):
            return Decision.cont()
        n = self._rungs.size(key)
        return Decision.pause(
            f"rung {step}: not in the top {n // self.eta} of {n} (yet); waits for promotion"
        )

    def next_resume(self, history: History) -> Resume | None:
        if not self._budget.allows(history, self.max_epochs):
            return None
        self._rungs.sync(history)
        cand = self._rungs.promotable()
        if cand is None:
            return None
        (_, number), (_, m) = cand
        n = self._rungs.size(cand[1])
        t = history.by_number(number)
        ck = max((c for c in t.checkpoints if c <= m), default=0)
        return Resume(number, ck, reason=f"promoted from rung {m}: in the top 1/{self.eta} of {n}")

    def accepts_new_trials(self, history: History) -> bool:
        return self._budget.allows(history, self.max_epochs)

    def finished(self, history: History) -> str | None:
        return self._budget.spent(history, self.max_epochs)

    def protected_checkpoints(self, history: History) -> set[tuple[int, int]]:
        """Each paused trial's checkpoint at its rung: a promotion resumes from it."""
        self._rungs.sync(history)
        return set(self._rungs.protected.items())

    def protected_steps(self, history: History, number: int) -> set[int]:
        self._rungs.sync(history)
        ck = self._rungs.protected.get(number)
        return set() if ck is None else {ck}

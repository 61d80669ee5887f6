"""Hyperband as asynchronous successive halving in brackets (ASHA, Li et al. 2020).

Resources are epochs. Bracket ``b`` has rungs at ``min_resource * eta**(b + k)`` epochs
(``k = 0, 1, ...``, below ``max_resource``), then ``max_resource``. When a trial reports at a
rung it continues if it is in the top ``1/eta`` of the trials that reached that rung so far;
otherwise it PAUSEs at its checkpoint. Whenever a slot is free, :meth:`next_resume` promotes the
best paused trial that has since entered the top ``1/eta`` of its rung (highest rung first): it
resumes from its own checkpoint, never from scratch. Trials never promoted stay paused.

Each trial's bracket is drawn from ``(seed, trial number)`` with Hyperband's bracket sizes as
weights; ``brackets: 1`` (the default) is plain ASHA, the most aggressive bracket. Everything is
derived from the history, so a restarted tuner promotes nobody twice.

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

from tunelab.schedulers.base import Resume, Scheduler, budget_allows, budget_spent
from tunelab.trial import Decision, Goal, History, TrialState, TrialView

_IGNORED = (TrialState.FAILED, TrialState.TIMED_OUT)


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

    def _rung_values(self, history: History, bracket: int, milestone: int) -> dict[int, float]:
        """Objective at ``milestone`` of every trial of ``bracket`` that reached it."""
        out: dict[int, float] = {}
        for t in history.trials:
            if t.state in _IGNORED or self.bracket_of(t.number) != bracket:
                continue
            for s, v in t.values:
                if s == milestone:
                    out[t.number] = v  # the last report at that step counts
        return out

    def _top(self, values: Mapping[int, float], sign: float) -> list[int]:
        """The trials in the top ``floor(n / eta)`` of a rung, best first."""
        k = len(values) // self.eta
        ranked = sorted(values, key=lambda n: (sign * values[n], n))
        return ranked[:k]

    # decisions --------------------------------------------------------------------------------
    def on_report(
        self, trial: TrialView, step: int, metrics: Mapping[str, float], history: History
    ) -> Decision:
        if not budget_allows(history, self.max_epochs, besides=trial.number):
            return Decision.stop(f"epoch budget ({self.max_epochs}) spent")
        if step > self.max_resource:
            return Decision.stop(f"reached max_resource ({self.max_resource} epochs)")
        rungs = self.rungs(self.bracket_of(trial.number))
        if step not in rungs[:-1] or not trial.values or trial.values[-1][0] != step:
            return Decision.cont()
        if any(s > step for s, _ in trial.values[:-1]):
            return Decision.cont()  # promoted from this rung before (a re-run after a crash)
        values = self._rung_values(history, self.bracket_of(trial.number), step)
        top = self._top(values, history.sign())
        if trial.number in top:
            return Decision.cont()
        return Decision.pause(
            f"rung {step}: not in the top {len(top)} of {len(values)} (yet); waits for promotion"
        )

    def _promotable(self, history: History) -> list[tuple[int, float, int, int, int]]:
        """(-milestone, signed value, number, milestone, top size) of paused promotable trials."""
        sign = history.sign()
        out = []
        for b in range(self.brackets):
            for m in self.rungs(b)[:-1]:
                values = self._rung_values(history, b, m)
                top = self._top(values, sign)
                for n in top:
                    t = history.by_number(n)
                    if t.state is TrialState.PAUSED and t.last_step == m:
                        out.append((-m, sign * values[n], n, m, len(values)))
        return sorted(out)

    def next_resume(self, history: History) -> Resume | None:
        if not budget_allows(history, self.max_epochs):
            return None
        cands = self._promotable(history)
        if not cands:
            return None
        _, _, number, m, n = cands[0]
        t = history.by_number(number)
        ck = max((c for c in t.checkpoints if c <= m), default=0)
        return Resume(number, ck, reason=f"promoted from rung {m}: in the top 1/{self.eta} of {n}")

    def accepts_new_trials(self, history: History) -> bool:
        return budget_allows(history, self.max_epochs)

    def finished(self, history: History) -> str | None:
        return budget_spent(history, self.max_epochs)

    def protected_checkpoints(self, history: History) -> set[tuple[int, int]]:
        """Each paused trial's checkpoint at its rung: a promotion resumes from it."""
        out: set[tuple[int, int]] = set()
        for t in history.trials:
            if t.state is TrialState.PAUSED and t.last_step is not None:
                ck = max((c for c in t.checkpoints if c <= t.last_step), default=None)
                if ck is not None:
                    out.add((t.number, ck))
        return out

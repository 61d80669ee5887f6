"""Population Based Training (Jaderberg et al. 2017): learn hyperparameters and weights together.

A population of ``population`` trials trains side by side. Every ``perturbation_interval`` epochs
(after ``burn_in``), a member is ranked against the others by its objective at that step (the
others' latest value at or before it). A member in the bottom ``quantile`` *exploits* a random
top-``quantile`` member that has a checkpoint and is still training (a finished member's copy
would have nothing left to train): it continues from the donor's latest checkpoint with the
donor's hyperparameters, then *explores* them: each numeric parameter is multiplied by
one of ``perturbation_factors`` (or, with ``resample_probability``, drawn afresh), clipped to its
declared range; a choice moves to a neighbouring value or is resampled.

When there are fewer slots than members, two ways to share them (``synchronous``):

* **synchronous** (``True``): a member that reaches an interval while others lag behind PAUSEs
  (its ranking would be unfair, and the lagging members need the slot); the exploit decision is
  then taken when it is resumed, with the whole population at or past that step. The members
  advance in lockstep: after a third of the budget every member has trained a third of its
  epochs.
* **asynchronous** (``False``, the default): the leaders train ahead. Once every member has
  trained its first interval (until then none resumes, so the first ranking is the same
  whatever order the reports came in), a free slot goes to a member due to exploit (it copies
  a leader's *latest* checkpoint, so it jumps ahead to the leader's step with explored
  hyperparameters), else to the paused member with the best latest value; a member at an
  interval pauses only for a paused member with a better value. Members are still ranked
  against those within an interval of their step, and a copy never goes back behind the
  member's own step. Epochs go to the promising lineages (as in the asynchronous, generalised
  PBT of Li et al. 2019), so a fully trained good model comes much sooner; members that fall
  behind wait, and train again when the leaders finish.

Every decision is a pure function of ``(seed, options, history)``: the random draws of the
decision for member ``n`` at step ``s`` come from ``numpy.random.default_rng([seed, n, s])``.

    >>> from tunelab.space import Float, SearchSpace
    >>> s = PBTScheduler(SearchSpace({"lr": Float(1e-4, 1, scale="log")}), population=8)
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from tunelab.schedulers.base import Resume, Scheduler
from tunelab.schedulers.bookkeeping import Budget
from tunelab.schedulers.population import Population
from tunelab.space import Choice, Float, Int, ParamValue, SearchSpace
from tunelab.trial import Action, Decision, Goal, History, TrialView


def explore(
    params: Mapping[str, ParamValue],
    space: SearchSpace,
    rng: np.random.Generator,
    *,
    resample_probability: float = 0.25,
    perturbation_factors: Sequence[float] = (0.8, 1.2),
) -> dict[str, ParamValue]:
    """Perturb or resample each searched parameter of ``params``; others are kept as they are.

    Floats and ints are multiplied by a random factor and clipped (a reverse-log float scales
    its distance to 1, so 0.9 becomes 0.88 or 0.92); an int that rounding would leave unchanged
    moves one step. A choice moves to a random neighbouring value in its declared order.
    """
    out = dict(params)
    for name, p in space.items():
        if name not in params:
            continue
        v = params[name]
        u_resample, u_value = float(rng.random()), float(rng.random())
        factor = float(perturbation_factors[int(rng.integers(len(perturbation_factors)))])
        if u_resample < resample_probability:
            out[name] = p.from_unit(u_value)
        elif isinstance(p, Choice):
            i, k = p.index(v), len(p.values)
            if k > 1:
                j = i + (1 if u_value < 0.5 else -1)
                j = 1 if j < 0 else (k - 2 if j >= k else j)
                out[name] = p.values[j]
        elif isinstance(p, Float):
            x = float(v)
            out[name] = p.clip(1.0 - (1.0 - x) * factor if p.scale == "reverse_log" else x * factor)
        elif isinstance(p, Int):
            new = p.clip(float(v) * factor)
            if new == v:
                new = p.clip(float(v) + (p.step if factor > 1 else -p.step))
            out[name] = new
    return out


class PBTScheduler(Scheduler):
    """Population Based Training with exploit (copy weights and hyperparameters) and explore.

    Args:
        space: the search space (for clipping and resampling).
        population: members trained together (the first ``population`` trials).
        perturbation_interval: epochs between exploit/explore decisions.
        burn_in: no member exploits before this epoch.
        quantile: fraction of the population in the bottom (copies) and top (donors) groups.
        resample_probability: chance that a parameter is drawn afresh instead of perturbed.
        perturbation_factors: factors a numeric parameter is multiplied by.
        goal: ``minimize`` or ``maximize``.
        seed: seeds every random draw (with the member and step).
        max_epochs: optional budget in epochs across the population.
        max_steps: a member's last step (its epochs), when known: a member there just
            finishes (no pause, no exploit: it would not train again), and a donor must have
            a step left to train after the copy.
        synchronous: members advance in lockstep (True) or the leaders train ahead (False,
            the default); see the module's documentation.
    """

    name: ClassVar[str] = "pbt"
    needs_checkpoints: ClassVar[bool] = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        population: int = 8,
        perturbation_interval: int = 2,
        burn_in: int = 0,
        quantile: float = 0.25,
        resample_probability: float = 0.25,
        perturbation_factors: Sequence[float] = (0.8, 1.2),
        goal: Goal = "minimize",
        seed: int | None = None,
        max_epochs: int | None = None,
        max_steps: int | None = None,
        synchronous: bool = False,
    ) -> None:
        self.space = space
        self.population = int(population)
        self.interval = int(perturbation_interval)
        self.burn_in = int(burn_in)
        self.quantile = float(quantile)
        self.resample_probability = float(resample_probability)
        self.factors = tuple(float(f) for f in perturbation_factors)
        self.goal: Goal = goal
        self.seed = 0 if seed is None else int(seed)
        self.max_epochs = max_epochs
        self.max_steps = max_steps
        self.synchronous = bool(synchronous)
        self._budget = Budget()
        first = max(self.burn_in, 1)
        first += (-first) % self.interval
        self._first = first if self.max_steps is None else min(first, self.max_steps)
        self._pop = Population(self._first)
        # donors by (step compared at, lowest donor step), drawn up once per next_resume call
        self._donors: dict[tuple[int, int], list[int]] | None = None

    # who is in the population ------------------------------------------------------------------
    def _started(self, history: History) -> int:
        self._pop.sync(history)
        return len(self._pop.started)

    def _room_for_new(self, history: History) -> bool:
        return self._started(history) < self.population and self._budget.allows(
            history, self.max_epochs
        )

    def _forming(self, history: History) -> bool:
        """True until the population has formed: every member started and (asynchronous PBT)
        trained its first interval, so the first ranking sees all of them whatever the order
        their reports arrived in."""
        if self._room_for_new(history):
            return True
        if self.synchronous:
            return False
        self._pop.sync(history)
        return bool(self._pop.unformed)

    def _due(self, step: int) -> bool:
        return step >= max(self.burn_in, 1) and step % self.interval == 0

    # exploit and explore ----------------------------------------------------------------------
    def decide(
        self, trial: TrialView, step: int, history: History
    ) -> tuple[int, int, dict[str, ParamValue], str] | None:
        """``(donor, donor_step, new params, reason)`` if ``trial`` should exploit at ``step``.

        Members are compared at one common step: the furthest step every member within an
        interval of ``step`` has reached (members further behind are left out), so a member
        that reports a moment before the others is not judged against less-trained ones; each
        by its objective there (its last report at or before it). The copy continues from the
        donor's latest checkpoint. In lockstep that may be up to an interval behind the member
        (the common step); asynchronous PBT never copies a donor behind the member's own step
        (retraining those epochs would waste the leaders' head start), and a donor may be far
        ahead: the member jumps to its step.
        """
        self._pop.sync(history)
        if trial.number not in self._pop.reached:
            return None
        at, ranked = self._pop.ranked_at(step, self.interval, trial.number)
        floor = max(at, 1) if self.synchronous else max(step, 1)
        picked = self._truncate(trial, at, ranked, history, min_step=floor)
        if picked is None:
            return None
        donors, k = picked
        rng = np.random.default_rng([self.seed, trial.number, step])
        donor = history.by_number(donors[int(rng.integers(len(donors)))])
        donor_step = max(donor.checkpoints)
        params = explore(
            donor.params, self.space, rng, resample_probability=self.resample_probability,
            perturbation_factors=self.factors,
        )
        sign, mine = self._pop.sign, self._pop.score(trial.number, at)
        theirs = self._pop.score(donor.number, at)
        assert mine is not None and theirs is not None
        reason = (
            f"bottom {k} of {len(ranked)} at step {at} ({sign * mine:.4g}); copies trial "
            f"{donor.number} ({sign * theirs:.4g} at step {at})"
            + (f" from its step-{donor_step} checkpoint" if donor_step != at else "")
        )
        return donor.number, donor_step, params, reason

    def _truncate(
        self, trial: TrialView, at: int, ranked: list[tuple[float, int]], history: History,
        *, min_step: int,
    ) -> tuple[list[int], int] | None:
        """Truncation selection: if ``trial`` is in the bottom ``k`` (the quantile) of the
        members ``ranked`` at step ``at`` (best first), the donors it may copy among the top
        ``k``: ``(donors, k)``, else None (the caller draws one).

        A donor has a checkpoint at ``min_step`` or later (an exploit never sends a member
        back), a step left to train (a finished member's copy would end at once) and is still
        training.
        """
        mine = self._pop.score(trial.number, at)
        if mine is None or len(ranked) < 2:
            return None
        k = min(math.ceil(len(ranked) * self.quantile), len(ranked) // 2)
        if k == 0 or bisect_left(ranked, (mine, trial.number)) < len(ranked) - k:
            return None
        # the same members ranked at the same step (not a list filtered for this trial)
        memo = self._donors if ranked is self._pop.at_step.get(at) else None
        donors = memo.get((at, min_step)) if memo is not None else None
        if donors is None:
            last = self.max_steps if self.max_steps is not None else math.inf
            latest = self._pop.latest_ck  # training members' latest checkpoints
            donors = [n for _, n in ranked[:k] if min_step <= latest.get(n, 0) < last]
            if memo is not None:
                memo[(at, min_step)] = donors
        return (donors, k) if donors else None

    # the scheduler interface -------------------------------------------------------------------
    def on_report(
        self, trial: TrialView, step: int, metrics: Mapping[str, float], history: History
    ) -> Decision:
        if not self._budget.allows(history, self.max_epochs, besides=trial.number):
            return Decision.stop(f"epoch budget ({self.max_epochs}) spent")
        if not self._due(step) or not trial.values or trial.values[-1][0] != step:
            return Decision.cont()
        if self.max_steps is not None and step >= self.max_steps:
            return Decision.cont()  # its last step: it finishes, nothing to pause or copy into
        self._pop.sync(history)
        if (trial.number, step) in self._pop.exploited:
            return Decision.cont()  # exploited at this step already (into a slightly earlier one)
        if self._room_for_new(history):
            return Decision.pause(f"step {step}: waits for the population to start")
        if self.synchronous:
            if any((t.last_step or 0) < step for t in self._pop.paused.values()):
                return Decision.pause(f"step {step}: waits for the population to catch up")
        d = self.decide(trial, step, history)
        if d is not None:
            donor, donor_step, params, reason = d
            return Decision.exploit(donor, donor_step, params, reason)
        if not self.synchronous and self._pop.waiting_rank:  # the best waiting member
            key, top = self._pop.waiting_rank[0]
            if key < self._rank(trial, history)[0]:
                return Decision.pause(
                    f"step {step}: gives its slot to trial {top} (a better latest value)"
                )
        return Decision.cont()

    def next_resume(self, history: History) -> Resume | None:
        if self._forming(history) or not self._budget.allows(history, self.max_epochs):
            return None
        pop = self._pop
        if not pop.waiting_order:
            return None
        if self.synchronous:  # the least advanced member, with its exploit decided now
            first = pop.waiting[pop.waiting_order[0][1]]
            return self._exploit(first, history) or self._own(
                first, "the population caught up")
        # asynchronous: an exploit first (a copy of a leader), then the best latest value;
        # the members waiting at one step are ranked among the same others, with the same
        # donors: those are drawn up once per call
        self._donors = {}
        try:
            if (n := self._first_to_exploit(history)) is not None:
                res = self._exploit(pop.waiting[n], history)
                assert res is not None
                return res
        finally:
            self._donors = None
        return self._own(pop.waiting[pop.waiting_rank[0][1]],
                         "its turn (the best latest value waiting)")

    def _first_to_exploit(self, history: History) -> int | None:
        """The first waiting member, by (step, number), due to exploit: the members waiting at
        one step are compared at the same step among the same members, with the same donors,
        so each step is looked at once, and within it only the bottom of the ranking."""
        pop = self._pop
        order, i = pop.waiting_order, 0
        while i < len(order):
            step = order[i][0]
            end = bisect_left(order, (step + 1, -1))
            group, i = order[i:end], end
            scored = [n for _, n in group if n in pop.reached]  # reached: at least this step
            if not self._due(step) or not scored:
                continue
            at, ranked = pop.ranked_at(step, self.interval, scored[0])
            k = min(math.ceil(len(ranked) * self.quantile), len(ranked) // 2)
            if len(ranked) < 2 or k == 0:
                continue
            cut = ranked[len(ranked) - k]  # the best entry in the bottom k
            bottom = sorted(n for _, n in group if (sc := pop.score(n, at)) is not None
                            and (sc, n) >= cut) if len(group) <= k else sorted(
                n for _, n in ranked[len(ranked) - k:] if n in pop.waiting
                and pop.waiting[n].last_step == step)
            for n in bottom[:1]:
                if self._truncate(pop.waiting[n], at, ranked, history,
                                  min_step=max(step, 1)) is not None:
                    return n
        return None

    def _exploit(self, t: TrialView, history: History) -> Resume | None:
        """Resume paused ``t`` from a donor's checkpoint if it is due to copy one."""
        step = t.last_step or 0
        d = self.decide(t, step, history) if self._due(step) else None
        if d is None:
            return None
        donor, donor_step, params, reason = d
        return Resume(t.number, donor_step, donor=donor, params=params, reason=reason)

    @staticmethod
    def _own(t: TrialView, why: str) -> Resume:
        """Resume paused ``t`` from its own checkpoint."""
        step = t.last_step or 0
        ck = max((c for c in t.checkpoints if c <= step), default=0)
        return Resume(t.number, ck, reason=f"step {step}: {why}")

    @staticmethod
    def _latest(t: TrialView) -> float | None:
        return t.values[-1][1] if t.values else None

    def _rank(self, t: TrialView, history: History) -> tuple[float, int]:
        """Sort key, best latest value first; a member with no value yet comes last."""
        v = self._latest(t)
        return (math.inf if v is None else history.sign() * v, t.number)

    def accepts_new_trials(self, history: History) -> bool:
        return self._room_for_new(history)

    def finished(self, history: History) -> str | None:
        return self._budget.spent(history, self.max_epochs)

    def protected_checkpoints(self, history: History) -> set[tuple[int, int]]:
        """Paused members' own checkpoints, every member's latest one (a possible donor), and
        each donor checkpoint an exploit has not finished copying yet."""
        self._pop.sync(history)
        return self._pop.protected()

    def protected_steps(self, history: History, number: int) -> set[int]:
        self._pop.sync(history)
        return self._pop.protected_steps(number)


def lineage(history: History) -> list[dict[str, Any]]:
    """Who copied whom at which step, with the hyperparameters each copy continued with.

    One entry per exploit, in decision order: ``{"trial", "step", "donor", "donor_step",
    "params", "reason"}``. A member's hyperparameters over time are its initial params followed
    by the ``params`` of its entries.
    """
    return [
        {
            "trial": rec.trial, "step": rec.step, "donor": rec.decision.donor,
            "donor_step": rec.decision.donor_step, "params": dict(rec.decision.params or {}),
            "reason": rec.decision.reason,
        }
        for rec in history.decisions if rec.decision.action is Action.EXPLOIT
    ]

"""PBT's view of its population, kept in step with the history (see
:mod:`tunelab.schedulers.bookkeeping`): who has started, who has not trained its first interval,
how far each member got, who waits paused, where exploits were taken, and which checkpoints are
still needed. Each is what a scan of every trial gives (tests compare on random histories);
the ranking of members at an exploit decision is still done over the members concerned.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from tunelab.schedulers.bookkeeping import Synced
from tunelab.trial import Action, DecisionRecord, History, TrialState, TrialView

_IGNORED = (TrialState.FAILED, TrialState.TIMED_OUT)


class Population(Synced):
    """``first``: the step by which every member must have reported before asynchronous PBT
    ranks anyone (see ``PBTScheduler._forming``)."""

    def __init__(self, first: int) -> None:
        super().__init__()
        self.first = first

    def reset(self, history: History) -> None:
        self.started: set[int] = set()  # first attempts
        self.unformed: set[int] = set()  # live members short of the first interval
        self.reached: dict[int, int] = {}  # member with a value -> its furthest step
        self.paused: dict[int, TrialView] = {}
        self.waiting: dict[int, TrialView] = {}  # paused, not restarted by an exploit
        self.exploited: set[tuple[int, int]] = set()  # (trial, step) of exploit decisions
        self._own: dict[int, set[int]] = {}  # member -> its protected steps
        self._copying: dict[int, tuple[int, int]] = {}  # copier -> (donor, donor step)
        self._donated: dict[int, Counter[int]] = {}  # donor -> steps still being copied

    def taken(self, decisions: Sequence[DecisionRecord], history: History) -> None:
        for d in decisions:
            if d.decision.action is Action.EXPLOIT:
                self.exploited.add((d.trial, d.step))

    def update(self, view: TrialView, last: DecisionRecord | None, history: History) -> None:
        n = view.number
        for group in (self.started, self.unformed):
            group.discard(n)
        for table in (self.reached, self.paused, self.waiting, self._own):
            table.pop(n, None)
        if (ref := self._copying.pop(n, None)) is not None:
            self._donated[ref[0]][ref[1]] -= 1
        if view.attempt == 1:
            self.started.add(n)
        member = view.state not in _IGNORED
        if member and not view.state.is_terminal and (view.last_step or 0) < self.first:
            self.unformed.add(n)
        if member and view.values:
            self.reached[n] = max(s for s, _ in view.values)
        exploiting = last is not None and last.decision.action is Action.EXPLOIT
        if view.state is TrialState.PAUSED:
            self.paused[n] = view
            if view.last_step and not exploiting:
                self.waiting[n] = view
        own: set[int] = set()
        if member and view.checkpoints and not view.state.is_terminal:
            own.add(max(view.checkpoints))
        if member and view.state is TrialState.PAUSED and view.last_step is not None:
            ck = max((c for c in view.checkpoints if c <= view.last_step), default=None)
            if ck is not None:
                own.add(ck)
        if own:
            self._own[n] = own
        if exploiting and last is not None:
            d = last.decision
            copied = view.state.is_terminal or (
                view.last_step is not None and view.last_step != last.step)
            if d.donor is not None and d.donor_step is not None and not copied:
                self._copying[n] = (d.donor, d.donor_step)
                self._donated.setdefault(d.donor, Counter())[d.donor_step] += 1

    # queries (after sync) ---------------------------------------------------------------------
    def protected_steps(self, number: int) -> set[int]:
        donated = self._donated.get(number, Counter())
        return self._own.get(number, set()) | {s for s, k in donated.items() if k > 0}

    def protected(self) -> set[tuple[int, int]]:
        out = {(n, s) for n, steps in self._own.items() for s in steps}
        return out | {(n, s) for n, c in self._donated.items() for s, k in c.items() if k > 0}

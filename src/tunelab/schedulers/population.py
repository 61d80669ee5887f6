"""PBT's view of its population, kept in step with the history (see
:mod:`tunelab.schedulers.bookkeeping`): who has started, who has not trained its first interval,
how far each member got, who waits paused, where exploits were taken, and which checkpoints are
still needed, and the orders PBT ranks by: ``at_step`` holds, at every step any member
reported, each member's value of its last report at or before that step, as ``(sign * value,
number)`` in one sorted list per step; the members by furthest step; the waiting members by
step and by latest value. So ranking a member among the others at a step is a binary search,
not a pass over the population. Each is what a scan of every trial gives (tests compare on
random histories).
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Sequence

from tunelab.schedulers.bookkeeping import Synced
from tunelab.trial import Action, DecisionRecord, History, TrialState, TrialView

_IGNORED = (TrialState.FAILED, TrialState.TIMED_OUT)

Entry = tuple[float, int]  # (sign * value, trial number): the order PBT ranks by


def _drop(entries: list[Entry] | list[tuple[int, int]], entry: tuple[float, int]) -> None:
    i = bisect_left(entries, entry)
    if i < len(entries) and entries[i] == entry:
        del entries[i]


def last_reports(view: TrialView) -> dict[int, float]:
    """Step -> the value of the member's last report at that step."""
    return {st: v for st, v in view.values}


class Population(Synced):
    """``first``: the step by which every member must have reported before asynchronous PBT
    ranks anyone (see ``PBTScheduler._forming``)."""

    def __init__(self, first: int) -> None:
        super().__init__()
        self.first = first
        self.sign = 1.0

    def sync(self, history: History) -> None:
        if history.sign() != self.sign:  # another goal: nothing held applies
            self._cursor = None
        super().sync(history)

    def reset(self, history: History) -> None:
        self.sign = history.sign()
        self.at_step: dict[int, list[Entry]] = {}  # step -> members' scores there, sorted
        self.by_reached: list[tuple[int, int]] = []  # (furthest step, member), sorted
        self.waiting_order: list[tuple[int, int]] = []  # (last step, number), sorted
        self.waiting_rank: list[Entry] = []  # (sign * latest value or inf, number), sorted
        self._scores: dict[int, dict[int, float]] = {}  # member -> step -> sign * score
        self.latest_ck: dict[int, int] = {}  # training member -> its latest checkpoint
        self._last: dict[int, dict[int, float]] = {}  # member -> its last_reports
        self._steps: list[int] = []  # every step a member reported, sorted
        self._wkeys: dict[int, tuple[tuple[int, int], Entry]] = {}
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
        if (old := self.reached.get(n)) is not None:
            _drop(self.by_reached, (old, n))
        if (wk := self._wkeys.pop(n, None)) is not None:
            _drop(self.waiting_order, wk[0])
            _drop(self.waiting_rank, wk[1])
        for group in (self.started, self.unformed):
            group.discard(n)
        for table in (self.reached, self.paused, self.waiting, self._own, self.latest_ck):
            table.pop(n, None)
        if (ref := self._copying.pop(n, None)) is not None:
            self._donated[ref[0]][ref[1]] -= 1
        if view.attempt == 1:
            self.started.add(n)
        member = view.state not in _IGNORED
        if member and not view.state.is_terminal and (view.last_step or 0) < self.first:
            self.unformed.add(n)
        self._rescore(n, last_reports(view) if member and view.values else {})
        exploiting = last is not None and last.decision.action is Action.EXPLOIT
        if view.state is TrialState.PAUSED:
            self.paused[n] = view
            if view.last_step and not exploiting:
                self.waiting[n] = view
                latest = view.values[-1][1] if view.values else None
                keys = ((view.last_step, n),
                        (math.inf if latest is None else self.sign * latest, n))
                insort(self.waiting_order, keys[0])
                insort(self.waiting_rank, keys[1])
                self._wkeys[n] = keys
        own: set[int] = set()
        if member and view.checkpoints and not view.state.is_terminal:
            self.latest_ck[n] = max(view.checkpoints)
            own.add(self.latest_ck[n])
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

    def _rescore(self, n: int, last: dict[int, float]) -> None:
        """Replace member ``n``'s entries in :attr:`at_step` from its reports ``last``: from
        the first step whose value changed on (a new report usually changes only its own)."""
        before_last = self._last.pop(n, {})
        before = self._scores.pop(n, {})
        for st in sorted(set(last) - set(self._steps)):  # a step nobody reported before
            insort(self._steps, st)
            for m, ms in self._last.items():  # the members whose span covers it
                if min(ms) < st < max(ms):
                    self._scores[m][st] = key = self._score_of(ms, st)
                    insort(self.at_step.setdefault(st, []), (key, m))
        if not last:
            for st, key in before.items():
                _drop(self.at_step[st], (key, n))
            return
        self.reached[n] = hi = max(last)
        insort(self.by_reached, (hi, n))
        changed = [st for st in set(last) | set(before_last)
                   if last.get(st) != before_last.get(st)]
        # from the first changed step, or the first step past what was covered before
        lo = min(changed, default=hi + 1)
        lo = min(lo, max(before_last) + 1) if before_last else lo
        scores = {st: k for st, k in before.items() if st < lo and st >= min(last)}
        i = bisect_left(self._steps, max(lo, min(last)))
        while i < len(self._steps) and self._steps[i] <= hi:
            st = self._steps[i]
            scores[st] = self._score_of(last, st)
            i += 1
        for st, key in before.items():
            if scores.get(st) != key:
                _drop(self.at_step[st], (key, n))
        for st, key in scores.items():
            if before.get(st) != key:
                insort(self.at_step.setdefault(st, []), (key, n))
        self._scores[n], self._last[n] = scores, last

    def _score_of(self, last: dict[int, float], step: int) -> float:
        return self.sign * last[max(st for st in last if st <= step)]

    # queries (after sync) ---------------------------------------------------------------------
    def score(self, number: int, step: int) -> float | None:
        """``sign *`` the member's objective at ``step`` (None: it has no report up to it)."""
        return self._scores.get(number, {}).get(step)

    def ranked_at(self, step: int, interval: int, number: int) -> tuple[int, list[Entry]]:
        """Where member ``number`` (with a value) is compared at ``step``: the members within
        ``interval`` of it (it included), ranked at their common step ``at`` (the furthest
        every one of them has reached, at most ``step``); returns ``(at, entries)``."""
        mine = self.reached[number]
        lo = bisect_left(self.by_reached, (step - interval + 1, -1))
        at = min(mine, step, self.by_reached[lo][0] if lo < len(self.by_reached) else mine)
        entries = self.at_step.get(at, [])
        if mine <= step - interval:  # it is in the pool only as itself: keep the others out
            entries = [e for e in entries
                       if self.reached[e[1]] > step - interval or e[1] == number]
        return at, entries
    def protected_steps(self, number: int) -> set[int]:
        donated = self._donated.get(number, Counter())
        return self._own.get(number, set()) | {s for s, k in donated.items() if k > 0}

    def protected(self) -> set[tuple[int, int]]:
        out = {(n, s) for n, steps in self._own.items() for s in steps}
        return out | {(n, s) for n, c in self._donated.items() for s, k in c.items() if k > 0}

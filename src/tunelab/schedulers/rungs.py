"""ASHA's rungs, kept in step with the history (see :mod:`tunelab.schedulers.bookkeeping`).

For each bracket ``b`` and milestone ``m`` (all rungs but the last) the rung holds the objective
of every trial of that bracket that reported at ``m`` (its last report at that step), except
failed and timed-out trials, in a sorted list of ``(sign * value, number)``: the order ASHA
ranks by. So "is this trial in the top ``n // eta``?" is a binary search, and the best paused
trial of a rung (the promotion candidate) is the first of a second sorted list. A trial's
entries are replaced whenever it changes; the answers equal those of a scan of every trial
(tests/schedulers/test_bookkeeping.py compares them on random histories).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable

from tunelab.schedulers.bookkeeping import Synced
from tunelab.trial import DecisionRecord, History, TrialState, TrialView

_IGNORED = (TrialState.FAILED, TrialState.TIMED_OUT)

Key = tuple[int, int]  # (bracket, milestone)
Entry = tuple[float, int]  # (sign * value, trial number)


def _drop(entries: list[Entry], entry: Entry) -> None:
    i = bisect_left(entries, entry)
    if i < len(entries) and entries[i] == entry:
        del entries[i]


class Rungs(Synced):
    """The rungs of every bracket: ``bracket_of(number)`` and ``rungs(bracket)`` are the
    scheduler's; ``eta`` sets the top ``n // eta`` of a rung."""

    def __init__(self, bracket_of: Callable[[int], int], rungs: Callable[[int], list[int]],
                 eta: int) -> None:
        super().__init__()
        self._bracket_of = bracket_of
        self._rungs = rungs
        self.eta = eta
        self.sign = 1.0

    def sync(self, history: History) -> None:
        if history.sign() != self.sign:  # another goal: nothing held applies
            self._cursor = None
        super().sync(history)

    def reset(self, history: History) -> None:
        self.sign = history.sign()
        self.values: dict[Key, dict[int, float]] = {}
        self.ranked: dict[Key, list[Entry]] = {}
        self.paused: dict[Key, list[Entry]] = {}
        self._entries: dict[int, list[Key]] = {}  # number -> the rungs it is in
        self._paused_at: dict[int, tuple[Key, Entry]] = {}
        self.protected: dict[int, int] = {}  # paused trial -> its checkpoint at its rung

    def update(self, view: TrialView, last: DecisionRecord | None, history: History) -> None:
        n = view.number
        for key in self._entries.pop(n, ()):
            _drop(self.ranked[key], (self.sign * self.values[key].pop(n), n))
        if (p := self._paused_at.pop(n, None)) is not None:
            _drop(self.paused[p[0]], p[1])
        self.protected.pop(n, None)
        if view.state is TrialState.PAUSED and view.last_step is not None:
            ck = max((c for c in view.checkpoints if c <= view.last_step), default=None)
            if ck is not None:
                self.protected[n] = ck
        if view.state in _IGNORED or not view.values:
            return
        b = self._bracket_of(n)
        milestones = set(self._rungs(b)[:-1])
        at: dict[int, float] = {}
        for s, v in view.values:
            if s in milestones:
                at[s] = v  # the last report at that step counts
        keys = self._entries[n] = []
        for m, v in at.items():
            key = (b, m)
            self.values.setdefault(key, {})[n] = v
            insort(self.ranked.setdefault(key, []), (self.sign * v, n))
            keys.append(key)
        if view.state is TrialState.PAUSED and view.last_step in at:
            key, entry = (b, view.last_step), (self.sign * at[view.last_step], n)
            insort(self.paused.setdefault(key, []), entry)
            self._paused_at[n] = (key, entry)

    # queries (after sync) ---------------------------------------------------------------------
    def size(self, key: Key) -> int:
        return len(self.values.get(key, ()))

    def in_top(self, key: Key, number: int) -> bool:
        """True if ``number`` is in the top ``n // eta`` of rung ``key``."""
        v = self.values.get(key, {}).get(number)
        if v is None:
            return False
        return bisect_left(self.ranked[key], (self.sign * v, number)) < self.size(key) // self.eta

    def promotable(self) -> tuple[Entry, Key] | None:
        """The paused trial to promote: highest milestone first, then the best value, then the
        lower number; it must be in the top ``n // eta`` of its rung."""
        best: tuple[int, Entry, Key] | None = None
        for key, entries in self.paused.items():
            if not entries:
                continue
            first = entries[0]  # the best paused one: if it is not in the top, none is
            if bisect_left(self.ranked[key], first) >= self.size(key) // self.eta:
                continue
            cand = (-key[1], first, key)
            if best is None or cand < best:
                best = cand
        return None if best is None else (best[1], best[2])

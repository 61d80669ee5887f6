"""Scheduler bookkeeping kept in step with the history, instead of recomputed at every report.

A scheduler's decisions are functions of the :class:`~tunelab.trial.History` it is given
(a restarted tuner takes the same decisions). Recomputing what they need — the epochs spent,
the segments in flight, ASHA's rungs — from every trial at every report made the loop's cost
per report grow with the job (0.1 s per call at 1,000 trials). A :class:`Synced` object
derives the same facts trial by trial: the tuner's histories carry a
:class:`~tunelab.trial.ChangeFeed`, so only the trials that changed since the last call are
looked at again. Any other history (a hand-built one in a test, an older snapshot) is taken
in from scratch, so the answer is always the one a full recomputation gives; tests check
this on random histories.

    >>> from tunelab.trial import History, TrialState, TrialView
    >>> b = Budget()
    >>> b.allows(History((TrialView(0, {}, TrialState.RUNNING, values=((1, 0.5),)),)), 3)
    True
"""

from __future__ import annotations

from collections.abc import Sequence

from tunelab.trial import Action, Cursor, DecisionRecord, History, TrialState, TrialView

_IN_FLIGHT = (TrialState.PENDING, TrialState.RUNNING, TrialState.LOST)


class Synced:
    """Facts derived from a history, per trial; subclasses say how (:meth:`reset`,
    :meth:`update`). :meth:`sync` brings them up to the given history."""

    def __init__(self) -> None:
        self._cursor: Cursor | None = None
        self._seen = 0  # decisions taken in so far

    def sync(self, history: History) -> None:
        changed = history.changed_since(self._cursor)
        decisions: Sequence[DecisionRecord]
        if changed is None or self._seen > len(history.decisions):
            self.reset(history)
            changed, decisions = list(history.trials), history.decisions
        else:
            decisions = history.decisions[self._seen:]
        self._seen = len(history.decisions)
        self._cursor = history.cursor()
        self.taken(decisions, history)
        last = history.last_decisions()
        for view in changed:
            self.update(view, last.get(view.number), history)

    def reset(self, history: History) -> None:
        """Forget everything (the next calls take ``history`` in from scratch)."""

    def taken(self, decisions: Sequence[DecisionRecord], history: History) -> None:
        """Decisions recorded since the last sync, in order (all of them after a reset)."""

    def update(self, view: TrialView, last: DecisionRecord | None, history: History) -> None:
        """``view`` is new or changed (``last``: its latest decision): replace what it
        contributed before."""


class Budget(Synced):
    """The epoch budget's counts: epochs reported and segments in flight over all trials
    (the same numbers as :func:`~tunelab.schedulers.base.epochs_spent`,
    :func:`~tunelab.schedulers.base.in_flight` and the running trials)."""

    def reset(self, history: History) -> None:
        self._epochs: dict[int, int] = {}
        self._flying: set[int] = set()
        self._running: set[int] = set()
        self.epochs = 0

    def update(self, view: TrialView, last: DecisionRecord | None, history: History) -> None:
        n = view.number
        self.epochs += len(view.values) - self._epochs.get(n, 0)
        self._epochs[n] = len(view.values)
        flying = view.state in _IN_FLIGHT or (
            # an exploit that was decided but whose segment has not started yet
            view.state is TrialState.PAUSED and last is not None
            and last.decision.action is Action.EXPLOIT)
        (self._flying.add if flying else self._flying.discard)(n)
        (self._running.add if view.state is TrialState.RUNNING else self._running.discard)(n)

    def in_flight(self, history: History, *, besides: int | None = None) -> int:
        self.sync(history)
        return len(self._flying) - (besides in self._flying)

    def allows(self, history: History, max_epochs: int | None, *,
               besides: int | None = None) -> bool:
        """True if one more epoch fits in ``max_epochs`` (see
        :func:`~tunelab.schedulers.base.budget_allows`)."""
        if max_epochs is None:
            return True
        return self.epochs_of(history) + self.in_flight(history, besides=besides) + 1 \
            <= max_epochs

    def epochs_of(self, history: History) -> int:
        self.sync(history)
        return self.epochs

    def spent(self, history: History, max_epochs: int | None) -> str | None:
        """The reason to end the job once the budget is spent and nothing runs, else None."""
        if max_epochs is None or self.allows(history, max_epochs):
            return None
        if self._running:
            return None
        return f"epoch budget ({max_epochs}) spent"

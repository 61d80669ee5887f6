"""Trial states, their legal transitions, scheduler decisions, and the read-only history view.

A trial is one set of hyperparameters trained and evaluated. It runs as a sequence of *segments*
between checkpoints: a scheduler may PAUSE it at a report (ASHA), resume it later from its own
checkpoint, or have it EXPLOIT a donor's checkpoint with new hyperparameters (PBT).

Strategies and schedulers never see the store or the executor: they get a :class:`History`, a
plain snapshot of :class:`TrialView` records.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tunelab.space import ParamValue

Goal = Literal["minimize", "maximize"]


class TrialState(str, enum.Enum):
    """Where a trial is in its life. Terminal states never change again, except STOPPED: a
    resume of the job continues its stopped trials (STOPPED -> LOST -> RUNNING)."""

    PENDING = "pending"  # recorded, not started yet
    RUNNING = "running"  # a segment runs on a worker
    PAUSED = "paused"  # stopped at a checkpoint; a scheduler may resume it
    COMPLETED = "completed"  # ran to the end
    PRUNED = "pruned"  # stopped early by a scheduler (early stopping, not promoted)
    FAILED = "failed"  # raised, crashed, reported NaN/inf, or never reported the metric
    TIMED_OUT = "timed_out"  # ran past max_trial_runtime
    STOPPED = "stopped"  # stopped with its job (the user, Ctrl-C, the job's max_runtime)
    LOST = "lost"  # cut off mid-segment (tuner died, job stopped); re-run from its checkpoint

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_finished_ok(self) -> bool:
        """Finished with a usable objective value (completed or pruned)."""
        return self in (TrialState.COMPLETED, TrialState.PRUNED)


_TERMINAL = frozenset(
    {TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED, TrialState.TIMED_OUT,
     TrialState.STOPPED}
)

#: states whose trial has a value worth ranking (finished, or cut off with a partial result);
#: failed and timed-out attempts get no rank
RANKED = frozenset({TrialState.COMPLETED, TrialState.PRUNED, TrialState.PAUSED,
                    TrialState.STOPPED, TrialState.RUNNING, TrialState.LOST})

_TRANSITIONS: dict[TrialState, frozenset[TrialState]] = {
    TrialState.PENDING: frozenset({TrialState.RUNNING, TrialState.STOPPED}),
    TrialState.RUNNING: frozenset(
        {TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED, TrialState.TIMED_OUT,
         TrialState.STOPPED, TrialState.PAUSED, TrialState.LOST}
    ),
    TrialState.PAUSED: frozenset(
        {TrialState.RUNNING, TrialState.PRUNED, TrialState.COMPLETED, TrialState.STOPPED}
    ),
    TrialState.LOST: frozenset({TrialState.RUNNING, TrialState.FAILED, TrialState.STOPPED}),
    TrialState.STOPPED: frozenset({TrialState.LOST}),  # a resume continues it
}


class JobStatus(str, enum.Enum):
    """Where a job is, as stored in ``jobs.status``. Only the tuner sets it."""

    CREATED = "created"  # written by `tune`, no tuner has run it yet
    RUNNING = "running"  # a tuner holds its lease (or held it and died: see INTERRUPTED)
    STOPPED = "stopped"  # stopped by the user (`tunelab stop`, Ctrl-C); `resume` continues it
    COMPLETED = "completed"  # ended by a limit or a completion criterion
    FAILED = "failed"  # could not run (bad data), no trial succeeded, or max_failures reached
    # never stored: shown for a RUNNING job whose lease ran out (its tuner died)
    INTERRUPTED = "interrupted"

    @property
    def resumable(self) -> bool:
        return self is not JobStatus.COMPLETED


class IllegalTransition(RuntimeError):
    """A state change that the trial life cycle forbids (a bug, never user input)."""


def transition(current: TrialState, new: TrialState) -> TrialState:
    """Return ``new`` if ``current -> new`` is legal, else raise :class:`IllegalTransition`."""
    if new not in _TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(f"trial cannot go from {current.value} to {new.value}")
    return new


class Action(str, enum.Enum):
    CONTINUE = "continue"
    PAUSE = "pause"
    STOP = "stop"
    EXPLOIT = "exploit"


@dataclass(frozen=True)
class Decision:
    """What a scheduler decides at a report.

    ``EXPLOIT`` ends the segment and starts the next one of the same trial from the donor
    trial's checkpoint at ``donor_step``, with ``params`` applied on top (PBT).
    """

    action: Action
    reason: str = ""
    donor: int | None = None  # trial number
    donor_step: int | None = None
    params: Mapping[str, ParamValue] | None = None

    @classmethod
    def cont(cls) -> Decision:
        return _CONTINUE

    @classmethod
    def pause(cls, reason: str = "") -> Decision:
        return cls(Action.PAUSE, reason)

    @classmethod
    def stop(cls, reason: str = "") -> Decision:
        return cls(Action.STOP, reason)

    @classmethod
    def exploit(
        cls, donor: int, donor_step: int, params: Mapping[str, ParamValue], reason: str = ""
    ) -> Decision:
        return cls(Action.EXPLOIT, reason, donor, donor_step, dict(params))


_CONTINUE = Decision(Action.CONTINUE)


@dataclass(frozen=True)
class TrialView:
    """A read-only snapshot of one trial, as strategies and schedulers see it.

    ``values`` holds the objective metric per reported step (in report order);
    ``value`` is the trial's result: the final value if it finished, else the last reported.
    ``checkpoints`` lists the steps that have a durable checkpoint.
    """

    number: int
    params: Mapping[str, ParamValue]
    state: TrialState
    value: float | None = None
    values: Sequence[tuple[int, float]] = ()
    checkpoints: Sequence[int] = ()
    attempt: int = 1
    source: str = "strategy"  # strategy | warm_start | manual

    @property
    def last_step(self) -> int | None:
        return self.values[-1][0] if self.values else None


@dataclass(frozen=True)
class DecisionRecord:
    """A scheduler decision that was acted on, as stored (PBT lineage, ASHA pauses)."""

    trial: int  # trial number
    step: int
    decision: Decision


class ChangeFeed:
    """Which trials of a job changed, in order: kept by the history's owner (the tuner's
    :class:`~tunelab.jobstate.JobState`) so that a scheduler can keep its bookkeeping (ASHA's
    rungs, epoch counts) in step with the history instead of recomputing it at every report.

    Append-only: ``log`` gets a trial number whenever that trial's view changes (a report, a
    state, a decision); ``position`` maps a trial number to its index in ``History.trials``
    (a trial keeps its index); ``last_decision`` is each trial's latest decision in
    ``History.decisions``. A History built from it carries ``revision = len(log)``.
    """

    def __init__(self) -> None:
        self.log: list[int] = []
        self.position: dict[int, int] = {}
        self.last_decision: dict[int, DecisionRecord] = {}


@dataclass(frozen=True)
class Cursor:
    """Where a reader of a :class:`ChangeFeed` got to (see :meth:`History.changed_since`)."""

    feed: ChangeFeed
    revision: int


@dataclass(frozen=True)
class History:
    """All trials of a job in creation order, plus the objective's goal.

    Strategies decide from a History alone, so a restarted tuner that rebuilds the History from
    the store gets the same suggestions (same seed, same history, same answer). A History may
    carry its owner's :class:`ChangeFeed`; it only makes lookups faster and lets bookkeeping
    follow the changes (:meth:`changed_since`), never changes an answer.
    """

    trials: Sequence[TrialView] = ()
    goal: Goal = "minimize"
    decisions: Sequence[DecisionRecord] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    feed: ChangeFeed | None = field(default=None, compare=False, repr=False)
    revision: int = field(default=0, compare=False, repr=False)

    def __iter__(self) -> Iterator[TrialView]:
        return iter(self.trials)

    def __len__(self) -> int:
        return len(self.trials)

    def sign(self) -> float:
        """+1 for minimize, -1 for maximize: ``sign() * value`` is always 'lower is better'."""
        return 1.0 if self.goal == "minimize" else -1.0

    def completed(self) -> list[TrialView]:
        return [t for t in self.trials if t.state.is_finished_ok and _finite(t.value)]

    def best(self) -> TrialView | None:
        done = self.completed()
        if not done:
            return None
        s = self.sign()
        return min(done, key=lambda t: s * float(t.value))  # type: ignore[arg-type]

    def by_number(self, number: int) -> TrialView:
        if self.feed is not None:  # a trial keeps its index: O(1) for the tuner's histories
            i = self.feed.position.get(number)
            if i is not None and i < len(self.trials) and self.trials[i].number == number:
                return self.trials[i]
        for t in self.trials:
            if t.number == number:
                return t
        raise KeyError(number)

    # following changes ------------------------------------------------------------------------
    def _current(self) -> bool:
        """True if this is the newest History of its feed (the feed's extras describe it)."""
        return self.feed is not None and self.revision == len(self.feed.log)

    def cursor(self) -> Cursor | None:
        """Where a reader that has taken in this History stands, or None without a feed."""
        return Cursor(self.feed, self.revision) if self.feed is not None else None

    def changed_since(self, cursor: Cursor | None) -> list[TrialView] | None:
        """The trials (current views, each once) that changed after ``cursor``, or None when
        that cannot be told (no feed, another feed, an older History than the cursor's or
        not the newest): the reader then rebuilds from :attr:`trials`."""
        if cursor is None or not self._current() or cursor.feed is not self.feed \
                or cursor.revision > self.revision:
            return None
        assert self.feed is not None
        return [self.by_number(n) for n in dict.fromkeys(self.feed.log[cursor.revision:])]

    def last_decisions(self) -> Mapping[int, DecisionRecord]:
        """Each trial's latest decision in :attr:`decisions`, by trial number."""
        if self._current():
            assert self.feed is not None
            return self.feed.last_decision
        return {d.trial: d for d in self.decisions}


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def is_better(a: float, b: float | None, goal: Goal) -> bool:
    """True if ``a`` beats ``b`` under ``goal`` (anything beats None)."""
    if b is None:
        return True
    return a < b if goal == "minimize" else a > b

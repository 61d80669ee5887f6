"""The scheduler contract: decide *when to stop, pause, promote or exploit* at a report.

Schedulers return decisions; the tuner loop acts on them (records them in the store first, then
tells the executor). A scheduler never holds the executor or the store: it sees the reporting
trial and a read-only :class:`~tunelab.trial.History`, which includes the decisions acted on so
far (``history.decisions``). Its state must be a function of that history, so a restarted tuner
takes the same decisions an uninterrupted run would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from tunelab.space import ParamValue
from tunelab.trial import Decision, History, TrialView


@dataclass(frozen=True)
class Resume:
    """Start the next segment of paused trial ``number`` from the checkpoint at ``step``.

    For a PBT exploit, ``step`` is the donor's checkpoint step, ``donor`` the donor trial and
    ``params`` the new hyperparameters applied on top of the restored state.
    """

    number: int
    step: int
    donor: int | None = None
    params: Mapping[str, ParamValue] | None = None
    reason: str = ""


class Scheduler:
    """Base class: the FIFO scheduler, which lets every trial run to its end."""

    name: ClassVar[str] = "fifo"

    #: True if the scheduler may PAUSE or EXPLOIT (the objective must checkpoint)
    needs_checkpoints: ClassVar[bool] = False

    #: A budget in epochs (reported steps) over all trials, or None. With one, the tuner starts
    #: new trials one at a time, so each fits in what the others left.
    max_epochs: int | None = None

    def on_report(
        self, trial: TrialView, step: int, metrics: Mapping[str, float], history: History
    ) -> Decision:
        """Decide at a report of ``trial`` at ``step``.

        ``trial`` and ``history`` already include this report (it is in the store before the
        decision is taken). The default lets every trial continue.
        """
        return Decision.cont()

    def next_resume(self, history: History) -> Resume | None:
        """A paused trial to resume now that a slot is free (ASHA promotion), or None.

        Called before the strategy is asked for a new trial.
        """
        return None

    def accepts_new_trials(self, history: History) -> bool:
        """False when the scheduler wants no more fresh trials (a full PBT population)."""
        return True

    def finished(self, history: History) -> str | None:
        """A plain-words reason if the scheduler's budget is spent and the job should end."""
        return None

    def protected_checkpoints(self, history: History) -> set[tuple[int, int]]:
        """``(trial number, step)`` checkpoints the scheduler still needs (a paused trial's,
        a PBT donor's until the copy is done). The tuner keeps these on top of each trial's
        last and best checkpoint. The default needs none."""
        return set()

    def protected_steps(self, history: History, number: int) -> set[int]:
        """The steps of trial ``number`` among :meth:`protected_checkpoints` (what checkpoint
        retention asks at each report; a scheduler with bookkeeping answers without building
        the whole set)."""
        return {step for n, step in self.protected_checkpoints(history) if n == number}


class FIFOScheduler(Scheduler):
    """Every trial runs to its end: no early stopping."""

"""The tuner's in-memory mirror of a job's trials, rebuilt from the store on resume.

Every change is written to the store first; the mirror then follows, so it never holds a fact
the store does not. Strategies and schedulers get :class:`~tunelab.trial.History` snapshots
built from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tunelab.store import CheckpointRecord, DecisionRow, JobRecord, TrialRecord, Tx
from tunelab.trial import (
    RANKED,
    Action,
    Decision,
    DecisionRecord,
    Goal,
    History,
    TrialView,
    is_better,
)


@dataclass
class JobState:
    job: JobRecord
    trials: dict[int, TrialRecord] = field(default_factory=dict)  # by number
    decisions: list[DecisionRow] = field(default_factory=list)
    _history: History | None = None
    # trial id -> (the record it was built from, its view); see changed()
    _views: dict[int, tuple[TrialRecord, TrialView]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, tx: Tx, job: JobRecord) -> JobState:
        st = cls(job)
        for tr in tx.trials(job.id):
            st.trials[tr.number] = tr
        st.decisions = tx.decisions(job.id)
        return st

    @property
    def goal(self) -> Goal:
        return "maximize" if self.job.goal == "maximize" else "minimize"

    def by_id(self, trial_id: int) -> TrialRecord:
        for tr in self.trials.values():
            if tr.id == trial_id:
                return tr
        raise KeyError(trial_id)

    def changed(self, *trials: TrialRecord) -> None:
        """Say the mirror changed: the next :meth:`history` is rebuilt.

        With trials given, only those (and trials added since) changed, and the other trials'
        views are reused; with none, everything is rebuilt.
        """
        self._history = None
        if not trials:
            self._views.clear()
        for tr in trials:
            self._views.pop(tr.id, None)

    def view(self, tr: TrialRecord) -> TrialView:
        return TrialView(
            number=tr.number, params=dict(tr.params), state=tr.state, value=tr.value,
            values=tuple((r.step, r.value) for r in tr.reports if r.value is not None),
            checkpoints=tuple(c.step for c in tr.live_checkpoints()), attempt=tr.attempt,
            source=tr.source,
        )

    def history(self) -> History:
        if self._history is None:
            recs = tuple(
                DecisionRecord(
                    d.trial_number, d.step,
                    Decision(Action(d.action), d.reason or "", d.donor, d.donor_step, d.params),
                )
                for d in self.decisions if d.action in {a.value for a in Action}
            )
            self._history = History(
                tuple(self._cached_view(t)
                      for t in sorted(self.trials.values(), key=lambda t: t.id)),
                self.goal, recs,
            )
        return self._history

    def _cached_view(self, tr: TrialRecord) -> TrialView:
        hit = self._views.get(tr.id)
        if hit is not None and hit[0] is tr:
            return hit[1]
        v = self.view(tr)
        self._views[tr.id] = (tr, v)
        return v

    # counts -----------------------------------------------------------------------------------
    def first_attempts(self) -> int:
        return sum(1 for t in self.trials.values() if t.attempt == 1)

    def latest_attempts(self) -> list[TrialRecord]:
        """One record per trial, in trial order: its latest attempt (a retry is another
        attempt of the same trial, recorded under its own number with ``retry_of``)."""
        latest: dict[int, TrialRecord] = {}
        for t in sorted(self.trials.values(), key=lambda t: t.number):
            root = t.retry_of if t.retry_of is not None else t.number
            if root not in latest or t.attempt > latest[root].attempt:
                latest[root] = t
        return [latest[k] for k in sorted(latest)]

    def counts(self) -> dict[str, int]:
        """Trials by state (each trial once, in the state of its latest attempt), as the
        progress bar, ``jobs`` and ``show`` count them."""
        out: dict[str, int] = {}
        for t in self.latest_attempts():
            out[t.state.value] = out.get(t.state.value, 0) + 1
        return out

    def best(self) -> TrialRecord | None:
        """The best finished trial (completed or pruned): what completion criteria use."""
        best: TrialRecord | None = None
        for t in self.trials.values():
            if t.state.is_finished_ok and t.value is not None and math.isfinite(t.value):
                if best is None or is_better(t.value, best.value, self.goal):
                    best = t
        return best

    def ranked(self) -> list[TrialRecord]:
        """Trials with a finite value in a :data:`RANKED` state, best first (ties: the lower
        number). The first is *the* best trial that ``show``, the leaderboard, the Python
        API and ``export`` name — finished or not (a trial stopped by the job's
        ``max_runtime`` keeps its partial result)."""
        sign = 1.0 if self.goal == "minimize" else -1.0
        return sorted(
            (t for t in self.trials.values() if t.state in RANKED and t.value is not None
             and math.isfinite(t.value)),
            key=lambda t: (sign * float(t.value or 0.0), t.number))

    def leader(self) -> TrialRecord | None:
        ranked = self.ranked()
        return ranked[0] if ranked else None

    def best_checkpoint(self, tr: TrialRecord) -> CheckpointRecord | None:
        """``tr``'s best live checkpoint by the objective value reported at its step (ties go
        to the later, longer-trained one); its last one when none has a value."""
        live = tr.live_checkpoints()
        if not live:
            return None
        sign = 1.0 if self.goal == "minimize" else -1.0
        by_step = {r.step: r.value for r in tr.reports if r.value is not None}
        scored = [c for c in live if c.step in by_step]
        if not scored:
            return live[-1]
        return min(scored, key=lambda c: (sign * float(by_step[c.step] or 0.0), -c.step))

    def trials_since_improvement(self) -> int:
        """Finished trials (in finishing order) since the best value last improved."""
        done = sorted(
            (t for t in self.trials.values()
             if t.state.is_finished_ok and t.value is not None and math.isfinite(t.value)),
            key=lambda t: (t.ended_at or 0.0, t.number),
        )
        best: float | None = None
        since = 0
        for t in done:
            assert t.value is not None
            if is_better(t.value, best, self.goal):
                best, since = t.value, 0
            else:
                since += 1
        return since

    def last_decision(self, number: int) -> DecisionRow | None:
        for d in reversed(self.decisions):
            if d.trial_number == number:
                return d
        return None

    def epochs_spent(self) -> int:
        return sum(len(t.reports) for t in self.trials.values())

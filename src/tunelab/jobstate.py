"""The tuner's in-memory mirror of a job's trials, rebuilt from the store on resume.

Every change is written to the store first; the mirror then follows, so it never holds a fact
the store does not. Strategies and schedulers get :class:`~tunelab.trial.History` snapshots
built from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tunelab.chunked import ChunkedBuilder
from tunelab.store import CheckpointRecord, DecisionRow, JobRecord, TrialRecord, Tx
from tunelab.trial import (
    RANKED,
    Action,
    ChangeFeed,
    Decision,
    DecisionRecord,
    Goal,
    History,
    TrialView,
    is_better,
)

_ACTIONS = frozenset(a.value for a in Action)


@dataclass
class JobState:
    job: JobRecord
    trials: dict[int, TrialRecord] = field(default_factory=dict)  # by number
    decisions: list[DecisionRow] = field(default_factory=list)
    _history: History | None = None
    # the History's parts, kept up to date change by change (not rebuilt at every report):
    # the trials' views in id order, their index by trial id, the trials changed since the
    # last History, the decisions as the History shows them, and the feed schedulers follow
    _views: ChunkedBuilder[TrialView] = field(default_factory=ChunkedBuilder, repr=False)
    _index: dict[int, int] = field(default_factory=dict, repr=False)
    _dirty: dict[int, TrialRecord] = field(default_factory=dict, repr=False)
    _records: ChunkedBuilder[DecisionRecord] = field(default_factory=ChunkedBuilder,
                                                     repr=False)
    _feed: ChangeFeed = field(default_factory=ChangeFeed, repr=False)
    _top_id: int = -1  # the highest trial id in _views
    # counts the loop asks at every poll, kept up to date instead of recounted (see best())
    _firsts: tuple[int, int] = (-1, 0)  # (len(trials) when counted, first attempts)
    _best: tuple[ChangeFeed | None, int, TrialRecord | None] = (None, 0, None)

    @classmethod
    def load(cls, tx: Tx, job: JobRecord) -> JobState:
        st = cls(job)
        for tr in tx.trials(job.id):
            st.trials[tr.number] = tr
        for d in tx.decisions(job.id):
            st.add_decision(d)
        st.changed()
        return st

    @property
    def goal(self) -> Goal:
        return "maximize" if self.job.goal == "maximize" else "minimize"

    def by_id(self, trial_id: int) -> TrialRecord:
        if (tr := self._dirty.get(trial_id)) is not None:
            return tr
        i = self._index.get(trial_id)
        if i is not None:
            tr = self.trials.get(self._views[i].number)
            if tr is not None and tr.id == trial_id:
                return tr
        for tr in self.trials.values():
            if tr.id == trial_id:
                return tr
        raise KeyError(trial_id)

    def add_decision(self, d: DecisionRow) -> None:
        """A decision acted on (already written to the store)."""
        self.decisions.append(d)
        if d.action in _ACTIONS:  # "resume" rows are the tuner's, not a scheduler's
            dec = Decision(Action(d.action), d.reason or "", d.donor, d.donor_step, d.params)
            rec = DecisionRecord(d.trial_number, d.step, dec)
            self._records.append(rec)
            self._feed.last_decision[d.trial_number] = rec
        tr = self.trials.get(d.trial_number)
        if tr is not None:
            self.changed(tr)

    def changed(self, *trials: TrialRecord) -> None:
        """Say the mirror changed: the next :meth:`history` shows it.

        With trials given, only those (and trials added since) changed, and the other trials'
        views are reused; with none, everything is rebuilt.
        """
        self._history = None
        if not trials:
            self._views.clear()
            self._index.clear()
            self._top_id = -1
            self._dirty = {t.id: t for t in sorted(self.trials.values(), key=lambda t: t.id)}
            self._feed = ChangeFeed()  # a new feed: whoever follows the old one rebuilds
            self._feed.log.extend(t.number for t in self._dirty.values())
            for d in self._records.snapshot():
                self._feed.last_decision[d.trial] = d
            return
        for tr in trials:  # logged now: an older History is no longer the newest one
            self._dirty[tr.id] = tr
            self._feed.log.append(tr.number)

    def view(self, tr: TrialRecord) -> TrialView:
        return TrialView(
            number=tr.number, params=dict(tr.params), state=tr.state, value=tr.value,
            values=tuple((r.step, r.value) for r in tr.reports if r.value is not None),
            checkpoints=tuple(c.step for c in tr.live_checkpoints()), attempt=tr.attempt,
            source=tr.source,
        )

    def history(self) -> History:
        """The job as strategies and schedulers see it. Only the trials that changed since the
        last call are viewed again; the feed says which they were."""
        if self._history is None:
            views, feed = self._views, self._feed
            for tid in sorted(self._dirty):
                tr = self._dirty[tid]
                v = self.view(tr)
                i = self._index.get(tid)
                if i is None:
                    if tid < self._top_id:  # never: ids only grow (else: rebuild in order)
                        self.changed()
                        return self.history()
                    self._top_id = tid
                    i = self._index[tid] = len(views)
                    views.append(v)
                    feed.position[tr.number] = i
                else:
                    views[i] = v
            self._dirty.clear()
            self._history = History(views.snapshot(), self.goal, self._records.snapshot(),
                                    feed=feed, revision=len(feed.log))
        return self._history

    # counts -----------------------------------------------------------------------------------
    def first_attempts(self) -> int:
        if self._firsts[0] != len(self.trials):  # a trial's attempt never changes
            self._firsts = (len(self.trials),
                            sum(1 for t in self.trials.values() if t.attempt == 1))
        return self._firsts[1]

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
        """The best finished trial (completed or pruned): what completion criteria use (ties:
        the lower number). Asked at every poll, so only the trials changed since the last
        call (the feed's log) are looked at, unless the best one itself changed."""
        feed, seen, best = self._best
        log = self._feed.log
        if feed is not self._feed or (best is not None and best.number in log[seen:]):
            candidates = list(self.trials.values())  # from scratch
            best = None
        else:
            candidates = [self.trials[n] for n in dict.fromkeys(log[seen:]) if n in self.trials]
        for t in candidates:
            if t.state.is_finished_ok and t.value is not None and math.isfinite(t.value):
                if best is None or is_better(t.value, best.value, self.goal) or (
                        t.value == best.value and t.number < best.number):
                    best = t
        self._best = (self._feed, len(log), best)
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

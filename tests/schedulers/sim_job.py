"""Scheduler tests run the real tuner loop: a job on a temporary SQLite store, with its trials on
the simulated executor (a virtual clock: a job of hundreds of reports takes well under a second).

:class:`SimJob` holds the job between runs: the store's folder and the simulated checkpoint
files, which outlive a tuner as files would. :meth:`SimJob.run` creates the job on its first call
and resumes it after (a tuner that crashed leaves the store as ``kill -9`` would: trials RUNNING,
decisions recorded; the next one recovers it). ``crash`` makes the executor's ``poll`` raise
:class:`Crash` when it holds, after the events it returned were counted.

What the tests assert on is read back from the store: each trial's reports and checkpoints
(their recorded sha256 is the donor state a copy must restore), the decisions in the order they
were written (every non-continue decision and every resume, an exploit decided at a resume
included), and the reports in the order they were written. The one fact the store does not
hold, what a segment actually restored, is recorded by the executor (:attr:`SimJob.restores`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunelab.executors.base import Event, SegmentSpec
from tunelab.executors.simulated import CurveFn, SimulatedExecutor
from tunelab.jobstate import JobState
from tunelab.schedulers.base import Scheduler
from tunelab.spec import spec_from_dict
from tunelab.store import DecisionRow, Store, TrialRecord
from tunelab.store.queries import Reader
from tunelab.strategies.base import Strategy
from tunelab.tuner import Tuner

NAME = "sim"


class Crash(Exception):
    pass


@dataclass(frozen=True)
class Restore:
    """A segment that started from a checkpoint: whose, at which step, holding what."""

    trial: int
    path: str
    step: int
    content: tuple[Any, ...]

    @property
    def copied(self) -> bool:
        """Restored from another trial's checkpoint (a PBT exploit's copy)."""
        return not self.path.startswith(f"sim://trial-{self.trial:04d}/")

    def digest(self) -> str:
        """The sha256 the simulated executor records for this content at this path."""
        return hashlib.sha256(repr((self.path, list(self.content))).encode()).hexdigest()


class _Sim(SimulatedExecutor):
    def __init__(self, job: SimJob, crash: Callable[[SimJob], bool] | None) -> None:
        super().__init__(job.slots, job.curve, max_steps=job.max_steps,
                         checkpoints=job.checkpoints, start_time=job.clock)
        self.job, self.crash = job, crash

    def poll(self, timeout: float = 0.0) -> list[Event]:
        events = super().poll(timeout)
        self.job.events += len(events)
        self.job.clock = self.now()
        if events and self.crash is not None and self.crash(self.job):
            raise Crash
        return events

    def start(self, segment: SegmentSpec) -> None:
        if segment.restore_from is not None and segment.restore_step is not None:
            self.job.restores.append(Restore(segment.number, segment.restore_from,
                                             segment.restore_step,
                                             tuple(self.checkpoints[segment.restore_from])))
        super().start(segment)


class SimJob:
    """One job of ``trials`` trials on ``slots`` simulated slots; see the module docstring."""

    def __init__(self, folder: Path, space: dict[str, Any], curve: CurveFn, *, slots: int,
                 max_steps: int, trials: int) -> None:
        self.folder, self.slots, self.curve, self.max_steps = folder, slots, curve, max_steps
        self.spec = spec_from_dict({
            "name": NAME, "objective": {"metric": "loss", "goal": "minimize"},
            "train": {"function": "objectives_for_tests.fns:quadratic"},
            "search_space": space, "strategy": {"type": "random"},
            "limits": {"max_trials": trials},
        })
        self.checkpoints: dict[str, Any] = {}
        self.restores: list[Restore] = []
        self.clock = 0.0
        self.events = 0  # events polled, over every run

    def run(self, scheduler: Scheduler, strategy: Strategy,
            crash: Callable[[SimJob], bool] | None = None) -> str:
        """Run the job (create it, or resume it after a crash) with this search to its end."""
        store = Store.open(self.folder / "store")
        try:
            ex = _Sim(self, crash)
            search = (strategy, scheduler)
            if any(j.name == NAME for j in store.read().jobs()):
                return Tuner.resume(NAME, store, executor=ex, search=search).run()
            return Tuner.create(self.spec, store, executor=ex, search=search).run()
        finally:
            store.close()

    # facts read back from the store --------------------------------------------------------------
    def state(self) -> JobState:
        store = Store.open(self.folder / "store")
        try:
            tx = store.read()
            return JobState.load(tx, tx.job(NAME))
        finally:
            store.close()

    def trials(self) -> dict[int, TrialRecord]:
        return self.state().trials

    def decisions(self) -> list[DecisionRow]:
        """Every recorded decision (continue is not recorded), in the order written."""
        return self.state().decisions

    def decided(self) -> list[tuple[Any, ...]]:
        """The decisions as comparable tuples: trial, step, action, donor, donor step, params."""
        return [(d.trial_number, d.step, d.action, d.donor, d.donor_step,
                 tuple(sorted((d.params or {}).items()))) for d in self.decisions()]

    def reports(self) -> list[tuple[int, int, float | None]]:
        """Every report as (trial, step, value), in the order written."""
        with Reader.open(self.folder / "store") as r:
            return [(x.trial, x.step, x.value) for x in r.reports_after(NAME).reports]

    def log(self) -> tuple[list[tuple[Any, ...]], list[tuple[int, int, float | None]]]:
        """What the job decided and what its trials reported, each in the order written."""
        return self.decided(), self.reports()

    def copies(self) -> list[Restore]:
        """The segments that started from another trial's checkpoint, in start order."""
        return [r for r in self.restores if r.copied]


def values(t: TrialRecord) -> list[tuple[int, float | None]]:
    """A trial's reported (step, value) pairs, in order."""
    return [(r.step, r.value) for r in t.reports]


def exploited_at_resume(decisions: Sequence[DecisionRow]) -> list[DecisionRow]:
    """Exploits decided when a paused member resumed (recorded right after its pause at the same
    step) rather than at a report."""
    out: list[DecisionRow] = []
    last: dict[int, DecisionRow] = {}
    for d in decisions:
        before = last.get(d.trial_number)
        if d.action == "exploit" and before is not None and before.action == "pause" \
                and before.step == d.step:
            out.append(d)
        last[d.trial_number] = d
    return out

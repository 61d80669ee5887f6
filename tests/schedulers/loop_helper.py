"""A small in-memory tuner loop for scheduler tests, mirroring src/tunelab/tuner.py's flow.

On each REPORT: record it, build the History (with the decisions acted on so far), ask the
scheduler, record the decision, act (CONTINUE reply; STOP reply + PRUNED; PAUSE reply + PAUSED;
EXPLOIT reply + PAUSED + restart from the donor's checkpoint). A free slot goes first to queued
restarts, then to ``scheduler.next_resume``, then (if the scheduler accepts) to the strategy.
Checkpoint retention keeps each trial's last and best checkpoint plus the protected ones and
deletes the rest from the simulated executor. ``crash_when`` abandons the loop mid-run; a new
``Loop`` on the same ``Store`` recovers like the tuner does (running -> LOST -> re-run from the
last durable checkpoint, a recorded exploit restarts from its donor).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tunelab.executors.base import Event, EventKind, SegmentSpec
from tunelab.executors.simulated import SimulatedExecutor
from tunelab.schedulers.base import Resume, Scheduler
from tunelab.space import ParamValue
from tunelab.strategies.base import Strategy
from tunelab.trial import (
    Action,
    Decision,
    DecisionRecord,
    Goal,
    History,
    TrialState,
    TrialView,
    transition,
)


@dataclass
class Rec:
    number: int
    params: dict[str, ParamValue]
    state: TrialState = TrialState.PENDING
    values: list[tuple[int, float]] = field(default_factory=list)
    checkpoints: dict[int, str] = field(default_factory=dict)  # live ones: step -> path
    value: float | None = None
    attempt: int = 1

    def view(self) -> TrialView:
        return TrialView(self.number, dict(self.params), self.state, self.value,
                         tuple(self.values), tuple(sorted(self.checkpoints)), self.attempt)


@dataclass
class Store:
    """What the tuner would have in its database (survives a simulated crash)."""

    goal: Goal = "minimize"
    trials: dict[int, Rec] = field(default_factory=dict)
    decisions: list[DecisionRecord] = field(default_factory=list)
    log: list[tuple[Any, ...]] = field(default_factory=list)  # every decision, resumes too
    checkpoints: dict[str, Any] = field(default_factory=dict)  # the simulated checkpoint files
    copies: list[tuple[int, int, int, tuple[Any, ...], tuple[Any, ...]]] = field(
        default_factory=list)  # (recipient, donor, donor_step, donor state at decision, restored)

    def history(self) -> History:
        return History(tuple(t.view() for t in sorted(self.trials.values(),
                                                         key=lambda t: t.number)),
                       self.goal, tuple(self.decisions))


class Crash(Exception):
    pass


class Loop:
    def __init__(
        self, store: Store, scheduler: Scheduler, strategy: Strategy, make_executor:
        Callable[[dict[str, Any]], SimulatedExecutor], *, metric: str = "loss",
        max_trials: int = 20, crash_when: Callable[[Loop], bool] | None = None,
    ) -> None:
        self.store, self.scheduler, self.strategy = store, scheduler, strategy
        self.ex = make_executor(store.checkpoints)
        self.metric, self.max_trials, self.crash_when = metric, max_trials, crash_when
        self.ready: deque[tuple[int, str | None, int | None]] = deque()
        self.running: set[int] = set()
        self.reason: str | None = None
        self.events = 0
        self.pending_copy: dict[int, tuple[int, int, tuple[Any, ...]]] = {}
        self._recover()

    # recovery (what Tuner._recover does, with the exploit restart made explicit) --------------
    def _recover(self) -> None:
        last = {d.trial: d for d in self.store.decisions}
        for t in sorted(self.store.trials.values(), key=lambda t: t.number):
            if t.state is TrialState.RUNNING:
                t.state = transition(t.state, TrialState.LOST)
            d = last.get(t.number)
            exploit_pending = (
                d is not None and d.decision.action is Action.EXPLOIT
                and t.values and t.values[-1][0] == d.step
            )
            if exploit_pending and t.state in (TrialState.PAUSED, TrialState.LOST):
                assert d is not None
                self._queue_exploit(t, d.decision)
            elif t.state in (TrialState.LOST, TrialState.PENDING):
                step = max(t.checkpoints, default=None)
                self.ready.append((t.number, t.checkpoints.get(step) if step else None, step))

    # the loop ---------------------------------------------------------------------------------
    def run(self) -> str:
        while True:
            events = self.ex.poll(0.0)
            for ev in events:
                self._handle(ev)
                self.events += 1
                if self.crash_when is not None and self.crash_when(self):
                    raise Crash
            if self.reason is None:
                self.reason = self.scheduler.finished(self.store.history())
            if self.reason is not None:
                for n in list(self.running):
                    self.ex.stop(n, self.reason)
                if not self.running and not events:
                    return self.reason
                continue
            self._fill()
            if not self.running and not self.ready and not events:
                self.reason = "exhausted"
                return self.reason

    def _handle(self, ev: Event) -> None:
        t = self.store.trials[ev.trial_id]
        if ev.kind is EventKind.REPORT:
            assert ev.step is not None
            value = ev.metrics.get(self.metric)
            if value is not None and math.isfinite(value):
                t.values.append((ev.step, value))
                t.value = value
            if ev.checkpoint is not None:
                t.checkpoints[ev.checkpoint.step] = ev.checkpoint.path
            if t.state is not TrialState.RUNNING:
                self.ex.reply(t.number, Decision.stop("stopping"))
                return
            hist = self.store.history()
            d = self.scheduler.on_report(t.view(), ev.step, ev.metrics, hist)
            self.store.log.append((t.number, ev.step, d.action.value, d.donor, d.donor_step,
                                   tuple(sorted((d.params or {}).items()))))
            if d.action is not Action.CONTINUE:
                self.store.decisions.append(DecisionRecord(t.number, ev.step, d))
            if d.action is Action.STOP:
                t.state = transition(t.state, TrialState.PRUNED)
            elif d.action is Action.PAUSE:
                t.state = transition(t.state, TrialState.PAUSED)
            elif d.action is Action.EXPLOIT:
                t.state = transition(t.state, TrialState.PAUSED)
                self._queue_exploit(t, d)
            self._retain(t)
            self.ex.reply(t.number, d)
        elif ev.kind is EventKind.FINISHED:
            self.running.discard(t.number)
            if t.state is TrialState.RUNNING:
                t.value = ev.value
                t.state = transition(t.state, TrialState.COMPLETED)
        elif ev.kind in (EventKind.ENDED, EventKind.STOPPED, EventKind.FAILED):
            self.running.discard(t.number)
            if ev.kind is EventKind.FAILED and t.state is TrialState.RUNNING:
                t.state = transition(t.state, TrialState.FAILED)
            elif ev.kind is EventKind.STOPPED and t.state is TrialState.RUNNING:
                t.state = transition(t.state, TrialState.STOPPED)

    def _queue_exploit(self, t: Rec, d: Decision) -> None:
        assert d.donor is not None and d.donor_step is not None
        path = self.store.trials[d.donor].checkpoints.get(d.donor_step)
        assert path is not None, f"donor {d.donor} lost its checkpoint at {d.donor_step}"
        t.params = {**t.params, **(d.params or {})}
        self.pending_copy[t.number] = (d.donor, d.donor_step, tuple(self.store.checkpoints[path]))
        self.ready.append((t.number, path, d.donor_step))

    def _retain(self, t: Rec) -> None:
        if len(t.checkpoints) <= 2:
            return
        keep = {max(t.checkpoints)}
        sign = 1.0 if self.store.goal == "minimize" else -1.0
        scored = [(sign * v, s) for s, v in t.values if s in t.checkpoints]
        if scored:
            keep.add(min(scored)[1])
        keep |= {s for n, s in self.scheduler.protected_checkpoints(self.store.history())
                 if n == t.number}
        keep |= {s for s, p in t.checkpoints.items() if any(r[1] == p for r in self.ready)}
        for s in [s for s in t.checkpoints if s not in keep]:
            self.ex.forget(t.checkpoints.pop(s))

    def _fill(self) -> None:
        while self.ex.free_slots() > 0:
            if self.ready:
                self._start(*self.ready.popleft())
                continue
            hist = self.store.history()
            res: Resume | None = self.scheduler.next_resume(hist)
            if res is not None:
                self._resume(res)
                continue
            if len(self.store.trials) >= self.max_trials:
                return
            if not self.scheduler.accepts_new_trials(hist):
                return
            configs = self.strategy.ask(hist, 1)
            if not configs:
                return
            n = len(self.store.trials)
            self.store.trials[n] = Rec(n, dict(configs[0]))
            self._start(n, None, None)

    def _resume(self, res: Resume) -> None:
        t = self.store.trials[res.number]
        self.store.log.append((res.number, t.values[-1][0], "resume",
                               res.donor, res.step, tuple(sorted((res.params or {}).items()))))
        if res.donor is not None:
            # recorded like an exploit decision, so lineage and protection see it
            d = Decision.exploit(res.donor, res.step, res.params or {}, res.reason)
            self.store.decisions.append(DecisionRecord(res.number, t.values[-1][0], d))
            self._queue_exploit(t, d)
            self._start(*self.ready.pop())
            return
        src = t.checkpoints.get(res.step) if res.step else None
        self._start(res.number, src, res.step if src else None)

    def _start(self, number: int, restore: str | None, step: int | None) -> None:
        t = self.store.trials[number]
        copy = self.pending_copy.pop(number, None)
        if copy is not None:
            self.store.copies.append((number, *copy, tuple(self.store.checkpoints[restore or ""])))
        t.state = transition(t.state, TrialState.RUNNING)
        self.running.add(number)
        self.ex.start(SegmentSpec(trial_id=number, number=number, attempt=t.attempt, segment=0,
                                  params=dict(t.params), objective=None, metric=self.metric,
                                  checkpoint_dir="", restore_from=restore, restore_step=step))

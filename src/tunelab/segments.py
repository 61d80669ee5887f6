"""The job's segments in flight: starts queued for a slot, and the segments running now.

A queued start (:class:`~tunelab.restarts.Start`: a lost or retried trial, a PBT copy, a new
trial without a slot yet) waits until its trial's previous segment has ended. A segment's start
is written in the caller's unit (the trial RUNNING, the restored checkpoint checked by hash) and
launched on the executor after the commit; its start time on the executor's clock gives the
device-seconds charged when it ends.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunelab.executors.base import Executor, SegmentSpec
from tunelab.recorder import Unit
from tunelab.restarts import Start, verified_restore
from tunelab.spec import JobSpec

if TYPE_CHECKING:
    from tunelab.store.artifacts import Artifacts


@dataclass
class Segments:
    """What every segment of job ``job`` is run with, the queued starts and the running
    segments (trial id -> start time on the executor's clock)."""

    spec: JobSpec
    job: str
    objective: Any
    static: dict[str, Any]
    artifacts: Artifacts | None = None  # the executor's (set when it is ready)
    ready: deque[Start] = field(default_factory=deque)
    running: dict[int, float] = field(default_factory=dict)

    def next_ready(self) -> Start | None:
        """Take the first queued start whose trial has no segment running."""
        s = next((r for r in self.ready if r.trial.id not in self.running), None)
        if s is not None:
            self.ready.remove(s)
        return s

    def stalled(self) -> bool:
        """Starts are queued but none can run and nothing runs: a bug, never a wait."""
        return not self.running and not any(r.trial.id not in self.running for r in self.ready)

    def record_start(self, u: Unit, s: Start) -> SegmentSpec:
        """Write a segment's start (trial RUNNING); :meth:`launch` runs it after the commit.
        The checkpoint it restores is checked by hash first (see :func:`verified_restore`)."""
        assert self.artifacts is not None
        s = verified_restore(u, self.artifacts, s)
        seg = s.segment(static=self.static, objective=self.objective,
                        metric=self.spec.objective.metric, artifacts=self.artifacts,
                        job=self.job, max_trial_runtime=self.spec.limits.max_trial_runtime,
                        seed=self.spec.strategy.seed)
        u.start_segment(s.trial, time.time())
        return seg

    def launch(self, ex: Executor, seg: SegmentSpec) -> None:
        self.running[seg.trial_id] = ex.now()
        ex.start(seg)

    def ended(self, trial_id: int, at: float) -> float:
        """The trial's segment has ended at ``at``: the seconds it ran (0 if unknown)."""
        started = self.running.pop(trial_id, None)
        return max(0.0, at - started) if started is not None else 0.0

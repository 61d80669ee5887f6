"""The messages between the tuner's executor and a worker, as frozen dataclasses.

They travel over a :class:`~tunelab.executors.runner.Channel` (a ``multiprocessing`` pipe for the
local executor; a Ray actor's queue would do as well), so every field is picklable. A worker
sends :data:`WorkerMessage` s; the executor sends :data:`ExecutorMessage` s.

One segment of one trial, seen from the worker::

    executor -> Run(segment)
    worker   -> Started ... (Reported -> executor -> Reply)* ... Finished | Ended | Failed
                                                               | DiskFull
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tunelab.checkpoint import Checkpoint
from tunelab.executors.base import Event, EventKind, SegmentSpec
from tunelab.trial import Decision

# executor -> worker ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """Run this segment now."""

    segment: SegmentSpec


@dataclass(frozen=True)
class Reply:
    """The tuner's decision on the pending report of ``trial_id``."""

    trial_id: int
    decision: Decision


@dataclass(frozen=True)
class Exit:
    """Leave the worker loop (the executor shuts down)."""


ExecutorMessage = Run | Reply | Exit

# worker -> executor ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    """The objective is about to be called: the trial's time limit starts now."""

    trial_id: int
    at: float


@dataclass(frozen=True)
class Reported:
    """``trial.report()`` at ``step``; the worker waits for a :class:`Reply`."""

    trial_id: int
    step: int
    metrics: Mapping[str, float]
    checkpoint: Checkpoint | None
    at: float


@dataclass(frozen=True)
class Finished:
    """The objective returned. ``value`` is the objective metric it produced (returned, or the
    last reported), ``metrics`` what it returned, ``seen`` every metric name it reported or
    returned."""

    trial_id: int
    value: float | None
    metrics: Mapping[str, float]
    seen: tuple[str, ...]
    at: float


@dataclass(frozen=True)
class Ended:
    """The segment ended on a scheduler decision (``action``: pause, stop or exploit)."""

    trial_id: int
    action: str
    at: float


@dataclass(frozen=True)
class Failed:
    """The objective raised: ``error`` is one line, ``traceback`` the full text."""

    trial_id: int
    error: str
    traceback: str
    at: float


@dataclass(frozen=True)
class DiskFull:
    """No space left on the device (ENOSPC) while the segment ran, at ``where``: not the
    trial's fault; the tuner stops the job cleanly and the trial re-runs on resume."""

    trial_id: int
    where: str
    at: float


WorkerMessage = Started | Reported | Finished | Ended | Failed | DiskFull


def final_event(msg: Finished | Ended | Failed | DiskFull, trial_id: int, worker: str) -> Event:
    """The executor event a segment's last message becomes (the same on every executor)."""
    if isinstance(msg, Finished):
        return Event(EventKind.FINISHED, trial_id, msg.at, metrics=dict(msg.metrics),
                     worker=worker, value=msg.value, seen=msg.seen)
    if isinstance(msg, Ended):
        return Event(EventKind.ENDED, trial_id, msg.at, error=msg.action, worker=worker)
    if isinstance(msg, Failed):
        return Event(EventKind.FAILED, trial_id, msg.at, error=msg.error,
                     traceback=msg.traceback, worker=worker)
    return Event(EventKind.DISK_FULL, trial_id, msg.at, error=msg.where, worker=worker)

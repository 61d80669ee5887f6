"""The executor contract: run trial segments somewhere and report what happened.

An executor starts a segment of a trial on a free slot, relays its reports, answers them with the
tuner's decision, stops segments on request, and turns crashes and time-outs into events. It never
touches the store: only the tuner writes.

Reports are synchronous: the objective's ``report()`` waits until the tuner has recorded the
report and answered with a decision, so a PAUSE at step k really pauses at step k (ASHA and PBT
decisions are exact and the simulated and local executors take the same ones).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunelab.checkpoint import Checkpoint as Checkpoint  # re-exported: part of the contract
from tunelab.space import ParamValue
from tunelab.trial import Decision

if TYPE_CHECKING:
    from tunelab.store.artifacts import Artifacts


@dataclass(frozen=True)
class SegmentSpec:
    """Everything a worker needs to run one segment of one trial (picklable)."""

    trial_id: int  # store id
    number: int
    attempt: int
    segment: int  # 0 for the first segment of this attempt
    params: Mapping[str, ParamValue]  # search params with static params merged in
    objective: Any  # an objective spec from tunelab.objectives (picklable)
    metric: str  # the objective metric's name
    checkpoint_dir: str
    restore_from: str | None = None  # checkpoint key to restore (own or donor's), verified
    restore_step: int | None = None
    restore_sha256: str | None = None  # the restore checkpoint's recorded sha256
    artifact_root: str | None = None  # the job's artifact root (default: checkpoint_dir)
    time_limit: float | None = None  # seconds for this trial (max_trial_runtime), None = none
    seed: int = 0


class EventKind(str, enum.Enum):
    STARTED = "started"
    REPORT = "report"  # needs a reply (executor.reply)
    FINISHED = "finished"  # the objective returned
    ENDED = "ended"  # the segment ended after a PAUSE/STOP/EXPLOIT decision
    FAILED = "failed"  # raised, crashed, NaN
    TIMED_OUT = "timed_out"
    STOPPED = "stopped"  # stopped on executor.stop()
    DISK_FULL = "disk_full"  # no space left (error: where): the job stops, the trial re-runs
    LOST = "lost"  # its worker's node died (Ray): the trial re-runs from its checkpoint now
    CLUSTER_GONE = "cluster_gone"  # the cluster went away: the job stops, resume re-runs it


@dataclass(frozen=True)
class Event:
    kind: EventKind
    trial_id: int
    at: float  # executor clock (seconds)
    step: int | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    checkpoint: Checkpoint | None = None
    error: str | None = None
    traceback: str | None = None
    worker: str | None = None  # e.g. "pid 1234 slot 0"
    value: float | None = None  # FINISHED: the objective's final value, if it produced one
    seen: tuple[str, ...] = ()  # FINISHED: every metric name the trial reported or returned


class Executor(ABC):
    """Runs trial segments on a fixed number of slots."""

    @property
    @abstractmethod
    def slots(self) -> int:
        """Number of segments that can run at once."""

    @abstractmethod
    def free_slots(self) -> int:
        """Slots free right now."""

    @abstractmethod
    def start(self, segment: SegmentSpec) -> None:
        """Start a segment on a free slot (the caller checks :meth:`free_slots` first)."""

    @abstractmethod
    def reply(self, trial_id: int, decision: Decision) -> None:
        """Answer the pending report of ``trial_id``."""

    @abstractmethod
    def stop(self, trial_id: int, reason: str = "") -> None:
        """Stop a running segment now; a STOPPED (or FINISHED, if it raced) event follows."""

    @abstractmethod
    def poll(self, timeout: float) -> list[Event]:
        """Events since the last poll, waiting at most ``timeout`` seconds for the first."""

    @abstractmethod
    def now(self) -> float:
        """The executor's clock in seconds (wall clock, or a virtual one for simulations)."""

    def artifacts(self, job_artifacts: Artifacts) -> Artifacts:
        """Where this executor's segments keep checkpoints, for the tuner to verify and delete
        them: the job's artifact store unless the executor keeps its own (the simulated one
        keeps fake checkpoints in memory)."""
        return job_artifacts

    def shutdown(self) -> None:  # noqa: B027 - optional hook
        """Stop everything and release the slots."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

"""Plain records read from the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tunelab.trial import TrialState


@dataclass
class JobRecord:
    id: int
    name: str
    status: str
    status_reason: str | None
    metric: str
    goal: str
    spec: dict[str, Any]
    created_at: float
    updated_at: float
    ended_at: float | None
    lease_owner: str | None
    lease_until: float | None
    stop_requested: bool
    data: dict[str, Any]
    artifact_root: str | None = None  # absolute; None: made before it was recorded


@dataclass
class ReportRecord:
    step: int
    value: float | None
    metrics: dict[str, float]
    at: float


@dataclass
class CheckpointRecord:
    id: int
    step: int
    path: str
    sha256: str
    size: int
    deleted: bool = False


@dataclass
class TrialRecord:
    id: int
    number: int
    attempt: int
    retry_of: int | None
    source: str
    params: dict[str, Any]
    state: TrialState
    value: float | None
    last_step: int | None
    segments: int
    error: str | None
    traceback: str | None
    worker: str | None
    created_at: float
    started_at: float | None
    ended_at: float | None
    device_seconds: float
    metrics: dict[str, float] = field(default_factory=dict)  # what the function returned
    reports: list[ReportRecord] = field(default_factory=list)
    checkpoints: list[CheckpointRecord] = field(default_factory=list)

    def live_checkpoints(self) -> list[CheckpointRecord]:
        return [c for c in self.checkpoints if not c.deleted]

    def checkpoint_at(self, step: int) -> CheckpointRecord | None:
        for c in self.checkpoints:
            if c.step == step and not c.deleted:
                return c
        return None

    def last_checkpoint(self) -> CheckpointRecord | None:
        live = self.live_checkpoints()
        return max(live, key=lambda c: c.step) if live else None


@dataclass
class DecisionRow:
    trial_number: int
    step: int
    action: str
    reason: str | None
    donor: int | None
    donor_step: int | None
    params: dict[str, Any] | None
    at: float


@dataclass
class EventRow:
    trial_number: int | None
    kind: str
    message: str | None
    data: dict[str, Any] | None
    at: float

"""Typed answers of the read side (:mod:`tunelab.store.queries`).

Pydantic models, so the CLI's ``--json``, the Python API and the web server's OpenAPI schema
share one definition. :class:`JobSummary` is the shape of ``tunelab show --json`` (its
``model_dump()`` is that JSON, field for field).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Objective(BaseModel):
    metric: str
    goal: str


class BestTrial(BaseModel):
    number: int
    params: dict[str, Any]
    value: float | None


class TrialRow(BaseModel):
    """One leaderboard row (a trial without its reports)."""

    number: int
    state: str
    params: dict[str, Any]
    value: float | None
    attempt: int
    retry_of: int | None
    error: str | None
    steps: int | None
    device_seconds: float
    last_metrics: dict[str, float]
    metrics: dict[str, float]
    checkpoint_bytes: int
    rank: int | None = None  # place among ranked trials (failed attempts: none)


class LineageRow(BaseModel):
    trial: int
    step: int
    action: str
    donor: int | None
    donor_step: int | None
    params: dict[str, Any] | None
    reason: str | None


class JobSummary(BaseModel):
    """Everything ``tunelab show NAME --json`` prints (and :class:`tunelab.api.TuneResult`
    carries)."""

    name: str
    status: str
    status_reason: str | None
    objective: Objective
    strategy: dict[str, Any]
    best: BestTrial | None
    static: dict[str, Any]
    counts: dict[str, int]  # each trial once, in the state of its latest attempt
    device_seconds: float
    device_hours: float
    #: Device-hours per device type ({"NVIDIA H200": 0.42, "CPU": 1.3}); see tunelab.devices.
    device_hours_by_type: dict[str, float] = {}
    epochs: int
    checkpoint_bytes: int
    created_at: float
    ended_at: float | None
    trials: list[TrialRow]
    diagnosis: dict[str, Any]
    decisions: list[LineageRow]
    data: dict[str, Any] | None
    warm_start: dict[str, Any] | None


class JobOverview(BaseModel):
    """One job of the job list (all of them come from one query)."""

    name: str
    status: str
    status_reason: str | None
    metric: str
    goal: str
    strategy: str | None
    trials: int
    counts: dict[str, int]
    best: float | None
    device_seconds: float
    device_hours: float
    created_at: float
    updated_at: float
    ended_at: float | None
    stop_requested: bool


class JobHeader(JobOverview):
    """A job's page header: the overview plus what only one job needs."""

    best_trial: BestTrial | None
    static: dict[str, Any]
    strategy_options: dict[str, Any]
    limits: dict[str, Any]
    search_space: dict[str, Any]
    epochs: int
    runtime_seconds: float
    diagnosis: dict[str, Any] | None
    data: dict[str, Any] | None
    warm_start: dict[str, Any] | None
    metrics: list[str]


class TrialPage(BaseModel):
    """A page of the leaderboard: ``total`` rows match the filter, ``rows`` are this page."""

    total: int
    offset: int
    limit: int
    sort: str
    rows: list[TrialRow]


class ReportRow(BaseModel):
    id: int
    trial: int
    step: int
    value: float | None
    metrics: dict[str, float | None]
    at: float


class CheckpointRow(BaseModel):
    step: int
    path: str
    sha256: str
    size: int
    deleted: bool


class EventOut(BaseModel):
    id: int
    trial: int | None
    kind: str
    message: str | None
    data: dict[str, Any] | None
    at: float


class TrialDetail(BaseModel):
    """One trial in full: parameters, every report, decisions, checkpoints, error."""

    job: str
    number: int
    state: str
    params: dict[str, Any]
    value: float | None
    attempt: int
    retry_of: int | None
    source: str
    segments: int
    steps: int | None
    device_seconds: float
    created_at: float
    started_at: float | None
    ended_at: float | None
    error: str | None
    traceback: str | None
    metrics: dict[str, float]
    reports: list[ReportRow]
    decisions: list[LineageRow]
    checkpoints: list[CheckpointRow]
    events: list[EventOut]
    diagnosis: dict[str, Any] | None


class Curve(BaseModel):
    trial: int
    steps: list[int]
    values: list[float | None]


class Curves(BaseModel):
    """Per-step values of one metric for many trials; ``cursor`` is the last report id read
    (pass it back as ``after`` to get only what came since)."""

    metric: str
    cursor: int
    curves: list[Curve]


class EventPage(BaseModel):
    cursor: int
    events: list[EventOut]


class ReportPage(BaseModel):
    cursor: int
    reports: list[ReportRow]


class JobVersion(BaseModel):
    """A cheap fingerprint of a job: it changes whenever anything about the job is written."""

    token: str
    status: str
    report_cursor: int
    event_cursor: int


class TrialPoint(BaseModel):
    """One trial as a point: what history, parallel coordinates and slice plots draw."""

    number: int
    state: str
    params: dict[str, Any]
    value: float | None
    steps: int | None
    ended_at: float | None
    device_seconds: float

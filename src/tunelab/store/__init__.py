"""The durable store: SQLite by default, PostgreSQL for many machines."""

from __future__ import annotations

from tunelab.store.engine import DEFAULT_STORE, resolve_url
from tunelab.store.records import (
    CheckpointRecord,
    DecisionRow,
    EventRow,
    JobRecord,
    ReportRecord,
    TrialRecord,
)
from tunelab.store.repository import JOB_STATUSES, Store, Tx

__all__ = [
    "DEFAULT_STORE",
    "JOB_STATUSES",
    "CheckpointRecord",
    "DecisionRow",
    "EventRow",
    "JobRecord",
    "ReportRecord",
    "Store",
    "TrialRecord",
    "Tx",
    "resolve_url",
]

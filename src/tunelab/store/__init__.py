"""The durable store: SQLite by default, PostgreSQL for many machines.

Its names load on first use (PEP 562), so ``tunelab.store.artifacts`` — which worker processes
use to write and verify checkpoints — imports without SQLAlchemy or the database layer: workers
never load the store itself (``tests/test_tuner.py``)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "DEFAULT_STORE": "engine", "resolve_url": "engine",
    "CheckpointRecord": "records", "DecisionRow": "records", "EventRow": "records",
    "JobRecord": "records", "ReportRecord": "records", "TrialRecord": "records",
    "JOB_STATUSES": "repository", "Store": "repository", "Tx": "repository",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'tunelab.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"tunelab.store.{module}"), name)
    globals()[name] = value
    return value


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

"""The job summary behind `tunelab show` (table and --json) and the Python API's result."""

from __future__ import annotations

import math
from typing import Any

from tunelab.jobstate import JobState
from tunelab.store import Store, TrialRecord
from tunelab.store.queries import STALE_LEASE, job_status

__all__ = ["STALE_LEASE", "diagnoses", "job_status", "job_summary", "leaderboard",
           "returned_metrics", "static_params", "trial_dict"]


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def returned_metrics(t: TrialRecord) -> dict[str, float]:
    """The metrics the training function returned; when it returned none, those of its last
    report (finite values only)."""
    if t.metrics:
        return dict(t.metrics)
    last = t.reports[-1].metrics if t.reports else {}
    return {k: v for k, v in last.items() if math.isfinite(v)}


def trial_dict(t: TrialRecord) -> dict[str, Any]:
    return {
        "number": t.number,
        "state": t.state.value,
        "params": t.params,
        "value": _finite(t.value),
        "attempt": t.attempt,
        "retry_of": t.retry_of,
        "error": t.error,
        "steps": t.last_step,
        "device_seconds": round(t.device_seconds, 3),
        "last_metrics": t.reports[-1].metrics if t.reports else {},
        "metrics": returned_metrics(t),
        "checkpoint_bytes": sum(c.size for c in t.live_checkpoints()),
    }


def leaderboard(state: JobState) -> list[TrialRecord]:
    """Ranked trials best first (:meth:`JobState.ranked`: the first is the job's best), then
    the unranked ones (failed, timed out, pending, no value) by number."""
    ranked = state.ranked()
    seen = {t.id for t in ranked}
    return ranked + sorted((t for t in state.trials.values() if t.id not in seen),
                           key=lambda t: t.number)


def job_summary(store: Store, name: str) -> dict[str, Any]:
    """Everything `tunelab show NAME --json` prints (the read side's typed
    :class:`~tunelab.store.read_models.JobSummary` as a dict)."""
    from tunelab.store.queries import Reader

    reader = Reader.of(store)
    try:
        return reader.job_summary(name).model_dump()
    finally:
        if reader.engine is not store.engine:
            reader.close()


def static_params(spec: dict[str, Any]) -> dict[str, Any]:
    """The job's fixed hyperparameters: ``static:``, and a built-in trainer's ``train:`` keys."""
    from tunelab.spec import TrainSpec

    train = spec.get("train") or {}
    out = ({k: v for k, v in train.items() if k not in TrainSpec.model_fields}
           if train.get("builtin") else {})
    out.update(spec.get("static") or {})
    return out


def diagnoses(state: JobState) -> dict[str, Any]:
    """Over/under-fitting diagnosis per trial that reports train_/val_ metrics, and the best's."""
    from tunelab.report.diagnosis import diagnose

    per: dict[int, dict[str, Any]] = {}
    static = static_params(state.job.spec)
    for t in state.trials.values():
        if not any(k.startswith(("train_", "val_")) for r in t.reports for k in r.metrics):
            continue
        d = diagnose([r.metrics for r in t.reports], params={**static, **t.params})
        if d.kind != "unknown":
            per[t.number] = {"kind": d.kind, "summary": d.summary, "advice": list(d.advice)}
    best = state.best()
    return {"best": per.get(best.number) if best else None, "trials": per}

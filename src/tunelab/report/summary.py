"""The job summary behind `tunelab show` (table and --json) and the Python API's result."""

from __future__ import annotations

import math
import time
from typing import Any

from tunelab.jobstate import JobState
from tunelab.store import JobRecord, Store, TrialRecord, Tx
from tunelab.trial import TrialState

STALE_LEASE = "interrupted"


def job_status(job: JobRecord) -> str:
    """The job's status, with a crashed tuner (running, lease expired) shown as interrupted."""
    if job.status == "running" and (job.lease_until is None or job.lease_until < time.time()):
        return STALE_LEASE
    return job.status


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
    """Trials sorted by objective (best first); trials without a value last, by number."""
    sign = 1.0 if state.goal == "minimize" else -1.0
    return sorted(
        state.trials.values(),
        key=lambda t: (0, sign * (t.value or 0.0), t.number) if _finite(t.value) is not None
        and t.state in (TrialState.COMPLETED, TrialState.PRUNED, TrialState.PAUSED,
                        TrialState.STOPPED, TrialState.RUNNING)
        else (1, 0.0, t.number),
    )


def job_summary(store: Store, name: str) -> dict[str, Any]:
    """Everything `tunelab show NAME --json` prints."""
    tx = store.read()
    job = tx.job(name)
    state = JobState.load(tx, job)
    best = state.best()
    lineage = [
        {"trial": d.trial_number, "step": d.step, "action": d.action, "donor": d.donor,
         "donor_step": d.donor_step, "params": d.params, "reason": d.reason}
        for d in state.decisions
    ]
    return {
        "name": job.name,
        "status": job_status(job),
        "status_reason": job.status_reason,
        "objective": {"metric": job.metric, "goal": job.goal},
        "strategy": job.spec.get("strategy", {}),
        "best": None if best is None else {
            "number": best.number, "params": best.params, "value": _finite(best.value),
        },
        "static": static_params(job.spec),
        "counts": state.counts(),
        "device_seconds": round(sum(t.device_seconds for t in state.trials.values()), 3),
        "device_hours": round(sum(t.device_seconds for t in state.trials.values()) / 3600, 6),
        "epochs": state.epochs_spent(),
        "checkpoint_bytes": sum(c.size for t in state.trials.values()
                                for c in t.live_checkpoints()),
        "created_at": job.created_at,
        "ended_at": job.ended_at,
        "trials": [trial_dict(t) for t in leaderboard(state)],
        "diagnosis": diagnoses(state),
        "decisions": lineage,
        "data": _data_event(tx, job.id),
        "warm_start": _last_event(tx, job.id, "warm_start"),
    }


def static_params(spec: dict[str, Any]) -> dict[str, Any]:
    """The job's fixed hyperparameters: ``static:``, and a built-in trainer's ``train:`` keys."""
    from tunelab.spec import TrainSpec

    train = spec.get("train") or {}
    out = ({k: v for k, v in train.items() if k not in TrainSpec.model_fields}
           if train.get("builtin") else {})
    out.update(spec.get("static") or {})
    return out


def _data_event(tx: Tx, job_id: int) -> dict[str, Any] | None:
    """What the tuner found in a built-in trainer's data (skipped files included), if any."""
    return _last_event(tx, job_id, "data")


def _last_event(tx: Tx, job_id: int, kind: str) -> dict[str, Any] | None:
    """The latest event of ``kind``: its message and data, or None."""
    rows = tx.events(job_id, kind)
    if not rows:
        return None
    return {"message": rows[-1].message, **(rows[-1].data or {})}


def diagnoses(state: JobState) -> dict[str, Any]:
    """Over/under-fitting diagnosis per trial that reports train_/val_ metrics, and the best's."""
    from tunelab.report.diagnosis import diagnose

    per: dict[int, dict[str, Any]] = {}
    for t in state.trials.values():
        if not any(k.startswith(("train_", "val_")) for r in t.reports for k in r.metrics):
            continue
        d = diagnose([r.metrics for r in t.reports])
        if d.kind != "unknown":
            per[t.number] = {"kind": d.kind, "summary": d.summary, "advice": list(d.advice)}
    best = state.best()
    return {"best": per.get(best.number) if best else None, "trials": per}

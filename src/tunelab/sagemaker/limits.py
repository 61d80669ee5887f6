"""Limits (``ResourceLimits``, ``StoppingCondition``, ``RetryStrategy``) and
``TuningJobCompletionCriteria``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunelab.errors import SpecError
from tunelab.sagemaker.ledger import Ledger
from tunelab.sagemaker.values import as_number, int_fields

# SageMaker key -> (tunelab limit, minimum): the tuning config's ResourceLimits...
_RESOURCE_LIMITS: dict[str, tuple[str, int]] = {
    "MaxNumberOfTrainingJobs": ("max_trials", 1),
    "MaxParallelTrainingJobs": ("max_parallel", 1),
    "MaxRuntimeInSeconds": ("max_runtime", 1),
}
# ... and, per section, the training job definition's.
_DEFINITION_LIMITS: dict[str, dict[str, tuple[str, int]]] = {
    "StoppingCondition": {"MaxRuntimeInSeconds": ("max_trial_runtime", 1)},
    "RetryStrategy": {"MaximumRetryAttempts": ("max_retries", 0)},
}
_NOT_IMPROVING: dict[str, tuple[str, int]] = {
    "MaxNumberOfTrainingJobsNotImproving": ("no_improvement_trials", 1),
}


def limits(
    cfg: Mapping[str, Any],
    cp: str,
    tjd: Mapping[str, Any] | None,
    tp: str,
    ledger: Ledger,
) -> dict[str, int]:
    """tunelab's ``limits``: the job's from ``ResourceLimits``, a trial's from the definition."""
    sections = [(cfg, cp, "ResourceLimits", _RESOURCE_LIMITS)]
    if tjd is not None:
        sections += [(tjd, tp, key, fields) for key, fields in _DEFINITION_LIMITS.items()]
    out: dict[str, int] = {}
    for parent, prefix, key, fields in sections:
        if key in parent:
            path = f"{prefix}{key}"
            section = ledger.section(parent[key], path, set(fields))
            out.update(int_fields(section, path, fields))
    return out


def completion(cfg: Mapping[str, Any], cp: str, ledger: Ledger) -> dict[str, Any]:
    """``TuningJobCompletionCriteria`` as tunelab's ``completion``."""
    if "TuningJobCompletionCriteria" not in cfg:
        return {}
    p = f"{cp}TuningJobCompletionCriteria"
    known = {"TargetObjectiveMetricValue", "BestObjectiveNotImproving", "ConvergenceDetected"}
    cc = ledger.section(cfg["TuningJobCompletionCriteria"], p, known)
    out: dict[str, Any] = {}
    if "TargetObjectiveMetricValue" in cc:
        out["target"] = as_number(
            cc["TargetObjectiveMetricValue"], f"{p}.TargetObjectiveMetricValue"
        )
    if "BestObjectiveNotImproving" in cc:
        bp = f"{p}.BestObjectiveNotImproving"
        b = ledger.section(cc["BestObjectiveNotImproving"], bp, set(_NOT_IMPROVING))
        out.update(int_fields(b, bp, _NOT_IMPROVING))
    if "ConvergenceDetected" in cc:
        dp = f"{p}.ConvergenceDetected"
        d = ledger.section(cc["ConvergenceDetected"], dp, {"CompleteOnConvergence"})
        if "CompleteOnConvergence" in d:
            v = d["CompleteOnConvergence"]
            if v not in ("Enabled", "Disabled"):
                raise SpecError.field(f"{dp}.CompleteOnConvergence", "Enabled or Disabled", v)
            out["convergence"] = v == "Enabled"
    return out

"""The converter: walks one request (or bare inner config) into a :class:`SageMakerImport`,
reading the name and objective itself and the rest through the modules beside it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunelab.errors import SpecError
from tunelab.sagemaker.ledger import Ledger
from tunelab.sagemaker.limits import completion, limits
from tunelab.sagemaker.ranges import search_space
from tunelab.sagemaker.result import SageMakerImport
from tunelab.sagemaker.strategy import early_stopping, strategy, warm_start
from tunelab.sagemaker.training import (
    metric_definitions,
    static_hyperparameters,
    training_definition,
)

_REQUEST_KEYS: frozenset[str] = frozenset(
    {
        "HyperParameterTuningJobName",
        "HyperParameterTuningJobConfig",
        "TrainingJobDefinition",
        "TrainingJobDefinitions",
        "WarmStartConfig",
    }
)
_CONFIG_KEYS: frozenset[str] = frozenset(
    {
        "Strategy",
        "StrategyConfig",
        "HyperParameterTuningJobObjective",
        "ResourceLimits",
        "ParameterRanges",
        "TrainingJobEarlyStoppingType",
        "TuningJobCompletionCriteria",
        "RandomSeed",
    }
)
_DEFINITION_KEYS: frozenset[str] = frozenset(
    {
        "StaticHyperParameters",
        "StoppingCondition",
        "RetryStrategy",
        "TuningObjective",
        "HyperParameterRanges",
        "AlgorithmSpecification",
    }
)


def convert(data: Mapping[str, Any], default_name: str) -> SageMakerImport:
    """Convert one request or inner config; collect the spec and the ignored paths as it goes."""
    ledger = Ledger()
    if isinstance(data.get("HyperParameterTuningJobConfig"), Mapping):
        cfg: Mapping[str, Any] = data["HyperParameterTuningJobConfig"]
        cp = "HyperParameterTuningJobConfig."
        ledger.ignore_rest(data, _REQUEST_KEYS, "")
        tjd, tp = training_definition(data, ledger)
    else:
        # A bare inner config: request-level keys (TrainingJobDefinition...) are not read
        # here and end up in `ignored` with any other unknown key.
        cfg, cp = data, ""
        tjd, tp = None, ""

    spec: dict[str, Any] = {"name": _name(data, default_name)}
    spec["objective"] = _objective(cfg, cp, tjd, tp, ledger)
    static = static_hyperparameters(tjd, tp, ledger)
    metrics = metric_definitions(tjd, tp, ledger)
    if metrics:
        spec["train"] = {"metrics": metrics}
    if static:
        spec["static"] = static
    spec["search_space"] = search_space(cfg, cp, tjd, tp, static, ledger)
    spec["strategy"] = strategy(cfg, cp, static, ledger)
    spec["early_stopping"] = early_stopping(cfg, cp)
    job_limits = limits(cfg, cp, tjd, tp, ledger)
    if job_limits:
        spec["limits"] = job_limits
    criteria = completion(cfg, cp, ledger)
    if criteria:
        spec["completion"] = criteria
    if "WarmStartConfig" in data and cp:
        spec["warm_start"] = warm_start(data["WarmStartConfig"], ledger)
    ledger.ignore_rest(cfg, _CONFIG_KEYS, cp)
    if tjd is not None:
        ledger.ignore_rest(tjd, _DEFINITION_KEYS, tp)
    return SageMakerImport(spec=spec, ignored=ledger.ignored, notes=ledger.notes)


def _name(data: Mapping[str, Any], default_name: str) -> str:
    name = data.get("HyperParameterTuningJobName")
    if name is None:
        return default_name
    if not isinstance(name, str) or not name.strip():
        raise SpecError.field(
            "HyperParameterTuningJobName", "a non-empty string", name, "Name the job."
        )
    return name


def _objective(
    cfg: Mapping[str, Any],
    cp: str,
    tjd: Mapping[str, Any] | None,
    tp: str,
    ledger: Ledger,
) -> dict[str, str]:
    obj, path = ledger.config_or_definition(
        cfg,
        cp,
        "HyperParameterTuningJobObjective",
        tjd,
        tp,
        "TuningObjective",
        expected='present: {"Type": "Minimize" | "Maximize", "MetricName": ...}',
        fix="Add HyperParameterTuningJobObjective naming the metric to optimise.",
        record_equal=False,
    )
    kind = obj.get("Type")
    if kind not in ("Minimize", "Maximize"):
        raise SpecError.field(f"{path}.Type", "Minimize or Maximize", kind)
    metric = obj.get("MetricName")
    if not isinstance(metric, str) or not metric:
        raise SpecError.field(
            f"{path}.MetricName", "a non-empty metric name", metric, "Name the metric."
        )
    return {"metric": metric, "goal": kind.lower()}

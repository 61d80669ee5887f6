"""What tunelab reads of the training job definition: which one, its static hyperparameters
and its metric definitions."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from tunelab.errors import SpecError
from tunelab.sagemaker.ledger import Ledger
from tunelab.sagemaker.values import as_mapping, parse_value

# Hyperparameters the SageMaker Python SDK adds for its own containers (script location in S3,
# region, log level...). They mean nothing to a tunelab trial.
_SDK_STATIC_PREFIXES: tuple[str, ...] = ("sagemaker_", "_tuning_objective_metric")


def training_definition(
    data: Mapping[str, Any], ledger: Ledger
) -> tuple[Mapping[str, Any] | None, str]:
    """The request's training job definition (the first of several) and its path prefix."""
    if "TrainingJobDefinition" in data:
        tjd = as_mapping(data["TrainingJobDefinition"], "TrainingJobDefinition")
        if "TrainingJobDefinitions" in data:
            ledger.ignore(data["TrainingJobDefinitions"], "TrainingJobDefinitions")
            ledger.notes.append(
                "both TrainingJobDefinition and TrainingJobDefinitions are given; "
                "TrainingJobDefinition was used and TrainingJobDefinitions ignored."
            )
        return tjd, "TrainingJobDefinition."
    if "TrainingJobDefinitions" not in data:
        return None, ""
    defs = data["TrainingJobDefinitions"]
    if not isinstance(defs, list) or not defs:
        raise SpecError.field(
            "TrainingJobDefinitions",
            "a non-empty list of training job definitions",
            defs,
            "Give at least one definition, or remove the key.",
        )
    first = as_mapping(defs[0], "TrainingJobDefinitions[0]")
    if len(defs) > 1:
        label = first.get("DefinitionName", "#0")
        ledger.notes.append(
            f"TrainingJobDefinitions has {len(defs)} definitions; tunelab tunes one "
            f"training job, so only the first ({label!s}) was used and the other "
            f"{len(defs) - 1} ignored."
        )
        for i in range(1, len(defs)):
            ledger.ignored.append(f"TrainingJobDefinitions[{i}]")
    return first, "TrainingJobDefinitions[0]."


def static_hyperparameters(
    tjd: Mapping[str, Any] | None, tp: str, ledger: Ledger
) -> dict[str, Any]:
    """``StaticHyperParameters`` parsed with :func:`parse_value`, less the SDK's own."""
    if tjd is None or "StaticHyperParameters" not in tjd:
        return {}
    path = f"{tp}StaticHyperParameters"
    raw = as_mapping(tjd["StaticHyperParameters"], path)
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if k.startswith(_SDK_STATIC_PREFIXES):
            ledger.ignored.append(f"{path}.{k}")
            continue
        if not isinstance(v, (str, int, float, bool)) or (
            isinstance(v, float) and not math.isfinite(v)
        ):
            raise SpecError.field(f"{path}.{k}", 'a string such as "3", "0.1" or "adam"', v)
        out[k] = parse_value(v)
    return out


def metric_definitions(
    tjd: Mapping[str, Any] | None, tp: str, ledger: Ledger
) -> list[dict[str, str]]:
    """``AlgorithmSpecification.MetricDefinitions`` as tunelab's ``train.metrics``."""
    if tjd is None or "AlgorithmSpecification" not in tjd:
        return []
    ap = f"{tp}AlgorithmSpecification"
    algo = ledger.section(tjd["AlgorithmSpecification"], ap, {"MetricDefinitions"})
    defs = algo.get("MetricDefinitions")
    if defs is None:
        return []
    if not isinstance(defs, list):
        raise SpecError.field(f"{ap}.MetricDefinitions", "a list of {Name, Regex}", defs)
    out: list[dict[str, str]] = []
    for i, d in enumerate(defs):
        p = f"{ap}.MetricDefinitions[{i}]"
        d = as_mapping(d, p)
        name, regex = d.get("Name"), d.get("Regex")
        if not isinstance(name, str) or not name:
            raise SpecError.field(f"{p}.Name", "a non-empty metric name", name)
        if not isinstance(regex, str) or not regex:
            raise SpecError.field(f"{p}.Regex", "a regular expression with one group", regex)
        try:
            re.compile(regex)
        except re.error as e:
            raise SpecError.field(
                f"{p}.Regex", "a valid regular expression", regex, f"Python says: {e}."
            ) from None
        out.append({"name": name, "regex": regex})
    return out

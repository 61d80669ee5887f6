"""Import an Amazon SageMaker hyperparameter tuning job config as a tunelab spec dict.

A file may hold the whole ``CreateHyperParameterTuningJob`` request (with
``HyperParameterTuningJobName``, ``HyperParameterTuningJobConfig`` and optionally
``TrainingJobDefinition``/``TrainingJobDefinitions`` and ``WarmStartConfig``) or just the inner
``HyperParameterTuningJobConfig``. The result is plain data in tunelab's spec format; the spec
layer validates it further (for example whether the named strategy is built yet).

Fields tunelab cannot honour (instances, S3 locations, container images, IAM roles, VPCs...)
are never dropped silently: they are collected in :attr:`SageMakerImport.ignored` and
:meth:`SageMakerImport.warning` turns them into one message.

    >>> imp = convert_sagemaker_config({
    ...     "Strategy": "Random",
    ...     "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
    ...     "ResourceLimits": {"MaxNumberOfTrainingJobs": 20, "MaxParallelTrainingJobs": 2},
    ...     "ParameterRanges": {"ContinuousParameterRanges": [
    ...         {"Name": "lr", "MinValue": "0.0001", "MaxValue": "1", "ScalingType": "Auto"}]},
    ... }, default_name="quad")
    >>> imp.spec["search_space"]
    {'lr': {'type': 'float', 'low': 0.0001, 'high': 1.0, 'scale': 'log'}}
    >>> imp.warning() is None
    True

``ScalingType: Auto`` has no published rule; tunelab resolves it once, at import: a range with
``MinValue > 0`` and ``MaxValue / MinValue >= 100`` (at least two decades) becomes ``log``,
anything else ``linear``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tunelab.errors import SpecError
from tunelab.sagemaker.converter import convert
from tunelab.sagemaker.result import SageMakerImport
from tunelab.sagemaker.values import parse_value as parse_value
from tunelab.specfile import read_spec_text

__all__ = [
    "SageMakerImport",
    "convert_sagemaker_config",
    "is_sagemaker_config",
    "load_sagemaker_config",
]

_INNER_KEYS: frozenset[str] = frozenset(
    {"Strategy", "ParameterRanges", "ResourceLimits", "HyperParameterTuningJobObjective"}
)


def is_sagemaker_config(data: Mapping[str, Any]) -> bool:
    """True if ``data`` looks like a SageMaker tuning request or its inner config.

    A whole request has ``HyperParameterTuningJobConfig``; a bare inner config has ``Strategy``
    plus one of ``ParameterRanges``, ``ResourceLimits`` or ``HyperParameterTuningJobObjective``.
    tunelab's own specs use lower-case keys, so the two never overlap.

    >>> is_sagemaker_config({"Strategy": "Bayesian", "ParameterRanges": {}})
    True
    >>> is_sagemaker_config({"name": "x", "strategy": {"type": "random"}})
    False
    """
    if not isinstance(data, Mapping):
        return False
    if isinstance(data.get("HyperParameterTuningJobConfig"), Mapping):
        return True
    return "Strategy" in data and any(k in data for k in _INNER_KEYS - {"Strategy"})


def load_sagemaker_config(path: str | Path) -> SageMakerImport:
    """Read a SageMaker tuning-job JSON file and convert it with :func:`convert_sagemaker_config`.

    The job name is ``HyperParameterTuningJobName`` if the file has one, else the file stem
    (characters other than letters, digits, ``.``, ``_`` and ``-`` become ``-``).
    Every problem raises :class:`SpecError` whose message starts with the file name and names
    the JSON path, e.g. ``tune.json: `HyperParameterTuningJobConfig.Strategy` must be ...``.
    """
    p = Path(path)
    try:
        text = read_spec_text(p, "sagemaker", "JSON file")
    except OSError as e:
        raise SpecError.field("sagemaker", "a readable UTF-8 JSON file", str(p), str(e)) from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as e:
        where = (
            f"{e.msg} at line {e.lineno} column {e.colno}"
            if isinstance(e, json.JSONDecodeError)
            else str(e)
        )
        raise SpecError.field(
            p.name,
            "a JSON document (a SageMaker CreateHyperParameterTuningJob request or its "
            "HyperParameterTuningJobConfig)",
            where,
            "Fix the JSON syntax; YAML specs use tunelab's own format, not this importer.",
        ) from None
    try:
        # A job name allows letters, digits, '.', '_' and '-'; a file stem may hold more.
        stem = re.sub(r"[^A-Za-z0-9._-]", "-", p.stem)
        return convert_sagemaker_config(data, default_name=stem)
    except SpecError as e:
        raise SpecError(f"{p.name}: {e}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def convert_sagemaker_config(data: Any, *, default_name: str) -> SageMakerImport:
    """Convert parsed SageMaker JSON (a whole request or the inner config) to a tunelab spec.

    Args:
        data: the parsed JSON object.
        default_name: the job name when the data has no ``HyperParameterTuningJobName``.

    Raises:
        SpecError: naming the JSON path, what was expected, what was given and how to fix it.
    """
    if not isinstance(data, Mapping):
        raise SpecError.field(
            "(top level)", "a JSON object", type(data).__name__, "Wrap the config in {...}."
        )
    if not is_sagemaker_config(data):
        raise SpecError.field(
            "(top level)",
            "a SageMaker CreateHyperParameterTuningJob request (with "
            "HyperParameterTuningJobConfig) or its inner config (with Strategy and "
            "ParameterRanges)",
            sorted(data)[:8],
            "Export the request with `aws sagemaker describe-hyper-parameter-tuning-job` or "
            "write it in tunelab's YAML format instead.",
        )
    return convert(data, default_name)

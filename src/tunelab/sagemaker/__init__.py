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
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab.errors import SpecError

__all__ = [
    "SageMakerImport",
    "convert_sagemaker_config",
    "is_sagemaker_config",
    "load_sagemaker_config",
]

STRATEGIES: dict[str, str] = {
    "Bayesian": "bayesian",
    "Random": "random",
    "Grid": "grid",
    "Hyperband": "hyperband",
}
SCALING_TYPES: tuple[str, ...] = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
WARM_START_TYPES: dict[str, str] = {
    "IdenticalDataAndAlgorithm": "identical_data_and_algorithm",
    "TransferLearning": "transfer_learning",
}
# SageMaker infers Hyperband's MaxResource from these static hyperparameters when it is absent.
_EPOCH_KEYS: tuple[str, ...] = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")
# Hyperparameters the SageMaker Python SDK adds for its own containers (script location in S3,
# region, log level...). They mean nothing to a tunelab trial.
_SDK_STATIC_PREFIXES: tuple[str, ...] = ("sagemaker_", "_tuning_objective_metric")
_INNER_KEYS: frozenset[str] = frozenset(
    {"Strategy", "ParameterRanges", "ResourceLimits", "HyperParameterTuningJobObjective"}
)
_RANGE_KEYS: dict[str, frozenset[str]] = {
    "IntegerParameterRanges": frozenset({"Name", "MinValue", "MaxValue", "ScalingType"}),
    "ContinuousParameterRanges": frozenset({"Name", "MinValue", "MaxValue", "ScalingType"}),
    "CategoricalParameterRanges": frozenset({"Name", "Values"}),
}
_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class SageMakerImport:
    """The result of importing a SageMaker tuning-job config.

    Attributes:
        spec: a dict in tunelab's spec format (``name``, ``objective``, ``search_space``,
            ``strategy``, ...). It holds ``train`` only when the file has
            ``AlgorithmSpecification.MetricDefinitions``, and then only ``{"metrics": [...]}``,
            to be merged with the user's own ``train:`` section.
        ignored: dotted JSON paths of fields present in the file that tunelab does not use,
            e.g. ``"TrainingJobDefinition.ResourceConfig.InstanceType"``.
        notes: other things the user must know about the import (e.g. only the first of
            several ``TrainingJobDefinitions`` was used).
    """

    spec: dict[str, Any]
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def warning(self) -> str | None:
        """One message listing every ignored field and note, or None if there is nothing.

        >>> SageMakerImport({}, ["Tags"]).warning().endswith("container images: Tags.")
        True
        """
        if not self.ignored and not self.notes:
            return None
        parts: list[str] = []
        if self.ignored:
            n = len(self.ignored)
            parts.append(
                f"SageMaker config: {n} field{'s are' if n != 1 else ' is'} ignored; tunelab "
                "runs trials with its own executors, not on SageMaker instances, S3 or "
                "container images: " + ", ".join(self.ignored) + "."
            )
        parts.extend(f"SageMaker config: {note}" for note in self.notes)
        return "\n".join(parts)


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
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError.field(
            "sagemaker", "an existing JSON file", str(p), "Check the path."
        ) from None
    except (OSError, UnicodeDecodeError) as e:
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
    return _Converter(data, default_name).run()


class _Converter:
    """Walks one request; collects the spec and the ignored paths as it goes."""

    def __init__(self, data: Mapping[str, Any], default_name: str) -> None:
        self.data = data
        self.default_name = default_name
        self.ignored: list[str] = []
        self.notes: list[str] = []

    # -- driver -----------------------------------------------------------------------------

    def run(self) -> SageMakerImport:
        data = self.data
        if isinstance(data.get("HyperParameterTuningJobConfig"), Mapping):
            cfg: Mapping[str, Any] = data["HyperParameterTuningJobConfig"]
            cp = "HyperParameterTuningJobConfig."
            top_known = {
                "HyperParameterTuningJobName",
                "HyperParameterTuningJobConfig",
                "TrainingJobDefinition",
                "TrainingJobDefinitions",
                "WarmStartConfig",
            }
            self._ignore_rest(data, top_known, "")
            tjd, tp = self._training_definition()
        else:
            # A bare inner config: request-level keys (TrainingJobDefinition...) are not read
            # here and end up in `ignored` with any other unknown key.
            cfg, cp = data, ""
            tjd, tp = None, ""

        spec: dict[str, Any] = {"name": self._name()}
        spec["objective"] = self._objective(cfg, cp, tjd, tp)
        static = self._static(tjd, tp)
        metrics = self._metrics(tjd, tp)
        if metrics:
            spec["train"] = {"metrics": metrics}
        if static:
            spec["static"] = static
        spec["search_space"] = self._search_space(cfg, cp, tjd, tp, static)
        spec["strategy"] = self._strategy(cfg, cp, static)
        spec["early_stopping"] = self._early_stopping(cfg, cp)
        limits = self._limits(cfg, cp, tjd, tp)
        if limits:
            spec["limits"] = limits
        completion = self._completion(cfg, cp)
        if completion:
            spec["completion"] = completion
        if "WarmStartConfig" in data and cp:
            spec["warm_start"] = self._warm_start(data["WarmStartConfig"])
        self._ignore_rest(
            cfg,
            {
                "Strategy",
                "StrategyConfig",
                "HyperParameterTuningJobObjective",
                "ResourceLimits",
                "ParameterRanges",
                "TrainingJobEarlyStoppingType",
                "TuningJobCompletionCriteria",
                "RandomSeed",
            },
            cp,
        )
        if tjd is not None:
            self._ignore_rest(
                tjd,
                {
                    "StaticHyperParameters",
                    "StoppingCondition",
                    "RetryStrategy",
                    "TuningObjective",
                    "HyperParameterRanges",
                    "AlgorithmSpecification",
                },
                tp,
            )
        return SageMakerImport(spec=spec, ignored=self.ignored, notes=self.notes)

    # -- bookkeeping --------------------------------------------------------------------------

    def _ignore(self, value: Any, path: str) -> None:
        """Record ``path`` (or its leaves, for a non-empty mapping) as not used."""
        if isinstance(value, Mapping) and value:
            for k, v in value.items():
                self._ignore(v, f"{path}.{k}")
        else:
            self.ignored.append(path)

    def _ignore_rest(self, obj: Mapping[str, Any], known: set[str], prefix: str) -> None:
        for k, v in obj.items():
            if k not in known:
                self._ignore(v, f"{prefix}{k}")

    # -- pieces -------------------------------------------------------------------------------

    def _name(self) -> str:
        name = self.data.get("HyperParameterTuningJobName")
        if name is None:
            return self.default_name
        if not isinstance(name, str) or not name.strip():
            raise SpecError.field(
                "HyperParameterTuningJobName", "a non-empty string", name, "Name the job."
            )
        return name

    def _training_definition(self) -> tuple[Mapping[str, Any] | None, str]:
        data = self.data
        if "TrainingJobDefinition" in data:
            tjd = _mapping(data["TrainingJobDefinition"], "TrainingJobDefinition")
            if "TrainingJobDefinitions" in data:
                self._ignore(data["TrainingJobDefinitions"], "TrainingJobDefinitions")
                self.notes.append(
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
        first = _mapping(defs[0], "TrainingJobDefinitions[0]")
        if len(defs) > 1:
            label = first.get("DefinitionName", "#0")
            self.notes.append(
                f"TrainingJobDefinitions has {len(defs)} definitions; tunelab tunes one "
                f"training job, so only the first ({label!s}) was used and the other "
                f"{len(defs) - 1} ignored."
            )
            for i in range(1, len(defs)):
                self.ignored.append(f"TrainingJobDefinitions[{i}]")
        return first, "TrainingJobDefinitions[0]."

    def _objective(
        self,
        cfg: Mapping[str, Any],
        cp: str,
        tjd: Mapping[str, Any] | None,
        tp: str,
    ) -> dict[str, str]:
        path = f"{cp}HyperParameterTuningJobObjective"
        obj = cfg.get("HyperParameterTuningJobObjective")
        if obj is None and tjd is not None and "TuningObjective" in tjd:
            path, obj = f"{tp}TuningObjective", tjd["TuningObjective"]
        elif obj is not None and tjd is not None and tjd.get("TuningObjective", obj) != obj:
            self._ignore(tjd["TuningObjective"], f"{tp}TuningObjective")
        if obj is None:
            raise SpecError.field(
                path,
                'present: {"Type": "Minimize" | "Maximize", "MetricName": ...}',
                None,
                "Add HyperParameterTuningJobObjective naming the metric to optimise.",
            )
        obj = _mapping(obj, path)
        kind = obj.get("Type")
        if kind not in ("Minimize", "Maximize"):
            raise SpecError.field(f"{path}.Type", "Minimize or Maximize", kind)
        metric = obj.get("MetricName")
        if not isinstance(metric, str) or not metric:
            raise SpecError.field(
                f"{path}.MetricName", "a non-empty metric name", metric, "Name the metric."
            )
        return {"metric": metric, "goal": kind.lower()}

    def _static(self, tjd: Mapping[str, Any] | None, tp: str) -> dict[str, Any]:
        if tjd is None or "StaticHyperParameters" not in tjd:
            return {}
        path = f"{tp}StaticHyperParameters"
        raw = _mapping(tjd["StaticHyperParameters"], path)
        out: dict[str, Any] = {}
        for k, v in raw.items():
            if k.startswith(_SDK_STATIC_PREFIXES):
                self.ignored.append(f"{path}.{k}")
                continue
            if not isinstance(v, (str, int, float, bool)) or (
                isinstance(v, float) and not math.isfinite(v)
            ):
                raise SpecError.field(f"{path}.{k}", 'a string such as "3", "0.1" or "adam"', v)
            out[k] = parse_value(v)
        return out

    def _metrics(self, tjd: Mapping[str, Any] | None, tp: str) -> list[dict[str, str]]:
        if tjd is None or "AlgorithmSpecification" not in tjd:
            return []
        ap = f"{tp}AlgorithmSpecification"
        algo = _mapping(tjd["AlgorithmSpecification"], ap)
        self._ignore_rest(algo, {"MetricDefinitions"}, f"{ap}.")
        defs = algo.get("MetricDefinitions")
        if defs is None:
            return []
        if not isinstance(defs, list):
            raise SpecError.field(f"{ap}.MetricDefinitions", "a list of {Name, Regex}", defs)
        out: list[dict[str, str]] = []
        for i, d in enumerate(defs):
            p = f"{ap}.MetricDefinitions[{i}]"
            d = _mapping(d, p)
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

    def _search_space(
        self,
        cfg: Mapping[str, Any],
        cp: str,
        tjd: Mapping[str, Any] | None,
        tp: str,
        static: Mapping[str, Any],
    ) -> dict[str, dict[str, Any]]:
        path = f"{cp}ParameterRanges"
        ranges = cfg.get("ParameterRanges")
        if ranges is None and tjd is not None and "HyperParameterRanges" in tjd:
            path, ranges = f"{tp}HyperParameterRanges", tjd["HyperParameterRanges"]
        elif ranges is not None and tjd is not None and "HyperParameterRanges" in tjd:
            self._ignore(tjd["HyperParameterRanges"], f"{tp}HyperParameterRanges")
        if ranges is None:
            raise SpecError.field(
                path,
                "present, with at least one Integer, Continuous or Categorical range",
                None,
                "Add ParameterRanges listing the hyperparameters to tune.",
            )
        ranges = _mapping(ranges, path)
        auto = ranges.get("AutoParameters")
        if auto:
            names = [a.get("Name") for a in auto if isinstance(a, Mapping)]
            raise SpecError.field(
                f"{path}.AutoParameters",
                "absent: tunelab does not infer ranges from a ValueHint",
                names,
                "Give each an explicit IntegerParameterRanges, ContinuousParameterRanges or "
                "CategoricalParameterRanges entry.",
            )
        unknown = sorted(set(ranges) - set(_RANGE_KEYS) - {"AutoParameters"})
        if unknown:
            raise SpecError.field(
                path,
                "only IntegerParameterRanges, ContinuousParameterRanges, "
                "CategoricalParameterRanges",
                unknown,
                "Remove or rename the unknown keys.",
            )
        space: dict[str, dict[str, Any]] = {}
        # File order, so the space reads like the JSON it came from.
        for kind, entries in ranges.items():
            keys = _RANGE_KEYS.get(kind)
            if keys is None:  # AutoParameters, empty by now
                continue
            if not isinstance(entries, list):
                raise SpecError.field(f"{path}.{kind}", "a list of ranges", entries)
            for i, entry in enumerate(entries):
                p = f"{path}.{kind}[{i}]"
                entry = _mapping(entry, p)
                extra = sorted(set(entry) - keys)
                if extra:
                    raise SpecError.field(
                        p, f"only the keys {sorted(keys)}", extra, "Remove or rename them."
                    )
                name = entry.get("Name")
                if not isinstance(name, str) or not name.isidentifier():
                    raise SpecError.field(
                        f"{p}.Name",
                        "a hyperparameter name that is a Python identifier",
                        name,
                        "Rename it (letters, digits and _), e.g. mini_batch_size.",
                    )
                if name in space:
                    raise SpecError.field(
                        f"{p}.Name", "unique across all ranges", name, "Remove the duplicate."
                    )
                if name in static:
                    raise SpecError.field(
                        f"{p}.Name",
                        "not also a StaticHyperParameters key",
                        name,
                        "Remove it from StaticHyperParameters or from the ranges.",
                    )
                if kind == "CategoricalParameterRanges":
                    space[name] = _categorical(entry, p)
                else:
                    space[name] = _numeric(entry, p, integer=kind == "IntegerParameterRanges")
        if not space:
            raise SpecError.field(
                path,
                "at least one Integer, Continuous or Categorical range",
                dict(ranges),
                "List the hyperparameters to tune.",
            )
        return space

    def _strategy(
        self, cfg: Mapping[str, Any], cp: str, static: Mapping[str, Any]
    ) -> dict[str, Any]:
        name = cfg.get("Strategy")
        if not isinstance(name, str) or name not in STRATEGIES:
            hint = next(
                (s for s in STRATEGIES if isinstance(name, str) and s.lower() == name.lower()),
                None,
            )
            raise SpecError.field(
                f"{cp}Strategy",
                "one of " + ", ".join(STRATEGIES),
                name,
                f"Did you mean {hint!r}?" if hint else "Use one of SageMaker's strategy names.",
            )
        out: dict[str, Any] = {"type": STRATEGIES[name]}
        if "RandomSeed" in cfg:
            out["seed"] = _int(cfg["RandomSeed"], f"{cp}RandomSeed", minimum=0)
        sc = cfg.get("StrategyConfig")
        if sc is not None:
            sp = f"{cp}StrategyConfig"
            sc = _mapping(sc, sp)
            if name != "Hyperband":
                raise SpecError.field(
                    sp,
                    "given only with Strategy: Hyperband",
                    dict(sc),
                    "Remove StrategyConfig or set Strategy to Hyperband.",
                )
            self._ignore_rest(sc, {"HyperbandStrategyConfig"}, f"{sp}.")
            hp = f"{sp}.HyperbandStrategyConfig"
            hb = _mapping(sc.get("HyperbandStrategyConfig", {}), hp)
            self._ignore_rest(hb, {"MinResource", "MaxResource"}, f"{hp}.")
            if "MinResource" in hb:
                out["min_resource"] = _int(hb["MinResource"], f"{hp}.MinResource", minimum=1)
            if "MaxResource" in hb:
                out["max_resource"] = _int(hb["MaxResource"], f"{hp}.MaxResource", minimum=1)
        if name == "Hyperband" and "max_resource" not in out:
            # SageMaker's documented fallback: infer MaxResource from an epochs-like static.
            key = next((k for k in _EPOCH_KEYS if k in static), None)
            value = static.get(key) if key else None
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpecError.field(
                    f"{cp}StrategyConfig.HyperbandStrategyConfig.MaxResource",
                    "present, or inferable from a static hyperparameter " + "/".join(_EPOCH_KEYS),
                    value,
                    "Add MaxResource (e.g. the number of epochs) to HyperbandStrategyConfig.",
                )
            out["max_resource"] = value
        # Only Hyperband gets here with min_resource, and then max_resource is always set.
        if "min_resource" in out and out["min_resource"] >= out["max_resource"]:
            raise SpecError.field(
                f"{cp}StrategyConfig.HyperbandStrategyConfig.MinResource",
                f"< MaxResource ({out['max_resource']})",
                out["min_resource"],
                "Lower MinResource or raise MaxResource.",
            )
        return out

    def _early_stopping(self, cfg: Mapping[str, Any], cp: str) -> str:
        # SageMaker's default is Off; say so explicitly so tunelab's default cannot differ.
        value = cfg.get("TrainingJobEarlyStoppingType", "Off")
        if value not in ("Off", "Auto"):
            raise SpecError.field(f"{cp}TrainingJobEarlyStoppingType", "Off or Auto", value)
        return str(value).lower()

    def _limits(
        self,
        cfg: Mapping[str, Any],
        cp: str,
        tjd: Mapping[str, Any] | None,
        tp: str,
    ) -> dict[str, int]:
        out: dict[str, int] = {}
        if "ResourceLimits" in cfg:
            rp = f"{cp}ResourceLimits"
            rl = _mapping(cfg["ResourceLimits"], rp)
            pairs = {
                "MaxNumberOfTrainingJobs": "max_trials",
                "MaxParallelTrainingJobs": "max_parallel",
                "MaxRuntimeInSeconds": "max_runtime",
            }
            self._ignore_rest(rl, set(pairs), f"{rp}.")
            for src, dst in pairs.items():
                if src in rl:
                    out[dst] = _int(rl[src], f"{rp}.{src}", minimum=1)
        if tjd is None:
            return out
        if "StoppingCondition" in tjd:
            sp = f"{tp}StoppingCondition"
            sc = _mapping(tjd["StoppingCondition"], sp)
            self._ignore_rest(sc, {"MaxRuntimeInSeconds"}, f"{sp}.")
            if "MaxRuntimeInSeconds" in sc:
                out["max_trial_runtime"] = _int(
                    sc["MaxRuntimeInSeconds"], f"{sp}.MaxRuntimeInSeconds", minimum=1
                )
        if "RetryStrategy" in tjd:
            rp = f"{tp}RetryStrategy"
            rs = _mapping(tjd["RetryStrategy"], rp)
            self._ignore_rest(rs, {"MaximumRetryAttempts"}, f"{rp}.")
            if "MaximumRetryAttempts" in rs:
                out["max_retries"] = _int(
                    rs["MaximumRetryAttempts"], f"{rp}.MaximumRetryAttempts", minimum=0
                )
        return out

    def _completion(self, cfg: Mapping[str, Any], cp: str) -> dict[str, Any]:
        if "TuningJobCompletionCriteria" not in cfg:
            return {}
        p = f"{cp}TuningJobCompletionCriteria"
        cc = _mapping(cfg["TuningJobCompletionCriteria"], p)
        known = {"TargetObjectiveMetricValue", "BestObjectiveNotImproving", "ConvergenceDetected"}
        self._ignore_rest(cc, known, f"{p}.")
        out: dict[str, Any] = {}
        if "TargetObjectiveMetricValue" in cc:
            out["target"] = _number(
                cc["TargetObjectiveMetricValue"], f"{p}.TargetObjectiveMetricValue"
            )
        if "BestObjectiveNotImproving" in cc:
            bp = f"{p}.BestObjectiveNotImproving"
            b = _mapping(cc["BestObjectiveNotImproving"], bp)
            self._ignore_rest(b, {"MaxNumberOfTrainingJobsNotImproving"}, f"{bp}.")
            if "MaxNumberOfTrainingJobsNotImproving" in b:
                out["no_improvement_trials"] = _int(
                    b["MaxNumberOfTrainingJobsNotImproving"],
                    f"{bp}.MaxNumberOfTrainingJobsNotImproving",
                    minimum=1,
                )
        if "ConvergenceDetected" in cc:
            dp = f"{p}.ConvergenceDetected"
            d = _mapping(cc["ConvergenceDetected"], dp)
            self._ignore_rest(d, {"CompleteOnConvergence"}, f"{dp}.")
            if "CompleteOnConvergence" in d:
                v = d["CompleteOnConvergence"]
                if v not in ("Enabled", "Disabled"):
                    raise SpecError.field(f"{dp}.CompleteOnConvergence", "Enabled or Disabled", v)
                out["convergence"] = v == "Enabled"
        return out

    def _warm_start(self, ws: Any) -> dict[str, Any]:
        p = "WarmStartConfig"
        ws = _mapping(ws, p)
        self._ignore_rest(ws, {"ParentHyperParameterTuningJobs", "WarmStartType"}, f"{p}.")
        parents_raw = ws.get("ParentHyperParameterTuningJobs")
        if not isinstance(parents_raw, list) or not parents_raw:
            raise SpecError.field(
                f"{p}.ParentHyperParameterTuningJobs",
                'a non-empty list of {"HyperParameterTuningJobName": ...}',
                parents_raw,
            )
        parents: list[str] = []
        for i, item in enumerate(parents_raw):
            ip = f"{p}.ParentHyperParameterTuningJobs[{i}]"
            name = _mapping(item, ip).get("HyperParameterTuningJobName")
            if not isinstance(name, str) or not name:
                raise SpecError.field(
                    f"{ip}.HyperParameterTuningJobName", "a tuning job name", name
                )
            parents.append(name)
        kind = ws.get("WarmStartType")
        if not isinstance(kind, str) or kind not in WARM_START_TYPES:
            raise SpecError.field(
                f"{p}.WarmStartType", "IdenticalDataAndAlgorithm or TransferLearning", kind
            )
        return {"parents": parents, "type": WARM_START_TYPES[kind]}


# -- value helpers ------------------------------------------------------------------------------


def parse_value(value: str | int | float | bool) -> str | int | float | bool:
    """Turn one SageMaker hyperparameter string into the value a tunelab trial receives.

    SageMaker passes every hyperparameter as a string. ``"3"`` becomes 3, ``"0.1"`` and
    ``"1e-3"`` become floats, ``"true"``/``"false"`` (any case) become booleans, a JSON-quoted
    string such as ``'"adam"'`` (how the SageMaker Python SDK writes some values) loses its
    quotes; anything else (``"adam"``, ``"nan"``) stays a string. Non-strings pass through.

    >>> [parse_value(v) for v in ["3", "0.1", "true", "adam", '"train.py"']]
    [3, 0.1, True, 'adam', 'train.py']
    """
    if not isinstance(value, str):
        return value
    s = value.strip()
    if s.lower() in ("true", "false"):
        return s.lower() == "true"
    if _INT_RE.fullmatch(s):
        return int(s)
    if _FLOAT_RE.fullmatch(s):
        return float(s)
    if len(s) >= 2 and s[0] == s[-1] == '"':
        try:
            decoded = json.loads(s)
        except json.JSONDecodeError:
            return value
        if isinstance(decoded, str):
            return decoded
    return value


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError.field(path, "a JSON object", value)
    return value


def _int(value: Any, path: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError.field(path, f"an integer >= {minimum}", value)
    return value


def _number(value: Any, path: str) -> float:
    if isinstance(value, str) and _FLOAT_RE.fullmatch(value.strip()):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SpecError.field(path, "a finite number", value)
    return float(value)


def _bound(value: Any, path: str, *, integer: bool, name: str) -> float | int:
    """Parse MinValue/MaxValue, which SageMaker writes as strings ("0.01")."""
    kind = "an integer" if integer else "a number"
    example = '"1"' if integer else '"0.01"'
    if isinstance(value, str):
        s = value.strip()
        if integer and _INT_RE.fullmatch(s):
            return int(s)
        if not integer and _FLOAT_RE.fullmatch(s):
            return float(s)
    elif not isinstance(value, bool) and isinstance(value, (int, float)):
        if integer and isinstance(value, int):
            return value
        if not integer and math.isfinite(value):
            return float(value)
    raise SpecError.field(
        path,
        f"{kind} written as a string such as {example} (range {name})",
        value,
        "Whole numbers only for IntegerParameterRanges." if integer else "",
    )


def _numeric(entry: Mapping[str, Any], p: str, *, integer: bool) -> dict[str, Any]:
    name = str(entry["Name"])
    for key in ("MinValue", "MaxValue"):
        if key not in entry:
            raise SpecError.field(f"{p}.{key}", "present", None, f"Add {key} for {name}.")
    low = _bound(entry["MinValue"], f"{p}.MinValue", integer=integer, name=name)
    high = _bound(entry["MaxValue"], f"{p}.MaxValue", integer=integer, name=name)
    if low >= high:
        raise SpecError.field(
            f"{p}.MinValue",
            f"< MaxValue ({entry['MaxValue']!r}) for {name}",
            entry["MinValue"],
            "Swap the bounds or widen the range.",
        )
    scaling = entry.get("ScalingType", "Auto")
    if scaling not in SCALING_TYPES:
        raise SpecError.field(f"{p}.ScalingType", "one of " + ", ".join(SCALING_TYPES), scaling)
    if scaling == "Auto":
        scale = "log" if low > 0 and high / low >= 100 else "linear"
    elif scaling == "Logarithmic":
        if low <= 0:
            raise SpecError.field(
                f"{p}.MinValue",
                f"> 0 for ScalingType Logarithmic ({name})",
                entry["MinValue"],
                "Use a positive MinValue or ScalingType Linear.",
            )
        scale = "log"
    elif scaling == "ReverseLogarithmic":
        if integer:
            raise SpecError.field(
                f"{p}.ScalingType",
                "Auto, Linear or Logarithmic for an integer range",
                scaling,
                "SageMaker allows ReverseLogarithmic only for continuous ranges.",
            )
        if not (low >= 0 and high < 1):
            raise SpecError.field(
                f"{p}",
                f"inside 0 <= MinValue < MaxValue < 1 for ReverseLogarithmic ({name})",
                (entry["MinValue"], entry["MaxValue"]),
                "Use ScalingType Linear or Logarithmic for this range.",
            )
        scale = "reverse_log"
    else:
        scale = "linear"
    out: dict[str, Any] = {"type": "int" if integer else "float", "low": low, "high": high}
    if scale != "linear":
        out["scale"] = scale
    return out


def _categorical(entry: Mapping[str, Any], p: str) -> dict[str, Any]:
    values = entry.get("Values")
    if not isinstance(values, list) or not values:
        raise SpecError.field(
            f"{p}.Values", "a non-empty list of strings", values, "List the options."
        )
    out: list[Any] = []
    for i, v in enumerate(values):
        if not isinstance(v, (str, int, float, bool)):
            raise SpecError.field(f"{p}.Values[{i}]", 'a string such as "adam"', v)
        parsed = parse_value(v)
        if any(parsed == o and type(parsed) is type(o) for o in out):
            raise SpecError.field(f"{p}.Values", "a list without duplicates", values)
        out.append(parsed)
    return {"type": "choice", "values": out}

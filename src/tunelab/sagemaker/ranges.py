"""``ParameterRanges`` → tunelab's ``search_space``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunelab.errors import SpecError
from tunelab.sagemaker.ledger import Ledger
from tunelab.sagemaker.values import as_mapping, categorical_range, numeric_range

_RANGE_KEYS: dict[str, frozenset[str]] = {
    "IntegerParameterRanges": frozenset({"Name", "MinValue", "MaxValue", "ScalingType"}),
    "ContinuousParameterRanges": frozenset({"Name", "MinValue", "MaxValue", "ScalingType"}),
    "CategoricalParameterRanges": frozenset({"Name", "Values"}),
}


def search_space(
    cfg: Mapping[str, Any],
    cp: str,
    tjd: Mapping[str, Any] | None,
    tp: str,
    static: Mapping[str, Any],
    ledger: Ledger,
) -> dict[str, dict[str, Any]]:
    """The config's ``ParameterRanges`` (else the definition's ``HyperParameterRanges``)."""
    ranges, path = ledger.config_or_definition(
        cfg,
        cp,
        "ParameterRanges",
        tjd,
        tp,
        "HyperParameterRanges",
        expected="present, with at least one Integer, Continuous or Categorical range",
        fix="Add ParameterRanges listing the hyperparameters to tune.",
        record_equal=True,
    )
    auto = ranges.get("AutoParameters")
    if auto:
        listed = auto if isinstance(auto, list) else [auto]
        names = [a.get("Name") if isinstance(a, Mapping) else a for a in listed]
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
            "only IntegerParameterRanges, ContinuousParameterRanges, CategoricalParameterRanges",
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
            entry = as_mapping(entry, p)
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
                space[name] = categorical_range(entry, p)
            else:
                space[name] = numeric_range(entry, p, integer=kind == "IntegerParameterRanges")
    if not space:
        raise SpecError.field(
            path,
            "at least one Integer, Continuous or Categorical range",
            dict(ranges),
            "List the hyperparameters to tune.",
        )
    return space

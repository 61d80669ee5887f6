"""SageMaker's values: hyperparameter strings, checked JSON fields and parameter ranges."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from tunelab.errors import SpecError

SCALING_TYPES: tuple[str, ...] = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


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


def as_mapping(value: Any, path: str) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else a :class:`SpecError` naming ``path``."""
    if not isinstance(value, Mapping):
        raise SpecError.field(path, "a JSON object", value)
    return value


def as_int(value: Any, path: str, *, minimum: int) -> int:
    """``value`` if it is an integer (not a bool) >= ``minimum``, else a :class:`SpecError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError.field(path, f"an integer >= {minimum}", value)
    return value


def int_fields(
    obj: Mapping[str, Any], path: str, fields: Mapping[str, tuple[str, int]]
) -> dict[str, int]:
    """The integer fields of ``obj`` that are present, renamed: ``{key: (name, minimum)}``.

    Checked in the order of ``fields``; ``path`` is the JSON path of ``obj``.
    """
    return {
        name: as_int(obj[key], f"{path}.{key}", minimum=minimum)
        for key, (name, minimum) in fields.items()
        if key in obj
    }


def as_number(value: Any, path: str) -> float:
    """A finite number, given as a JSON number or a numeric string."""
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


def numeric_range(entry: Mapping[str, Any], p: str, *, integer: bool) -> dict[str, Any]:
    """One Integer or Continuous parameter range (at JSON path ``p``) as a tunelab dimension."""
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


def categorical_range(entry: Mapping[str, Any], p: str) -> dict[str, Any]:
    """One Categorical parameter range (at JSON path ``p``) as a tunelab choice dimension."""
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

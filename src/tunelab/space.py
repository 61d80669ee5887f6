"""Search spaces: named parameters, their scales, the unit-cube encoding and grid enumeration.

A space is data: ``Float``, ``Int`` and ``Choice`` are validated when built and round-trip to
JSON. Every parameter maps to one coordinate of the unit cube ``[0, 1)``; strategies work in
that cube and map back with :meth:`SearchSpace.from_unit`.

    >>> space = SearchSpace({"lr": Float(1e-4, 1.0, scale="log"), "opt": Choice(["sgd", "adam"])})
    >>> space.from_unit([0.5, 0.9])
    {'lr': 0.01, 'opt': 'adam'}
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from tunelab.errors import SpecError

Scale = Literal["linear", "log", "reverse_log"]
ParamValue = float | int | str | bool
SCALES: tuple[str, ...] = ("linear", "log", "reverse_log")
#: The most points a grid search may have. Grid sizes are computed from the axes, never by
#: enumerating them, so a larger grid is refused at once instead of filling memory.
MAX_GRID_SIZE = 1_000_000


def _number(name: str, v: object) -> float:
    """A float from a number or a numeric string (YAML reads ``1e-3`` as a string)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise SpecError.field(name, "a number", v)
    try:
        return float(v)
    except ValueError:
        raise SpecError.field(name, "a number", v, "Write it as e.g. 0.1 or 1.0e-3.") from None


def _check_scale(scale: str, low: float, high: float) -> None:
    if scale not in SCALES:
        raise SpecError.field("scale", "one of linear, log, reverse_log", scale)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise SpecError.field("low/high", "finite numbers", (low, high))
    if low >= high:
        raise SpecError.field("low", f"< high ({high})", low, "Swap the bounds or widen the range.")
    if scale == "log" and low <= 0:
        raise SpecError.field(
            "low", "> 0 for a log scale", low, "Use a positive low or scale: linear."
        )
    if scale == "reverse_log" and not (low >= 0 and high < 1):
        raise SpecError.field(
            "low/high",
            "inside [0, 1) for a reverse_log scale (0 <= low < high < 1)",
            (low, high),
            "Use scale: linear or log for ranges outside [0, 1).",
        )


def _warp(x: float, scale: str) -> float:
    if scale == "log":
        return math.log(x)
    if scale == "reverse_log":
        return -math.log(1.0 - x)
    return x


def _unwarp(y: float, scale: str) -> float:
    if scale == "log":
        return math.exp(y)
    if scale == "reverse_log":
        return 1.0 - math.exp(-y)
    return y


@dataclass(frozen=True)
class Float:
    """A real-valued parameter in ``[low, high]``.

    ``scale`` is ``linear``, ``log`` (low > 0) or ``reverse_log`` (SageMaker's
    ReverseLogarithmic: ``0 <= low < high < 1``, dense near 1). For a grid search give
    ``grid_points`` (evenly spaced on the scale) or an explicit ``values`` list.
    """

    low: float
    high: float
    scale: Scale = "linear"
    grid_points: int | None = None
    values: tuple[float, ...] | None = None
    kind: Literal["float"] = field(default="float", init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "low", _number("low", self.low))
        object.__setattr__(self, "high", _number("high", self.high))
        _check_scale(self.scale, self.low, self.high)
        if self.grid_points is not None and (
            isinstance(self.grid_points, bool) or not isinstance(self.grid_points, int)
            or self.grid_points < 1
        ):
            raise SpecError.field("grid_points", "an integer >= 1", self.grid_points)
        if self.values is not None:
            if isinstance(self.values, (str, bytes)) or not isinstance(self.values, Sequence):
                raise SpecError.field("values", "a list of numbers", self.values)
            vals = tuple(_number("values", v) for v in self.values)
            bad = [v for v in vals if not self.low <= v <= self.high]
            if not vals or bad:
                raise SpecError.field(
                    "values", f"a non-empty list inside [{self.low}, {self.high}]", list(vals)
                )
            object.__setattr__(self, "values", vals)

    def from_unit(self, u: float) -> float:
        lo, hi = _warp(self.low, self.scale), _warp(self.high, self.scale)
        u = min(max(float(u), 0.0), 1.0)
        return min(max(_unwarp(lo + u * (hi - lo), self.scale), self.low), self.high)

    def to_unit(self, value: ParamValue) -> float:
        lo, hi = _warp(self.low, self.scale), _warp(self.high, self.scale)
        return (_warp(float(value), self.scale) - lo) / (hi - lo)

    def grid_count(self) -> int | None:
        """Number of grid values (None without grid_points or values), not enumerated."""
        if self.values is not None:
            return len(self.values)
        return self.grid_points

    def grid_value(self, i: int) -> float:
        """The ``i``-th grid value (0 <= i < grid_count())."""
        if self.values is not None:
            return self.values[i]
        assert self.grid_points is not None
        if self.grid_points == 1:
            return self.from_unit(0.5)
        return self.from_unit(i / (self.grid_points - 1))

    def grid(self) -> list[float] | None:
        n = self.grid_count()
        return None if n is None else [self.grid_value(i) for i in range(n)]

    def cardinality(self) -> int | None:
        return None

    def contains(self, value: ParamValue) -> bool:
        return (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and self.low <= float(value) <= self.high
        )

    def clip(self, value: float) -> float:
        return min(max(float(value), self.low), self.high)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "float", "low": self.low, "high": self.high}
        if self.scale != "linear":
            d["scale"] = self.scale
        if self.grid_points is not None:
            d["grid_points"] = self.grid_points
        if self.values is not None:
            d["values"] = list(self.values)
        return d


@dataclass(frozen=True)
class Int:
    """An integer parameter in ``[low, high]`` (both included), on a grid of ``step``."""

    low: int
    high: int
    scale: Scale = "linear"
    step: int = 1
    kind: Literal["int"] = field(default="int", init=False)

    def __post_init__(self) -> None:
        for name in ("low", "high", "step"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (
                isinstance(v, float) and not math.isfinite(v)) or int(v) != v:
                raise SpecError.field(name, "an integer", v)
            object.__setattr__(self, name, int(v))
        if self.step < 1:
            raise SpecError.field("step", "an integer >= 1", self.step)
        if self.scale == "reverse_log":
            raise SpecError.field(
                "scale", "linear or log for an int", self.scale, "Use a float for reverse_log."
            )
        _check_scale(self.scale, self.low, self.high)

    @property
    def n_values(self) -> int:
        return (self.high - self.low) // self.step + 1

    def _snap(self, x: float) -> int:
        idx = round((x - self.low) / self.step)
        return int(self.low + min(max(idx, 0), self.n_values - 1) * self.step)

    def from_unit(self, u: float) -> int:
        u = min(max(float(u), 0.0), 1.0)
        if self.scale == "log":
            lo, hi = math.log(self.low - 0.5 if self.low > 0.5 else self.low), math.log(
                self.high + 0.5
            )
            return self._snap(math.exp(lo + u * (hi - lo)))
        idx = min(int(u * self.n_values), self.n_values - 1)
        return self.low + idx * self.step

    def to_unit(self, value: ParamValue) -> float:
        v = float(value)
        if self.scale == "log":
            lo, hi = math.log(self.low - 0.5 if self.low > 0.5 else self.low), math.log(
                self.high + 0.5
            )
            return (math.log(v) - lo) / (hi - lo)
        return ((v - self.low) / self.step + 0.5) / self.n_values

    def grid_count(self) -> int:
        return self.n_values

    def grid_value(self, i: int) -> int:
        return self.low + i * self.step

    def grid(self) -> list[int]:
        """Every value, as a list: for small axes only (sizes use :meth:`grid_count`)."""
        return list(range(self.low, self.high + 1, self.step))

    def cardinality(self) -> int:
        return self.n_values

    def contains(self, value: ParamValue) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
            and (value - self.low) % self.step == 0
        )

    def clip(self, value: float) -> int:
        return self._snap(value)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "int", "low": self.low, "high": self.high}
        if self.scale != "linear":
            d["scale"] = self.scale
        if self.step != 1:
            d["step"] = self.step
        return d


@dataclass(frozen=True)
class Choice:
    """A categorical parameter: one of ``values`` (strings, numbers or booleans), unordered."""

    values: tuple[ParamValue, ...]
    kind: Literal["choice"] = field(default="choice", init=False)

    def __post_init__(self) -> None:
        if isinstance(self.values, (str, bytes)) or not isinstance(self.values, Sequence):
            raise SpecError.field("values", "a list of options", self.values)
        vals = tuple(self.values)
        if not vals:
            raise SpecError.field("values", "a non-empty list", [], "List at least one option.")
        if len(set(map(repr, vals))) != len(vals):
            raise SpecError.field("values", "a list without duplicates", list(vals))
        object.__setattr__(self, "values", vals)

    def from_unit(self, u: float) -> ParamValue:
        k = len(self.values)
        return self.values[min(max(int(float(u) * k), 0), k - 1)]

    def index(self, value: ParamValue) -> int:
        for i, v in enumerate(self.values):
            if v == value and type(v) is type(value):
                return i
        for i, v in enumerate(self.values):
            if v == value:
                return i
        raise SpecError.field("value", f"one of {list(self.values)}", value)

    def to_unit(self, value: ParamValue) -> float:
        return (self.index(value) + 0.5) / len(self.values)

    def grid_count(self) -> int:
        return len(self.values)

    def grid_value(self, i: int) -> ParamValue:
        return self.values[i]

    def grid(self) -> list[ParamValue]:
        return list(self.values)

    def cardinality(self) -> int:
        return len(self.values)

    def contains(self, value: ParamValue) -> bool:
        return any(v == value for v in self.values)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "choice", "values": list(self.values)}


Param = Float | Int | Choice
_KEYS: dict[str, set[str]] = {
    "float": {"type", "low", "high", "scale", "grid_points", "values"},
    "int": {"type", "low", "high", "scale", "step"},
    "choice": {"type", "values"},
}


def param_from_dict(name: str, d: Mapping[str, Any]) -> Param:
    """Build a parameter from its JSON/YAML form, with messages that name ``name``."""
    if not isinstance(d, Mapping):
        raise SpecError.field(
            f"search_space.{name}", "a mapping like {type: float, low: 0, high: 1}", d
        )
    kind = d.get("type")
    if kind not in _KEYS:
        raise SpecError.field(f"search_space.{name}.type", "one of float, int, choice", kind)
    unknown = set(d) - _KEYS[kind]
    if unknown:
        raise SpecError.field(
            f"search_space.{name}",
            f"only the keys {sorted(_KEYS[kind])} for a {kind}",
            sorted(unknown),
            "Remove or rename the unknown keys.",
        )
    args = {k: v for k, v in d.items() if k != "type"}
    missing = {"float": ("low", "high"), "int": ("low", "high"), "choice": ("values",)}[kind]
    if kind == "float" and "values" in args and "low" not in args and "high" not in args:
        vals = args["values"]
        if isinstance(vals, list) and vals and all(isinstance(v, (int, float)) for v in vals):
            args.setdefault("low", min(vals))
            args.setdefault("high", max(vals) if max(vals) > min(vals) else min(vals) + 1e-12)
    for m in missing:
        if m not in args:
            raise SpecError.field(f"search_space.{name}.{m}", "present", None, f"Add `{m}:`.")
    try:
        if kind == "float":
            if "values" in args:
                args["values"] = tuple(args["values"])
            return Float(**args)
        if kind == "int":
            return Int(**args)
        return Choice(tuple(args["values"]) if isinstance(args["values"], list) else args["values"])
    except SpecError as e:
        raise SpecError(f"search_space.{name}: {e}") from None
    except (TypeError, ValueError, OverflowError) as e:
        raise SpecError(f"search_space.{name}: {e}") from None


class SearchSpace(Mapping[str, Param]):
    """An ordered mapping of names to parameters, with the unit-cube encoding.

    >>> s = SearchSpace({"x": Float(-5, 5), "n": Int(1, 4)})
    >>> s.grid_size() is None  # a float without grid_points cannot be enumerated
    True
    """

    def __init__(self, params: Mapping[str, Param]) -> None:
        for name, p in params.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise SpecError.field(
                    "search_space", "parameter names that are identifiers", name
                )
            if not isinstance(p, (Float, Int, Choice)):
                raise SpecError.field(f"search_space.{name}", "a Float, Int or Choice", p)
        self._params: dict[str, Param] = dict(params)

    def __getitem__(self, key: str) -> Param:
        return self._params[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return f"SearchSpace({self._params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self._params == other._params

    def __hash__(self) -> int:
        return hash(tuple(self._params.items()))

    @property
    def names(self) -> list[str]:
        return list(self._params)

    def from_unit(self, u: Sequence[float] | np.ndarray) -> dict[str, ParamValue]:
        """Map a point of the unit cube (one coordinate per parameter) to parameter values."""
        if len(u) != len(self._params):
            raise ValueError(f"expected {len(self._params)} coordinates, got {len(u)}")
        return {n: p.from_unit(float(x)) for (n, p), x in zip(self._params.items(), u, strict=True)}

    def to_unit(self, params: Mapping[str, ParamValue]) -> np.ndarray:
        """Map parameter values to the unit cube (choices to the centre of their cell)."""
        return np.array([p.to_unit(params[n]) for n, p in self._params.items()], dtype=float)

    def grid_size(self) -> int | None:
        """Number of grid points, or None if a float has neither grid_points nor values.

        Computed from each axis' count (a Python int: exact however large), never enumerated.
        """
        total = 1
        for p in self._params.values():
            n = p.grid_count()
            if n is None:
                return None
            total *= n
        return total

    def _grid_counts(self) -> list[int]:
        counts = []
        for name, p in self._params.items():
            n = p.grid_count()
            if n is None:
                raise SpecError.field(
                    f"search_space.{name}",
                    "grid_points or a values list for a grid search over a float",
                    p.to_dict(),
                    f"Add `grid_points: 5` to {name}, or use strategy: random.",
                )
            counts.append(n)
        return counts

    def grid_point(self, index: int) -> dict[str, ParamValue]:
        """The ``index``-th grid point in the fixed order of :meth:`grid` (mixed-radix
        decoding of ``index``: the last parameter varies fastest), without enumerating."""
        counts = self._grid_counts()
        values: list[ParamValue] = []
        for p, n in zip(reversed(self._params.values()), reversed(counts), strict=True):
            index, i = divmod(index, n)
            values.append(p.grid_value(i))
        return dict(zip(self._params, reversed(values), strict=True))

    def grid(self) -> Iterator[dict[str, ParamValue]]:
        """All grid points in a fixed order (the last parameter varies fastest), one at a
        time: nothing is built up front."""
        counts = self._grid_counts()
        for combo in itertools.product(*(range(n) for n in counts)):
            yield {name: p.grid_value(i)
                   for (name, p), i in zip(self._params.items(), combo, strict=True)}

    def cardinality(self) -> int | None:
        """Number of distinct points if the space is finite (ints and choices only)."""
        total = 1
        for p in self._params.values():
            c = p.cardinality()
            if c is None:
                return None
            total *= c
        return total

    def validate(self, params: Mapping[str, Any], *, where: str = "params") -> None:
        """Check that ``params`` names every parameter with a value inside its range."""
        missing = [n for n in self._params if n not in params]
        if missing:
            raise SpecError.field(where, f"a value for {missing}", dict(params))
        for n, p in self._params.items():
            if not p.contains(params[n]):
                raise SpecError.field(f"{where}.{n}", f"inside {p.to_dict()}", params[n])

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {n: p.to_dict() for n, p in self._params.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SearchSpace:
        if not isinstance(d, Mapping):
            raise SpecError.field("search_space", "a mapping of names to parameters", d)
        return cls({name: param_from_dict(name, pd) for name, pd in d.items()})

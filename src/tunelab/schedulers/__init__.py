"""Schedulers (on_report -> Decision): fifo, median stopping, ASHA/Hyperband, PBT.

``make_scheduler("hyperband", space, seed=0, goal="maximize", max_resource=27)`` builds one from
spec-like options and explains any bad option (what was expected, what was given, how to fix).

    strategy: {type: hyperband, min_resource: 1, max_resource: 27, reduction_factor: 3}
    strategy: {type: pbt, population: 8, perturbation_interval: 2, quantile: 0.25,
              synchronous: false}
    early_stopping: auto          # median stopping with any strategy
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Callable, Mapping
from typing import Any

from tunelab.errors import SpecError
from tunelab.schedulers.base import FIFOScheduler, Resume, Scheduler
from tunelab.space import SearchSpace
from tunelab.trial import Goal

_Check = Callable[[Any], bool]


def _int(lo: int, hi: int | None = None) -> tuple[str, _Check]:
    what = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
    return what, lambda v: (
        isinstance(v, numbers.Integral) and not isinstance(v, bool)
        and int(v) >= lo and (hi is None or int(v) <= hi)
    )


def _num(lo: float, hi: float, *, lo_open: bool = False) -> tuple[str, _Check]:
    what = f"a number in {'(' if lo_open else '['}{lo}, {hi}]"
    return what, lambda v: (
        isinstance(v, numbers.Real) and not isinstance(v, bool)
        and (float(v) > lo if lo_open else float(v) >= lo) and float(v) <= hi
    )


_BOOL: tuple[str, _Check] = ("true or false", lambda v: isinstance(v, bool))


def _factors(v: Any) -> bool:
    return (
        isinstance(v, (list, tuple)) and len(v) > 0
        and all(isinstance(f, numbers.Real) and not isinstance(f, bool) and float(f) > 0 for f in v)
    )


_BUDGET = _int(1)
OPTIONS: dict[str, dict[str, tuple[str, _Check]]] = {
    "fifo": {},
    "median": {"grace_period": _int(1), "min_trials": _int(1), "max_epochs": _BUDGET},
    "hyperband": {
        "min_resource": _int(1), "max_resource": _int(1), "reduction_factor": _int(2),
        "brackets": _int(1), "max_epochs": _BUDGET,
    },
    "pbt": {
        "population": _int(2), "perturbation_interval": _int(1), "burn_in": _int(0),
        "max_steps": _int(1),
        "quantile": _num(0.0, 0.5, lo_open=True), "resample_probability": _num(0.0, 1.0),
        "perturbation_factors": ("a non-empty list of positive numbers, like [0.8, 1.2]",
                                 _factors),
        "max_epochs": _BUDGET, "synchronous": _BOOL,
    },
}
_ALIASES = {"asha": "hyperband", "median_stopping": "median", "auto": "median"}
_PREFIX = {"median": "early_stopping", "fifo": "scheduler"}


def make_scheduler(
    kind: str,
    space: SearchSpace | None = None,
    *,
    seed: int | None = None,
    goal: Goal | str = "minimize",
    **options: Any,
) -> Scheduler:
    """Build the scheduler ``kind`` (fifo, median, hyperband/asha, pbt) from spec options.

    Unknown or out-of-range options raise :class:`~tunelab.errors.SpecError`. Options set to
    None are treated as absent.
    """
    name = _ALIASES.get(kind, kind)
    if name not in OPTIONS:
        raise SpecError.field(
            "strategy.type", f"one of {sorted(OPTIONS)} for a scheduler", kind,
        )
    if goal not in ("minimize", "maximize"):
        raise SpecError.field("objective.goal", "minimize or maximize", goal)
    g: Goal = "maximize" if goal == "maximize" else "minimize"
    prefix = _PREFIX.get(name, "strategy")
    opts = {k: v for k, v in options.items() if v is not None}
    allowed = OPTIONS[name]
    for key, value in opts.items():
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f"Did you mean `{close[0]}`?" if close else (
                f"Valid options: {', '.join(sorted(allowed)) or 'none'}."
            )
            raise SpecError.field(f"{prefix}.{key}", f"an option of {name}", key, hint)
        what, ok = allowed[key]
        if not ok(value):
            raise SpecError.field(f"{prefix}.{key}", what, value)
    if name == "fifo":
        return FIFOScheduler()
    if name == "median":
        from tunelab.schedulers.median import MedianStoppingScheduler

        return MedianStoppingScheduler(goal=g, seed=seed, **opts)
    if name == "hyperband":
        return _hyperband(opts, seed=seed, goal=g)
    if space is None or not len(space):
        raise SpecError.field(
            "search_space", "at least one parameter for strategy pbt", {},
            "PBT perturbs searched hyperparameters; add one (e.g. learning_rate).",
        )
    from tunelab.schedulers.pbt import PBTScheduler

    if "perturbation_factors" in opts:
        opts["perturbation_factors"] = tuple(float(f) for f in opts["perturbation_factors"])
    return PBTScheduler(space, goal=g, seed=seed, **opts)


def _hyperband(opts: Mapping[str, Any], *, seed: int | None, goal: Goal) -> Scheduler:
    from tunelab.schedulers.asha import HyperbandScheduler

    if "max_resource" not in opts:
        raise SpecError.field(
            "strategy.max_resource", "the epochs of a full trial (an integer >= 1)", None,
            "Add `max_resource: 27` (SageMaker's MaxResource) and train that many epochs.",
        )
    lo, hi = int(opts.get("min_resource", 1)), int(opts["max_resource"])
    eta = int(opts.get("reduction_factor", 3))
    if hi < lo:
        raise SpecError.field(
            "strategy.max_resource", f">= min_resource ({lo})", hi,
            "Raise max_resource or lower min_resource.",
        )
    most = HyperbandScheduler.max_brackets(lo, hi, eta)
    brackets = int(opts.get("brackets", 1))
    if brackets > most:
        raise SpecError.field(
            "strategy.brackets", f"at most {most} for min_resource {lo}, max_resource {hi} "
            f"and reduction_factor {eta}", brackets, f"Use brackets: {most} or fewer.",
        )
    return HyperbandScheduler(
        min_resource=lo, max_resource=hi, reduction_factor=eta, brackets=brackets, goal=goal,
        seed=seed, max_epochs=opts.get("max_epochs"),
    )


__all__ = ["OPTIONS", "FIFOScheduler", "Resume", "Scheduler", "make_scheduler"]

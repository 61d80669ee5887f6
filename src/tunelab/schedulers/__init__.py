"""Schedulers (on_report -> Decision): fifo, median stopping, ASHA/Hyperband, PBT.

``make_scheduler("hyperband", space, seed=0, goal="maximize", max_resource=27)`` builds one from
spec-like options and explains any bad option (what was expected, what was given, how to fix).

    strategy: {type: hyperband, min_resource: 1, max_resource: 27, reduction_factor: 3}
    strategy: {type: pbt, population: 8, perturbation_interval: 2, quantile: 0.25,
              synchronous: false}
    early_stopping: auto          # median stopping with any strategy
"""

from __future__ import annotations

from typing import Any

from tunelab.errors import SpecError
from tunelab.options import parse_options
from tunelab.schedulers.base import FIFOScheduler, Resume, Scheduler
from tunelab.schedulers.options import (
    SCHEDULER_OPTIONS,
    HyperbandOptions,
    MedianOptions,
    PBTOptions,
    SchedulerOptions,
)
from tunelab.space import SearchSpace
from tunelab.trial import Goal

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

    The options are validated by the scheduler's option model (``schedulers/options.py``);
    unknown or out-of-range options raise :class:`~tunelab.errors.SpecError`. Options set to
    None are treated as absent.
    """
    name = _ALIASES.get(kind, kind)
    if name not in SCHEDULER_OPTIONS:
        raise SpecError.field(
            "strategy.type", f"one of {sorted(SCHEDULER_OPTIONS)} for a scheduler", kind,
        )
    if goal not in ("minimize", "maximize"):
        raise SpecError.field("objective.goal", "minimize or maximize", goal)
    g: Goal = "maximize" if goal == "maximize" else "minimize"
    opts = parse_options(SCHEDULER_OPTIONS[name], options,
                         prefix=_PREFIX.get(name, "strategy"), name=name)
    return build_scheduler(opts, space, seed=seed, goal=g)  # type: ignore[arg-type]


def build_scheduler(
    opts: SchedulerOptions, space: SearchSpace | None, *, seed: int | None, goal: Goal
) -> Scheduler:
    """The scheduler of validated options (the union member says which)."""
    if isinstance(opts, MedianOptions):
        from tunelab.schedulers.median import MedianStoppingScheduler

        return MedianStoppingScheduler(goal=goal, seed=seed, grace_period=opts.grace_period,
                                       min_trials=opts.min_trials, max_epochs=opts.max_epochs)
    if isinstance(opts, HyperbandOptions):
        return _hyperband(opts, seed=seed, goal=goal)
    if isinstance(opts, PBTOptions):
        if space is None or not len(space):
            raise SpecError.field(
                "search_space", "at least one parameter for strategy pbt", {},
                "PBT perturbs searched hyperparameters; add one (e.g. learning_rate).",
            )
        from tunelab.schedulers.pbt import PBTScheduler

        return PBTScheduler(
            space, goal=goal, seed=seed, population=opts.population,
            perturbation_interval=opts.perturbation_interval, burn_in=opts.burn_in,
            quantile=opts.quantile, resample_probability=opts.resample_probability,
            perturbation_factors=tuple(opts.perturbation_factors), max_epochs=opts.max_epochs,
            max_steps=opts.max_steps, synchronous=opts.synchronous,
        )
    return FIFOScheduler()


def _hyperband(opts: HyperbandOptions, *, seed: int | None, goal: Goal) -> Scheduler:
    from tunelab.schedulers.asha import HyperbandScheduler

    lo, hi, eta = opts.min_resource, opts.max_resource, opts.reduction_factor
    if hi < lo:
        raise SpecError.field(
            "strategy.max_resource", f">= min_resource ({lo})", hi,
            "Raise max_resource or lower min_resource.",
        )
    most = HyperbandScheduler.max_brackets(lo, hi, eta)
    if opts.brackets > most:
        raise SpecError.field(
            "strategy.brackets", f"at most {most} for min_resource {lo}, max_resource {hi} "
            f"and reduction_factor {eta}", opts.brackets, f"Use brackets: {most} or fewer.",
        )
    return HyperbandScheduler(
        min_resource=lo, max_resource=hi, reduction_factor=eta, brackets=opts.brackets,
        goal=goal, seed=seed, max_epochs=opts.max_epochs,
    )


__all__ = ["FIFOScheduler", "Resume", "Scheduler", "build_scheduler", "make_scheduler"]

"""Options of each scheduler as a pydantic model; ``SchedulerOptions`` is their union keyed on
``type`` (what ``strategy: {type: hyperband, ...}`` or ``early_stopping: auto`` selects)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from tunelab.options import Options, opt

_BUDGET = "an integer >= 1"


class FifoOptions(Options):
    type: Literal["fifo"] = "fifo"


class MedianOptions(Options):
    type: Literal["median"] = "median"
    grace_period: int = opt(1, expected="an integer >= 1", ge=1)
    min_trials: int = opt(3, expected="an integer >= 1", ge=1)
    max_epochs: int | None = opt(None, expected=_BUDGET, ge=1)


class HyperbandOptions(Options):
    type: Literal["hyperband"] = "hyperband"
    min_resource: int = opt(1, expected="an integer >= 1", ge=1)
    max_resource: int = opt(
        expected="the epochs of a full trial (an integer >= 1)", ge=1,
        fix="Add `max_resource: 27` (SageMaker's MaxResource) and train that many epochs.")
    reduction_factor: int = opt(3, expected="an integer >= 2", ge=2)
    brackets: int = opt(1, expected="an integer >= 1", ge=1)
    max_epochs: int | None = opt(None, expected=_BUDGET, ge=1)


class PBTOptions(Options):
    type: Literal["pbt"] = "pbt"
    population: int = opt(8, expected="an integer >= 2", ge=2)
    perturbation_interval: int = opt(2, expected="an integer >= 1", ge=1)
    burn_in: int = opt(0, expected="an integer >= 0", ge=0)
    max_steps: int | None = opt(None, expected="an integer >= 1", ge=1)
    quantile: float = opt(0.25, expected="a number in (0.0, 0.5]", gt=0.0, le=0.5)
    resample_probability: float = opt(0.25, expected="a number in [0.0, 1.0]", ge=0.0, le=1.0)
    perturbation_factors: list[Annotated[float, Field(gt=0)]] = opt(
        [0.8, 1.2], expected="a non-empty list of positive numbers, like [0.8, 1.2]",
        min_length=1)
    max_epochs: int | None = opt(None, expected=_BUDGET, ge=1)
    synchronous: bool = opt(False, expected="true or false")


SchedulerOptions = Annotated[
    FifoOptions | MedianOptions | HyperbandOptions | PBTOptions, Field(discriminator="type")
]
SCHEDULER_OPTIONS: dict[str, type[Options]] = {
    "fifo": FifoOptions, "median": MedianOptions, "hyperband": HyperbandOptions,
    "pbt": PBTOptions,
}

__all__ = ["SCHEDULER_OPTIONS", "FifoOptions", "HyperbandOptions", "MedianOptions",
           "PBTOptions", "SchedulerOptions"]

"""Options of each strategy as a pydantic model; ``StrategyOptions`` is their union keyed on
``type`` (``strategy: {type: bayesian, n_initial: 8}``). The seed and a warm start are not
options: the seed is the spec's ``strategy.seed``, a warm start comes from ``warm_start``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from tunelab.options import Options, opt


class ManualOptions(Options):
    type: Literal["manual"] = "manual"
    configs: list[dict[str, Any]] | None = opt(
        None, expected="a list of mappings of parameters, like [{lr: 0.01}]")


class GridOptions(Options):
    type: Literal["grid"] = "grid"


class RandomOptions(Options):
    type: Literal["random"] = "random"
    sampler: Literal["sobol", "uniform"] = opt("sobol", expected="sobol or uniform")


class BayesianOptions(Options):
    type: Literal["bayesian"] = "bayesian"
    n_initial: int | None = opt(None, expected="an integer >= 1", ge=1)
    acquisition: Literal["auto", "logei", "lognei"] = opt(
        "auto", expected="auto, logei or lognei")
    n_candidates: int = opt(1024, expected="an integer >= 1", ge=1)
    max_enumerate: int = opt(4096, expected="an integer >= 1", ge=1)
    convergence_tol: float = opt(1e-2, expected="a number > 0", gt=0)
    convergence_patience: int = opt(5, expected="an integer >= 1", ge=1)
    transfer_noise: float = opt(0.25, expected="a number >= 0", ge=0)
    mc_samples: int = opt(64, expected="an integer >= 1", ge=1)
    n_polish: int = opt(0, expected="an integer >= 0", ge=0)
    explore: float = opt(0.125, expected="a number from 0 to 1", ge=0, le=1)
    plateau_explore: float = opt(0.5, expected="a number from 0 to 1", ge=0, le=1)
    plateau_bounds: float = opt(0.5, expected="a number from 0 to 1", ge=0, le=1)
    outcome_transform: Literal["power", "mixed", "rank"] = opt(
        "power", expected="power, mixed or rank")


StrategyOptions = Annotated[
    ManualOptions | GridOptions | RandomOptions | BayesianOptions, Field(discriminator="type")
]
STRATEGY_OPTIONS: dict[str, type[Options]] = {
    "manual": ManualOptions, "grid": GridOptions, "random": RandomOptions,
    "bayesian": BayesianOptions,
}

__all__ = ["STRATEGY_OPTIONS", "BayesianOptions", "GridOptions", "ManualOptions",
           "RandomOptions", "StrategyOptions"]

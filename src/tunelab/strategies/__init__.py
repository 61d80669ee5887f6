"""Search strategies (ask/tell): manual, grid, random, bayesian.

``make_strategy("random", space, seed=0)`` builds one by name. The Bayesian strategy is imported
lazily: it pulls in PyTorch and BoTorch, which the light strategies do not need.
"""

from __future__ import annotations

import importlib
from typing import Any

from tunelab.errors import SpecError
from tunelab.options import parse_options
from tunelab.space import SearchSpace
from tunelab.strategies.base import Params, Strategy
from tunelab.strategies.options import STRATEGY_OPTIONS

# name -> "module:Class", imported on first use
STRATEGIES: dict[str, str] = {
    "manual": "tunelab.strategies.manual:ManualStrategy",
    "grid": "tunelab.strategies.grid:GridStrategy",
    "random": "tunelab.strategies.random:RandomStrategy",
    "bayesian": "tunelab.strategies.bayesian:BayesianStrategy",
}


def strategy_class(name: str) -> type[Strategy]:
    if name not in STRATEGIES:
        raise SpecError.field(
            "strategy.type", f"one of {[*sorted(STRATEGIES), 'hyperband', 'pbt']}", name
        )
    module, cls = STRATEGIES[name].split(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise SpecError(f"strategy `{name}` is not available in this build: {e}") from None
    klass: type[Strategy] = getattr(mod, cls)
    return klass


def make_strategy(
    name: str, space: SearchSpace, *, seed: int | None = None, **options: Any
) -> Strategy:
    """Build the strategy called ``name`` on ``space``; unknown options are a SpecError."""
    klass = strategy_class(name)
    if name != "manual" and not len(space):
        raise SpecError.field(
            "search_space", f"at least one parameter for strategy {name}", {},
            "Add a parameter to search, or use strategy: manual.",
        )
    extra = {"warm_start": options.pop("warm_start")} if "warm_start" in options else {}
    opts = parse_options(STRATEGY_OPTIONS[name], options, prefix="strategy", name=name)
    return klass(space, seed=seed, **opts.model_dump(exclude={"type"}), **extra)


__all__ = ["STRATEGIES", "Params", "Strategy", "make_strategy", "strategy_class"]

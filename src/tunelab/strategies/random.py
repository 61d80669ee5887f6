"""Random search: a scrambled Sobol sequence (default) or independent uniform draws."""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np
from scipy.stats import qmc

from tunelab.options import parse_options
from tunelab.space import SearchSpace
from tunelab.strategies.base import Params, Strategy
from tunelab.strategies.options import RandomOptions
from tunelab.trial import History


class RandomStrategy(Strategy):
    """Random search.

    ``sampler: sobol`` (default) spreads points evenly over the unit cube (a scrambled Sobol
    sequence seeded by ``seed``); ``sampler: uniform`` draws independent uniform points. The k-th
    suggestion depends only on the seed and k, so a resumed job continues the same sequence.
    """

    name: ClassVar[str] = "random"

    def __init__(
        self, space: SearchSpace, *, seed: int | None = None, sampler: str = "sobol"
    ) -> None:
        super().__init__(space, seed=seed)
        self.sampler = parse_options(RandomOptions, {"sampler": sampler}, prefix="strategy",
                                     name="random").sampler

    def unit_points(self, start: int, n: int) -> np.ndarray:
        """Points ``start .. start+n-1`` of this strategy's sequence in the unit cube."""
        d = len(self.space)
        if self.sampler == "uniform":
            return np.stack(
                [np.random.default_rng([self.seed, start + i]).random(d) for i in range(n)]
            )
        engine = qmc.Sobol(d, scramble=True, seed=np.random.default_rng(self.seed))
        if start:
            engine.fast_forward(start)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Sobol balance warning for n not a power of 2
            return np.asarray(engine.random(n))

    def ask(self, history: History, n: int = 1) -> list[Params]:
        if n <= 0:
            return []
        start = self.asked(history)
        return [self.space.from_unit(u) for u in self.unit_points(start, n)]

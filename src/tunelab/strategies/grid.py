"""Grid search: every combination of the parameters' grid values, in a fixed order."""

from __future__ import annotations

import itertools
from typing import ClassVar

from tunelab.space import SearchSpace
from tunelab.strategies.base import Params, Strategy
from tunelab.trial import History


class GridStrategy(Strategy):
    """Grid search over ints, choices, and floats that declare ``grid_points`` or ``values``."""

    name: ClassVar[str] = "grid"

    def __init__(self, space: SearchSpace, *, seed: int | None = None) -> None:
        super().__init__(space, seed=seed)
        self._size = space.grid_size()
        if self._size is None:
            list(space.grid())  # raises the SpecError that names the float without grid points

    def size(self) -> int | None:
        return self._size

    def ask(self, history: History, n: int = 1) -> list[Params]:
        start = self.asked(history)
        return list(itertools.islice(self.space.grid(), start, start + max(n, 0)))

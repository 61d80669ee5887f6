"""Grid search: every combination of the parameters' grid values, in a fixed order."""

from __future__ import annotations

from typing import ClassVar

from tunelab.errors import SpecError
from tunelab.space import MAX_GRID_SIZE, SearchSpace
from tunelab.strategies.base import Params, Strategy
from tunelab.trial import History


class GridStrategy(Strategy):
    """Grid search over ints, choices, and floats that declare ``grid_points`` or ``values``.

    The grid's size is computed from its axes and points are decoded from their index, so a
    grid is never built in memory; one above :data:`~tunelab.space.MAX_GRID_SIZE` points is
    refused (no grid search of that size could run to its end).
    """

    name: ClassVar[str] = "grid"

    def __init__(self, space: SearchSpace, *, seed: int | None = None) -> None:
        super().__init__(space, seed=seed)
        self._size = space.grid_size()
        if self._size is None:
            next(space.grid())  # raises the SpecError that names the float without grid points
        elif self._size > MAX_GRID_SIZE:
            axes = ", ".join(f"{n}: {p.grid_count()}" for n, p in space.items())
            raise SpecError.field(
                "search_space", f"a grid of at most {MAX_GRID_SIZE:,} points for a grid search",
                f"{self._size:,} points ({axes})",
                "Use fewer grid_points, a larger int step, fewer choices, or strategy: random.",
            )

    def size(self) -> int | None:
        return self._size

    def ask(self, history: History, n: int = 1) -> list[Params]:
        start = self.asked(history)
        assert self._size is not None
        stop = min(self._size, start + max(n, 0))
        return [self.space.grid_point(i) for i in range(start, stop)]

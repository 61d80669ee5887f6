"""The strategy contract: decide *what to try* from the history alone.

A strategy is a small ask/tell object with no I/O. It owns its random generator (built from
``seed``) and derives everything else from the :class:`~tunelab.trial.History` it is given, so a
restarted tuner that rebuilds the history from the store gets exactly the suggestions an
uninterrupted run would have got.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from tunelab.space import ParamValue, SearchSpace
from tunelab.trial import History

Params = dict[str, ParamValue]


class Strategy(ABC):
    """Base class of search strategies.

    Subclasses implement :meth:`ask`. ``history`` holds every trial of the job in creation
    order, including pending and running ones (so parallel suggestions can avoid them) and
    failed ones (so the search can steer away from them).

        >>> from tunelab.space import Float
        >>> s = RandomStrategy(SearchSpace({"x": Float(0, 1)}), seed=0)  # doctest: +SKIP
        >>> s.ask(History(), 2)  # two new configurations  # doctest: +SKIP
    """

    name: ClassVar[str] = ""

    def __init__(self, space: SearchSpace, *, seed: int | None = None) -> None:
        self.space = space
        self.seed = 0 if seed is None else int(seed)

    @abstractmethod
    def ask(self, history: History, n: int = 1) -> list[Params]:
        """Return up to ``n`` new configurations (fewer, or none, once exhausted)."""

    def size(self) -> int | None:
        """Number of configurations the strategy can ever produce, if finite (grid, manual)."""
        return None

    def converged(self, history: History) -> str | None:
        """A plain-words reason if the search has converged and the job should end, else None."""
        return None

    @staticmethod
    def asked(history: History) -> int:
        """How many configurations this strategy has produced so far (retries excluded)."""
        return sum(1 for t in history.trials if t.attempt == 1 and t.source == "strategy")


"""Manual: run the configurations the user gives (one training job by default)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from tunelab.errors import SpecError
from tunelab.space import ParamValue, SearchSpace
from tunelab.strategies.base import Params, Strategy
from tunelab.trial import History


class ManualStrategy(Strategy):
    """Runs ``configs`` in order: a list of parameter dicts (default: one empty dict, so the job
    is a single training job on its static hyperparameters)."""

    name: ClassVar[str] = "manual"

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int | None = None,
        configs: Sequence[Mapping[str, ParamValue]] | None = None,
    ) -> None:
        super().__init__(space, seed=seed)
        self.configs: list[Params] = [dict(c) for c in (configs or [{}])]
        for i, c in enumerate(self.configs):
            if not isinstance(c, Mapping):
                raise SpecError.field(f"strategy.configs[{i}]", "a mapping of parameters", c)
            if len(space):
                space.validate(c, where=f"strategy.configs[{i}]")

    def size(self) -> int:
        return len(self.configs)

    def ask(self, history: History, n: int = 1) -> list[Params]:
        start = self.asked(history)
        return [dict(c) for c in self.configs[start : start + max(n, 0)]]

"""From a spec's ``strategy`` and ``early_stopping`` to a (strategy, scheduler) pair.

``manual``, ``grid``, ``random`` and ``bayesian`` are strategies run with the FIFO scheduler (or
the median-stopping one with ``early_stopping: auto``); ``hyperband`` and ``pbt`` are schedulers
whose configurations come from a searcher strategy (``searcher: random`` by default).

It reads the spec through the small protocols below, not ``tunelab.spec``: the spec module
calls :func:`build_search` to validate a spec, so importing it here would make a cycle.
"""

from __future__ import annotations

from typing import Any, Protocol

from tunelab.errors import SpecError
from tunelab.schedulers.base import FIFOScheduler, Scheduler
from tunelab.space import SearchSpace
from tunelab.strategies import make_strategy
from tunelab.strategies.base import Strategy


class _StrategySection(Protocol):
    @property
    def type(self) -> str: ...
    @property
    def seed(self) -> int | None: ...
    def options(self) -> dict[str, Any]: ...


class _ObjectiveSection(Protocol):
    @property
    def metric(self) -> str: ...
    @property
    def goal(self) -> str: ...


class SearchSpec(Protocol):
    """What :func:`build_search` reads of a job spec (``tunelab.spec.JobSpec`` has it)."""

    @property
    def strategy(self) -> _StrategySection: ...
    @property
    def objective(self) -> _ObjectiveSection: ...
    @property
    def early_stopping(self) -> str: ...
    def static_params(self) -> dict[str, Any]: ...


SCHEDULER_TYPES = ("hyperband", "pbt")


def build_search(
    spec: SearchSpec, space: SearchSpace, *, warm_start: Any = None
) -> tuple[Strategy, Scheduler]:
    st = spec.strategy
    opts = st.options()
    goal, metric = spec.objective.goal, spec.objective.metric
    if st.type in SCHEDULER_TYPES:
        searcher = str(opts.pop("searcher", "random"))
        if searcher not in ("random", "bayesian"):
            raise SpecError.field("strategy.searcher", "random or bayesian", searcher)
        if warm_start is not None and searcher != "bayesian":
            raise SpecError.field(
                "warm_start", f"used with a bayesian searcher for strategy {st.type}", searcher,
                "Warm start informs the Bayesian model; set strategy.searcher: bayesian.",
            )
        epochs = spec.static_params().get("epochs")
        if st.type == "pbt" and "max_steps" not in opts and isinstance(epochs, int) \
                and not isinstance(epochs, bool):
            opts["max_steps"] = epochs  # a member's last step: no pause or copy at it
        scheduler = _scheduler(st.type, space, seed=st.seed, goal=goal, metric=metric, opts=opts)
        extra = {"warm_start": warm_start} if warm_start is not None else {}
        return make_strategy(searcher, space, seed=st.seed, **extra), scheduler
    extra = {"warm_start": warm_start} if warm_start is not None else {}
    if warm_start is not None and st.type != "bayesian":
        raise SpecError.field(
            "warm_start", "used with strategy: bayesian", st.type,
            "Warm start informs the Bayesian model; set strategy: {type: bayesian}.",
        )
    strategy = make_strategy(st.type, space, seed=st.seed, **opts, **extra)
    if spec.early_stopping == "auto":
        return strategy, _scheduler("median", space, seed=st.seed, goal=goal, metric=metric,
                                    opts={})
    return strategy, FIFOScheduler()


def _scheduler(
    kind: str, space: SearchSpace, *, seed: int | None, goal: str, metric: str,
    opts: dict[str, Any],
) -> Scheduler:
    from tunelab.schedulers import make_scheduler

    scheduler: Scheduler = make_scheduler(kind, space, seed=seed, goal=goal, **opts)
    return scheduler

"""Random, grid and manual strategies: pure and fast, fake histories, no processes."""

from __future__ import annotations

from typing import Any

import pytest

from tunelab.errors import SpecError
from tunelab.space import Choice, Float, Int, SearchSpace
from tunelab.strategies import make_strategy
from tunelab.strategies.base import Strategy
from tunelab.trial import History, TrialState, TrialView

SPACE = SearchSpace({
    "lr": Float(1e-4, 1.0, scale="log"),
    "layers": Int(1, 8, step=1),
    "opt": Choice(("sgd", "adam")),
})


def _history(params: list[dict[str, Any]], *, attempt: int = 1) -> History:
    return History(tuple(
        TrialView(i, p, TrialState.COMPLETED, float(i), ((1, float(i)),), attempt=attempt)
        for i, p in enumerate(params)
    ))


def _run(strategy: Strategy, n_total: int, batch: int) -> list[dict[str, Any]]:
    """Ask in batches, feeding each batch back into the history like the tuner does."""
    got: list[dict[str, Any]] = []
    while len(got) < n_total:
        new = strategy.ask(_history(got), min(batch, n_total - len(got)))
        if not new:
            break
        got.extend(new)
    return got


@pytest.mark.parametrize("sampler", ["sobol", "uniform"])
def test_random_same_seed_same_suggestions(sampler: str) -> None:
    a = make_strategy("random", SPACE, seed=7, sampler=sampler)
    b = make_strategy("random", SPACE, seed=7, sampler=sampler)
    c = make_strategy("random", SPACE, seed=8, sampler=sampler)
    assert a.ask(History(), 8) == b.ask(History(), 8)
    assert a.ask(History(), 8) != c.ask(History(), 8)


@pytest.mark.parametrize("sampler", ["sobol", "uniform"])
def test_random_continues_from_the_history(sampler: str) -> None:
    """A strategy rebuilt from the store's history continues the sequence (crash safety)."""
    one_go = make_strategy("random", SPACE, seed=3, sampler=sampler).ask(History(), 8)
    in_batches = _run(make_strategy("random", SPACE, seed=3, sampler=sampler), 8, 3)
    assert in_batches == one_go
    assert len({repr(p) for p in one_go}) == 8  # the continuation does not repeat points


def test_random_ignores_retries_when_counting() -> None:
    s = make_strategy("random", SPACE, seed=0)
    first = s.ask(History(), 2)
    hist = History((*_history(first).trials,
                    TrialView(2, first[0], TrialState.PENDING, attempt=2)))
    assert s.ask(hist, 1) == s.ask(_history(first), 1)


def test_random_suggestions_lie_in_the_space() -> None:
    for p in make_strategy("random", SPACE, seed=1).ask(History(), 64):
        SPACE.validate(p)


def test_grid_enumerates_the_product_then_stops() -> None:
    space = SearchSpace({"a": Int(0, 2), "b": Choice(("x", "y"))})
    s = make_strategy("grid", space, seed=0)
    assert s.size() == 6
    got = _run(s, 100, 4)
    assert got == list(space.grid()) and len(got) == 6
    assert s.ask(_history(got), 4) == []


def test_grid_refuses_a_float_without_grid_points() -> None:
    with pytest.raises(SpecError, match=r"search_space\.lr"):
        make_strategy("grid", SearchSpace({"lr": Float(0.0, 1.0)}), seed=0)


def test_manual_runs_the_given_configs_in_order() -> None:
    configs = [{"lr": 0.1, "layers": 2, "opt": "sgd"}, {"lr": 0.01, "layers": 3, "opt": "adam"}]
    s = make_strategy("manual", SPACE, configs=configs)
    assert s.size() == 2
    assert _run(s, 10, 1) == configs


def test_manual_validates_configs_against_the_space() -> None:
    with pytest.raises(SpecError, match=r"strategy\.configs\[1\]\.layers"):
        make_strategy("manual", SPACE, configs=[
            {"lr": 0.1, "layers": 2, "opt": "sgd"}, {"lr": 0.1, "layers": 99, "opt": "sgd"}])


def test_manual_default_is_one_run_on_the_static_params() -> None:
    s = make_strategy("manual", SearchSpace({}))
    assert s.ask(History(), 5) == [{}]


def test_unknown_strategy_and_empty_space() -> None:
    with pytest.raises(SpecError, match=r"`strategy\.type`.*'annealing'"):
        make_strategy("annealing", SPACE)
    with pytest.raises(SpecError, match="at least one parameter"):
        make_strategy("random", SearchSpace({}))
    with pytest.raises(SpecError, match="unknown or missing option"):
        make_strategy("grid", SPACE, sampler="sobol")

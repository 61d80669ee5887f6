"""What every search strategy must do (as Optuna's ``testing/pytest_samplers.py``).

A new strategy is added to ``STRATEGIES`` and must pass every test here: suggestions lie in
the space, at most ``n`` per ask, and they are a function of (seed, options, history) alone —
the property that makes a resumed job suggest exactly what an uninterrupted one would.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from tunelab.space import Choice, Float, Int, SearchSpace
from tunelab.strategies import make_strategy
from tunelab.strategies.base import Strategy
from tunelab.trial import History, TrialState, TrialView

PRIOR = 2  # finished trials before the ask (the Bayesian model is fitted from 2: n_initial)
SPACE = SearchSpace({
    "lr": Float(1e-4, 1e-1, scale="log"), "layers": Int(1, 3),
    "act": Choice(("relu", "tanh")),
})
STRATEGIES: dict[str, dict[str, Any]] = {
    "random": {},
    "grid": {},
    "manual": {"configs": [{"lr": 0.01, "layers": 2, "act": "relu"},
                           {"lr": 0.001, "layers": 3, "act": "tanh"},
                           {"lr": 0.02, "layers": 1, "act": "tanh"},
                           {"lr": 0.003, "layers": 3, "act": "relu"},
                           {"lr": 0.05, "layers": 2, "act": "tanh"}]},
    "bayesian": {"n_initial": 2, "n_candidates": 64},
}


def grid_space() -> SearchSpace:
    return SearchSpace({"layers": Int(1, 3), "act": Choice(("relu", "tanh"))})


def build(name: str, seed: int = 7) -> Strategy:
    space = grid_space() if name == "grid" else SPACE
    return make_strategy(name, space, seed=seed, **STRATEGIES[name])


@functools.cache
def history_after(name: str, n: int) -> History:
    """``n`` finished trials of strategy ``name``'s own suggestions, with a smooth objective."""
    strategy = build(name)
    trials: list[TrialView] = []
    for i in range(n):
        asked = strategy.ask(History(tuple(trials)), 1)
        if not asked:
            break
        params = asked[0]
        value = float(params.get("layers", 1)) + (0.5 if params.get("act") == "tanh" else 0.0)
        trials.append(TrialView(number=i, params=params, state=TrialState.COMPLETED,
                                value=value, values=((1, value),)))
    return History(tuple(trials))


@pytest.fixture(params=sorted(STRATEGIES))
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_suggestions_lie_in_the_space_and_respect_n(name: str) -> None:
    s = build(name)
    hist = history_after(name, PRIOR)
    configs = s.ask(hist, 2)
    assert 1 <= len(configs) <= 2
    for params in configs:
        s.space.validate(params)


def test_suggestions_are_a_function_of_seed_and_history(name: str) -> None:
    hist = history_after(name, PRIOR)
    a, b = build(name), build(name)
    first = a.ask(hist, 2)
    assert first == b.ask(hist, 2)  # a fresh instance (a resumed tuner) agrees
    assert first == a.ask(hist, 2)  # and asking again changes nothing: no hidden state


def test_a_finite_strategy_stops_at_its_size(name: str) -> None:
    s = build(name)
    size = s.size()
    if size is None:
        assert len(s.ask(history_after(name, PRIOR), 1)) == 1  # an endless one goes on
        return
    hist = history_after(name, size + 2)
    assert len(hist) == size
    assert s.ask(hist, 1) == []
    assert len({tuple(sorted(t.params.items())) for t in hist}) == size  # no repeats


def test_converged_is_none_or_a_reason(name: str) -> None:
    reason = build(name).converged(history_after(name, PRIOR))
    assert reason is None or (isinstance(reason, str) and reason)

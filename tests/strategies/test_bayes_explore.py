"""The Bayesian strategy's exploration share and plateau detection (issue 23), and what `ask`
says when a finite space is used up."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tunelab.errors import SpecError
from tunelab.space import Choice, Float, Int, ParamValue, SearchSpace
from tunelab.strategies.bayes_explore import n_explore, plateau, to_bounds
from tunelab.strategies.bayesian import BayesianStrategy
from tunelab.strategies.random import RandomStrategy
from tunelab.trial import History, TrialState, TrialView

SPACE = SearchSpace({"x": Float(0, 1), "y": Float(0, 1)})


def test_plateau_needs_a_large_share_of_exact_ties() -> None:
    assert plateau(np.array([1.0] * 3 + [0.5, 0.4, 0.3, 0.2, 0.1]))
    assert not plateau(np.array([1.0] * 2 + [0.5, 0.4, 0.3, 0.2, 0.1, 0.05]))  # only two tie
    assert not plateau(np.linspace(0, 1, 20))
    assert not plateau(np.array([1.0, 1.0, 1.0]))  # too few to say
    # ties among the best values count as well (many configurations reach 100 % accuracy)
    assert plateau(np.array([0.0] * 5 + list(np.linspace(0.1, 1, 10))))
    # near-ties are not ties: a smooth function evaluated close to its optimum
    assert not plateau(np.array([0.1 + 1e-6 * i for i in range(10)]))


def test_exploring_share_adds_up_over_calls() -> None:
    assert sum(n_explore(8, 8 * k, 0.125) for k in range(16)) == 16
    assert sum(n_explore(1, k, 0.125) for k in range(128)) == 16
    assert sum(n_explore(3, 3 * k, 0.5) for k in range(10)) == 15
    assert n_explore(8, 0, 0.0) == 0
    assert n_explore(4, 0, 1.0) == 4


def _history(values: list[float], seed: int) -> tuple[History, list[dict[str, ParamValue]]]:
    design = RandomStrategy(SPACE, seed=seed).ask(History(), 32)
    trials = [TrialView(i, p, TrialState.COMPLETED, v)
              for i, (p, v) in enumerate(zip(design, values, strict=False))]
    return History(trials), list(design)


def test_a_plateau_gets_half_the_batch_from_the_space_filling_design() -> None:
    # 8 of 12 observations tie (a tree that cannot split); 4 differ
    values = [1.0] * 8 + [0.6, 0.4, 0.5, 0.3]
    hist, design = _history(values, seed=5)
    out = BayesianStrategy(SPACE, seed=5, n_initial=4, plateau_bounds=0.0).ask(hist, 8)
    assert len(out) == 8
    assert out[:4] == design[12:16]  # continued Sobol design
    assert not any(p in design[16:32] for p in out[4:])  # the rest follow the model
    off = BayesianStrategy(SPACE, seed=5, n_initial=4, plateau_explore=0.0).ask(hist, 8)
    assert not any(p in design for p in off)


def test_on_a_plateau_the_exploring_points_put_coordinates_on_their_bounds() -> None:
    values = [1.0] * 8 + [0.6, 0.4, 0.5, 0.3]
    hist, design = _history(values, seed=5)
    out = BayesianStrategy(SPACE, seed=5, n_initial=4).ask(hist, 8)
    pairs = [(o[k], d[k]) for o, d in zip(out[:4], design[12:16], strict=True) for k in "xy"]
    # each coordinate is the continued design's or one of its bounds, and some moved
    assert all(v == s or v in (0.0, 1.0) for v, s in pairs)
    assert any(v != s for v, s in pairs)
    assert not any(p in design[16:32] for p in out[4:])  # the rest follow the model
    again = BayesianStrategy(SPACE, seed=5, n_initial=4).ask(hist, 8)
    assert again == out  # same seed, same history: same suggestions


def test_to_bounds_moves_numbers_to_the_nearer_bound_and_leaves_choices() -> None:
    u = np.random.default_rng(1).random((200, 3))
    numeric = np.array([True, True, False])
    b = to_bounds(u, numeric, 0.5, np.random.default_rng(2))
    moved = b != u
    assert np.all(b[moved] == np.round(u[moved]))
    assert not moved[:, 2].any()
    assert 0.35 < moved[:, :2].mean() < 0.65
    assert not (to_bounds(u, numeric, 0.0, np.random.default_rng(2)) != u).any()


def test_informative_observations_explore_one_point_in_eight() -> None:
    values = [float(v) for v in np.linspace(1.0, 0.1, 12)]
    hist, design = _history(values, seed=6)
    out = BayesianStrategy(SPACE, seed=6, n_initial=4).ask(hist, 8)
    assert sum(p in design[12:32] for p in out) == 1
    assert out[0] == design[12]
    none = BayesianStrategy(SPACE, seed=6, n_initial=4, explore=0.0).ask(hist, 8)
    assert not any(p in design[12:32] for p in none)


def test_exploring_options_are_checked() -> None:
    with pytest.raises(SpecError, match="explore"):
        BayesianStrategy(SPACE, explore=1.5)
    with pytest.raises(SpecError, match="plateau_explore"):
        BayesianStrategy(SPACE, plateau_explore=-0.1)
    with pytest.raises(SpecError, match="plateau_bounds"):
        BayesianStrategy(SPACE, plateau_bounds=2)


def test_an_exhausted_finite_space_is_said_not_silent(caplog: pytest.LogCaptureFixture) -> None:
    space = SearchSpace({"n": Int(1, 3), "c": Choice(("a", "b"))})
    s = BayesianStrategy(space, seed=0, n_initial=2)
    trials: list[TrialView] = []
    for p in s.ask(History(), 4):
        trials.append(TrialView(len(trials), p, TrialState.COMPLETED, float(p["n"])))
    with caplog.at_level(logging.WARNING, logger="tunelab.strategies.bayesian"):
        rest = s.ask(History(trials), 8)
    assert len(rest) == 2  # 6 points in all, 4 tried
    assert "has 6 points and all but 2 have been tried; ask(8) returns 2" in caplog.text
    done = History([*trials, *(TrialView(4 + i, p, TrialState.COMPLETED, 1.0)
                               for i, p in enumerate(rest))])
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tunelab.strategies.bayesian"):
        assert s.ask(done, 1) == []
    assert "all but 0 have been tried; ask(1) returns 0" in caplog.text
    assert s.converged(done) == "every one of the 6 points of the space was tried"

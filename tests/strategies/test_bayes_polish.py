"""The climb of the acquisition function (bayes_polish): gradient on floats, sweep on the rest."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
import torch
from botorch.acquisition.analytic import LogExpectedImprovement

from tunelab.errors import SpecError
from tunelab.space import Choice, Float, Int, ParamValue, SearchSpace
from tunelab.strategies.bayes_encoding import SpaceEncoder
from tunelab.strategies.bayes_model import DTYPE, fit_gp
from tunelab.strategies.bayes_polish import Polisher
from tunelab.strategies.bayesian import BayesianStrategy
from tunelab.strategies.random import RandomStrategy
from tunelab.trial import History, TrialState, TrialView


def _acqf(enc: SpaceEncoder, rows: list[dict[str, ParamValue]], ys: list[float]) -> Any:
    fitted = fit_gp(enc.encode(rows), np.asarray(ys), seed=0)
    return LogExpectedImprovement(fitted.model, best_f=float(fitted.Y.max()))


def _scorer(acqf: Any) -> Callable[[np.ndarray], np.ndarray]:
    def score(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            t = torch.as_tensor(z, dtype=DTYPE).unsqueeze(-2)
            return np.asarray(acqf(t).numpy(), dtype=float)
    return score


def test_gradient_climb_reaches_the_acquisitions_maximum_on_a_float() -> None:
    # a smooth 1-D problem: the climbed point is the maximum of the acquisition to 1e-3
    # (a dense grid says where it is), far closer than the start
    enc = SpaceEncoder(SearchSpace({"x": Float(0, 1)}))
    xs = [0.05, 0.2, 0.35, 0.5, 0.8, 0.95]
    rows: list[dict[str, ParamValue]] = [{"x": x} for x in xs]
    acqf = _acqf(enc, rows, [-(x - 0.42) ** 2 for x in xs])
    score = _scorer(acqf)
    grid = np.linspace(0, 1, 20001)[:, None]
    best = float(grid[int(np.argmax(score(grid)))][0])
    start = np.array([[best + 0.06]])
    reached, s = Polisher(enc).climb(acqf, start, score)
    assert abs(float(reached[0, 0]) - best) < 1e-3
    assert s[0] >= score(start)[0]
    assert s[0] >= score(grid).max() - 1e-6


def test_an_optimum_on_the_bound_is_reached_exactly() -> None:
    # increasing in both floats: the acquisition's maximum lies in the corner (1, 1), which
    # random candidates and Gaussian moves essentially never hit exactly
    enc = SpaceEncoder(SearchSpace({"x": Float(0, 1), "y": Float(0, 1)}))
    rng = np.random.default_rng(0)
    pts = rng.random((12, 2)) * 0.8
    rows: list[dict[str, ParamValue]] = [{"x": float(a), "y": float(b)} for a, b in pts]
    acqf = _acqf(enc, rows, [float(a + b) for a, b in pts])
    score = _scorer(acqf)
    reached, _ = Polisher(enc).climb(acqf, np.array([[0.85, 0.9]]), score)
    assert reached[0].tolist() == [1.0, 1.0]


def test_discrete_coordinates_are_swept_one_parameter_at_a_time() -> None:
    space = SearchSpace({"n": Int(1, 40), "k": Int(1, 10), "c": Choice(("a", "b", "c"))})
    enc = SpaceEncoder(space)

    def value(p: Mapping[str, ParamValue]) -> float:
        return -abs(int(p["n"]) - 23) - abs(int(p["k"]) - 7) - (0 if p["c"] == "c" else 5)

    def score(z: np.ndarray) -> np.ndarray:
        return np.array([value(p) for p in enc.decode(z)])

    start = enc.encode([{"n": 19, "k": 2, "c": "a"}])
    # no floats: the gradient step does nothing, the sweep moves every discrete coordinate;
    # an int with more than 16 values moves at most 4 cells a sweep, so 19 -> 23 in one
    reached, s = Polisher(enc, rounds=2).climb(None, start, score)
    assert enc.decode(reached) == [{"n": 23, "k": 7, "c": "c"}]
    assert s[0] == 0


def test_the_strategys_pick_has_a_higher_acquisition_value_with_the_climb() -> None:
    # the climb only adds candidates, so the pick is at least as good by the acquisition the
    # strategy maximises; on a mixed space it is strictly better than candidates alone
    space = SearchSpace({"lr": Float(1e-4, 1e-1, scale="log"), "w": Float(0, 1),
                         "v": Float(0, 1), "k": Int(1, 30), "c": Choice(("a", "b"))})

    def f(p: Mapping[str, ParamValue]) -> float:
        return (-float(np.log10(float(p["lr"])))
                + (float(p["w"]) - 0.5) ** 2 - float(p["v"])
                + abs(int(p["k"]) - 11) / 10 + (p["c"] == "a"))

    for seed in range(3):
        pts = RandomStrategy(space, seed=seed).ask(History(), 12)
        h = History([TrialView(i, p, TrialState.COMPLETED, f(p)) for i, p in enumerate(pts)])
        climbing = BayesianStrategy(space, seed=0, n_polish=8)
        plain = BayesianStrategy(space, seed=0, n_polish=0)
        a, b = climbing.ask(h, 1)[0], plain.ask(h, 1)[0]
        # the acquisition both maximised (same seed, same history: same model, same samples)
        acq_seed = int(np.random.default_rng([0, len(h.trials), 4]).integers(2**31))
        fitted = climbing._fit(climbing._data(h), acq_seed)
        acqf = climbing._acqf(fitted, np.zeros((0, climbing.encoder.dim)), acq_seed)
        va, vb = climbing._score(acqf, climbing.encoder.encode([a, b]))
        assert va > vb


def test_n_polish_is_checked() -> None:
    with pytest.raises(SpecError, match="n_polish"):
        BayesianStrategy(SearchSpace({"x": Float(0, 1)}), n_polish=-1)
    assert BayesianStrategy(SearchSpace({"x": Float(0, 1)})).n_polish == 0  # off by default

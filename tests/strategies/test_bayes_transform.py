"""The outcome transform of the Bayesian strategy (issue 23: heavy-tailed objectives)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from tunelab.errors import SpecError
from tunelab.space import Float, ParamValue, SearchSpace
from tunelab.strategies.bayes_model import TRANSFORMS, robust_transform
from tunelab.strategies.bayesian import BayesianStrategy
from tunelab.strategies.random import RandomStrategy
from tunelab.trial import History, TrialState, TrialView

CENTRE = np.array([0.3, 0.65, 0.45, 0.2, 0.8])
SPACE = SearchSpace({f"x{i}": Float(0, 1) for i in range(5)})


def heavy(p: Mapping[str, ParamValue]) -> float:
    """A bowl seen through ``exp``: the suite's trap-heavy."""
    u = np.array([float(p[f"x{i}"]) for i in range(5)])
    return float(np.exp(12 * np.sum((u - CENTRE) ** 2)) - 1)


@pytest.mark.parametrize("kind", TRANSFORMS)
def test_every_transform_keeps_the_order_and_standardises(kind: str) -> None:
    y = np.random.default_rng(0).lognormal(0, 3, size=40)
    t = robust_transform(y, kind)
    assert np.array_equal(np.argsort(t, kind="stable"), np.argsort(y, kind="stable"))
    assert abs(float(np.mean(t))) < 1e-9 and abs(float(np.std(t)) - 1) < 1e-9
    tied = robust_transform(np.array([1.0, 1.0, 1.0, 0.5, 0.2]), kind)
    assert tied[0] == tied[1] == tied[2]  # a plateau stays a plateau


def test_mixed_spreads_the_good_values_that_power_squeezes() -> None:
    # a few huge values: the power transform leaves the best quarter in a sliver of the range
    y = np.array([heavy(p) for p in RandomStrategy(SPACE, seed=0).ask(History(), 32)])
    best = np.argsort(y)[:8]

    def share(t: np.ndarray) -> float:
        return float(np.ptp(t[best]) / np.ptp(t))

    assert share(robust_transform(y, "mixed")) > 1.5 * share(robust_transform(y, "power"))
    with pytest.raises(ValueError, match="expected one of"):
        robust_transform(y, "cubic")


def test_option_is_checked_in_one_line() -> None:
    with pytest.raises(SpecError, match="outcome_transform"):
        BayesianStrategy(SPACE, outcome_transform="cubic")


def test_mixed_finds_the_floor_of_a_heavy_tailed_bowl() -> None:
    # 10 rounds of ask(4) in 5 dimensions: outcome_transform: mixed gets nearer the optimum
    # than the default power transform on every seed tried (best 0.02-0.5 against 0.2-0.8:
    # the power transform sees a flat floor around it; in 3 dimensions, where the tail is
    # milder, the two are even)
    nearer = 0
    for seed in range(3):
        best = {}
        for kind in ("mixed", "power"):
            s = BayesianStrategy(SPACE, seed=seed, n_candidates=256, outcome_transform=kind)
            trials: list[TrialView] = []
            for _ in range(10):
                for p in s.ask(History(trials), 4):
                    trials.append(TrialView(len(trials), p, TrialState.COMPLETED, heavy(p)))
            best[kind] = min(float(t.value) for t in trials)  # type: ignore[arg-type]
        nearer += best["mixed"] < best["power"]
    assert nearer == 3

"""Option models of strategies and schedulers: one validation style, one error template."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from tunelab.errors import SpecError
from tunelab.schedulers import make_scheduler
from tunelab.schedulers.options import HyperbandOptions, PBTOptions, SchedulerOptions
from tunelab.space import Float, SearchSpace
from tunelab.strategies import make_strategy
from tunelab.strategies.options import BayesianOptions, RandomOptions, StrategyOptions

SPACE = SearchSpace({"x": Float(0, 1)})


def test_the_unions_are_keyed_on_type() -> None:
    s = TypeAdapter(StrategyOptions).validate_python({"type": "bayesian", "n_initial": 4})
    assert isinstance(s, BayesianOptions) and s.n_initial == 4
    assert isinstance(TypeAdapter(StrategyOptions).validate_python({"type": "random"}),
                      RandomOptions)
    h = TypeAdapter(SchedulerOptions).validate_python({"type": "hyperband", "max_resource": 9})
    assert isinstance(h, HyperbandOptions) and h.reduction_factor == 3
    p = TypeAdapter(SchedulerOptions).validate_python({"type": "pbt"})
    assert isinstance(p, PBTOptions) and p.perturbation_factors == [0.8, 1.2]


def test_a_misspelt_strategy_option_gets_a_suggestion() -> None:
    with pytest.raises(SpecError, match=r"^`strategy.n_initail` must be an option of bayesian; "
                                        r"got 'n_initail'. Did you mean `n_initial`\?$"):
        make_strategy("bayesian", SPACE, n_initail=3)


@pytest.mark.parametrize(("kind", "options", "message"), [
    ("random", {"sampler": "halton"}, "`strategy.sampler` must be sobol or uniform; got 'halton'."),
    ("bayesian", {"n_candidates": True},
     "`strategy.n_candidates` must be an integer >= 1; got True."),
    ("bayesian", {"convergence_tol": "0.1"},
     "`strategy.convergence_tol` must be a number > 0; got '0.1'."),
    ("manual", {"configs": {"x": 0.5}},
     "`strategy.configs` must be a list of mappings of parameters, like [{lr: 0.01}]; "
     "got {'x': 0.5}."),
])
def test_strategy_option_errors_follow_the_template(kind: str, options: dict[str, Any],
                                                    message: str) -> None:
    with pytest.raises(SpecError) as e:
        make_strategy(kind, SPACE, **options)
    assert str(e.value) == message


@pytest.mark.parametrize(("kind", "options", "message"), [
    ("pbt", {"perturbation_factors": [0.8, -1]},
     "`strategy.perturbation_factors[1]` must be a non-empty list of positive numbers, like "
     "[0.8, 1.2]; got -1."),
    ("pbt", {"synchronous": "yes"}, "`strategy.synchronous` must be true or false; got 'yes'."),
    ("hyperband", {"max_resource": 9, "brackets": 1.5},
     "`strategy.brackets` must be an integer >= 1; got 1.5."),
    ("median", {"grace_period": 0},
     "`early_stopping.grace_period` must be an integer >= 1; got 0."),
])
def test_scheduler_option_errors_follow_the_template(kind: str, options: dict[str, Any],
                                                     message: str) -> None:
    with pytest.raises(SpecError) as e:
        make_scheduler(kind, SPACE, **options)
    assert str(e.value) == message

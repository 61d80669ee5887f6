"""Behaviour of the Bayesian strategy: pure, parallel-aware, failure-proof, warm-startable."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import pytest

from tunelab.errors import SpecError
from tunelab.space import Choice, Float, Int, ParamValue, SearchSpace
from tunelab.strategies import make_strategy
from tunelab.strategies.bayes_encoding import SpaceEncoder
from tunelab.strategies.bayesian import BayesianStrategy, default_n_initial
from tunelab.strategies.random import RandomStrategy
from tunelab.strategies.warm_start import ParentTrials, WarmStart, check_parent
from tunelab.trial import History, TrialState, TrialView

SPACE = SearchSpace({"x": Float(0, 1), "y": Float(0, 1)})
Fn = Callable[[Mapping[str, ParamValue]], float]


def bowl(p: Mapping[str, ParamValue]) -> float:
    return (float(p["x"]) - 0.7) ** 2 + (float(p["y"]) - 0.2) ** 2


def observed(space: SearchSpace, f: Fn, n: int, seed: int = 1) -> list[TrialView]:
    pts = RandomStrategy(space, seed=seed).ask(History(), n)
    return [TrialView(i, p, TrialState.COMPLETED, f(p)) for i, p in enumerate(pts)]


def key(p: Mapping[str, ParamValue]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, repr(v)) for k, v in p.items()))


def test_registered_and_initial_design_is_sobol() -> None:
    s = make_strategy("bayesian", SPACE, seed=3)
    assert isinstance(s, BayesianStrategy)
    assert default_n_initial(2) < default_n_initial(10)
    # before any observation the strategy follows the same scrambled Sobol sequence as random
    assert s.ask(History(), 4) == RandomStrategy(SPACE, seed=3).ask(History(), 4)


def test_bad_options_are_spec_errors() -> None:
    with pytest.raises(SpecError, match="n_initial"):
        BayesianStrategy(SPACE, n_initial=0)
    with pytest.raises(SpecError, match="acquisition"):
        BayesianStrategy(SPACE, acquisition="ucb")


def test_same_seed_same_suggestions() -> None:
    h = History(observed(SPACE, bowl, 10))
    a = BayesianStrategy(SPACE, seed=7).ask(h, 4)
    b = BayesianStrategy(SPACE, seed=7).ask(h, 4)
    c = BayesianStrategy(SPACE, seed=8).ask(h, 4)
    assert a == b
    assert a != c


def test_same_suggestions_whatever_torchs_global_generator_holds() -> None:
    # the noisy acquisition prunes its baseline with a sampler that BoTorch seeds from torch's
    # global generator; a resumed job (a fresh process) must still suggest the same points
    import torch

    rng = np.random.default_rng(0)
    trials = [TrialView(t.number, t.params, t.state, float(t.value or 0.0) + 0.05 * rng.normal())
              for t in observed(SPACE, bowl, 24)]
    h = History(trials)
    torch.manual_seed(1)
    a = BayesianStrategy(SPACE, seed=7, acquisition="lognei").ask(h, 4)
    torch.manual_seed(2)
    state = torch.random.get_rng_state()
    b = BayesianStrategy(SPACE, seed=7, acquisition="lognei").ask(h, 4)
    assert a == b
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's generator untouched


def test_ask_8_gives_8_distinct_points() -> None:
    h = History(observed(SPACE, bowl, 10))
    pts = BayesianStrategy(SPACE, seed=0).ask(h, 8)
    assert len(pts) == 8
    assert len({key(p) for p in pts}) == 8
    u = np.array([SPACE.to_unit(p) for p in pts])
    dist = np.linalg.norm(u[:, None] - u[None, :], axis=-1)[np.triu_indices(8, 1)]
    assert dist.min() > 1e-3  # jointly chosen, not eight copies of one guess


def test_pending_points_change_suggestions() -> None:
    done = observed(SPACE, bowl, 10)
    s = BayesianStrategy(SPACE, seed=0)
    first = s.ask(History(done), 1)[0]
    running = TrialView(len(done), first, TrialState.RUNNING)
    second = s.ask(History([*done, running]), 1)[0]
    assert second != first
    assert np.linalg.norm(SPACE.to_unit(second) - SPACE.to_unit(first)) > 1e-3


def test_enumerable_space_never_repeats_and_ends() -> None:
    space = SearchSpace({"n": Int(1, 4), "c": Choice(("a", "b", "c",))})
    s = BayesianStrategy(space, seed=0, n_initial=3)
    trials: list[TrialView] = []
    while True:
        pts = s.ask(History(trials), 3)
        if not pts:
            break
        for p in pts:
            value = float(p["n"]) + (0.0 if p["c"] == "b" else 1.0)
            trials.append(TrialView(len(trials), p, TrialState.COMPLETED, value))
        assert len(trials) <= 12
    assert len(trials) == 12
    assert len({key(t.params) for t in trials}) == 12
    assert s.converged(History(trials)) is not None  # every point tried


def test_choices_are_one_hot_not_ordinal() -> None:
    space = SearchSpace({"x": Float(0, 1), "c": Choice(("a", "b", "c", "d",))})
    enc = SpaceEncoder(space)
    assert enc.dim == 5
    z = enc.encode([{"x": 0.5, "c": v} for v in ("a", "b", "c", "d")])
    assert z[:, 1:].tolist() == np.eye(4).tolist()
    # every pair of options is equally far apart: no option sits "between" two others
    d = {np.linalg.norm(z[i] - z[j]).round(9) for i in range(4) for j in range(i + 1, 4)}
    assert len(d) == 1
    # and decoding rounds a relaxed point to its largest coordinate
    assert enc.decode(np.array([[0.5, 0.1, 0.2, 0.9, 0.3]]))[0]["c"] == "c"


def test_best_option_in_the_middle_is_found() -> None:
    # on an ordinal encoding a choice whose best option sits between bad ones is hard to model;
    # one-hot makes it easy: after the initial design the strategy exploits option "b"
    space = SearchSpace({"x": Float(0, 1), "c": Choice(("a", "b", "c",))})

    def f(p: Mapping[str, ParamValue]) -> float:
        return (float(p["x"]) - 0.5) ** 2 + (0.0 if p["c"] == "b" else 1.0)

    h = History(observed(space, f, 9))
    pts = BayesianStrategy(space, seed=0).ask(h, 2)
    assert pts[0]["c"] == "b"


def test_failed_and_nan_trials_do_not_break_and_steer_away() -> None:
    trials: list[TrialView] = []
    for i, p in enumerate(RandomStrategy(SPACE, seed=2).ask(History(), 16)):
        if float(p["x"]) > 0.5:
            state, value = [(TrialState.FAILED, None), (TrialState.TIMED_OUT, None),
                            (TrialState.COMPLETED, math.nan),
                            (TrialState.COMPLETED, math.inf)][i % 4]
            trials.append(TrialView(i, p, state, value))
        else:
            trials.append(TrialView(i, p, TrialState.COMPLETED, float(p["y"])))
    pts = BayesianStrategy(SPACE, seed=0).ask(History(trials), 6)
    assert len(pts) == 6
    assert all(SPACE[k].contains(v) for p in pts for k, v in p.items())
    assert sum(float(p["x"]) <= 0.5 for p in pts) >= 5


def test_only_failures_still_suggests() -> None:
    trials = [TrialView(i, p, TrialState.FAILED)
              for i, p in enumerate(RandomStrategy(SPACE, seed=0).ask(History(), 8))]
    pts = BayesianStrategy(SPACE, seed=0).ask(History(trials), 3)
    assert len(pts) == 3


def test_a_plateau_is_left_with_the_space_filling_design() -> None:
    # every observation the same (a tree that cannot split): the next batch continues the
    # Sobol design instead of a flat GP's corner-chasing; one different value brings the model
    design = RandomStrategy(SPACE, seed=5).ask(History(), 16)
    flat = [TrialView(i, p, TrialState.COMPLETED, 0.9) for i, p in enumerate(design[:8])]
    flat.append(TrialView(8, design[8], TrialState.FAILED))  # a failure is no information either
    s = BayesianStrategy(SPACE, seed=5)
    assert s.ask(History(flat), 7) == design[9:16]
    slope = [*flat[:8], TrialView(8, design[8], TrialState.COMPLETED, 0.5)]
    assert s.ask(History(slope), 7) != design[9:16]


def _parent(f: Fn, n: int = 24) -> ParentTrials:
    return ParentTrials("parent", observed(SPACE, f, n, seed=11))


@pytest.mark.parametrize("kind", ["identical_data_and_algorithm", "transfer_learning"])
def test_warm_start_informs_first_suggestions(kind: str) -> None:
    ws = WarmStart(kind, [_parent(bowl)])  # type: ignore[arg-type]
    cold = BayesianStrategy(SPACE, seed=0).ask(History(), 4)
    warm = BayesianStrategy(SPACE, seed=0, warm_start=ws).ask(History(), 4)
    assert warm != cold

    def dist(p: Mapping[str, ParamValue]) -> float:
        return math.sqrt(bowl(p))

    assert np.mean([dist(p) for p in warm]) < 0.5 * np.mean([dist(p) for p in cold])


def test_warm_start_parent_checks() -> None:
    check_parent("a", "completed", "loss", "minimize", "loss", "minimize")
    with pytest.raises(SpecError, match="same objective metric"):
        check_parent("a", "completed", "accuracy", "maximize", "loss", "minimize")
    with pytest.raises(SpecError, match="same goal"):
        check_parent("a", "completed", "loss", "maximize", "loss", "minimize")
    with pytest.raises(SpecError, match="finished"):
        check_parent("a", "running", "loss", "minimize", "loss", "minimize")
    with pytest.raises(SpecError, match="at most 5"):
        WarmStart("transfer_learning", [ParentTrials(f"p{i}", []) for i in range(6)])
    with pytest.raises(SpecError, match=r"warm_start\.type"):
        WarmStart("same", [])  # type: ignore[arg-type]


def test_convergence_fires_when_converged_and_not_when_fresh() -> None:
    space = SearchSpace({"x": Float(0, 1)})
    s = BayesianStrategy(space, seed=0, n_initial=4, convergence_patience=3)

    def f(x: float) -> float:
        return (x - 0.3) ** 2

    fresh = [TrialView(i, {"x": x}, TrialState.COMPLETED, f(x))
             for i, x in enumerate([0.0, 0.1, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])]
    assert s.converged(History(fresh[:4])) is None  # too few observations to judge
    assert s.converged(History(fresh)) is None  # the region around 0.3 is unexplored
    xs = np.linspace(0, 1, 41)
    dense = [TrialView(i, {"x": float(x)}, TrialState.COMPLETED, f(float(x)))
             for i, x in enumerate(xs)]
    reason = s.converged(History(dense))
    assert reason is not None and "expected improvement" in reason


def test_beats_random_on_a_synthetic_function() -> None:
    space = SearchSpace({"a": Float(0, 1), "b": Float(0, 1), "c": Float(-2, 2)})

    def f(p: Mapping[str, ParamValue]) -> float:
        a, b, c = (float(p[k]) for k in "abc")
        return (a - 0.62) ** 2 + 2 * (b - 0.27) ** 2 + 0.1 * (c - 1.1) ** 2

    wins, ratios = 0, []
    for seed in range(4):
        best = {}
        for kind in ("bayesian", "random"):
            opts = {"n_candidates": 256} if kind == "bayesian" else {}  # keep the test fast
            s = make_strategy(kind, space, seed=seed, **opts)
            trials: list[TrialView] = []
            for _ in range(5):
                for p in s.ask(History(trials), 4):
                    trials.append(TrialView(len(trials), p, TrialState.COMPLETED, f(p)))
            best[kind] = min(float(t.value) for t in trials)  # type: ignore[arg-type]
        wins += best["bayesian"] < best["random"]
        ratios.append(best["bayesian"] / best["random"])
    assert wins >= 3
    assert float(np.median(ratios)) < 0.5

"""The Python API: Optimizer ask/tell/best and tunelab.tune()."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from objectives_for_tests import fns

import tunelab
from tunelab.errors import SpecError


def _space() -> dict[str, tunelab.space.Param]:
    return {"x": tunelab.Float(-5.0, 5.0), "opt": tunelab.Choice(("sgd", "adam"))}


def test_ask_tell_best_minimize() -> None:
    opt = tunelab.Optimizer(_space(), strategy="random", goal="minimize", seed=0)
    trials = opt.ask(8)
    assert [t.number for t in trials] == list(range(8))
    for t in trials:
        opt.tell(t, (float(t.params["x"]) - 1.0) ** 2)
    best = opt.best
    assert best is not None
    assert best.value == min((float(t.params["x"]) - 1.0) ** 2 for t in trials)


def test_best_respects_maximize_and_failed_trials() -> None:
    opt = tunelab.Optimizer(_space(), goal="maximize", seed=0)
    a, b, c = opt.ask(3)
    opt.tell(a, 1.0)
    opt.tell(b, float("nan"))
    opt.tell(c.number, 3.0)
    assert opt.best is c
    assert opt.trials[1].state is tunelab.trial.TrialState.FAILED
    with pytest.raises(SpecError, match="not told yet"):
        opt.tell(a, 2.0)


def test_same_seed_same_suggestions_across_ask_batches() -> None:
    def run(seed: int, batches: list[int]) -> list[dict[str, tunelab.space.ParamValue]]:
        opt = tunelab.Optimizer(_space(), seed=seed)
        out = []
        for n in batches:
            for t in opt.ask(n):
                out.append(t.params)
                opt.tell(t, 0.0)
        return out

    assert run(0, [8]) == run(0, [8]) == run(0, [3, 5])
    assert run(0, [8]) != run(1, [8])


def test_grid_optimizer_enumerates_and_stops() -> None:
    space: dict[str, tunelab.space.Param] = {"n": tunelab.Int(1, 3),
                                             "opt": tunelab.Choice(("a", "b"))}
    opt = tunelab.Optimizer(space, strategy="grid")
    got = opt.ask(4) + opt.ask(4)
    assert len(got) == 6 and opt.ask(4) == []
    assert {(t.params["n"], t.params["opt"]) for t in got} == {
        (n, o) for n in (1, 2, 3) for o in ("a", "b")}


def test_reverse_log_and_int_step_through_the_optimizer() -> None:
    space: dict[str, tunelab.space.Param] = {
        "beta": tunelab.Float(0.0, 0.999, scale="reverse_log"),
        "width": tunelab.Int(16, 128, step=16)}
    trials = tunelab.Optimizer(space, seed=0).ask(64)
    betas = [float(t.params["beta"]) for t in trials]
    assert all(0.0 <= b < 0.999 for b in betas)
    assert sorted(betas)[32] > 0.9  # dense near 1
    assert {t.params["width"] for t in trials} <= set(range(16, 129, 16))


def test_optimizer_rejects_bad_goal_and_strategy() -> None:
    with pytest.raises(SpecError, match="`goal`"):
        tunelab.Optimizer(_space(), goal="minimise")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"strategy\.type"):
        tunelab.Optimizer(_space(), strategy="anneal")


def test_tune_runs_a_job_and_returns_the_leaderboard(tmp_path: Path) -> None:
    result = tunelab.tune(
        fns.quadratic, {"x": tunelab.Float(-2.0, 2.0)}, metric="loss", strategy="random",
        max_trials=4, max_parallel=2, name="api-tune", store=tmp_path / "store", seed=0,
    )
    assert result.status == "completed" and result.name == "api-tune"
    board = result.leaderboard
    assert len(board) == 4 and all(t["state"] == "completed" for t in board)
    values = [t["value"] for t in board]
    assert values == sorted(values)  # best first
    assert all(math.isclose(t["value"], (t["params"]["x"] - 1) ** 2) for t in board)
    assert result.best is not None and result.best["number"] == board[0]["number"]


def test_tune_runs_a_nested_function_sent_by_value(tmp_path: Path) -> None:
    offset = 0.5  # captured by the closure, sent with it

    def local_train(params: dict[str, float], trial: object) -> float:
        return (params["x"] - offset) ** 2

    result = tunelab.tune(local_train, {"x": tunelab.Float(0, 1)}, max_trials=2,
                          store=tmp_path / "s")
    assert [t["state"] for t in result.trials] == ["completed"] * 2
    assert all(math.isclose(t["value"], (t["params"]["x"] - 0.5) ** 2) for t in result.trials)

"""Median stopping (early_stopping: auto): SageMaker's running-average median rule."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from sim_job import SimJob

from tunelab.errors import SpecError
from tunelab.executors.simulated import pure_curve
from tunelab.schedulers import make_scheduler
from tunelab.schedulers.base import FIFOScheduler, Scheduler
from tunelab.schedulers.median import MedianStoppingScheduler, running_average
from tunelab.space import Float, ParamValue, SearchSpace
from tunelab.strategies.random import RandomStrategy
from tunelab.trial import Action, History, TrialState, TrialView


def tv(n: int, values: list[float], state: TrialState = TrialState.COMPLETED) -> TrialView:
    vals = tuple((i + 1, v) for i, v in enumerate(values))
    return TrialView(n, {}, state, values[-1], vals)


def test_running_average() -> None:
    t = tv(0, [4.0, 2.0, 0.0])
    assert running_average(t, 2) == 3.0
    assert running_average(t, 3) == 2.0
    assert running_average(t, 4) is None  # never reached step 4
    again = TrialView(0, {}, TrialState.COMPLETED, 0.0, ((1, 9.0), (1, 4.0), (2, 2.0)))
    assert running_average(again, 2) == 3.0  # a re-run step counts once, the last value


def test_compares_with_the_median_of_running_averages_not_raw_values() -> None:
    s = MedianStoppingScheduler(goal="minimize", min_trials=3)
    # raw values at step 2 are 1, 1, 1 (median 1); running averages are 5, 5, 5
    earlier = [tv(i, [9.0, 1.0]) for i in range(3)]
    me = tv(3, [9.0, 3.0], TrialState.RUNNING)
    assert s.on_report(me, 2, {}, History((*earlier, me))).action is Action.CONTINUE
    me = tv(3, [9.0, 6.0], TrialState.RUNNING)
    d = s.on_report(me, 2, {}, History((*earlier, me)))
    assert d.action is Action.STOP and "median 5" in d.reason


def test_grace_period_min_trials_goal_and_ignored_trials() -> None:
    earlier = [tv(i, [1.0, 1.0]) for i in range(3)]
    bad = tv(3, [5.0], TrialState.RUNNING)
    hist = History((*earlier, bad))
    assert MedianStoppingScheduler(min_trials=3).on_report(bad, 1, {}, hist).action is Action.STOP
    assert MedianStoppingScheduler(min_trials=4).on_report(bad, 1, {}, hist).action \
        is Action.CONTINUE
    assert MedianStoppingScheduler(grace_period=2).on_report(bad, 1, {}, hist).action \
        is Action.CONTINUE
    assert MedianStoppingScheduler(goal="maximize").on_report(
        bad, 1, {}, History(hist.trials, goal="maximize")).action is Action.CONTINUE
    # failed trials and later trials are not part of the comparison
    failed = [tv(i, [1.0], TrialState.FAILED) for i in range(3)]
    later = [tv(10 + i, [1.0], TrialState.RUNNING) for i in range(3)]
    hist = History((*failed, bad, *later))
    assert MedianStoppingScheduler().on_report(bad, 1, {}, hist).action is Action.CONTINUE
    # equal to the median is not worse
    same = tv(3, [1.0], TrialState.RUNNING)
    assert MedianStoppingScheduler().on_report(same, 1, {}, History((*earlier, same))).action \
        is Action.CONTINUE


def curve(p: Mapping[str, ParamValue], step: int) -> dict[str, float]:
    return {"loss": abs(float(p["x"]) - 0.3) + 1.0 / step}


def run(tmp: Path, sched: Scheduler, trials: int = 30, slots: int = 1) -> SimJob:
    """The real tuner loop on a temporary store, trials on the simulated executor."""
    space = SearchSpace({"x": Float(0.0, 1.0)})
    j = SimJob(tmp, {"x": {"type": "float", "low": 0.0, "high": 1.0}}, pure_curve(curve),
               slots=slots, max_steps=10, trials=trials)
    j.run(sched, RandomStrategy(space, seed=5))
    return j


def epochs(j: SimJob) -> int:
    return sum(len(t.reports) for t in j.trials().values())


def test_in_a_loop_it_saves_epochs_and_keeps_the_best(tmp_path: Path) -> None:
    fifo = run(tmp_path / "fifo", FIFOScheduler())
    med = run(tmp_path / "med", MedianStoppingScheduler(min_trials=3))
    assert epochs(fifo) == 300
    assert epochs(med) < 0.7 * epochs(fifo)  # 183 of 300 when written
    pruned = [t for t in med.trials().values() if t.state is TrialState.PRUNED]
    assert pruned and all(t.number >= 3 for t in pruned)  # the first trials are the reference
    def best(j: SimJob) -> float:
        return min(t.value for t in j.trials().values() if t.value is not None)

    assert best(med) == best(fifo)  # the best trial of the same configurations survives
    # same history, same decisions
    assert run(tmp_path / "again", MedianStoppingScheduler(min_trials=3)).log() == med.log()


def test_an_epoch_budget_is_respected_with_parallel_trials(tmp_path: Path) -> None:
    j = run(tmp_path, MedianStoppingScheduler(max_epochs=47), trials=50, slots=3)
    assert epochs(j) <= 47


def test_make_scheduler_for_early_stopping_auto() -> None:
    s = make_scheduler("median", None, goal="maximize", grace_period=2)
    assert isinstance(s, MedianStoppingScheduler) and s.goal == "maximize"
    assert s.grace_period == 2
    with pytest.raises(SpecError, match=r"`early_stopping.min_trials` must be an integer >= 1"):
        make_scheduler("median", None, min_trials=0)
    with pytest.raises(SpecError, match="Did you mean `grace_period`"):
        make_scheduler("median", None, grace_periods=3)
    with pytest.raises(SpecError, match=r"objective\.goal"):
        make_scheduler("median", None, goal="max")

"""ASHA / Hyperband: rungs, promotion from checkpoints, brackets, budget, crash-safe resume."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from sim_job import Crash, SimJob, values

from tunelab.errors import SpecError
from tunelab.executors.simulated import pure_curve
from tunelab.schedulers import make_scheduler
from tunelab.schedulers.asha import HyperbandScheduler
from tunelab.space import Float, ParamValue, SearchSpace
from tunelab.strategies.random import RandomStrategy
from tunelab.trial import Action, History, TrialState, TrialView

SPACE = SearchSpace({"x": Float(0.0, 1.0)})


def loss(p: Mapping[str, ParamValue], step: int) -> dict[str, float]:
    return {"loss": (float(p["x"]) - 0.3) ** 2 + 0.5 / step}


def job(tmp: Path, sched: HyperbandScheduler, *, slots: int, trials: int) -> SimJob:
    return SimJob(tmp, {"x": {"type": "float", "low": 0.0, "high": 1.0}}, pure_curve(loss),
                  slots=slots, max_steps=sched.max_resource, trials=trials)


def run(tmp: Path, sched: HyperbandScheduler, *, slots: int, trials: int, seed: int = 0,
        on: SimJob | None = None, crash_when: Any = None) -> SimJob:
    """The real tuner loop on a temporary store (``on``: continue that job after a crash)."""
    j = on or job(tmp, sched, slots=slots, trials=trials)
    j.run(sched, RandomStrategy(SPACE, seed=seed), crash=crash_when)
    return j


def view(n: int, state: TrialState, values: list[tuple[int, float]]) -> TrialView:
    return TrialView(n, {"x": 0.5}, state, values[-1][1] if values else None, tuple(values),
                     tuple(s for s, _ in values))


def test_rungs_and_brackets() -> None:
    s = HyperbandScheduler(min_resource=1, max_resource=27, reduction_factor=3, brackets=4)
    assert [s.rungs(b) for b in range(4)] == [[1, 3, 9, 27], [3, 9, 27], [9, 27], [27]]
    assert HyperbandScheduler.max_brackets(1, 27, 3) == 4
    assert HyperbandScheduler.max_brackets(2, 20, 3) == 3
    assert HyperbandScheduler(min_resource=2, max_resource=20).rungs(0) == [2, 6, 18, 20]
    # bracket sizes follow Hyperband: the aggressive bracket gets most trials
    counts = Counter(s.bracket_of(n) for n in range(2000))
    assert counts[0] > counts[1] > counts[2] > counts[3] > 0
    again = HyperbandScheduler(min_resource=1, max_resource=27, brackets=4)
    assert [again.bracket_of(n) for n in range(50)] == [s.bracket_of(n) for n in range(50)]


def test_rung_decisions_by_hand() -> None:
    s = HyperbandScheduler(min_resource=1, max_resource=4, reduction_factor=2)
    t0 = view(0, TrialState.PAUSED, [(1, 0.5)])
    # trial 0 alone at rung 1: top floor(1/2) = nobody -> pause
    d = s.on_report(view(0, TrialState.RUNNING, [(1, 0.5)]), 1, {},
                    History((view(0, TrialState.RUNNING, [(1, 0.5)]),)))
    assert d.action is Action.PAUSE
    # trial 1 better: top 1 of 2 -> continues right away
    t1 = view(1, TrialState.RUNNING, [(1, 0.2)])
    assert s.on_report(t1, 1, {}, History((t0, t1))).action is Action.CONTINUE
    # trial 2 worse than trial 0: pauses; nobody is promotable (top 1 of 3 is trial 1)
    t1 = view(1, TrialState.RUNNING, [(1, 0.2), (2, 0.1)])
    t2 = view(2, TrialState.RUNNING, [(1, 0.9)])
    assert s.on_report(t2, 1, {}, History((t0, t1, t2))).action is Action.PAUSE
    t2 = view(2, TrialState.PAUSED, [(1, 0.9)])
    assert s.next_resume(History((t0, t1, t2))) is None
    # a fourth trial at rung 1 makes the top 2 of 4: trial 0 becomes promotable
    t3 = view(3, TrialState.PAUSED, [(1, 0.95)])
    res = s.next_resume(History((t0, t1, t2, t3)))
    assert res is not None and (res.number, res.step) == (0, 1)
    # once resumed (running), it is never promoted again from that rung
    t0r = view(0, TrialState.RUNNING, [(1, 0.5)])
    assert s.next_resume(History((t0r, t1, t2, t3))) is None
    # the paused trials' checkpoints at their rungs are protected
    assert s.protected_checkpoints(History((t0, t1, t2, t3))) == {(0, 1), (2, 1), (3, 1)}
    # higher rungs first: trial 1 waits at rung 2 with trial 4 below it
    t1p = view(1, TrialState.PAUSED, [(1, 0.2), (2, 0.1)])
    t4 = view(4, TrialState.PAUSED, [(1, 0.3), (2, 0.05)])
    res = s.next_resume(History((t0, t1p, t2, t3, t4)))
    assert res is not None and (res.number, res.step) == (4, 2)
    # a report past max_resource is stopped
    assert s.on_report(t1, 5, {}, History((t1,))).action is Action.STOP


def test_maximize_ranks_the_other_way() -> None:
    s = HyperbandScheduler(min_resource=1, max_resource=4, reduction_factor=2, goal="maximize")
    t0 = view(0, TrialState.PAUSED, [(1, 0.5)])
    t1 = view(1, TrialState.RUNNING, [(1, 0.9)])
    assert s.on_report(t1, 1, {}, History((t0, t1), goal="maximize")).action is Action.CONTINUE
    t1 = view(1, TrialState.RUNNING, [(1, 0.1)])
    assert s.on_report(t1, 1, {}, History((t0, t1), goal="maximize")).action is Action.PAUSE


def test_asha_in_a_loop_promotes_from_checkpoints_and_finds_the_best(tmp_path: Path) -> None:
    sched = HyperbandScheduler(min_resource=1, max_resource=9, reduction_factor=3)
    j = run(tmp_path, sched, slots=4, trials=27)
    trials = list(j.trials().values())
    assert len(trials) == 27
    for t in trials:
        steps = [s for s, _ in values(t)]
        # never trained from scratch again, never past max_resource
        assert steps == list(range(1, len(steps) + 1)) and len(steps) <= 9
    reached = Counter(len(t.reports) for t in trials)
    # successive halving: at most a third (plus the async slack) go past each rung
    assert sum(v for k, v in reached.items() if k >= 3) <= 27 // 3 + 4
    assert sum(v for k, v in reached.items() if k >= 9) >= 1
    resumes = [d for d in j.decided() if d[2] == "resume"]
    assert resumes and len(set((e[0], e[1]) for e in resumes)) == len(resumes)
    best = min(trials, key=lambda t: abs(float(t.params["x"]) - 0.3))
    assert len(best.reports) == 9 and best.state is TrialState.COMPLETED
    # full-budget trials: the ones that completed are those that reached max_resource
    assert {t.number for t in trials if t.state is TrialState.COMPLETED} == {
        t.number for t in trials if len(t.reports) == 9}
    # every early-stopped trial is paused at a rung, with its checkpoint kept
    for t in trials:
        if t.state is TrialState.PAUSED:
            last = t.reports[-1].step
            assert last in (1, 3) and t.checkpoint_at(last) is not None


def test_same_seed_same_decisions_and_budget_is_never_exceeded(tmp_path: Path) -> None:
    def mk() -> HyperbandScheduler:
        return HyperbandScheduler(min_resource=1, max_resource=9, brackets=2, seed=3,
                                  max_epochs=60)

    a = run(tmp_path / "a", mk(), slots=3, trials=40, seed=3)
    b = run(tmp_path / "b", mk(), slots=3, trials=40, seed=3)
    assert a.log() == b.log()
    assert sum(len(t.reports) for t in a.trials().values()) <= 60
    assert sum(len(t.reports) for t in a.trials().values()) >= 55  # and it is used


@pytest.mark.parametrize("crash_at", [3, 10, 17, 25, 40, 61])
def test_crash_and_resume_takes_the_same_decisions(tmp_path: Path, crash_at: int) -> None:
    def mk() -> HyperbandScheduler:
        return HyperbandScheduler(min_resource=1, max_resource=9, seed=1, max_epochs=50)

    ref = run(tmp_path / "ref", mk(), slots=1, trials=20, seed=1)
    j = job(tmp_path / "crash", mk(), slots=1, trials=20)
    with pytest.raises(Crash):
        run(tmp_path, mk(), slots=1, trials=20, seed=1, on=j,
            crash_when=lambda job: job.events >= crash_at)
    run(tmp_path, mk(), slots=1, trials=20, seed=1, on=j)  # a new tuner on the same store
    assert j.log() == ref.log()
    promoted = Counter((e[0], e[1]) for e in j.decided() if e[2] == "resume")
    assert promoted and all(c == 1 for c in promoted.values())
    assert sum(len(t.reports) for t in j.trials().values()) <= 50


def test_make_scheduler_options_and_errors() -> None:
    s = make_scheduler("hyperband", SPACE, seed=0, goal="maximize", min_resource=1,
                       max_resource=27, reduction_factor=3, brackets=4)
    assert isinstance(s, HyperbandScheduler) and s.goal == "maximize" and s.brackets == 4
    assert isinstance(make_scheduler("asha", SPACE, max_resource=9), HyperbandScheduler)
    with pytest.raises(SpecError, match="max_resource"):
        make_scheduler("hyperband", SPACE)
    with pytest.raises(SpecError, match=r"`strategy.reduction_factor` must be an integer >= 2"):
        make_scheduler("hyperband", SPACE, max_resource=9, reduction_factor=1)
    with pytest.raises(SpecError, match="Did you mean `max_resource`"):
        make_scheduler("hyperband", SPACE, max_resources=9)
    with pytest.raises(SpecError, match="at most 4"):
        make_scheduler("hyperband", SPACE, max_resource=27, brackets=5)
    with pytest.raises(SpecError, match=">= min_resource"):
        make_scheduler("hyperband", SPACE, min_resource=9, max_resource=3)
    with pytest.raises(SpecError, match=r"strategy\.type"):
        make_scheduler("hyperbandd", SPACE)

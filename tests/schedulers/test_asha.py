"""ASHA / Hyperband: rungs, promotion from checkpoints, brackets, budget, crash-safe resume."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest
from loop_helper import Crash, Loop, Store

from tunelab.errors import SpecError
from tunelab.executors.simulated import SimulatedExecutor, pure_curve
from tunelab.schedulers import make_scheduler
from tunelab.schedulers.asha import HyperbandScheduler
from tunelab.space import Float, ParamValue, SearchSpace
from tunelab.strategies.random import RandomStrategy
from tunelab.trial import Action, History, TrialState, TrialView

SPACE = SearchSpace({"x": Float(0.0, 1.0)})


def loss(p: Mapping[str, ParamValue], step: int) -> dict[str, float]:
    return {"loss": (float(p["x"]) - 0.3) ** 2 + 0.5 / step}


def run(sched: HyperbandScheduler, *, slots: int, trials: int, seed: int = 0,
        store: Store | None = None, crash_when: Any = None) -> tuple[Store, Loop]:
    store = store or Store()
    loop = Loop(store, sched, RandomStrategy(SPACE, seed=seed),
                lambda ck: SimulatedExecutor(slots, pure_curve(loss),
                                             max_steps=sched.max_resource, checkpoints=ck),
                max_trials=trials, crash_when=crash_when)
    loop.run()
    return store, loop


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


def test_asha_in_a_loop_promotes_from_checkpoints_and_finds_the_best() -> None:
    sched = HyperbandScheduler(min_resource=1, max_resource=9, reduction_factor=3)
    store, _ = run(sched, slots=4, trials=27)
    trials = list(store.trials.values())
    assert len(trials) == 27
    for t in trials:
        steps = [s for s, _ in t.values]
        # never trained from scratch again, never past max_resource
        assert steps == list(range(1, len(steps) + 1)) and len(steps) <= 9
    reached = Counter(len(t.values) for t in trials)
    # successive halving: at most a third (plus the async slack) go past each rung
    assert sum(v for k, v in reached.items() if k >= 3) <= 27 // 3 + 4
    assert sum(v for k, v in reached.items() if k >= 9) >= 1
    resumes = [e for e in store.log if e[2] == "resume"]
    assert resumes and len(set((e[0], e[1]) for e in resumes)) == len(resumes)
    best = min(trials, key=lambda t: abs(float(t.params["x"]) - 0.3))
    assert len(best.values) == 9 and best.state is TrialState.COMPLETED
    # full-budget trials: the ones that completed are those that reached max_resource
    assert {t.number for t in trials if t.state is TrialState.COMPLETED} == {
        t.number for t in trials if len(t.values) == 9}
    # every early-stopped trial is paused at a rung, with its checkpoint kept
    for t in trials:
        if t.state is TrialState.PAUSED:
            assert t.values[-1][0] in (1, 3) and t.values[-1][0] in t.checkpoints


def test_same_seed_same_decisions_and_budget_is_never_exceeded() -> None:
    def mk() -> HyperbandScheduler:
        return HyperbandScheduler(min_resource=1, max_resource=9, brackets=2, seed=3,
                                  max_epochs=60)

    a, _ = run(mk(), slots=3, trials=40, seed=3)
    b, _ = run(mk(), slots=3, trials=40, seed=3)
    assert a.log == b.log
    assert sum(len(t.values) for t in a.trials.values()) <= 60
    assert sum(len(t.values) for t in a.trials.values()) >= 55  # and it is used


@pytest.mark.parametrize("crash_at", [3, 10, 17, 25, 40, 61])
def test_crash_and_resume_takes_the_same_decisions(crash_at: int) -> None:
    def mk() -> HyperbandScheduler:
        return HyperbandScheduler(min_resource=1, max_resource=9, seed=1, max_epochs=50)

    ref, _ = run(mk(), slots=1, trials=20, seed=1)
    store = Store()
    with pytest.raises(Crash):
        run(mk(), slots=1, trials=20, seed=1, store=store,
            crash_when=lambda loop: loop.events >= crash_at)
    run(mk(), slots=1, trials=20, seed=1, store=store)  # a new tuner on the same store
    assert store.log == ref.log
    promoted = Counter((e[0], e[1]) for e in store.log if e[2] == "resume")
    assert all(c == 1 for c in promoted.values())
    assert sum(len(t.values) for t in store.trials.values()) <= 50


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
